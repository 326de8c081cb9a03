/* SPDX-License-Identifier: MIT */
/*
 * libpipewire-module-iemstage: the iemstage chain as a virtual sink.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
 * The iemstage chain (correction EQ, stage, output gain, safety limiter)
 * as a virtual sink whose output goes to an in-ear monitor's sink.
 *
 * Two streams, like filter-chain: a capture stream that is the virtual
 * sink (`Audio/Sink`, named "IEM Stage (<target>)") and a passive playback
 * stream to `target.object`. They share `node.link-group`, so WirePlumber
 * treats the pair as one filter. The playback stream is triggered by the
 * capture stream and runs in its cycle: zero added latency.
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
 * - `node.name`, `node.description`: override the virtual sink's name and
 *   description.
 * - `params = { <name> = <value> ... }`: initial settings, the flat names
 *   of `iemstage-render --list-params` (e.g. `eq.1.type = peaking`).
 *   A bad name or value refuses the module with a message naming it.
 * - `capture.props = { ... }`: properties for the virtual sink.
 * - `playback.props = { ... }`: properties for the output stream.
 * - `audio.channels` and `audio.position` are fixed: stereo, FL FR.
 *
 * ## Runtime control
 *
 * Every parameter is a `Props` param of the virtual sink, listed with
 * `PropInfo` (type, range, default, description):
 *
 *\code{.unparsed}
 * pw-cli set-param <sink id> Props '{ params = [ "eq.1.gain" -3.0 "bypass" false ] }'
 * pw-cli enum-params <sink id> Props
 *\endcode
 *
 * The parameters of one `set-param` apply together, or not at all when one
 * of them is refused (the node logs which, and keeps running). The node's
 * info properties `iemstage.limiter.events`, `iemstage.unprocessed` and
 * `iemstage.invalid-samples` count, every second while audio flows and
 * once when it stops, how often the limiter
 * acted, how many cycles passed audio without processing and how many
 * non-finite input samples were silenced.
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
 *       params = { eq.1.type = lowshelf eq.1.freq = 105 eq.1.gain = 4.0 }
 *     }
 *   }
 * ]
 *\endcode
 */

#define NAME "iemstage"

PW_LOG_TOPIC_STATIC(mod_topic, "mod." NAME);
#define PW_LOG_TOPIC_DEFAULT mod_topic

#define DEFAULT_RATE	48000u
#define MAX_POD		(128u * 1024u)

static const struct spa_dict_item module_props[] = {
	{ PW_KEY_MODULE_AUTHOR, "iemstage" },
	{ PW_KEY_MODULE_DESCRIPTION, "In-ear monitor correction EQ and virtual stage" },
	{ PW_KEY_MODULE_USAGE, "[ target.object=<sink> ] "
			"[ iemstage.target.description=<text> ] "
			"[ node.name=<name> ] [ node.description=<text> ] "
			"[ params = { <name> = <value> ... } ] "
			"[ capture.props = { ... } ] [ playback.props = { ... } ]" },
	{ PW_KEY_MODULE_VERSION, IEM_VERSION },
};

struct impl {
	struct pw_context *context;
	struct pw_impl_module *module;
	struct spa_hook module_listener;
	struct pw_loop *data_loop;

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

	uint32_t rate;
	struct iem_params params;	/* main thread: the settings in force */

	/* the data thread's */
	struct iem_chain *chain;
	uint64_t unprocessed;		/* cycles passed through or dropped */

	uint64_t shown_events, shown_unprocessed, shown_invalid;
	bool stage_loaded;		/* the chain has the stage impl->params asks for */
	bool unloading;
};

/* ---- data thread --------------------------------------------------------- */

static void capture_process(void *data)
{
	struct impl *impl = data;
	pw_stream_trigger_process(impl->playback);
}

static void playback_process(void *data)
{
	struct impl *impl = data;
	struct pw_buffer *in, *out;
	uint32_t n = 0;

	in = pw_stream_dequeue_buffer(impl->capture);
	out = pw_stream_dequeue_buffer(impl->playback);
	if (in == NULL || out == NULL) {
		impl->unprocessed++;
		goto done;
	}

	struct spa_buffer *ib = in->buffer, *ob = out->buffer;
	if (ib->n_datas < 2 || ob->n_datas < 2 || !ib->datas[0].data || !ib->datas[1].data ||
	    !ob->datas[0].data || !ob->datas[1].data) {
		impl->unprocessed++;
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

	if (impl->chain != NULL) {
		iem_chain_process(impl->chain, src, dst, n);
	} else {
		/* not ready (rate change in progress): said in the node's info */
		for (uint32_t c = 0; c < 2; c++)
			memcpy(dst[c], src[c], n * sizeof(float));
		impl->unprocessed++;
	}
	for (uint32_t c = 0; c < 2; c++) {
		struct spa_chunk *oc = ob->datas[c].chunk;
		oc->offset = 0;
		oc->size = n * sizeof(float);
		oc->stride = sizeof(float);
	}
done:
	if (in != NULL)
		pw_stream_queue_buffer(impl->capture, in);
	if (out != NULL)
		pw_stream_queue_buffer(impl->playback, out);
}

static int do_swap_chain(struct spa_loop *loop, bool async, uint32_t seq,
		const void *data, size_t size, void *user_data)
{
	struct impl *impl = user_data;
	struct iem_chain **next = (struct iem_chain **)data;
	struct iem_chain *old = impl->chain;

	impl->chain = *next;
	*next = old;
	return 0;
}

/* ---- parameters ---------------------------------------------------------- */

/* A Props/args value as the text iem_params_set() reads. */
static int pod_to_text(const struct spa_pod *pod, char *buf, size_t size)
{
	float f;
	double d;
	int32_t i;
	int64_t l;
	bool b;
	const char *s;

	if (spa_pod_get_bool(pod, &b) == 0)
		return snprintf(buf, size, "%s", b ? "true" : "false");
	if (spa_pod_get_float(pod, &f) == 0)
		return spa_dtoa(buf, size, f) ? (int)strlen(buf) : -EINVAL;
	if (spa_pod_get_double(pod, &d) == 0)
		return spa_dtoa(buf, size, d) ? (int)strlen(buf) : -EINVAL;
	if (spa_pod_get_int(pod, &i) == 0)
		return snprintf(buf, size, "%d", i);
	if (spa_pod_get_long(pod, &l) == 0)
		return snprintf(buf, size, "%lld", (long long)l);
	if (spa_pod_get_string(pod, &s) == 0)
		return snprintf(buf, size, "%s", s);
	return -EINVAL;
}

static void add_value(struct spa_pod_builder *b, const struct iem_param_info *info, const char *text)
{
	switch (info->type) {
	case IEM_PARAM_BOOL:
		spa_pod_builder_bool(b, strcmp(text, "true") == 0);
		break;
	case IEM_PARAM_FLOAT: {
		char *end;
		double v = strtod(text, &end);
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

static struct spa_pod *build_props(struct impl *impl, struct spa_pod_builder *b, uint32_t id)
{
	struct spa_pod_frame f[2];
	char text[64];

	spa_pod_builder_push_object(b, &f[0], SPA_TYPE_OBJECT_Props, id);
	spa_pod_builder_prop(b, SPA_PROP_params, 0);
	spa_pod_builder_push_struct(b, &f[1]);
	for (uint32_t k = 0; k < iem_param_count(); k++) {
		struct iem_param_info info;
		if (iem_param_info(k, &info) < 0 ||
		    iem_params_get(&impl->params, info.name, text, sizeof(text)) < 0)
			continue;
		spa_pod_builder_string(b, info.name);
		add_value(b, &info, text);
	}
	spa_pod_builder_pop(b, &f[1]);
	return spa_pod_builder_pop(b, &f[0]);
}

static struct spa_pod *build_prop_info(struct spa_pod_builder *b, const struct iem_param_info *info)
{
	struct spa_pod_frame f;

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
	spa_pod_builder_add(b, SPA_PROP_INFO_params, SPA_POD_Bool(true), 0);
	return spa_pod_builder_pop(b, &f);
}

static struct spa_pod *build_format(struct impl *impl, struct spa_pod_builder *b, uint32_t id)
{
	struct spa_audio_info_raw info = {
		.format = SPA_AUDIO_FORMAT_F32P,
		.rate = 0,		/* the graph's */
		.channels = 2,
		.position = { SPA_AUDIO_CHANNEL_FL, SPA_AUDIO_CHANNEL_FR },
	};
	return spa_format_audio_raw_build(b, id, &info);
}

/* The capture stream's params: format, every PropInfo and the Props. */
static void publish_params(struct impl *impl)
{
	struct spa_pod_dynamic_builder db;
	const struct spa_pod **params;
	uint32_t n = 0, count = iem_param_count();

	params = calloc(count + 3, sizeof(*params));
	if (params == NULL)
		return;
	uint32_t *offs = calloc(count + 3, sizeof(*offs));
	if (offs == NULL) {
		free(params);
		return;
	}
	/* the builder grows (and moves): keep offsets, not pointers */
	spa_pod_dynamic_builder_init(&db, NULL, 0, 4096);
	offs[n++] = db.b.state.offset;
	build_format(impl, &db.b, SPA_PARAM_EnumFormat);
	for (uint32_t k = 0; k < count; k++) {
		struct iem_param_info info;
		if (iem_param_info(k, &info) < 0)
			continue;
		offs[n++] = db.b.state.offset;
		build_prop_info(&db.b, &info);
	}
	offs[n++] = db.b.state.offset;
	build_props(impl, &db.b, SPA_PARAM_Props);
	for (uint32_t k = 0; k < n; k++)
		params[k] = SPA_PTROFF(db.b.data, offs[k], const struct spa_pod);
	free(offs);
	pw_stream_update_params(impl->capture, params, n);
	spa_pod_dynamic_builder_clean(&db);
	free(params);
}

/* Applies name/value pairs all together; on the first bad one nothing is
 * applied and its message goes to err. */
static int apply_pairs(struct impl *impl, const char *const *names, const char *const *values,
		uint32_t n, char *err, size_t err_size)
{
	struct iem_params p = impl->params;
	int res;

	for (uint32_t k = 0; k < n; k++) {
		if ((res = iem_params_set(&p, names[k], values[k], err, err_size)) < 0)
			return res;
	}
	/* A new stage is read and transformed here, on the main thread; the
	 * data thread crossfades to it. A file that cannot be used refuses
	 * the whole set. */
	if (impl->chain != NULL && (p.stage_mode != impl->params.stage_mode ||
	    strcmp(p.stage_brir, impl->params.stage_brir) != 0 || !impl->stage_loaded) &&
	    p.stage_mode != IEM_STAGE_OFF) {
		struct iem_stage_info si;
		if ((res = iem_chain_load_stage(impl->chain, &p, &si, err, err_size)) < 0)
			return res;
		impl->stage_loaded = true;
		pw_log_info("stage: %s (%s, %u taps, gain %.1f dB)", p.stage_brir, si.layout,
				si.length, si.gain_db);
	} else if (impl->chain != NULL && p.stage_mode == IEM_STAGE_OFF &&
			impl->params.stage_mode != IEM_STAGE_OFF) {
		iem_chain_load_stage(impl->chain, &p, NULL, err, err_size);
	}
	if (impl->chain != NULL && (res = iem_chain_apply(impl->chain, &p, NULL)) < 0) {
		snprintf(err, err_size, "the chain refused the settings: %s", spa_strerror(res));
		return res;
	}
	impl->params = p;
	return 0;
}

#define MAX_PAIRS 512

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

static void parse_props_param(struct impl *impl, const struct spa_pod *param)
{
	const struct spa_pod_object *obj = (const struct spa_pod_object *)param;
	const struct spa_pod_prop *prop;
	static char texts[MAX_PAIRS][256];
	const char *names[MAX_PAIRS], *values[MAX_PAIRS];
	uint32_t n = 0;
	char err[256];

	if (!spa_pod_is_object_type(param, SPA_TYPE_OBJECT_Props))
		return;
	SPA_POD_OBJECT_FOREACH(obj, prop) {
		struct spa_pod_parser prs;
		struct spa_pod_frame f;

		if (prop->key != SPA_PROP_params)
			continue;
		spa_pod_parser_pod(&prs, &prop->value);
		if (spa_pod_parser_push_struct(&prs, &f) < 0)
			continue;
		while (n < MAX_PAIRS) {
			const char *name;
			struct spa_pod *value;
			if (spa_pod_parser_get_string(&prs, &name) < 0 ||
			    spa_pod_parser_get_pod(&prs, &value) < 0)
				break;
			if (!owned_name(name))
				continue;
			if (pod_to_text(value, texts[n], sizeof(texts[n])) < 0) {
				pw_log_warn("%s: a value that is not a number, bool or string: refused", name);
				return;
			}
			names[n] = name;
			values[n] = texts[n];
			n++;
		}
	}
	if (n == 0)
		return;
	if (apply_pairs(impl, names, values, n, err, sizeof(err)) < 0) {
		pw_log_warn("Props refused, nothing changed: %s", err);
		return;
	}
	pw_log_info("applied %u parameter(s)", n);
	publish_params(impl);
}

/* ---- rate and format ----------------------------------------------------- */

static void set_rate(struct impl *impl, uint32_t rate)
{
	struct iem_chain *next;

	if (impl->chain != NULL && iem_chain_get_rate(impl->chain) == rate)
		return;
	next = iem_chain_new(rate);
	if (next == NULL) {
		pw_log_error("cannot make the chain at %u Hz: %m", rate);
		return;
	}
	iem_chain_apply(next, &impl->params, NULL);
	if (impl->params.stage_mode != IEM_STAGE_OFF) {
		char err[512];
		/* at the new rate; if the file is gone, the chain runs without */
		if (iem_chain_load_stage(next, &impl->params, NULL, err, sizeof(err)) < 0)
			pw_log_error("stage.brir at %u Hz: %s; running without a stage", rate, err);
		else
			impl->stage_loaded = true;
	}
	iem_chain_reset(next);
	if (impl->capture == NULL) {
		/* no stream yet: nothing runs */
		iem_chain_free(impl->chain);
		impl->chain = next;
	} else {
		/* the data thread takes the new chain and gives back the old one */
		pw_loop_invoke(impl->data_loop, do_swap_chain, 1, &next, sizeof(next), true, impl);
		iem_chain_free(next);
	}
	impl->rate = rate;
	pw_log_info("running at %u Hz", rate);
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
			pw_log_warn("unusable format: rate %u", info.rate);
			break;
		}
		set_rate(impl, info.rate);
		break;
	case SPA_PARAM_Props:
		if (param != NULL)
			parse_props_param(impl, param);
		break;
	}
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
 * more when it stops: an idle sink wakes nobody. */
static void capture_state_changed(void *data, enum pw_stream_state old,
		enum pw_stream_state state, const char *error)
{
	struct impl *impl = data;
	struct pw_loop *loop = pw_context_get_main_loop(impl->context);
	struct timespec on = { 1, 0 }, off = { 0, 0 };

	stream_state_changed(data, old, state, error);
	if (impl->timer == NULL)
		return;
	if (state == PW_STREAM_STATE_STREAMING) {
		pw_loop_update_timer(loop, impl->timer, &on, &on, false);
	} else if (old == PW_STREAM_STATE_STREAMING) {
		pw_loop_update_timer(loop, impl->timer, &off, &off, false);
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
	.process = playback_process,
};

/* ---- counters in the node's info ----------------------------------------- */

static void on_timer(void *data, uint64_t expirations)
{
	struct impl *impl = data;
	struct iem_chain_stats st = { 0 };
	char ev[32], un[32], inv[32];
	uint64_t unprocessed = __atomic_load_n(&impl->unprocessed, __ATOMIC_RELAXED);

	if (impl->chain != NULL)
		iem_chain_get_stats(impl->chain, &st);
	if (st.limiter_events == impl->shown_events && unprocessed == impl->shown_unprocessed &&
	    st.invalid_samples == impl->shown_invalid)
		return;
	if (unprocessed != impl->shown_unprocessed)
		pw_log_info("%" PRIu64 " cycle(s) passed without processing so far", unprocessed);
	impl->shown_events = st.limiter_events;
	impl->shown_unprocessed = unprocessed;
	impl->shown_invalid = st.invalid_samples;
	snprintf(ev, sizeof(ev), "%" PRIu64, st.limiter_events);
	snprintf(un, sizeof(un), "%" PRIu64, unprocessed);
	snprintf(inv, sizeof(inv), "%" PRIu64, st.invalid_samples);
	const struct spa_dict_item items[] = {
		{ "iemstage.limiter.events", ev },
		{ "iemstage.unprocessed", un },
		{ "iemstage.invalid-samples", inv },
	};
	if (impl->capture)
		pw_stream_update_properties(impl->capture, &SPA_DICT_INIT_ARRAY(items));
}

/* ---- set-up --------------------------------------------------------------- */

static void impl_destroy(struct impl *impl)
{
	if (impl->timer)
		pw_loop_destroy_source(pw_context_get_main_loop(impl->context), impl->timer);
	if (impl->capture)
		pw_stream_destroy(impl->capture);
	if (impl->playback)
		pw_stream_destroy(impl->playback);
	if (impl->core && impl->do_disconnect)
		pw_core_disconnect(impl->core);
	iem_chain_free(impl->chain);
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

/* params = { name = value ... } from the module args. */
static int parse_args_params(struct impl *impl, const char *str, char *err, size_t err_size)
{
	struct spa_json it[2];
	static char keys[MAX_PAIRS][64], vals[MAX_PAIRS][256];
	const char *names[MAX_PAIRS], *values[MAX_PAIRS];
	uint32_t n = 0;
	const char *v;
	int len;

	spa_json_init(&it[0], str, strlen(str));
	if (spa_json_enter_object(&it[0], &it[1]) <= 0) {
		snprintf(err, err_size, "params: expected { name = value ... }");
		return -EINVAL;
	}
	while (spa_json_get_string(&it[1], keys[n], sizeof(keys[n])) > 0) {
		if ((len = spa_json_next(&it[1], &v)) <= 0) {
			snprintf(err, err_size, "params: %.63s has no value", keys[n]);
			return -EINVAL;
		}
		if (spa_json_is_container(v, len)) {
			snprintf(err, err_size, "params: %.63s: expected a number, bool or word", keys[n]);
			return -EINVAL;
		}
		if (spa_json_parse_stringn(v, len, vals[n], sizeof(vals[n])) <= 0) {
			snprintf(err, err_size, "params: %.63s: the value is too long", keys[n]);
			return -EINVAL;
		}
		names[n] = keys[n];
		values[n] = vals[n];
		if (++n == MAX_PAIRS) {
			snprintf(err, err_size, "params: more than %u entries", MAX_PAIRS);
			return -E2BIG;
		}
	}
	return apply_pairs(impl, names, values, n, err, err_size);
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
	impl->data_loop = pw_data_loop_get_loop(pw_context_get_data_loop(context));
	iem_params_init(&impl->params);

	props = pw_properties_new_string(args ? args : "");
	impl->capture_props = pw_properties_new(NULL, NULL);
	impl->playback_props = pw_properties_new(NULL, NULL);
	if (props == NULL || impl->capture_props == NULL || impl->playback_props == NULL) {
		res = -errno;
		pw_log_error("can't create properties: %m");
		goto error;
	}
	if ((str = pw_properties_get(props, "capture.props")) != NULL)
		pw_properties_update_string(impl->capture_props, str, strlen(str));
	if ((str = pw_properties_get(props, "playback.props")) != NULL)
		pw_properties_update_string(impl->playback_props, str, strlen(str));

	if ((str = pw_properties_get(props, "params")) != NULL &&
	    (res = parse_args_params(impl, str, err, sizeof(err))) < 0) {
		pw_log_error("module args refused: %s", err);
		/* not -ENOENT for an unknown name: that reads as "no such module" */
		res = -EINVAL;
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
	copy_props(impl, props, PW_KEY_NODE_LINK_GROUP);
	copy_props(impl, props, PW_KEY_NODE_DESCRIPTION);
	copy_props(impl, props, "node.latency");

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

	/* a chain at a likely rate now; the format decides */
	set_rate(impl, DEFAULT_RATE);
	if (impl->chain == NULL) {
		res = -ENOMEM;
		goto error;
	}
	/* a stage asked for in the args must load, or the module refuses */
	if (impl->params.stage_mode != IEM_STAGE_OFF && !impl->stage_loaded) {
		res = -EINVAL;
		if (iem_chain_load_stage(impl->chain, &impl->params, NULL, err, sizeof(err)) < 0) {
			pw_log_error("module args refused: stage.brir: %s", err);
			goto error;
		}
		impl->stage_loaded = true;
	}

	/* armed while the capture stream is streaming (capture_state_changed) */
	impl->timer = pw_loop_add_timer(pw_context_get_main_loop(context), on_timer, impl);
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
	const struct spa_pod *fmt[1] = { build_format(impl, &b, SPA_PARAM_EnumFormat) };

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
	publish_params(impl);


	pw_impl_module_add_listener(module, &impl->module_listener, &module_events, impl);
	pw_impl_module_update_properties(module, &SPA_DICT_INIT_ARRAY(module_props));
	pw_properties_free(props);
	return 0;

error:
	pw_properties_free(props);
	impl_destroy(impl);
	return res;
}
