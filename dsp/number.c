/* SPDX-License-Identifier: MIT */
/*
 * Locale-independent decimal numbers (see number.h).
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "number.h"

/* Significant digits handed to strtod(); more are folded into a sticky
 * digit, which keeps the rounding right for any realistic input. */
#define NUM_DIGITS	40
/* Decimal exponents are clamped to this: far out, every value is inf or 0. */
#define EXP_LIMIT	100000

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Scans a decimal number at the start of s: optional sign, digits with an
 * optional fraction (at least one digit in all), optional exponent.
 * Returns the bytes used, 0 when s does not start with a number.
 *
 * The conversion must not depend on the process locale, whose decimal
 * point may be ','. The digits are rewritten as an integer with an
 * exponent, which has no decimal point, and strtod() reads that form the
 * same way in every locale.
 */
size_t iem_scan_number(const char *s, size_t n, double *val)
{
	char buf[NUM_DIGITS + 48];
	size_t i = 0, nd = 0, o = 0;
	bool neg = false, any = false, sticky = false;
	int64_t dexp = 0, e = 0;

	if (i < n && (s[i] == '+' || s[i] == '-'))
		neg = s[i++] == '-';

	/* dexp counts digits of the text, so it cannot overflow */
	for (; i < n && is_digit(s[i]); i++) {
		any = true;
		if (nd == 0 && s[i] == '0')
			continue;
		if (nd < NUM_DIGITS) {
			buf[1 + nd++] = s[i];
		} else {
			dexp++;
			sticky |= s[i] != '0';
		}
	}
	if (i < n && s[i] == '.') {
		size_t dot = i++;
		for (; i < n && is_digit(s[i]); i++) {
			any = true;
			if (nd == 0 && s[i] == '0') {
				dexp--;
			} else if (nd < NUM_DIGITS) {
				buf[1 + nd++] = s[i];
				dexp--;
			} else {
				sticky |= s[i] != '0';
			}
		}
		if (!any)
			i = dot;
	}
	if (!any)
		return 0;

	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t j = i + 1;
		bool eneg = false;
		if (j < n && (s[j] == '+' || s[j] == '-'))
			eneg = s[j++] == '-';
		if (j < n && is_digit(s[j])) {
			/* saturates beyond any count of digits dexp can
			 * hold, so that "0.000…0001e1000000" is still right */
			for (; j < n && is_digit(s[j]); j++) {
				if (e < INT64_C(1000000000000000))
					e = e * 10 + (s[j] - '0');
			}
			if (eneg)
				e = -e;
			i = j;
		}
	}

	if (nd == 0) {
		*val = 0.0;
		return i;
	}
	if (sticky) {
		buf[1 + nd++] = '1';
		dexp--;
	}
	dexp += e;
	if (dexp > EXP_LIMIT)
		dexp = EXP_LIMIT;
	else if (dexp < -EXP_LIMIT)
		dexp = -EXP_LIMIT;
	buf[0] = neg ? '-' : '+';
	o = 1 + nd;
	snprintf(buf + o, sizeof(buf) - o, "e%lld", (long long)dexp);
	*val = strtod(buf, NULL);
	return i;
}

int iem_format_fixed(char *buf, size_t size, double x, int decimals)
{
	static const int64_t scale[] = {
		1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000
	};
	int64_t s, v;

	if (decimals < 0)
		decimals = 0;
	if (decimals > 9)
		decimals = 9;
	s = scale[decimals];
	if (!isfinite(x) || fabs(x) * (double)s >= 9e18)
		x = 0.0;
	v = llround(x * (double)s);
	if (decimals == 0)
		return snprintf(buf, size, "%" PRId64, v);
	return snprintf(buf, size, "%s%" PRId64 ".%0*" PRId64, v < 0 ? "-" : "",
			(v < 0 ? -v : v) / s, decimals, (v < 0 ? -v : v) % s);
}
