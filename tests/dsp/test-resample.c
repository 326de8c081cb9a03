/* SPDX-License-Identifier: MIT */
/*
 * The IR resampler against closed forms: sines against the ideal sine at
 * the new rate, passband flatness, stopband rejection, where an impulse
 * lands, exact copies at equal rates and the limits.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "iem-test.h"
#include "iem-test-dsp.h"
#include "resample.h"

#define AMP	0.5
#define N_ELEMS(a)	(sizeof(a) / sizeof((a)[0]))

struct pair {
	uint32_t from, to;
};

static float *sine(uint32_t n, double rate, double freq)
{
	float *x = test_alloc(n, sizeof(float));
	for (uint32_t i = 0; i < n; i++)
		x[i] = (float)(AMP * sin(2.0 * M_PI * freq * i / rate));
	return x;
}

/* Frames of the output that the input's edges do not reach: 200 frames
 * of the lower rate in from either end (the kernel is 87 long). */
static void middle(const struct pair *p, uint32_t out_n, uint32_t *first, uint32_t *last)
{
	uint32_t lo = p->from < p->to ? p->from : p->to;
	uint32_t margin = (uint32_t)(200.0 * p->to / lo);
	*first = margin;
	*last = out_n - margin;
}

/* Resamples a sine of freq and returns, over the middle, the RMS error
 * against the ideal sine and the amplitude of the best-fitting sine at
 * freq (least squares on sin and cos), both relative to AMP, in dB. */
static bool sine_through(const struct pair *p, double freq, double *err_db, double *gain_db,
		double *rms_db)
{
	const uint32_t n = p->from / 4;	/* 0.25 s */
	float *x = sine(n, p->from, freq);
	uint32_t out_n = 0, first, last;
	float *y = iem_resample(x, n, p->from, p->to, &out_n);
	double e2 = 0.0, y2 = 0.0, ss = 0.0, cc = 0.0, sc = 0.0, ys = 0.0, yc = 0.0;

	free(x);
	if (!check(y != NULL, "%u -> %u Hz: resamples a %g Hz sine (%s)", p->from, p->to, freq,
			y ? "ok" : strerror(errno)))
		return false;
	middle(p, out_n, &first, &last);
	for (uint32_t j = first; j < last; j++) {
		double w = 2.0 * M_PI * freq * j / p->to;
		double s = sin(w), c = cos(w), d = y[j] - AMP * s;
		e2 += d * d;
		y2 += (double)y[j] * y[j];
		ss += s * s;
		cc += c * c;
		sc += s * c;
		ys += y[j] * s;
		yc += y[j] * c;
	}
	/* [ss sc; sc cc] [a; b] = [ys; yc] */
	double det = ss * cc - sc * sc;
	double a = (ys * cc - yc * sc) / det, b = (yc * ss - ys * sc) / det;
	double m = last - first;
	*err_db = db(sqrt(e2 / m) / (AMP / sqrt(2.0)));
	*gain_db = db(sqrt(a * a + b * b) / AMP);
	*rms_db = db(sqrt(y2 / m) / (AMP / sqrt(2.0)));
	free(y);
	return true;
}

static void test_sines(void)
{
	static const struct pair pairs[] = {
		{ 44100, 48000 }, { 48000, 44100 }, { 48000, 96000 }, { 96000, 48000 },
		{ 44100, 96000 }, { 8000, 384000 }, { 384000, 48000 },
		/* no common factor: the kernel is computed for each output frame */
		{ 44100, 48001 },
	};
	for (size_t i = 0; i < N_ELEMS(pairs); i++) {
		double err, gain, rms;
		if (!sine_through(&pairs[i], 1000.0, &err, &gain, &rms))
			continue;
		check(err <= -100.0, "%u -> %u Hz: a 1 kHz sine is within %.1f dB of the ideal one (<= -100)",
				pairs[i].from, pairs[i].to, err);
	}
}

static void test_passband(void)
{
	static const struct pair pairs[] = {
		{ 44100, 48000 }, { 48000, 44100 }, { 48000, 96000 }, { 96000, 48000 }, { 44100, 48001 },
	};
	static const double freqs[] = { 20, 100, 1000, 5000, 10000, 15000, 17000, 0 };
	for (size_t i = 0; i < N_ELEMS(pairs); i++) {
		const struct pair *p = &pairs[i];
		const double lo = p->from < p->to ? p->from : p->to;
		double worst = 0.0, worst_f = 0.0, worst_err = -INFINITY;
		for (size_t k = 0; k < N_ELEMS(freqs); k++) {
			double f = freqs[k] ? freqs[k] : 0.4 * lo, err, gain, rms;
			if (f > 0.4 * lo)
				continue;
			if (!sine_through(p, f, &err, &gain, &rms))
				continue;
			if (fabs(gain) > fabs(worst)) {
				worst = gain;
				worst_f = f;
			}
			if (err > worst_err)
				worst_err = err;
		}
		check(fabs(worst) <= 0.01, "%u -> %u Hz: passband flat to 0.01 dB up to %.0f Hz "
				"(worst %+.6f dB at %.0f Hz)", p->from, p->to, 0.4 * lo, worst, worst_f);
		check(worst_err <= -100.0, "%u -> %u Hz: every passband sine within -100 dB of "
				"the ideal one (worst %.1f dB)", p->from, p->to, worst_err);
	}
}

static void test_stopband(void)
{
	static const struct {
		struct pair p;
		double freq;
	} tones[] = {
		{ { 48000, 44100 }, 22060 }, { { 48000, 44100 }, 22300 }, { { 48000, 44100 }, 23000 }, { { 48000, 44100 }, 23900 },
		{ { 96000, 48000 }, 24300 }, { { 96000, 48000 }, 30000 }, { { 96000, 48000 }, 47000 },
		{ { 96000, 44100 }, 22500 }, { { 48000, 8000 }, 4200 }, { { 48000, 8000 }, 20000 },
		{ { 48001, 44100 }, 23000 },
	};
	for (size_t i = 0; i < N_ELEMS(tones); i++) {
		double err, gain, rms;
		if (!sine_through(&tones[i].p, tones[i].freq, &err, &gain, &rms))
			continue;
		check(rms <= -100.0, "%u -> %u Hz: a %.0f Hz tone (above %u Hz) comes out at %.1f dB (<= -100)",
				tones[i].p.from, tones[i].p.to, tones[i].freq, tones[i].p.to / 2, rms);
	}
}

static void test_impulse(void)
{
	static const struct {
		struct pair p;
		uint32_t k;
	} cases[] = {
		{ { 44100, 48000 }, 1470 },	/* lands on 1600 */
		{ { 48000, 44100 }, 1600 },	/* lands on 1470 */
		{ { 48000, 96000 }, 1000 },	/* 2000 */
		{ { 96000, 48000 }, 2000 },	/* 1000 */
		{ { 44100, 48000 }, 1000 },	/* 1088.435…, between frames */
		{ { 48000, 44100 }, 1001 },	/* 919.66… */
		{ { 44100, 48001 }, 1234 },
		{ { 44100, 48000 }, 0 },	/* the first frame: half the kernel is cut */
	};
	const uint32_t n = 4000;
	float *x = test_alloc(n, sizeof(float));

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		const struct pair *p = &cases[i].p;
		const uint32_t k = cases[i].k;
		const double at = (double)k * p->to / p->from;
		uint32_t out_n = 0, peak = 0;
		float *y;

		memset(x, 0, n * sizeof(float));
		x[k] = 1.0f;
		y = iem_resample(x, n, p->from, p->to, &out_n);
		if (!check(y != NULL, "%u -> %u Hz: impulse at %u resampled", p->from, p->to, k))
			continue;
		for (uint32_t j = 0; j < out_n; j++)
			if (fabsf(y[j]) > fabsf(y[peak]))
				peak = j;
		check(peak == (uint32_t)lround(at), "%u -> %u Hz: impulse at %u peaks at %u (%.3f)",
				p->from, p->to, k, peak, at);
		/* nothing beyond IEM_RESAMPLE_REACH frames of the lower rate */
		const double lo = p->from < p->to ? p->from : p->to;
		const double reach = IEM_RESAMPLE_REACH * p->to / lo;
		uint32_t beyond = 0, last = 0;
		for (uint32_t j = 0; j < out_n; j++) {
			if (y[j] != 0.0f && fabs(j - at) > reach)
				beyond++;
			if (y[j] != 0.0f)
				last = j;
		}
		check(beyond == 0, "%u -> %u Hz: impulse at %u reaches %.1f output frames, within %.1f "
				"(%u beyond)", p->from, p->to, k, last - at, reach, beyond);
		if (k == 0)
			goto next;
		/* centre of gravity: exact for a band-limited, symmetric kernel */
		double s0 = 0.0, s1 = 0.0, asym = 0.0;
		for (uint32_t j = 0; j < out_n; j++) {
			s0 += y[j];
			s1 += y[j] * (double)j;
		}
		check(fabs(s1 / s0 - at) < 1e-3, "%u -> %u Hz: impulse at %u is centred on %.6f (%.6f)",
				p->from, p->to, k, s1 / s0, at);
		if (at == floor(at)) {
			uint32_t c = (uint32_t)at;
			for (uint32_t d = 1; d < 300; d++)
				asym = fmax(asym, fabs(y[c + d] - y[c - d]));
			check(asym < 1e-6, "%u -> %u Hz: impulse at %u is symmetric about %u (%.2g)",
					p->from, p->to, k, c, asym);
		}
		/* the sum of the taps is the DC gain scaled by the ratio */
		check(fabs(s0 - (double)p->to / p->from) < 1e-4 * p->to / p->from,
				"%u -> %u Hz: impulse at %u sums to %.7f (%.7f)",
				p->from, p->to, k, s0, (double)p->to / p->from);
next:
		free(y);
	}
	free(x);
}

static void test_lengths(void)
{
	static const struct {
		uint32_t n, from, to, want;
	} cases[] = {
		{ 1, 44100, 48000, 2 }, { 147, 48000, 44100, 136 }, { 441, 44100, 48000, 480 },
		{ 442, 44100, 48000, 482 }, { 1, 384000, 8000, 1 }, { 1000, 8000, 384000, 48000 },
		{ IEM_RESAMPLE_MAX_FRAMES, 384000, 8000, IEM_RESAMPLE_MAX_FRAMES / 48 + 1 },
	};
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		float *x = test_alloc(cases[i].n, sizeof(float));
		uint32_t out_n = 0;
		x[0] = 1.0f;
		float *y = iem_resample(x, cases[i].n, cases[i].from, cases[i].to, &out_n);
		check(y != NULL && out_n == cases[i].want, "%u frames %u -> %u Hz: %u frames (%u)",
				cases[i].n, cases[i].from, cases[i].to, out_n, cases[i].want);
		free(y);
		free(x);
	}
}

static void test_copy(void)
{
	const uint32_t n = 1001;
	float *x = test_alloc(n, sizeof(float));
	uint64_t seed = 7;
	uint32_t out_n = 0;

	for (uint32_t i = 0; i < n; i++)
		x[i] = (float)test_noise(&seed);
	x[3] = 1e-40f;	/* a denormal survives too */
	float *y = iem_resample(x, n, 48000, 48000, &out_n);
	check(y != NULL && out_n == n && memcmp(x, y, n * sizeof(float)) == 0,
			"48000 -> 48000 Hz: an exact copy (%u frames)", out_n);
	free(y);
	free(x);
}

static void test_limits(void)
{
	float x[4] = { 1.0f };
	uint32_t out_n = 12345;
	static const struct {
		const char *what;
		bool null_in, null_out;
		uint32_t n, from, to;
		int err;
	} cases[] = {
		{ "NULL input", true, false, 4, 48000, 44100, EINVAL },
		{ "NULL length", false, true, 4, 48000, 44100, EINVAL },
		{ "no frames", false, false, 0, 48000, 44100, EINVAL },
		{ "from 7999 Hz", false, false, 4, IEM_MIN_RATE - 1, 44100, EINVAL },
		{ "to 7999 Hz", false, false, 4, 48000, IEM_MIN_RATE - 1, EINVAL },
		{ "from 384001 Hz", false, false, 4, IEM_MAX_RATE + 1, 44100, EINVAL },
		{ "to 384001 Hz", false, false, 4, 48000, IEM_MAX_RATE + 1, EINVAL },
		{ "from 0 Hz", false, false, 4, 0, 44100, EINVAL },
		/* refused before the input is read: x holds only 4 frames */
		{ "2^23 + 1 frames", false, false, IEM_RESAMPLE_MAX_FRAMES + 1, 48000, 48000, E2BIG },
		{ "2^32 - 1 frames", false, false, UINT32_MAX, 48000, 44100, E2BIG },
		{ "2^23 frames x 2", false, false, IEM_RESAMPLE_MAX_FRAMES, 48000, 96000, E2BIG },
		{ "2^18 frames x 48", false, false, 1u << 18, 8000, 384000, E2BIG },
	};
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		errno = 0;
		float *y = iem_resample(cases[i].null_in ? NULL : x, cases[i].n, cases[i].from,
				cases[i].to, cases[i].null_out ? NULL : &out_n);
		int e = errno;
		check(y == NULL && e == cases[i].err, "%s: refused with %s (%s)", cases[i].what,
				strerror(cases[i].err), y ? "accepted" : strerror(e));
		free(y);
	}
	check(out_n == 12345, "refusals leave *out_n alone");
}

/* 4 s at 48 kHz, as a long BRIR: figures only, the bench suite's rule. */
static void test_speed(void)
{
	static const struct pair pairs[] = { { 48000, 44100 }, { 44100, 48000 }, { 48000, 48001 } };
	const uint32_t n = 4 * 48000;
	float *x = test_alloc(n, sizeof(float));
	uint64_t seed = 3;

	for (uint32_t i = 0; i < n; i++)
		x[i] = (float)(test_noise(&seed) * exp(-6.9 * i / n));
	for (size_t i = 0; i < N_ELEMS(pairs); i++) {
		struct timespec a, b;
		uint32_t out_n;
		clock_gettime(CLOCK_MONOTONIC, &a);
		float *y = iem_resample(x, n, pairs[i].from, pairs[i].to, &out_n);
		clock_gettime(CLOCK_MONOTONIC, &b);
		check(y != NULL, "4 s of noise %u -> %u Hz", pairs[i].from, pairs[i].to);
		diag("4 s, %u -> %u Hz: %.3f s", pairs[i].from, pairs[i].to,
				(double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9);
		free(y);
	}
	free(x);
}

int main(void)
{
	test_sines();
	test_passband();
	test_stopband();
	test_impulse();
	test_lengths();
	test_copy();
	test_limits();
	test_speed();
	return iem_test_done();
}
