/* SPDX-License-Identifier: MIT */
/*
 * Safety limiter: the last line of defence against loud surprises.
 *
 * Zero latency means no look-ahead, so the attack is instant: the gain drops
 * exactly far enough on the sample that would cross the ceiling. It then
 * holds and releases exponentially back to exactly 1, where the limiter is
 * bit-transparent again. Both channels share one gain so the image does not
 * move.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "iem-dsp.h"

#define HOLD_MS		10.0
#define RELEASE_MS	80.0	/* time constant */
/* The release aims a little above 1 and stops at 1, so it gets there in
 * finite time (about 3 time constants from -18 dB) instead of creeping. */
#define RELEASE_AIM	1.06f

struct iem_limiter {
	float ceiling;
	float release;		/* per-sample factor on (1 - gain) */
	uint32_t hold;		/* samples */
	uint32_t hold_left;
	float gain;
	uint64_t events;
	uint64_t samples;
};

struct iem_limiter *iem_limiter_new(uint32_t rate)
{
	struct iem_limiter *l;

	if (rate < IEM_MIN_RATE || rate > IEM_MAX_RATE) {
		errno = EINVAL;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	const double ceiling = pow(10.0, IEM_LIMITER_CEILING_DB / 20.0);
	/* Round down: the float ceiling itself must not be above -0.1 dBFS. */
	l->ceiling = (float)ceiling;
	if ((double)l->ceiling > ceiling)
		l->ceiling = nextafterf(l->ceiling, 0.0f);
	l->release = (float)exp(-1000.0 / (RELEASE_MS * rate));
	l->hold = (uint32_t)(HOLD_MS * rate / 1000.0);
	iem_limiter_reset(l);
	return l;
}

struct iem_limiter *iem_limiter_free(struct iem_limiter *l)
{
	free(l);
	return NULL;
}

void iem_limiter_reset(struct iem_limiter *l)
{
	l->gain = 1.0f;
	l->hold_left = 0;
}

void iem_limiter_process(struct iem_limiter *l, float *left, float *right, uint32_t n)
{
	const float ceiling = l->ceiling;
	float gain = l->gain;
	uint32_t hold_left = l->hold_left;
	uint64_t events = 0, samples = 0;

	for (uint32_t i = 0; i < n; i++) {
		float a = fabsf(left[i]), b = fabsf(right[i]);
		float peak = a > b ? a : b;

		if (!(a <= FLT_MAX) || !(b <= FLT_MAX)) {
			/* NaN or Inf: nothing sensible to scale. */
			left[i] = right[i] = 0.0f;
			continue;
		}
		if (gain < 1.0f) {
			if (hold_left > 0) {
				hold_left--;
			} else {
				gain = RELEASE_AIM - (RELEASE_AIM - gain) * l->release;
				if (gain > 1.0f)
					gain = 1.0f;
			}
		}
		if (peak * gain > ceiling) {
			if (gain == 1.0f)
				events++;
			gain = ceiling / peak;
			hold_left = l->hold;
		}
		if (gain < 1.0f) {
			float x = left[i] * gain, y = right[i] * gain;
			/* ceiling / peak * peak may round one ulp above. */
			left[i] = fminf(fmaxf(x, -ceiling), ceiling);
			right[i] = fminf(fmaxf(y, -ceiling), ceiling);
			samples++;
		}
	}
	l->gain = gain;
	l->hold_left = hold_left;
	/* Single writer; readers on other threads see whole values. */
	__atomic_store_n(&l->events, l->events + events, __ATOMIC_RELAXED);
	__atomic_store_n(&l->samples, l->samples + samples, __ATOMIC_RELAXED);
}

void iem_limiter_get_counts(const struct iem_limiter *l, uint64_t *events, uint64_t *samples)
{
	if (events)
		*events = __atomic_load_n(&l->events, __ATOMIC_RELAXED);
	if (samples)
		*samples = __atomic_load_n(&l->samples, __ATOMIC_RELAXED);
}
