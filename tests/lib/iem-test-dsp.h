/* SPDX-License-Identifier: MIT */
/* Signal helpers shared by the DSP tests: noise, sines, spectra, errors. */
#ifndef IEM_TEST_DSP_H
#define IEM_TEST_DSP_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "iem-dsp.h"

/* xorshift64*: a fixed, portable sequence for reproducible tests. */
static inline uint64_t test_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Uniform in [-1, 1). */
static inline double test_noise(uint64_t *s)
{
	return (double)(test_rand(s) >> 11) / 4503599627370496.0 - 1.0;
}

static inline double db(double x)
{
	return 20.0 * log10(x);
}

/* |X(f)| of x[0..n) evaluated directly (second-order Goertzel in double). */
static inline double test_dft_mag(const double *x, size_t n, double rate, double freq)
{
	const double w = 2.0 * M_PI * freq / rate, cw = 2.0 * cos(w);
	double s0, s1 = 0.0, s2 = 0.0;
	for (size_t i = 0; i < n; i++) {
		s0 = x[i] + cw * s1 - s2;
		s2 = s1;
		s1 = s0;
	}
	/* X = s1 - e^{-jw} s2 (up to a phase) */
	double re = s1 - s2 * cos(w), im = s2 * sin(w);
	return sqrt(re * re + im * im);
}

/* 4-term Blackman-Harris window (side lobes -92 dB). */
static inline void test_window(double *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double t = 2.0 * M_PI * (double)i / (double)(n - 1);
		x[i] *= 0.35875 - 0.48829 * cos(t) + 0.14128 * cos(2 * t) - 0.01168 * cos(3 * t);
	}
}

/* Runs a whole planar stereo buffer through the chain in calls of the given
 * sizes (sizes cycle; a 0-terminated list). */
static inline void test_run(struct iem_chain *c, const float *inl, const float *inr,
		float *outl, float *outr, size_t n, const uint32_t *sizes)
{
	size_t done = 0;
	for (int k = 0; done < n; k = sizes[k + 1] ? k + 1 : 0) {
		uint32_t m = sizes[k];
		if (m > n - done)
			m = (uint32_t)(n - done);
		const float *in[2] = { inl + done, inr + done };
		float *out[2] = { outl + done, outr + done };
		iem_chain_process(c, in, out, m);
		done += m;
	}
}

static inline void *test_alloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (p == NULL)
		abort();
	return p;
}

#endif
