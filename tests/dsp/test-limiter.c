/* SPDX-License-Identifier: MIT */
/* The safety limiter on its own. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "iem-test.h"
#include "iem-test-dsp.h"

int main(void)
{
	const uint32_t rate = 48000, n = rate * 2;
	const float ceiling = (float)pow(10.0, IEM_LIMITER_CEILING_DB / 20.0);
	float *l = test_alloc(n, sizeof(float)), *r = test_alloc(n, sizeof(float));
	float *l0 = test_alloc(n, sizeof(float)), *r0 = test_alloc(n, sizeof(float));
	struct iem_limiter *lim = iem_limiter_new(rate);
	uint64_t seed = 11, events, samples;

	check(lim != NULL, "limiter made");
	errno = 0;
	check(iem_limiter_new(100) == NULL && errno == EINVAL, "a 100 Hz rate is refused");

	/* quiet, then a loud second, then quiet again */
	for (uint32_t i = 0; i < n; i++) {
		double a = (i >= rate / 2 && i < rate) ? 8.0 : 0.5;
		l[i] = (float)(a * test_noise(&seed));
		r[i] = (float)(a * 0.5 * test_noise(&seed));
	}
	memcpy(l0, l, n * sizeof(float));
	memcpy(r0, r, n * sizeof(float));
	for (uint32_t done = 0; done < n; done += 100)
		iem_limiter_process(lim, l + done, r + done, 100);

	float peak = 0.0f;
	for (uint32_t i = 0; i < n; i++)
		peak = fmaxf(peak, fmaxf(fabsf(l[i]), fabsf(r[i])));
	check(peak <= ceiling && db(peak) <= IEM_LIMITER_CEILING_DB,
			"+18 dB bursts: peak %.6f dBFS never past -0.1 dBFS", db(peak));
	check(memcmp(l, l0, rate / 2 * sizeof(float)) == 0, "before the burst: bit-transparent");
	check(memcmp(l + rate + rate / 2, l0 + rate + rate / 2, rate / 2 * sizeof(float)) == 0 &&
	      memcmp(r + rate + rate / 2, r0 + rate + rate / 2, rate / 2 * sizeof(float)) == 0,
			"half a second after the burst: back to bit-transparent");
	/* stereo-linked: the ratio between channels is kept */
	bool linked = true;
	for (uint32_t i = rate / 2; i < rate; i++)
		if (l0[i] != 0.0f && r0[i] != 0.0f && fabsf(l0[i]) * 0.9f < ceiling && fabsf(r0[i]) < ceiling * 0.9f)
			linked &= fabs(l[i] / l0[i] - r[i] / r0[i]) < 1e-5;
	check(linked, "both channels get the same gain");
	iem_limiter_get_counts(lim, &events, &samples);
	check(events >= 1 && samples >= rate / 2, "counts: %llu events, %llu samples",
			(unsigned long long)events, (unsigned long long)samples);

	float nl[4] = { NAN, INFINITY, 0.5f, 2.0f }, nr[4] = { 0.1f, 0.1f, -INFINITY, 0.0f };
	iem_limiter_reset(lim);
	iem_limiter_process(lim, nl, nr, 4);
	bool finite = true;
	for (int i = 0; i < 4; i++)
		finite &= isfinite(nl[i]) && isfinite(nr[i]) && fabsf(nl[i]) <= ceiling && fabsf(nr[i]) <= ceiling;
	check(finite, "NaN and Inf do not come out");

	iem_limiter_free(lim);
	free(l); free(r); free(l0); free(r0);
	return iem_test_done();
}
