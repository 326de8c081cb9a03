/* SPDX-License-Identifier: MIT */
/*
 * The convolver against direct convolution in double, impulse positions
 * at many call sizes, true stereo and 8 x 2, and its limits.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/sysinfo.h>
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
		if (h == NULL)
			continue;
		size_t top = t + 1 < length ? t + 1 : length;
		for (size_t j = 0; j < top; j++)
			y += (double)h[j] * in[i][t - j];
	}
	return y;
}

static void test_against_direct(uint32_t n_in, uint32_t n_out, uint32_t length, uint64_t seed,
		uint32_t flags)
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
	struct iem_conv_config cfg = { .flags = flags };
	struct iem_conv *c = iem_conv_new(&ir, &cfg);
	const char *mode = flags & IEM_CONV_SYNC ? "one thread" : "worker";
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
	struct iem_conv_stats st;
	iem_conv_get_stats(c, &st);
	check(rel <= -110.0, "%ux%u, %u taps (%s, %s), random call sizes 1 … 8192: max error %.1f dB re output peak (worst at frame %zu; tail blocks: %" PRIu64 " on the worker, %" PRIu64 " spread, %" PRIu64 " inline, %" PRIu64 " waited for)",
			n_in, n_out, length, lay, mode, rel, worst_t, st.jobs_async, st.jobs_spread, st.jobs_inline, st.late);

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
	struct iem_conv *c = iem_conv_new(&ir, NULL);

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
	check(iem_conv_new(&ir, NULL) == NULL && errno == E2BIG, "more than 2^20 taps: E2BIG (checked before allocating)");
	ir = (struct iem_ir) { 9, 1, 4, taps };
	errno = 0;
	check(iem_conv_new(&ir, NULL) == NULL && errno == E2BIG, "9 inputs: E2BIG");
	ir = (struct iem_ir) { 2, 3, 4, taps };
	errno = 0;
	check(iem_conv_new(&ir, NULL) == NULL && errno == E2BIG, "3 outputs: E2BIG");
	ir = (struct iem_ir) { 1, 1, 0, taps };
	errno = 0;
	check(iem_conv_new(&ir, NULL) == NULL && errno == EINVAL, "no taps: EINVAL");
	check(iem_conv_new(NULL, NULL) == NULL && errno == EINVAL, "NULL: EINVAL");
	check(iem_conv_free(NULL) == NULL, "free(NULL) is safe");

	/* in place, 2 x 2, identity paths: out is in */
	const float *id[4] = { h, NULL, NULL, h };
	ir = (struct iem_ir) { 2, 2, 4, id };
	struct iem_conv *c = iem_conv_new(&ir, NULL);
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
	check(same, "in place (out = in), 2x2 identity with NULL (silent) cross paths: output is the input");
	iem_conv_free(c);
	const float *none[4] = { NULL, NULL, NULL, NULL };
	ir = (struct iem_ir) { 2, 2, 4, none };
	errno = 0;
	c = iem_conv_new(&ir, NULL);
	check(c == NULL && errno == EINVAL, "every path NULL: EINVAL");
	iem_conv_free(c);
}

/* Windowed RMS in dB over [t, t + w). */
static double rms_db(const double *y, size_t t, size_t w)
{
	double e = 0.0;
	for (size_t j = t; j < t + w; j++)
		e += y[j] * y[j];
	return 10.0 * log10(e / (double)w + 1e-300);
}

/*
 * IR exchange mid-stream, 2 x 2: the output must be exactly the equal-power
 * crossfade of the two responses' full convolutions (so the new one comes
 * with its whole history, and nothing jumps), and its level must never dip
 * more than 1 dB below the quieter of the two.
 */
static void test_exchange(uint32_t flags)
{
	const uint32_t len_a = 30000, len_b = 20000, xf = 2048;
	const size_t n = 110000, swap_at = 40000;
	const char *mode = flags & IEM_CONV_SYNC ? "one thread" : "worker";
	float *ta[4], *tb[4], *in[2], *out[2];
	double *want[2], *ya[2], *yb[2];
	uint64_t seed = 99;

	for (int k = 0; k < 4; k++) {
		ta[k] = test_alloc(len_a, sizeof(float));
		tb[k] = test_alloc(len_b, sizeof(float));
		for (uint32_t j = 0; j < len_a; j++)
			ta[k][j] = (float)(0.2 * test_noise(&seed) * exp(-4.0 * j / len_a));
		/* quieter by 6 dB and shorter: level and length both change */
		for (uint32_t j = 0; j < len_b; j++)
			tb[k][j] = (float)(0.1 * test_noise(&seed) * exp(-4.0 * j / len_b));
	}
	for (int i = 0; i < 2; i++) {
		in[i] = test_alloc(n, sizeof(float));
		out[i] = test_alloc(n, sizeof(float));
		want[i] = test_alloc(n, sizeof(double));
		ya[i] = test_alloc(n, sizeof(double));
		yb[i] = test_alloc(n, sizeof(double));
		for (size_t t = 0; t < n; t++)
			in[i][t] = (float)(0.5 * test_noise(&seed));
	}

	struct iem_ir a = { 2, 2, len_a, (const float *const *)ta };
	struct iem_ir b = { 2, 2, len_b, (const float *const *)tb };
	struct iem_conv_config cfg = { .max_length = len_a, .xfade_frames = xf, .flags = flags };
	struct iem_conv *c = iem_conv_new(&a, &cfg);
	if (!check(c != NULL, "exchange (%s): made", mode))
		return;

	/* random call sizes; the new set is handed over between two calls */
	size_t done = 0;
	bool swapped = false;
	while (done < n) {
		uint64_t r = test_rand(&seed);
		uint32_t m = r % 4 == 0 ? 1 + (uint32_t)(r >> 8) % 2048 : 1 + (uint32_t)(r >> 8) % 300;
		if (m > n - done)
			m = (uint32_t)(n - done);
		if (!swapped && done >= swap_at) {
			check(iem_conv_set_ir(c, &b) == 0, "exchange (%s): iem_conv_set_ir() takes the new set at frame %zu",
					mode, done);
			swapped = true;
		}
		const float *ip[2] = { in[0] + done, in[1] + done };
		float *op[2] = { out[0] + done, out[1] + done };
		iem_conv_process(c, ip, op, m);
		done += m;
	}
	struct iem_conv_stats st;
	iem_conv_get_stats(c, &st);
	check(st.exchanges == 1 && st.xfade_start > swap_at && st.xfade_start < swap_at + 16384,
			"exchange (%s): one exchange, its crossfade starting at frame %" PRIu64 " (handed over at ~%zu)",
			mode, st.xfade_start, swap_at);

	/* the reference, in double, around the crossfade */
	const size_t from = swap_at - 4000, to = st.xfade_start + xf + 12000;
	double err = 0.0, peak = 0.0;
	for (size_t t = from; t < to && t < n; t++) {
		double u = t < st.xfade_start ? 0.0 : fmin(1.0, (double)(t - st.xfade_start) / xf);
		/* equal power along a raised-cosine path (zero slope at both ends) */
		double v = 0.5 * (1.0 - cos(M_PI * u));
		double ga = cos(M_PI_2 * v), gb = sin(M_PI_2 * v);
		for (uint32_t o = 0; o < 2; o++) {
			ya[o][t] = direct(in, (const float *const *)ta, 2, o, len_a, t);
			yb[o][t] = direct(in, (const float *const *)tb, 2, o, len_b, t);
			want[o][t] = ga * ya[o][t] + gb * yb[o][t];
			err = fmax(err, fabs(out[o][t] - want[o][t]));
			peak = fmax(peak, fabs(want[o][t]));
		}
	}
	check(db(err / peak) <= -110.0,
			"exchange (%s): output is the equal-power crossfade of both full convolutions: max error %.1f dB re peak",
			mode, db(err / peak));

	/* level in 512-frame windows against the quieter response's */
	double worst = 1e9;
	for (size_t t = from; t + 512 <= to && t + 512 <= n; t += 256) {
		for (uint32_t o = 0; o < 2; o++) {
			double got[512];
			for (size_t j = 0; j < 512; j++)
				got[j] = out[o][t + j];
			double d = rms_db(got, 0, 512) - fmin(rms_db(ya[o], t, 512), rms_db(yb[o], t, 512));
			worst = fmin(worst, d);
		}
	}
	check(worst >= -1.0, "exchange (%s): level never dips more than 1 dB below the quieter response (lowest %+.2f dB)",
			mode, worst);

	/* the refusals */
	float *longer[4] = { ta[0], ta[1], ta[2], ta[3] };
	struct iem_ir too_long = { 2, 2, len_a + 1, (const float *const *)longer };
	struct iem_ir mono = { 1, 1, 100, (const float *const *)ta };
	check(iem_conv_set_ir(c, &too_long) == -E2BIG, "exchange: a set longer than max_length: -E2BIG");
	check(iem_conv_set_ir(c, &mono) == -EINVAL, "exchange: other channel counts: -EINVAL");

	iem_conv_free(c);
	for (int k = 0; k < 4; k++) {
		free(ta[k]);
		free(tb[k]);
	}
	for (int i = 0; i < 2; i++) {
		free(in[i]);
		free(out[i]);
		free(want[i]);
		free(ya[i]);
		free(yb[i]);
	}
}

/* The worker does not change a single bit of the result. */
static void test_worker_same(void)
{
	const uint32_t length = 50000;
	const size_t n = 120000;
	float *taps[4], *in[2], *o1[2], *o2[2];
	uint64_t seed = 5;

	for (int k = 0; k < 4; k++) {
		taps[k] = test_alloc(length, sizeof(float));
		for (uint32_t j = 0; j < length; j++)
			taps[k][j] = (float)(test_noise(&seed) * exp(-3.0 * j / length));
	}
	for (int i = 0; i < 2; i++) {
		in[i] = test_alloc(n, sizeof(float));
		o1[i] = test_alloc(n, sizeof(float));
		o2[i] = test_alloc(n, sizeof(float));
		for (size_t t = 0; t < n; t++)
			in[i][t] = (float)test_noise(&seed);
	}
	struct iem_ir ir = { 2, 2, length, (const float *const *)taps };
	struct iem_conv_config sync = { .flags = IEM_CONV_SYNC };
	struct iem_conv *a = iem_conv_new(&ir, &sync), *b = iem_conv_new(&ir, NULL);
	uint64_t s1 = 77, s2 = 77;
	run(a, in, o1, 2, 2, n, NULL, &s1);
	run(b, in, o2, 2, 2, n, NULL, &s2);
	struct iem_conv_info info;
	struct iem_conv_stats st;
	iem_conv_get_info(b, &info);
	iem_conv_get_stats(b, &st);
	if (!info.threaded) {
		printf("ok %u # SKIP one CPU: no worker thread to compare\n", ++iem_test_count);
	} else {
		size_t diff = 0;
		for (int i = 0; i < 2; i++)
			for (size_t t = 0; t < n; t++)
				diff += memcmp(&o1[i][t], &o2[i][t], sizeof(float)) != 0;
		check(diff == 0 && st.jobs_async > 0,
				"2x2, %u taps: worker and one-thread outputs are bit-identical (%zu frames differ; %" PRIu64 " blocks on the worker, %" PRIu64 " spread, %" PRIu64 " inline, %" PRIu64 " waited for)",
				length, diff, st.jobs_async, st.jobs_spread, st.jobs_inline, st.late);
	}
	iem_conv_free(a);
	iem_conv_free(b);
	for (int k = 0; k < 4; k++)
		free(taps[k]);
	for (int i = 0; i < 2; i++) {
		free(in[i]);
		free(o1[i]);
		free(o2[i]);
	}
}

int main(void)
{
	static const uint32_t lengths[] = { 1, 2, 63, 64, 65, 1000, 1023, 1024, 1025, 4000, 8191, 8192, 8193, 30000, 200000 };
	uint64_t seed = 1234;

	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++)
		test_against_direct(1, 1, lengths[i], seed + i, 0);
	test_against_direct(1, 1, 30000, seed + 50, IEM_CONV_SYNC);
	test_against_direct(2, 2, 48000, seed + 100, 0);
	test_against_direct(2, 2, 48000, seed + 100, IEM_CONV_SYNC);
	test_against_direct(2, 2, 777, seed + 101, 0);
	test_against_direct(8, 2, 9000, seed + 102, 0);
	test_worker_same();
	test_exchange(0);
	test_exchange(IEM_CONV_SYNC);
	test_impulse_position();
	test_limits();
	return iem_test_done();
}
