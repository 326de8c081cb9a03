/* SPDX-License-Identifier: MIT */
/*
 * iemstage-bench: figures, never verdicts.
 *
 *   iemstage-bench eq [--runs N] [--seconds S] [--rate R] [--quick]
 *   iemstage-bench conv [--seconds S] [--rate R] [--quick] [--sync | --spin]
 *   iemstage-bench room [--runs N] [--rate R] [--quick]
 *
 * eq: times the chain with a 10-band correction EQ at block sizes 64, 256
 * and 1024 and, in the same run on the same input, the structure PipeWire
 * 0.3.65's filter-chain uses for its bq_* plugins (scalar float32 direct
 * form I, one pass per biquad per block, 20 biquads for stereo). Prints the
 * median of the runs as ns per stereo frame, real-time factor and % of one
 * core, and the ratio between the two.
 *
 * conv: times the 2x2 true-stereo convolver with BRIR-like responses of
 * 0.25, 1 and 4 s at call sizes 32 … 2048, every call timed on its own:
 * a real-time thread misses its deadline on the slowest call, not on the
 * average one, so mean, p99 and max are printed side by side, with the
 * partition layout the convolver chose and its modelled cost. A floor row
 * times a response level 0 covers alone (the same work every call) under
 * the same pacing: a machine whose idle cores lose their caches, or whose
 * wake-ups cost, gives a p99/mean above 1 with no help from the
 * convolver, and the floor says how much. The peer's
 * figures are quoted from the team's reference measurement (PipeWire 0.3.65 on
 * this machine kind), not measured here: its convolver runs
 * inside a PipeWire graph this program does not have.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "config.h"
#include "iem-dsp.h"
#include "example-eq.h"


/* The peer's biquad: float coefficients and state, direct form I. */
struct peer_bq {
	float b0, b1, b2, a1, a2;
	float x1, x2, y1, y2;
};

static void peer_run(struct peer_bq *bq, float *out, const float *in, uint32_t n)
{
	float x1 = bq->x1, x2 = bq->x2, y1 = bq->y1, y2 = bq->y2;
	const float b0 = bq->b0, b1 = bq->b1, b2 = bq->b2, a1 = bq->a1, a2 = bq->a2;
	for (uint32_t i = 0; i < n; i++) {
		float x = in[i];
		float y = b0 * x + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
		out[i] = y;
		x2 = x1;
		x1 = x;
		y2 = y1;
		y1 = y;
	}
	/* as the peer does: flush denormals from the state after each block */
	bq->x1 = fabsf(x1) < 1e-30f ? 0.0f : x1;
	bq->x2 = fabsf(x2) < 1e-30f ? 0.0f : x2;
	bq->y1 = fabsf(y1) < 1e-30f ? 0.0f : y1;
	bq->y2 = fabsf(y2) < 1e-30f ? 0.0f : y2;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

struct input {
	float *l, *r;		/* source, looped */
	float *ol, *or;		/* output buffers, one block */
	uint32_t len;
};

/* One run: `frames` frames in blocks of `block`; returns ns per frame. */
static double run_ours(struct iem_chain *c, const struct input *in, uint32_t block, uint64_t frames)
{
	uint32_t pos = 0;
	double t0 = now_ns();
	for (uint64_t done = 0; done < frames; done += block) {
		if (pos + block > in->len)
			pos = 0;
		const float *src[2] = { in->l + pos, in->r + pos };
		float *dst[2] = { in->ol, in->or };
		iem_chain_process(c, src, dst, block);
		pos += block;
	}
	return (now_ns() - t0) / (double)frames;
}

static double run_peer(struct peer_bq bq[2][10], const struct input *in, uint32_t block, uint64_t frames)
{
	uint32_t pos = 0;
	double t0 = now_ns();
	for (uint64_t done = 0; done < frames; done += block) {
		if (pos + block > in->len)
			pos = 0;
		peer_run(&bq[0][0], in->ol, in->l + pos, block);
		peer_run(&bq[1][0], in->or, in->r + pos, block);
		for (int k = 1; k < 10; k++) {
			peer_run(&bq[0][k], in->ol, in->ol, block);
			peer_run(&bq[1][k], in->or, in->or, block);
		}
		pos += block;
	}
	return (now_ns() - t0) / (double)frames;
}

static int bench_eq(uint32_t rate, int runs, double seconds)
{
	static const uint32_t blocks[] = { 64, 256, 1024 };
	struct input in = { .len = rate * 2 };
	struct iem_params p;
	struct peer_bq peer[2][10];
	uint64_t seed = 0x5eed;
	uint64_t frames = (uint64_t)(seconds * rate);
	double ours[64], theirs[64];

	if (runs > 64)
		runs = 64;
	in.l = calloc(in.len, sizeof(float));
	in.r = calloc(in.len, sizeof(float));
	in.ol = calloc(1024, sizeof(float));
	in.or = calloc(1024, sizeof(float));
	if (!in.l || !in.r || !in.ol || !in.or) {
		fprintf(stderr, "iemstage-bench: out of memory\n");
		return 1;
	}
	for (uint32_t i = 0; i < in.len; i++) {
		seed ^= seed >> 12; seed ^= seed << 25; seed ^= seed >> 27;
		double v = (double)((seed * 2685821657736338717ull) >> 11) / 9007199254740992.0 - 0.5;
		in.l[i] = (float)(0.2 * v);
		in.r[i] = (float)(0.2 * sin(i * 0.01) + 0.1 * v);
	}

	iem_params_init(&p);
	memcpy(p.band, iem_example_eq10, sizeof(iem_example_eq10));
	struct iem_chain *c = iem_chain_new(rate);
	if (c == NULL || iem_chain_apply(c, &p, NULL) < 0) {
		fprintf(stderr, "iemstage-bench: cannot make the chain: %s\n", strerror(errno));
		return 1;
	}
	iem_chain_reset(c);
	for (int k = 0; k < 10; k++) {
		struct iem_biquad bq;
		const struct iem_band *b = &iem_example_eq10[k];
		iem_biquad_design(&bq, b->type, rate, b->freq, b->q, b->gain);
		for (int ch = 0; ch < 2; ch++)
			peer[ch][k] = (struct peer_bq) { (float)bq.b0, (float)bq.b1, (float)bq.b2,
				(float)bq.a1, (float)bq.a2, 0, 0, 0, 0 };
	}

	const double frame_ns = 1e9 / rate;
	printf("iemstage-bench eq: 10-band stereo EQ, %u Hz, %d runs of %.1f s of audio per block size, median\n",
			rate, runs, seconds);
	printf("  peer = PipeWire 0.3.65 filter-chain's structure: 20 scalar float32 DF-I biquads, in this process\n");
	printf("%6s  %12s %10s %8s   %12s %10s %8s   %s\n", "block", "ours ns/fr", "x realtime", "% core",
			"peer ns/fr", "x realtime", "% core", "peer/ours");
	for (size_t b = 0; b < sizeof(blocks) / sizeof(blocks[0]); b++) {
		/* warm up both, then interleave runs so drift hits both alike */
		run_ours(c, &in, blocks[b], frames / 10 + 1);
		run_peer(peer, &in, blocks[b], frames / 10 + 1);
		for (int r = 0; r < runs; r++) {
			ours[r] = run_ours(c, &in, blocks[b], frames);
			theirs[r] = run_peer(peer, &in, blocks[b], frames);
		}
		double mo = median(ours, runs), mt = median(theirs, runs);
		printf("%6u  %12.2f %10.0f %8.3f   %12.2f %10.0f %8.3f   %.2f\n", blocks[b],
				mo, frame_ns / mo, 100.0 * mo / frame_ns,
				mt, frame_ns / mt, 100.0 * mt / frame_ns, mt / mo);
	}
	struct iem_chain_stats st;
	iem_chain_get_stats(c, &st);
	if (st.limiter_events || st.invalid_samples)
		printf("  note: limiter acted %llu times during the run\n", (unsigned long long)st.limiter_events);
	iem_chain_free(c);
	free(in.l);
	free(in.r);
	free(in.ol);
	free(in.or);
	return 0;
}

/* ---- conv ---------------------------------------------------------------- */

/* The peer's figures, quoted (they need a running PipeWire graph to
 * measure, which this program does not have). */
#define PEER_CONV_QUOTE \
	"PipeWire 0.3.65 filter-chain, 1 s BRIR, 4 convolvers, measured on this machine kind: " \
	"4.9 / 2.9 / 2.3 % of a core at quantum 64 / 256 / 1024 " \
	"(3.3 / 2.3 / 2.0 % net of its stream overhead), p99 650-750 µs"

struct conv_cell {
	uint32_t n;
	double mean_us, p99_us, max_us, core, total;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t noise_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Uniform in [-1, 1). */
static float noise_float(uint64_t *s)
{
	return (float)((double)(noise_next(s) >> 11) / 4503599627370496.0 - 1.0);
}

/* A plausible BRIR: a short flight-time gap, then noise decaying to -60 dB
 * at the end (the response's length is its T60), the cross paths 6 dB down
 * and later. The cost does not depend on the content, but a real-looking
 * response keeps the output in the range real use sees (no denormals, no
 * runaway sums). */
static void make_brir(float *taps, uint32_t len, uint32_t rate, uint32_t path)
{
	uint64_t seed = 0x1e57a9e5eedull + 0x9e3779b97f4a7c15ull * (path + 1);
	bool cross = path == 1 || path == 2;
	uint32_t gap = rate / 1000 * (cross ? 3 : 1);
	double k = log(1000.0) / len, a = cross ? 0.5 : 1.0;

	for (uint32_t i = 0; i < len; i++)
		taps[i] = i < gap ? 0.0f : (float)(a * 0.1 * exp(-k * i)) * noise_float(&seed);
}

static void format_layout(const struct iem_conv_info *info, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (uint32_t l = 0; l < info->n_levels && l < IEM_CONV_MAX_LEVELS && len < size; l++) {
		int r = snprintf(buf + len, size - len, "%s%ux%u", l ? " + " : "",
				info->block[l], info->partitions[l]);
		if (r > 0 && info->offset[l] != 0 && len + (size_t)r < size)
			r += snprintf(buf + len + r, size - len - r, "@%u", info->offset[l]);
		if (r < 0)
			break;
		len += (size_t)r;
	}
}

static void timespec_add_ns(struct timespec *t, uint64_t ns)
{
	ns += (uint64_t)t->tv_nsec;
	t->tv_sec += (time_t)(ns / 1000000000u);
	t->tv_nsec = (long)(ns % 1000000000u);
}

enum pace {
	PACE_SLEEP,	/* sleep until the next period, as a sound server's thread does */
	PACE_SPIN,	/* spin until it: the core never idles */
	PACE_NONE,	/* back to back */
};

static bool timespec_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Times `calls` calls of n frames, each on its own, into ns[]. Paced
 * calls start on a real-time clock, one per period_ns, as a sound
 * server's would: that is what leaves the worker its slack. */
static void conv_run(struct iem_conv *conv, const struct input *in, uint32_t n,
		uint32_t calls, uint64_t *ns, uint64_t period_ns, enum pace pace)
{
	uint32_t pos = 0;
	struct timespec t0, t1, next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	for (uint32_t k = 0; k < calls; k++) {
		if (pace != PACE_NONE)
			timespec_add_ns(&next, period_ns);
		if (pace == PACE_SLEEP) {
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
				;
		} else if (pace == PACE_SPIN) {
			do
				clock_gettime(CLOCK_MONOTONIC, &t0);
			while (timespec_before(&t0, &next));
		}
		if (pos + n > in->len)
			pos = 0;
		const float *src[2] = { in->l + pos, in->r + pos };
		float *dst[2] = { in->ol, in->or };
		clock_gettime(CLOCK_MONOTONIC, &t0);
		iem_conv_process(conv, src, dst, n);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (ns)
			ns[k] = (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000ll +
					(t1.tv_nsec - t0.tv_nsec));
		pos += n;
	}
}

/* Times one cell: a warm-up, then `seconds` of calls of n frames. */
static void conv_cell_run(struct conv_cell *c, struct iem_conv *conv, const struct input *in,
		uint32_t n, uint32_t rate, double seconds, enum pace pace, uint64_t *ns, uint64_t *late)
{
	const uint32_t calls = (uint32_t)ceil(seconds * rate / n);
	const double period_ns = 1e9 * n / rate;
	struct iem_conv_stats st0, st1;
	struct timespec w0, w1;
	double sum = 0.0;

	iem_conv_reset(conv);
	/* the first calls fault pages in and warm the caches; and the
	 * longest partitions first run after many calls */
	conv_run(conv, in, n, (uint32_t)ceil(0.5 * rate / n), NULL, (uint64_t)period_ns, pace);
	iem_conv_get_stats(conv, &st0);
	clock_gettime(CLOCK_MONOTONIC, &w0);
	conv_run(conv, in, n, calls, ns, (uint64_t)period_ns, pace);
	clock_gettime(CLOCK_MONOTONIC, &w1);
	/* the worker's last job may still be running: let it finish
	 * before reading its CPU time */
	struct timespec settle = { 0, 20000000 };
	nanosleep(&settle, NULL);
	iem_conv_get_stats(conv, &st1);
	double wall_ns = (w1.tv_sec - w0.tv_sec) * 1e9 + (w1.tv_nsec - w0.tv_nsec);

	for (uint32_t k = 0; k < calls; k++)
		sum += (double)ns[k];
	qsort(ns, calls, sizeof(uint64_t), cmp_u64);
	c->n = n;
	c->mean_us = sum / calls / 1e3;
	c->p99_us = ns[(uint32_t)ceil(0.99 * calls) - 1] / 1e3;
	c->max_us = ns[calls - 1] / 1e3;
	c->core = 100.0 * sum / calls / period_ns;
	c->total = pace == PACE_NONE ? c->core :
		100.0 * (sum + (double)(st1.worker_ns - st0.worker_ns)) / wall_ns;
	*late = st1.late - st0.late;
}

static const char *pace_text(enum pace pace, bool sync)
{
	if (pace == PACE_NONE)
		return "tail levels inline (IEM_CONV_SYNC), calls back to back";
	if (pace == PACE_SPIN)
		return "tail levels on the worker thread, one call per period of real time,\n"
			"  the thread spinning between calls (the core never idles: caches stay as warm as\n"
			"  the convolver leaves them, and no wake-up costs; the convolver's own variation)";
	return sync ? "" : "tail levels on the worker thread, one call per period of real time,\n"
		"  the thread sleeping between calls, as a sound server's does";
}

static int bench_conv(uint32_t rate, double seconds, bool quick, bool sync, bool spin)
{
	static const double all_irs[] = { 0.25, 1.0, 4.0 }, quick_irs[] = { 0.25 };
	static const uint32_t all_sizes[] = { 32, 64, 128, 256, 512, 1024, 2048 };
	static const uint32_t quick_sizes[] = { 64, 1024 };
	const double *irs = quick ? quick_irs : all_irs;
	const uint32_t *sizes = quick ? quick_sizes : all_sizes;
	const size_t n_irs = quick ? 1 : 3, n_sizes = quick ? 2 : 7;
	const uint32_t max_block = 2048;
	const enum pace pace = sync ? PACE_NONE : spin ? PACE_SPIN : PACE_SLEEP;
	/* the floor: a response level 0 covers alone, so every call of 64
	 * frames does the same work */
	const uint32_t floor_len = 1024, floor_call = 64;
	struct input in = { .len = rate * 2 };
	struct conv_cell cells[3][7], floor_cell = { 0 };
	uint64_t seed = 0xc0417, max_calls = 0, *ns, late;
	float *taps[4] = { NULL };
	int res = 1;

	for (size_t s = 0; s < n_sizes; s++) {
		uint64_t c = (uint64_t)ceil(seconds * rate / sizes[s]);
		if (c > max_calls)
			max_calls = c;
	}
	if (max_calls > UINT32_MAX) {
		fprintf(stderr, "iemstage-bench: --seconds too long for --rate\n");
		return 2;
	}
	/* every call's time is kept: sized once, before any timing */
	ns = calloc(max_calls, sizeof(uint64_t));
	in.l = calloc(in.len, sizeof(float));
	in.r = calloc(in.len, sizeof(float));
	in.ol = calloc(max_block, sizeof(float));
	in.or = calloc(max_block, sizeof(float));
	for (int p = 0; p < 4; p++)
		taps[p] = calloc((size_t)(all_irs[2] * rate), sizeof(float));
	if (!ns || !in.l || !in.r || !in.ol || !in.or || !taps[0] || !taps[1] || !taps[2] || !taps[3]) {
		fprintf(stderr, "iemstage-bench: out of memory\n");
		goto done;
	}
	/* programme-like: not full scale, the channels correlated in part */
	for (uint32_t i = 0; i < in.len; i++) {
		float c = noise_float(&seed);
		in.l[i] = 0.15f * c + 0.1f * noise_float(&seed);
		in.r[i] = 0.15f * c + 0.1f * noise_float(&seed);
	}

	/* a sound server's thread asks for exact wake-ups */
	prctl(PR_SET_TIMERSLACK, 1ul, 0ul, 0ul, 0ul);
	printf("iemstage-bench conv: 2x2 true-stereo convolver (4 paths), %u Hz, %g s of audio per cell,\n"
			"  %s; every call timed after a 0.5 s warm-up.\n"
			"  call %% = mean call time / call period (the processing thread's load);\n"
			"  total %% = (all call time + worker thread CPU time) / elapsed time;\n"
			"  p99/m = p99 / mean\n",
			rate, seconds, pace_text(pace, sync));
	/* one more byte for each µ: printf pads bytes, not characters */
	printf("%6s %5s %10s %10s %10s %6s %8s %8s %6s %9s   %s\n", "IR s", "call", "mean µs", "p99 µs",
			"max µs", "p99/m", "call %", "total %", "late", "flop/smp",
			"partitions (block x count @ first tap)");

	for (size_t r = 0; r <= n_irs; r++) {
		/* the last round is the floor */
		const bool is_floor = r == n_irs;
		uint32_t len = is_floor ? floor_len : (uint32_t)(irs[r] * rate);
		const float *paths[4] = { taps[0], taps[1], taps[2], taps[3] };
		struct iem_ir ir = { .n_inputs = 2, .n_outputs = 2, .length = len, .taps = paths };
		struct iem_conv *conv;
		struct timespec t0, t1;

		if (is_floor && pace == PACE_NONE)
			break;
		if (len > IEM_CONV_MAX_TAPS) {
			printf("%6.2f  (skipped: %u taps is over the convolver's %u)\n", irs[r], len,
					IEM_CONV_MAX_TAPS);
			for (size_t s = 0; s < n_sizes; s++)
				cells[r][s].n = 0;
			continue;
		}
		for (uint32_t p = 0; p < 4; p++)
			make_brir(taps[p], len, rate, p);
		struct iem_conv_config cfg = { .flags = sync ? IEM_CONV_SYNC : 0 };
		clock_gettime(CLOCK_MONOTONIC, &t0);
		conv = iem_conv_new(&ir, &cfg);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (conv == NULL) {
			fprintf(stderr, "iemstage-bench: cannot make a %u-tap convolver: %s\n",
					len, strerror(errno));
			goto done;
		}
		double made_ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;

		for (size_t s = 0; s < (is_floor ? 1 : n_sizes); s++) {
			const uint32_t n = is_floor ? floor_call : sizes[s];
			struct conv_cell *c = is_floor ? &floor_cell : &cells[r][s];
			struct iem_conv_info info;
			char layout[160];

			conv_cell_run(c, conv, &in, n, rate, seconds, pace, ns, &late);
			iem_conv_get_info(conv, &info);
			format_layout(&info, layout, sizeof(layout));
			if (is_floor)
				printf("floor: the same work every call (a %u-tap response, level 0 alone), "
						"same pacing:\n", len);
			printf("%6.3g %5u %9.2f %9.2f %9.2f %6.2f %8.3f %8.3f %6" PRIu64 " %9.0f   %s\n",
					(double)len / rate, n, c->mean_us, c->p99_us, c->max_us,
					c->p99_us / c->mean_us, c->core, c->total, late,
					info.flops_per_sample, layout);
			fflush(stdout);
		}
		if (!is_floor)
			printf("%6s  (made in %.0f ms: FFT plans and transformed responses)\n", "", made_ms);
		iem_conv_free(conv);
	}

	/* the sizes a PipeWire quantum usually has, in the peer's format */
	printf("\n");
	for (size_t r = 0; r < n_irs; r++) {
		char cores[96] = "", totals[96] = "", quanta[96] = "", ratios[96] = "";
		size_t cl = 0, ql = 0, rl = 0;

		for (size_t s = 0; s < n_sizes; s++) {
			const struct conv_cell *c = &cells[r][s];
			if (c->n != 64 && c->n != 256 && c->n != 1024)
				continue;
			snprintf(totals + strlen(totals), sizeof(totals) - strlen(totals), "%s%.2f",
					cl ? " / " : "", c->total);
			cl += (size_t)snprintf(cores + cl, sizeof(cores) - cl, "%s%.2f", cl ? " / " : "", c->core);
			ql += (size_t)snprintf(quanta + ql, sizeof(quanta) - ql, "%s%u", ql ? " / " : "", c->n);
			rl += (size_t)snprintf(ratios + rl, sizeof(ratios) - rl, "%s%.2f", rl ? " / " : "",
					c->p99_us / c->mean_us);
		}
		if (cl == 0)
			continue;
		printf("ours: %.2f s BRIR, 4 paths: %s %% of a core in all (%s %% in the processing thread) "
				"at call size %s; p99/mean %s\n", irs[r], totals, cores, quanta, ratios);
	}
	if (floor_cell.n != 0)
		printf("floor: the same work every call, call size %u: p99/mean %.2f (mean %.2f µs): "
				"what this machine's wake-ups and caches alone give\n",
				floor_cell.n, floor_cell.p99_us / floor_cell.mean_us, floor_cell.mean_us);
	printf("peer (quoted from the project's reference measurement, not measured in this run): %s\n", PEER_CONV_QUOTE);
	res = 0;
done:
	for (int p = 0; p < 4; p++)
		free(taps[p]);
	free(ns);
	free(in.l);
	free(in.r);
	free(in.ol);
	free(in.or);
	return res;
}

/*
 * room: wall-clock time of iem_room_render() for the default room (the
 * params' defaults) through the model HRTF and, when the system has it,
 * MIT KEMAR, on this thread. The first render includes FFTW planning for
 * sizes without wisdom; the median of the following runs is what a
 * parameter change costs. Loading the HRTF is timed on its own (the chain
 * keeps it between rooms).
 */
static int bench_room(uint32_t rate, int runs)
{
	struct iem_params p;
	struct iem_room_config cfg;
	char path[4096], err[512];

	iem_params_init(&p);
	iem_room_config_init(&cfg);
	iem_room_config_from_params(&cfg, &p);
	printf("room: %g x %g x %g m, RT60 %g s, speakers +-%g deg at %g m, order %u, %u Hz, %d runs\n",
			cfg.width, cfg.depth, cfg.height, cfg.rt60, cfg.angle, cfg.distance, cfg.order, rate, runs);
	for (int k = 0; k < 2; k++) {
		struct iem_hrtf_config hc;
		iem_hrtf_config_init(&hc);
		if (k == 0) {
			hc.kind = IEM_HRTF_MODEL;
		} else {
			if (iem_hrtf_default_sofa(path, sizeof(path)) < 0) {
				printf("  KEMAR: no SOFA file, skipped\n");
				continue;
			}
			hc.kind = IEM_HRTF_SOFA;
			hc.sofa_path = path;
		}
		double t0 = now_ns();
		struct iem_hrtf *h = iem_hrtf_new(&hc, rate, err, sizeof(err));
		double t_hrtf = now_ns() - t0;
		if (h == NULL) {
			fprintf(stderr, "iemstage-bench: HRTF: %s\n", err);
			return 1;
		}
		double *t = calloc((size_t)runs, sizeof(double)), first = 0.0;
		struct iem_room *room = NULL;
		uint32_t taps = 0, images = 0;
		if (t == NULL) {
			iem_hrtf_free(h);
			return 1;
		}
		for (int i = 0; i <= runs; i++) {
			t0 = now_ns();
			if (iem_room_render(&cfg, h, rate, &room, err, sizeof(err)) < 0) {
				fprintf(stderr, "iemstage-bench: room: %s\n", err);
				free(t);
				iem_hrtf_free(h);
				return 1;
			}
			double dt = now_ns() - t0;
			if (i == 0)
				first = dt;
			else
				t[i - 1] = dt;
			taps = room->ir.length;
			images = room->info.images;
			room = iem_room_free(room);
		}
		printf("  %-6s render %7.1f ms median, %7.1f ms first (FFT planning included); "
				"%u taps, %u images; HRTF load %.1f ms\n",
				k ? "KEMAR" : "model", median(t, runs) / 1e6, first / 1e6, taps, images, t_hrtf / 1e6);
		free(t);
		iem_hrtf_free(h);
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: iemstage-bench eq [--runs N] [--seconds S] [--rate R] [--quick]\n"
		"       iemstage-bench conv [--seconds S] [--rate R] [--quick] [--sync | --spin]\n"
		"       iemstage-bench room [--runs N] [--rate R] [--quick]\n"
		"Prints figures; never fails on time.\n"
		"  eq            10-band EQ chain next to the peer's biquads, blocks 64/256/1024\n"
		"  conv          2x2 convolver, 0.25/1/4 s responses, calls of 32 … 2048 frames:\n"
		"                mean, p99 and max per call, paced in real time\n"
		"  room          time to synthesise the default room (model HRTF, and KEMAR\n"
		"                when installed): median of the runs and the first\n"
		"  --sync        conv: no worker thread, calls back to back\n"
		"  --spin        conv: spin between calls instead of sleeping (the core never\n"
		"                idles: the convolver's own variation, without wake-up costs)\n"
		"  --runs N      eq: timed runs per block size (default 9; median printed)\n"
		"  --seconds S   audio per run (eq, default 10) or per IR and call size\n"
		"                (conv, default 3)\n"
		"  --rate R      sample rate (default 48000)\n"
		"  --quick       eq: 1 run of 0.5 s; conv: the 0.25 s IR at calls of 64 and\n"
		"                1024, 0.5 s each: checks that it runs\n");
}

int main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "runs", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ "rate", required_argument, NULL, 'r' },
		{ "quick", no_argument, NULL, 'q' },
		{ "sync", no_argument, NULL, 'S' },
		{ "spin", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int runs = 9, o;
	bool quick = false, sync = false, spin = false, seconds_set = false;
	double seconds = 10.0;
	unsigned long rate = 48000;
	char *end;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'n':
			runs = (int)strtol(optarg, &end, 10);
			if (*end || runs < 1 || runs > 64) {
				fprintf(stderr, "iemstage-bench: --runs takes 1 … 64\n");
				return 2;
			}
			break;
		case 's':
			seconds = strtod(optarg, &end);
			if (*end || !(seconds >= 0.01 && seconds <= 3600)) {
				fprintf(stderr, "iemstage-bench: --seconds takes 0.01 … 3600\n");
				return 2;
			}
			seconds_set = true;
			break;
		case 'S':
			sync = true;
			break;
		case 'P':
			spin = true;
			break;
		case 'r':
			rate = strtoul(optarg, &end, 10);
			if (*end || rate < IEM_MIN_RATE || rate > IEM_MAX_RATE) {
				fprintf(stderr, "iemstage-bench: --rate takes %u … %u\n", IEM_MIN_RATE, IEM_MAX_RATE);
				return 2;
			}
			break;
		case 'q':
			runs = 1;
			seconds = 0.5;
			seconds_set = true;
			quick = true;
			break;
		case 'V':
			printf("iemstage-bench %s\n", IEM_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[optind], "eq") == 0)
		return bench_eq((uint32_t)rate, runs, seconds);
	if (strcmp(argv[optind], "conv") == 0) {
		if (sync && spin) {
			fprintf(stderr, "iemstage-bench: --sync and --spin exclude each other\n");
			return 2;
		}
		return bench_conv((uint32_t)rate, seconds_set ? seconds : 3.0, quick, sync, spin);
	}
	if (strcmp(argv[optind], "room") == 0)
		return bench_room((uint32_t)rate, runs);
	usage(stderr);
	return 2;
}
