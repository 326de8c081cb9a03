/* SPDX-License-Identifier: MIT */
/*
 * What the command-line tools share (see tool-common.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "iem-dsp.h"
#include "iem-profile.h"
#include "tool-common.h"

static const char *tool_name = "iemstage";
static void (*tool_before_error)(void);

void tool_init(const char *name, void (*before_error)(void))
{
	tool_name = name;
	tool_before_error = before_error;
}

/* ---- messages ------------------------------------------------------------- */

void say_error(const char *fmt, ...)
{
	va_list ap;

	if (tool_before_error != NULL)
		tool_before_error();
	fflush(stdout);
	fprintf(stderr, "%s: ", tool_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", tool_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", tool_name);
	exit(2);
}

void tool_other_option(int c, char **argv, void (*print_help)(void))
{
	switch (c) {
	case 'h':
		print_help();
		exit(0);
	case 'V':
		printf("%s %s\n", tool_name, IEM_VERSION);
		exit(0);
	case ':':
		usage_error("option '%s' needs a value", argv[optind - 1]);
	default:
		/* a letter: inside a group of short options (-xq) optind does
		 * not name the argument yet, so name the letter; a long
		 * option's own value (fit's, from 256) is no letter */
		if (optopt > ' ' && optopt < 0x7f)
			usage_error("unknown option '-%c'", optopt);
		usage_error("unknown option '%s'", argv[optind - 1]);
	}
}

/* ---- numbers, time, output -------------------------------------------------- */

uint32_t tool_parse_rate(const char *arg)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' ||
	    v < IEM_MIN_RATE || v > IEM_MAX_RATE)
		usage_error("--rate wants a sample rate from %u to %u Hz, not '%s'",
				IEM_MIN_RATE, IEM_MAX_RATE, arg);
	return (uint32_t)v;
}

double tool_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int tool_exit_status(int res)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		say_error("standard output: %s", strerror(errno));
		return 1;
	}
	return res < 0 ? 1 : 0;
}

/* ---- files ---------------------------------------------------------------- */

int tool_create_temp(const char *path, char **tmp)
{
	static const char suffix[] = ".tmp-XXXXXX";
	size_t len = strlen(path);
	mode_t mask;
	int fd;

	if ((*tmp = malloc(len + sizeof(suffix))) == NULL) {
		say_error("%s", strerror(errno));
		return -1;
	}
	memcpy(*tmp, path, len);
	memcpy(*tmp + len, suffix, sizeof(suffix));
	if ((fd = mkstemp(*tmp)) < 0) {
		say_error("%s: cannot create: %s", path, strerror(errno));
		goto fail;
	}
	/* mkstemp makes it 0600; the file gets what any new file gets */
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) < 0) {
		say_error("%s: %s", *tmp, strerror(errno));
		close(fd);
		unlink(*tmp);
		goto fail;
	}
	return fd;
fail:
	free(*tmp);
	*tmp = NULL;
	return -1;
}

/* ---- the parameters ---------------------------------------------------------- */

void tool_params_args_init(struct tool_params_args *a, int argc)
{
	memset(a, 0, sizeof(*a));
	/* at most one --set per argument */
	a->sets = calloc((size_t)argc, sizeof(*a->sets));
	if (a->sets == NULL) {
		say_error("%s", strerror(errno));
		exit(1);
	}
}

void tool_params_args_clear(struct tool_params_args *a)
{
	free(a->sets);
	memset(a, 0, sizeof(*a));
}

bool tool_params_option(struct tool_params_args *a, int c, const char *arg)
{
	switch (c) {
	case 'p':
		if (a->profile)
			usage_error("--profile given twice");
		a->profile = arg;
		return true;
	case 'b':
		if (a->brir)
			usage_error("--brir given twice");
		a->brir = arg;
		return true;
	case 's':
		if (strchr(arg, '=') == NULL || arg[0] == '=')
			usage_error("--set wants NAME=VALUE, not '%s'", arg);
		a->sets[a->n_sets++] = arg;
		return true;
	}
	return false;
}

int tool_params_load_profile(const struct tool_params_args *a, struct iem_params *p,
		struct iem_profile_summary *sum)
{
	char err[2048];

	if (iem_profile_resolve_arg(a->profile, p, sum, err, sizeof(err)) < 0) {
		say_error("%s", err);
		return -1;
	}
	return 0;
}

int tool_params_apply(const struct tool_params_args *a, struct iem_params *p,
		const char *list_hint)
{
	if (a->brir) {
		char err[256];
		if (iem_params_set(p, "stage.brir", a->brir, err, sizeof(err)) < 0) {
			say_error("--brir: %s", err);
			return -1;
		}
		p->stage_mode = IEM_STAGE_BRIR;
	}
	for (size_t i = 0; i < a->n_sets; i++) {
		const char *arg = a->sets[i], *eq = strchr(arg, '=');
		size_t name_len = (size_t)(eq - arg);
		char err[256] = "";
		char *name;
		int res;

		if ((name = malloc(name_len + 1)) == NULL) {
			say_error("%s", strerror(errno));
			return -1;
		}
		memcpy(name, arg, name_len);
		name[name_len] = '\0';
		res = iem_params_set(p, name, eq + 1, err, sizeof(err));
		free(name);
		if (res == -ENOENT) {
			say_error("--set %s: %s; %s lists every name", arg,
					err[0] ? err : strerror(-res), list_hint);
			return -1;
		}
		if (res < 0) {
			say_error("--set %s: %s", arg, err[0] ? err : strerror(-res));
			return -1;
		}
	}
	return 0;
}
