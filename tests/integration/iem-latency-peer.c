/* SPDX-License-Identifier: MIT */
/*
 * iem-latency-peer: a stereo stream that reports a known Latency, for the
 * module's latency test. PipeWire 0.3.65's null sink reports zero latency
 * and takes no ProcessLatency, so a test with it cannot tell latency
 * passed on from latency lost; this stream stands in for a sink with
 * real latency (a DAC's buffer) or for a player with capture latency.
 *
 *   iem-latency-peer sink NODE_NAME [LATENCY]
 *       An Audio/Sink (a capture stream, like a virtual sink) named
 *       NODE_NAME whose input ports report LATENCY in the Input direction
 *       (what lies between them and the listener). It drops what it gets.
 *   iem-latency-peer play TARGET [LATENCY]
 *       A player linked to TARGET (a node name) that plays silence and
 *       reports LATENCY in the Output direction on its output ports.
 *
 * LATENCY is "MIN_QUANTUM:MAX_QUANTUM:MIN_RATE:MAX_RATE:MIN_NS:MAX_NS"
 * (quantum a float, rate in frames, ns in nanoseconds); default
 * "0.5:1:480:960:10000000:20000000". Runs until SIGTERM or SIGINT (exit
 * 0); 1 with a message when the stream cannot be made or fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spa/param/audio/format-utils.h>
#include <spa/param/latency-utils.h>
#include <spa/pod/builder.h>
#include <spa/utils/result.h>

#include <pipewire/pipewire.h>

struct peer {
	struct pw_main_loop *loop;
	struct pw_stream *stream;
	struct spa_hook listener;
	enum pw_direction direction;
	bool quitting;
	int status;
};

static void on_process(void *data)
{
	struct peer *peer = data;
	struct pw_buffer *b = pw_stream_dequeue_buffer(peer->stream);
	struct spa_data *d;

	if (b == NULL)
		return;
	d = &b->buffer->datas[0];
	if (peer->direction == PW_DIRECTION_OUTPUT && d->data != NULL) {
		uint32_t n = d->maxsize / (2 * sizeof(float));
		if (b->requested != 0 && b->requested < n)
			n = (uint32_t)b->requested;
		memset(d->data, 0, n * 2 * sizeof(float));
		d->chunk->offset = 0;
		d->chunk->stride = 2 * sizeof(float);
		d->chunk->size = n * 2 * sizeof(float);
	}
	pw_stream_queue_buffer(peer->stream, b);
}

static void on_state_changed(void *data, enum pw_stream_state old, enum pw_stream_state state,
		const char *error)
{
	struct peer *peer = data;

	if (peer->quitting)
		return;
	if (state == PW_STREAM_STATE_ERROR || state == PW_STREAM_STATE_UNCONNECTED) {
		fprintf(stderr, "iem-latency-peer: stream %s%s%s\n", pw_stream_state_as_string(state),
				error ? ": " : "", error ? error : "");
		peer->status = 1;
		pw_main_loop_quit(peer->loop);
	}
}

static const struct pw_stream_events stream_events = {
	PW_VERSION_STREAM_EVENTS,
	.state_changed = on_state_changed,
	.process = on_process,
};

static void do_quit(void *data, int signal_number)
{
	struct peer *peer = data;
	peer->quitting = true;
	pw_main_loop_quit(peer->loop);
}

static int parse_latency(const char *text, struct spa_latency_info *info)
{
	char tail;

	if (sscanf(text, "%f:%f:%" SCNu32 ":%" SCNu32 ":%" SCNu64 ":%" SCNu64 "%c",
			&info->min_quantum, &info->max_quantum, &info->min_rate, &info->max_rate,
			&info->min_ns, &info->max_ns, &tail) != 6 ||
	    info->min_quantum < 0.0f || info->max_quantum < info->min_quantum ||
	    info->max_rate < info->min_rate || info->max_ns < info->min_ns)
		return -EINVAL;
	return 0;
}

int main(int argc, char *argv[])
{
	struct peer peer = { .status = 0 };
	struct spa_latency_info latency;
	struct spa_audio_info_raw raw = {
		.format = SPA_AUDIO_FORMAT_F32,
		.channels = 2,
		.position = { SPA_AUDIO_CHANNEL_FL, SPA_AUDIO_CHANNEL_FR },
	};
	uint8_t buffer[1024];
	struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buffer, sizeof(buffer));
	const struct spa_pod *params[2];
	struct pw_properties *props;
	const char *mode, *name, *lat_text;
	int res;

	if (argc < 3 || argc > 4 || (strcmp(argv[1], "sink") != 0 && strcmp(argv[1], "play") != 0)) {
		fprintf(stderr, "usage: iem-latency-peer sink NODE_NAME [LATENCY]\n"
				"       iem-latency-peer play TARGET [LATENCY]\n"
				"LATENCY: MIN_QUANTUM:MAX_QUANTUM:MIN_RATE:MAX_RATE:MIN_NS:MAX_NS\n");
		return 2;
	}
	mode = argv[1];
	name = argv[2];
	lat_text = argc > 3 ? argv[3] : "0.5:1:480:960:10000000:20000000";
	if (parse_latency(lat_text, &latency) < 0) {
		fprintf(stderr, "iem-latency-peer: bad LATENCY '%s' (MIN_QUANTUM:MAX_QUANTUM:"
				"MIN_RATE:MAX_RATE:MIN_NS:MAX_NS, each max >= its min)\n", lat_text);
		return 2;
	}

	pw_init(&argc, &argv);
	peer.loop = pw_main_loop_new(NULL);
	if (peer.loop == NULL) {
		fprintf(stderr, "iem-latency-peer: no main loop: %s\n", strerror(errno));
		return 1;
	}
	pw_loop_add_signal(pw_main_loop_get_loop(peer.loop), SIGINT, do_quit, &peer);
	pw_loop_add_signal(pw_main_loop_get_loop(peer.loop), SIGTERM, do_quit, &peer);

	if (strcmp(mode, "sink") == 0) {
		/* a sink's input ports say how far the listener is from them */
		peer.direction = PW_DIRECTION_INPUT;
		latency.direction = SPA_DIRECTION_INPUT;
		props = pw_properties_new(PW_KEY_MEDIA_TYPE, "Audio",
				PW_KEY_MEDIA_CATEGORY, "Playback",
				PW_KEY_MEDIA_CLASS, "Audio/Sink",
				PW_KEY_NODE_NAME, name,
				PW_KEY_NODE_DESCRIPTION, "Latency test sink",
				NULL);
	} else {
		/* a player's output ports say how old its samples are */
		peer.direction = PW_DIRECTION_OUTPUT;
		latency.direction = SPA_DIRECTION_OUTPUT;
		props = pw_properties_new(PW_KEY_MEDIA_TYPE, "Audio",
				PW_KEY_MEDIA_CATEGORY, "Playback",
				PW_KEY_MEDIA_ROLE, "Music",
				PW_KEY_NODE_NAME, "iem-latency-player",
				PW_KEY_TARGET_OBJECT, name,
				NULL);
	}
	peer.stream = pw_stream_new_simple(pw_main_loop_get_loop(peer.loop), "iem-latency-peer",
			props, &stream_events, &peer);
	if (peer.stream == NULL) {
		fprintf(stderr, "iem-latency-peer: no stream: %s\n", strerror(errno));
		pw_main_loop_destroy(peer.loop);
		return 1;
	}
	params[0] = spa_format_audio_raw_build(&b, SPA_PARAM_EnumFormat, &raw);
	params[1] = spa_latency_build(&b, SPA_PARAM_Latency, &latency);
	res = pw_stream_connect(peer.stream, peer.direction, PW_ID_ANY,
			PW_STREAM_FLAG_AUTOCONNECT | PW_STREAM_FLAG_MAP_BUFFERS | PW_STREAM_FLAG_RT_PROCESS,
			params, 2);
	if (res < 0) {
		fprintf(stderr, "iem-latency-peer: cannot connect: %s\n", spa_strerror(res));
		peer.status = 1;
	} else {
		pw_main_loop_run(peer.loop);
	}
	peer.quitting = true;
	pw_stream_destroy(peer.stream);
	pw_main_loop_destroy(peer.loop);
	pw_deinit();
	return peer.status;
}
