/* SPDX-License-Identifier: MIT */
/*
 * The profile store (search path, first wins by id, last good version
 * kept), resolving a profile to parameters, and writing profiles.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config.h"
#include "iem-profile.h"

struct entry {
	struct iem_profile *profile;
	int64_t from;			/* reload only: index of the old entry it came from, or -1 */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct iem_profile_store {
	char **dirs;
	struct entry *entries;		/* sorted by id */
	uint32_t n_entries;
};

static char *join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *s = malloc(n);
	if (s != NULL)
		snprintf(s, n, "%s/%s", a, b);
	return s;
}

void iem_profile_dirs_free(char **dirs)
{
	if (dirs == NULL)
		return;
	for (char **d = dirs; *d; d++)
		free(*d);
	free(dirs);
}

static char **dirs_copy(const char *const *dirs)
{
	size_t n = 0;
	char **out;

	while (dirs[n])
		n++;
	out = calloc(n + 1, sizeof(*out));
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if ((out[i] = strdup(dirs[i])) == NULL) {
			iem_profile_dirs_free(out);
			return NULL;
		}
	}
	return out;
}

/* $IEMSTAGE_PROFILE_PATH as a list; NULL with errno 0 when unset. */
static char **env_dirs(void)
{
	const char *env = getenv("IEMSTAGE_PROFILE_PATH");
	char *copy, *save = NULL, **out;
	size_t n = 0;

	errno = 0;
	if (env == NULL || env[0] == '\0')
		return NULL;
	copy = strdup(env);
	if (copy == NULL)
		return NULL;
	out = calloc(strlen(env) / 2 + 2, sizeof(*out));
	if (out == NULL) {
		free(copy);
		return NULL;
	}
	for (char *tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
		if ((out[n++] = strdup(tok)) == NULL) {
			free(copy);
			iem_profile_dirs_free(out);
			errno = ENOMEM;
			return NULL;
		}
	}
	free(copy);
	return out;
}

/* a NULL-terminated array of n strings, NULL (all freed) if one is NULL */
static char **dirs_checked(char **out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (out[i] == NULL) {
			for (size_t k = 0; k < n; k++)
				free(out[k]);
			free(out);
			return NULL;
		}
	}
	return out;
}

/* $IEMSTAGE_PROFILE_PATH's directories, else base/sub (when base is an
 * absolute path), then the administrator's and the shipped ones. */
static char **search_dirs(const char *base, const char *sub)
{
	char **out = env_dirs();
	size_t n = 0;

	if (out != NULL || errno != 0)
		return out;
	out = calloc(4, sizeof(*out));
	if (out == NULL)
		return NULL;
	if (base != NULL && base[0] == '/')
		out[n++] = join(base, sub);
	out[n++] = strdup(IEM_SYSCONFDIR "/iemstage/profiles");
	out[n++] = strdup(IEM_DATADIR "/profiles");
	return dirs_checked(out, n);
}

char **iem_profile_default_dirs(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");

	if (xdg != NULL && xdg[0] == '/')
		return search_dirs(xdg, "iemstage/profiles");
	return search_dirs(getenv("HOME"), ".config/iemstage/profiles");
}

char **iem_profile_system_dirs(const char *state_dir)
{
	return search_dirs(state_dir, "profiles");
}

struct iem_profile_store *iem_profile_store_new(const char *const *dirs)
{
	struct iem_profile_store *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->dirs = dirs ? dirs_copy(dirs) : iem_profile_default_dirs();
	if (s->dirs == NULL) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	return s;
}

static void entries_free(struct entry *e, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		iem_profile_free(e[i].profile);
	free(e);
}

struct iem_profile_store *iem_profile_store_free(struct iem_profile_store *s)
{
	if (s == NULL)
		return NULL;
	entries_free(s->entries, s->n_entries);
	iem_profile_dirs_free(s->dirs);
	free(s);
	return NULL;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	return strcmp(x->profile->id, y->profile->id);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static struct entry *find_id(struct entry *e, uint32_t n, const char *id)
{
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(e[i].profile->id, id) == 0)
			return &e[i];
	return NULL;
}

static struct entry *find_path(struct entry *e, uint32_t n, const char *path)
{
	for (uint32_t i = 0; i < n; i++)
		if (e[i].profile != NULL && strcmp(e[i].profile->path, path) == 0)
			return &e[i];
	return NULL;
}

/* The *.json names of a directory, sorted (for a stable order of error
 * reports); hidden files (our own temporary files among them) skipped. */
static int list_dir(const char *dir, char ***names, size_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t n = 0, cap = 0;

	*names = NULL;
	*count = 0;
	if (d == NULL)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			char **nv = realloc(v, nc * sizeof(*nv));
			if (nv == NULL)
				goto nomem;
			v = nv;
			cap = nc;
		}
		if ((v[n] = strdup(de->d_name)) == NULL)
			goto nomem;
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_name);
	*names = v;
	*count = n;
	return 0;
nomem:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	closedir(d);
	return -ENOMEM;
}

int iem_profile_store_reload(struct iem_profile_store *s, iem_profile_error_cb cb, void *data)
{
	struct entry *next = NULL;
	uint32_t n_next = 0, cap = 0;
	int r = 0;

	for (char **dir = s->dirs; *dir; dir++) {
		char **names;
		size_t count;

		if ((r = list_dir(*dir, &names, &count)) < 0) {
			struct iem_profile_error e = { 0 };
			snprintf(e.file, sizeof(e.file), "%s", *dir);
			snprintf(e.message, sizeof(e.message), "cannot read the directory: %s",
					strerror(-r));
			if (cb)
				cb(data, &e);
			r = 0;
			continue;
		}
		for (size_t i = 0; i < count; i++) {
			struct iem_profile_error e;
			struct iem_profile *p = NULL;
			struct entry *old, fresh = { .from = -1 };
			char id[IEM_PROFILE_ID_MAX + 64], *path;
			struct stat st;

			snprintf(id, sizeof(id), "%.*s", (int)(strlen(names[i]) - 5), names[i]);
			path = join(*dir, names[i]);
			free(names[i]);
			names[i] = NULL;
			if (path == NULL) {
				r = -ENOMEM;
				continue;
			}
			/* First wins by id. A broken file shadows the next
			 * directory's only while it has a good version in force. */
			if (!iem_profile_id_valid(id) || find_id(next, n_next, id) != NULL) {
				if (!iem_profile_id_valid(id) && cb) {
					memset(&e, 0, sizeof(e));
					snprintf(e.file, sizeof(e.file), "%s", path);
					snprintf(e.message, sizeof(e.message),
							"\"%s\" is not a profile id ([A-Za-z0-9._-], 1 … 64): file ignored",
							id);
					cb(data, &e);
				}
				free(path);
				continue;
			}
			old = find_path(s->entries, s->n_entries, path);
			if (lstat(path, &st) == 0 && old != NULL && old->dev == st.st_dev &&
			    old->ino == st.st_ino && old->size == st.st_size &&
			    old->mtime.tv_sec == st.st_mtim.tv_sec &&
			    old->mtime.tv_nsec == st.st_mtim.tv_nsec) {
				fresh = *old;
				fresh.from = old - s->entries;
				old->profile = NULL;
			} else if (iem_profile_load(path, &p, &e) == 0) {
				fresh.profile = p;
				fresh.dev = st.st_dev;
				fresh.ino = st.st_ino;
				fresh.size = st.st_size;
				fresh.mtime = st.st_mtim;
			} else {
				if (cb)
					cb(data, &e);
				if (old != NULL) {
					/* Keep the last good version in force. */
					fresh = *old;
					fresh.from = old - s->entries;
					old->profile = NULL;
				}
			}
			free(path);
			if (fresh.profile == NULL)
				continue;
			if (n_next == cap) {
				uint32_t nc = cap ? cap * 2 : 16;
				struct entry *ne = realloc(next, nc * sizeof(*ne));
				if (ne == NULL) {
					if (fresh.from >= 0)
						s->entries[fresh.from].profile = fresh.profile;
					else
						iem_profile_free(fresh.profile);
					r = -ENOMEM;
					continue;
				}
				next = ne;
				cap = nc;
			}
			next[n_next++] = fresh;
		}
		free(names);
	}
	if (r < 0) {
		/* Out of memory half-way: give back what came from the old
		 * set and keep it. */
		for (uint32_t i = 0; i < n_next; i++) {
			if (next[i].from >= 0) {
				s->entries[next[i].from].profile = next[i].profile;
				next[i].profile = NULL;
			}
		}
		entries_free(next, n_next);
		return r;
	}
	if (n_next > 1)
		qsort(next, n_next, sizeof(*next), cmp_entry);
	entries_free(s->entries, s->n_entries);
	s->entries = next;
	s->n_entries = n_next;
	return (int)n_next;
}

uint32_t iem_profile_store_count(const struct iem_profile_store *s)
{
	return s->n_entries;
}

const struct iem_profile *iem_profile_store_get_index(const struct iem_profile_store *s,
		uint32_t index)
{
	return index < s->n_entries ? s->entries[index].profile : NULL;
}

const struct iem_profile *iem_profile_store_get(const struct iem_profile_store *s, const char *id)
{
	for (uint32_t i = 0; i < s->n_entries; i++)
		if (strcmp(s->entries[i].profile->id, id) == 0)
			return s->entries[i].profile;
	return NULL;
}

const struct iem_profile *iem_profile_store_find_device(const struct iem_profile_store *s,
		iem_profile_get_prop get, void *data)
{
	const struct iem_profile *best = NULL;
	int best_score = -1;

	/* entries are sorted by id, so the first of equals wins the last tie */
	for (uint32_t i = 0; i < s->n_entries; i++) {
		const struct iem_profile *p = s->entries[i].profile;
		int score;
		if (p->kind != IEM_PROFILE_DEVICE)
			continue;
		score = iem_profile_match(p, get, data);
		if (score < 0)
			continue;
		if (best == NULL || score > best_score ||
		    (score == best_score && p->priority > best->priority)) {
			best = p;
			best_score = score;
		}
	}
	return best;
}

int iem_profile_store_resolve(const struct iem_profile_store *s, const struct iem_profile *p,
		struct iem_params *params, struct iem_profile_error *err)
{
	return iem_profile_store_resolve_with(s, p, NULL, params, err);
}

int iem_profile_store_resolve_with(const struct iem_profile_store *s, const struct iem_profile *p,
		const char *listening, struct iem_params *params, struct iem_profile_error *err)
{
	struct iem_params next;
	int r;

	if (listening == NULL)
		listening = p->listening;
	iem_params_init(&next);
	if (p->kind != IEM_PROFILE_LISTENING && listening[0]) {
		const struct iem_profile *lp = s ? iem_profile_store_get(s, listening) : NULL;
		if (lp == NULL || lp->kind != IEM_PROFILE_LISTENING) {
			memset(err, 0, sizeof(*err));
			snprintf(err->file, sizeof(err->file), "%s", p->path);
			snprintf(err->pointer, sizeof(err->pointer), "/listening");
			snprintf(err->message, sizeof(err->message),
					lp == NULL ? "no listening preset \"%s\" in the search path"
					: "\"%s\" is not a listening preset", listening);
			return -ENOENT;
		}
		if ((r = iem_profile_apply(lp, &next, err)) < 0)
			return r;
	}
	if ((r = iem_profile_apply(p, &next, err)) < 0)
		return r;
	if (p->trim_gain != 0.0) {
		double g = next.output_gain + p->trim_gain;
		next.output_gain = g < IEM_OUTPUT_GAIN_MIN ? IEM_OUTPUT_GAIN_MIN :
			g > IEM_OUTPUT_GAIN_MAX ? IEM_OUTPUT_GAIN_MAX : g;
	}
	*params = next;
	return 0;
}

/* ---- writing ---------------------------------------------------------- */

static json_object *param_value(const struct iem_param_info *info, const char *text)
{
	if (info->type == IEM_PARAM_BOOL)
		return json_object_new_boolean(strcmp(text, "true") == 0);
	if (info->type == IEM_PARAM_FLOAT && strcmp(text, "auto") != 0)
		return json_object_new_double_s(strtod(text, NULL), text);
	return json_object_new_string(text);
}

static int add(json_object *obj, const char *key, json_object *v)
{
	if (v == NULL)
		return -ENOMEM;
	if (json_object_object_add(obj, key, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static int format_eq(json_object *root, const struct iem_params *params)
{
	static const char *const fields[] = { "type", "freq", "q", "gain", "channel" };
	json_object *eq = json_object_new_object(), *bands = json_object_new_array();
	struct iem_param_info info;
	char name[64], text[IEM_PATH_MAX];
	int r = -ENOMEM;

	if (eq == NULL || bands == NULL)
		goto error;
	iem_params_get(params, "eq.preamp", text, sizeof(text));
	info.type = IEM_PARAM_FLOAT;
	if ((r = add(eq, "preamp", param_value(&info, text))) < 0)
		goto error;
	for (uint32_t i = 0; i < IEM_MAX_BANDS; i++) {
		json_object *band;
		if (params->band[i].type == IEM_FILTER_OFF)
			continue;
		if ((band = json_object_new_object()) == NULL ||
		    json_object_array_add(bands, band) < 0) {
			json_object_put(band);
			r = -ENOMEM;
			goto error;
		}
		for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
			snprintf(name, sizeof(name), "eq.%u.%s", i + 1, fields[f]);
			iem_params_get(params, name, text, sizeof(text));
			if (strcmp(fields[f], "channel") == 0 && strcmp(text, "both") == 0)
				continue;
			info.type = f == 0 || f == 4 ? IEM_PARAM_ENUM : IEM_PARAM_FLOAT;
			if ((r = add(band, fields[f], param_value(&info, text))) < 0)
				goto error;
		}
	}
	if ((r = add(eq, "bands", bands)) < 0) {
		bands = NULL;
		goto error;
	}
	return add(root, "eq", eq);
error:
	json_object_put(bands);
	json_object_put(eq);
	return r;
}

void iem_profile_glob_escape(const char *value, char *buf, size_t size)
{
	size_t n = 0;
	if (size == 0)
		return;
	for (; *value && n + 2 < size; value++) {
		if (strchr("*?[]\\", *value) != NULL)
			buf[n++] = '\\';
		buf[n++] = *value;
	}
	buf[n] = '\0';
}

char *iem_profile_format_device(const struct iem_params *params, const char *name,
		const char *listening, const char *const *match)
{
	json_object *root = json_object_new_object();
	struct iem_params defaults;
	struct iem_param_info info;
	uint32_t count = iem_param_count();
	char *out = NULL;
	int r;

	if (root == NULL)
		goto nomem;
	if (add(root, "iemstage", json_object_new_int(IEM_PROFILE_VERSION)) < 0 ||
	    add(root, "kind", json_object_new_string("device")) < 0)
		goto nomem;
	if (name != NULL && add(root, "name", json_object_new_string(name)) < 0)
		goto nomem;
	{
		json_object *rules = json_object_new_array(), *rule;
		if (add(root, "match", rules) < 0)
			goto nomem;
		if (match != NULL && match[0] != NULL) {
			if ((rule = json_object_new_object()) == NULL ||
			    json_object_array_add(rules, rule) < 0) {
				json_object_put(rule);
				goto nomem;
			}
			for (size_t i = 0; match[i] != NULL && match[i + 1] != NULL; i += 2)
				if (add(rule, match[i], json_object_new_string(match[i + 1])) < 0)
					goto nomem;
		}
	}
	if (listening != NULL && add(root, "listening", json_object_new_string(listening)) < 0)
		goto nomem;
	if ((r = format_eq(root, params)) < 0)
		goto nomem;

	/* Every other parameter that is not at its default, by section. */
	iem_params_init(&defaults);
	for (uint32_t i = 0; i < count; i++) {
		char text[IEM_PATH_MAX], def[IEM_PATH_MAX], section[32];
		const char *dot;
		json_object *sec;

		if (iem_param_info(i, &info) < 0 || strncmp(info.name, "eq.", 3) == 0 ||
		    strcmp(info.name, "bypass") == 0 || (dot = strchr(info.name, '.')) == NULL)
			continue;
		iem_params_get(params, info.name, text, sizeof(text));
		iem_params_get(&defaults, info.name, def, sizeof(def));
		if (strcmp(text, def) == 0)
			continue;
		snprintf(section, sizeof(section), "%.*s", (int)(dot - info.name), info.name);
		if (!json_object_object_get_ex(root, section, &sec)) {
			if (add(root, section, sec = json_object_new_object()) < 0)
				goto nomem;
		}
		if (add(sec, dot + 1, param_value(&info, text)) < 0)
			goto nomem;
	}

	const char *s = json_object_to_json_string_ext(root,
			JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			JSON_C_TO_STRING_PRETTY_TAB | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s == NULL)
		goto nomem;
	size_t n = strlen(s);
	out = malloc(n + 2);
	if (out == NULL)
		goto nomem;
	memcpy(out, s, n);
	out[n] = '\n';
	out[n + 1] = '\0';
	json_object_put(root);
	return out;
nomem:
	json_object_put(root);
	errno = ENOMEM;
	return NULL;
}

int iem_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	char dir[IEM_PATH_MAX], tmp[IEM_PATH_MAX + 16];
	const char *slash = strrchr(path, '/'), *base;
	const char *p = data;
	int fd = -1, dfd = -1, r;

	if (slash != NULL) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
		if (dir[0] == '\0')
			snprintf(dir, sizeof(dir), "/");
		base = slash + 1;
	} else {
		snprintf(dir, sizeof(dir), ".");
		base = path;
	}
	if (base[0] == '\0')
		return -EINVAL;
	r = snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, base);
	if (r < 0 || (size_t)r >= sizeof(tmp))
		return -ENAMETOOLONG;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		close(dfd);
		return r;
	}
	if (fchmod(fd, mode) < 0)
		goto fail;
	while (len > 0) {
		ssize_t k = write(fd, p, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			goto fail;
		p += k;
		len -= (size_t)k;
	}
	if (fsync(fd) < 0)
		goto fail;
	r = close(fd);
	fd = -1;
	if (r < 0)
		goto fail;
	if (rename(tmp, path) < 0)
		goto fail;
	if (fsync(dfd) < 0 && errno != EINVAL) {
		/* renamed already: the new file is in place, only durability is in doubt */
		r = -errno;
		close(dfd);
		return r;
	}
	close(dfd);
	return 0;
fail:
	r = -errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	close(dfd);
	return r;
}

/* ---- the tools' --profile argument ------------------------------------ */

struct arg_errors {
	const char *id;
	char *err;
	size_t size;
	bool reported;
};

static void on_arg_error(void *data, const struct iem_profile_error *e)
{
	struct arg_errors *ae = data;
	const char *base = strrchr(e->file, '/');
	size_t n = strlen(ae->id);

	base = base ? base + 1 : e->file;
	if (ae->reported || n == 0 || strncmp(base, ae->id, n) != 0 || strcmp(base + n, ".json") != 0)
		return;
	iem_profile_error_format(e, ae->err, ae->size);
	ae->reported = true;
}

int iem_profile_resolve_arg(const char *arg, struct iem_params *params,
		struct iem_profile_summary *summary, char *err, size_t size)
{
	size_t len = strlen(arg);
	bool is_file = strchr(arg, '/') != NULL || (len > 5 && strcmp(arg + len - 5, ".json") == 0);
	struct arg_errors ae = { .id = is_file ? "" : arg, .err = err, .size = size };
	struct iem_profile_store *store;
	struct iem_profile *own = NULL;
	const struct iem_profile *prof;
	struct iem_profile_error e;
	int r;

	store = iem_profile_store_new(NULL);
	if (store == NULL) {
		snprintf(err, size, "%s", strerror(errno));
		return -ENOMEM;
	}
	iem_profile_store_reload(store, on_arg_error, &ae);
	if (is_file) {
		if ((r = iem_profile_load(arg, &own, &e)) < 0) {
			iem_profile_error_format(&e, err, size);
			goto done;
		}
		prof = own;
	} else if (!iem_profile_id_valid(arg)) {
		snprintf(err, size, "--profile: '%s' is neither a file nor a profile id", arg);
		r = -EINVAL;
		goto done;
	} else if ((prof = iem_profile_store_get(store, arg)) == NULL) {
		if (!ae.reported)
			snprintf(err, size,
					"no profile '%s' in the search path (see the README's Profiles section)",
					arg);
		r = -ENOENT;
		goto done;
	}
	if ((r = iem_profile_store_resolve(store, prof, params, &e)) < 0) {
		iem_profile_error_format(&e, err, size);
		goto done;
	}
	if (summary != NULL) {
		snprintf(summary->id, sizeof(summary->id), "%s", prof->id);
		snprintf(summary->listening, sizeof(summary->listening), "%s", prof->listening);
		summary->kind = prof->kind;
		summary->process = prof->process;
	}
	r = 0;
done:
	iem_profile_free(own);
	iem_profile_store_free(store);
	return r;
}
