/* SPDX-License-Identifier: MIT */
/*
 * iemstage-bench: figures, never verdicts.
 *
 *   iemstage-bench eq [--runs N] [--seconds S] [--rate R] [--quick]
 *
 * Times the chain with a 10-band correction EQ at block sizes 64, 256 and
 * 1024 and, in the same run on the same input, the structure PipeWire
 * 0.3.65's filter-chain uses for its bq_* plugins (scalar float32 direct
 * form I, one pass per biquad per block, 20 biquads for stereo). Prints the
 * median of the runs as ns per stereo frame, real-time factor and % of one
 * core, and the ratio between the two.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void usage(FILE *f)
{
	fprintf(f, "Usage: iemstage-bench eq [--runs N] [--seconds S] [--rate R] [--quick]\n"
		"Prints figures; never fails on time.\n"
		"  --runs N      timed runs per block size (default 9; median printed)\n"
		"  --seconds S   audio per run (default 10)\n"
		"  --rate R      sample rate (default 48000)\n"
		"  --quick       1 run of 0.5 s: checks that it runs\n");
}

int main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "runs", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ "rate", required_argument, NULL, 'r' },
		{ "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int runs = 9, o;
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
	if (optind >= argc || strcmp(argv[optind], "eq") != 0) {
		usage(stderr);
		return 2;
	}
	return bench_eq((uint32_t)rate, runs, seconds);
}
