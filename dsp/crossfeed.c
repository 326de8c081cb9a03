/* SPDX-License-Identifier: MIT */
/*
 * Crossfeed after libbs2b 3.1.0 (dsp-reference §1.1): per ear, the own
 * channel through a one-pole/one-zero high boost and the other channel
 * through a one-pole low-pass, the sum times `gain`.
 *
 *   lo[n] = a0_lo x[n] + b1_lo lo[n-1]
 *   hi[n] = a0_hi x[n] + a1_hi x[n-1] + b1_hi hi[n-1]
 *
 * with, for feed F dB and cut-off fcut:
 *
 *   GB_lo = -5F/6 - 3 dB, GB_hi = F/6 - 3 dB, G_lo = 10^(GB_lo/20),
 *   G_hi = 1 - 10^(GB_hi/20), Fc_hi = fcut 2^((GB_lo - 20 log10 G_hi) / 12),
 *   b1_lo = x_l = exp(-2 pi fcut / fs), a0_lo = G_lo (1 - x_l),
 *   b1_hi = x_h = exp(-2 pi Fc_hi / fs), a0_hi = 1 - G_hi (1 - x_h), a1_hi = -x_h,
 *   gain = 1 / (1 - G_hi + G_lo).
 *
 * At 0 Hz the direct path is gain (1 - G_hi) and the cross path gain G_lo:
 * F dB apart, summing to exactly 1 for a centred signal.
 *
 * The chain runs it as a 2 x 2 impulse response through the stage's
 * convolver rather than as its own IIR stage: the responses are short
 * (about 200 taps at 48 kHz), the convolver already crossfades every
 * change without a click and keeps the stage to one code path, and the
 * truncation at -140 dB is far below float's own noise. libbs2b's clip at
 * +-1 is left out: the chain's limiter is the only place that limits.
 */
#include <errno.h>
#include <math.h>

#include "iem-dsp.h"

#define TAIL_FLOOR	1e-7

int iem_crossfeed_preset_levels(enum iem_crossfeed_preset preset, double *fcut, double *feed)
{
	switch (preset) {
	case IEM_CROSSFEED_DEFAULT:
		*fcut = 700.0;
		*feed = 4.5;
		return 0;
	case IEM_CROSSFEED_CMOY:
		*fcut = 700.0;
		*feed = 6.0;
		return 0;
	case IEM_CROSSFEED_JMEIER:
		*fcut = 650.0;
		*feed = 9.5;
		return 0;
	default:
		return -EINVAL;
	}
}

int iem_crossfeed_design(struct iem_crossfeed *cf, double fcut, double feed, uint32_t rate)
{
	if (!(fcut >= IEM_CROSSFEED_FCUT_MIN && fcut <= IEM_CROSSFEED_FCUT_MAX) ||
	    !(feed >= IEM_CROSSFEED_FEED_MIN && feed <= IEM_CROSSFEED_FEED_MAX) ||
	    rate < IEM_MIN_RATE || rate > IEM_MAX_RATE)
		return -EINVAL;

	double gb_lo = feed * -5.0 / 6.0 - 3.0;
	double gb_hi = feed / 6.0 - 3.0;
	double g_lo = pow(10.0, gb_lo / 20.0);
	double g_hi = 1.0 - pow(10.0, gb_hi / 20.0);
	double fc_hi = fcut * pow(2.0, (gb_lo - 20.0 * log10(g_hi)) / 12.0);
	double x;

	cf->fcut = fcut;
	cf->feed = feed;
	x = exp(-2.0 * M_PI * fcut / rate);
	cf->b1_lo = x;
	cf->a0_lo = g_lo * (1.0 - x);
	x = exp(-2.0 * M_PI * fc_hi / rate);
	cf->b1_hi = x;
	cf->a0_hi = 1.0 - g_hi * (1.0 - x);
	cf->a1_hi = -x;
	cf->gain = 1.0 / (1.0 - g_hi + g_lo);
	return 0;
}

uint32_t iem_crossfeed_length(const struct iem_crossfeed *cf)
{
	/* both tails are geometric: |h[n]| <= h0 x^n */
	double x = fmax(cf->b1_lo, cf->b1_hi);
	double n = ceil(log(TAIL_FLOOR) / log(x));
	return (uint32_t)fmin(fmax(n, 1.0), 1 << 20) + 1;
}

void iem_crossfeed_ir(const struct iem_crossfeed *cf, float *direct, float *cross, uint32_t n)
{
	double lo = 0.0, hi = 0.0, x1 = 0.0;

	/* libbs2b's recursion, in double, for an impulse on one channel */
	for (uint32_t i = 0; i < n; i++) {
		double x = i == 0 ? 1.0 : 0.0;
		lo = cf->a0_lo * x + cf->b1_lo * lo;
		hi = cf->a0_hi * x + cf->a1_hi * x1 + cf->b1_hi * hi;
		x1 = x;
		if (direct)
			direct[i] = (float)(cf->gain * hi);
		if (cross)
			cross[i] = (float)(cf->gain * lo);
	}
}
