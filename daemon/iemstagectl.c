/* SPDX-License-Identifier: MIT */
/*
 * iemstagectl: iemstaged's API (org.iemstage1, interface
 * org.iemstage1.Manager, config/dbus/org.iemstage1.Manager.xml) as commands.
 *
 * Every reply is first read into a json-c tree, whatever its D-Bus types;
 * --json prints that tree, the readable output is made from it. So the
 * two never disagree, and a signal this file does not know yet still
 * prints.
 *
 * Exit codes: 0 ok, 1 the daemon refused (a D-Bus error), 2 bad usage,
 * 3 the daemon is not running, 4 anything else (no bus, timeouts, memory).
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "iem-fit.h"

#define NAME		"iemstagectl"
#define BUS_NAME	"org.iemstage1"
#define BUS_PATH	"/org/iemstage1"
#define BUS_MANAGER	"org.iemstage1.Manager"
#define BUS_PROPERTIES	"org.freedesktop.DBus.Properties"
#define BUS_DBUS	"org.freedesktop.DBus"
#define MAX_ARGS	3
/* a D-Bus message nests at most 64 containers */
#define MAX_DEPTH	64

enum {
	EXIT_OK = 0,
	EXIT_REFUSED = 1,
	EXIT_USAGE = 2,
	EXIT_NOT_RUNNING = 3,
	EXIT_OTHER = 4,
};

struct ctl {
	sd_bus *bus;
	bool json;
	bool system;
	const char *member;	/* the method being called, for messages */
};

static void __attribute__((format(printf, 1, 2))) say(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs(NAME ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *bus_kind(const struct ctl *c)
{
	return c->system ? "system" : "session";
}

/* ---- JSON ------------------------------------------------------------------ */

/* The shortest text that reads back as the same double. */
static void format_double(double v, char *buf, size_t size)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

static struct json_object *json_double(double v)
{
	char text[40];

	/* JSON has no NaN or infinity */
	if (!isfinite(v))
		return NULL;
	format_double(v, text, sizeof(text));
	return json_object_new_double_s(v, text);
}

static void json_put(struct json_object *obj, const char *key, struct json_object *val)
{
	json_object_object_add(obj, key, val);
}

static void print_json(struct json_object *obj, bool one_line)
{
	int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
		(one_line ? JSON_C_TO_STRING_PLAIN : JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
	const char *text = json_object_to_json_string_ext(obj, flags);

	/* json-c prints "null" for a NULL object, and gives NULL only without memory */
	printf("%s\n", text ? text : "null");
	fflush(stdout);
}

/* ---- D-Bus messages as JSON -------------------------------------------------- */

/* One complete value at the message's read position; 0 at the end of the
 * current container. Dictionaries become objects (keys as text), structs
 * and other arrays become arrays, variants their contents. */
static int read_value(sd_bus_message *m, struct json_object **out, int depth)
{
	const char *contents;
	char type;
	int r;

	*out = NULL;
	if (depth > MAX_DEPTH)
		return -EBADMSG;
	r = sd_bus_message_peek_type(m, &type, &contents);
	if (r <= 0)
		return r;

	switch (type) {
	case SD_BUS_TYPE_VARIANT:
		r = sd_bus_message_enter_container(m, type, contents);
		if (r < 0)
			return r;
		r = read_value(m, out, depth + 1);
		if (r < 0)
			return r;
		return sd_bus_message_exit_container(m) < 0 ? -EBADMSG : 1;

	case SD_BUS_TYPE_ARRAY:
	case SD_BUS_TYPE_STRUCT: {
		bool dict = type == SD_BUS_TYPE_ARRAY && contents[0] == SD_BUS_TYPE_DICT_ENTRY_BEGIN;
		struct json_object *list = dict ? json_object_new_object() : json_object_new_array();

		if (list == NULL)
			return -ENOMEM;
		r = sd_bus_message_enter_container(m, type, contents);
		while (r >= 0) {
			struct json_object *key = NULL, *val = NULL;

			if (dict) {
				const char *entry;
				char t;

				r = sd_bus_message_peek_type(m, &t, &entry);
				if (r > 0)
					r = sd_bus_message_enter_container(m, t, entry);
				if (r <= 0)
					break;
				r = read_value(m, &key, depth + 1);
				if (r > 0)
					r = read_value(m, &val, depth + 1);
				if (r > 0)
					r = sd_bus_message_exit_container(m);
				if (r >= 0 && key != NULL)
					json_object_object_add(list, json_object_get_string(key), val);
				else
					json_object_put(val);
				json_object_put(key);
			} else {
				r = read_value(m, &val, depth + 1);
				if (r <= 0)
					break;
				json_object_array_add(list, val);
			}
		}
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
		if (r < 0) {
			json_object_put(list);
			return r;
		}
		*out = list;
		return 1;
	}

	default: {
		union {
			uint8_t y;
			int b;
			int16_t n;
			uint16_t q;
			int32_t i;
			uint32_t u;
			int64_t x;
			uint64_t t;
			double d;
			const char *s;
			int h;
		} v;

		if (!strchr("ybnqiuxtdsogh", type))
			return -EBADMSG;
		r = sd_bus_message_read_basic(m, type, &v);
		if (r < 0)
			return r;
		switch (type) {
		case 'y': *out = json_object_new_int(v.y); break;
		case 'b': *out = json_object_new_boolean(v.b); break;
		case 'n': *out = json_object_new_int(v.n); break;
		case 'q': *out = json_object_new_int(v.q); break;
		case 'i': *out = json_object_new_int(v.i); break;
		case 'u': *out = json_object_new_int64(v.u); break;
		case 'x': *out = json_object_new_int64(v.x); break;
		case 't': *out = json_object_new_uint64(v.t); break;
		case 'd': *out = json_double(v.d); break;
		case 'h': *out = json_object_new_int(v.h); break;
		default: *out = json_object_new_string(v.s); break;
		}
		/* a NaN is NULL too, and prints as null */
		return *out != NULL || type == 'd' ? 1 : -ENOMEM;
	}
	}
}

/* The next value, which must be there. */
static int read_one(sd_bus_message *m, struct json_object **out)
{
	int r = read_value(m, out, 0);
	return r == 0 ? -EBADMSG : r;
}

/* ---- readable text ------------------------------------------------------------ */

/* A scalar as text; objects and arrays as compact JSON. */
static void value_text(struct json_object *v, char *buf, size_t size)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		snprintf(buf, size, "null");
		break;
	case json_type_double:
		format_double(json_object_get_double(v), buf, size);
		break;
	case json_type_string:
		snprintf(buf, size, "%s", json_object_get_string(v));
		break;
	case json_type_boolean:
		snprintf(buf, size, "%s", json_object_get_boolean(v) ? "true" : "false");
		break;
	default:
		snprintf(buf, size, "%s", json_object_to_json_string_ext(v,
				JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		break;
	}
}

/* key=value, the value quoted as a JSON string when it is empty or has
 * blanks, quotes or '=' in it, so a line stays one field per word. */
static void print_field(const char *key, struct json_object *v)
{
	char text[4096];

	value_text(v, text, sizeof(text));
	if (json_object_is_type(v, json_type_string) &&
	    (text[0] == '\0' || strpbrk(text, " \t\n\"=\\") != NULL)) {
		struct json_object *s = json_object_new_string(text);
		printf(" %s=%s", key, s ? json_object_to_json_string_ext(s,
					JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : "\"\"");
		json_object_put(s);
	} else {
		printf(" %s=%s", key, text);
	}
}

static const char *get_str(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

/* Terminal columns of UTF-8 text, near enough for names and descriptions. */
static int text_width(const char *s)
{
	int w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

/* Rows of an array of objects under a header, the keys in column order;
 * an empty field prints as "-". */
static void print_table(struct json_object *rows, const char *const *keys,
		const char *const *titles, int n_cols)
{
	size_t n = json_object_array_length(rows);
	int width[8] = { 0 };

	for (int k = 0; k < n_cols; k++)
		width[k] = text_width(titles[k]);
	for (size_t i = 0; i < n; i++) {
		struct json_object *row = json_object_array_get_idx(rows, i);
		for (int k = 0; k < n_cols; k++) {
			int w = text_width(get_str(row, keys[k]));
			if (w > width[k])
				width[k] = w;
		}
	}
	for (size_t i = 0; i <= n; i++) {
		struct json_object *row = i ? json_object_array_get_idx(rows, i - 1) : NULL;
		for (int k = 0; k < n_cols; k++) {
			const char *s = row ? get_str(row, keys[k]) : titles[k];
			if (s[0] == '\0')
				s = "-";
			if (k + 1 == n_cols)
				printf("%s\n", s);
			else
				printf("%s%*s  ", s, width[k] - text_width(s), "");
		}
	}
}

/* ---- calls ---------------------------------------------------------------------- */

/* A failed call as the exit code, said on stderr (and, with --json, as a
 * document on stdout). */
static int report_error(struct ctl *c, int r, const sd_bus_error *error)
{
	const char *name = sd_bus_error_is_set(error) ? error->name : NULL;
	const char *message = name && error->message ? error->message : name;
	int status;

	if (name == NULL || strncmp(name, "System.Error.", 13) == 0) {
		say("%s: %s", c->member, strerror(r < 0 ? -r : EIO));
		status = EXIT_OTHER;
	} else if (sd_bus_error_has_names(error, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
				SD_BUS_ERROR_SERVICE_UNKNOWN)) {
		say("iemstaged is not running on the %s bus (%s)", bus_kind(c), message);
		status = EXIT_NOT_RUNNING;
	} else if (sd_bus_error_has_names(error, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_TIMEOUT,
				"org.freedesktop.DBus.Error.TimedOut", SD_BUS_ERROR_DISCONNECTED,
				SD_BUS_ERROR_NO_MEMORY, SD_BUS_ERROR_IO_ERROR,
				SD_BUS_ERROR_NO_SERVER, SD_BUS_ERROR_LIMITS_EXCEEDED)) {
		say("%s: %s", c->member, message);
		status = EXIT_OTHER;
	} else if (sd_bus_error_has_name(error, SD_BUS_ERROR_UNKNOWN_METHOD)) {
		say("%s (the running iemstaged does not have %s yet)", message, c->member);
		status = EXIT_REFUSED;
	} else {
		say("%s", message);
		status = EXIT_REFUSED;
	}
	if (c->json) {
		struct json_object *doc = json_object_new_object();
		if (doc != NULL) {
			json_put(doc, "error", json_object_new_string(name ? name : "System.Error"));
			json_put(doc, "message", json_object_new_string(name ? message : strerror(r < 0 ? -r : EIO)));
			json_put(doc, "exit", json_object_new_int(status));
			print_json(doc, false);
			json_object_put(doc);
		}
	}
	return status;
}

static int new_call(struct ctl *c, const char *interface, const char *member, sd_bus_message **m)
{
	int r;

	c->member = member;
	r = sd_bus_message_new_method_call(c->bus, m, BUS_NAME, BUS_PATH, interface, member);
	if (r < 0) {
		say("%s: %s", member, strerror(-r));
		return EXIT_OTHER;
	}
	return EXIT_OK;
}

/* Sends a call built with new_call() and frees it; 0 or an exit code. */
static int send_call(struct ctl *c, sd_bus_message *m, sd_bus_message **reply)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	int r, status = EXIT_OK;

	r = sd_bus_call(c->bus, m, 0, &error, reply);
	if (r < 0)
		status = report_error(c, r, &error);
	sd_bus_error_free(&error);
	sd_bus_message_unref(m);
	return status;
}

/* A call whose arguments are only strings (0 … 3 of them). */
static int call_strings(struct ctl *c, const char *member, sd_bus_message **reply,
		int n, const char *const *args)
{
	sd_bus_message *m = NULL;
	int r, status;

	if ((status = new_call(c, BUS_MANAGER, member, &m)) != EXIT_OK)
		return status;
	for (int i = 0; i < n; i++) {
		r = sd_bus_message_append_basic(m, 's', args[i]);
		if (r < 0) {
			sd_bus_message_unref(m);
			say("%s: %s", member, strerror(-r));
			return EXIT_OTHER;
		}
	}
	return send_call(c, m, reply);
}

/* A reply's contents, all of it, as a JSON array (or its one value with
 * single = true). */
static int reply_json(struct ctl *c, sd_bus_message *reply, bool single, struct json_object **out)
{
	int r;

	if (single) {
		r = read_one(reply, out);
	} else {
		struct json_object *val;

		*out = json_object_new_array();
		r = *out ? 1 : -ENOMEM;
		while (r > 0 && (r = read_value(reply, &val, 0)) > 0)
			json_object_array_add(*out, val);
	}
	if (r < 0) {
		json_object_put(*out);
		*out = NULL;
		say("%s: cannot read the reply: %s", c->member, strerror(-r));
		return EXIT_OTHER;
	}
	return EXIT_OK;
}

/* A call of strings whose reply is one value. */
static int call_value(struct ctl *c, const char *member, int n, const char *const *args,
		struct json_object **out)
{
	sd_bus_message *reply = NULL;
	int status = call_strings(c, member, &reply, n, args);

	if (status == EXIT_OK)
		status = reply_json(c, reply, true, out);
	sd_bus_message_unref(reply);
	return status;
}

/* An array of structs as an array of objects with these keys. */
static struct json_object *name_fields(struct json_object *list, const char *const *keys, int n_keys)
{
	struct json_object *rows = json_object_new_array();
	size_t n = json_object_array_length(list);

	for (size_t i = 0; rows && i < n; i++) {
		struct json_object *tuple = json_object_array_get_idx(list, i);
		struct json_object *row = json_object_new_object();

		if (row == NULL)
			break;
		for (int k = 0; k < n_keys; k++)
			json_put(row, keys[k], json_object_get(json_object_array_get_idx(tuple, k)));
		json_object_array_add(rows, row);
	}
	return rows;
}

static const char *const device_keys[] = { "id", "node_name", "description", "profile", "virtual_sink" };
static const char *const profile_keys[] = { "id", "kind", "name", "file" };

static int get_devices(struct ctl *c, struct json_object **rows)
{
	struct json_object *list = NULL;
	int status = call_value(c, "ListDevices", 0, NULL, &list);

	if (status != EXIT_OK)
		return status;
	*rows = name_fields(list, device_keys, 5);
	json_object_put(list);
	return *rows ? EXIT_OK : EXIT_OTHER;
}

/* ---- commands --------------------------------------------------------------------- */

static int cmd_status(struct ctl *c, int n, const char *const *args)
{
	static const struct { const char *property, *key, *title; } props[] = {
		{ "Version", "version", "Version:" },
		{ "Enabled", "enabled", "Enabled:" },
		{ "ActiveDevice", "active_device", "Active device:" },
		{ "ActiveProfile", "active_profile", "Active profile:" },
	};
	const char *iface = BUS_MANAGER;
	struct json_object *all = NULL, *doc, *devices = NULL;
	int status;
	(void)n;
	(void)args;

	{
		sd_bus_message *m = NULL, *reply = NULL;
		if ((status = new_call(c, BUS_PROPERTIES, "GetAll", &m)) != EXIT_OK)
			return status;
		if (sd_bus_message_append_basic(m, 's', iface) < 0) {
			sd_bus_message_unref(m);
			return EXIT_OTHER;
		}
		status = send_call(c, m, &reply);
		if (status == EXIT_OK)
			status = reply_json(c, reply, true, &all);
		sd_bus_message_unref(reply);
		if (status != EXIT_OK)
			return status;
	}
	if ((status = get_devices(c, &devices)) != EXIT_OK) {
		json_object_put(all);
		return status;
	}
	doc = json_object_new_object();
	if (doc == NULL) {
		json_object_put(all);
		json_object_put(devices);
		return EXIT_OTHER;
	}
	for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
		struct json_object *v = NULL;
		json_object_object_get_ex(all, props[i].property, &v);
		json_put(doc, props[i].key, json_object_get(v));
	}
	json_put(doc, "devices", devices);

	if (c->json) {
		print_json(doc, false);
	} else {
		size_t n_dev = json_object_array_length(devices);
		char text[256];

		for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
			struct json_object *v = NULL;
			json_object_object_get_ex(doc, props[i].key, &v);
			value_text(v, text, sizeof(text));
			if (json_object_is_type(v, json_type_boolean))
				snprintf(text, sizeof(text), "%s", json_object_get_boolean(v) ? "yes" : "no");
			printf("%-16s%s\n", props[i].title, text[0] ? text : "-");
		}
		printf("%-16s%zu\n", "Devices:", n_dev);
		for (size_t i = 0; i < n_dev; i++) {
			struct json_object *d = json_object_array_get_idx(devices, i);
			const char *desc = get_str(d, "description"), *profile = get_str(d, "profile");

			printf("  %s", get_str(d, "id"));
			if (desc[0])
				printf(" (%s)", desc);
			if (profile[0])
				printf(": profile %s, virtual sink %s\n", profile,
						get_str(d, "virtual_sink")[0] ? get_str(d, "virtual_sink") : "-");
			else
				printf(": no profile\n");
		}
	}
	json_object_put(all);
	json_object_put(doc);
	return EXIT_OK;
}

static int cmd_devices(struct ctl *c, int n, const char *const *args)
{
	static const char *const keys[] = { "id", "profile", "virtual_sink", "node_name", "description" };
	static const char *const titles[] = { "DEVICE", "PROFILE", "VIRTUAL SINK", "NODE", "DESCRIPTION" };
	struct json_object *rows = NULL;
	int status = get_devices(c, &rows);
	(void)n;
	(void)args;

	if (status != EXIT_OK)
		return status;
	if (c->json)
		print_json(rows, false);
	else if (json_object_array_length(rows) == 0)
		printf("No devices.\n");
	else
		print_table(rows, keys, titles, 5);
	json_object_put(rows);
	return EXIT_OK;
}

static int cmd_profiles(struct ctl *c, int n, const char *const *args)
{
	static const char *const titles[] = { "PROFILE", "KIND", "NAME", "FILE" };
	struct json_object *list = NULL, *rows;
	int status = call_value(c, "ListProfiles", 0, NULL, &list);
	(void)n;
	(void)args;

	if (status != EXIT_OK)
		return status;
	rows = name_fields(list, profile_keys, 4);
	json_object_put(list);
	if (rows == NULL)
		return EXIT_OTHER;
	if (c->json)
		print_json(rows, false);
	else if (json_object_array_length(rows) == 0)
		printf("No profiles.\n");
	else
		print_table(rows, profile_keys, titles, 4);
	json_object_put(rows);
	return EXIT_OK;
}

/* With --json, what was done, as an object of these key/value pairs. */
static void print_done(struct ctl *c, int n, const char *const *keys, struct json_object *const *vals)
{
	struct json_object *doc;

	if (!c->json) {
		for (int i = 0; i < n; i++)
			json_object_put(vals[i]);
		return;
	}
	doc = json_object_new_object();
	for (int i = 0; i < n; i++) {
		if (doc)
			json_put(doc, keys[i], vals[i]);
		else
			json_object_put(vals[i]);
	}
	print_json(doc, false);
	json_object_put(doc);
}

static int cmd_apply(struct ctl *c, int n, const char *const *args)
{
	int status = call_strings(c, "ApplyProfile", NULL, n, args);

	if (status == EXIT_OK)
		print_done(c, 2, (const char *const[]){ "device", "profile" },
				(struct json_object *const[]){ json_object_new_string(args[0]),
					json_object_new_string(args[1]) });
	return status;
}

/* How a value on the command line goes on the bus: a number when all of it
 * is a finite number, a switch for true/false, else a string. */
static char value_type(const char *text, double *number)
{
	char *end;

	if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)
		return 'b';
	/* strtod would skip leading blanks and take "nan", "inf" */
	if (text[0] == '\0' || strchr(" \t\n\v\f\r", text[0]) != NULL)
		return 's';
	errno = 0;
	*number = strtod(text, &end);
	if (*end == '\0' && errno == 0 && isfinite(*number))
		return 'd';
	return 's';
}

static int cmd_set(struct ctl *c, int n, const char *const *args)
{
	sd_bus_message *m = NULL;
	struct json_object *val;
	double number = 0;
	char type = value_type(args[2], &number);
	int r, status;
	(void)n;

	if ((status = new_call(c, BUS_MANAGER, "SetParameter", &m)) != EXIT_OK)
		return status;
	r = sd_bus_message_append(m, "ss", args[0], args[1]);
	if (r >= 0 && type == 'd')
		r = sd_bus_message_append(m, "v", "d", number);
	else if (r >= 0 && type == 'b')
		r = sd_bus_message_append(m, "v", "b", strcmp(args[2], "true") == 0);
	else if (r >= 0)
		r = sd_bus_message_append(m, "v", "s", args[2]);
	if (r < 0) {
		sd_bus_message_unref(m);
		say("SetParameter: %s", strerror(-r));
		return EXIT_OTHER;
	}
	if ((status = send_call(c, m, NULL)) != EXIT_OK)
		return status;
	val = type == 'd' ? json_double(number) :
		type == 'b' ? json_object_new_boolean(strcmp(args[2], "true") == 0) :
		json_object_new_string(args[2]);
	print_done(c, 3, (const char *const[]){ "device", "name", "value" },
			(struct json_object *const[]){ json_object_new_string(args[0]),
				json_object_new_string(args[1]), val });
	return EXIT_OK;
}

/* eq.N.* of a band whose type is off: 32 bands of them would bury the
 * rest of the readable list (--json and get DEVICE NAME still have them). */
static bool band_off(struct json_object *params, const char *name)
{
	struct json_object *type;
	unsigned band;
	int len = 0;
	char key[32];

	if (sscanf(name, "eq.%u.%n", &band, &len) != 1 || len == 0)
		return false;
	snprintf(key, sizeof(key), "eq.%u.type", band);
	return json_object_object_get_ex(params, key, &type) &&
		json_object_is_type(type, json_type_string) &&
		strcmp(json_object_get_string(type), "off") == 0;
}

static int cmd_get(struct ctl *c, int n, const char *const *args)
{
	struct json_object *params = NULL, *v;
	int status = call_value(c, "GetParameters", 1, args, &params);
	char text[4096];

	if (status != EXIT_OK)
		return status;
	if (!json_object_is_type(params, json_type_object)) {
		json_object_put(params);
		say("GetParameters: the reply is not a{sv}");
		return EXIT_OTHER;
	}
	if (n == 2) {
		struct json_object *one;

		if (!json_object_object_get_ex(params, args[1], &v)) {
			json_object_put(params);
			snprintf(text, sizeof(text), "%s has no parameter \"%s\" (" NAME " get %s lists them)",
					args[0], args[1], args[0]);
			say("%s", text);
			/* the shape of a refusal by the daemon */
			print_done(c, 3, (const char *const[]){ "error", "message", "exit" },
					(struct json_object *const[]){
					json_object_new_string("org.iemstage1.Error.InvalidParameter"),
					json_object_new_string(text),
					json_object_new_int(EXIT_REFUSED) });
			return EXIT_REFUSED;
		}
		if (c->json) {
			one = json_object_new_object();
			if (one) {
				json_put(one, args[1], json_object_get(v));
				print_json(one, false);
				json_object_put(one);
			}
		} else {
			value_text(v, text, sizeof(text));
			printf("%s\n", text);
		}
	} else if (c->json) {
		print_json(params, false);
	} else {
		int width = 0;

		json_object_object_foreach(params, key, val) {
			(void)val;
			if (!band_off(params, key) && (int)strlen(key) > width)
				width = (int)strlen(key);
		}
		json_object_object_foreach(params, key2, val2) {
			if (band_off(params, key2))
				continue;
			value_text(val2, text, sizeof(text));
			printf("%-*s  %s\n", width, key2, text[0] ? text : "\"\"");
		}
	}
	json_object_put(params);
	return EXIT_OK;
}

static int cmd_bypass(struct ctl *c, int n, const char *const *args)
{
	sd_bus_message *m = NULL;
	bool on = strcmp(args[1], "on") == 0;
	int status;
	(void)n;

	if ((status = new_call(c, BUS_MANAGER, "SetBypass", &m)) != EXIT_OK)
		return status;
	if (sd_bus_message_append(m, "sb", args[0], on) < 0) {
		sd_bus_message_unref(m);
		return EXIT_OTHER;
	}
	if ((status = send_call(c, m, NULL)) != EXIT_OK)
		return status;
	print_done(c, 2, (const char *const[]){ "device", "bypass" },
			(struct json_object *const[]){ json_object_new_string(args[0]),
				json_object_new_boolean(on) });
	return EXIT_OK;
}

static int set_enabled(struct ctl *c, bool on)
{
	sd_bus_message *m = NULL;
	int status;

	if ((status = new_call(c, BUS_PROPERTIES, "Set", &m)) != EXIT_OK)
		return status;
	c->member = "Enabled";
	if (sd_bus_message_append(m, "ssv", BUS_MANAGER, "Enabled", "b", on) < 0) {
		sd_bus_message_unref(m);
		return EXIT_OTHER;
	}
	if ((status = send_call(c, m, NULL)) != EXIT_OK)
		return status;
	print_done(c, 1, (const char *const[]){ "enabled" },
			(struct json_object *const[]){ json_object_new_boolean(on) });
	return EXIT_OK;
}

static int cmd_enable(struct ctl *c, int n, const char *const *args)
{
	(void)n;
	(void)args;
	return set_enabled(c, true);
}

static int cmd_disable(struct ctl *c, int n, const char *const *args)
{
	(void)n;
	(void)args;
	return set_enabled(c, false);
}

static int cmd_reload(struct ctl *c, int n, const char *const *args)
{
	int status = call_strings(c, "Reload", NULL, n, args);

	if (status == EXIT_OK)
		print_done(c, 0, NULL, NULL);
	return status;
}

/* A file named on our command line, as the daemon (elsewhere, in another
 * directory) must see it. Symbolic links are left for the daemon to judge. */
static char *absolute(const char *path)
{
	char *cwd, *out = NULL;

	if (path[0] == '/')
		return strdup(path);
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	cwd = getcwd(NULL, 0);
	if (cwd == NULL)
		return NULL;
	if (asprintf(&out, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, path) < 0)
		out = NULL;
	free(cwd);
	return out;
}

static bool builtin_target(const char *name)
{
	for (uint32_t i = 0; iem_target_name(i) != NULL; i++)
		if (strcmp(iem_target_name(i), name) == 0)
			return true;
	return false;
}

/* SaveProfile, ImportEq, FitEq: each answers nothing or the path of the
 * file it wrote. keys name the arguments in the --json output. */
static int call_writer(struct ctl *c, const char *member, int n, const char *const *args,
		const char *const *keys)
{
	sd_bus_message *reply = NULL;
	struct json_object *vals[MAX_ARGS + 1];
	const char *path = NULL;
	int status = call_strings(c, member, &reply, n, args);

	if (status != EXIT_OK)
		return status;
	if (strcmp(sd_bus_message_get_signature(reply, true), "s") == 0 &&
	    sd_bus_message_read_basic(reply, 's', &path) < 0)
		path = NULL;
	if (!c->json) {
		if (path && path[0])
			printf("%s\n", path);
	} else {
		const char *names[MAX_ARGS + 1];
		for (int i = 0; i < n; i++) {
			names[i] = keys[i];
			vals[i] = json_object_new_string(args[i]);
		}
		names[n] = "path";
		vals[n] = path ? json_object_new_string(path) : NULL;
		print_done(c, n + 1, names, vals);
	}
	sd_bus_message_unref(reply);
	return EXIT_OK;
}

static int cmd_save(struct ctl *c, int n, const char *const *args)
{
	return call_writer(c, "SaveProfile", n, args, (const char *const[]){ "device", "id" });
}

static int cmd_import(struct ctl *c, int n, const char *const *args)
{
	char *file = absolute(args[0]);
	int status;

	if (file == NULL) {
		say("%s: %s", args[0], strerror(errno));
		return EXIT_OTHER;
	}
	status = call_writer(c, "ImportEq", n, (const char *const[]){ file, args[1] },
			(const char *const[]){ "file", "id" });
	free(file);
	return status;
}

static int cmd_fit(struct ctl *c, int n, const char *const *args)
{
	char *measurement = absolute(args[0]);
	/* "" leaves the choice to the daemon */
	char *target = args[1][0] == '\0' || builtin_target(args[1]) ? strdup(args[1]) :
		absolute(args[1]);
	int status = EXIT_OTHER;

	if (measurement == NULL || target == NULL)
		say("%s", strerror(errno));
	else
		status = call_writer(c, "FitEq", n,
				(const char *const[]){ measurement, target, args[2] },
				(const char *const[]){ "measurement", "target", "id" });
	free(measurement);
	free(target);
	return status;
}

/* ---- monitor ---------------------------------------------------------------------- */

static const struct {
	const char *interface, *member;
	const char *args[4];
} signal_args[] = {
	{ BUS_MANAGER, "DeviceAdded", { "device" } },
	{ BUS_MANAGER, "DeviceRemoved", { "device" } },
	{ BUS_MANAGER, "ProfileApplied", { "device", "profile" } },
	{ BUS_MANAGER, "ProfileError", { "path", "line", "column", "message" } },
	{ BUS_MANAGER, "ParameterChanged", { "device", "parameters" } },
	{ BUS_PROPERTIES, "PropertiesChanged", { "interface", "changed", "invalidated" } },
	{ BUS_DBUS, "NameOwnerChanged", { "name", "old_owner", "new_owner" } },
};

static const char *arg_name(const char *interface, const char *member, size_t i,
		char *buf, size_t size)
{
	for (size_t k = 0; k < sizeof(signal_args) / sizeof(signal_args[0]); k++)
		if (strcmp(signal_args[k].interface, interface) == 0 &&
		    strcmp(signal_args[k].member, member) == 0 && i < 4 && signal_args[k].args[i])
			return signal_args[k].args[i];
	/* a signal newer than this file */
	snprintf(buf, size, "arg%zu", i);
	return buf;
}

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct ctl *c = userdata;
	const char *interface = sd_bus_message_get_interface(m);
	const char *member = sd_bus_message_get_member(m);
	struct json_object *args = json_object_new_object(), *val, *doc;
	size_t i = 0;
	char buf[32];
	int r;
	(void)ret_error;

	if (interface == NULL || member == NULL || args == NULL) {
		json_object_put(args);
		return 0;
	}
	while ((r = read_value(m, &val, 0)) > 0)
		json_put(args, arg_name(interface, member, i++, buf, sizeof(buf)), val);
	if (r < 0) {
		say("%s.%s: cannot read it: %s, ignoring", interface, member, strerror(-r));
		json_object_put(args);
		return 0;
	}

	if (c->json) {
		doc = json_object_new_object();
		if (doc) {
			json_put(doc, "signal", json_object_new_string(member));
			json_put(doc, "interface", json_object_new_string(interface));
			json_put(doc, "args", json_object_get(args));
			print_json(doc, true);
			json_object_put(doc);
		}
	} else if (strcmp(member, "NameOwnerChanged") == 0) {
		const char *owner = get_str(args, "new_owner");
		printf(owner[0] ? "iemstaged started (%s)\n" : "iemstaged stopped\n", owner);
	} else {
		printf("%s", member);
		json_object_object_foreach(args, key, v) {
			if (strcmp(member, "PropertiesChanged") == 0 && strcmp(key, "interface") == 0)
				continue;
			if (json_object_is_type(v, json_type_object)) {
				/* a dictionary's entries are the fields: eq.1.gain=-3 */
				json_object_object_foreach(v, k2, v2)
					print_field(k2, v2);
			} else if (!json_object_is_type(v, json_type_array) ||
					json_object_array_length(v) > 0) {
				print_field(key, v);
			}
		}
		printf("\n");
	}
	fflush(stdout);
	json_object_put(args);
	return 0;
}

static int add_match(struct ctl *c, const char *rule)
{
	int r = sd_bus_add_match(c->bus, NULL, rule, on_signal, c);
	if (r < 0)
		say("cannot watch the %s bus: %s", bus_kind(c), strerror(-r));
	return r;
}

static int cmd_monitor(struct ctl *c, int n, const char *const *args)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	sd_event *event = NULL;
	sigset_t mask;
	int r, running = 0, status = EXIT_OTHER;
	(void)n;
	(void)args;

	/* SIGINT and SIGTERM end the loop (sd-event exits with 0 when a
	 * signal source has no handler) */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	r = sd_event_default(&event);
	if (r >= 0)
		r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
	if (r >= 0)
		r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
	if (r >= 0)
		r = sd_bus_attach_event(c->bus, event, SD_EVENT_PRIORITY_NORMAL);
	if (r >= 0)
		r = sd_bus_set_exit_on_disconnect(c->bus, true);
	if (r < 0) {
		say("cannot make an event loop: %s", strerror(-r));
		goto done;
	}
	/* Matches are added synchronously: once the line below is out, no
	 * signal is missed. */
	if (add_match(c, "type='signal',sender='" BUS_NAME "',path='" BUS_PATH "',"
				"interface='" BUS_MANAGER "'") < 0 ||
	    add_match(c, "type='signal',sender='" BUS_NAME "',path='" BUS_PATH "',"
				"interface='" BUS_PROPERTIES "',member='PropertiesChanged',"
				"arg0='" BUS_MANAGER "'") < 0 ||
	    add_match(c, "type='signal',sender='" BUS_DBUS "',path='/org/freedesktop/DBus',"
				"interface='" BUS_DBUS "',member='NameOwnerChanged',"
				"arg0='" BUS_NAME "'") < 0)
		goto done;
	c->member = "NameHasOwner";
	r = sd_bus_call_method(c->bus, BUS_DBUS, "/org/freedesktop/DBus", BUS_DBUS,
			"NameHasOwner", &error, &reply, "s", BUS_NAME);
	if (r >= 0)
		r = sd_bus_message_read_basic(reply, 'b', &running);
	if (r < 0) {
		status = report_error(c, r, &error);
		goto done;
	}
	fprintf(stderr, NAME ": watching " BUS_NAME " on the %s bus%s; Ctrl-C stops\n",
			bus_kind(c), running ? "" : " (iemstaged is not running yet)");

	r = sd_event_loop(event);
	if (r < 0)
		say("the event loop failed: %s", strerror(-r));
	else if (r != 0)
		say("the %s bus went away", bus_kind(c));
	status = r == 0 ? EXIT_OK : EXIT_OTHER;
done:
	sd_bus_message_unref(reply);
	sd_bus_error_free(&error);
	sd_bus_detach_event(c->bus);
	sd_event_unref(event);
	return status;
}

/* ---- main ---------------------------------------------------------------------------- */

static const struct command {
	const char *name;
	int min_args, max_args;
	const char *usage;
	int (*run)(struct ctl *c, int n, const char *const *args);
	const char *help;
} commands[] = {
	{ "status", 0, 0, "", cmd_status, "version, state and the devices" },
	{ "devices", 0, 0, "", cmd_devices, "the outputs iemstaged sees" },
	{ "profiles", 0, 0, "", cmd_profiles, "the profiles of the search path" },
	{ "apply", 2, 2, "DEVICE PROFILE", cmd_apply, "apply a profile now (until the device leaves)" },
	{ "set", 3, 3, "DEVICE NAME VALUE", cmd_set, "set one parameter, live" },
	{ "get", 1, 2, "DEVICE [NAME]", cmd_get, "a device's parameters, or one of them" },
	{ "bypass", 2, 2, "DEVICE on|off", cmd_bypass, "crossfade to the dry signal and back" },
	{ "enable", 0, 0, "", cmd_enable, "process the IEMs again" },
	{ "disable", 0, 0, "", cmd_disable, "take every virtual sink away" },
	{ "reload", 0, 0, "", cmd_reload, "re-read the profiles now" },
	{ "save", 2, 2, "DEVICE ID", cmd_save, "save a device's parameters as profile ID" },
	{ "import", 2, 2, "FILE ID", cmd_import, "a ParametricEQ.txt or GraphicEQ.txt as profile ID" },
	{ "fit", 3, 3, "MEASUREMENT TARGET ID", cmd_fit, "an EQ fitted to a target, as profile ID" },
	{ "monitor", 0, 0, "", cmd_monitor, "print the daemon's signals until interrupted" },
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "Usage: " NAME " [--json] [--system] COMMAND [ARGS...]\n"
		"\n"
		"Controls iemstaged (" BUS_NAME " on the session bus).\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++) {
		char left[64];
		snprintf(left, sizeof(left), "%s %s", commands[i].name, commands[i].usage);
		fprintf(f, "  %-30s %s\n", left, commands[i].help);
	}
	fprintf(f, "\n"
		"set's VALUE goes as a number when all of it is one, as a switch for\n"
		"true and false, else as a string: set DEV eq.1.gain -3,\n"
		"set DEV stage.mode room, set DEV bypass true. After the command, an\n"
		"argument that starts with '-' is an argument, except the options\n"
		"below; after \"--\" everything is. get DEVICE leaves out the EQ bands\n"
		"that are off (--json and get DEVICE NAME do not).\n"
		"\n"
		"Options:\n"
		"  --json     JSON for scripts: one document per command (errors too:\n"
		"             {\"error\", \"message\", \"exit\"}); monitor: one object a line\n"
		"  --system   the system bus (a system-wide PipeWire)\n"
		"  --help     this text\n"
		"  --version  the version\n"
		"\n"
		"Exit status:\n"
		"  0  done\n"
		"  1  the daemon refused (a D-Bus error; its message is printed)\n"
		"  2  bad usage\n"
		"  3  iemstaged is not running (no owner of " BUS_NAME ")\n"
		"  4  anything else: no bus, no reply, out of memory\n");
}

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs(NAME ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry '" NAME " --help'.\n", stderr);
	return EXIT_USAGE;
}

int main(int argc, char *argv[])
{
	struct ctl c = { 0 };
	const struct command *cmd = NULL;
	const char *args[MAX_ARGS];
	const char *cmd_name = NULL;
	bool options_done = false;
	int n = 0, r, status;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!options_done && a[0] == '-' && a[1] != '\0') {
			if (strcmp(a, "--") == 0) {
				options_done = true;
				continue;
			}
			if (strcmp(a, "--json") == 0) {
				c.json = true;
				continue;
			}
			if (strcmp(a, "--system") == 0) {
				c.system = true;
				continue;
			}
			if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
				usage(stdout);
				return EXIT_OK;
			}
			if (strcmp(a, "--version") == 0) {
				printf(NAME " %s\n", IEM_VERSION);
				return EXIT_OK;
			}
			/* after the command, "-3" is a value */
			if (cmd_name == NULL)
				return bad_usage("unknown option '%s'", a);
		}
		if (cmd_name == NULL)
			cmd_name = a;
		else if (n < MAX_ARGS)
			args[n++] = a;
		else
			return bad_usage("%s: too many arguments", cmd_name);
	}
	if (cmd_name == NULL)
		return bad_usage("no command");
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, cmd_name) == 0)
			cmd = &commands[i];
	if (cmd == NULL)
		return bad_usage("unknown command '%s'", cmd_name);
	if (n < cmd->min_args || n > cmd->max_args) {
		if (cmd->max_args == 0)
			return bad_usage("%s takes no arguments", cmd->name);
		return bad_usage("usage: " NAME " %s %s", cmd->name, cmd->usage);
	}
	if (cmd->run == cmd_bypass && strcmp(args[1], "on") != 0 && strcmp(args[1], "off") != 0)
		return bad_usage("bypass: '%s' is neither on nor off", args[1]);

	r = c.system ? sd_bus_open_system(&c.bus) : sd_bus_open_user(&c.bus);
	if (r < 0) {
		say("cannot connect to the %s bus: %s", bus_kind(&c), strerror(-r));
		return EXIT_OTHER;
	}
	/* on the system bus, polkit may ask who is there */
	if (c.system)
		sd_bus_set_allow_interactive_authorization(c.bus, isatty(STDIN_FILENO));
	status = cmd->run(&c, n, args);
	sd_bus_flush_close_unref(c.bus);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		say("writing the output: %s", strerror(errno));
		if (status == EXIT_OK)
			status = EXIT_OTHER;
	}
	return status;
}
