/* SPDX-License-Identifier: MIT */
/*
 * bench-passthrough: a stereo passthrough that does nothing but copy, built
 * the two ways the module could be built, so that what each costs on its
 * own can be measured side by side (tests/bench/bench-pipewire.sh).
 *
 *   bench-passthrough filter NAME TARGET
 *       one pw_filter node NAME (media.class Audio/Sink) with two input
 *       ports playback_FL/FR and two output ports output_FL/FR (32-bit
 *       float mono DSP ports); the process callback copies in to out.
 *       Nothing links it: the benchmark links it with pw-link (WirePlumber
 *       0.4 does not manage pw_filter nodes as sinks).
 *   bench-passthrough streams NAME TARGET
 *       what module-iemstage and module-filter-chain do: a capture stream
 *       NAME (Audio/Sink, F32P stereo) whose process only triggers a
 *       passive playback stream NAME.output to TARGET, which dequeues both
 *       buffers and copies.
 *
 * Both run their process callbacks on the context's data loop, real-time
 * when module-rt may have it (client-rt.conf, as `pipewire -c` with
 * config/pipewire/iemstage.conf), and stop cleanly on
 * SIGINT or SIGTERM. The copy is the same memcpy in both.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <spa/param/audio/format-utils.h>
#include <spa/pod/builder.h>
#include <spa/utils/result.h>

#include <pipewire/filter.h>
#include <pipewire/pipewire.h>

struct port {
	int unused;
};

struct data {
	struct pw_main_loop *loop;
	struct pw_context *context;
	struct pw_core *core;

	struct pw_filter *filter;
	struct spa_hook filter_listener;
	struct port *in[2], *out[2];

	struct pw_stream *capture;
	struct spa_hook capture_listener;
	struct pw_stream *playback;
	struct spa_hook playback_listener;
};

/* ---- one pw_filter node ------------------------------------------------------ */

static void filter_process(void *userdata, struct spa_io_position *position)
{
	struct data *d = userdata;
	uint32_t n = position->clock.duration;

	for (int c = 0; c < 2; c++) {
		const float *in = pw_filter_get_dsp_buffer(d->in[c], n);
		float *out = pw_filter_get_dsp_buffer(d->out[c], n);
		if (out == NULL)
			continue;
		if (in != NULL)
			memcpy(out, in, n * sizeof(float));
		else
			memset(out, 0, n * sizeof(float));
	}
}

static const struct pw_filter_events filter_events = {
	PW_VERSION_FILTER_EVENTS,
	.process = filter_process,
};

static int make_filter(struct data *d, const char *name)
{
	static const char *const chan[2] = { "FL", "FR" };

	d->filter = pw_filter_new(d->core, name,
			pw_properties_new(
				PW_KEY_NODE_NAME, name,
				PW_KEY_NODE_DESCRIPTION, name,
				PW_KEY_MEDIA_TYPE, "Audio",
				PW_KEY_MEDIA_CATEGORY, "Filter",
				PW_KEY_MEDIA_CLASS, "Audio/Sink",
				PW_KEY_NODE_AUTOCONNECT, "false",
				NULL));
	if (d->filter == NULL)
		return -errno;
	pw_filter_add_listener(d->filter, &d->filter_listener, &filter_events, d);
	for (int c = 0; c < 2; c++) {
		char in_name[32], out_name[32];
		snprintf(in_name, sizeof(in_name), "playback_%s", chan[c]);
		snprintf(out_name, sizeof(out_name), "output_%s", chan[c]);
		d->in[c] = pw_filter_add_port(d->filter, PW_DIRECTION_INPUT,
				PW_FILTER_PORT_FLAG_MAP_BUFFERS, sizeof(struct port),
				pw_properties_new(PW_KEY_FORMAT_DSP, "32 bit float mono audio",
					PW_KEY_PORT_NAME, in_name,
					PW_KEY_AUDIO_CHANNEL, chan[c], NULL), NULL, 0);
		d->out[c] = pw_filter_add_port(d->filter, PW_DIRECTION_OUTPUT,
				PW_FILTER_PORT_FLAG_MAP_BUFFERS, sizeof(struct port),
				pw_properties_new(PW_KEY_FORMAT_DSP, "32 bit float mono audio",
					PW_KEY_PORT_NAME, out_name,
					PW_KEY_AUDIO_CHANNEL, chan[c], NULL), NULL, 0);
		if (d->in[c] == NULL || d->out[c] == NULL)
			return -errno;
	}
	return pw_filter_connect(d->filter, PW_FILTER_FLAG_RT_PROCESS, NULL, 0);
}

/* ---- a capture + playback stream pair -------------------------------------- */

static void capture_process(void *userdata)
{
	struct data *d = userdata;
	pw_stream_trigger_process(d->playback);
}

static void playback_process(void *userdata)
{
	struct data *d = userdata;
	struct pw_buffer *in = pw_stream_dequeue_buffer(d->capture);
	struct pw_buffer *out = pw_stream_dequeue_buffer(d->playback);

	if (in != NULL && out != NULL &&
	    in->buffer->n_datas >= 2 && out->buffer->n_datas >= 2) {
		for (uint32_t c = 0; c < 2; c++) {
			struct spa_data *id = &in->buffer->datas[c], *od = &out->buffer->datas[c];
			if (id->data == NULL || od->data == NULL)
				continue;
			uint32_t offs = SPA_MIN(id->chunk->offset, id->maxsize);
			uint32_t size = SPA_MIN(id->chunk->size, id->maxsize - offs);
			size = SPA_MIN(size, od->maxsize);
			memcpy(od->data, SPA_PTROFF(id->data, offs, void), size);
			od->chunk->offset = 0;
			od->chunk->size = size;
			od->chunk->stride = sizeof(float);
		}
	}
	if (in != NULL)
		pw_stream_queue_buffer(d->capture, in);
	if (out != NULL)
		pw_stream_queue_buffer(d->playback, out);
}

static const struct pw_stream_events capture_events = {
	PW_VERSION_STREAM_EVENTS,
	.process = capture_process,
};

static const struct pw_stream_events playback_events = {
	PW_VERSION_STREAM_EVENTS,
	.process = playback_process,
};

static int make_streams(struct data *d, const char *name, const char *target)
{
	uint8_t buffer[1024];
	struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buffer, sizeof(buffer));
	struct spa_audio_info_raw info = {
		.format = SPA_AUDIO_FORMAT_F32P,
		.channels = 2,
		.position = { SPA_AUDIO_CHANNEL_FL, SPA_AUDIO_CHANNEL_FR },
	};
	const struct spa_pod *params[1];
	char out_name[256], group[64];
	int res;

	snprintf(out_name, sizeof(out_name), "%s.output", name);
	snprintf(group, sizeof(group), "bench-passthrough-%d", (int)getpid());
	d->capture = pw_stream_new(d->core, "passthrough capture",
			pw_properties_new(
				PW_KEY_NODE_NAME, name,
				PW_KEY_NODE_DESCRIPTION, name,
				PW_KEY_MEDIA_CLASS, "Audio/Sink",
				PW_KEY_NODE_LINK_GROUP, group,
				"audio.channels", "2",
				"audio.position", "[ FL FR ]",
				NULL));
	d->playback = pw_stream_new(d->core, "passthrough playback",
			pw_properties_new(
				PW_KEY_NODE_NAME, out_name,
				PW_KEY_NODE_DESCRIPTION, out_name,
				PW_KEY_MEDIA_CLASS, "Stream/Output/Audio",
				PW_KEY_NODE_LINK_GROUP, group,
				PW_KEY_NODE_PASSIVE, "true",
				PW_KEY_TARGET_OBJECT, target,
				"audio.channels", "2",
				"audio.position", "[ FL FR ]",
				NULL));
	if (d->capture == NULL || d->playback == NULL)
		return -errno;
	pw_stream_add_listener(d->capture, &d->capture_listener, &capture_events, d);
	pw_stream_add_listener(d->playback, &d->playback_listener, &playback_events, d);

	params[0] = spa_format_audio_raw_build(&b, SPA_PARAM_EnumFormat, &info);
	if ((res = pw_stream_connect(d->capture, PW_DIRECTION_INPUT, PW_ID_ANY,
			PW_STREAM_FLAG_AUTOCONNECT | PW_STREAM_FLAG_MAP_BUFFERS |
			PW_STREAM_FLAG_RT_PROCESS, params, 1)) < 0)
		return res;
	return pw_stream_connect(d->playback, PW_DIRECTION_OUTPUT, PW_ID_ANY,
			PW_STREAM_FLAG_AUTOCONNECT | PW_STREAM_FLAG_MAP_BUFFERS |
			PW_STREAM_FLAG_RT_PROCESS | PW_STREAM_FLAG_TRIGGER, params, 1);
}

static void do_quit(void *userdata, int signal_number)
{
	struct data *d = userdata;
	pw_main_loop_quit(d->loop);
}

int main(int argc, char *argv[])
{
	struct data d = { 0 };
	int res;

	if (argc != 4 || (strcmp(argv[1], "filter") != 0 && strcmp(argv[1], "streams") != 0)) {
		fprintf(stderr, "usage: %s filter|streams NAME TARGET\n", argv[0]);
		return 2;
	}
	pw_init(&argc, &argv);
	d.loop = pw_main_loop_new(NULL);
	if (d.loop == NULL) {
		fprintf(stderr, "bench-passthrough: cannot make a main loop: %m\n");
		return 1;
	}
	pw_loop_add_signal(pw_main_loop_get_loop(d.loop), SIGINT, do_quit, &d);
	pw_loop_add_signal(pw_main_loop_get_loop(d.loop), SIGTERM, do_quit, &d);
	/* client-rt.conf: module-rt, a real-time data thread, as `pipewire -c` has */
	d.context = pw_context_new(pw_main_loop_get_loop(d.loop),
			pw_properties_new(PW_KEY_CONFIG_NAME, "client-rt.conf", NULL), 0);
	if (d.context == NULL || (d.core = pw_context_connect(d.context, NULL, 0)) == NULL) {
		fprintf(stderr, "bench-passthrough: cannot connect to PipeWire: %m\n");
		res = 1;
		goto out;
	}
	res = strcmp(argv[1], "filter") == 0 ? make_filter(&d, argv[2]) :
		make_streams(&d, argv[2], argv[3]);
	if (res < 0) {
		fprintf(stderr, "bench-passthrough: cannot make the %s: %s\n", argv[1], spa_strerror(res));
		res = 1;
		goto out;
	}
	pw_main_loop_run(d.loop);
	res = 0;
out:
	if (d.filter)
		pw_filter_destroy(d.filter);
	if (d.capture)
		pw_stream_destroy(d.capture);
	if (d.playback)
		pw_stream_destroy(d.playback);
	if (d.core)
		pw_core_disconnect(d.core);
	if (d.context)
		pw_context_destroy(d.context);
	pw_main_loop_destroy(d.loop);
	pw_deinit();
	return res;
}
