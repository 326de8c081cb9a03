/* SPDX-License-Identifier: MIT */
/*
 * The chain as a whole: block-size invariance, click-free changes, bad
 * input, headroom, limiter and reset.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "iem-test.h"
#include "iem-test-dsp.h"

#define RATE 48000

static struct iem_chain *chain_with(const struct iem_params *p, bool settle)
{
	struct iem_chain *c = iem_chain_new(RATE);
	if (c == NULL)
		abort();
	iem_chain_apply(c, p, NULL);
	if (settle)
		iem_chain_reset(c);
	return c;
}

static void set(struct iem_params *p, const char *name, const char *value)
{
	char err[256];
	if (iem_params_set(p, name, value, err, sizeof(err)) < 0) {
		printf("Bail out! %s\n", err);
		exit(1);
	}
}

/* ---- block-size invariance --------------------------------------------- */

static void test_block_sizes(void)
{
	const size_t n = RATE * 2;
	float *il = test_alloc(n, sizeof(float)), *ir = test_alloc(n, sizeof(float));
	float *rl = test_alloc(n, sizeof(float)), *rr = test_alloc(n, sizeof(float));
	float *ol = test_alloc(n, sizeof(float)), *or = test_alloc(n, sizeof(float));
	uint64_t seed = 7;
	struct iem_params p;
	uint32_t random_sizes[64];
	static const uint32_t s1[] = { 1, 0 }, s7[] = { 7, 0 }, s64[] = { 64, 0 }, s1024[] = { 1024, 0 };
	const uint32_t *lists[] = { s7, s64, s1024, random_sizes };
	const char *names[] = { "7", "64", "1024", "random 1…8192" };

	for (size_t i = 0; i < n; i++) {
		il[i] = (float)(0.3 * test_noise(&seed) + 0.3 * sin(2 * M_PI * 440 * i / RATE));
		ir[i] = (float)(0.3 * test_noise(&seed));
	}
	for (int i = 0; i < 63; i++)
		random_sizes[i] = 1 + (uint32_t)(test_rand(&seed) % 8192);
	random_sizes[63] = 0;

	/* Not settled: the ramps from the defaults run during the test too. */
	iem_params_init(&p);
	set(&p, "eq.1.type", "lowshelf");
	set(&p, "eq.1.freq", "105");
	set(&p, "eq.1.gain", "8");
	set(&p, "eq.2.type", "peaking");
	set(&p, "eq.2.freq", "3000");
	set(&p, "eq.2.q", "2");
	set(&p, "eq.2.gain", "-6");
	set(&p, "eq.2.channel", "left");
	set(&p, "eq.3.type", "highpass");
	set(&p, "eq.3.freq", "25");
	set(&p, "output.gain", "-3");

	struct iem_chain *c = chain_with(&p, false);
	test_run(c, il, ir, rl, rr, n, s1);
	iem_chain_free(c);

	for (int k = 0; k < 4; k++) {
		double worst = 0.0;
		c = chain_with(&p, false);
		test_run(c, il, ir, ol, or, n, lists[k]);
		for (size_t i = 0; i < n; i++)
			worst = fmax(worst, fmax(fabs(ol[i] - rl[i]), fabs(or[i] - rr[i])));
		check(worst <= 1e-7, "blocks of %s give the output of blocks of 1 (max difference %.3g)", names[k], worst);
		iem_chain_free(c);
	}
	free(il); free(ir); free(rl); free(rr); free(ol); free(or);
}

/* ---- click-free changes ------------------------------------------------ */

struct change_result {
	double d2_steady;	/* largest |second difference| in the steady states */
	double d2_change;	/* … while changing */
	double splatter;	/* dB re the tone, worst bin outside ±50 Hz */
	double splatter_f;
};

/* Plays a 1 kHz sine, applies `to` after 0.5 s, and measures the change. */
static void measure_change(const struct iem_params *from, const struct iem_params *to,
		double amp, struct change_result *res)
{
	const size_t n = RATE, at = RATE / 2;
	const size_t ramp = (size_t)(IEM_RAMP_MS * RATE / 1000.0) + 64; /* plus up to two grid cells */
	float *l = test_alloc(n, sizeof(float)), *r = test_alloc(n, sizeof(float));
	struct iem_chain *c = chain_with(from, true);
	static const uint32_t sizes[] = { 256, 0 };

	for (size_t i = 0; i < n; i++)
		l[i] = r[i] = (float)(amp * sin(2 * M_PI * 1000.0 * i / RATE));
	test_run(c, l, r, l, r, at, sizes);
	iem_chain_apply(c, to, NULL);
	test_run(c, l + at, r + at, l + at, r + at, n - at, sizes);

	res->d2_steady = res->d2_change = 0.0;
	for (size_t i = 2; i < n; i++) {
		double d2 = fmax(fabs(l[i] - 2.0 * l[i - 1] + l[i - 2]), fabs(r[i] - 2.0 * r[i - 1] + r[i - 2]));
		if ((i > RATE / 10 && i < at) || i > at + ramp + RATE / 20)
			res->d2_steady = fmax(res->d2_steady, d2);
		else if (i >= at)
			res->d2_change = fmax(res->d2_change, d2);
	}

	/* 16384 frames (341 ms) around the change, Blackman-Harris window. */
	const size_t w = 16384, start = at + ramp / 2 - w / 2;
	double *x = test_alloc(w, sizeof(double));
	for (size_t i = 0; i < w; i++)
		x[i] = l[start + i];
	test_window(x, w);
	double peak = test_dft_mag(x, w, RATE, 1000.0), worst = 0.0, worst_f = 0.0;
	for (size_t k = 1; k < w / 2; k++) {
		double f = (double)k * RATE / w;
		if (fabs(f - 1000.0) <= 50.0)
			continue;
		double m = test_dft_mag(x, w, RATE, f);
		if (m > worst) {
			worst = m;
			worst_f = f;
		}
	}
	res->splatter = db(worst / peak);
	res->splatter_f = worst_f;
	free(x);
	free(l);
	free(r);
	iem_chain_free(c);
}

/* limit: the largest level allowed outside 1 kHz ± 50 Hz, dB re the tone */
static void check_change(const char *what, const struct iem_params *from, const struct iem_params *to,
		double amp, double limit)
{
	struct change_result res;
	measure_change(from, to, amp, &res);
	check(res.d2_change <= res.d2_steady * 1.0001,
			"%s: no jump: largest second difference while changing %.5f <= steady state's %.5f",
			what, res.d2_change, res.d2_steady);
	check(res.splatter < limit, "%s: nothing above %.0f dB outside 1 kHz ± 50 Hz (worst %.1f dB at %.0f Hz)",
			what, limit, res.splatter, res.splatter_f);
}

static void test_changes(void)
{
	struct iem_params a, b;

	iem_params_init(&a);
	set(&a, "eq.preamp", "0");
	set(&a, "eq.1.type", "peaking");
	set(&a, "eq.1.freq", "1000");
	set(&a, "eq.1.q", "1");
	set(&a, "eq.1.gain", "0");
	b = a;
	set(&b, "eq.1.gain", "12");
	check_change("band gain 0 -> +12 dB", &a, &b, 0.2, -70.0);
	check_change("band gain +12 -> 0 dB", &b, &a, 0.2, -70.0);

	b = a;
	set(&b, "eq.1.gain", "12");
	struct iem_params bb = b;
	set(&bb, "bypass", "true");
	check_change("bypass on (band at +12 dB)", &b, &bb, 0.2, -70.0);
	check_change("bypass off (band at +12 dB)", &bb, &b, 0.2, -70.0);

	b = a;
	set(&b, "eq.1.freq", "300");
	set(&b, "eq.1.gain", "-9");
	set(&b, "eq.1.q", "4");
	/* A band swept across the tone shifts its phase and level by design:
	 * that modulation is the change itself, so only a looser bound (a
	 * regression guard) applies to its spectrum. */
	check_change("band moved 1 kHz -> 300 Hz, Q 1 -> 4, 0 -> -9 dB", &a, &b, 0.2, -45.0);

	b = a;
	set(&b, "eq.1.type", "lowshelf");
	set(&b, "eq.1.freq", "2000");
	set(&b, "eq.1.gain", "9");
	set(&b, "eq.2.type", "notch");
	set(&b, "eq.2.freq", "4000");
	check_change("structure change (peaking -> lowshelf, a notch added)", &a, &b, 0.2, -70.0);

	b = a;
	set(&b, "output.gain", "-20");
	set(&b, "eq.preamp", "6");
	check_change("preamp and output gain", &a, &b, 0.5, -70.0);
}

/* ---- bad input --------------------------------------------------------- */

static void test_bad_input(void)
{
	const size_t n = RATE, block = 256;
	float *il = test_alloc(n, sizeof(float)), *ir = test_alloc(n, sizeof(float));
	float *cl = test_alloc(n, sizeof(float)), *cr = test_alloc(n, sizeof(float));
	float *ol = test_alloc(n, sizeof(float)), *or = test_alloc(n, sizeof(float));
	float *rl = test_alloc(n, sizeof(float)), *rr = test_alloc(n, sizeof(float));
	static const struct { size_t at, len; float v; } bursts[] = {
		{ 5000, 1, NAN }, { 12000, 300, NAN }, { 20000, 7, INFINITY },
		{ 26000, 64, -INFINITY }, { 33000, 100, 1e30f }, { 40000, 1, -1e30f },
	};
	uint64_t seed = 99, expected_invalid = 0;
	struct iem_params p;

	for (size_t i = 0; i < n; i++) {
		cl[i] = il[i] = (float)(0.25 * test_noise(&seed));
		cr[i] = ir[i] = (float)(0.25 * sin(2 * M_PI * 60.0 * i / RATE));
	}
	for (size_t b = 0; b < sizeof(bursts) / sizeof(bursts[0]); b++) {
		for (size_t i = bursts[b].at; i < bursts[b].at + bursts[b].len; i++) {
			il[i] = bursts[b].v;
			ir[i] = b % 2 ? bursts[b].v : ir[i];
			cl[i] = 0.0f;
			cr[i] = b % 2 ? 0.0f : cr[i];
			expected_invalid += b % 2 ? 2 : 1;
		}
	}

	iem_params_init(&p);
	set(&p, "eq.1.type", "lowshelf");
	set(&p, "eq.1.freq", "40");
	set(&p, "eq.1.q", "2");
	set(&p, "eq.1.gain", "12");
	set(&p, "eq.2.type", "peaking");
	set(&p, "eq.2.freq", "8000");
	set(&p, "eq.2.q", "6");
	set(&p, "eq.2.gain", "9");

	static const uint32_t sizes[] = { 256, 0 };
	struct iem_chain *c = chain_with(&p, true), *ref = chain_with(&p, true);
	test_run(c, il, ir, ol, or, n, sizes);
	test_run(ref, cl, cr, rl, rr, n, sizes);

	bool finite = true;
	for (size_t i = 0; i < n; i++)
		finite &= isfinite(ol[i]) && isfinite(or[i]);
	check(finite, "NaN, Inf and 1e30 bursts: every output sample is finite");

	for (size_t b = 0; b < sizeof(bursts) / sizeof(bursts[0]); b++) {
		size_t from = (bursts[b].at + bursts[b].len + block - 1) / block * block + block;
		size_t to = b + 1 < sizeof(bursts) / sizeof(bursts[0]) ? bursts[b + 1].at : n;
		double worst = 0.0;
		for (size_t i = from; i < to; i++)
			worst = fmax(worst, fmax(fabs(ol[i] - rl[i]), fabs(or[i] - rr[i])));
		check(worst <= 1e-7, "burst of %zu x %g: correct output from the next block on (max difference %.3g)",
				bursts[b].len, bursts[b].v, worst);
	}
	struct iem_chain_stats st;
	iem_chain_get_stats(c, &st);
	check(st.invalid_samples == expected_invalid, "bad samples counted: %llu of %llu",
			(unsigned long long)st.invalid_samples, (unsigned long long)expected_invalid);
	iem_chain_free(c);
	iem_chain_free(ref);
	free(il); free(ir); free(cl); free(cr); free(ol); free(or); free(rl); free(rr);
}

/* ---- loudness ------------------------------------------------------------ */

static double sine_peak_out(const struct iem_params *p, double freq, double amp)
{
	const size_t n = RATE;
	float *l = test_alloc(n, sizeof(float)), *r = test_alloc(n, sizeof(float));
	struct iem_chain *c = chain_with(p, true);
	static const uint32_t sizes[] = { 480, 0 };
	double peak = 0.0;

	for (size_t i = 0; i < n; i++)
		l[i] = r[i] = (float)(amp * sin(2 * M_PI * freq * i / RATE));
	test_run(c, l, r, l, r, n, sizes);
	for (size_t i = n / 2; i < n; i++)
		peak = fmax(peak, fmax(fabs(l[i]), fabs(r[i])));
	iem_chain_free(c);
	free(l);
	free(r);
	return peak;
}

static void test_headroom(void)
{
	struct iem_params p;
	struct iem_headroom h;

	iem_params_init(&p);
	set(&p, "eq.1.type", "peaking");
	set(&p, "eq.1.freq", "3150");
	set(&p, "eq.1.q", "1.5");
	set(&p, "eq.1.gain", "6");
	set(&p, "eq.2.type", "lowshelf");
	set(&p, "eq.2.freq", "105");
	set(&p, "eq.2.q", "0.7");
	set(&p, "eq.2.gain", "4");
	iem_params_headroom(&p, RATE, &h);
	/* the shelf adds a little at 3150 Hz */
	double want = iem_params_response_db(&p, RATE, 0, 3150.0);
	check(fabs(h.eq_peak - want) < 0.02 && fabs(h.eq_peak_freq - 3150.0) < 40.0,
			"EQ peak found: %.3f dB at %.0f Hz (response at 3150 Hz: %.3f dB)", h.eq_peak, h.eq_peak_freq, want);
	check(fabs(h.preamp + h.eq_peak) < 1e-9 && fabs(h.total_peak) < 1e-9,
			"automatic preamp %.3f dB brings the total peak to %.3f dB", h.preamp, h.total_peak);

	double out = sine_peak_out(&p, h.eq_peak_freq, 0.5);
	check(out <= 0.5 * 1.001, "auto preamp: a 0.5 sine at the EQ's peak comes out at %.4f, not louder", out);

	set(&p, "output.gain", "-10");
	iem_params_headroom(&p, RATE, &h);
	check(h.preamp == 0.0 && h.total_peak < 0.0, "output gain -10 dB leaves the auto preamp at %.2f dB", h.preamp);

	set(&p, "eq.preamp", "0");
	set(&p, "output.gain", "12");
	set(&p, "eq.3.type", "peaking");
	set(&p, "eq.3.freq", "1000");
	set(&p, "eq.3.gain", "20");
	out = sine_peak_out(&p, 1000.0, 0.9);
	double ceiling = pow(10.0, IEM_LIMITER_CEILING_DB / 20.0);
	check(out <= ceiling, "+32 dB of manual gain: the limiter keeps the peak at %.6f <= %.6f", out, ceiling);
}

static void test_limiter_transparent(void)
{
	const size_t n = RATE;
	float *il = test_alloc(n, sizeof(float)), *ir = test_alloc(n, sizeof(float));
	float *ol = test_alloc(n, sizeof(float)), *or = test_alloc(n, sizeof(float));
	uint64_t seed = 3;
	struct iem_params p;
	struct iem_chain_stats st;
	static const uint32_t sizes[] = { 128, 0 };

	/* peaks at -0.2 dBFS, just under the ceiling */
	const double top = pow(10.0, -0.2 / 20.0);
	for (size_t i = 0; i < n; i++) {
		il[i] = (float)(top * test_noise(&seed));
		ir[i] = (float)(top * test_noise(&seed));
	}
	il[100] = (float)top;
	iem_params_init(&p);
	struct iem_chain *c = chain_with(&p, true);
	test_run(c, il, ir, ol, or, n, sizes);
	iem_chain_get_stats(c, &st);
	check(memcmp(il, ol, n * sizeof(float)) == 0 && memcmp(ir, or, n * sizeof(float)) == 0 &&
	      st.limiter_events == 0, "flat chain, peaks at -0.2 dBFS: output is the input, bit for bit, limiter idle");
	iem_chain_free(c);

	for (size_t i = 0; i < n; i++) {
		il[i] *= 4.0f;
		ir[i] *= 4.0f;
	}
	set(&p, "eq.preamp", "0");
	c = chain_with(&p, true);
	test_run(c, il, ir, ol, or, n, sizes);
	iem_chain_get_stats(c, &st);
	double peak = 0.0;
	for (size_t i = 0; i < n; i++)
		peak = fmax(peak, fmax(fabs(ol[i]), fabs(or[i])));
	check(db(peak) <= IEM_LIMITER_CEILING_DB && st.limiter_events > 0 && st.limiter_samples > 0,
			"+12 dB over: peak %.4f dBFS <= -0.1, limiter acted %llu times on %llu frames", db(peak),
			(unsigned long long)st.limiter_events, (unsigned long long)st.limiter_samples);
	iem_chain_free(c);
	free(il); free(ir); free(ol); free(or);
}

/* ---- life cycle ------------------------------------------------------- */

static void test_lifecycle(void)
{
	static const uint32_t ok_rates[] = { 44100, 48000, 88200, 96000, 176400, 192000 };
	struct iem_params p;
	bool all = true;

	for (size_t i = 0; i < sizeof(ok_rates) / sizeof(ok_rates[0]); i++) {
		struct iem_chain *c = iem_chain_new(ok_rates[i]);
		all &= c != NULL && iem_chain_get_rate(c) == ok_rates[i];
		iem_chain_free(c);
	}
	check(all, "chains at 44.1 … 192 kHz");
	errno = 0;
	check(iem_chain_new(7999) == NULL && errno == EINVAL, "a rate below 8 kHz is refused with EINVAL");
	check(iem_chain_free(NULL) == NULL && iem_limiter_free(NULL) == NULL, "free(NULL) is safe");

	iem_params_init(&p);
	set(&p, "eq.1.type", "peaking");
	set(&p, "eq.1.freq", "50");
	set(&p, "eq.1.q", "5");
	set(&p, "eq.1.gain", "10");
	struct iem_chain *c = chain_with(&p, true);
	const size_t n = 4800;
	float *l = test_alloc(n, sizeof(float)), *r = test_alloc(n, sizeof(float));
	uint64_t seed = 5;
	for (size_t i = 0; i < n; i++)
		l[i] = r[i] = (float)(0.1 * test_noise(&seed));
	static const uint32_t sizes[] = { 333, 0 };
	test_run(c, l, r, l, r, n, sizes);
	iem_chain_reset(c);
	memset(l, 0, n * sizeof(float));
	memset(r, 0, n * sizeof(float));
	const float *in[2] = { l, r };
	float *out[2] = { l, r };
	iem_chain_process(c, in, out, 0);
	test_run(c, l, r, l, r, n, sizes);
	bool silent = true;
	for (size_t i = 0; i < n; i++)
		silent &= l[i] == 0.0f && r[i] == 0.0f;
	check(silent, "after reset, silence in gives exact silence out (and n = 0 is fine)");

	struct iem_params bad = p;
	bad.band[0].q = 0.0;
	struct iem_params before;
	iem_chain_get_params(c, &before);
	check(iem_chain_apply(c, &bad, NULL) == -EINVAL, "a band with Q 0 is refused by apply");
	struct iem_params after;
	iem_chain_get_params(c, &after);
	check(memcmp(&before, &after, sizeof(before)) == 0, "… and the applied settings stay");
	iem_chain_free(c);
	free(l);
	free(r);
}

/* FTZ/DAZ are the chain's business only while it runs: the caller's
 * floating-point environment comes back unchanged. */
static void test_fpenv(void)
{
#if defined(__x86_64__)
	struct iem_params p;
	float l[64] = { 1e-39f }, r[64] = { 0.5f };
	const float *in[2] = { l, r };
	float *out[2] = { l, r };

	iem_params_init(&p);
	set(&p, "eq.1.type", "peaking");
	set(&p, "eq.1.gain", "3");
	struct iem_chain *c = chain_with(&p, true);
	unsigned int before = _mm_getcsr();
	iem_chain_process(c, in, out, 64);
	unsigned int after = _mm_getcsr();
	_mm_setcsr(before | 0x8040);
	iem_chain_process(c, in, out, 64);
	unsigned int after_set = _mm_getcsr();
	_mm_setcsr(before);
	check(after == before && after_set == (before | 0x8040),
			"MXCSR restored after processing (0x%04x -> 0x%04x; with FTZ|DAZ set: 0x%04x)",
			before, after, after_set);
	iem_chain_free(c);
#else
	printf("ok %u - # SKIP MXCSR check is x86-64 only\n", ++iem_test_count);
#endif
}

/* ---- the stage ---------------------------------------------------------- */

/* Direct 2 x 2 convolution in double at frame t (taps { LL, RL, LR, RR }). */
static double stage_direct(const float *const *taps, uint32_t len, const float *il, const float *ir,
		uint32_t o, size_t t)
{
	double y = 0.0;
	const float *a = taps[o * 2], *b = taps[o * 2 + 1];
	for (size_t j = 0; j < len && j <= t; j++)
		y += (a ? (double)a[j] * il[t - j] : 0.0) + (b ? (double)b[j] * ir[t - j] : 0.0);
	return y;
}

static void run_sizes(struct iem_chain *c, const float *il, const float *ir, float *ol, float *or,
		size_t from, size_t to, uint64_t *seed)
{
	for (size_t done = from; done < to;) {
		uint64_t r = test_rand(seed);
		uint32_t m = r % 5 == 0 ? 1 + (uint32_t)(r >> 8) % 4096 : 1 + (uint32_t)(r >> 8) % 256;
		if (m > to - done)
			m = (uint32_t)(to - done);
		const float *in[2] = { il + done, ir + done };
		float *out[2] = { ol + done, or + done };
		iem_chain_process(c, in, out, m);
		done += m;
	}
}

static void test_stage(void)
{
	const uint32_t len = 20000;
	const size_t n = RATE * 2;
	float *taps[4], *il, *ir, *ol, *or, *ol2, *or2;
	uint64_t seed = 321;
	struct iem_params p;
	struct iem_stage_info info;

	for (int k = 0; k < 4; k++) {
		taps[k] = test_alloc(len, sizeof(float));
		for (uint32_t j = k == 1 || k == 2 ? 30 : 0; j < len; j++)
			taps[k][j] = (float)(test_noise(&seed) * exp(-6.0 * j / len) * (k == 1 || k == 2 ? 0.5 : 1.0));
	}
	il = test_alloc(n, sizeof(float));
	ir = test_alloc(n, sizeof(float));
	ol = test_alloc(n, sizeof(float));
	or = test_alloc(n, sizeof(float));
	ol2 = test_alloc(n, sizeof(float));
	or2 = test_alloc(n, sizeof(float));
	for (size_t i = 0; i < n; i++) {
		il[i] = (float)(0.02 * test_noise(&seed));
		ir[i] = (float)(0.02 * test_noise(&seed));
	}
	iem_params_init(&p);
	struct iem_ir brir = { 2, 2, len, (const float *const *)taps };

	/* on: after the fade-in, the output is the scaled convolution */
	struct iem_chain *c = chain_with(&p, true);
	int res = iem_chain_set_stage(c, &brir, &info);
	check(res == 0 && !info.exchanged && info.length == len,
			"stage: a 2x2 %u-tap response is taken (gain %.2f dB for unity loudness)", len, info.gain_db);
	run_sizes(c, il, ir, ol, or, 0, n, &seed);
	const double scale = pow(10.0, info.gain_db / 20.0);
	double err = 0.0, peak = 0.0;
	for (size_t q = 0; q < 4000; q++) {
		size_t t = RATE / 5 + test_rand(&seed) % (n - RATE / 5);
		for (uint32_t o = 0; o < 2; o++) {
			double want = scale * stage_direct((const float *const *)taps, len, il, ir, o, t);
			err = fmax(err, fabs((o ? or : ol)[t] - want));
			peak = fmax(peak, fabs(want));
		}
	}
	check(db(err / peak) <= -100.0, "stage: output is the response's convolution, scaled: max error %.1f dB re peak",
			db(err / peak));

	/* call sizes do not matter with a stage either */
	struct iem_chain *c2 = chain_with(&p, true);
	iem_chain_set_stage(c2, &brir, NULL);
	static const uint32_t s64[] = { 64, 0 };
	test_run(c2, il, ir, ol2, or2, n, s64);
	double worst = 0.0;
	for (size_t i = 0; i < n; i++)
		worst = fmax(worst, fmax(fabs(ol[i] - ol2[i]), fabs(or[i] - or2[i])));
	check(worst <= 1e-6, "stage: calls of 64 give the output of random calls 1 … 4096 (max difference %.3g)", worst);
	iem_chain_free(c2);

	/* a bad set is refused and the stage in use stays */
	float *nan_taps[4] = { taps[0], taps[1], taps[2], test_alloc(len, sizeof(float)) };
	nan_taps[3][100] = NAN;
	struct iem_ir bad = { 2, 2, len, (const float *const *)nan_taps };
	check(iem_chain_set_stage(c, &bad, NULL) == -EINVAL, "stage: a response with NaN is refused (-EINVAL)");
	struct iem_ir mono = { 1, 1, len, (const float *const *)taps };
	check(iem_chain_set_stage(c, &mono, NULL) == -EINVAL, "stage: a 1x1 response is refused (-EINVAL)");
	run_sizes(c, il, ir, ol2, or2, 0, n, &seed);
	err = 0.0;
	for (size_t q = 0; q < 500; q++) {
		size_t t = len + test_rand(&seed) % (n - len);
		double want = scale * stage_direct((const float *const *)taps, len, il, ir, 0, t);
		err = fmax(err, fabs(ol2[t] - want));
	}
	check(db(err / peak) <= -100.0, "stage: after the refusals the same response is still in use (%.1f dB)", db(err / peak));

	/* a set that fits is exchanged inside the running convolver */
	for (int k = 0; k < 4; k++)
		for (uint32_t j = 0; j < len; j++)
			nan_taps[k == 3 ? 3 : k][j] = k == 3 ? taps[3][j] * 0.5f : nan_taps[k][j];
	struct iem_ir other = { 2, 2, len, (const float *const *)nan_taps };
	res = iem_chain_set_stage(c, &other, &info);
	check(res == 0 && info.exchanged,
			"stage: a set that fits is exchanged in place (gain %.2f dB)", info.gain_db);

	/* off: back to the dry path after the fade-out */
	check(iem_chain_set_stage(c, NULL, NULL) == 0, "stage: off");
	run_sizes(c, il, ir, ol, or, 0, n / 2, &seed);
	run_sizes(c, il, ir, ol, or, n / 2, n, &seed);
	worst = 0.0;
	for (size_t t = RATE / 2; t < n; t++)
		worst = fmax(worst, fmax(fabs(ol[t] - il[t]), fabs(or[t] - ir[t])));
	check(worst <= 1e-7, "stage: off gives the dry signal back (max difference %.3g)", worst);
	iem_chain_free(c);

	/* unity loudness: a delta on LL and RR (cross paths NULL) is 0 dB */
	float *delta = test_alloc(len, sizeof(float));
	delta[0] = 1.0f;
	const float *id[4] = { delta, NULL, NULL, delta };
	struct iem_ir ident = { 2, 2, len, id };
	c = chain_with(&p, true);
	res = iem_chain_set_stage(c, &ident, &info);
	check(res == 0 && fabs(info.gain_db) < 0.01,
			"stage: an identity response needs no gain (%.4f dB)", info.gain_db);
	iem_chain_free(c);

	free(delta);
	free(nan_taps[3]);
	for (int k = 0; k < 4; k++)
		free(taps[k]);
	free(il); free(ir); free(ol); free(or); free(ol2); free(or2);
}

int main(void)
{
	test_fpenv();
	test_block_sizes();
	test_changes();
	test_bad_input();
	test_headroom();
	test_limiter_transparent();
	test_lifecycle();
	test_stage();
	return iem_test_done();
}
