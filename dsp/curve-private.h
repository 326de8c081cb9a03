/* SPDX-License-Identifier: MIT */
/*
 * Internal: what curve.c (points, CSV and GraphicEQ files), target.c (the
 * built-in targets) and fit.c share.
 */
#ifndef IEM_CURVE_PRIVATE_H
#define IEM_CURVE_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "iem-dsp.h"

#define CURVE_NAME_MAX	32

struct iem_curve {
	char name[CURVE_NAME_MAX];
	uint32_t n;
	/* false: straight lines between the points in (log2 f, dB); true: a
	 * natural cubic spline through them, m2 its second derivatives */
	bool spline;
	/* a biquad's response added to the points' (a target's bass shelf),
	 * designed at shelf_rate */
	bool has_shelf;
	struct iem_biquad shelf;
	double shelf_rate;
	double *x;		/* log2(freq / 1 Hz), strictly increasing */
	double *y;		/* dB */
	double *m2;		/* spline only */
	double data[];
};

/* n points, uninitialised; NULL and errno (E2BIG, ENOMEM). */
struct iem_curve *curve_alloc(uint32_t n, bool spline);
/* Computes m2 for a spline curve whose x and y are set. */
void curve_spline_init(struct iem_curve *c);

#endif
