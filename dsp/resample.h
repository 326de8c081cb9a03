/* SPDX-License-Identifier: MIT */
/*
 * Internal: offline resampling of impulse responses (HRIRs, BRIRs) to the
 * session rate. Not for the real-time path.
 */
#ifndef IEM_RESAMPLE_H
#define IEM_RESAMPLE_H

#include <stdint.h>

/* Most frames iem_resample() takes or makes: 8 x IEM_CONV_MAX_TAPS (32 MiB
 * of floats). */
#define IEM_RESAMPLE_MAX_FRAMES	(1u << 23)
/* How far the kernel reaches either side of its centre, in frames of the
 * lower of the two rates (an upper bound): an input followed by that many
 * zeros loses none of the filter's ringing. */
#define IEM_RESAMPLE_REACH	90u

/* RT-safe: no. Resamples n frames of one channel from rate `from` to rate
 * `to` (both in [IEM_MIN_RATE, IEM_MAX_RATE]) with a windowed-sinc
 * (Kaiser) filter whose passband ends below the lower Nyquist frequency.
 * Returns a malloc()ed buffer of *out_n frames (the length scaled by
 * to / from, rounded up) — the caller frees it — or NULL with errno set:
 * EINVAL (NULL, n = 0, a rate out of range), E2BIG (n or *out_n above
 * IEM_RESAMPLE_MAX_FRAMES, checked before allocating), ENOMEM.
 * from == to returns a copy. The group delay is compensated: an impulse
 * at frame k lands at frame k * to / from. */
float *iem_resample(const float *in, uint32_t n, uint32_t from, uint32_t to, uint32_t *out_n);

/* Greatest common divisor, for rate ratios. */
static inline uint32_t iem_gcd(uint32_t a, uint32_t b)
{
	while (b != 0) {
		uint32_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

#endif
