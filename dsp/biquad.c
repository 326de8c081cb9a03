/* SPDX-License-Identifier: MIT */
/*
 * RBJ Audio EQ Cookbook biquads, designed in double precision.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "iem-dsp.h"

static const char *const type_names[IEM_FILTER_TYPE_COUNT] = {
	[IEM_FILTER_OFF] = "off",
	[IEM_FILTER_PEAKING] = "peaking",
	[IEM_FILTER_LOWSHELF] = "lowshelf",
	[IEM_FILTER_HIGHSHELF] = "highshelf",
	[IEM_FILTER_LOWPASS] = "lowpass",
	[IEM_FILTER_HIGHPASS] = "highpass",
	[IEM_FILTER_BANDPASS] = "bandpass",
	[IEM_FILTER_NOTCH] = "notch",
	[IEM_FILTER_ALLPASS] = "allpass",
};

const char *iem_filter_type_name(enum iem_filter_type type)
{
	if ((unsigned)type >= IEM_FILTER_TYPE_COUNT)
		return NULL;
	return type_names[type];
}

int iem_filter_type_from_name(const char *name)
{
	for (int i = 0; name && i < IEM_FILTER_TYPE_COUNT; i++)
		if (strcasecmp(name, type_names[i]) == 0)
			return i;
	return -EINVAL;
}

int iem_biquad_design(struct iem_biquad *bq, enum iem_filter_type type,
		double rate, double freq, double q, double gain_db)
{
	double b0, b1, b2, a0, a1, a2;

	if (!(rate > 0.0) || !(q > 0.0) || !isfinite(rate) || !isfinite(q) ||
	    !isfinite(freq) || !isfinite(gain_db) || (unsigned)type >= IEM_FILTER_TYPE_COUNT)
		return -EINVAL;

	if (type == IEM_FILTER_OFF) {
		*bq = (struct iem_biquad) { .b0 = 1.0 };
		return 0;
	}

	/* Above 0.49 fs the cookbook's warping makes every type degenerate. */
	freq = fmin(fmax(freq, 1.0), 0.49 * rate);

	const double w0 = 2.0 * M_PI * freq / rate;
	const double cw = cos(w0), sw = sin(w0);
	const double alpha = sw / (2.0 * q);
	const double A = pow(10.0, gain_db / 40.0);
	const double sa = 2.0 * sqrt(A) * alpha;

	switch (type) {
	case IEM_FILTER_PEAKING:
		b0 = 1.0 + alpha * A;
		b1 = -2.0 * cw;
		b2 = 1.0 - alpha * A;
		a0 = 1.0 + alpha / A;
		a1 = -2.0 * cw;
		a2 = 1.0 - alpha / A;
		break;
	case IEM_FILTER_LOWSHELF:
		b0 = A * ((A + 1.0) - (A - 1.0) * cw + sa);
		b1 = 2.0 * A * ((A - 1.0) - (A + 1.0) * cw);
		b2 = A * ((A + 1.0) - (A - 1.0) * cw - sa);
		a0 = (A + 1.0) + (A - 1.0) * cw + sa;
		a1 = -2.0 * ((A - 1.0) + (A + 1.0) * cw);
		a2 = (A + 1.0) + (A - 1.0) * cw - sa;
		break;
	case IEM_FILTER_HIGHSHELF:
		b0 = A * ((A + 1.0) + (A - 1.0) * cw + sa);
		b1 = -2.0 * A * ((A - 1.0) + (A + 1.0) * cw);
		b2 = A * ((A + 1.0) + (A - 1.0) * cw - sa);
		a0 = (A + 1.0) - (A - 1.0) * cw + sa;
		a1 = 2.0 * ((A - 1.0) - (A + 1.0) * cw);
		a2 = (A + 1.0) - (A - 1.0) * cw - sa;
		break;
	case IEM_FILTER_LOWPASS:
		b0 = (1.0 - cw) / 2.0;
		b1 = 1.0 - cw;
		b2 = (1.0 - cw) / 2.0;
		a0 = 1.0 + alpha;
		a1 = -2.0 * cw;
		a2 = 1.0 - alpha;
		break;
	case IEM_FILTER_HIGHPASS:
		b0 = (1.0 + cw) / 2.0;
		b1 = -(1.0 + cw);
		b2 = (1.0 + cw) / 2.0;
		a0 = 1.0 + alpha;
		a1 = -2.0 * cw;
		a2 = 1.0 - alpha;
		break;
	case IEM_FILTER_BANDPASS:
		b0 = alpha;
		b1 = 0.0;
		b2 = -alpha;
		a0 = 1.0 + alpha;
		a1 = -2.0 * cw;
		a2 = 1.0 - alpha;
		break;
	case IEM_FILTER_NOTCH:
		b0 = 1.0;
		b1 = -2.0 * cw;
		b2 = 1.0;
		a0 = 1.0 + alpha;
		a1 = -2.0 * cw;
		a2 = 1.0 - alpha;
		break;
	case IEM_FILTER_ALLPASS:
		b0 = 1.0 - alpha;
		b1 = -2.0 * cw;
		b2 = 1.0 + alpha;
		a0 = 1.0 + alpha;
		a1 = -2.0 * cw;
		a2 = 1.0 - alpha;
		break;
	default:
		return -EINVAL;
	}

	bq->b0 = b0 / a0;
	bq->b1 = b1 / a0;
	bq->b2 = b2 / a0;
	bq->a1 = a1 / a0;
	bq->a2 = a2 / a0;
	return 0;
}

double iem_biquad_magnitude_db(const struct iem_biquad *bq, double rate, double freq)
{
	/* |H|^2 in terms of phi = 4 sin^2(w/2): no complex arithmetic, and no
	 * cancellation at low frequencies where cos(w) is close to 1. */
	const double s = sin(M_PI * freq / rate);
	const double phi = 4.0 * s * s;
	const double b0 = bq->b0, b1 = bq->b1, b2 = bq->b2, a1 = bq->a1, a2 = bq->a2;
	const double bs = b0 + b1 + b2, as = 1.0 + a1 + a2;
	const double num = bs * bs + (b0 * b2 * phi - (b1 * (b0 + b2) + 4.0 * b0 * b2)) * phi;
	const double den = as * as + (a2 * phi - (a1 * (1.0 + a2) + 4.0 * a2)) * phi;

	if (num <= 0.0)
		return -HUGE_VAL;
	return 10.0 * log10(num / den);
}
