/* SPDX-License-Identifier: MIT */
/*
 * Profiles: the strict JSON format (v1), its loader, the search path and the
 * store that keeps the last good version of every profile.
 *
 * Three kinds of file, one format (README "Profiles" has the user's view,
 * config/iemstage-profile.schema.json the schema):
 *
 *   device     match rules on device properties, the correction EQ, the
 *              listening preset to use, per-device overrides and a trim
 *   listening  the stage: mode, HRTF, speakers, room, crossfeed; output gain
 *   defaults   what devices no device profile matches get (normally nothing)
 *
 * Everything maps onto the flat parameter names of iem_params_set(): a
 * section object { "stage": { "angle": 30 } } is the parameter stage.angle;
 * "params" takes flat names directly. A profile is checked completely when
 * loaded: every value goes through iem_params_set() on a scratch set, so a
 * loaded profile always applies.
 *
 * Nothing here touches the real-time path; none of it is RT-safe.
 */
#ifndef IEM_PROFILE_H
#define IEM_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iem-dsp.h"

#define IEM_PROFILE_VERSION	1		/* the "iemstage" member */
#define IEM_PROFILE_ID_MAX	64		/* bytes; ids match [A-Za-z0-9._-]{1,64} */
#define IEM_PROFILE_FILE_MAX	(1u << 20)	/* bytes of a profile file */
#define IEM_PROFILE_DEPTH_MAX	32		/* nesting of arrays and objects */
#define IEM_PROFILE_VALUES_MAX	4096		/* values (members and elements) in a file */
#define IEM_PROFILE_STRING_MAX	256		/* bytes of a key or a string value (not paths) */
#define IEM_PROFILE_RULES_MAX	32		/* match rules of a device profile */
#define IEM_PROFILE_RULE_PROPS_MAX 16		/* properties in one match rule */
#define IEM_PROFILE_PRIORITY_MAX 1000		/* |priority| */
#define IEM_PROFILE_TRIM_MAX	30.0		/* dB, |trim.gain| */

enum iem_profile_kind {
	IEM_PROFILE_DEVICE,
	IEM_PROFILE_LISTENING,
	IEM_PROFILE_DEFAULTS,
};

/* Where and why a profile was refused. line and column are 1-based
 * (column counts characters, a tab is one); 0 when the error is not tied
 * to a place (the file could not be read). pointer is the RFC 6901 JSON
 * pointer of the offending member ("" for the document or a syntax
 * error). */
struct iem_profile_error {
	char file[IEM_PATH_MAX];
	uint32_t line, column;
	char pointer[256];
	char message[384];
};

/* One flat parameter assignment, in the order the file gives them. */
struct iem_profile_setting {
	char name[32];
	char *value;			/* text form for iem_params_set() */
};

struct iem_profile_prop {
	char *key;			/* a PipeWire property name */
	char *glob;			/* fnmatch(3) pattern for its value */
};

struct iem_profile_rule {
	struct iem_profile_prop *props;
	uint32_t n_props;
};

struct iem_profile {
	enum iem_profile_kind kind;
	char id[IEM_PROFILE_ID_MAX + 1];
	char *name;			/* the "name" member, or the id */
	char *path;			/* the file it came from ("" when parsed from memory) */
	char listening[IEM_PROFILE_ID_MAX + 1];	/* device/defaults: preset id, "" = none */
	struct iem_profile_rule *rules;	/* device: any rule matching selects it */
	uint32_t n_rules;
	int32_t priority;		/* device: breaks ties between equally specific matches */
	double trim_gain;		/* device/defaults: dB added to output.gain */
	bool process;			/* defaults: process unmatched devices at all */
	struct iem_profile_setting *settings;
	uint32_t n_settings;
};

/* "device", "listening" or "defaults". */
const char *iem_profile_kind_name(enum iem_profile_kind kind);

/* true when id matches [A-Za-z0-9._-]{1,64} and is not "." or "..". */
bool iem_profile_id_valid(const char *id);

/* Parses a profile from text (len bytes, need not be NUL-terminated).
 * file names it in errors and relative paths in it (stage.brir, eq.import)
 * are resolved against file's directory (the working directory when file
 * is NULL or has no '/'). On success *out holds a new profile. On failure
 * returns -EINVAL (or -ENOMEM, -ENOENT for an eq.import file) and fills
 * err. */
int iem_profile_parse(const char *text, size_t len, const char *file, const char *id,
		struct iem_profile **out, struct iem_profile_error *err);

/* Reads and parses a file: a regular file (symbolic links to it are
 * refused), at most IEM_PROFILE_FILE_MAX bytes, not writable by others
 * nor by a group other than the caller's, owned by root or the caller. The id is the file name without
 * ".json". */
int iem_profile_load(const char *path, struct iem_profile **out, struct iem_profile_error *err);

/* Accepts NULL; returns NULL. */
struct iem_profile *iem_profile_free(struct iem_profile *p);

/* Applies the profile's own settings (not its listening preset) to params,
 * in file order. Cannot fail for a profile that loaded, short of a changed
 * parameter table: then -EINVAL and err. */
int iem_profile_apply(const struct iem_profile *p, struct iem_params *params,
		struct iem_profile_error *err);

/* Device matching. get returns a property's value or NULL when the device
 * has none. Returns the specificity of the best matching rule (its number
 * of properties, >= 1) or -1 when none matches; a profile without rules
 * never matches. */
typedef const char *(*iem_profile_get_prop)(void *data, const char *key);
int iem_profile_match(const struct iem_profile *p, iem_profile_get_prop get, void *data);

/* Formats "file:line:column: pointer: message" (parts left out when
 * unknown). */
void iem_profile_error_format(const struct iem_profile_error *e, char *buf, size_t size);

/* ---- writing ---------------------------------------------------------- */

/* A device profile holding params (the EQ, and every other parameter that
 * is not at its default), as JSON text; free() it. name and listening may
 * be NULL; match, when not NULL, is one rule: NULL-terminated property,
 * glob pairs. NULL and errno on failure. */
char *iem_profile_format_device(const struct iem_params *params, const char *name,
		const char *listening, const char *const *match);

/* value with fnmatch(3)'s special characters escaped, into buf. */
void iem_profile_glob_escape(const char *value, char *buf, size_t size);

/* Writes data to path atomically: a temporary file in the same directory,
 * fsync, rename, fsync of the directory. On failure the old file (if any)
 * is untouched and no temporary file is left. */
int iem_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode);

/* ---- the store -------------------------------------------------------- */

struct iem_profile_store;

/* The search path: $IEMSTAGE_PROFILE_PATH (':'-separated) when set, else
 * $XDG_CONFIG_HOME/iemstage/profiles (~/.config when unset),
 * <sysconfdir>/iemstage/profiles, <datadir>/iemstage/profiles. A
 * NULL-terminated array; free with iem_profile_dirs_free(). */
char **iem_profile_default_dirs(void);
/* The system-wide daemon's (iemstaged --system): $IEMSTAGE_PROFILE_PATH
 * when set, else <state_dir>/profiles (where it saves),
 * <sysconfdir>/iemstage/profiles, <datadir>/iemstage/profiles; no
 * user's directory. */
char **iem_profile_system_dirs(const char *state_dir);
void iem_profile_dirs_free(char **dirs);

/* dirs: NULL-terminated, first wins by id; NULL = the default path. The
 * store is empty until iem_profile_store_reload(). */
struct iem_profile_store *iem_profile_store_new(const char *const *dirs);
struct iem_profile_store *iem_profile_store_free(struct iem_profile_store *s);

typedef void (*iem_profile_error_cb)(void *data, const struct iem_profile_error *e);

/* (Re)reads every *.json in the search path. A file that fails to load is
 * reported through cb; when a previous version of the same file loaded, it
 * stays in force. Unchanged files (same inode, size and mtime) are not
 * re-read. Returns the number of profiles or a negative errno. */
int iem_profile_store_reload(struct iem_profile_store *s, iem_profile_error_cb cb, void *data);

uint32_t iem_profile_store_count(const struct iem_profile_store *s);
/* Sorted by id. */
const struct iem_profile *iem_profile_store_get_index(const struct iem_profile_store *s,
		uint32_t index);
const struct iem_profile *iem_profile_store_get(const struct iem_profile_store *s, const char *id);

/* The device profile for a device: the most specific match, ties broken by
 * higher priority, then by id. NULL when none matches. */
const struct iem_profile *iem_profile_store_find_device(const struct iem_profile_store *s,
		iem_profile_get_prop get, void *data);

/* The parameters for a profile: defaults, then its listening preset (for
 * device and defaults profiles that name one), then its own settings, then
 * its trim added to output.gain. -ENOENT (and err) when the listening
 * preset is missing or of the wrong kind. */
int iem_profile_store_resolve(const struct iem_profile_store *s, const struct iem_profile *p,
		struct iem_params *params, struct iem_profile_error *err);

/* The same with another listening preset than the one p names (NULL:
 * p's own). */
int iem_profile_store_resolve_with(const struct iem_profile_store *s, const struct iem_profile *p,
		const char *listening, struct iem_params *params, struct iem_profile_error *err);

/* ---- the tools' --profile argument ------------------------------------ */

struct iem_profile_summary {
	char id[IEM_PROFILE_ID_MAX + 1];
	enum iem_profile_kind kind;
	char listening[IEM_PROFILE_ID_MAX + 1];
	bool process;
};

/* arg is a file when it has a '/' or ends in .json, else an id from the
 * default search path; listening presets a device profile names come from
 * the search path either way. On success params holds the resolved profile
 * and summary (when not NULL) what it was. On failure a negative errno and
 * err gets one line: the profile's "file:line:column: pointer: message", or
 * why it was not found. Errors of other files in the search path are not
 * reported. */
int iem_profile_resolve_arg(const char *arg, struct iem_params *params,
		struct iem_profile_summary *summary, char *err, size_t size);

#endif /* IEM_PROFILE_H */
