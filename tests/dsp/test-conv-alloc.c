/* SPDX-License-Identifier: MIT */
/*
 * The processing side never touches the allocator: a malloc or free in a
 * real-time thread can take a lock held by another thread and miss the
 * deadline, and no output check would ever see it. The allocator is
 * interposed here and every call counted while the process and reset calls
 * run, with call sizes that change from call to call.
 *
 * When the convolver's response swap (the RT-safe side of it) exists, it
 * belongs in the counted loops here too.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "iem-test.h"
#include "iem-test-dsp.h"
#include "example-eq.h"

/* The sanitizer brings its own allocator, which this one would fight. */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

#ifndef TEST_ASAN

#define RATE		48000
#define N_CALLS		100000
#define MAX_FRAMES	8192

/* ---- the interposer ---------------------------------------------------- */

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_memalign(size_t align, size_t size);

/* Only the thread that called count_start() counts: the processing
 * thread. The worker thread frees retired IR sets by design. */
static _Thread_local bool counting;
static atomic_ulong n_allocs, n_frees;

/* The project builds with -fvisibility=hidden; these must stay visible so
 * that the shared libraries (libc's own callers, FFTW) resolve to them. */
#define INTERPOSE __attribute__((visibility("default")))

static inline void count(atomic_ulong *counter)
{
	if (counting)
		atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

INTERPOSE void *malloc(size_t size)
{
	count(&n_allocs);
	return __libc_malloc(size);
}

INTERPOSE void *calloc(size_t n, size_t size)
{
	count(&n_allocs);
	return __libc_calloc(n, size);
}

INTERPOSE void *realloc(void *ptr, size_t size)
{
	count(&n_allocs);
	return __libc_realloc(ptr, size);
}

INTERPOSE void free(void *ptr)
{
	/* free(NULL) never reaches the allocator's locks */
	if (ptr != NULL)
		count(&n_frees);
	__libc_free(ptr);
}

INTERPOSE void *memalign(size_t align, size_t size)
{
	count(&n_allocs);
	return __libc_memalign(align, size);
}

INTERPOSE void *aligned_alloc(size_t align, size_t size)
{
	count(&n_allocs);
	return __libc_memalign(align, size);
}

INTERPOSE int posix_memalign(void **ptr, size_t align, size_t size)
{
	void *p;

	count(&n_allocs);
	if (align < sizeof(void *) || (align & (align - 1)) != 0)
		return EINVAL;
	p = __libc_memalign(align, size);
	if (p == NULL)
		return ENOMEM;
	*ptr = p;
	return 0;
}

static void count_start(void)
{
	atomic_store(&n_allocs, 0);
	atomic_store(&n_frees, 0);
	counting = true;
}

static void count_stop(unsigned long *allocs, unsigned long *frees)
{
	counting = false;
	*allocs = atomic_load(&n_allocs);
	*frees = atomic_load(&n_frees);
}

/* ---- the calls ----------------------------------------------------------- */

/* Mostly small calls (a quantum can be anything), every listed size spread
 * through the run a hundred times: odd sizes, sizes one past a partition,
 * sizes larger than any partition block. About 100 frames on average. */
static const uint32_t listed[] = { 1, 7, 32, 64, 65, 256, 1000, 1024, 4096, 8192 };

static uint32_t sizes[N_CALLS];

static void make_sizes(void)
{
	uint64_t seed = 0xa110c;

	for (uint32_t k = 0; k < N_CALLS; k++) {
		uint32_t j = k % 1000;
		if (j % 100 == 37)
			sizes[k] = listed[j / 100];
		else
			sizes[k] = 1 + (uint32_t)(test_rand(&seed) >> 33) % 170;
	}
}

/* A reset every few thousand calls, at an odd phase so that it lands in the
 * middle of the long partitions' work. */
static bool reset_before(uint32_t k)
{
	return k % 4999 == 4998;
}

struct buffers {
	float *in[IEM_CONV_MAX_INPUTS], *out[IEM_CONV_MAX_OUTPUTS];
	float *src[2];		/* pristine input, for the in-place calls */
};

/* allocs, when not NULL, gets the allocations iem_conv_new itself made.
 * other, when not NULL, receives a second set of the same shape (and the
 * same length, shortened by a third) for iem_conv_set_ir(). */
static struct iem_conv *make_conv(uint32_t n_inputs, uint32_t n_outputs, uint32_t length,
		unsigned long *allocs, struct iem_ir *other)
{
	uint32_t n_paths = n_inputs * n_outputs;
	float *taps[IEM_CONV_MAX_INPUTS * IEM_CONV_MAX_OUTPUTS];
	uint64_t seed = 0x1e5 + length;
	double k = log(1000.0) / length;
	unsigned long frees;
	struct iem_conv *conv;

	for (uint32_t p = 0; p < n_paths; p++) {
		taps[p] = test_alloc(length, sizeof(float));
		for (uint32_t i = 0; i < length; i++)
			taps[p][i] = (float)(0.1 * exp(-k * i) * test_noise(&seed));
	}
	struct iem_ir ir = {
		.n_inputs = n_inputs, .n_outputs = n_outputs, .length = length,
		.taps = (const float *const *)taps,
	};
	if (allocs)
		count_start();
	conv = iem_conv_new(&ir, NULL);
	if (allocs)
		count_stop(allocs, &frees);
	if (other != NULL) {
		float **t2 = test_alloc(n_paths, sizeof(float *));
		for (uint32_t p = 0; p < n_paths; p++) {
			t2[p] = taps[p];
			for (uint32_t i = 0; i < length; i++)
				t2[p][i] *= -0.5f;
		}
		*other = ir;
		other->length = length - length / 3;
		other->taps = (const float *const *)t2;
	} else {
		for (uint32_t p = 0; p < n_paths; p++)
			free(taps[p]);
	}
	return conv;
}

/* Runs every call of the sequence; returns the number of resets. Every
 * tenth call is in place (a convolver that copies aliased input aside must
 * not allocate for it either). With `other`, the response is exchanged
 * every 20 000 calls: iem_conv_set_ir() is the control side and is not
 * counted, the processing side's crossfade is. */
static uint32_t run_conv(struct iem_conv *conv, uint32_t n_inputs, uint32_t n_outputs,
		const struct buffers *b, const struct iem_ir *other, uint32_t *swaps)
{
	uint32_t resets = 0;

	for (uint32_t k = 0; k < N_CALLS; k++) {
		if (other != NULL && k % 20000 == 10000) {
			counting = false;
			if (iem_conv_set_ir(conv, other) == 0)
				(*swaps)++;
			counting = true;
		}
		const float *in[IEM_CONV_MAX_INPUTS];
		float *out[IEM_CONV_MAX_OUTPUTS];
		bool in_place = k % 10 == 3 && n_inputs == n_outputs;

		if (reset_before(k)) {
			iem_conv_reset(conv);
			resets++;
		}
		for (uint32_t i = 0; i < n_inputs; i++)
			in[i] = b->in[i];
		for (uint32_t o = 0; o < n_outputs; o++)
			out[o] = b->out[o];
		if (in_place) {
			for (uint32_t i = 0; i < n_inputs; i++) {
				memcpy(b->out[i], b->src[i], sizes[k] * sizeof(float));
				in[i] = b->out[i];
			}
		}
		iem_conv_process(conv, in, out, sizes[k]);
	}
	return resets;
}

int main(void)
{
	struct buffers b;
	struct iem_conv *conv22, *conv11, *small;
	struct iem_chain *chain;
	struct iem_params params;
	unsigned long allocs, frees;
	uint64_t seed = 7;
	uint32_t resets, swaps = 0;
	struct iem_ir other;

	/* the interposer sees the program, libc and the library's own
	 * dependencies: otherwise a zero below would prove nothing */
	{
		void *volatile p;
		char *(*volatile dup)(const char *) = strdup;
		const char *preload = getenv("LD_PRELOAD");

		count_start();
		p = malloc(24);
		free(p);
		count_stop(&allocs, &frees);
		/* valgrind (and a preloaded jemalloc, tcmalloc, …) replaces
		 * malloc wherever it is defined, this program included */
		if ((allocs != 1 || frees != 1) && preload != NULL && *preload != '\0') {
			printf("1..0 # SKIP malloc interposer is bypassed: LD_PRELOAD replaces the allocator (%s)\n",
					preload);
			return 0;
		}
		check(allocs == 1 && frees == 1,
				"interposer: a malloc and a free while counting are counted (%lu, %lu)",
				allocs, frees);

		count_start();
		p = dup("from inside libc");
		free(p);
		count_stop(&allocs, &frees);
		check(allocs == 1 && frees == 1,
				"interposer: libc's strdup is counted too (%lu allocations, %lu frees)",
				allocs, frees);

		small = make_conv(1, 1, 1000, &allocs, NULL);
		check(small != NULL && allocs > 0,
				"interposer: iem_conv_new allocates, and is seen to (%lu allocations)", allocs);
		count_start();
		iem_conv_free(small);
		count_stop(&allocs, &frees);
		check(frees > 0, "interposer: iem_conv_free is seen to free (%lu frees)", frees);
	}

	make_sizes();
	for (int i = 0; i < 2; i++) {
		b.src[i] = test_alloc(MAX_FRAMES, sizeof(float));
		b.in[i] = test_alloc(MAX_FRAMES, sizeof(float));
		b.out[i] = test_alloc(MAX_FRAMES, sizeof(float));
		for (uint32_t k = 0; k < MAX_FRAMES; k++)
			b.src[i][k] = b.in[i][k] = (float)(0.1 * test_noise(&seed));
	}

	/* made outside the counted window: only processing must not allocate */
	conv22 = make_conv(2, 2, RATE, NULL, &other);
	conv11 = make_conv(1, 1, 200000, NULL, NULL);
	chain = iem_chain_new(RATE);
	if (conv22 == NULL || conv11 == NULL || chain == NULL) {
		printf("Bail out! cannot make the convolvers or the chain: %s\n", strerror(errno));
		return 1;
	}

	count_start();
	resets = run_conv(conv22, 2, 2, &b, &other, &swaps);
	count_stop(&allocs, &frees);
	struct iem_conv_stats st;
	iem_conv_get_stats(conv22, &st);
	check(allocs == 0 && frees == 0 && swaps == 5 && st.exchanges == 5,
			"%lu allocations and %lu frees in %u process calls, %u resets and %u of %u IR exchanges (conv 2x2, %u taps; %" PRIu64 " tail blocks on the worker)",
			allocs, frees, N_CALLS, resets, (unsigned)st.exchanges, swaps, RATE, st.jobs_async);

	count_start();
	resets = run_conv(conv11, 1, 1, &b, NULL, NULL);
	count_stop(&allocs, &frees);
	check(allocs == 0 && frees == 0,
			"%lu allocations and %lu frees in %u process calls and %u resets (conv 1x1, 200000 taps)",
			allocs, frees, N_CALLS, resets);

	/* The chain: settings change every few thousand calls, so that the
	 * processing side picks up new settings and ramps. iem_chain_apply is
	 * the control side (not RT-safe) and is not counted. */
	iem_params_init(&params);
	memcpy(params.band, iem_example_eq10, sizeof(iem_example_eq10));
	iem_chain_apply(chain, &params, NULL);
	/* with a stage, exchanged in place, switched off and on again */
	float *brir[4];
	uint64_t bseed = 11;
	for (int p = 0; p < 4; p++) {
		brir[p] = test_alloc(RATE / 2, sizeof(float));
		for (uint32_t j = 0; j < RATE / 2; j++)
			brir[p][j] = (float)(0.05 * test_noise(&bseed) * exp(-8.0 * j / RATE));
	}
	struct iem_ir stage = { 2, 2, RATE / 2, (const float *const *)brir };
	if (iem_chain_set_stage(chain, &stage, NULL) < 0) {
		printf("Bail out! cannot set the chain's stage\n");
		return 1;
	}
	uint32_t stage_changes = 0;
	unsigned long total_allocs = 0, total_frees = 0;
	uint32_t applies = 0;
	resets = 0;
	for (uint32_t k = 0; k < N_CALLS; k++) {
		if (k % 3001 == 1500) {
			params.band[k % 10].gain = -params.band[k % 10].gain;
			params.bypass = k % 4 == 0;
			params.output_gain = -(double)(k % 7);
			iem_chain_apply(chain, &params, NULL);
			applies++;
		}
		if (k % 20000 == 5000) {
			/* in place, off, on, in place, … */
			stage.length = RATE / 2 - (k / 20000) * 1000;
			iem_chain_set_stage(chain, k % 60000 == 25000 ? NULL : &stage, NULL);
			stage_changes++;
		}
		count_start();
		if (reset_before(k)) {
			iem_chain_reset(chain);
			resets++;
		}
		const float *in[2] = { b.in[0], b.in[1] };
		float *out[2] = { b.out[0], b.out[1] };
		iem_chain_process(chain, in, out, sizes[k]);
		count_stop(&allocs, &frees);
		total_allocs += allocs;
		total_frees += frees;
	}
	check(total_allocs == 0 && total_frees == 0,
			"%lu allocations and %lu frees in %u process calls and %u resets (chain with a 0.5 s stage, %u applies and %u stage changes in between)",
			total_allocs, total_frees, N_CALLS, resets, applies, stage_changes);
	for (int p = 0; p < 4; p++)
		free(brir[p]);

	iem_conv_free(conv22);
	iem_conv_free(conv11);
	for (uint32_t p = 0; p < 4; p++)
		free((void *)other.taps[p]);
	free((void *)other.taps);
	iem_chain_free(chain);
	for (int i = 0; i < 2; i++) {
		free(b.src[i]);
		free(b.in[i]);
		free(b.out[i]);
	}
	return iem_test_done();
}

#else

int main(void)
{
	printf("1..0 # SKIP malloc interposer cannot run under AddressSanitizer\n");
	return 0;
}

#endif
