/* SPDX-License-Identifier: MIT */
/*
 * iemstaged: applies iemstage profiles to the sinks they match and offers
 * it all on D-Bus (org.iemstage1, config/dbus/org.iemstage1.Manager.xml).
 *
 * One sd-event loop runs everything: the bus, inotify on the profile
 * directories, and PipeWire's main loop (its fd is polled here and
 * iterated without blocking). The DSP runs in the module instances this
 * process hosts, on PipeWire's data thread.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include <pipewire/impl.h>

#include "config.h"
#include "iemstaged.h"

#define RELOAD_DEBOUNCE_USEC	200000u
#define STRING_ARG_MAX		256

void log_msg(const char *fmt, ...)
{
	va_list ap;
	fputs("iemstaged: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- signals ------------------------------------------------------------- */

static void emit_object(struct daemon *d, struct device *dev, bool added)
{
	char *path = NULL;
	if (sd_bus_path_encode(BUS_DEVICE_PREFIX, dev->id, &path) < 0)
		return;
	if (added)
		sd_bus_emit_object_added(d->bus, path);
	else
		sd_bus_emit_object_removed(d->bus, path);
	free(path);
}

void bus_emit_device_added(struct daemon *d, struct device *dev)
{
	if (d->bus == NULL)
		return;
	emit_object(d, dev, true);
	sd_bus_emit_signal(d->bus, BUS_PATH, BUS_MANAGER, "DeviceAdded", "s", dev->id);
}

void bus_emit_device_removed(struct daemon *d, struct device *dev)
{
	if (d->bus == NULL)
		return;
	emit_object(d, dev, false);
	sd_bus_emit_signal(d->bus, BUS_PATH, BUS_MANAGER, "DeviceRemoved", "s", dev->id);
}

void bus_emit_active_changed(struct daemon *d)
{
	if (d->bus)
		sd_bus_emit_properties_changed(d->bus, BUS_PATH, BUS_MANAGER,
				"ActiveDevice", "ActiveProfile", NULL);
}

void bus_emit_profile_applied(struct daemon *d, struct device *dev)
{
	if (d->bus == NULL)
		return;
	sd_bus_emit_signal(d->bus, BUS_PATH, BUS_MANAGER, "ProfileApplied", "ss",
			dev->id, dev->profile);
	sd_bus_emit_properties_changed(d->bus, BUS_PATH, BUS_MANAGER,
			"ActiveDevice", "ActiveProfile", NULL);
	{
		char *path = NULL;
		if (sd_bus_path_encode(BUS_DEVICE_PREFIX, dev->id, &path) >= 0) {
			sd_bus_emit_properties_changed(d->bus, path, BUS_DEVICE, "Profile", "Sink", NULL);
			free(path);
		}
	}
	if (dev->profile[0] == '\0')
		log_msg("%s: no profile any more, audio untouched", dev->id);
	else if (dev->appeared_usec != 0)
		log_msg("%s: profile %s applied %.1f ms after the sink appeared", dev->id,
				dev->profile, (double)(now_usec() - dev->appeared_usec) / 1000.0);
	else
		log_msg("%s: profile %s applied", dev->id, dev->profile);
	/* the latency is that of the first application only */
	dev->appeared_usec = 0;
}

static void emit_profile_error(void *data, const struct iem_profile_error *e)
{
	struct daemon *d = data;
	char msg[1024];

	if (e->pointer[0])
		snprintf(msg, sizeof(msg), "%s: %s", e->pointer, e->message);
	else
		snprintf(msg, sizeof(msg), "%s", e->message);
	log_msg("%s:%u:%u: %s, keeping the previous version", e->file, e->line, e->column, msg);
	if (d->bus)
		sd_bus_emit_signal(d->bus, BUS_PATH, BUS_MANAGER, "ProfileError", "suus",
				e->file, e->line, e->column, msg);
}

/* ---- profiles ------------------------------------------------------------ */

static void reload_profiles(struct daemon *d)
{
	struct device *dev;
	int r = iem_profile_store_reload(d->store, emit_profile_error, d);

	if (r < 0) {
		log_msg("reading profiles failed: %s", strerror(-r));
		return;
	}
	/* Re-evaluate: a changed profile applies its changes live. */
	spa_list_for_each(dev, &d->devices, link)
		device_evaluate(dev, true);
}

static int on_reload_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void)s;
	(void)usec;
	reload_profiles(userdata);
	return 0;
}

/* Editors save in bursts (write, rename, chmod): one reload after the
 * burst settles. */
static int on_inotify(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct daemon *d = userdata;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	(void)s;
	(void)revents;

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	if (d->reload_timer == NULL) {
		if (sd_event_add_time_relative(d->event, &d->reload_timer, CLOCK_MONOTONIC,
				RELOAD_DEBOUNCE_USEC, 0, on_reload_timer, d) < 0)
			return 0;
	}
	sd_event_source_set_time_relative(d->reload_timer, RELOAD_DEBOUNCE_USEC);
	sd_event_source_set_enabled(d->reload_timer, SD_EVENT_ONESHOT);
	return 0;
}

static void watch_profiles(struct daemon *d)
{
	d->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d->inotify_fd < 0)
		return;
	for (char **dir = d->profile_dirs; *dir; dir++) {
		if (inotify_add_watch(d->inotify_fd, *dir, IN_CLOSE_WRITE | IN_MOVED_TO |
					IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_ATTRIB) < 0 &&
		    errno != ENOENT)
			log_msg("cannot watch %s: %m, ignoring", *dir);
	}
	sd_event_add_io(d->event, &d->inotify_source, d->inotify_fd, EPOLLIN, on_inotify, d);
}

/* ---- argument checks ------------------------------------------------------ */

static int check_string(sd_bus_error *error, const char *field, const char *s)
{
	if (strlen(s) > STRING_ARG_MAX)
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
				"%s: longer than %d bytes", field, STRING_ARG_MAX);
	return 0;
}

static int get_device(struct daemon *d, const char *id, struct device **out, sd_bus_error *error)
{
	int r = check_string(error, "device", id);
	if (r < 0)
		return r;
	*out = device_find(d, id);
	if (*out == NULL)
		return sd_bus_error_setf(error, "org.iemstage1.Error.NoSuchDevice",
				"no device \"%s\" (ListDevices lists them)", id);
	return 0;
}

/* A D-Bus value as the text form of a parameter. */
static int variant_text(sd_bus_message *m, const struct iem_param_info *info, char *buf,
		size_t size, sd_bus_error *error)
{
	const char *contents;
	char type;
	int r;

	r = sd_bus_message_peek_type(m, &type, &contents);
	if (r < 0)
		return r;
	if (type != 'v' || contents == NULL || strlen(contents) != 1)
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "value: a variant of a basic type");
	r = sd_bus_message_enter_container(m, 'v', contents);
	if (r < 0)
		return r;
	switch (contents[0]) {
	case 'd': { double v; r = sd_bus_message_read_basic(m, 'd', &v); snprintf(buf, size, "%.17g", v); break; }
	case 'i': { int32_t v; r = sd_bus_message_read_basic(m, 'i', &v); snprintf(buf, size, "%d", v); break; }
	case 'u': { uint32_t v; r = sd_bus_message_read_basic(m, 'u', &v); snprintf(buf, size, "%u", v); break; }
	case 'x': { int64_t v; r = sd_bus_message_read_basic(m, 'x', &v); snprintf(buf, size, "%lld", (long long)v); break; }
	case 'b': { int v; r = sd_bus_message_read_basic(m, 'b', &v); snprintf(buf, size, "%s", v ? "true" : "false"); break; }
	case 's': {
		const char *v;
		r = sd_bus_message_read_basic(m, 's', &v);
		if (r >= 0 && strlen(v) >= size)
			return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "value: too long");
		if (r >= 0)
			snprintf(buf, size, "%s", v);
		break;
	}
	default:
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
				"value: type '%c' is not a number, boolean or string", contents[0]);
	}
	if (r < 0)
		return r;
	(void)info;
	return sd_bus_message_exit_container(m);
}

static int append_param(sd_bus_message *reply, const struct iem_params *p,
		const struct iem_param_info *info)
{
	char text[IEM_PATH_MAX];
	int r;

	iem_params_get(p, info->name, text, sizeof(text));
	r = sd_bus_message_open_container(reply, 'e', "sv");
	if (r < 0)
		return r;
	if (info->type == IEM_PARAM_FLOAT && strcmp(text, "auto") != 0)
		r = sd_bus_message_append(reply, "sv", info->name, "d", strtod(text, NULL));
	else if (info->type == IEM_PARAM_BOOL)
		r = sd_bus_message_append(reply, "sv", info->name, "b", strcmp(text, "true") == 0);
	else
		r = sd_bus_message_append(reply, "sv", info->name, "s", text);
	if (r < 0)
		return r;
	return sd_bus_message_close_container(reply);
}

/* ---- rate limit ------------------------------------------------------------ */

/* Mutating calls: a token bucket per sender (RATE_PER_SEC, burst
 * RATE_BURST), so a runaway script cannot keep the daemon rebuilding
 * stages. The table forgets the least recently seen sender. */
#define RATE_PER_SEC	20.0
#define RATE_BURST	40.0
#define RATE_SENDERS	64

struct rate {
	char sender[64];
	double tokens;
	uint64_t last;
};

static struct rate rates[RATE_SENDERS];

static int rate_check(sd_bus_message *m, sd_bus_error *error)
{
	const char *sender = sd_bus_message_get_sender(m);
	uint64_t now = now_usec();
	struct rate *r = NULL, *oldest = &rates[0];

	if (sender == NULL)
		return 0;
	for (int i = 0; i < RATE_SENDERS; i++) {
		if (strcmp(rates[i].sender, sender) == 0) {
			r = &rates[i];
			break;
		}
		if (rates[i].last < oldest->last)
			oldest = &rates[i];
	}
	if (r == NULL) {
		r = oldest;
		snprintf(r->sender, sizeof(r->sender), "%s", sender);
		r->tokens = RATE_BURST;
		r->last = now;
	}
	r->tokens += (double)(now - r->last) * RATE_PER_SEC / 1e6;
	if (r->tokens > RATE_BURST)
		r->tokens = RATE_BURST;
	r->last = now;
	if (r->tokens < 1.0)
		return sd_bus_error_setf(error, "org.iemstage1.Error.RateLimited",
				"more than %g changes a second from %s: slow down", RATE_PER_SEC, sender);
	r->tokens -= 1.0;
	return 0;
}

/* ---- writing profiles ------------------------------------------------------- */

/* Profiles the daemon writes go to the first directory of the search path
 * (the user's; in system mode the state directory), made when missing. */
static int make_dirs(char *out)
{
	int r = 0;

	for (char *p = out + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(out, 0755) < 0 && errno != EEXIST)
				r = -errno;
			*p = c;
			if (c == '\0' || r < 0)
				break;
		}
	}
	return r;
}

static int profile_dir(struct daemon *d, char *out, size_t size, sd_bus_error *error)
{
	int r;

	if (d->profile_dirs[0] == NULL)
		return sd_bus_error_setf(error, "org.iemstage1.Error.Failed", "no profile directory");
	if ((size_t)snprintf(out, size, "%s", d->profile_dirs[0]) >= size)
		return sd_bus_error_setf(error, "org.iemstage1.Error.Failed", "file name too long");
	r = make_dirs(out);
	if (r < 0)
		return sd_bus_error_setf(error, "org.iemstage1.Error.Failed", "cannot make %s: %s",
				out, strerror(-r));
	return 0;
}

/* Checks text through the loader, writes it atomically as <dir>/<id>.json
 * and re-reads the profiles; path gets the file's name. */
static int write_profile(struct daemon *d, const char *id, const char *text, char *path,
		size_t size, sd_bus_error *error)
{
	struct iem_profile_error e;
	struct iem_profile *p = NULL;
	char dir[IEM_PATH_MAX], msg[1024];
	int r;

	if ((r = profile_dir(d, dir, sizeof(dir), error)) < 0)
		return r;
	r = snprintf(path, size, "%s/%s.json", dir, id);
	if (r < 0 || (size_t)r >= size)
		return sd_bus_error_setf(error, "org.iemstage1.Error.Failed", "file name too long");
	if (iem_profile_parse(text, strlen(text), path, id, &p, &e) < 0) {
		iem_profile_error_format(&e, msg, sizeof(msg));
		return sd_bus_error_setf(error, "org.iemstage1.Error.Failed", "internal error: %s", msg);
	}
	iem_profile_free(p);
	if ((r = iem_file_write_atomic(path, text, strlen(text), 0644)) < 0)
		return sd_bus_error_setf(error, "org.iemstage1.Error.Failed", "%s: %s", path, strerror(-r));
	log_msg("wrote %s", path);
	reload_profiles(d);
	return 0;
}

/* params as the device profile `id` (called name; matching match, or
 * nothing), written by write_profile; the reply names the file. */
static int reply_device_profile(struct daemon *d, sd_bus_message *m, const char *id,
		const struct iem_params *params, const char *name, const char *const *match,
		sd_bus_error *error)
{
	char path[IEM_PATH_MAX + 80], *text;
	int r;

	text = iem_profile_format_device(params, name, NULL, match);
	if (text == NULL)
		return -ENOMEM;
	r = write_profile(d, id, text, path, sizeof(path), error);
	free(text);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(m, "s", path);
}

static int check_id(sd_bus_error *error, const char *field, const char *id)
{
	if (!iem_profile_id_valid(id))
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
				"%s: \"%.64s\" is not a profile id ([A-Za-z0-9._-], 1 … 64)", field, id);
	return 0;
}

static int check_file(sd_bus_error *error, const char *field, const char *path)
{
	int r = check_string(error, field, path);
	if (r < 0)
		return r;
	if (path[0] != '/')
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
				"%s: \"%s\" is not an absolute file name", field, path);
	return 0;
}

static int method_save_profile(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct daemon *d = userdata;
	struct device *dev;
	const char *device, *id, *v, *match[12];
	char esc[4][512];
	const char *desc;
	size_t n = 0;
	int r;

	r = sd_bus_message_read(m, "ss", &device, &id);
	if (r < 0)
		return r;
	if ((r = get_device(d, device, &dev, error)) < 0 || (r = check_id(error, "id", id)) < 0)
		return r;
	if ((r = rate_check(m, error)) < 0)
		return r;
	/* a match rule for this very device, literal values */
	if ((v = device_prop(dev, "api.bluez5.address")) != NULL) {
		iem_profile_glob_escape(v, esc[0], sizeof(esc[0]));
		match[n++] = "api.bluez5.address";
		match[n++] = esc[0];
	} else if ((v = device_prop(dev, "device.bus")) != NULL && strcmp(v, "usb") == 0 &&
			device_prop(dev, "device.vendor.id") != NULL &&
			device_prop(dev, "device.product.id") != NULL) {
		static const char *const keys[] = { "device.vendor.id", "device.product.id", "device.serial" };
		match[n++] = "device.bus";
		match[n++] = "usb";
		for (size_t i = 0; i < 3; i++) {
			if ((v = device_prop(dev, keys[i])) == NULL)
				continue;
			iem_profile_glob_escape(v, esc[i], sizeof(esc[i]));
			match[n++] = keys[i];
			match[n++] = esc[i];
		}
	} else {
		iem_profile_glob_escape(pw_properties_get(dev->props, PW_KEY_NODE_NAME), esc[0],
				sizeof(esc[0]));
		match[n++] = "node.name";
		match[n++] = esc[0];
	}
	match[n] = NULL;
	desc = pw_properties_get(dev->props, PW_KEY_NODE_DESCRIPTION);
	return reply_device_profile(d, m, id, &dev->params, desc ? desc : dev->id, match, error);
}

static int method_import_eq(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct daemon *d = userdata;
	struct iem_profile_error e;
	struct iem_profile *p = NULL;
	struct iem_params params;
	json_object *root = NULL, *eq = NULL;
	const char *file, *id, *base;
	char name[300];
	int r;

	r = sd_bus_message_read(m, "ss", &file, &id);
	if (r < 0)
		return r;
	if ((r = check_file(error, "path", file)) < 0 || (r = check_id(error, "id", id)) < 0)
		return r;
	if ((r = rate_check(m, error)) < 0)
		return r;
	/* through the profile loader: its import does the reading, checking
	 * and (for a GraphicEQ) fitting, and its errors name the file */
	base = strrchr(file, '/') + 1;
	snprintf(name, sizeof(name), "Imported from %.250s", base);
	root = json_object_new_object();
	eq = json_object_new_object();
	if (root == NULL || eq == NULL) {
		json_object_put(eq);
		json_object_put(root);
		return -ENOMEM;
	}
	json_object_object_add(root, "iemstage", json_object_new_int(1));
	json_object_object_add(root, "kind", json_object_new_string("device"));
	json_object_object_add(root, "eq", eq);
	json_object_object_add(eq, "import", json_object_new_string(file));
	r = iem_profile_parse(json_object_to_json_string(root),
			strlen(json_object_to_json_string(root)), NULL, id, &p, &e);
	json_object_put(root);
	if (r < 0)
		return sd_bus_error_setf(error, "org.iemstage1.Error.InvalidFile", "%s", e.message);
	iem_params_init(&params);
	r = iem_profile_apply(p, &params, &e);
	iem_profile_free(p);
	if (r < 0)
		return sd_bus_error_setf(error, "org.iemstage1.Error.InvalidFile", "%s", e.message);
	return reply_device_profile(d, m, id, &params, name, NULL, error);
}

static int method_fit_eq(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct daemon *d = userdata;
	struct iem_curve *meas = NULL, *target = NULL;
	struct iem_fit_config cfg;
	struct iem_fit_result result;
	struct iem_params params;
	const char *file, *target_name, *id, *base;
	char name[400], err[1024];
	int r;

	r = sd_bus_message_read(m, "sss", &file, &target_name, &id);
	if (r < 0)
		return r;
	if ((r = check_file(error, "measurement", file)) < 0 ||
	    (r = check_string(error, "target", target_name)) < 0 ||
	    (r = check_id(error, "id", id)) < 0)
		return r;
	if ((r = rate_check(m, error)) < 0)
		return r;
	if (target_name[0] == '\0')
		target_name = "harman-ie-2019";
	if (iem_curve_load_csv(file, "raw", &meas, err, sizeof(err)) < 0)
		return sd_bus_error_setf(error, "org.iemstage1.Error.InvalidFile", "%s", err);
	if (iem_target_load(target_name, &target, err, sizeof(err)) < 0) {
		iem_curve_free(meas);
		return sd_bus_error_setf(error, "org.iemstage1.Error.InvalidFile", "%s", err);
	}
	iem_fit_config_init(&cfg);
	iem_params_init(&params);
	r = iem_fit(meas, target, &cfg, &params, &result);
	iem_curve_free(meas);
	iem_curve_free(target);
	if (r < 0)
		return sd_bus_error_setf(error, "org.iemstage1.Error.Failed", "fitting failed: %s",
				strerror(-r));
	base = strrchr(file, '/') + 1;
	snprintf(name, sizeof(name), "%.200s fitted to %.100s (%.2f dB rms)", base, target_name,
			result.rms_db);
	return reply_device_profile(d, m, id, &params, name, NULL, error);
}

/* ---- methods --------------------------------------------------------------- */

static int method_list_devices(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct daemon *d = userdata;
	sd_bus_message *reply = NULL;
	struct device *dev;
	int r;
	(void)error;

	r = sd_bus_message_new_method_return(m, &reply);
	if (r < 0)
		return r;
	r = sd_bus_message_open_container(reply, 'a', "(sssss)");
	spa_list_for_each(dev, &d->devices, link) {
		const char *desc;
		if (r < 0 || !dev->announced)
			continue;
		desc = pw_properties_get(dev->props, PW_KEY_NODE_DESCRIPTION);
		r = sd_bus_message_append(reply, "(sssss)", dev->id,
				pw_properties_get(dev->props, PW_KEY_NODE_NAME),
				desc ? desc : "", dev->profile,
				dev->module ? dev->sink_name : "");
	}
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	sd_bus_message_unref(reply);
	return r;
}

static int method_list_profiles(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct daemon *d = userdata;
	sd_bus_message *reply = NULL;
	uint32_t n = iem_profile_store_count(d->store);
	int r;
	(void)error;

	r = sd_bus_message_new_method_return(m, &reply);
	if (r < 0)
		return r;
	r = sd_bus_message_open_container(reply, 'a', "(ssss)");
	for (uint32_t i = 0; i < n && r >= 0; i++) {
		const struct iem_profile *p = iem_profile_store_get_index(d->store, i);
		r = sd_bus_message_append(reply, "(ssss)", p->id, iem_profile_kind_name(p->kind),
				p->name, p->path);
	}
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	sd_bus_message_unref(reply);
	return r;
}

static int method_reload(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	int r = rate_check(m, error);
	if (r < 0)
		return r;
	reload_profiles(userdata);
	return sd_bus_reply_method_return(m, NULL);
}

static int method_apply_profile(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct daemon *d = userdata;
	const struct iem_profile *p;
	struct device *dev;
	const char *device, *profile;
	char err[1024];
	int r;

	r = sd_bus_message_read(m, "ss", &device, &profile);
	if (r < 0)
		return r;
	if ((r = get_device(d, device, &dev, error)) < 0)
		return r;
	if (!iem_profile_id_valid(profile))
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
				"profile: \"%.64s\" is not a profile id ([A-Za-z0-9._-], 1 … 64)", profile);
	if ((r = rate_check(m, error)) < 0)
		return r;
	p = iem_profile_store_get(d->store, profile);
	if (p == NULL)
		return sd_bus_error_setf(error, "org.iemstage1.Error.NoSuchProfile",
				"no profile \"%s\" (ListProfiles lists them)", profile);
	r = device_apply(dev, p, err, sizeof(err));
	if (r < 0)
		return sd_bus_error_setf(error, "org.iemstage1.Error.Failed", "%s", err);
	dev->pinned = true;
	return sd_bus_reply_method_return(m, NULL);
}

static int method_set_parameter(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct daemon *d = userdata;
	struct iem_param_info info;
	struct iem_params next;
	struct device *dev;
	const char *device, *name;
	char text[IEM_PATH_MAX], err[512];
	int r;

	r = sd_bus_message_read(m, "ss", &device, &name);
	if (r < 0)
		return r;
	if ((r = get_device(d, device, &dev, error)) < 0)
		return r;
	if ((r = check_string(error, "name", name)) < 0)
		return r;
	if (iem_param_find(name, &info) < 0)
		return sd_bus_error_setf(error, "org.iemstage1.Error.InvalidParameter",
				"name: unknown parameter \"%s\" (iemstage-render --list-params)", name);
	if ((r = variant_text(m, &info, text, sizeof(text), error)) < 0)
		return r;
	if ((r = rate_check(m, error)) < 0)
		return r;
	if (dev->module == NULL)
		return sd_bus_error_setf(error, "org.iemstage1.Error.NotApplied",
				"%s has no profile applied: ApplyProfile first", dev->id);
	next = dev->params;
	if (iem_params_set(&next, name, text, err, sizeof(err)) < 0)
		return sd_bus_error_setf(error, "org.iemstage1.Error.InvalidParameter", "value: %s", err);
	r = device_set_params(dev, &next, err, sizeof(err));
	if (r < 0)
		return sd_bus_error_setf(error, "org.iemstage1.Error.Failed", "%s", err);
	if (r > 0) {
		sd_bus_message *sig = NULL;
		if (sd_bus_message_new_signal(d->bus, &sig, BUS_PATH, BUS_MANAGER, "ParameterChanged") >= 0 &&
		    sd_bus_message_append(sig, "s", dev->id) >= 0) {
			/* the value as GetParameters gives it */
			sd_bus_message_open_container(sig, 'a', "{sv}");
			append_param(sig, &dev->params, &info);
			sd_bus_message_close_container(sig);
			sd_bus_send(d->bus, sig, NULL);
		}
		sd_bus_message_unref(sig);
	}
	return sd_bus_reply_method_return(m, NULL);
}

static int method_get_parameters(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct daemon *d = userdata;
	struct iem_param_info info;
	sd_bus_message *reply = NULL;
	struct device *dev;
	const char *device;
	uint32_t n = iem_param_count();
	int r;

	r = sd_bus_message_read(m, "s", &device);
	if (r < 0)
		return r;
	if ((r = get_device(d, device, &dev, error)) < 0)
		return r;
	r = sd_bus_message_new_method_return(m, &reply);
	if (r < 0)
		return r;
	r = sd_bus_message_open_container(reply, 'a', "{sv}");
	for (uint32_t i = 0; i < n && r >= 0; i++) {
		if (iem_param_info(i, &info) == 0)
			r = append_param(reply, &dev->params, &info);
	}
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	sd_bus_message_unref(reply);
	return r;
}

static int method_set_bypass(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct daemon *d = userdata;
	struct iem_params next;
	struct device *dev;
	const char *device;
	char err[512];
	int bypass, r;

	r = sd_bus_message_read(m, "sb", &device, &bypass);
	if (r < 0)
		return r;
	if ((r = get_device(d, device, &dev, error)) < 0)
		return r;
	if (dev->module == NULL)
		return sd_bus_error_setf(error, "org.iemstage1.Error.NotApplied",
				"%s has no profile applied: ApplyProfile first", dev->id);
	if ((r = rate_check(m, error)) < 0)
		return r;
	next = dev->params;
	next.bypass = bypass;
	r = device_set_params(dev, &next, err, sizeof(err));
	if (r < 0)
		return sd_bus_error_setf(error, "org.iemstage1.Error.Failed", "%s", err);
	if (r > 0) {
		char *path = NULL;
		if (sd_bus_path_encode(BUS_DEVICE_PREFIX, dev->id, &path) >= 0)
			sd_bus_emit_properties_changed(d->bus, path, BUS_DEVICE, "Bypass", NULL);
		free(path);
	}
	return sd_bus_reply_method_return(m, NULL);
}

/* ---- properties ------------------------------------------------------------ */

static struct device *active_device(struct daemon *d)
{
	struct device *dev;
	spa_list_for_each(dev, &d->devices, link)
		if (dev->module != NULL && d->our_default[0] &&
		    strcmp(dev->sink_name, d->our_default) == 0)
			return dev;
	return NULL;
}

static int property_get(sd_bus *bus, const char *path, const char *interface,
		const char *property, sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	struct daemon *d = userdata;
	struct device *dev = active_device(d);
	(void)bus;
	(void)path;
	(void)interface;
	(void)error;

	if (strcmp(property, "Version") == 0)
		return sd_bus_message_append(reply, "s", IEM_VERSION);
	if (strcmp(property, "Enabled") == 0)
		return sd_bus_message_append(reply, "b", d->enabled);
	if (strcmp(property, "ActiveDevice") == 0)
		return sd_bus_message_append(reply, "s", dev ? dev->id : "");
	if (strcmp(property, "ActiveProfile") == 0)
		return sd_bus_message_append(reply, "s", dev ? dev->profile : "");
	return -ENOENT;
}

static int property_set_enabled(sd_bus *bus, const char *path, const char *interface,
		const char *property, sd_bus_message *value, void *userdata, sd_bus_error *error)
{
	struct daemon *d = userdata;
	struct device *dev;
	int b, r;
	(void)path;
	(void)interface;
	(void)property;
	(void)error;

	r = sd_bus_message_read(value, "b", &b);
	if (r < 0)
		return r;
	if ((bool)b == d->enabled)
		return 0;
	d->enabled = b;
	spa_list_for_each(dev, &d->devices, link)
		device_evaluate(dev, false);
	sd_bus_emit_properties_changed(bus, BUS_PATH, BUS_MANAGER, "Enabled", "ActiveDevice",
			"ActiveProfile", NULL);
	return 0;
}

static const sd_bus_vtable manager_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Version", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_WRITABLE_PROPERTY("Enabled", "b", property_get, property_set_enabled, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE | SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_PROPERTY("ActiveDevice", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("ActiveProfile", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_METHOD_WITH_ARGS("ListDevices", SD_BUS_NO_ARGS,
			SD_BUS_RESULT("a(sssss)", devices), method_list_devices, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ListProfiles", SD_BUS_NO_ARGS,
			SD_BUS_RESULT("a(ssss)", profiles), method_list_profiles, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ApplyProfile", SD_BUS_ARGS("s", device, "s", profile),
			SD_BUS_NO_RESULT, method_apply_profile, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("SetParameter", SD_BUS_ARGS("s", device, "s", name, "v", value),
			SD_BUS_NO_RESULT, method_set_parameter, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("GetParameters", SD_BUS_ARGS("s", device),
			SD_BUS_RESULT("a{sv}", parameters), method_get_parameters, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("SetBypass", SD_BUS_ARGS("s", device, "b", bypass),
			SD_BUS_NO_RESULT, method_set_bypass, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reload,
			SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("SaveProfile", SD_BUS_ARGS("s", device, "s", id),
			SD_BUS_RESULT("s", path), method_save_profile, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ImportEq", SD_BUS_ARGS("s", path, "s", id),
			SD_BUS_RESULT("s", file), method_import_eq, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("FitEq", SD_BUS_ARGS("s", measurement, "s", target, "s", id),
			SD_BUS_RESULT("s", file), method_fit_eq, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_SIGNAL_WITH_ARGS("DeviceAdded", SD_BUS_ARGS("s", device), 0),
	SD_BUS_SIGNAL_WITH_ARGS("DeviceRemoved", SD_BUS_ARGS("s", device), 0),
	SD_BUS_SIGNAL_WITH_ARGS("ProfileApplied", SD_BUS_ARGS("s", device, "s", profile), 0),
	SD_BUS_SIGNAL_WITH_ARGS("ProfileError",
			SD_BUS_ARGS("s", path, "u", line, "u", column, "s", message), 0),
	SD_BUS_SIGNAL_WITH_ARGS("ParameterChanged", SD_BUS_ARGS("s", device, "a{sv}", parameters), 0),
	SD_BUS_VTABLE_END
};

/* ---- one object per device ------------------------------------------------- */

/* /org/iemstage1/device/<id, escaped by sd_bus_path_encode()> with
 * org.iemstage1.Device; announced through the object manager on
 * /org/iemstage1 (InterfacesAdded / InterfacesRemoved). */
static int device_find_object(sd_bus *bus, const char *path, const char *interface,
		void *userdata, void **found, sd_bus_error *error)
{
	struct daemon *d = userdata;
	char *id = NULL;
	struct device *dev;
	int r;
	(void)bus;
	(void)interface;
	(void)error;

	r = sd_bus_path_decode(path, BUS_DEVICE_PREFIX, &id);
	if (r <= 0)
		return r;
	dev = device_find(d, id);
	free(id);
	if (dev == NULL)
		return 0;
	*found = dev;
	return 1;
}

static int device_enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes,
		sd_bus_error *error)
{
	struct daemon *d = userdata;
	struct device *dev;
	size_t n = 0, k = 0;
	char **v;
	(void)bus;
	(void)path;
	(void)error;

	spa_list_for_each(dev, &d->devices, link)
		n += dev->announced;
	v = calloc(n + 1, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	spa_list_for_each(dev, &d->devices, link) {
		if (!dev->announced || k >= n)
			continue;
		if (sd_bus_path_encode(BUS_DEVICE_PREFIX, dev->id, &v[k]) < 0)
			break;
		k++;
	}
	*nodes = v;
	return 0;
}

static int device_property_get(sd_bus *bus, const char *path, const char *interface,
		const char *property, sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	struct device *dev = userdata;
	const char *v;
	(void)bus;
	(void)path;
	(void)interface;
	(void)error;

	if (strcmp(property, "Id") == 0)
		return sd_bus_message_append(reply, "s", dev->id);
	if (strcmp(property, "NodeName") == 0)
		v = pw_properties_get(dev->props, PW_KEY_NODE_NAME);
	else if (strcmp(property, "Description") == 0)
		v = pw_properties_get(dev->props, PW_KEY_NODE_DESCRIPTION);
	else if (strcmp(property, "Profile") == 0)
		v = dev->profile;
	else if (strcmp(property, "Sink") == 0)
		v = dev->module ? dev->sink_name : "";
	else if (strcmp(property, "Bypass") == 0)
		return sd_bus_message_append(reply, "b", dev->params.bypass);
	else
		return -ENOENT;
	return sd_bus_message_append(reply, "s", v ? v : "");
}

static const sd_bus_vtable device_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Id", "s", device_property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("NodeName", "s", device_property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Description", "s", device_property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Profile", "s", device_property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Sink", "s", device_property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Bypass", "b", device_property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_VTABLE_END
};

/* ---- PipeWire in the sd-event loop -------------------------------------- */

static int on_pw_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct daemon *d = userdata;
	(void)s;
	(void)fd;
	(void)revents;
	pw_loop_iterate(d->loop, 0);
	return 0;
}

static int do_note_thread(struct spa_loop *loop, bool async, uint32_t seq,
		const void *data, size_t size, void *user_data)
{
	pthread_t *thread = user_data;
	(void)loop;
	(void)async;
	(void)seq;
	(void)data;
	(void)size;
	*thread = pthread_self();
	return 0;
}

/* PipeWire 0.3.65 can hang in pw_context_destroy() when the data thread
 * has not yet entered its loop (tests/integration/iem-host.c says how):
 * wait until it has. */
static void wait_data_thread(struct pw_context *context)
{
	struct pw_data_loop *data_loop = pw_context_get_data_loop(context);
	for (int i = 0; i < 2000; i++) {
		pthread_t thread = pthread_self();
		pw_data_loop_invoke(data_loop, do_note_thread, 0, NULL, 0, true, &thread);
		if (!pthread_equal(thread, pthread_self()))
			return;
		usleep(1000);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: iemstaged [--system] [--help] [--version]\n"
		"\n"
		"Applies iemstage profiles to the audio outputs they match and offers\n"
		"control on D-Bus as " BUS_NAME ".\n"
		"\n"
		"Session mode (default): the session bus and the user's PipeWire.\n"
		"Profiles: $IEMSTAGE_PROFILE_PATH, else $XDG_CONFIG_HOME/iemstage/profiles,\n"
		IEM_SYSCONFDIR "/iemstage/profiles, " IEM_DATADIR "/profiles.\n"
		"\n"
		"--system: the system bus and a system-wide PipeWire\n"
		"($PIPEWIRE_RUNTIME_DIR/$PIPEWIRE_REMOTE, by default /run/pipewire/pipewire-0);\n"
		"changes need polkit's authorization. Profiles: $IEMSTAGE_PROFILE_PATH, else\n"
		"$STATE_DIRECTORY/profiles (default " IEM_STATEDIR "/profiles, where it saves),\n"
		IEM_SYSCONFDIR "/iemstage/profiles, " IEM_DATADIR "/profiles.\n");
}

/* --system: the environment a system service has, where the caller did not
 * say otherwise, and the profile search path without a user's directory. */
static char **system_setup(void)
{
	const char *state = getenv("STATE_DIRECTORY");	/* StateDirectory=iemstage */
	char dir[IEM_PATH_MAX];

	/* the system-wide PipeWire's socket, as its system unit makes it;
	 * not the caller's $XDG_RUNTIME_DIR */
	setenv("PIPEWIRE_RUNTIME_DIR", IEM_SYSTEM_PIPEWIRE_DIR, 0);
	/* FFTW wisdom in <localstatedir>/cache/iemstage (CacheDirectory=) */
	setenv("XDG_CACHE_HOME", IEM_LOCALSTATEDIR "/cache", 0);
	if (state != NULL && state[0] == '/') {
		/* systemd lists several as a:b; the first is ours */
		snprintf(dir, sizeof(dir), "%.*s", (int)strcspn(state, ":"), state);
	} else {
		snprintf(dir, sizeof(dir), "%s", IEM_STATEDIR);
	}
	return iem_profile_system_dirs(dir);
}

int main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "system", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d = { .inotify_fd = -1, .enabled = true };
	sigset_t mask;
	int c, r, status = 1;

	while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (c) {
		case 's': d.system = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("iemstaged %s\n", IEM_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}

	/* before any thread: SIGTERM and SIGINT are read by sd-event */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	spa_list_init(&d.devices);
	spa_list_init(&d.pw_devs);

	r = sd_event_default(&d.event);
	if (r < 0) {
		log_msg("cannot make an event loop: %s", strerror(-r));
		return 1;
	}
	sd_event_add_signal(d.event, NULL, SIGTERM, NULL, NULL);
	sd_event_add_signal(d.event, NULL, SIGINT, NULL, NULL);

	d.profile_dirs = d.system ? system_setup() : iem_profile_default_dirs();
	if (d.profile_dirs == NULL) {
		log_msg("out of memory");
		goto done;
	}
	/* made now, so that it is watched from the start */
	if (d.system && d.profile_dirs[0] != NULL) {
		char dir[IEM_PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", d.profile_dirs[0]);
		if ((r = make_dirs(dir)) < 0)
			log_msg("cannot make %s: %s; saving profiles will fail", dir, strerror(-r));
	}
	d.store = iem_profile_store_new((const char *const *)d.profile_dirs);
	if (d.store == NULL) {
		log_msg("out of memory");
		goto done;
	}
	watch_profiles(&d);
	iem_profile_store_reload(d.store, emit_profile_error, &d);

	pw_init(&argc, &argv);
	d.loop = pw_loop_new(NULL);
	if (d.loop == NULL)
		goto done;
	/* client-rt.conf: module-rt makes the data thread that runs the
	 * hosted modules real-time (through RTKit or the limits the unit
	 * allows), as for pw-play; with client.conf it is an ordinary thread
	 * and misses cycles at small quanta on a loaded machine */
	d.context = pw_context_new(d.loop,
			pw_properties_new(PW_KEY_CONFIG_NAME, "client-rt.conf", NULL), 0);
	if (d.context == NULL) {
		log_msg("cannot make a PipeWire context: %m");
		goto done;
	}
	if (pw_log_level < SPA_LOG_LEVEL_WARN && getenv("PIPEWIRE_DEBUG") == NULL)
		pw_log_set_level(SPA_LOG_LEVEL_WARN);
	pw_loop_enter(d.loop);
	sd_event_add_io(d.event, &d.pw_source, pw_loop_get_fd(d.loop), EPOLLIN, on_pw_io, &d);

	r = d.system ? sd_bus_open_system(&d.bus) : sd_bus_open_user(&d.bus);
	if (r < 0) {
		log_msg("cannot connect to the %s bus: %s", d.system ? "system" : "session",
				strerror(-r));
		goto done;
	}
	r = sd_bus_add_object_vtable(d.bus, NULL, BUS_PATH, BUS_MANAGER, manager_vtable, &d);
	if (r >= 0)
		r = sd_bus_add_object_manager(d.bus, NULL, BUS_PATH);
	if (r >= 0)
		r = sd_bus_add_fallback_vtable(d.bus, NULL, BUS_DEVICE_PREFIX, BUS_DEVICE,
				device_vtable, device_find_object, &d);
	if (r >= 0)
		r = sd_bus_add_node_enumerator(d.bus, NULL, BUS_DEVICE_PREFIX, device_enumerate, &d);
	if (r >= 0)
		r = auth_init(&d);
	if (r >= 0)
		r = sd_bus_attach_event(d.bus, d.event, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0) {
		log_msg("cannot set up the bus: %s", strerror(-r));
		goto done;
	}

	if (pw_connect(&d) < 0) {
		log_msg("PipeWire is not there yet: retrying");
		pw_disconnect(&d);
		pw_schedule_reconnect(&d);
	}

	/* Last: the name says the service is ready (Type=dbus). */
	r = sd_bus_request_name(d.bus, BUS_NAME, 0);
	if (r < 0) {
		log_msg("cannot own %s: %s", BUS_NAME, strerror(-r));
		goto done;
	}
	if (d.system)
		log_msg("ready on the system bus as %s (PipeWire: %s/%s; changes need polkit's "
				"authorization; profiles saved in %s)", BUS_NAME,
				getenv("PIPEWIRE_RUNTIME_DIR"),
				getenv("PIPEWIRE_REMOTE") ? getenv("PIPEWIRE_REMOTE") : "pipewire-0",
				d.profile_dirs[0]);
	else
		log_msg("ready on the session bus as %s", BUS_NAME);

	r = sd_event_loop(d.event);
	status = r < 0 ? 1 : 0;
done:
	if (d.context != NULL) {
		pw_disconnect(&d);
		wait_data_thread(d.context);
		pw_context_destroy(d.context);
	}
	if (d.loop != NULL) {
		pw_loop_leave(d.loop);
		pw_loop_destroy(d.loop);
	}
	sd_event_source_unref(d.pw_source);
	sd_event_source_unref(d.reconnect_timer);
	sd_event_source_unref(d.reload_timer);
	sd_event_source_unref(d.inotify_source);
	if (d.inotify_fd >= 0)
		close(d.inotify_fd);
	auth_clear(&d);
	sd_bus_flush_close_unref(d.bus);
	sd_event_unref(d.event);
	iem_profile_store_free(d.store);
	iem_profile_dirs_free(d.profile_dirs);
	return status;
}
