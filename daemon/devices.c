/* SPDX-License-Identifier: MIT */
/*
 * iemstaged's PipeWire side: the connection (reconnecting with backoff),
 * the registry monitor (sinks, their devices, the "default" metadata), and
 * applying a profile: one module instance per matched sink, hosted in this
 * process's context, made the default sink while its IEM is there.
 *
 * Routing. New streams go where WirePlumber's default sink is; WirePlumber
 * follows the metadata key default.configured.audio.sink when that sink
 * exists. When a profile applies, the daemon notes the key's value (the
 * user's choice, or none) and points it at the virtual sink, as soon as
 * the virtual sink exists: streams that start from then on play through
 * the chain from their first sample. When the IEM goes, the module goes and
 * the key gets back what the daemon found (or is removed if it was unset).
 * If the user picks another default meanwhile, that choice stands and is
 * what stays after the IEM leaves. Streams already playing are not moved.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <spa/pod/builder.h>
#include <spa/pod/parser.h>
#include <spa/param/props.h>
#include <spa/param/route.h>
#include <spa/utils/json.h>
#include <spa/utils/result.h>
#include <spa/utils/string.h>

#include <pipewire/impl.h>

#include "iemstaged.h"

#define RECONNECT_MIN_MS	100
#define RECONNECT_MAX_MS	2000
#define SINK_PREFIX		"iemstage."

uint64_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}


/* ---- device identity ---------------------------------------------------- */

static struct pw_dev *pw_dev_find(struct daemon *d, uint32_t id)
{
	struct pw_dev *pd;
	spa_list_for_each(pd, &d->pw_devs, link)
		if (pd->id == id)
			return pd;
	return NULL;
}

/* A property of the sink for matching: the node's own, else its device's. */
const char *device_prop(struct device *dev, const char *key)
{
	const char *v = pw_properties_get(dev->props, key);
	struct pw_dev *pd;

	if (v != NULL)
		return v;
	if (dev->device_global != SPA_ID_INVALID &&
	    (pd = pw_dev_find(dev->daemon, dev->device_global)) != NULL)
		return pw_properties_get(pd->props, key);
	return NULL;
}

/* The stable id of a physical output: "bluetooth:<address>" for Bluetooth
 * (the node is re-made, with another name, when the headset switches
 * between A2DP and HFP), else the node's name, which ALSA derives from the
 * card's bus path, vendor, product and serial and keeps across replugs
 * (alsa_output.usb-<vendor>_<product>_<serial>-00.analog-stereo). */
static void device_make_id(struct device *dev)
{
	const char *addr = device_prop(dev, "api.bluez5.address");
	const char *name = pw_properties_get(dev->props, PW_KEY_NODE_NAME);

	if (addr != NULL)
		snprintf(dev->id, sizeof(dev->id), "bluetooth:%s", addr);
	else
		snprintf(dev->id, sizeof(dev->id), "%s", name ? name : "unnamed");
}

static const char *get_prop(void *data, const char *key)
{
	return device_prop(data, key);
}

struct device *device_find(struct daemon *d, const char *id)
{
	struct device *dev;
	spa_list_for_each(dev, &d->devices, link)
		if (dev->announced && strcmp(dev->id, id) == 0)
			return dev;
	return NULL;
}

/* ---- module arguments --------------------------------------------------- */

static void put_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* Every parameter that differs from its default, as SPA-JSON pairs. */
static void put_params(FILE *f, const struct iem_params *p)
{
	struct iem_params def;
	struct iem_param_info info;
	uint32_t n = iem_param_count();

	iem_params_init(&def);
	for (uint32_t i = 0; i < n; i++) {
		char a[IEM_PATH_MAX], b[IEM_PATH_MAX];
		if (iem_param_info(i, &info) < 0)
			continue;
		iem_params_get(p, info.name, a, sizeof(a));
		iem_params_get(&def, info.name, b, sizeof(b));
		if (strcmp(a, b) == 0)
			continue;
		fprintf(f, " %s = ", info.name);
		put_json_string(f, a);
	}
}

static char *module_args(struct device *dev, const struct iem_params *p)
{
	const char *target = pw_properties_get(dev->props, PW_KEY_NODE_NAME);
	const char *desc = pw_properties_get(dev->props, PW_KEY_NODE_DESCRIPTION);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	fputs("{ target.object = ", f);
	put_json_string(f, target ? target : "");
	fputs(" iemstage.target.description = ", f);
	put_json_string(f, desc ? desc : target ? target : "");
	fputs(" node.name = ", f);
	put_json_string(f, dev->sink_name);
	fputs(" params = {", f);
	put_params(f, p);
	fputs(" } }", f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- the default sink --------------------------------------------------- */

static void set_default_sink(struct daemon *d, const char *name)
{
	char value[512];

	if (d->metadata == NULL)
		return;
	if (name != NULL) {
		snprintf(value, sizeof(value), "{ \"name\": \"%s\" }", name);
		snprintf(d->our_default, sizeof(d->our_default), "%s", name);
		pw_metadata_set_property(d->metadata, 0, "default.configured.audio.sink",
				"Spa:String:JSON", value);
	} else {
		d->our_default[0] = '\0';
		if (d->have_configured_sink)
			pw_metadata_set_property(d->metadata, 0, "default.configured.audio.sink",
					"Spa:String:JSON", d->configured_sink);
		else
			pw_metadata_set_property(d->metadata, 0, "default.configured.audio.sink",
					NULL, NULL);
	}
}

static bool is_our_value(struct daemon *d, const char *value)
{
	char want[512];
	if (d->our_default[0] == '\0' || value == NULL)
		return false;
	snprintf(want, sizeof(want), "{ \"name\": \"%s\" }", d->our_default);
	return strcmp(value, want) == 0;
}

static int metadata_property(void *data, uint32_t subject, const char *key,
		const char *type, const char *value)
{
	struct daemon *d = data;

	if (subject != 0 || key == NULL || strcmp(key, "default.configured.audio.sink") != 0)
		return 0;
	if (is_our_value(d, value))
		return 0;
	/* The user's choice (or what was there before us). */
	d->have_configured_sink = value != NULL;
	snprintf(d->configured_sink, sizeof(d->configured_sink), "%s", value ? value : "");
	if (d->our_default[0] != '\0') {
		/* someone picked another default while an IEM was there: it stands */
		d->our_default[0] = '\0';
	}
	return 0;
}

static const struct pw_metadata_events metadata_events = {
	PW_VERSION_METADATA_EVENTS,
	.property = metadata_property,
};

static void metadata_proxy_removed(void *data)
{
	struct daemon *d = data;
	pw_proxy_destroy(d->metadata_proxy);
}

static void metadata_proxy_destroy(void *data)
{
	struct daemon *d = data;
	spa_hook_remove(&d->metadata_listener);
	spa_hook_remove(&d->metadata_proxy_listener);
	d->metadata = NULL;
	d->metadata_proxy = NULL;
}

static const struct pw_proxy_events metadata_proxy_events = {
	PW_VERSION_PROXY_EVENTS,
	.removed = metadata_proxy_removed,
	.destroy = metadata_proxy_destroy,
};

/* ---- applying ----------------------------------------------------------- */

static bool params_equal(const struct iem_params *a, const struct iem_params *b)
{
	struct iem_param_info info;
	uint32_t n = iem_param_count();

	for (uint32_t i = 0; i < n; i++) {
		char x[IEM_PATH_MAX], y[IEM_PATH_MAX];
		if (iem_param_info(i, &info) < 0)
			continue;
		iem_params_get(a, info.name, x, sizeof(x));
		iem_params_get(b, info.name, y, sizeof(y));
		if (strcmp(x, y) != 0)
			return false;
	}
	return true;
}

static void module_destroyed(void *data)
{
	struct device *dev = data;
	spa_hook_remove(&dev->module_listener);
	dev->module = NULL;
}

static const struct pw_impl_module_events module_events = {
	PW_VERSION_IMPL_MODULE_EVENTS,
	.destroy = module_destroyed,
};

static void forget_sink(const char *name);

void device_unapply(struct device *dev)
{
	struct daemon *d = dev->daemon;

	if (dev->module != NULL) {
		struct pw_impl_module *m = dev->module;
		spa_hook_remove(&dev->module_listener);
		dev->module = NULL;
		pw_impl_module_destroy(m);
		/* a new instance may come before the registry says this one's
		 * sink is gone: do not talk to the old one */
		forget_sink(dev->sink_name);
	}
	if (d->our_default[0] != '\0' && strcmp(d->our_default, dev->sink_name) == 0)
		set_default_sink(d, NULL);
	dev->profile[0] = '\0';
	iem_params_init(&dev->params);
}

/* Live parameter changes go to the virtual sink as a Props param. */
static struct pw_proxy *find_sink_proxy(struct device *dev);

int device_set_params(struct device *dev, const struct iem_params *next, char *err, size_t size)
{
	struct pw_proxy *sink = find_sink_proxy(dev);
	struct iem_param_info info;
	uint8_t buffer[65536];
	struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buffer, sizeof(buffer));
	struct spa_pod_frame f[2];
	uint32_t n = iem_param_count(), changed = 0;
	struct spa_pod *pod;

	if (dev->module == NULL || sink == NULL) {
		snprintf(err, size, "%s has no profile applied", dev->id);
		return -ENOENT;
	}
	spa_pod_builder_push_object(&b, &f[0], SPA_TYPE_OBJECT_Props, SPA_PARAM_Props);
	spa_pod_builder_prop(&b, SPA_PROP_params, 0);
	spa_pod_builder_push_struct(&b, &f[1]);
	for (uint32_t i = 0; i < n; i++) {
		char a[IEM_PATH_MAX], old[IEM_PATH_MAX];
		if (iem_param_info(i, &info) < 0)
			continue;
		iem_params_get(next, info.name, a, sizeof(a));
		iem_params_get(&dev->params, info.name, old, sizeof(old));
		if (strcmp(a, old) == 0)
			continue;
		spa_pod_builder_string(&b, info.name);
		spa_pod_builder_string(&b, a);
		changed++;
	}
	spa_pod_builder_pop(&b, &f[1]);
	pod = spa_pod_builder_pop(&b, &f[0]);
	if (pod == NULL) {
		snprintf(err, size, "too many parameters at once");
		return -ENOSPC;
	}
	if (changed > 0)
		pw_node_set_param((struct pw_node *)sink, SPA_PARAM_Props, 0, pod);
	dev->params = *next;
	return (int)changed;
}

int device_apply(struct device *dev, const struct iem_profile *p, char *err, size_t size)
{
	struct daemon *d = dev->daemon;
	struct iem_profile_error e;
	struct iem_params params;
	char *args;
	int r;

	/* A listening preset applied to a device keeps the device's own
	 * correction: its device profile with this preset instead. */
	const struct iem_profile *own = p->kind == IEM_PROFILE_LISTENING ?
		iem_profile_store_find_device(d->store, get_prop, dev) : NULL;
	if ((r = iem_profile_store_resolve_with(d->store, own ? own : p,
				own ? p->id : NULL, &params, &e)) < 0) {
		iem_profile_error_format(&e, err, size);
		return r;
	}
	/* Already there: change what differs, live. */
	if (dev->module != NULL && find_sink_proxy(dev) != NULL) {
		r = device_set_params(dev, &params, err, size);
		if (r < 0)
			return r;
		snprintf(dev->profile, sizeof(dev->profile), "%s", p->id);
		dev->applied = params;
		bus_emit_profile_applied(d, dev);
		return 0;
	}
	device_unapply(dev);
	snprintf(dev->sink_name, sizeof(dev->sink_name), SINK_PREFIX "%s",
			pw_properties_get(dev->props, PW_KEY_NODE_NAME));
	args = module_args(dev, &params);
	if (args == NULL) {
		snprintf(err, size, "out of memory");
		return -ENOMEM;
	}
	dev->module = pw_context_load_module(d->context, MODULE_NAME, args, NULL);
	r = -errno;
	free(args);
	if (dev->module == NULL) {
		snprintf(err, size, "cannot load %s for %s: %s", MODULE_NAME, dev->id, strerror(-r));
		return r;
	}
	pw_impl_module_add_listener(dev->module, &dev->module_listener, &module_events, dev);
	dev->params = params;
	dev->applied = params;
	snprintf(dev->profile, sizeof(dev->profile), "%s", p->id);
	/* ProfileApplied and the default sink follow when the virtual sink
	 * shows up in the registry (sink_appeared). */
	return 0;
}

/* The profile a device should have now, and applying it when it differs. */
void device_evaluate(struct device *dev, bool force)
{
	struct daemon *d = dev->daemon;
	const struct iem_profile *p = NULL;
	char err[1024];

	if (!dev->have_info)
		return;
	if (dev->pinned && d->enabled)
		return;
	dev->pinned = false;
	if (d->enabled) {
		p = iem_profile_store_find_device(d->store, get_prop, dev);
		if (p == NULL) {
			const struct iem_profile *def = iem_profile_store_get(d->store, "defaults");
			if (def != NULL && def->kind == IEM_PROFILE_DEFAULTS && def->process)
				p = def;
		}
	}
	if (p == NULL) {
		if (dev->profile[0]) {
			/* still there, no longer matched (a jack's route went
			 * away, a profile was removed): untouched audio, said
			 * as ProfileApplied(device, "") */
			device_unapply(dev);
			if (dev->announced)
				bus_emit_profile_applied(d, dev);
		}
		return;
	}
	if (strcmp(dev->profile, p->id) == 0 && dev->module != NULL) {
		struct iem_profile_error e;
		struct iem_params now;
		/* The same profile: only a change in what it says (a reload)
		 * applies; live changes made since stay otherwise. */
		if (!force || (iem_profile_store_resolve(d->store, p, &now, &e) == 0 &&
					params_equal(&now, &dev->applied)))
			return;
	}
	if (device_apply(dev, p, err, sizeof(err)) < 0)
		log_msg("%s: %s", dev->id, err);
}

/* ---- sinks -------------------------------------------------------------- */

struct our_sink {
	struct spa_list link;
	uint32_t id;
	char name[256];
	struct pw_proxy *proxy;
	struct spa_hook proxy_listener;
};

static struct spa_list our_sinks = SPA_LIST_INIT(&our_sinks);

static struct pw_proxy *find_sink_proxy(struct device *dev)
{
	struct our_sink *s;
	spa_list_for_each(s, &our_sinks, link)
		if (strcmp(s->name, dev->sink_name) == 0)
			return s->proxy;
	return NULL;
}

static void forget_sink(const char *name)
{
	struct our_sink *s, *t;
	spa_list_for_each_safe(s, t, &our_sinks, link)
		if (strcmp(s->name, name) == 0)
			pw_proxy_destroy(s->proxy);
}

static void our_sink_removed(void *data)
{
	struct our_sink *s = data;
	pw_proxy_destroy(s->proxy);
}

static void our_sink_destroy(void *data)
{
	struct our_sink *s = data;
	spa_hook_remove(&s->proxy_listener);
	spa_list_remove(&s->link);
	free(s);
}

static const struct pw_proxy_events our_sink_proxy_events = {
	PW_VERSION_PROXY_EVENTS,
	.removed = our_sink_removed,
	.destroy = our_sink_destroy,
};

static void sink_appeared(struct daemon *d, uint32_t id, const char *name)
{
	struct device *dev;
	struct our_sink *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return;
	s->id = id;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->proxy = pw_registry_bind(d->registry, id, PW_TYPE_INTERFACE_Node, PW_VERSION_NODE, 0);
	if (s->proxy == NULL) {
		free(s);
		return;
	}
	spa_list_append(&our_sinks, &s->link);
	pw_proxy_add_listener(s->proxy, &s->proxy_listener, &our_sink_proxy_events, s);

	spa_list_for_each(dev, &d->devices, link) {
		if (dev->module == NULL || strcmp(dev->sink_name, name) != 0)
			continue;
		set_default_sink(d, name);
		bus_emit_profile_applied(d, dev);
	}
}

static void device_free(struct device *dev)
{
	device_unapply(dev);
	if (dev->proxy != NULL) {
		spa_hook_remove(&dev->node_listener);
		spa_hook_remove(&dev->proxy_listener);
		pw_proxy_destroy(dev->proxy);
	}
	pw_properties_free(dev->props);
	spa_list_remove(&dev->link);
	free(dev);
}

static bool update_route_props(struct device *dev);

static void node_info(void *data, const struct pw_node_info *info)
{
	struct device *dev = data;
	const char *s;

	if (info->props == NULL || !(info->change_mask & PW_NODE_CHANGE_MASK_PROPS))
		return;
	pw_properties_update(dev->props, info->props);
	if ((s = pw_properties_get(dev->props, PW_KEY_DEVICE_ID)) != NULL)
		dev->device_global = (uint32_t)strtoul(s, NULL, 10);
	if (dev->have_info)
		return;
	dev->have_info = true;
	device_make_id(dev);
	/* Another node with the same id (a Bluetooth profile switch makes the
	 * new node before the old one is gone): the newest wins. */
	struct device *other;
	spa_list_for_each(other, &dev->daemon->devices, link) {
		if (other != dev && other->announced && strcmp(other->id, dev->id) == 0) {
			bus_emit_device_removed(dev->daemon, other);
			device_free(other);
			break;
		}
	}
	update_route_props(dev);
	device_evaluate(dev, false);
	dev->announced = true;
	bus_emit_device_added(dev->daemon, dev);
}

static const struct pw_node_events node_events = {
	PW_VERSION_NODE_EVENTS,
	.info = node_info,
};

static void device_proxy_removed(void *data)
{
	struct device *dev = data;
	struct daemon *d = dev->daemon;
	bool was_active = dev->module != NULL;

	if (dev->announced)
		bus_emit_device_removed(d, dev);
	device_free(dev);
	if (was_active)
		bus_emit_active_changed(d);
}

static const struct pw_proxy_events device_proxy_events = {
	PW_VERSION_PROXY_EVENTS,
	.removed = device_proxy_removed,
};

static void device_new(struct daemon *d, uint32_t id, const struct spa_dict *props)
{
	struct device *dev = calloc(1, sizeof(*dev));

	if (dev == NULL)
		return;
	dev->daemon = d;
	dev->node_id = id;
	dev->device_global = SPA_ID_INVALID;
	dev->props = pw_properties_new_dict(props);
	dev->appeared_usec = now_usec();
	iem_params_init(&dev->params);
	dev->proxy = pw_registry_bind(d->registry, id, PW_TYPE_INTERFACE_Node, PW_VERSION_NODE, 0);
	if (dev->props == NULL || dev->proxy == NULL) {
		pw_properties_free(dev->props);
		if (dev->proxy)
			pw_proxy_destroy(dev->proxy);
		free(dev);
		return;
	}
	spa_list_append(&d->devices, &dev->link);
	pw_proxy_add_listener(dev->proxy, &dev->proxy_listener, &device_proxy_events, dev);
	pw_proxy_add_object_listener(dev->proxy, &dev->node_listener, &node_events, dev);
}

/* ---- PipeWire devices and their routes ----------------------------------- */

/* A built-in card's headphone jack changes the card's active output Route,
 * not its node. The node gets the route as properties the profiles can
 * match: iemstage.route (the active output route's name while it is not
 * known to be unavailable) and iemstage.route.available (yes, no,
 * unknown). Returns true when they changed. */
static bool update_route_props(struct device *dev)
{
	struct pw_dev *pd = dev->device_global != SPA_ID_INVALID ?
		pw_dev_find(dev->daemon, dev->device_global) : NULL;
	const char *s = pw_properties_get(dev->props, "card.profile.device");
	const char *old_route = pw_properties_get(dev->props, "iemstage.route");
	char before[80];
	const struct pw_route *r = NULL;
	int32_t index = s ? (int32_t)strtol(s, NULL, 10) : 0;
	const char *avail;

	snprintf(before, sizeof(before), "%s", old_route ? old_route : "");
	if (pd == NULL)
		return false;
	for (uint32_t i = 0; i < pd->n_routes; i++)
		if (pd->routes[i].device == index)
			r = &pd->routes[i];
	if (r == NULL)
		return false;
	avail = r->available == SPA_PARAM_AVAILABILITY_yes ? "yes" :
		r->available == SPA_PARAM_AVAILABILITY_no ? "no" : "unknown";
	pw_properties_set(dev->props, "iemstage.route.available", avail);
	pw_properties_set(dev->props, "iemstage.route",
			r->available == SPA_PARAM_AVAILABILITY_no ? NULL : r->name);
	s = pw_properties_get(dev->props, "iemstage.route");
	return strcmp(before, s ? s : "") != 0;
}

static void pw_dev_routes_changed(struct daemon *d, struct pw_dev *pd)
{
	struct device *dev;
	spa_list_for_each(dev, &d->devices, link) {
		if (dev->device_global != pd->id || !dev->have_info)
			continue;
		if (update_route_props(dev))
			device_evaluate(dev, false);
	}
}

static void pw_dev_info(void *data, const struct pw_device_info *info)
{
	struct pw_dev *pd = data;

	if (info->props != NULL && (info->change_mask & PW_DEVICE_CHANGE_MASK_PROPS)) {
		pw_properties_update(pd->props, info->props);
		pd->have_info = true;
	}
	/* The Route param's flags change (its serial bit flips) whenever the
	 * active routes do: read them again then. (A subscription would be
	 * neater, but in 0.3.65 it misses changes of client-exported
	 * devices.) */
	if (!(info->change_mask & PW_DEVICE_CHANGE_MASK_PARAMS))
		return;
	for (uint32_t i = 0; i < info->n_params; i++) {
		if (info->params[i].id != SPA_PARAM_Route ||
		    !(info->params[i].flags & SPA_PARAM_INFO_READ))
			continue;
		if (pd->route_seen && pd->route_flags == info->params[i].flags)
			continue;
		pd->route_seen = true;
		pd->route_flags = info->params[i].flags;
		pw_device_enum_params((struct pw_device *)pd->proxy, 0, SPA_PARAM_Route, 0,
				UINT32_MAX, NULL);
	}
}

static void pw_dev_param(void *data, int seq, uint32_t id, uint32_t index, uint32_t next,
		const struct spa_pod *param)
{
	struct pw_dev *pd = data;
	uint32_t direction = 0, available = SPA_PARAM_AVAILABILITY_unknown;
	int32_t device = 0;
	const char *name = NULL;
	struct pw_route *r = NULL;
	(void)seq;
	(void)index;
	(void)next;

	if (id != SPA_PARAM_Route || param == NULL ||
	    spa_pod_parse_object(param, SPA_TYPE_OBJECT_ParamRoute, NULL,
		    SPA_PARAM_ROUTE_direction, SPA_POD_Id(&direction),
		    SPA_PARAM_ROUTE_device, SPA_POD_Int(&device),
		    SPA_PARAM_ROUTE_name, SPA_POD_String(&name),
		    SPA_PARAM_ROUTE_available, SPA_POD_OPT_Id(&available)) < 0)
		return;
	if (direction != SPA_DIRECTION_OUTPUT)
		return;
	for (uint32_t i = 0; i < pd->n_routes; i++)
		if (pd->routes[i].device == device)
			r = &pd->routes[i];
	if (r == NULL) {
		if (pd->n_routes >= PW_DEV_ROUTES)
			return;
		r = &pd->routes[pd->n_routes++];
	}
	r->device = device;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->available = available;
	pw_dev_routes_changed(pd->daemon, pd);
}

static const struct pw_device_events pw_dev_events = {
	PW_VERSION_DEVICE_EVENTS,
	.info = pw_dev_info,
	.param = pw_dev_param,
};

static void pw_dev_removed(void *data)
{
	struct pw_dev *pd = data;
	pw_proxy_destroy(pd->proxy);
}

static void pw_dev_destroy(void *data)
{
	struct pw_dev *pd = data;
	spa_hook_remove(&pd->device_listener);
	spa_hook_remove(&pd->proxy_listener);
	spa_list_remove(&pd->link);
	pw_properties_free(pd->props);
	free(pd);
}

static const struct pw_proxy_events pw_dev_proxy_events = {
	PW_VERSION_PROXY_EVENTS,
	.removed = pw_dev_removed,
	.destroy = pw_dev_destroy,
};

static void pw_dev_new(struct daemon *d, uint32_t id, const struct spa_dict *props)
{
	struct pw_dev *pd = calloc(1, sizeof(*pd));
	if (pd == NULL)
		return;
	pd->id = id;
	pd->props = pw_properties_new_dict(props);
	pd->proxy = pw_registry_bind(d->registry, id, PW_TYPE_INTERFACE_Device, PW_VERSION_DEVICE, 0);
	if (pd->props == NULL || pd->proxy == NULL) {
		pw_properties_free(pd->props);
		if (pd->proxy)
			pw_proxy_destroy(pd->proxy);
		free(pd);
		return;
	}
	pd->daemon = d;
	spa_list_append(&d->pw_devs, &pd->link);
	pw_proxy_add_listener(pd->proxy, &pd->proxy_listener, &pw_dev_proxy_events, pd);
	pw_proxy_add_object_listener(pd->proxy, &pd->device_listener, &pw_dev_events, pd);
}

/* ---- the registry -------------------------------------------------------- */

static void registry_global(void *data, uint32_t id, uint32_t permissions, const char *type,
		uint32_t version, const struct spa_dict *props)
{
	struct daemon *d = data;
	const char *cls, *name;

	if (props == NULL)
		return;
	if (spa_streq(type, PW_TYPE_INTERFACE_Node)) {
		cls = spa_dict_lookup(props, PW_KEY_MEDIA_CLASS);
		name = spa_dict_lookup(props, PW_KEY_NODE_NAME);
		if (!spa_streq(cls, "Audio/Sink") || name == NULL)
			return;
		if (spa_strstartswith(name, SINK_PREFIX)) {
			sink_appeared(d, id, name);
			return;
		}
		device_new(d, id, props);
	} else if (spa_streq(type, PW_TYPE_INTERFACE_Device)) {
		pw_dev_new(d, id, props);
	} else if (spa_streq(type, PW_TYPE_INTERFACE_Metadata)) {
		name = spa_dict_lookup(props, PW_KEY_METADATA_NAME);
		if (!spa_streq(name, "default") || d->metadata != NULL)
			return;
		d->metadata_proxy = pw_registry_bind(d->registry, id, PW_TYPE_INTERFACE_Metadata,
				PW_VERSION_METADATA, 0);
		if (d->metadata_proxy == NULL)
			return;
		d->metadata = (struct pw_metadata *)d->metadata_proxy;
		d->metadata_id = id;
		pw_proxy_add_listener(d->metadata_proxy, &d->metadata_proxy_listener,
				&metadata_proxy_events, d);
		pw_metadata_add_listener(d->metadata, &d->metadata_listener, &metadata_events, d);
	}
}

static const struct pw_registry_events registry_events = {
	PW_VERSION_REGISTRY_EVENTS,
	.global = registry_global,
};

/* ---- the connection ------------------------------------------------------ */

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;
	(void)s;
	(void)usec;
	if (pw_connect(d) < 0) {
		unsigned ms = RECONNECT_MIN_MS << (d->reconnect_attempt < 5 ? d->reconnect_attempt : 5);
		if (ms > RECONNECT_MAX_MS)
			ms = RECONNECT_MAX_MS;
		d->reconnect_attempt++;
		sd_event_source_set_time_relative(d->reconnect_timer, (uint64_t)ms * 1000u);
		sd_event_source_set_enabled(d->reconnect_timer, SD_EVENT_ONESHOT);
	}
	return 0;
}

void pw_schedule_reconnect(struct daemon *d)
{
	if (d->reconnect_timer == NULL &&
	    sd_event_add_time_relative(d->event, &d->reconnect_timer, CLOCK_MONOTONIC,
		    RECONNECT_MIN_MS * 1000u, 0, on_reconnect, d) < 0)
		return;
	sd_event_source_set_time_relative(d->reconnect_timer, RECONNECT_MIN_MS * 1000u);
	sd_event_source_set_enabled(d->reconnect_timer, SD_EVENT_ONESHOT);
}

static int on_disconnected(sd_event_source *s, void *userdata)
{
	struct daemon *d = userdata;
	sd_event_source_unref(s);
	log_msg("lost the connection to PipeWire: reconnecting");
	pw_disconnect(d);
	d->reconnect_attempt = 0;
	pw_schedule_reconnect(d);
	return 0;
}

static void core_error(void *data, uint32_t id, int seq, int res, const char *message)
{
	struct daemon *d = data;
	(void)seq;
	if (id == PW_ID_CORE && res == -EPIPE) {
		/* not from inside PipeWire's own dispatch: next turn of the loop */
		sd_event_source *s;
		sd_event_add_defer(d->event, &s, on_disconnected, d);
	} else if (id == PW_ID_CORE && res != -ENOENT) {
		/* -ENOENT: a proxy of ours outlived its object by a moment
		 * (a virtual sink going away); nothing to say */
		log_msg("PipeWire: %s (%s)", message, spa_strerror(res));
	}
}

static const struct pw_core_events core_events = {
	PW_VERSION_CORE_EVENTS,
	.error = core_error,
};

int pw_connect(struct daemon *d)
{
	d->core = pw_context_connect(d->context, NULL, 0);
	if (d->core == NULL)
		return -errno;
	pw_core_add_listener(d->core, &d->core_listener, &core_events, d);
	d->registry = pw_core_get_registry(d->core, PW_VERSION_REGISTRY, 0);
	if (d->registry == NULL) {
		pw_disconnect(d);
		return -ENOMEM;
	}
	pw_registry_add_listener(d->registry, &d->registry_listener, &registry_events, d);
	log_msg("connected to PipeWire");
	return 0;
}

void pw_disconnect(struct daemon *d)
{
	struct device *dev, *tdev;
	struct pw_dev *pd, *tpd;
	struct our_sink *s, *ts;

	spa_list_for_each_safe(dev, tdev, &d->devices, link) {
		if (dev->announced)
			bus_emit_device_removed(d, dev);
		/* the virtual sink died with the server: forget, do not restore */
		d->our_default[0] = '\0';
		device_free(dev);
	}
	spa_list_for_each_safe(s, ts, &our_sinks, link)
		pw_proxy_destroy(s->proxy);
	spa_list_for_each_safe(pd, tpd, &d->pw_devs, link)
		pw_proxy_destroy(pd->proxy);
	if (d->metadata_proxy != NULL)
		pw_proxy_destroy(d->metadata_proxy);
	if (d->registry != NULL) {
		spa_hook_remove(&d->registry_listener);
		pw_proxy_destroy((struct pw_proxy *)d->registry);
		d->registry = NULL;
	}
	if (d->core != NULL) {
		spa_hook_remove(&d->core_listener);
		pw_core_disconnect(d->core);
		d->core = NULL;
	}
}
