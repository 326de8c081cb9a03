/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the measurement/target CSV reader and the GraphicEQ.txt
 * reader (dsp/curve.c). Besides crashes and sanitizer findings it checks
 * their promises: a success gives a curve whose values are finite at any
 * frequency, a refusal leaves nothing and names a reason, with a place
 * inside the text when it has one.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iem-dsp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define require(cond) do { if (!(cond)) abort(); } while (0)

static void check(int r, struct iem_curve *c, const struct iem_parse_error *e, const uint8_t *data,
		size_t size)
{
	uint32_t lines = 1;

	if (r < 0) {
		require(c == NULL);
		require(e->message[0] != '\0');
		for (size_t i = 0; i < size; i++)
			lines += data[i] == '\n';
		require(e->line <= lines);
		return;
	}
	require(c != NULL);
	for (double f = 1.0; f < 100000.0; f *= 1.7)
		require(isfinite(iem_curve_db(c, f)));
	iem_curve_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct iem_parse_error e;
	struct iem_curve *c = (struct iem_curve *)&c;
	int r;

	memset(&e, 0, sizeof(e));
	r = iem_curve_parse_csv((const char *)data, size, "raw", &c, &e);
	check(r, c, &e, data, size);

	memset(&e, 0, sizeof(e));
	c = (struct iem_curve *)&c;
	r = iem_graphic_eq_parse((const char *)data, size, &c, &e);
	check(r, c, &e, data, size);
	return 0;
}
