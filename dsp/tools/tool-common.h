/* SPDX-License-Identifier: MIT */
/*
 * What the command-line tools (iemstage-render, -analyze, -fit) share, so
 * that they say things the same way: their messages, the options every one
 * of them has, and the parameter options render and analyze both take.
 * Linked into each tool; not a library.
 */
#ifndef IEM_TOOL_COMMON_H
#define IEM_TOOL_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct iem_params;
struct iem_profile_summary;

/* Called first in main(): the program's name, which every message starts
 * with, and what to do before an error is printed (render takes its
 * progress bar off the line), or NULL. */
void tool_init(const char *name, void (*before_error)(void));

/* "NAME: message" on stderr, after whatever stdout holds. */
void __attribute__((format(printf, 1, 2))) say_error(const char *fmt, ...);

/* "NAME: message" and where to find help, then exit status 2. */
void __attribute__((format(printf, 1, 2), noreturn)) usage_error(const char *fmt, ...);

/* getopt_long's entries for -h/--help and -V/--version, which
 * tool_other_option() takes. */
#define TOOL_HELP_OPTIONS \
	{ "help", no_argument, NULL, 'h' }, \
	{ "version", no_argument, NULL, 'V' }

/* What getopt_long returned that the tool itself does not handle: 'h'
 * (--help: print_help(), exit 0), 'V' (--version, exit 0), ':' (a value
 * missing) and anything else (an unknown option), both usage errors.
 * Every tool's option string starts with ':' and maps -h/--help to 'h',
 * -V/--version to 'V'. */
void __attribute__((noreturn)) tool_other_option(int c, char **argv, void (*print_help)(void));

/* --rate R: a whole sample rate, IEM_MIN_RATE ... IEM_MAX_RATE, or a usage
 * error. */
uint32_t tool_parse_rate(const char *arg);

/* Seconds on the monotonic clock. */
double tool_now(void);

/* The exit status of a tool that finished with res (< 0: it failed and
 * said why): stdout is flushed first, and failing to write it fails. */
int tool_exit_status(int res);

/* Creates PATH.tmp-XXXXXX with the mode any new file gets (0666 less the
 * umask), to be renamed over path once it is written whole. Returns the
 * descriptor and the name in *tmp (free() it), or -1 after saying why. */
int tool_create_temp(const char *path, char **tmp);

/* ---- the parameters: --profile, --brir, --set (render and analyze) ------ */

struct tool_params_args {
	const char *profile;	/* --profile FILE|ID */
	const char *brir;	/* --brir FILE */
	const char **sets;	/* --set NAME=VALUE, in command-line order */
	size_t n_sets;
};

/* getopt_long's entries for them, which tool_params_option() takes. */
#define TOOL_PARAMS_OPTIONS \
	{ "profile", required_argument, NULL, 'p' }, \
	{ "brir", required_argument, NULL, 'b' }, \
	{ "set", required_argument, NULL, 's' }

/* Room for the --set options of argc arguments; exits with status 1 when
 * there is no memory for it. */
void tool_params_args_init(struct tool_params_args *a, int argc);
void tool_params_args_clear(struct tool_params_args *a);

/* Takes getopt_long's 'p' (--profile), 'b' (--brir) and 's' (--set);
 * false for any other c. Each may be a usage error. */
bool tool_params_option(struct tool_params_args *a, int c, const char *arg);

/* Loads --profile into p, by the profile library's rules and messages;
 * sum (may be NULL) says what was loaded. 0, or -1 after saying why. */
int tool_params_load_profile(const struct tool_params_args *a, struct iem_params *p,
		struct iem_profile_summary *sum);

/* --brir (as --set stage.mode=brir --set stage.brir=FILE), then each
 * --set in order, over what p holds. list_hint is how the user lists the
 * names ("--list-params"). 0, or -1 after saying why. */
int tool_params_apply(const struct tool_params_args *a, struct iem_params *p,
		const char *list_hint);

#endif
