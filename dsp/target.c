/* SPDX-License-Identifier: MIT */
/*
 * The built-in target curves.
 *
 * Harman in-ear 2019 (v2) is defined as AutoEq publishes it
 * (jaakkopasanen/AutoEq, targets/harman_in-ear_2019v2.csv and
 * "Harman in-ear 2019 without bass.csv", MIT licence, Copyright (c)
 * 2018-2022 Jaakko Pasanen; the curve is Olive et al.'s, Harman 2019),
 * normalised as published: 0 dB at about 1 kHz.
 *
 * It is stored in two parts, the way a listener adjusts it:
 * - the curve without its bass shelf, as its values at knots every 1/4
 *   octave from 20 Hz (20 * 2^(k/4) Hz, k = 0 … 39, 17.2 kHz the last)
 *   and at 20 kHz, read off the published curve (linear in log f between
 *   its points), joined by a natural cubic spline in log2(f);
 * - the bass shelf: an RBJ low shelf, 105 Hz, Q 0.7 (AutoEq's shape for
 *   it) with +9.0 dB, the gain that fits the difference between the two
 *   published curves best (rms 0.03 dB; AutoEq's web app uses +9.5).
 * Both stay within 0.19 dB of the published points from 20 Hz to 20 kHz
 * (tests/dsp/test-target.c checks 0.5 dB at every point and 1/12 octave).
 * Below 20 Hz and above 20 kHz the end values hold.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "iem-dsp.h"
#include "curve-private.h"

#define KNOT_START	20.0	/* Hz */
#define KNOTS_PER_OCT	4
#define KNOT_LAST_FREQ	20000.0	/* Hz, the one knot off the 1/4-octave grid */

/* dB at 20 * 2^(k/4) Hz, k = 0 … 39, then at 20 kHz */
static const double harman_ie_2019_nobass[] = {
	-1.38, -1.27, -1.23, -1.24,	/*   20 …   34 Hz */
	-1.37, -1.71, -2.12, -2.39,	/*   40 …   67 Hz */
	-2.42, -2.17, -1.82, -1.58,	/*   80 …  135 Hz */
	-1.42, -1.60, -1.82, -1.89,	/*  160 …  269 Hz */
	-1.82, -1.69, -1.53, -1.32,	/*  320 …  538 Hz */
	-1.09, -0.75, -0.33,  0.29,	/*  640 … 1076 Hz */
	 1.32,  2.69,  4.49,  6.68,	/* 1280 … 2153 Hz */
	 8.49,  9.34,  9.24,  8.54,	/* 2560 … 4305 Hz */
	 7.60,  6.66,  4.97,  2.32,	/* 5120 … 8611 Hz */
	-1.25, -4.87, -8.11, -12.64,	/* 10240 … 17222 Hz */
	-20.75,				/* 20000 Hz */
};

#define BASS_SHELF_FREQ	105.0
#define BASS_SHELF_Q	0.7
#define BASS_SHELF_GAIN	9.0
/* High enough that the digital shelf is the analogue one at 105 Hz, and
 * that 20 kHz is well below Nyquist. */
#define BASS_SHELF_RATE	192000.0

struct builtin {
	const char *name;
	bool bass_shelf;
};

static const struct builtin builtins[] = {
	{ "harman-ie-2019", true },
	{ "harman-ie-2019-nobass", false },
};

#define N_BUILTINS	(sizeof(builtins) / sizeof(builtins[0]))
#define N_KNOTS		(sizeof(harman_ie_2019_nobass) / sizeof(harman_ie_2019_nobass[0]))

const char *iem_target_name(uint32_t index)
{
	return index < N_BUILTINS ? builtins[index].name : NULL;
}

int iem_target_find(const char *name, struct iem_curve **out)
{
	const struct builtin *b = NULL;
	struct iem_curve *c;
	uint32_t i;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	for (i = 0; name != NULL && i < N_BUILTINS; i++) {
		if (strcmp(name, builtins[i].name) == 0)
			b = &builtins[i];
	}
	if (b == NULL)
		return -ENOENT;

	if ((c = curve_alloc(N_KNOTS, true)) == NULL)
		return -errno;
	snprintf(c->name, sizeof(c->name), "%s", b->name);
	for (i = 0; i < N_KNOTS; i++) {
		double f = i + 1 < N_KNOTS ? KNOT_START * exp2((double)i / KNOTS_PER_OCT)
				: KNOT_LAST_FREQ;
		c->x[i] = log2(f);
		c->y[i] = harman_ie_2019_nobass[i];
	}
	curve_spline_init(c);
	if (b->bass_shelf) {
		c->has_shelf = true;
		c->shelf_rate = BASS_SHELF_RATE;
		iem_biquad_design(&c->shelf, IEM_FILTER_LOWSHELF, BASS_SHELF_RATE,
				BASS_SHELF_FREQ, BASS_SHELF_Q, BASS_SHELF_GAIN);
	}
	*out = c;
	return 0;
}

int iem_target_load(const char *name_or_path, struct iem_curve **out,
		char *err, size_t err_size)
{
	int res;

	if (name_or_path == NULL || out == NULL) {
		if (err != NULL)
			snprintf(err, err_size, "invalid arguments");
		return -EINVAL;
	}
	res = iem_target_find(name_or_path, out);
	if (res != -ENOENT) {
		if (res < 0 && err != NULL)
			snprintf(err, err_size, "%s: %s", name_or_path, strerror(-res));
		return res;
	}
	res = iem_curve_load_csv(name_or_path, "target", out, err, err_size);
	if (res == -ENOENT && err != NULL) {
		/* a mistyped name reads as a missing file: say both */
		size_t used = strlen(err);
		snprintf(err + used, err_size - used, " (and not a built-in target:");
		for (uint32_t i = 0; i < N_BUILTINS; i++) {
			used = strlen(err);
			snprintf(err + used, err_size - used, " %s%s", builtins[i].name,
					i + 1 < N_BUILTINS ? "," : ")");
		}
	}
	return res;
}
