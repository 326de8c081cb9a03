/* SPDX-License-Identifier: MIT */
/*
 * libpipewire-module-iemstage: the iemstage chain as a virtual sink.
 *
 * Three threads touch the chain, each through its side of dsp/'s
 * contracts:
 *
 *   main     parses args and Props, validates them (iem_params_set, and
 *            that the files named exist), publishes Props/PropInfo and the
 *            counters; it never reads an IR file, synthesises a room or
 *            plans an FFT once the module is loaded;
 *   worker   (our own thread) is the chain's control thread: it loads
 *            stages, applies settings and builds a new chain when the
 *            sample rate changes, then tells the main thread (an event)
 *            what is now in force;
 *   data     runs iem_chain_process() in the streams' process callbacks:
 *            no allocation, lock, log or I/O. A chain built for a new rate
 *            comes through `chain_next` and the old one goes back through
 *            `chain_retired`, both single atomic pointers.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <spa/param/audio/format-utils.h>
#include <spa/param/latency-utils.h>
#include <spa/param/props.h>
#include <spa/pod/builder.h>
#include <spa/pod/dynamic.h>
#include <spa/pod/parser.h>
#include <spa/utils/json.h>
#include <spa/utils/result.h>
#include <spa/utils/string.h>

#include <pipewire/impl.h>
#include <pipewire/pipewire.h>

#include "config.h"
#include "iem-dsp.h"

/** \page page_module_iemstage iemstage
 *
 * The iemstage chain (preamp, correction EQ, stage, output gain, safety
 * limiter; bypass crossfading to dry) as a virtual sink whose output goes
 * to an in-ear monitor's sink.
 *
 * Two streams, like filter-chain: a capture stream that is the virtual
 * sink (`Audio/Sink`, named "IEM Stage (<target>)") and a passive playback
 * stream to `target.object`. They share `node.link-group`, so WirePlumber
 * treats the pair as one filter. The playback stream is triggered by the
 * capture stream and runs in its cycle: zero added latency. The Latency
 * params of each side are passed to the other unchanged (the chain adds
 * none): the virtual sink's input ports report the IEM sink's playback
 * latency, which is what apps playing to it see, and the IEM gets the
 * capture latency of what plays into the virtual sink.
 *
 * ## Module Name
 *
 * `libpipewire-module-iemstage`
 *
 * ## Module Options
 *
 * - `target.object = <node name or serial>`: the sink to play to (the IEM).
 *   Default: none (WirePlumber picks the default sink).
 * - `iemstage.target.description = <text>`: how the IEM is called in the
 *   virtual sink's description. Default: `target.object`, else "default".
 * - `node.name`: the virtual sink's name. Default `iemstage.<target.object>`
 *   (`iemstage.default` without a target); the output stream is
 *   `<node.name>.output`.
 * - `node.description`: the virtual sink's description. Default
 *   "IEM Stage (<iemstage.target.description>)"; the output stream's is
 *   "IEM Stage (...) output".
 * - `node.link-group`, `node.group`: default `iemstage-<pid>-<module id>`
 *   (both streams; node.group makes them run under one driver, so that
 *   audio played into the virtual sink starts the IEM).
 * - `node.latency`: passed to both streams. Default: none (the graph's).
 * - `remote.name`: the server to connect to when the context has no
 *   connection yet. Default: `PIPEWIRE_REMOTE`, else `pipewire-0`.
 * - `params = { <name> = <value> ... }`: initial settings, the flat names
 *   of `iemstage-render --list-params` (e.g. `eq.1.type = peaking`).
 *   Default: every parameter at its default (EQ off, no stage, 0 dB).
 *   A stage named here (`stage.brir`, a room) is built while the module
 *   loads.
 * - `capture.props = { ... }`: properties for the virtual sink. Default: {}.
 * - `playback.props = { ... }`: properties for the output stream. Default: {}.
 *
 * Any other key, a bad parameter name or value, a file that cannot be read,
 * refuses the module with an error naming the key. `audio.channels` and
 * `audio.position` are fixed: stereo, FL FR.
 *
 * Standard keys honoured: `target.object`, `node.name`, `node.description`,
 * `node.link-group`, `node.group`, `node.latency`, `remote.name`, and in
 * capture.props / playback.props everything a stream takes (`media.class`,
 * `device.icon-name`, `node.passive`, `target.object`, ...). Defaults set
 * by the module: `media.class = Audio/Sink` and `device.icon-name =
 * audio-headphones` on the virtual sink, `node.passive = true` on the
 * output stream. When the graph's rate changes, the worker builds the
 * chain again at the new rate (audio passes unprocessed until it is there,
 * counted in `iemstage.unprocessed`); a change of quantum changes nothing.
 * When the stream stops, the chain's state is cleared before it starts
 * again.
 *
 * ## Runtime control
 *
 * Every parameter is a `Props` param of the virtual sink, listed with
 * `PropInfo` (type, range or choices as labels, default, description):
 *
 *\code{.unparsed}
 * pw-cli set-param <sink id> Props '{ params = [ "eq.1.gain" -3.0 "bypass" false ] }'
 * pw-cli enum-params <sink id> Props
 *\endcode
 *
 * The parameters of one `set-param` apply together, or not at all when one
 * of them is refused (the node logs a warning naming it, and keeps
 * running). `iemstage.profile` takes a whole set as one string,
 * `{ name = value ... }` as in the module args: the parameters become the
 * defaults with those set, replacing everything (not listed in PropInfo:
 * it is a way to set them, not one of them). Names outside iemstage's (`bypass`, `eq.*`, `stage.*`,
 * `output.*`, `room.*`, `crossfeed.*`, `hrtf.*`) are PipeWire's and left
 * to it. A new stage (an IR file, a room, an HRTF, a new angle) is built
 * on the module's worker thread, never in the audio thread nor the main
 * loop, and crossfades in; Props read back the new values once it is in.
 *
 * The node's info properties, updated every second while audio flows and
 * once when it stops: `iemstage.limiter.events` (onsets of limiting),
 * `iemstage.unprocessed` (cycles that passed audio without processing, or
 * had no buffer), `iemstage.invalid-samples` (non-finite input samples
 * silenced), `iemstage.cycles` (cycles processed), `iemstage.quantum`
 * (frames in the last cycle), `iemstage.rate` (the rate the chain in
 * use was built for), `iemstage.xruns` (cycles that came after a gap in
 * the graph's clock: cycles lost) and `iemstage.late` (cycles whose
 * processing ended more than one period after the driver woke).
 *
 * ## Example
 *
 *\code{.unparsed}
 * # ~/.config/pipewire/pipewire.conf.d/iemstage.conf
 * context.modules = [
 *   { name = libpipewire-module-iemstage
 *     args = {
 *       target.object = "alsa_output.usb-My_IEM_DAC-00.analog-stereo"
 *       iemstage.target.description = "My IEM"
 *       params = {
 *         eq.1.type = lowshelf eq.1.freq = 105 eq.1.gain = 4.0
 *         stage.mode = crossfeed crossfeed.preset = cmoy
 *       }
 *       capture.props = { node.latency = 256/48000 }
 *     }
 *     flags = [ nofail ]
 *   }
 * ]
 *\endcode
 */

#define NAME "iemstage"

PW_LOG_TOPIC_STATIC(mod_topic, "mod." NAME);
#define PW_LOG_TOPIC_DEFAULT mod_topic

#define DEFAULT_RATE	48000u
#define TEXT_MAX	(PATH_MAX + 1)	/* a value as text: file names are the longest */
#define MAX_PAIRS	1024u

static const struct spa_dict_item module_props[] = {
	{ PW_KEY_MODULE_AUTHOR, "iemstage" },
	{ PW_KEY_MODULE_DESCRIPTION, "In-ear monitor correction EQ and virtual stage" },
	{ PW_KEY_MODULE_USAGE, "[ target.object=<sink> ] "
			"[ iemstage.target.description=<text> ] "
			"[ node.name=<name> ] [ node.description=<text> ] "
			"[ node.link-group=<group> ] [ node.group=<group> ] "
			"[ node.latency=<n/rate> ] "
			"[ remote.name=<remote> ] "
			"[ params = { <name> = <value> ... } ] "
			"[ capture.props = { ... } ] [ playback.props = { ... } ]" },
	{ PW_KEY_MODULE_VERSION, IEM_VERSION },
};

/* The module args a user may give; anything else is refused (a typo in
 * target.object would otherwise play to the default sink unnoticed). */
static const char *const known_args[] = {
	PW_KEY_TARGET_OBJECT, "iemstage.target.description", PW_KEY_NODE_NAME,
	PW_KEY_NODE_DESCRIPTION, PW_KEY_NODE_LINK_GROUP, PW_KEY_NODE_GROUP, PW_KEY_NODE_LATENCY,
	PW_KEY_REMOTE_NAME, "params", "capture.props", "playback.props",
	/* what pw_impl_module adds to the args it was given */
	PW_KEY_MODULE_ID, PW_KEY_OBJECT_ID, PW_KEY_OBJECT_SERIAL,
};

struct result {
	uint64_t gen;
	int res;
	char err[512];
};

struct impl {
	struct pw_context *context;
	struct pw_impl_module *module;
	struct spa_hook module_listener;
	struct pw_loop *main_loop;

	struct pw_core *core;
	struct spa_hook core_proxy_listener;
	struct spa_hook core_listener;
	bool do_disconnect;

	struct pw_properties *capture_props;
	struct pw_properties *playback_props;
	struct pw_stream *capture;
	struct spa_hook capture_listener;
	struct pw_stream *playback;
	struct spa_hook playback_listener;

	struct spa_source *timer;
	struct spa_source *done_event;	/* the worker finished something */

	/* main thread */
	struct iem_params params;	/* in force: what Props read back */
	struct iem_params requested;	/* params plus the sets still on the worker */
	uint64_t gen;			/* of requested */
	uint64_t shown_events, shown_unprocessed, shown_invalid, shown_cycles;
	uint32_t shown_quantum, shown_rate;
	bool unloading;

	/* shared by main and worker, under lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t worker;
	bool worker_running;
	bool quit;
	struct iem_params job;		/* the newest set to apply */
	uint64_t job_gen;		/* 0: none yet */
	uint32_t want_rate;		/* the graph's rate, from the format */
	struct iem_params done_params;	/* the worker's: in force */
	uint64_t done_gen;
	bool done_new;
	struct result failed;		/* the last set refused by the worker */
	bool failed_new;

	/* the worker's (and the main thread's before the worker starts) */
	struct iem_chain *ctl_chain;	/* the newest chain */
	struct iem_params ctl_params;	/* what ctl_chain has */
	uint64_t ctl_gen;
	bool ctl_stage_ok;		/* ctl_chain has the stage ctl_params asks for */

	/* handed between the worker and the data thread (atomics) */
	struct iem_chain *chain_next;
	struct iem_chain *chain_retired;

	/* the data thread's; read atomically elsewhere */
	struct iem_chain *chain;
	uint32_t rate;			/* the format's rate; 0 before one */
	uint64_t unprocessed;
	uint64_t cycles;
	uint64_t xruns;			/* cycles after a gap in the graph's clock */
	uint64_t late;			/* cycles finished after their period */
	uint64_t last_ticks;		/* the clock's position at the last cycle */
	uint32_t last_n;		/* and that cycle's frames */
	uint32_t quantum;
	bool reset;			/* clear the chain's state before the next cycle */
};

/* ---- data thread --------------------------------------------------------- */

static void capture_process(void *data)
{
	struct impl *impl = data;
	pw_stream_trigger_process(impl->playback);
}

/* A chain made for a new rate: taken once the worker has collected the
 * last one retired. */
static void take_next_chain(struct impl *impl)
{
	struct iem_chain *next;

	if (__atomic_load_n(&impl->chain_next, __ATOMIC_ACQUIRE) == NULL ||
	    __atomic_load_n(&impl->chain_retired, __ATOMIC_ACQUIRE) != NULL)
		return;
	next = __atomic_exchange_n(&impl->chain_next, NULL, __ATOMIC_ACQ_REL);
	if (next == NULL)
		return;
	__atomic_store_n(&impl->chain_retired, impl->chain, __ATOMIC_RELEASE);
	__atomic_store_n(&impl->chain, next, __ATOMIC_RELEASE);
}

/* Xruns and late cycles, from the graph clock's snapshot in the stream's
 * time (pw_stream_get_time_n reads it under a sequence count: no lock, no
 * system call; clock_gettime is the vDSO's). An xrun: the clock moved on
 * by more than the last cycle's frames (cycles were lost). Late: this
 * cycle's processing ended more than one period after the driver woke. */
static void count_timing(struct impl *impl, uint32_t n)
{
	struct pw_time t;
	struct timespec now;

	if (pw_stream_get_time_n(impl->capture, &t, sizeof(t)) < 0 || t.rate.num == 0 ||
	    t.rate.denom == 0)
		return;
	if (impl->last_n != 0 && t.ticks != impl->last_ticks &&
	    t.ticks > impl->last_ticks + impl->last_n && t.rate.num == 1 &&
	    t.rate.denom == impl->rate)
		__atomic_store_n(&impl->xruns, impl->xruns + 1, __ATOMIC_RELAXED);
	impl->last_ticks = t.ticks;
	impl->last_n = n;
	if (t.now > 0 && clock_gettime(CLOCK_MONOTONIC, &now) == 0) {
		uint64_t end = (uint64_t)now.tv_sec * SPA_NSEC_PER_SEC + (uint64_t)now.tv_nsec;
		uint64_t period = (uint64_t)n * SPA_NSEC_PER_SEC * t.rate.num / t.rate.denom;
		if (end > (uint64_t)t.now + period)
			__atomic_store_n(&impl->late, impl->late + 1, __ATOMIC_RELAXED);
	}
}

static void playback_process(void *data)
{
	struct impl *impl = data;
	struct pw_buffer *in, *out;
	struct iem_chain *chain;
	uint32_t n = 0;

	in = pw_stream_dequeue_buffer(impl->capture);
	out = pw_stream_dequeue_buffer(impl->playback);
	if (in == NULL || out == NULL) {
		__atomic_store_n(&impl->unprocessed, impl->unprocessed + 1, __ATOMIC_RELAXED);
		goto done;
	}

	struct spa_buffer *ib = in->buffer, *ob = out->buffer;
	if (ib->n_datas < 2 || ob->n_datas < 2 || !ib->datas[0].data || !ib->datas[1].data ||
	    !ob->datas[0].data || !ob->datas[1].data) {
		__atomic_store_n(&impl->unprocessed, impl->unprocessed + 1, __ATOMIC_RELAXED);
		goto done;
	}
	const float *src[2];
	float *dst[2];
	n = UINT32_MAX;
	for (uint32_t c = 0; c < 2; c++) {
		const struct spa_data *d = &ib->datas[c];
		uint32_t offs = SPA_MIN(d->chunk->offset, d->maxsize);
		uint32_t size = SPA_MIN(d->chunk->size, d->maxsize - offs);
		src[c] = SPA_PTROFF(d->data, offs, const float);
		dst[c] = ob->datas[c].data;
		n = SPA_MIN(n, size / (uint32_t)sizeof(float));
		n = SPA_MIN(n, ob->datas[c].maxsize / (uint32_t)sizeof(float));
	}

	take_next_chain(impl);
	chain = impl->chain;
	if (chain != NULL && iem_chain_get_rate(chain) ==
			__atomic_load_n(&impl->rate, __ATOMIC_RELAXED)) {
		if (__atomic_load_n(&impl->reset, __ATOMIC_RELAXED) &&
		    __atomic_exchange_n(&impl->reset, false, __ATOMIC_ACQ_REL)) {
			iem_chain_reset(chain);
			impl->last_n = 0;	/* a new start, not a gap */
		}
		iem_chain_process(chain, src, dst, n);
	} else {
		/* the chain for this rate is still being built: said in
		 * the node's info */
		for (uint32_t c = 0; c < 2; c++)
			memcpy(dst[c], src[c], n * sizeof(float));
		__atomic_store_n(&impl->unprocessed, impl->unprocessed + 1, __ATOMIC_RELAXED);
	}
	for (uint32_t c = 0; c < 2; c++) {
		struct spa_chunk *oc = ob->datas[c].chunk;
		oc->offset = 0;
		oc->size = n * sizeof(float);
		oc->stride = sizeof(float);
	}
	__atomic_store_n(&impl->cycles, impl->cycles + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&impl->quantum, n, __ATOMIC_RELAXED);
	count_timing(impl, n);
done:
	if (in != NULL)
		pw_stream_queue_buffer(impl->capture, in);
	if (out != NULL)
		pw_stream_queue_buffer(impl->playback, out);
}

/* ---- the chain's control side (the worker; main before it starts) --------- */

static bool differ(double a, double b)
{
	return a != b;
}

/* The stage parameters differ in what the stage mode uses. */
static bool stage_differs(const struct iem_params *a, const struct iem_params *b)
{
	if (a->stage_mode != b->stage_mode)
		return true;
	switch (a->stage_mode) {
	case IEM_STAGE_BRIR:
		return strcmp(a->stage_brir, b->stage_brir) != 0;
	case IEM_STAGE_ROOM:
		return strcmp(a->stage_hrtf, b->stage_hrtf) != 0 ||
			differ(a->stage_angle, b->stage_angle) ||
			differ(a->stage_distance, b->stage_distance) ||
			differ(a->stage_elevation, b->stage_elevation) ||
			differ(a->room_width, b->room_width) ||
			differ(a->room_depth, b->room_depth) ||
			differ(a->room_height, b->room_height) ||
			differ(a->room_rt60, b->room_rt60) ||
			differ(a->room_early, b->room_early) ||
			differ(a->room_late, b->room_late) ||
			differ(a->head_radius, b->head_radius);
	case IEM_STAGE_CROSSFEED:
		return a->crossfeed_preset != b->crossfeed_preset ||
			differ(a->crossfeed_fcut, b->crossfeed_fcut) ||
			differ(a->crossfeed_feed, b->crossfeed_feed);
	default:
		return false;
	}
}

/* Brings chain c from `had` to p: the stage when it changed (or is not
 * there yet), then the rest. On failure nothing of p is applied. */
static int chain_configure(struct iem_chain *c, const struct iem_params *p,
		const struct iem_params *had, bool *stage_ok, char *err, size_t err_size)
{
	struct iem_stage_info si = { 0 };
	int res;

	if (!*stage_ok || stage_differs(p, had)) {
		if ((res = iem_chain_load_stage(c, p, &si, err, err_size)) < 0) {
			/* the file's errors name the file: say which key */
			if (p->stage_mode == IEM_STAGE_BRIR && strncmp(err, "stage.", 6) != 0) {
				char why[512];
				snprintf(why, sizeof(why), "%s", err);
				snprintf(err, err_size, "stage.brir: %.480s", why);
			}
			return res;
		}
		*stage_ok = true;
		if (p->stage_mode != IEM_STAGE_OFF)
			pw_log_info("stage: %s, %u taps, gain %.1f dB%s", si.layout ? si.layout :
					p->stage_mode == IEM_STAGE_ROOM ? "room" : "crossfeed",
					si.length, si.gain_db, si.exchanged ? ", crossfaded in place" : "");
	}
	if ((res = iem_chain_apply(c, p, NULL)) < 0) {
		snprintf(err, err_size, "the chain refused the settings: %s", spa_strerror(res));
		return res;
	}
	return 0;
}

/* A chain at rate with ctl_params; its stage when it can be had. */
static struct iem_chain *chain_make(struct impl *impl, uint32_t rate)
{
	struct iem_chain *c;
	struct iem_params none;
	char err[512];
	bool stage_ok = false;

	if ((c = iem_chain_new(rate)) == NULL) {
		pw_log_error("cannot make the chain at %u Hz: %m", rate);
		return NULL;
	}
	iem_params_init(&none);
	if (chain_configure(c, &impl->ctl_params, &none, &stage_ok, err, sizeof(err)) < 0) {
		/* the file went away since: the rest still applies */
		pw_log_error("the stage at %u Hz: %s; running without a stage", rate, err);
		iem_chain_apply(c, &impl->ctl_params, NULL);
	}
	impl->ctl_stage_ok = stage_ok;
	iem_chain_reset(c);	/* not running yet: no ramps from the defaults */
	return c;
}

static void collect_retired_locked(struct impl *impl)
{
	struct iem_chain *old = __atomic_exchange_n(&impl->chain_retired, NULL, __ATOMIC_ACQ_REL);
	if (old != NULL)
		iem_chain_free(old);
}

static bool in_flight(struct impl *impl)
{
	return __atomic_load_n(&impl->chain_next, __ATOMIC_ACQUIRE) != NULL ||
		__atomic_load_n(&impl->chain_retired, __ATOMIC_ACQUIRE) != NULL;
}

static void *worker_main(void *data)
{
	struct impl *impl = data;
	struct iem_params *p = malloc(sizeof(*p));
	char err[512];

	if (p == NULL)
		return NULL;
	pthread_mutex_lock(&impl->lock);
	while (!impl->quit) {
		collect_retired_locked(impl);
		uint32_t rate = impl->want_rate;
		bool rebuild = rate != 0 && rate != iem_chain_get_rate(impl->ctl_chain);
		bool job = impl->job_gen != impl->ctl_gen;

		if (!rebuild && !job) {
			if (in_flight(impl)) {
				/* the data thread takes a new chain in its own
				 * time and cannot wake us: look again soon */
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_nsec += 20 * 1000000L;
				if (ts.tv_nsec >= 1000000000L) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000L;
				}
				pthread_cond_timedwait(&impl->cond, &impl->lock, &ts);
			} else {
				pthread_cond_wait(&impl->cond, &impl->lock);
			}
			continue;
		}
		uint64_t gen = impl->job_gen;
		if (job)
			*p = impl->job;
		pthread_mutex_unlock(&impl->lock);

		if (rebuild) {
			struct iem_chain *next = chain_make(impl, rate), *old;
			if (next != NULL) {
				old = __atomic_exchange_n(&impl->chain_next, next, __ATOMIC_ACQ_REL);
				pthread_mutex_lock(&impl->lock);
				iem_chain_free(old);	/* made for a rate gone before it was taken */
				pthread_mutex_unlock(&impl->lock);
				impl->ctl_chain = next;
				pw_log_info("rebuilt at %u Hz", rate);
			}
		}
		int res = 0;
		if (job)
			res = chain_configure(impl->ctl_chain, p, &impl->ctl_params,
					&impl->ctl_stage_ok, err, sizeof(err));

		pthread_mutex_lock(&impl->lock);
		if (job) {
			impl->ctl_gen = gen;
			if (res < 0) {
				impl->failed.gen = gen;
				impl->failed.res = res;
				snprintf(impl->failed.err, sizeof(impl->failed.err), "%s", err);
				impl->failed_new = true;
			} else {
				impl->ctl_params = *p;
				impl->done_params = *p;
				impl->done_gen = gen;
				impl->done_new = true;
			}
			pw_loop_signal_event(impl->main_loop, impl->done_event);
		}
	}
	pthread_mutex_unlock(&impl->lock);
	free(p);
	return NULL;
}

/* ---- parameters ---------------------------------------------------------- */

/* A Props value as the text iem_params_set() reads; -EINVAL for a value
 * that is no number, bool or string, -ENAMETOOLONG past size. */
static int pod_to_text(const struct spa_pod *pod, char *buf, size_t size)
{
	float f;
	double d;
	int32_t i;
	int64_t l;
	bool b;
	const char *s;
	int r;

	if (spa_pod_get_bool(pod, &b) == 0)
		r = snprintf(buf, size, "%s", b ? "true" : "false");
	else if (spa_pod_get_float(pod, &f) == 0)
		r = spa_dtoa(buf, size, f) ? (int)strlen(buf) : -EINVAL;
	else if (spa_pod_get_double(pod, &d) == 0)
		r = spa_dtoa(buf, size, d) ? (int)strlen(buf) : -EINVAL;
	else if (spa_pod_get_int(pod, &i) == 0)
		r = snprintf(buf, size, "%d", i);
	else if (spa_pod_get_long(pod, &l) == 0)
		r = snprintf(buf, size, "%lld", (long long)l);
	else if (spa_pod_get_string(pod, &s) == 0)
		r = snprintf(buf, size, "%s", s);
	else
		return -EINVAL;
	if (r >= 0 && (size_t)r >= size)
		return -ENAMETOOLONG;
	return r;
}

static void add_value(struct spa_pod_builder *b, const struct iem_param_info *info, const char *text)
{
	switch (info->type) {
	case IEM_PARAM_BOOL:
		spa_pod_builder_bool(b, strcmp(text, "true") == 0);
		break;
	case IEM_PARAM_FLOAT: {
		char *end;
		double v = spa_strtod(text, &end);
		if (*end != '\0')
			spa_pod_builder_string(b, text);	/* "auto" */
		else
			spa_pod_builder_float(b, (float)v);
		break;
	}
	default:
		spa_pod_builder_string(b, text);
		break;
	}
}

static struct spa_pod *build_props(struct impl *impl, struct spa_pod_builder *b, uint32_t id,
		char *text)
{
	struct spa_pod_frame f[2];

	spa_pod_builder_push_object(b, &f[0], SPA_TYPE_OBJECT_Props, id);
	spa_pod_builder_prop(b, SPA_PROP_params, 0);
	spa_pod_builder_push_struct(b, &f[1]);
	for (uint32_t k = 0; k < iem_param_count(); k++) {
		struct iem_param_info info;
		if (iem_param_info(k, &info) < 0 ||
		    iem_params_get(&impl->params, info.name, text, TEXT_MAX) < 0)
			continue;
		spa_pod_builder_string(b, info.name);
		add_value(b, &info, text);
	}
	spa_pod_builder_pop(b, &f[1]);
	return spa_pod_builder_pop(b, &f[0]);
}

static struct spa_pod *build_prop_info(struct spa_pod_builder *b, const struct iem_param_info *info)
{
	struct spa_pod_frame f, fl;

	spa_pod_builder_push_object(b, &f, SPA_TYPE_OBJECT_PropInfo, SPA_PARAM_PropInfo);
	spa_pod_builder_add(b,
			SPA_PROP_INFO_name, SPA_POD_String(info->name),
			SPA_PROP_INFO_description, SPA_POD_String(info->description),
			0);
	switch (info->type) {
	case IEM_PARAM_BOOL:
		spa_pod_builder_add(b, SPA_PROP_INFO_type, SPA_POD_Bool(info->def != 0.0), 0);
		break;
	case IEM_PARAM_FLOAT:
		spa_pod_builder_add(b, SPA_PROP_INFO_type, SPA_POD_CHOICE_RANGE_Float((float)info->def,
					(float)info->min, (float)info->max), 0);
		break;
	default:
		spa_pod_builder_add(b, SPA_PROP_INFO_type,
				SPA_POD_String(info->def_string ? info->def_string : ""), 0);
		break;
	}
	if (info->type == IEM_PARAM_ENUM && info->choices != NULL) {
		/* the choices, as (value, label) pairs */
		spa_pod_builder_prop(b, SPA_PROP_INFO_labels, 0);
		spa_pod_builder_push_struct(b, &fl);
		for (const char *const *c = info->choices; *c; c++) {
			spa_pod_builder_string(b, *c);
			spa_pod_builder_string(b, *c);
		}
		spa_pod_builder_pop(b, &fl);
	}
	spa_pod_builder_add(b, SPA_PROP_INFO_params, SPA_POD_Bool(true), 0);
	return spa_pod_builder_pop(b, &f);
}

static struct spa_pod *build_format(struct spa_pod_builder *b, uint32_t id)
{
	struct spa_audio_info_raw info = {
		.format = SPA_AUDIO_FORMAT_F32P,
		.rate = 0,		/* the graph's */
		.channels = 2,
		.position = { SPA_AUDIO_CHANNEL_FL, SPA_AUDIO_CHANNEL_FR },
	};
	return spa_format_audio_raw_build(b, id, &info);
}

/* The capture stream's params: every PropInfo and the Props, and with
 * `format` its EnumFormat (at connection only: a new EnumFormat on a
 * running stream renegotiates it, and in 0.3.65 its output then stops). */
static void publish_params(struct impl *impl, bool format)
{
	struct spa_pod_dynamic_builder db;
	const struct spa_pod **params;
	uint32_t n = 0, count = iem_param_count();
	uint32_t *offs = calloc(count + 3, sizeof(*offs));
	char *text = malloc(TEXT_MAX);

	params = calloc(count + 3, sizeof(*params));
	if (params == NULL || offs == NULL || text == NULL) {
		pw_log_error("cannot publish the params: %m");
		goto done;
	}
	/* the builder grows (and moves): keep offsets, not pointers */
	spa_pod_dynamic_builder_init(&db, NULL, 0, 4096);
	if (format) {
		offs[n++] = db.b.state.offset;
		build_format(&db.b, SPA_PARAM_EnumFormat);
	}
	for (uint32_t k = 0; k < count; k++) {
		struct iem_param_info info;
		if (iem_param_info(k, &info) < 0)
			continue;
		offs[n++] = db.b.state.offset;
		build_prop_info(&db.b, &info);
	}
	offs[n++] = db.b.state.offset;
	build_props(impl, &db.b, SPA_PARAM_Props, text);
	for (uint32_t k = 0; k < n; k++)
		params[k] = SPA_PTROFF(db.b.data, offs[k], const struct spa_pod);
	pw_stream_update_params(impl->capture, params, n);
	spa_pod_dynamic_builder_clean(&db);
done:
	free(offs);
	free(text);
	free(params);
}

/* A file the stage needs must be there and readable: checked at once, so
 * that a set naming a missing one is refused as a whole, with its key.
 * (Its content is read on the worker; a file that exists but cannot be
 * used is refused from there.) */
static int check_files(const struct iem_params *p, const struct iem_params *had,
		char *err, size_t err_size)
{
	if (p->stage_mode == IEM_STAGE_BRIR &&
	    (had->stage_mode != IEM_STAGE_BRIR || strcmp(p->stage_brir, had->stage_brir) != 0)) {
		if (p->stage_brir[0] == '\0') {
			snprintf(err, err_size, "stage.mode = brir needs a file in stage.brir");
			return -EINVAL;
		}
		if (access(p->stage_brir, R_OK) < 0) {
			int e = errno;
			snprintf(err, err_size, "stage.brir = \"%.300s\": %s", p->stage_brir, strerror(e));
			return -e;
		}
	}
	if (p->stage_mode == IEM_STAGE_ROOM && p->stage_hrtf[0] != '\0' &&
	    strcasecmp(p->stage_hrtf, "auto") != 0 && strcasecmp(p->stage_hrtf, "model") != 0 &&
	    (had->stage_mode != IEM_STAGE_ROOM || strcmp(p->stage_hrtf, had->stage_hrtf) != 0) &&
	    access(p->stage_hrtf, R_OK) < 0) {
		int e = errno;
		snprintf(err, err_size, "stage.hrtf = \"%.300s\": %s", p->stage_hrtf, strerror(e));
		return -e;
	}
	return 0;
}

/* Checks name/value pairs against requested, all together; on the first
 * bad one nothing changes and its message (naming it) goes to err.
 * Otherwise *out is requested with the pairs set. */
/* base (NULL: what is requested now) with the pairs set, checked, in out */
static int check_pairs(struct impl *impl, const struct iem_params *base,
		const char *const *names, const char *const *values,
		uint32_t n, struct iem_params *out, char *err, size_t err_size)
{
	struct iem_params *p = malloc(sizeof(*p));
	int res = 0;

	if (p == NULL) {
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	*p = base ? *base : impl->requested;
	for (uint32_t k = 0; k < n && res >= 0; k++)
		res = iem_params_set(p, names[k], values[k], err, err_size);
	if (res >= 0)
		res = check_files(p, &impl->requested, err, err_size);
	if (res >= 0)
		*out = *p;
	free(p);
	return res;
}

/* Hands requested to the worker. */
static void post_job(struct impl *impl, const struct iem_params *p)
{
	impl->requested = *p;
	impl->gen++;
	pthread_mutex_lock(&impl->lock);
	impl->job = *p;
	impl->job_gen = impl->gen;
	pthread_cond_signal(&impl->cond);
	pthread_mutex_unlock(&impl->lock);
}

/* Props params in our name space; the rest (e.g. the stream's own
 * monitor.channel-volumes) belong to PipeWire and are left alone. */
static bool owned_name(const char *name)
{
	static const char *const prefixes[] = {
		"eq.", "stage.", "output.", "room.", "crossfeed.", "hrtf.", "iemstage.",
	};
	if (spa_streq(name, "bypass"))
		return true;
	for (size_t i = 0; i < SPA_N_ELEMENTS(prefixes); i++)
		if (spa_strstartswith(name, prefixes[i]))
			return true;
	return false;
}

static int parse_args_params(struct impl *impl, const struct iem_params *base,
		const char *str, struct iem_params *out, char *err, size_t err_size);

/* Props: pairs of flat names and values, applied together or not at all.
 * "iemstage.profile" is a whole set in one string, { name = value ... } as
 * in the module args: the defaults with those set, replacing everything
 * (the other pairs of the same Props apply on top of it). */
static void parse_props_param(struct impl *impl, const struct spa_pod *param)
{
	const struct spa_pod_object *obj = (const struct spa_pod_object *)param;
	const struct spa_pod_prop *prop;
	const char **names = calloc(MAX_PAIRS, sizeof(*names));
	char **texts = calloc(MAX_PAIRS, sizeof(*texts));
	char *text = malloc(TEXT_MAX);
	struct iem_params *p = malloc(sizeof(*p)), *whole = NULL;
	char *profile = NULL;
	uint32_t n = 0;
	char err[512];
	int res;

	if (names == NULL || texts == NULL || text == NULL || p == NULL) {
		pw_log_error("Props: out of memory, nothing changed");
		goto done;
	}
	SPA_POD_OBJECT_FOREACH(obj, prop) {
		struct spa_pod_parser prs;
		struct spa_pod_frame f;

		if (prop->key != SPA_PROP_params)
			continue;
		spa_pod_parser_pod(&prs, &prop->value);
		if (spa_pod_parser_push_struct(&prs, &f) < 0)
			continue;
		while (1) {
			const char *name;
			struct spa_pod *value;
			if (spa_pod_parser_get_string(&prs, &name) < 0 ||
			    spa_pod_parser_get_pod(&prs, &value) < 0)
				break;
			if (!owned_name(name))
				continue;
			if (n == MAX_PAIRS) {
				pw_log_warn("Props refused, nothing changed: more than %u parameters",
						MAX_PAIRS);
				goto done;
			}
			if ((res = pod_to_text(value, text, TEXT_MAX)) < 0) {
				pw_log_warn("Props refused, nothing changed: %s: %s", name,
						res == -ENAMETOOLONG ? "the value is too long" :
						"expected a number, bool or string");
				goto done;
			}
			if (spa_streq(name, "iemstage.profile")) {
				free(profile);
				if ((profile = strdup(text)) == NULL)
					goto done;
				continue;
			}
			names[n] = name;
			if ((texts[n] = strdup(text)) == NULL)
				goto done;
			n++;
		}
	}
	if (n == 0 && profile == NULL)
		goto done;
	if (profile != NULL) {
		struct iem_params *defaults = malloc(sizeof(*defaults));
		if (defaults == NULL || (whole = malloc(sizeof(*whole))) == NULL) {
			free(defaults);
			pw_log_error("Props: out of memory, nothing changed");
			goto done;
		}
		iem_params_init(defaults);
		res = parse_args_params(impl, defaults, profile, whole, err, sizeof(err));
		free(defaults);
		if (res < 0) {
			/* the message starts "params: …" */
			pw_log_warn("Props refused, nothing changed: iemstage.profile: %s", err);
			goto done;
		}
	}
	if (check_pairs(impl, whole, names, (const char *const *)texts, n, p, err, sizeof(err)) < 0) {
		pw_log_warn("Props refused, nothing changed: %s", err);
		goto done;
	}
	pw_log_info("%u parameter(s) accepted%s", n, profile ? ", and a whole set (iemstage.profile)" : "");
	post_job(impl, p);
done:
	free(profile);
	free(whole);
	for (uint32_t k = 0; texts && k < n; k++)
		free(texts[k]);
	free(names);
	free(texts);
	free(text);
	free(p);
}

/* The worker is done with a set: publish what is in force. */
static void on_done(void *data, uint64_t count)
{
	struct impl *impl = data;
	struct result failed = { 0 };
	bool done, fail;

	pthread_mutex_lock(&impl->lock);
	done = impl->done_new;
	fail = impl->failed_new;
	if (done)
		impl->params = impl->done_params;
	if (fail)
		failed = impl->failed;
	impl->done_new = impl->failed_new = false;
	pthread_mutex_unlock(&impl->lock);

	if (fail) {
		pw_log_warn("Props refused, nothing changed: %s", failed.err);
		/* sets made on top of the refused one go with it */
		if (failed.gen >= impl->gen)
			impl->requested = impl->params;
	}
	if (done && impl->capture != NULL)
		publish_params(impl, false);
}

/* ---- streams ------------------------------------------------------------- */

static void forward_latency(struct impl *impl, const struct spa_pod *param, struct pw_stream *other)
{
	struct spa_latency_info latency;
	uint8_t buffer[1024];
	struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buffer, sizeof(buffer));
	const struct spa_pod *params[1];

	if (param == NULL || other == NULL || spa_latency_parse(param, &latency) < 0)
		return;
	/* the chain adds nothing: what is downstream of the output is what
	 * the virtual sink reports, and the other way round */
	params[0] = spa_latency_build(&b, SPA_PARAM_Latency, &latency);
	pw_stream_update_params(other, params, 1);
}

static void capture_param_changed(void *data, uint32_t id, const struct spa_pod *param)
{
	struct impl *impl = data;
	struct spa_audio_info_raw info;

	switch (id) {
	case SPA_PARAM_Format:
		if (param == NULL)
			break;
		spa_zero(info);
		if (spa_format_audio_raw_parse(param, &info) < 0 || info.rate == 0 ||
		    info.rate < IEM_MIN_RATE || info.rate > IEM_MAX_RATE) {
			pw_log_warn("unusable format: rate %u; audio passes unprocessed", info.rate);
			__atomic_store_n(&impl->rate, info.rate, __ATOMIC_RELAXED);
			break;
		}
		__atomic_store_n(&impl->rate, info.rate, __ATOMIC_RELAXED);
		pthread_mutex_lock(&impl->lock);
		if (impl->want_rate != info.rate)
			pw_log_info("the graph runs at %u Hz", info.rate);
		impl->want_rate = info.rate;
		pthread_cond_signal(&impl->cond);
		pthread_mutex_unlock(&impl->lock);
		break;
	case SPA_PARAM_Props:
		if (param != NULL && spa_pod_is_object_type(param, SPA_TYPE_OBJECT_Props))
			parse_props_param(impl, param);
		break;
	case SPA_PARAM_Latency:
		forward_latency(impl, param, impl->playback);
		break;
	}
}

static void playback_param_changed(void *data, uint32_t id, const struct spa_pod *param)
{
	struct impl *impl = data;

	if (id == SPA_PARAM_Latency)
		forward_latency(impl, param, impl->capture);
}

static void stream_destroy(void *data)
{
	struct impl *impl = data;
	spa_hook_remove(&impl->capture_listener);
	impl->capture = NULL;
}

static void playback_destroy(void *data)
{
	struct impl *impl = data;
	spa_hook_remove(&impl->playback_listener);
	impl->playback = NULL;
}

static void stream_state_changed(void *data, enum pw_stream_state old,
		enum pw_stream_state state, const char *error)
{
	struct impl *impl = data;

	if (state == PW_STREAM_STATE_ERROR) {
		pw_log_error("stream error: %s", error ? error : "unknown");
		if (!impl->unloading) {
			impl->unloading = true;
			pw_impl_module_schedule_destroy(impl->module);
		}
	}
}

static void on_timer(void *data, uint64_t expirations);

/* The counters are published once a second while audio flows, and once
 * more when it stops: an idle sink wakes nobody. A stream that stops
 * starts again from silence: the old tail would be a click. */
static void capture_state_changed(void *data, enum pw_stream_state old,
		enum pw_stream_state state, const char *error)
{
	struct impl *impl = data;
	struct timespec on = { 1, 0 }, off = { 0, 0 };

	stream_state_changed(data, old, state, error);
	if (old == PW_STREAM_STATE_STREAMING && state != PW_STREAM_STATE_STREAMING)
		__atomic_store_n(&impl->reset, true, __ATOMIC_RELEASE);
	if (impl->timer == NULL)
		return;
	if (state == PW_STREAM_STATE_STREAMING) {
		pw_loop_update_timer(impl->main_loop, impl->timer, &on, &on, false);
	} else if (old == PW_STREAM_STATE_STREAMING) {
		pw_loop_update_timer(impl->main_loop, impl->timer, &off, &off, false);
		on_timer(impl, 1);
	}
}

static const struct pw_stream_events capture_events = {
	PW_VERSION_STREAM_EVENTS,
	.destroy = stream_destroy,
	.state_changed = capture_state_changed,
	.param_changed = capture_param_changed,
	.process = capture_process,
};

static const struct pw_stream_events playback_events = {
	PW_VERSION_STREAM_EVENTS,
	.destroy = playback_destroy,
	.state_changed = stream_state_changed,
	.param_changed = playback_param_changed,
	.process = playback_process,
};

/* ---- counters in the node's info ----------------------------------------- */

static void on_timer(void *data, uint64_t expirations)
{
	struct impl *impl = data;
	struct iem_chain_stats st = { 0 };
	char ev[32], un[32], inv[32], cyc[32], q[16], rate[16], xr[32], lt[32];
	uint32_t chain_rate = 0;
	uint64_t unprocessed = __atomic_load_n(&impl->unprocessed, __ATOMIC_RELAXED);
	uint64_t cycles = __atomic_load_n(&impl->cycles, __ATOMIC_RELAXED);
	uint64_t xruns = __atomic_load_n(&impl->xruns, __ATOMIC_RELAXED);
	uint64_t late = __atomic_load_n(&impl->late, __ATOMIC_RELAXED);
	uint32_t quantum = __atomic_load_n(&impl->quantum, __ATOMIC_RELAXED);

	/* the worker frees a retired chain under the lock */
	pthread_mutex_lock(&impl->lock);
	struct iem_chain *c = __atomic_load_n(&impl->chain, __ATOMIC_ACQUIRE);
	if (c != NULL) {
		iem_chain_get_stats(c, &st);
		chain_rate = iem_chain_get_rate(c);
	}
	pthread_mutex_unlock(&impl->lock);

	if (st.limiter_events == impl->shown_events && unprocessed == impl->shown_unprocessed &&
	    st.invalid_samples == impl->shown_invalid && cycles == impl->shown_cycles &&
	    quantum == impl->shown_quantum && chain_rate == impl->shown_rate)
		return;
	if (unprocessed != impl->shown_unprocessed)
		pw_log_info("%" PRIu64 " cycle(s) passed without processing so far", unprocessed);
	impl->shown_events = st.limiter_events;
	impl->shown_unprocessed = unprocessed;
	impl->shown_invalid = st.invalid_samples;
	impl->shown_cycles = cycles;
	impl->shown_quantum = quantum;
	impl->shown_rate = chain_rate;
	snprintf(ev, sizeof(ev), "%" PRIu64, st.limiter_events);
	snprintf(un, sizeof(un), "%" PRIu64, unprocessed);
	snprintf(inv, sizeof(inv), "%" PRIu64, st.invalid_samples);
	snprintf(cyc, sizeof(cyc), "%" PRIu64, cycles);
	snprintf(q, sizeof(q), "%" PRIu32, quantum);
	snprintf(rate, sizeof(rate), "%" PRIu32, chain_rate);
	snprintf(xr, sizeof(xr), "%" PRIu64, xruns);
	snprintf(lt, sizeof(lt), "%" PRIu64, late);
	const struct spa_dict_item items[] = {
		{ "iemstage.limiter.events", ev },
		{ "iemstage.unprocessed", un },
		{ "iemstage.invalid-samples", inv },
		{ "iemstage.cycles", cyc },
		{ "iemstage.quantum", q },
		{ "iemstage.rate", rate },
		{ "iemstage.xruns", xr },
		{ "iemstage.late", lt },
	};
	if (impl->capture)
		pw_stream_update_properties(impl->capture, &SPA_DICT_INIT_ARRAY(items));
}

/* ---- set-up --------------------------------------------------------------- */

static void impl_destroy(struct impl *impl)
{
	if (impl->timer)
		pw_loop_destroy_source(impl->main_loop, impl->timer);
	/* the streams first: then no process callback runs */
	if (impl->capture)
		pw_stream_destroy(impl->capture);
	if (impl->playback)
		pw_stream_destroy(impl->playback);
	if (impl->core && impl->do_disconnect)
		pw_core_disconnect(impl->core);
	if (impl->worker_running) {
		pthread_mutex_lock(&impl->lock);
		impl->quit = true;
		pthread_cond_signal(&impl->cond);
		pthread_mutex_unlock(&impl->lock);
		pthread_join(impl->worker, NULL);
	}
	if (impl->done_event)
		pw_loop_destroy_source(impl->main_loop, impl->done_event);
	/* every chain there is, once: ctl_chain is one of these */
	struct iem_chain *next = impl->chain_next, *retired = impl->chain_retired;
	if (impl->ctl_chain != impl->chain && impl->ctl_chain != next && impl->ctl_chain != retired)
		iem_chain_free(impl->ctl_chain);
	iem_chain_free(impl->chain);
	iem_chain_free(next);
	iem_chain_free(retired);
	pthread_cond_destroy(&impl->cond);
	pthread_mutex_destroy(&impl->lock);
	pw_properties_free(impl->capture_props);
	pw_properties_free(impl->playback_props);
	free(impl);
}

static void module_destroy(void *data)
{
	struct impl *impl = data;
	impl->unloading = true;
	spa_hook_remove(&impl->module_listener);
	impl_destroy(impl);
}

static const struct pw_impl_module_events module_events = {
	PW_VERSION_IMPL_MODULE_EVENTS,
	.destroy = module_destroy,
};

static void core_error(void *data, uint32_t id, int seq, int res, const char *message)
{
	struct impl *impl = data;

	pw_log_error("error id:%u seq:%d res:%d (%s): %s", id, seq, res, spa_strerror(res), message);
	if (id == PW_ID_CORE && res == -EPIPE && !impl->unloading) {
		impl->unloading = true;
		pw_impl_module_schedule_destroy(impl->module);
	}
}

static const struct pw_core_events core_events = {
	PW_VERSION_CORE_EVENTS,
	.error = core_error,
};

static void core_destroy(void *data)
{
	struct impl *impl = data;
	spa_hook_remove(&impl->core_listener);
	spa_hook_remove(&impl->core_proxy_listener);
	impl->core = NULL;
	if (!impl->unloading) {
		impl->unloading = true;
		pw_impl_module_schedule_destroy(impl->module);
	}
}

static const struct pw_proxy_events core_proxy_events = {
	.destroy = core_destroy,
};

/* params = { name = value ... } from the module args, checked on top of
 * the defaults into *out. */
static int parse_args_params(struct impl *impl, const struct iem_params *base,
		const char *str, struct iem_params *out, char *err, size_t err_size)
{
	struct spa_json it[2];
	char key[128], *val = malloc(TEXT_MAX);
	const char **names = calloc(MAX_PAIRS, sizeof(*names));
	char **vals = calloc(MAX_PAIRS, sizeof(*vals));
	uint32_t n = 0;
	const char *v;
	int len, res = -EINVAL;

	if (val == NULL || names == NULL || vals == NULL) {
		snprintf(err, err_size, "params: out of memory");
		res = -ENOMEM;
		goto done;
	}
	spa_json_init(&it[0], str, strlen(str));
	if (spa_json_enter_object(&it[0], &it[1]) <= 0) {
		snprintf(err, err_size, "params: expected { name = value ... }");
		goto done;
	}
	while (spa_json_get_string(&it[1], key, sizeof(key)) > 0) {
		if ((len = spa_json_next(&it[1], &v)) <= 0) {
			snprintf(err, err_size, "params: %s has no value", key);
			goto done;
		}
		if (spa_json_is_container(v, len)) {
			snprintf(err, err_size, "params: %s: expected a number, bool or word", key);
			goto done;
		}
		if (len >= TEXT_MAX || spa_json_parse_stringn(v, len, val, TEXT_MAX) <= 0) {
			snprintf(err, err_size, "params: %s: the value is too long", key);
			goto done;
		}
		if (n == MAX_PAIRS) {
			snprintf(err, err_size, "params: more than %u entries", MAX_PAIRS);
			res = -E2BIG;
			goto done;
		}
		if ((names[n] = strdup(key)) == NULL || (vals[n] = strdup(val)) == NULL) {
			n++;
			snprintf(err, err_size, "params: out of memory");
			res = -ENOMEM;
			goto done;
		}
		n++;
	}
	res = check_pairs(impl, base, names, (const char *const *)vals, n, out, err, err_size);
done:
	for (uint32_t k = 0; names && vals && k < n; k++) {
		free((char *)names[k]);
		free(vals[k]);
	}
	free(names);
	free(vals);
	free(val);
	return res;
}

static void copy_props(struct impl *impl, struct pw_properties *props, const char *key)
{
	const char *str;
	if ((str = pw_properties_get(props, key)) != NULL) {
		if (pw_properties_get(impl->capture_props, key) == NULL)
			pw_properties_set(impl->capture_props, key, str);
		if (pw_properties_get(impl->playback_props, key) == NULL)
			pw_properties_set(impl->playback_props, key, str);
	}
}

static int check_arg_keys(const struct pw_properties *props, char *err, size_t err_size)
{
	const struct spa_dict_item *it;

	spa_dict_for_each(it, &props->dict) {
		size_t i;
		for (i = 0; i < SPA_N_ELEMENTS(known_args); i++)
			if (spa_streq(it->key, known_args[i]))
				break;
		if (i == SPA_N_ELEMENTS(known_args)) {
			snprintf(err, err_size, "%.100s: not an argument of this module "
					"(stream properties go into capture.props or playback.props)",
					it->key);
			return -EINVAL;
		}
	}
	return 0;
}

/* capture.props / playback.props must be objects. */
static int take_props(struct pw_properties *dst, const struct pw_properties *args,
		const char *key, char *err, size_t err_size)
{
	const char *str = pw_properties_get(args, key);
	struct spa_json it;
	const char *v;
	int len;

	if (str == NULL)
		return 0;
	spa_json_init(&it, str, strlen(str));
	if ((len = spa_json_next(&it, &v)) <= 0 || !spa_json_is_object(v, len)) {
		snprintf(err, err_size, "%s: expected { key = value ... }", key);
		return -EINVAL;
	}
	pw_properties_update_string(dst, str, strlen(str));
	return 0;
}

SPA_EXPORT
int pipewire__module_init(struct pw_impl_module *module, const char *args);

SPA_EXPORT
int pipewire__module_init(struct pw_impl_module *module, const char *args)
{
	struct pw_context *context = pw_impl_module_get_context(module);
	struct pw_properties *props = NULL;
	struct impl *impl;
	const char *str, *target, *target_desc;
	uint32_t id = pw_global_get_id(pw_impl_module_get_global(module));
	char err[512], buf[512];
	int res;

	PW_LOG_TOPIC_INIT(mod_topic);

	impl = calloc(1, sizeof(*impl));
	if (impl == NULL)
		return -errno;
	impl->module = module;
	impl->context = context;
	impl->main_loop = pw_context_get_main_loop(context);
	pthread_mutex_init(&impl->lock, NULL);
	pthread_cond_init(&impl->cond, NULL);
	iem_params_init(&impl->params);
	impl->requested = impl->params;

	props = pw_properties_new_string(args ? args : "");
	impl->capture_props = pw_properties_new(NULL, NULL);
	impl->playback_props = pw_properties_new(NULL, NULL);
	if (props == NULL || impl->capture_props == NULL || impl->playback_props == NULL) {
		res = -errno;
		pw_log_error("can't create properties: %m");
		goto error;
	}
	/* refused: not -ENOENT for an unknown name, that reads as "no such module" */
	res = -EINVAL;
	if (check_arg_keys(props, err, sizeof(err)) < 0 ||
	    take_props(impl->capture_props, props, "capture.props", err, sizeof(err)) < 0 ||
	    take_props(impl->playback_props, props, "playback.props", err, sizeof(err)) < 0) {
		pw_log_error("module args refused: %s", err);
		goto error;
	}
	if ((str = pw_properties_get(props, "params")) != NULL &&
	    parse_args_params(impl, NULL, str, &impl->requested, err, sizeof(err)) < 0) {
		pw_log_error("module args refused: %s", err);
		goto error;
	}

	target = pw_properties_get(props, PW_KEY_TARGET_OBJECT);
	target_desc = pw_properties_get(props, "iemstage.target.description");
	if (target_desc == NULL)
		target_desc = target ? target : "default";

	/* names that read well in wpctl, pavucontrol and desktop settings */
	if (pw_properties_get(props, PW_KEY_NODE_NAME) == NULL)
		pw_properties_setf(props, PW_KEY_NODE_NAME, "iemstage.%s", target ? target : "default");
	if (pw_properties_get(props, PW_KEY_NODE_DESCRIPTION) == NULL)
		pw_properties_setf(props, PW_KEY_NODE_DESCRIPTION, "IEM Stage (%s)", target_desc);
	if (pw_properties_get(props, PW_KEY_NODE_LINK_GROUP) == NULL)
		pw_properties_setf(props, PW_KEY_NODE_LINK_GROUP, "iemstage-%d-%u", (int)getpid(), id);
	/* node.group: the two streams run under one driver. Without it the
	 * passive output stream is left out of the graph audio played into
	 * the virtual sink runs in (the Dummy-Driver's), and stays suspended,
	 * and so does the IEM: nothing is heard unless something else keeps
	 * the IEM's sink running. */
	if (pw_properties_get(props, PW_KEY_NODE_GROUP) == NULL)
		pw_properties_setf(props, PW_KEY_NODE_GROUP, "iemstage-%d-%u", (int)getpid(), id);
	copy_props(impl, props, PW_KEY_NODE_LINK_GROUP);
	copy_props(impl, props, PW_KEY_NODE_GROUP);
	copy_props(impl, props, PW_KEY_NODE_DESCRIPTION);
	copy_props(impl, props, PW_KEY_NODE_LATENCY);

	if (pw_properties_get(impl->capture_props, PW_KEY_NODE_NAME) == NULL)
		pw_properties_set(impl->capture_props, PW_KEY_NODE_NAME,
				pw_properties_get(props, PW_KEY_NODE_NAME));
	if (pw_properties_get(impl->capture_props, PW_KEY_MEDIA_CLASS) == NULL)
		pw_properties_set(impl->capture_props, PW_KEY_MEDIA_CLASS, "Audio/Sink");
	if (pw_properties_get(impl->capture_props, PW_KEY_DEVICE_ICON_NAME) == NULL)
		pw_properties_set(impl->capture_props, PW_KEY_DEVICE_ICON_NAME, "audio-headphones");
	pw_properties_set(impl->capture_props, "audio.channels", "2");
	pw_properties_set(impl->capture_props, "audio.position", "[ FL FR ]");

	if (pw_properties_get(impl->playback_props, PW_KEY_NODE_NAME) == NULL)
		pw_properties_setf(impl->playback_props, PW_KEY_NODE_NAME, "%s.output",
				pw_properties_get(props, PW_KEY_NODE_NAME));
	snprintf(buf, sizeof(buf), "IEM Stage (%s) output", target_desc);
	if (pw_properties_get(impl->playback_props, PW_KEY_NODE_DESCRIPTION) == NULL ||
	    spa_streq(pw_properties_get(impl->playback_props, PW_KEY_NODE_DESCRIPTION),
		    pw_properties_get(props, PW_KEY_NODE_DESCRIPTION)))
		pw_properties_set(impl->playback_props, PW_KEY_NODE_DESCRIPTION, buf);
	if (pw_properties_get(impl->playback_props, PW_KEY_NODE_PASSIVE) == NULL)
		pw_properties_set(impl->playback_props, PW_KEY_NODE_PASSIVE, "true");
	if (target != NULL && pw_properties_get(impl->playback_props, PW_KEY_TARGET_OBJECT) == NULL)
		pw_properties_set(impl->playback_props, PW_KEY_TARGET_OBJECT, target);
	pw_properties_set(impl->playback_props, "audio.channels", "2");
	pw_properties_set(impl->playback_props, "audio.position", "[ FL FR ]");

	/* The first chain, at a likely rate, built here: a stage named in
	 * the args that cannot be built refuses the module, naming it. */
	impl->ctl_chain = iem_chain_new(DEFAULT_RATE);
	if (impl->ctl_chain == NULL) {
		res = -errno;
		pw_log_error("cannot make the chain: %m");
		goto error;
	}
	{
		struct iem_params none;
		iem_params_init(&none);
		if ((res = chain_configure(impl->ctl_chain, &impl->requested, &none,
				&impl->ctl_stage_ok, err, sizeof(err))) < 0) {
			pw_log_error("module args refused: %s", err);
			res = -EINVAL;
			goto error;
		}
	}
	iem_chain_reset(impl->ctl_chain);
	impl->ctl_params = impl->params = impl->requested;
	impl->chain = impl->ctl_chain;

	impl->done_event = pw_loop_add_event(impl->main_loop, on_done, impl);
	if (impl->done_event == NULL) {
		res = -errno;
		goto error;
	}
	if ((res = -pthread_create(&impl->worker, NULL, worker_main, impl)) < 0) {
		pw_log_error("cannot start the worker thread: %s", spa_strerror(res));
		goto error;
	}
	impl->worker_running = true;

	impl->core = pw_context_get_object(context, PW_TYPE_INTERFACE_Core);
	if (impl->core == NULL) {
		str = pw_properties_get(props, PW_KEY_REMOTE_NAME);
		impl->core = pw_context_connect(context,
				pw_properties_new(PW_KEY_REMOTE_NAME, str, NULL), 0);
		impl->do_disconnect = true;
	}
	if (impl->core == NULL) {
		res = -errno;
		pw_log_error("can't connect: %m");
		goto error;
	}
	pw_proxy_add_listener((struct pw_proxy *)impl->core, &impl->core_proxy_listener,
			&core_proxy_events, impl);
	pw_core_add_listener(impl->core, &impl->core_listener, &core_events, impl);

	/* armed while the capture stream is streaming (capture_state_changed) */
	impl->timer = pw_loop_add_timer(impl->main_loop, on_timer, impl);
	impl->capture = pw_stream_new(impl->core, "iemstage capture", impl->capture_props);
	impl->capture_props = NULL;
	if (impl->capture == NULL) {
		res = -errno;
		goto error;
	}
	pw_stream_add_listener(impl->capture, &impl->capture_listener, &capture_events, impl);
	impl->playback = pw_stream_new(impl->core, "iemstage playback", impl->playback_props);
	impl->playback_props = NULL;
	if (impl->playback == NULL) {
		res = -errno;
		goto error;
	}
	pw_stream_add_listener(impl->playback, &impl->playback_listener, &playback_events, impl);

	uint8_t pbuf[1024];
	struct spa_pod_builder b = SPA_POD_BUILDER_INIT(pbuf, sizeof(pbuf));
	const struct spa_pod *fmt[1] = { build_format(&b, SPA_PARAM_EnumFormat) };

	res = pw_stream_connect(impl->capture, PW_DIRECTION_INPUT, PW_ID_ANY,
			PW_STREAM_FLAG_AUTOCONNECT | PW_STREAM_FLAG_MAP_BUFFERS | PW_STREAM_FLAG_RT_PROCESS,
			fmt, 1);
	if (res < 0)
		goto error;
	res = pw_stream_connect(impl->playback, PW_DIRECTION_OUTPUT, PW_ID_ANY,
			PW_STREAM_FLAG_AUTOCONNECT | PW_STREAM_FLAG_MAP_BUFFERS | PW_STREAM_FLAG_RT_PROCESS |
			PW_STREAM_FLAG_TRIGGER, fmt, 1);
	if (res < 0)
		goto error;
	publish_params(impl, true);

	pw_impl_module_add_listener(module, &impl->module_listener, &module_events, impl);
	pw_impl_module_update_properties(module, &SPA_DICT_INIT_ARRAY(module_props));
	pw_properties_free(props);
	return 0;

error:
	pw_properties_free(props);
	impl_destroy(impl);
	return res;
}
