/* SPDX-License-Identifier: MIT */
/*
 * Crossfeed: the two impulse responses (direct L -> L, cross L -> R) of
 * three circuits, at the session rate. All three feed each ear the other
 * channel through the same one-pole low-pass (bs2b's digital form: the
 * pole at x = exp(-2 pi fcut / fs), unit gain at 0 Hz):
 *
 *   lo[n] = a0_lo x[n] + b1_lo lo[n-1],   a0_lo = G_lo (1 - x), b1_lo = x
 *
 * the analog prototype G_lo / (1 + s / (2 pi fcut)). They differ in the
 * direct path.
 *
 * bs2b (libbs2b 3.1.0, dsp-reference §1.1): the own channel through a
 * one-pole/one-zero high boost, the sum times `gain`:
 *
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
 * linkwitz: the passive RC crossfeed of Linkwitz (Audio, Dec 1971) and
 * Chu Moy's acoustic simulator after it (dsp-reference §1.3): a first-
 * order RC low-pass across, resistors only in the direct path, so the
 * direct path is flat:
 *
 *   D(s) = 1 - c,  C(s) = c / (1 + s / w),  c = 1 / (1 + 10^(F/20))
 *
 * D / C = F dB and D + C = 1 at 0 Hz; above fcut a centred signal falls
 * to 1 - c (1 - c: -4.1 dB at 4.5 dB feed; -3.8 dB at 10 kHz), the dulling bs2b's high boost and
 * Meier's compensation take away. (Our reading of the circuit's
 * principle, with the headphone as a resistive load: the published
 * component values differ between versions.)
 *
 * meier: Jan Meier's "natural" crossfeed (dsp-reference §1.3): the same
 * low-pass across, and the direct path compensated so that "at all
 * frequencies the sum of the sound pressures at both eardrums equals the
 * sum in stereo mode":
 *
 *   C(s) = c / (1 + s / w),  D(s) = 1 - C(s)
 *
 * a high shelf from 1 - c to 1; D + C = 1 exactly (digital too: the
 * direct response is the impulse minus the cross one), so centred sound
 * passes untouched at every frequency.
 *
 * The extra delay (crossfeed.delay: the interaural time a real head
 * would add, on top of the low-pass's own group delay) is a band-limited
 * fractional delay of the cross path: each tap of the low-pass's
 * response, a0_lo b1_lo^m, placed through a Kaiser-windowed sinc (the
 * HRTF's, flat to 0.41 fs). The windowed sinc reaches IEM_CROSSFEED_DELAY_LEAD
 * taps before its centre, so with a delay both paths start that much
 * later (0.3 ms at 48 kHz). Meier's compensation stays on the undelayed
 * cross path: the direct path hears no echo of its own. Safe loudness:
 * neither path, nor a centred signal's sum, nor the power of
 * uncorrelated stereo exceeds 1 at any frequency, which the one-pole
 * guarantees without a delay (|1 - C| <= 1 and |1 - C|^2 + |C|^2 <= 1
 * since Re C >= |C|^2 for c <= 1); with a delay the sum
 * 1 - C (1 - exp(-j w tau)) (meier) or D + C exp(-j w tau) (bs2b) can
 * pass 1 in places, and `gain` takes both paths down by the worst case
 * (found on a grid of 2048 frequencies).
 *
 * The chain runs it as a 2 x 2 impulse response through the stage's
 * convolver rather than as its own IIR stage: the responses are short
 * (about 200 taps at 48 kHz), the convolver already crossfades every
 * change without a click and keeps the stage to one code path, and the
 * truncation at -140 dB is far below float's own noise. libbs2b's clip at
 * +-1 is left out: the chain's limiter is the only place that limits.
 */
#include <complex.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "hrtf-private.h"
#include "iem-dsp.h"

#define TAIL_FLOOR	1e-7
#define GUARD_POINTS	2048

static const char *const type_names[IEM_CROSSFEED_TYPE_COUNT] = { "bs2b", "linkwitz", "meier" };

const char *iem_crossfeed_type_name(enum iem_crossfeed_type type)
{
	return (unsigned)type < IEM_CROSSFEED_TYPE_COUNT ? type_names[type] : NULL;
}

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

static bool ranges_ok(double fcut, double feed, uint32_t rate)
{
	return fcut >= IEM_CROSSFEED_FCUT_MIN && fcut <= IEM_CROSSFEED_FCUT_MAX &&
		feed >= IEM_CROSSFEED_FEED_MIN && feed <= IEM_CROSSFEED_FEED_MAX &&
		rate >= IEM_MIN_RATE && rate <= IEM_MAX_RATE;
}

int iem_crossfeed_design(struct iem_crossfeed *cf, double fcut, double feed, uint32_t rate)
{
	if (!ranges_ok(fcut, feed, rate))
		return -EINVAL;

	double gb_lo = feed * -5.0 / 6.0 - 3.0;
	double gb_hi = feed / 6.0 - 3.0;
	double g_lo = pow(10.0, gb_lo / 20.0);
	double g_hi = 1.0 - pow(10.0, gb_hi / 20.0);
	double fc_hi = fcut * pow(2.0, (gb_lo - 20.0 * log10(g_hi)) / 12.0);
	double x;

	memset(cf, 0, sizeof(*cf));
	cf->fcut = fcut;
	cf->feed = feed;
	cf->type = IEM_CROSSFEED_BS2B;
	cf->rate = rate;
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

/* The direct and cross paths' responses at w (radians per sample),
 * before `gain`, without the extra delay. */
static void response(const struct iem_crossfeed *cf, double w, double complex *d, double complex *c)
{
	const double complex z1 = cexp(-I * w);
	*c = cf->a0_lo / (1.0 - cf->b1_lo * z1);
	switch (cf->type) {
	case IEM_CROSSFEED_BS2B:
		*d = (cf->a0_hi + cf->a1_hi * z1) / (1.0 - cf->b1_hi * z1);
		break;
	case IEM_CROSSFEED_LINKWITZ:
		*d = cf->direct;
		break;
	default:
		*d = 1.0 - *c;
		break;
	}
}

/* The largest of |D|, |C|, |D + C e^(-j w tau)| and sqrt(|D|^2 + |C|^2)
 * (before `gain`) from 10 Hz to Nyquist. */
static double loudest(const struct iem_crossfeed *cf)
{
	const double tau = cf->delay * 1e-6 * cf->rate;	/* samples */
	double worst = 0.0;
	for (int i = 0; i <= GUARD_POINTS; i++) {
		double f = 10.0 * pow(cf->rate / 2.0 / 10.0, (double)i / GUARD_POINTS);
		double w = 2.0 * M_PI * f / cf->rate;
		double complex d, c;
		response(cf, w, &d, &c);
		double m = fmax(cabs(d), cabs(c));
		m = fmax(m, cabs(d + c * cexp(-I * w * tau)));
		m = fmax(m, sqrt(creal(d * conj(d)) + creal(c * conj(c))));
		worst = fmax(worst, m);
	}
	return worst;
}

int iem_crossfeed_design_type(struct iem_crossfeed *cf, enum iem_crossfeed_type type,
		double fcut, double feed, double delay_us, uint32_t rate)
{
	if ((unsigned)type >= IEM_CROSSFEED_TYPE_COUNT || !ranges_ok(fcut, feed, rate) ||
	    !(delay_us >= 0.0 && delay_us <= IEM_CROSSFEED_DELAY_MAX))
		return -EINVAL;
	if (type == IEM_CROSSFEED_BS2B) {
		iem_crossfeed_design(cf, fcut, feed, rate);
	} else {
		const double c = 1.0 / (1.0 + pow(10.0, feed / 20.0));
		const double x = exp(-2.0 * M_PI * fcut / rate);
		memset(cf, 0, sizeof(*cf));
		cf->fcut = fcut;
		cf->feed = feed;
		cf->type = type;
		cf->rate = rate;
		cf->b1_lo = x;
		cf->a0_lo = c * (1.0 - x);
		cf->direct = 1.0 - c;
		cf->gain = 1.0;
	}
	cf->delay = delay_us;
	if (delay_us > 0.0) {
		double worst = loudest(cf) * cf->gain;
		if (worst > 1.0)
			cf->gain /= worst;
	}
	return 0;
}

uint32_t iem_crossfeed_length(const struct iem_crossfeed *cf)
{
	/* both tails are geometric: |h[n]| <= h0 x^n */
	double x = fmax(cf->b1_lo, cf->b1_hi);
	double n = ceil(log(TAIL_FLOOR) / log(x)) + 1.0;
	if (cf->delay > 0.0)
		n += IEM_CROSSFEED_DELAY_LEAD + ceil(cf->delay * 1e-6 * cf->rate) + HRTF_FD_HALF;
	return (uint32_t)fmin(fmax(n, 1.0), 1 << 20);
}

void iem_crossfeed_ir(const struct iem_crossfeed *cf, float *direct, float *cross, uint32_t n)
{
	const uint32_t lead = cf->delay > 0.0 ? IEM_CROSSFEED_DELAY_LEAD : 0;
	double lo = 0.0, hi = 0.0, x1 = 0.0;

	/* the recursions, in double, for an impulse at `lead` */
	for (uint32_t i = 0; i < n; i++) {
		double x = i == lead ? 1.0 : 0.0;
		lo = cf->a0_lo * x + cf->b1_lo * lo;
		hi = cf->a0_hi * x + cf->a1_hi * x1 + cf->b1_hi * hi;
		x1 = x;
		if (direct) {
			double d = cf->type == IEM_CROSSFEED_BS2B ? hi :
				cf->type == IEM_CROSSFEED_LINKWITZ ? cf->direct * x : x - lo;
			direct[i] = (float)(cf->gain * d);
		}
		if (cross && lead == 0)
			cross[i] = (float)(cf->gain * lo);
	}
	if (cross == NULL || lead == 0)
		return;
	/* the low-pass's taps a0_lo b1_lo^m, each delayed by lead + tau */
	const double shift = lead + cf->delay * 1e-6 * cf->rate;
	double tap = cf->a0_lo * cf->gain;
	memset(cross, 0, n * sizeof(float));
	for (uint32_t m = 0; m < n && m + shift - HRTF_FD_HALF < n; m++) {
		hrtf_shift_add(cross, n, NULL, 1, m + shift, tap);
		tap *= cf->b1_lo;
	}
}
