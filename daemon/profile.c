/* SPDX-License-Identifier: MIT */
/*
 * The profile loader: strict JSON in, a checked struct iem_profile out.
 *
 * Steps, each all-or-nothing:
 *   1. the file: regular, not a symlink, ≤ 1 MiB, sane owner and mode;
 *   2. syntax: json-scan.c, our own strict checker, with positions;
 *   3. the tree: json-c (it cannot fail after 2, but is checked);
 *   4. meaning: every member checked against the format, every parameter
 *      value set on a scratch struct iem_params, so what loads applies.
 * An error names file:line:column, the JSON pointer and what is wrong.
 *
 * Unknown members are errors, not warnings: a misspelt "gian" that is
 * silently ignored is a band that does not do what its author thinks.
 * Notes go in "comment" members, allowed in every object.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "iem-profile.h"
#include "json-scan.h"

#define NAME_MAX_BYTES		128
#define DESCRIPTION_MAX_BYTES	1024

static const char *const kind_names[] = {
	[IEM_PROFILE_DEVICE] = "device",
	[IEM_PROFILE_LISTENING] = "listening",
	[IEM_PROFILE_DEFAULTS] = "defaults",
};

/* Parameters whose value is a file name: relative names are resolved
 * against the profile's directory. */
static const char *const path_params[] = { "stage.brir", "stage.hrtf" };
/* Values of those that are not file names. */
static const char *const path_keywords[] = { "auto", "model" };

const char *iem_profile_kind_name(enum iem_profile_kind kind)
{
	return (unsigned)kind < 3 ? kind_names[kind] : "?";
}

bool iem_profile_id_valid(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > IEM_PROFILE_ID_MAX || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return false;
	return strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

struct ctx {
	const char *text;		/* the whole file, for line:column */
	size_t len;
	const char *file;
	char dir[IEM_PATH_MAX];		/* for relative file names */
	struct json_scan scan;
	struct iem_profile *p;
	struct iem_params scratch;
	uint32_t cap_settings;
	struct iem_profile_error *err;
};

static void set_place(struct iem_profile_error *err, const char *file)
{
	snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
	err->line = err->column = 0;
	err->pointer[0] = '\0';
	err->message[0] = '\0';
}

static int __attribute__((format(printf, 4, 5)))
fail(struct ctx *c, const char *pointer, bool at_key, const char *fmt, ...)
{
	const struct json_loc *l = json_scan_find(&c->scan, pointer);
	va_list ap;

	set_place(c->err, c->file);
	if (l != NULL)
		json_offset_to_line(c->text, c->len, at_key ? l->key_off : l->value_off,
				&c->err->line, &c->err->column);
	snprintf(c->err->pointer, sizeof(c->err->pointer), "%s", pointer);
	va_start(ap, fmt);
	vsnprintf(c->err->message, sizeof(c->err->message), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static void child(char *out, size_t size, const char *parent, const char *key)
{
	size_t n = (size_t)snprintf(out, size, "%s/", parent);
	for (const char *k = key; *k && n + 3 < size; k++) {
		if (*k == '~' || *k == '/') {
			out[n++] = '~';
			out[n++] = *k == '~' ? '0' : '1';
		} else {
			out[n++] = *k;
		}
	}
	out[n < size ? n : size - 1] = '\0';
}

static const char *type_name(json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null: return "null";
	case json_type_boolean: return "a boolean";
	case json_type_double:
	case json_type_int: return "a number";
	case json_type_object: return "an object";
	case json_type_array: return "an array";
	case json_type_string: return "a string";
	}
	return "?";
}

static bool is_number(json_object *v)
{
	return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

/* The shortest text that reads back as the same double. */
static void format_double(double v, char *buf, size_t size)
{
	for (int prec = 6; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

static int expect_string(struct ctx *c, const char *ptr, json_object *v, size_t max,
		const char **out)
{
	if (!json_object_is_type(v, json_type_string))
		return fail(c, ptr, false, "expected a string, got %s", type_name(v));
	if ((size_t)json_object_get_string_len(v) > max)
		return fail(c, ptr, false, "longer than %zu bytes", max);
	*out = json_object_get_string(v);
	return 0;
}

/* The keys of section "name" ("stage" → "mode, brir"). */
static void section_keys(const char *section, char *buf, size_t size)
{
	struct iem_param_info info;
	size_t sl = strlen(section), n = 0;
	uint32_t count = iem_param_count();

	buf[0] = '\0';
	for (uint32_t i = 0; i < count; i++) {
		if (iem_param_info(i, &info) < 0)
			continue;
		if (strncmp(info.name, section, sl) != 0 || info.name[sl] != '.' ||
		    strchr(info.name + sl + 1, '.') != NULL)
			continue;
		n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s",
				n ? ", " : "", info.name + sl + 1);
		if (n >= size)
			break;
	}
}

/* Is "name" a section: a prefix of some parameter "name.key"? "eq" is not
 * (it has its own shape). */
static bool is_section(const char *name)
{
	char keys[8];
	if (strcmp(name, "eq") == 0)
		return false;
	section_keys(name, keys, sizeof(keys));
	return keys[0] != '\0';
}

static void list_sections(char *buf, size_t size)
{
	struct iem_param_info info;
	uint32_t count = iem_param_count();
	size_t n = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < count; i++) {
		char sec[32];
		const char *dot;
		if (iem_param_info(i, &info) < 0 || (dot = strchr(info.name, '.')) == NULL)
			continue;
		snprintf(sec, sizeof(sec), "%.*s", (int)(dot - info.name), info.name);
		if (strcmp(sec, "eq") == 0 || strchr(dot + 1, '.') != NULL)
			continue;
		/* once each */
		char pat[40];
		snprintf(pat, sizeof(pat), "\"%s\"", sec);
		if (strstr(buf, pat) != NULL)
			continue;
		n += (size_t)snprintf(buf + n, n < size ? size - n : 0, ", %s", pat);
		if (n >= size)
			break;
	}
}

static int add_setting(struct ctx *c, const char *ptr, const char *name, const char *value)
{
	struct iem_profile *p = c->p;
	char msg[256];
	int r;

	r = iem_params_set(&c->scratch, name, value, msg, sizeof(msg));
	if (r < 0)
		return fail(c, ptr, false, "%s", msg);

	if (p->n_settings == c->cap_settings) {
		uint32_t cap = c->cap_settings ? c->cap_settings * 2 : 16;
		struct iem_profile_setting *s = realloc(p->settings, cap * sizeof(*s));
		if (s == NULL)
			return -ENOMEM;
		p->settings = s;
		c->cap_settings = cap;
	}
	struct iem_profile_setting *s = &p->settings[p->n_settings];
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->value = strdup(value);
	if (s->value == NULL)
		return -ENOMEM;
	p->n_settings++;
	return 0;
}

static bool is_path_param(const char *name)
{
	for (size_t i = 0; i < sizeof(path_params) / sizeof(path_params[0]); i++)
		if (strcmp(name, path_params[i]) == 0)
			return true;
	return false;
}

/* A file named in a profile: absolute, or relative to the profile's
 * directory. It must exist and be readable now, so that a typo shows up
 * when the profile loads, with its line:column, not when audio starts. */
static int resolve_path(struct ctx *c, const char *ptr, const char *value, char *out, size_t size)
{
	int n;

	if (value[0] == '\0')
		return fail(c, ptr, false, "empty file name");
	if (value[0] == '/')
		n = snprintf(out, size, "%s", value);
	else
		n = snprintf(out, size, "%s/%s", c->dir, value);
	if (n < 0 || (size_t)n >= size)
		return fail(c, ptr, false, "file name longer than %zu bytes", size - 1);
	if (access(out, R_OK) < 0)
		return fail(c, ptr, false, "cannot read '%s': %s", out, strerror(errno));
	return 0;
}

/* One parameter value from JSON: its type must match the parameter's. */
static int set_param(struct ctx *c, const char *ptr, const char *name, json_object *v)
{
	struct iem_param_info info;
	char text[IEM_PATH_MAX];
	const char *s;
	int r;

	if (iem_param_find(name, &info) < 0)
		return fail(c, ptr, true, "unknown parameter \"%s\"", name);

	switch (info.type) {
	case IEM_PARAM_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			return fail(c, ptr, false, "expected true or false, got %s", type_name(v));
		snprintf(text, sizeof(text), "%s", json_object_get_boolean(v) ? "true" : "false");
		break;
	case IEM_PARAM_FLOAT:
		if (json_object_is_type(v, json_type_string) &&
		    info.def_string != NULL && strcmp(info.def_string, "auto") == 0) {
			if (strcmp(json_object_get_string(v), "auto") != 0)
				return fail(c, ptr, false, "expected a number or \"auto\", got \"%.40s\"",
						json_object_get_string(v));
			snprintf(text, sizeof(text), "auto");
			break;
		}
		if (!is_number(v))
			return fail(c, ptr, false, "expected a number%s, got %s",
					info.def_string != NULL && strcmp(info.def_string, "auto") == 0 ?
					" or \"auto\"" : "", type_name(v));
		format_double(json_object_get_double(v), text, sizeof(text));
		break;
	case IEM_PARAM_ENUM:
		if (!json_object_is_type(v, json_type_string))
			return fail(c, ptr, false, "expected a string, got %s", type_name(v));
		if ((r = expect_string(c, ptr, v, IEM_PROFILE_STRING_MAX, &s)) < 0)
			return r;
		snprintf(text, sizeof(text), "%s", s);
		break;
	case IEM_PARAM_STRING:
	default:
		if ((r = expect_string(c, ptr, v, IEM_PATH_MAX - 1, &s)) < 0)
			return r;
		if (is_path_param(name)) {
			bool keyword = false;
			for (size_t i = 0; i < sizeof(path_keywords) / sizeof(path_keywords[0]); i++)
				keyword |= strcmp(s, path_keywords[i]) == 0;
			if (!keyword && (r = resolve_path(c, ptr, s, text, sizeof(text))) < 0)
				return r;
			if (keyword)
				snprintf(text, sizeof(text), "%s", s);
		} else {
			snprintf(text, sizeof(text), "%s", s);
		}
		break;
	}
	return add_setting(c, ptr, name, text);
}

static int check_comment(struct ctx *c, const char *ptr, json_object *v)
{
	const char *s;
	return expect_string(c, ptr, v, DESCRIPTION_MAX_BYTES, &s);
}

/* What to do with one member of an object; ptr is the member's pointer. */
typedef int (*member_fn)(struct ctx *c, const char *ptr, const char *key, json_object *v,
		const void *data);

/* Each member of obj in turn: "comment" checked here, any other handed to
 * fn with data. what names obj in "expected …, got …". */
static int check_members(struct ctx *c, const char *ptr, json_object *obj, const char *what,
		member_fn fn, const void *data)
{
	char sub[JSON_POINTER_MAX];
	int r;

	if (!json_object_is_type(obj, json_type_object))
		return fail(c, ptr, false, "expected %s, got %s", what, type_name(obj));
	json_object_object_foreach(obj, key, v) {
		child(sub, sizeof(sub), ptr, key);
		if (strcmp(key, "comment") == 0)
			r = check_comment(c, sub, v);
		else
			r = fn(c, sub, key, v, data);
		if (r < 0)
			return r;
	}
	return 0;
}

/* "angle": 30 in "stage" → stage.angle = 30; data is the section's name. */
static int section_member(struct ctx *c, const char *ptr, const char *key, json_object *v,
		const void *data)
{
	const char *section = data;
	char name[64], keys[256];
	struct iem_param_info info;

	snprintf(name, sizeof(name), "%s.%s", section, key);
	if (strchr(key, '.') != NULL || iem_param_find(name, &info) < 0) {
		section_keys(section, keys, sizeof(keys));
		return fail(c, ptr, true, "unknown member \"%s\" in \"%s\" (known: %s)",
				key, section, keys);
	}
	return set_param(c, ptr, name, v);
}

/* { "angle": 30, … } → stage.angle = 30, … */
static int check_section(struct ctx *c, const char *ptr, const char *section, json_object *obj)
{
	return check_members(c, ptr, obj, "an object", section_member, section);
}

static int params_member(struct ctx *c, const char *ptr, const char *key, json_object *v,
		const void *data)
{
	return set_param(c, ptr, key, v);
}

static int check_params(struct ctx *c, const char *ptr, json_object *obj)
{
	return check_members(c, ptr, obj, "an object", params_member, NULL);
}

/* A band's field; data points at the band's 0-based index. */
static int band_member(struct ctx *c, const char *ptr, const char *key, json_object *v,
		const void *data)
{
	static const char *const fields[] = { "type", "freq", "q", "gain", "channel" };
	const uint32_t *index = data;
	char name[64];
	bool known = false;

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		known |= strcmp(key, fields[i]) == 0;
	if (!known)
		return fail(c, ptr, true,
				"unknown member \"%s\" in a band (known: type, freq, q, gain, channel)",
				key);
	snprintf(name, sizeof(name), "eq.%u.%s", *index + 1, key);
	return set_param(c, ptr, name, v);
}

static int check_band(struct ctx *c, const char *ptr, uint32_t index, json_object *obj)
{
	json_object *type;

	if (!json_object_is_type(obj, json_type_object))
		return fail(c, ptr, false, "expected a band object, got %s", type_name(obj));
	if (!json_object_object_get_ex(obj, "type", &type))
		return fail(c, ptr, false, "a band needs a \"type\" (peaking, lowshelf, highshelf, …)");
	return check_members(c, ptr, obj, "a band object", band_member, &index);
}

static int read_small_file(const char *path, size_t max, char **out, size_t *len);

/* eq.import: a ParametricEQ.txt or a GraphicEQ.txt, read now and turned
 * into settings. */
static int check_import(struct ctx *c, const char *ptr, json_object *v)
{
	char path[IEM_PATH_MAX], name[64], text[64], msg[256];
	struct iem_parse_error perr;
	struct iem_params eq;
	const char *s;
	char *data = NULL;
	size_t len;
	int r;

	if ((r = expect_string(c, ptr, v, IEM_PATH_MAX - 1, &s)) < 0)
		return r;
	if ((r = resolve_path(c, ptr, s, path, sizeof(path))) < 0)
		return r;
	r = read_small_file(path, IEM_PROFILE_FILE_MAX, &data, &len);
	if (r < 0)
		return fail(c, ptr, false, "cannot read '%s': %s", path, strerror(-r));
	iem_params_init(&eq);
	if (strstr(data, "GraphicEQ:") != NULL) {
		/* AutoEq's GraphicEQ.txt: its curve fitted to parametric bands
		 * (the default 10: low shelf, 8 peaking, high shelf) */
		struct iem_fit_config cfg;
		struct iem_fit_result result;
		iem_fit_config_init(&cfg);
		r = iem_graphic_eq_fit(data, len, &cfg, &eq, &result, &perr);
	} else {
		r = iem_apo_parse(data, len, &eq, &perr);
	}
	free(data);
	if (r < 0 && perr.line > 0)
		return fail(c, ptr, false, "%s:%u:%u: %s", path, perr.line, perr.column, perr.message);
	if (r < 0)
		return fail(c, ptr, false, "%s: %s", path, perr.message);

	if (eq.preamp_auto)
		snprintf(text, sizeof(text), "auto");
	else
		format_double(eq.preamp, text, sizeof(text));
	if ((r = add_setting(c, ptr, "eq.preamp", text)) < 0)
		return r;
	for (uint32_t i = 0; i < IEM_MAX_BANDS; i++) {
		static const char *const fields[] = { "type", "freq", "q", "gain", "channel" };
		if (eq.band[i].type == IEM_FILTER_OFF)
			continue;
		for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
			snprintf(name, sizeof(name), "eq.%u.%s", i + 1, fields[f]);
			if (iem_params_get(&eq, name, msg, sizeof(msg)) < 0)
				return fail(c, ptr, false, "internal error: cannot read %s", name);
			if ((r = add_setting(c, ptr, name, msg)) < 0)
				return r;
		}
	}
	return 0;
}

/* "preamp" and "bands" of "eq" ("import" is read before them). */
static int eq_member(struct ctx *c, const char *ptr, const char *key, json_object *v,
		const void *data)
{
	char sub[JSON_POINTER_MAX + 32];
	size_t n;
	int r;

	if (strcmp(key, "preamp") == 0)
		return set_param(c, ptr, "eq.preamp", v);
	if (strcmp(key, "import") == 0)
		return 0;
	if (strcmp(key, "bands") != 0)
		return fail(c, ptr, true,
				"unknown member \"%s\" in \"eq\" (known: preamp, bands, import)", key);
	if (!json_object_is_type(v, json_type_array))
		return fail(c, ptr, false, "expected an array of bands, got %s", type_name(v));
	n = json_object_array_length(v);
	if (n > IEM_MAX_BANDS)
		return fail(c, ptr, false, "%zu bands: at most %d", n, IEM_MAX_BANDS);
	for (size_t i = 0; i < n; i++) {
		snprintf(sub, sizeof(sub), "%s/%zu", ptr, i);
		if ((r = check_band(c, sub, (uint32_t)i, json_object_array_get_idx(v, i))) < 0)
			return r;
	}
	return 0;
}

static int check_eq(struct ctx *c, const char *ptr, json_object *obj)
{
	char sub[JSON_POINTER_MAX];
	json_object *bands = NULL, *import = NULL;
	int r;

	if (!json_object_is_type(obj, json_type_object))
		return fail(c, ptr, false, "expected an object, got %s", type_name(obj));
	json_object_object_get_ex(obj, "bands", &bands);
	json_object_object_get_ex(obj, "import", &import);
	if (bands != NULL && import != NULL) {
		child(sub, sizeof(sub), ptr, "import");
		return fail(c, sub, true, "give either \"bands\" or \"import\", not both");
	}
	/* The imported file first: a "preamp" member overrides the file's. */
	if (import != NULL) {
		child(sub, sizeof(sub), ptr, "import");
		if ((r = check_import(c, sub, import)) < 0)
			return r;
	}
	return check_members(c, ptr, obj, "an object", eq_member, NULL);
}

static bool prop_key_valid(const char *k)
{
	size_t n = strlen(k);
	return n > 0 && n <= 64 &&
		strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static int check_match(struct ctx *c, const char *ptr, json_object *arr)
{
	struct iem_profile *p = c->p;
	char sub[JSON_POINTER_MAX + 32], sub2[JSON_POINTER_MAX];
	size_t n;

	if (!json_object_is_type(arr, json_type_array))
		return fail(c, ptr, false, "expected an array of rules, got %s", type_name(arr));
	n = json_object_array_length(arr);
	if (n > IEM_PROFILE_RULES_MAX)
		return fail(c, ptr, false, "%zu rules: at most %d", n, IEM_PROFILE_RULES_MAX);
	p->rules = calloc(n ? n : 1, sizeof(*p->rules));
	if (p->rules == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *rule = json_object_array_get_idx(arr, i);
		struct iem_profile_rule *r = &p->rules[i];
		int count;

		snprintf(sub, sizeof(sub), "%s/%zu", ptr, i);
		if (!json_object_is_type(rule, json_type_object))
			return fail(c, sub, false,
					"expected a rule object ({ \"property\": \"glob\", … }), got %s",
					type_name(rule));
		count = json_object_object_length(rule);
		if (count == 0)
			return fail(c, sub, false, "an empty rule would match every device");
		if (count > IEM_PROFILE_RULE_PROPS_MAX)
			return fail(c, sub, false, "%d properties: at most %d", count,
					IEM_PROFILE_RULE_PROPS_MAX);
		r->props = calloc((size_t)count, sizeof(*r->props));
		if (r->props == NULL)
			return -ENOMEM;
		p->n_rules = (uint32_t)i + 1;
		json_object_object_foreach(rule, key, v) {
			const char *glob;
			int e;
			child(sub2, sizeof(sub2), sub, key);
			if (!prop_key_valid(key))
				return fail(c, sub2, true,
						"\"%.64s\" is not a property name ([A-Za-z0-9._-], at most 64)",
						key);
			if ((e = expect_string(c, sub2, v, IEM_PROFILE_STRING_MAX, &glob)) < 0)
				return e;
			r->props[r->n_props].key = strdup(key);
			r->props[r->n_props].glob = strdup(glob);
			if (r->props[r->n_props].key == NULL || r->props[r->n_props].glob == NULL) {
				r->n_props++;
				return -ENOMEM;
			}
			r->n_props++;
		}
	}
	return 0;
}

static int trim_member(struct ctx *c, const char *ptr, const char *key, json_object *v,
		const void *data)
{
	double g;

	if (strcmp(key, "gain") != 0)
		return fail(c, ptr, true, "unknown member \"%s\" in \"trim\" (known: gain)", key);
	if (!is_number(v))
		return fail(c, ptr, false, "expected a number (dB), got %s", type_name(v));
	g = json_object_get_double(v);
	if (!(fabs(g) <= IEM_PROFILE_TRIM_MAX))
		return fail(c, ptr, false, "trim %g dB is out of range (-%g … %g dB)", g,
				IEM_PROFILE_TRIM_MAX, IEM_PROFILE_TRIM_MAX);
	c->p->trim_gain = g;
	return 0;
}

static int check_trim(struct ctx *c, const char *ptr, json_object *obj)
{
	return check_members(c, ptr, obj, "an object", trim_member, NULL);
}

static int check_root(struct ctx *c, json_object *root)
{
	struct iem_profile *p = c->p;
	char sub[JSON_POINTER_MAX], sections[160];
	json_object *v;
	const char *s;
	int64_t version;
	int r;

	if (!json_object_is_type(root, json_type_object))
		return fail(c, "", false, "a profile is a JSON object, got %s", type_name(root));

	if (!json_object_object_get_ex(root, "iemstage", &v))
		return fail(c, "", false, "missing member \"iemstage\": the format version, 1");
	if (!json_object_is_type(v, json_type_int))
		return fail(c, "/iemstage", false, "expected the format version (an integer), got %s",
				type_name(v));
	version = json_object_get_int64(v);
	if (version > IEM_PROFILE_VERSION)
		return fail(c, "/iemstage", false,
				"format version %lld is newer than this iemstage reads (%d)",
				(long long)version, IEM_PROFILE_VERSION);
	if (version < 1)
		return fail(c, "/iemstage", false, "format version %lld: versions start at 1",
				(long long)version);

	if (!json_object_object_get_ex(root, "kind", &v))
		return fail(c, "", false,
				"missing member \"kind\": \"device\", \"listening\" or \"defaults\"");
	if ((r = expect_string(c, "/kind", v, 32, &s)) < 0)
		return r;
	if (strcmp(s, "device") == 0)
		p->kind = IEM_PROFILE_DEVICE;
	else if (strcmp(s, "listening") == 0)
		p->kind = IEM_PROFILE_LISTENING;
	else if (strcmp(s, "defaults") == 0)
		p->kind = IEM_PROFILE_DEFAULTS;
	else
		return fail(c, "/kind", false,
				"unknown kind \"%.32s\": \"device\", \"listening\" or \"defaults\"", s);

	json_object_object_foreach(root, key, val) {
		bool dev = p->kind == IEM_PROFILE_DEVICE;
		bool dflt = p->kind == IEM_PROFILE_DEFAULTS;

		child(sub, sizeof(sub), "", key);
		if (strcmp(key, "iemstage") == 0 || strcmp(key, "kind") == 0)
			continue;
		if (strcmp(key, "comment") == 0 || strcmp(key, "description") == 0) {
			r = check_comment(c, sub, val);
		} else if (strcmp(key, "name") == 0) {
			if ((r = expect_string(c, sub, val, NAME_MAX_BYTES, &s)) == 0) {
				free(p->name);
				p->name = strdup(s);
				r = p->name ? 0 : -ENOMEM;
			}
		} else if (strcmp(key, "match") == 0 && dev) {
			r = check_match(c, sub, val);
		} else if (strcmp(key, "priority") == 0 && dev) {
			int64_t prio;
			if (!json_object_is_type(val, json_type_int))
				return fail(c, sub, false, "expected an integer, got %s", type_name(val));
			prio = json_object_get_int64(val);
			if (prio < -IEM_PROFILE_PRIORITY_MAX || prio > IEM_PROFILE_PRIORITY_MAX)
				return fail(c, sub, false, "priority %lld is out of range (-%d … %d)",
						(long long)prio, IEM_PROFILE_PRIORITY_MAX,
						IEM_PROFILE_PRIORITY_MAX);
			p->priority = (int32_t)prio;
			r = 0;
		} else if (strcmp(key, "listening") == 0 && (dev || dflt)) {
			if ((r = expect_string(c, sub, val, IEM_PROFILE_STRING_MAX, &s)) < 0)
				return r;
			if (!iem_profile_id_valid(s))
				return fail(c, sub, false,
						"\"%.64s\" is not a profile id ([A-Za-z0-9._-], 1 … 64)", s);
			snprintf(p->listening, sizeof(p->listening), "%s", s);
		} else if (strcmp(key, "process") == 0 && dflt) {
			if (!json_object_is_type(val, json_type_boolean))
				return fail(c, sub, false, "expected true or false, got %s", type_name(val));
			p->process = json_object_get_boolean(val);
			r = 0;
		} else if (strcmp(key, "eq") == 0 && (dev || dflt)) {
			r = check_eq(c, sub, val);
		} else if (strcmp(key, "trim") == 0 && (dev || dflt)) {
			r = check_trim(c, sub, val);
		} else if (strcmp(key, "params") == 0) {
			r = check_params(c, sub, val);
		} else if (is_section(key)) {
			r = check_section(c, sub, key, val);
		} else {
			list_sections(sections, sizeof(sections));
			if (dev)
				return fail(c, sub, true,
						"unknown member \"%s\" in a device profile (known: name, description, match, priority, listening, eq, trim, params%s)",
						key, sections);
			if (dflt)
				return fail(c, sub, true,
						"unknown member \"%s\" in a defaults profile (known: name, description, process, listening, eq, trim, params%s)",
						key, sections);
			return fail(c, sub, true,
					"unknown member \"%s\" in a listening preset (known: name, description, params%s)",
					key, sections);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

struct iem_profile *iem_profile_free(struct iem_profile *p)
{
	if (p == NULL)
		return NULL;
	free(p->name);
	free(p->path);
	for (uint32_t i = 0; i < p->n_rules; i++) {
		for (uint32_t k = 0; k < p->rules[i].n_props; k++) {
			free(p->rules[i].props[k].key);
			free(p->rules[i].props[k].glob);
		}
		free(p->rules[i].props);
	}
	free(p->rules);
	for (uint32_t i = 0; i < p->n_settings; i++)
		free(p->settings[i].value);
	free(p->settings);
	free(p);
	return NULL;
}

static void id_from_file(const char *file, char *id, size_t size)
{
	const char *base = strrchr(file, '/');
	size_t n;

	base = base ? base + 1 : file;
	n = strlen(base);
	if (n > 5 && strcmp(base + n - 5, ".json") == 0)
		n -= 5;
	snprintf(id, size, "%.*s", (int)n, base);
}

int iem_profile_parse(const char *text, size_t len, const char *file, const char *id,
		struct iem_profile **out, struct iem_profile_error *err)
{
	struct ctx c = { .text = text, .len = len, .file = file ? file : "", .err = err };
	struct json_tokener *tok = NULL;
	json_object *root = NULL;
	char idbuf[IEM_PROFILE_ID_MAX + 64];
	size_t start = 0, err_off = 0;
	int r;

	*out = NULL;
	set_place(err, c.file);
	if (len > IEM_PROFILE_FILE_MAX) {
		snprintf(err->message, sizeof(err->message), "larger than %u bytes", IEM_PROFILE_FILE_MAX);
		return -EFBIG;
	}
	if (id == NULL) {
		id_from_file(c.file, idbuf, sizeof(idbuf));
		id = idbuf;
	}
	if (!iem_profile_id_valid(id)) {
		snprintf(err->message, sizeof(err->message),
				"\"%.64s\" is not a profile id: name the file <id>.json, id from [A-Za-z0-9._-], 1 … 64 characters",
				id);
		return -EINVAL;
	}
	if (file != NULL && strchr(file, '/') != NULL) {
		snprintf(c.dir, sizeof(c.dir), "%.*s", (int)(strrchr(file, '/') - file), file);
		if (c.dir[0] == '\0')
			snprintf(c.dir, sizeof(c.dir), "/");
	} else {
		snprintf(c.dir, sizeof(c.dir), ".");
	}

	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		start = 3;
	r = json_scan(text, len, start, &c.scan, &err_off, err->message, sizeof(err->message));
	if (r < 0) {
		json_offset_to_line(text, len, err_off, &err->line, &err->column);
		return r;
	}

	tok = json_tokener_new_ex(JSON_DEPTH_MAX + 2);
	if (tok == NULL) {
		r = -ENOMEM;
		goto error;
	}
	root = json_tokener_parse_ex(tok, text + start, (int)(len - start));
	if (root == NULL) {
		enum json_tokener_error jerr = json_tokener_get_error(tok);
		json_offset_to_line(text, len, start + json_tokener_get_parse_end(tok),
				&err->line, &err->column);
		snprintf(err->message, sizeof(err->message), "%s", json_tokener_error_desc(jerr));
		r = -EINVAL;
		goto error;
	}

	c.p = calloc(1, sizeof(*c.p));
	if (c.p == NULL) {
		r = -ENOMEM;
		goto error;
	}
	snprintf(c.p->id, sizeof(c.p->id), "%.64s", id);
	c.p->path = strdup(file ? file : "");
	if (c.p->path == NULL) {
		r = -ENOMEM;
		goto error;
	}
	iem_params_init(&c.scratch);
	if ((r = check_root(&c, root)) < 0)
		goto error;
	if (c.p->name == NULL && (c.p->name = strdup(id)) == NULL) {
		r = -ENOMEM;
		goto error;
	}

	json_object_put(root);
	json_tokener_free(tok);
	json_scan_clear(&c.scan);
	*out = c.p;
	return 0;

error:
	if (r == -ENOMEM) {
		set_place(err, c.file);
		snprintf(err->message, sizeof(err->message), "out of memory");
	}
	iem_profile_free(c.p);
	json_object_put(root);
	json_tokener_free(tok);
	json_scan_clear(&c.scan);
	return r;
}

/* Reads a whole regular file of at most max bytes. */
static int read_fd(int fd, size_t max, char **out, size_t *len)
{
	struct stat st;
	char *buf;
	size_t n = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL)
		return -ENOMEM;
	while (n < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + n, (size_t)st.st_size - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int e = -errno;
			free(buf);
			return e;
		}
		if (k == 0)
			break;		/* shrank while reading: take what is there */
		n += (size_t)k;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static int read_small_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r;
	if (fd < 0)
		return -errno;
	r = read_fd(fd, max, out, len);
	close(fd);
	return r;
}

int iem_profile_load(const char *path, struct iem_profile **out, struct iem_profile_error *err)
{
	struct stat st;
	char *data = NULL;
	size_t len = 0;
	int fd, r;

	*out = NULL;
	set_place(err, path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		snprintf(err->message, sizeof(err->message), "%s",
				r == -ELOOP ? "is a symbolic link: profiles are read as regular files only"
				: strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err->message, sizeof(err->message), "%s", strerror(-r));
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err->message, sizeof(err->message), "not a regular file");
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > IEM_PROFILE_FILE_MAX) {
		snprintf(err->message, sizeof(err->message), "%lld bytes: profiles are at most %u",
				(long long)st.st_size, IEM_PROFILE_FILE_MAX);
		close(fd);
		return -EFBIG;
	}
	/* Group-writable is fine for the caller's own group (a user-private
	 * group under umask 002), not for any other. */
	if ((st.st_mode & S_IWOTH) || ((st.st_mode & S_IWGRP) && st.st_gid != getegid())) {
		snprintf(err->message, sizeof(err->message),
				"writable by group or others (mode %03o): refused", st.st_mode & 0777);
		close(fd);
		return -EPERM;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err->message, sizeof(err->message),
				"owned by uid %u, neither root nor you: refused", (unsigned)st.st_uid);
		close(fd);
		return -EPERM;
	}
	r = read_fd(fd, IEM_PROFILE_FILE_MAX, &data, &len);
	close(fd);
	if (r < 0) {
		snprintf(err->message, sizeof(err->message), "%s", strerror(-r));
		return r;
	}
	r = iem_profile_parse(data, len, path, NULL, out, err);
	free(data);
	return r;
}

int iem_profile_apply(const struct iem_profile *p, struct iem_params *params,
		struct iem_profile_error *err)
{
	struct iem_params next = *params;
	char msg[256];

	for (uint32_t i = 0; i < p->n_settings; i++) {
		if (iem_params_set(&next, p->settings[i].name, p->settings[i].value,
					msg, sizeof(msg)) < 0) {
			set_place(err, p->path);
			snprintf(err->message, sizeof(err->message), "%s", msg);
			return -EINVAL;
		}
	}
	*params = next;
	return 0;
}

int iem_profile_match(const struct iem_profile *p, iem_profile_get_prop get, void *data)
{
	int best = -1;

	for (uint32_t i = 0; i < p->n_rules; i++) {
		const struct iem_profile_rule *r = &p->rules[i];
		bool all = r->n_props > 0;
		for (uint32_t k = 0; k < r->n_props && all; k++) {
			const char *v = get(data, r->props[k].key);
			all = v != NULL && fnmatch(r->props[k].glob, v, 0) == 0;
		}
		if (all && (int)r->n_props > best)
			best = (int)r->n_props;
	}
	return best;
}

void iem_profile_error_format(const struct iem_profile_error *e, char *buf, size_t size)
{
	int n;

	if (e->line > 0)
		n = snprintf(buf, size, "%s:%u:%u: ", e->file, e->line, e->column);
	else if (e->file[0])
		n = snprintf(buf, size, "%s: ", e->file);
	else
		n = 0;
	if (n < 0 || (size_t)n >= size)
		return;
	if (e->pointer[0])
		snprintf(buf + n, size - (size_t)n, "%s: %s", e->pointer, e->message);
	else
		snprintf(buf + n, size - (size_t)n, "%s", e->message);
}
