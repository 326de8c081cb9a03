/* SPDX-License-Identifier: MIT */
/*
 * A very small TAP test harness: each check prints "ok N - what" or
 * "not ok N - what" with the reason; meson reads the TAP stream, so every
 * check is counted on its own.
 */
#ifndef IEM_TEST_H
#define IEM_TEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned iem_test_count, iem_test_failed;

static inline bool __attribute__((format(printf, 3, 4)))
iem_test_report(bool ok, const char *where, const char *fmt, ...)
{
	va_list ap;
	iem_test_count++;
	if (!ok)
		iem_test_failed++;
	printf("%s %u - ", ok ? "ok" : "not ok", iem_test_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok)
		printf(" (at %s)", where);
	printf("\n");
	fflush(stdout);
	return ok;
}

#define IEM_STR2(x) #x
#define IEM_STR(x) IEM_STR2(x)
/* check(cond, "what, with %d figures", ...) — the message names what is
 * checked and, on failure, the figures that made it fail. */
#define check(cond, ...) iem_test_report(!!(cond), __FILE__ ":" IEM_STR(__LINE__), __VA_ARGS__)

static inline void iem_test_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void iem_test_diag(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}
#define diag(...) iem_test_diag(__VA_ARGS__)

/* Call last in main(): prints the plan and returns the exit status. */
static inline int iem_test_done(void)
{
	printf("1..%u\n", iem_test_count);
	return iem_test_failed ? 1 : 0;
}

#endif
