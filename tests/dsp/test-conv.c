/* SPDX-License-Identifier: MIT */
/*
 * The convolver against direct convolution in double, impulse positions
 * at many call sizes, true stereo and 8 x 2, and its limits.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "iem-test.h"
#include "iem-test-dsp.h"

static void layout(const struct iem_conv *c, char *buf, size_t size)
{
	struct iem_conv_info info;
	size_t len = 0;
	iem_conv_get_info(c, &info);
	buf[0] = '\0';
	for (uint32_t k = 0; k < info.n_levels && len < size; k++)
		len += (size_t)snprintf(buf + len, size - len, "%s%ux%u@%u", k ? " + " : "",
				info.block[k], info.partitions[k], info.offset[k]);
}

/* Runs n frames through c in calls whose sizes come from `sizes` (cycled,
 * 0-terminated) or, when sizes is NULL, from a random mix 1 … 8192. */
static void run(struct iem_conv *c, float **in, float **out, uint32_t n_in, uint32_t n_out,
		size_t n, const uint32_t *sizes, uint64_t *seed)
{
	size_t done = 0;
	int k = 0;
	while (done < n) {
		uint32_t m;
		if (sizes) {
			m = sizes[k];
			k = sizes[k + 1] ? k + 1 : 0;
		} else {
			uint64_t r = test_rand(seed);
			/* mostly quantum-like sizes, sometimes tiny or huge */
			m = r % 4 == 0 ? 1 + (uint32_t)(r >> 8) % 8192 : 1 + (uint32_t)(r >> 8) % 300;
		}
		if (m > n - done)
			m = (uint32_t)(n - done);
		const float *ip[IEM_CONV_MAX_INPUTS];
		float *op[IEM_CONV_MAX_OUTPUTS];
		for (uint32_t i = 0; i < n_in; i++)
			ip[i] = in[i] + done;
		for (uint32_t o = 0; o < n_out; o++)
			op[o] = out[o] + done;
		iem_conv_process(c, ip, op, m);
		done += m;
	}
}

/* Direct convolution in double at output index t, output o. */
static double direct(float **in, const float *const *taps, uint32_t n_in, uint32_t o,
		uint32_t length, size_t t)
{
	double y = 0.0;
	for (uint32_t i = 0; i < n_in; i++) {
		const float *h = taps[o * n_in + i];
		size_t top = t + 1 < length ? t + 1 : length;
		for (size_t j = 0; j < top; j++)
			y += (double)h[j] * in[i][t - j];
	}
	return y;
}

static void test_against_direct(uint32_t n_in, uint32_t n_out, uint32_t length, uint64_t seed)
{
	const size_t n = length + 20000;
	float *taps[IEM_CONV_MAX_INPUTS * IEM_CONV_MAX_OUTPUTS];
	float *in[IEM_CONV_MAX_INPUTS], *out[IEM_CONV_MAX_OUTPUTS];
	char lay[160];

	for (uint32_t k = 0; k < n_in * n_out; k++) {
		taps[k] = test_alloc(length, sizeof(float));
		/* decaying noise, like a room */
		for (uint32_t j = 0; j < length; j++)
			taps[k][j] = (float)(test_noise(&seed) * exp(-3.0 * j / (length + 1.0)));
	}
	for (uint32_t i = 0; i < n_in; i++) {
		in[i] = test_alloc(n, sizeof(float));
		for (size_t t = 0; t < n; t++)
			in[i][t] = (float)(0.5 * test_noise(&seed));
	}
	for (uint32_t o = 0; o < n_out; o++)
		out[o] = test_alloc(n, sizeof(float));

	struct iem_ir ir = { n_in, n_out, length, (const float *const *)taps };
	struct iem_conv *c = iem_conv_new(&ir);
	if (!check(c != NULL, "%ux%u, %u taps: made", n_in, n_out, length))
		return;
	layout(c, lay, sizeof(lay));
	run(c, in, out, n_in, n_out, n, NULL, &seed);

	/* Every output index for short responses; for long ones, the first
	 * frames, both sides of every level's start, and random points. */
	double err = 0.0, peak = 0.0;
	size_t worst_t = 0;
	size_t points = length <= 9000 ? n : 3000;
	for (size_t q = 0; q < points; q++) {
		size_t t;
		if (points == n)
			t = q;
		else if (q < 200)
			t = q;
		else if (q < 1200) {
			static const size_t edges[] = { 1024, 8192, 8192 + 4096, 16384 };
			t = edges[q % 4] + (q % 250) - 125 + (q / 250) * 4096;
			if (t >= n)
				t = n - 1;
		} else
			t = test_rand(&seed) % n;
		for (uint32_t o = 0; o < n_out; o++) {
			double want = direct(in, (const float *const *)taps, n_in, o, length, t);
			double e = fabs(out[o][t] - want);
			peak = fmax(peak, fabs(want));
			if (e > err) {
				err = e;
				worst_t = t;
			}
		}
	}
	double rel = db(err / peak);
	check(rel <= -110.0, "%ux%u, %u taps (%s), random call sizes 1 … 8192: max error %.1f dB re output peak (worst at frame %zu)",
			n_in, n_out, length, lay, rel, worst_t);

	iem_conv_free(c);
	for (uint32_t k = 0; k < n_in * n_out; k++)
		free(taps[k]);
	for (uint32_t i = 0; i < n_in; i++)
		free(in[i]);
	for (uint32_t o = 0; o < n_out; o++)
		free(out[o]);
}

static void test_impulse_position(void)
{
	const uint32_t length = 10000;
	static const uint32_t s1[] = { 1, 0 }, s63[] = { 63, 0 }, s64[] = { 64, 0 }, s65[] = { 65, 0 },
		s1000[] = { 1000, 0 }, s4096[] = { 4096, 0 }, mixed[] = { 64, 1, 1000, 7, 256, 4096, 63, 65, 0 };
	const uint32_t *lists[] = { s1, s63, s64, s65, s1000, s4096, mixed };
	const char *names[] = { "1", "63", "64", "65", "1000", "4096", "mixed" };
	static const size_t at[] = { 0, 1, 63, 64, 1023, 1024, 5000, 8191, 8192 };
	float *h = test_alloc(length, sizeof(float));
	uint64_t seed = 42;

	for (uint32_t j = 0; j < length; j++)
		h[j] = (float)test_noise(&seed);
	const float *taps[1] = { h };
	struct iem_ir ir = { 1, 1, length, taps };
	struct iem_conv *c = iem_conv_new(&ir);

	for (size_t li = 0; li < 7; li++) {
		bool ok = true;
		size_t bad_k = 0, bad_t = 0;
		for (size_t ai = 0; ai < sizeof(at) / sizeof(at[0]); ai++) {
			const size_t k = at[ai], n = k + length + 100;
			float *x = test_alloc(n, sizeof(float)), *y = test_alloc(n, sizeof(float));
			x[k] = 1.0f;
			iem_conv_reset(c);
			run(c, &x, &y, 1, 1, n, lists[li], &seed);
			for (size_t t = 0; t < n && ok; t++) {
				double want = t < k || t >= k + length ? 0.0 : h[t - k];
				/* FFT rounding within a block leaves ~1e-8 before
				 * the impulse; a misplaced response would be ~1. */
				bool good = fabs(y[t] - want) <= 1e-5;
				if (!good) {
					ok = false;
					bad_k = k;
					bad_t = t;
				}
			}
			free(x);
			free(y);
		}
		check(ok, "call size %s: an impulse at frame k gives the response from exactly frame k, nothing before (first failure: k %zu, frame %zu)",
				names[li], bad_k, bad_t);
	}
	iem_conv_free(c);
	free(h);
}

static void test_limits(void)
{
	float h[4] = { 1, 0, 0, 0 };
	const float *taps[16] = { h, h, h, h, h, h, h, h, h, h, h, h, h, h, h, h };
	struct iem_ir ir;

	ir = (struct iem_ir) { 1, 1, IEM_CONV_MAX_TAPS + 1, taps };
	errno = 0;
	check(iem_conv_new(&ir) == NULL && errno == E2BIG, "more than 2^20 taps: E2BIG (checked before allocating)");
	ir = (struct iem_ir) { 9, 1, 4, taps };
	errno = 0;
	check(iem_conv_new(&ir) == NULL && errno == E2BIG, "9 inputs: E2BIG");
	ir = (struct iem_ir) { 2, 3, 4, taps };
	errno = 0;
	check(iem_conv_new(&ir) == NULL && errno == E2BIG, "3 outputs: E2BIG");
	ir = (struct iem_ir) { 1, 1, 0, taps };
	errno = 0;
	check(iem_conv_new(&ir) == NULL && errno == EINVAL, "no taps: EINVAL");
	check(iem_conv_new(NULL) == NULL && errno == EINVAL, "NULL: EINVAL");
	check(iem_conv_free(NULL) == NULL, "free(NULL) is safe");

	/* in place, 2 x 2, identity paths: out is in */
	const float *id[4] = { h, (const float[4]) { 0 }, (const float[4]) { 0 }, h };
	ir = (struct iem_ir) { 2, 2, 4, id };
	struct iem_conv *c = iem_conv_new(&ir);
	float l[300], r[300];
	for (int i = 0; i < 300; i++) {
		l[i] = (float)i;
		r[i] = (float)-i;
	}
	const float *in[2] = { l, r };
	float *out[2] = { l, r };
	iem_conv_process(c, in, out, 300);
	bool same = true;
	for (int i = 0; i < 300; i++)
		same &= fabsf(l[i] - (float)i) < 1e-3f && fabsf(r[i] + (float)i) < 1e-3f;
	check(same, "in place (out = in), 2x2 identity: output is the input");
	iem_conv_free(c);
}

int main(void)
{
	static const uint32_t lengths[] = { 1, 2, 63, 64, 65, 1000, 1023, 1024, 1025, 4000, 8191, 8192, 8193, 30000, 200000 };
	uint64_t seed = 1234;

	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++)
		test_against_direct(1, 1, lengths[i], seed + i);
	test_against_direct(2, 2, 48000, seed + 100);
	test_against_direct(2, 2, 777, seed + 101);
	test_against_direct(8, 2, 9000, seed + 102);
	test_impulse_position();
	test_limits();
	return iem_test_done();
}
