/* SPDX-License-Identifier: MIT */
/*
 * Offline band-limited resampling of impulse responses: a Kaiser-windowed
 * sinc evaluated at each output frame's exact position.
 *
 * Output frame j sits at input position t = j * from / to. With
 * g = iem_gcd(from, to), P = to / g and Q = from / g, that is input frame
 * floor(j Q / P) plus the fraction ((j Q) mod P) / P, exact in integers,
 * and
 *
 *   y[j] = sum over m of x[m] h(m - t),
 *   h(x) = 2 fc sinc(2 fc x) w(x / H),  w(u) = I0(beta sqrt(1 - u^2)) / I0(beta),
 *
 * with fc the cutoff in cycles per input frame and H the half length in
 * input frames. The kernel is centred on t, so there is no group delay: an
 * impulse at frame k comes out centred on frame k * to / from. Frames
 * outside the input are zeros.
 *
 * Design, with lo = min(from, to):
 *   passband edge 0.455 lo (20.07 kHz at 44.1 kHz, 21.84 kHz at 48 kHz);
 *   stopband edge 0.5 lo, the lower Nyquist frequency: a downsampler
 *   folds nothing back above -120 dB, an upsampler leaves no image above it;
 *   cutoff midway, 0.4775 lo;
 *   Kaiser window for 120 dB, beta = 0.1102 (120 - 8.7) = 12.27, with the
 *   length from Kaiser's estimate for that transition band: H is about 87
 *   frames of the lower rate (175 taps between 44.1 and 48 kHz, 8 times as
 *   many input taps when dividing the rate by 8).
 * Passband ripple of such a design is of the order of the stopband's,
 * 1e-6 (1e-5 dB). Sums are in double; only the output is rounded to float.
 *
 * When the ratio has few distinct fractions (P x taps up to TABLE_MAX,
 * which holds for every common pair of rates), the kernel is computed once
 * per fraction; otherwise for each output frame. Cost is about 175 x
 * max(n, *out_n) multiply-adds either way.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "iem-dsp.h"
#include "resample.h"

#define STOPBAND_DB	120.0
#define PASS_EDGE	0.455	/* x min(from, to) */
#define STOP_EDGE	0.5	/* x min(from, to) */
/* The window is tabulated over s = u^2 in [0, 1], where it is an entire
 * function; linear interpolation over this many steps is within 1e-9. */
#define WINDOW_STEPS	65536u
/* Largest per-fraction coefficient table, in doubles (8 MiB). */
#define TABLE_MAX	(1u << 20)
/* The sine recurrence is restarted from sin()/cos() this often. */
#define RESEED		256

struct kernel {
	double fc;		/* cutoff, cycles per input frame */
	double half;		/* H, input frames */
	int32_t reach;		/* taps d in [-reach, reach] around floor(t) */
	double *window;		/* WINDOW_STEPS + 1 values of w over s = u^2 */
};

/* Modified Bessel function of the first kind, order 0, by its series
 * (all terms positive; beta^2 / 4 = 37.6 needs about 30 of them). */
static double bessel_i0(double x)
{
	const double q = 0.25 * x * x;
	double sum = 1.0, term = 1.0;

	for (int k = 1; k < 500; k++) {
		term *= q / ((double)k * (double)k);
		sum += term;
		if (term < sum * 1e-17)
			break;
	}
	return sum;
}

static int kernel_init(struct kernel *k, uint32_t from, uint32_t to)
{
	const double lo = from < to ? from : to;
	const double beta = 0.1102 * (STOPBAND_DB - 8.7);
	/* transition band in cycles per input frame */
	const double delta = (STOP_EDGE - PASS_EDGE) * lo / from;
	/* Kaiser: filter order N - 1 = (A - 7.95) / (2.285 * 2 pi delta) */
	const double order = (STOPBAND_DB - 7.95) / (2.285 * 2.0 * M_PI * delta);
	const double i0_beta = bessel_i0(beta);

	k->fc = 0.5 * (PASS_EDGE + STOP_EDGE) * lo / from;
	k->half = 0.5 * order;
	k->reach = (int32_t)ceil(k->half);
	k->window = malloc((WINDOW_STEPS + 1) * sizeof(double));
	if (k->window == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i <= WINDOW_STEPS; i++) {
		double s = (double)i / WINDOW_STEPS;
		k->window[i] = bessel_i0(beta * sqrt(1.0 - s)) / i0_beta;
	}
	return 0;
}

static inline double window_at(const struct kernel *k, double x)
{
	double s = x / k->half;
	s *= s;
	if (s >= 1.0)
		return 0.0;
	double pos = s * WINDOW_STEPS;
	uint32_t i = (uint32_t)pos;
	double f = pos - i;
	return k->window[i] + f * (k->window[i + 1] - k->window[i]);
}

/* out[d] = h(d - frac) for d in [dlo, dhi] (out indexed by d). The sines
 * of consecutive taps are one rotation apart: sin(2 pi fc x) is stepped
 * with the angle-addition formulas and restarted every RESEED taps. */
static void kernel_row(const struct kernel *k, double frac, int32_t dlo, int32_t dhi, double *out)
{
	const double w = 2.0 * M_PI * k->fc;
	const double cw = cos(w), sw = sin(w);
	double sn = 0.0, cs = 1.0;

	for (int32_t d = dlo; d <= dhi; d++) {
		const double x = (double)d - frac;
		if ((d - dlo) % RESEED == 0) {
			sn = sin(w * x);
			cs = cos(w * x);
		}
		if (x == 0.0)
			out[d] = 2.0 * k->fc;
		else
			out[d] = sn / (M_PI * x) * window_at(k, x);
		const double s2 = sn * cw + cs * sw;
		cs = cs * cw - sn * sw;
		sn = s2;
	}
}

float *iem_resample(const float *in, uint32_t n, uint32_t from, uint32_t to, uint32_t *out_n)
{
	struct kernel k = { 0 };
	double *table = NULL, *row = NULL;
	float *out;
	uint64_t len;
	int res;

	if (in == NULL || out_n == NULL || n == 0 ||
	    from < IEM_MIN_RATE || from > IEM_MAX_RATE || to < IEM_MIN_RATE || to > IEM_MAX_RATE) {
		errno = EINVAL;
		return NULL;
	}
	/* n <= 2^23 and to <= 384000: the product fits in 64 bits. */
	len = n > IEM_RESAMPLE_MAX_FRAMES ? UINT64_MAX : ((uint64_t)n * to + from - 1) / from;
	if (len > IEM_RESAMPLE_MAX_FRAMES) {
		errno = E2BIG;
		return NULL;
	}
	out = malloc((size_t)len * sizeof(float));
	if (out == NULL)
		return NULL;
	if (from == to) {
		memcpy(out, in, (size_t)n * sizeof(float));
		*out_n = n;
		return out;
	}

	if ((res = kernel_init(&k, from, to)) < 0)
		goto error;

	const uint32_t g = iem_gcd(from, to), P = to / g, Q = from / g;
	const int32_t reach = k.reach;
	const size_t taps = 2 * (size_t)reach + 1;

	if ((uint64_t)P * taps <= TABLE_MAX) {
		table = malloc((size_t)P * taps * sizeof(double));
		if (table == NULL) {
			res = -ENOMEM;
			goto error;
		}
		for (uint32_t p = 0; p < P; p++)
			kernel_row(&k, (double)p / P, -reach, reach, table + p * taps + reach);
	} else {
		row = malloc(taps * sizeof(double));
		if (row == NULL) {
			res = -ENOMEM;
			goto error;
		}
	}

	for (uint64_t j = 0; j < len; j++) {
		const uint64_t pos = j * Q;
		const int64_t base = (int64_t)(pos / P);
		const uint32_t p = (uint32_t)(pos % P);
		/* taps that fall inside the input: 0 <= base + d < n */
		const int32_t dlo = base < reach ? (int32_t)-base : -reach;
		const int32_t dhi = (int64_t)n - 1 - base < reach ? (int32_t)((int64_t)n - 1 - base) : reach;
		const float *x = in + base;
		const double *c;
		double acc = 0.0;

		if (table) {
			c = table + p * taps + reach;
		} else {
			kernel_row(&k, (double)p / P, dlo, dhi, row + reach);
			c = row + reach;
		}
		for (int32_t d = dlo; d <= dhi; d++)
			acc += x[d] * c[d];
		out[j] = (float)acc;
	}

	free(table);
	free(row);
	free(k.window);
	*out_n = (uint32_t)len;
	return out;

error:
	free(table);
	free(row);
	free(k.window);
	free(out);
	errno = -res;
	return NULL;
}
