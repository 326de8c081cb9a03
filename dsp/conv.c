/* SPDX-License-Identifier: MIT */
/*
 * Zero-latency, non-uniformly partitioned convolution, N inputs x M outputs.
 *
 * The response is cut into levels of growing block size (64, 512, 4096):
 *
 *   level 0  taps [0, 1024)      blocks of 64, zero latency: every call
 *                                transforms the block filled so far
 *                                (zero-padded), so each output sample is
 *                                ready as soon as its input is;
 *   level 1  taps [1024, 8192)   blocks of 512, starting at 2 x 512;
 *   level 2  taps [8192, …)      blocks of 4096, starting at 2 x 4096.
 *
 * Every level is overlap-add with a frequency-domain delay line (FDL) per
 * input: the input spectrum is computed once per input and shared by all
 * outputs, and each output sums its paths in the frequency domain before
 * one inverse transform.
 *
 * Tail levels and the worker. A level of block B starting at tap 2B has a
 * whole block of slack: when its input block completes at frame c, the
 * result (for frames [c + B, c + 3B) of its output ring) is first needed
 * at c + B. The processing thread hands such a "job" to a worker thread
 * and goes on with level 0 only, so its per-call cost stays flat; at the
 * deadline it checks the job is done. A job the worker has not started by
 * then is taken back and run inline; one the worker is running is waited
 * for (counted as late). A job whose deadline falls inside the current
 * call (calls of B frames or more) runs inline straight away. Per level at
 * most one job is in flight, so the hand-off is one atomic state word:
 * the thread that moves it from PENDING to RUNNING owns the level's job
 * buffers until it stores IDLE. Jobs are deterministic: the output is the
 * same whichever thread ran them. While audio flows, jobs come at a steady
 * pace and the worker wakes itself a little after each is due (a timed
 * wait on its semaphore), so the processing thread makes no system call;
 * it posts the semaphore only when the worker sleeps with no time-out,
 * which it does when it has not seen the pace yet or the jobs stop.
 *
 * IR exchange. The FDLs are shared by every kernel (a transformed IR set)
 * made for the same capacity, so a new kernel has the full input history
 * from its first block: no build-up. iem_conv_set_ir() transforms the new
 * set on the control thread and leaves it in `pending`; the processing
 * thread takes it at a level-0 block boundary, computes both kernels from
 * then on, and crossfades (equal power) from frame xf_start, chosen late
 * enough that every output frame from there on has both kernels' full
 * contribution. Gains are a function of the absolute frame, applied when
 * a level writes its output, so the sum of the levels is exactly
 * g_old(t) y_old(t) + g_new(t) y_new(t). After the fade the old kernel is
 * parked in `retired` and freed off the processing thread.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "fft.h"
#include "fpenv.h"
#include "iem-dsp.h"

#define HEAD_BLOCK	64u
/* What a level-1 job's steps cost, in partition multiply-accumulates, for
 * spreading the job evenly over calls. Measured here with rdtsc around
 * each step, calls paced in real time (cold caches, as a sound server
 * sees them): 1024-point forward transform 11.5 k cycles, inverse 17 k,
 * adding its 1024 frames into the ring 3 k before it was vectorised, one
 * partition (513 complex MACs) 1.4 k. */
#define UNIT_FORWARD	8u
#define UNIT_INVERSE	13u
#define N_BLOCKS	3u
/* Partitions a tail job's step multiplies in one run: short enough that a
 * spread job's steps stay even (a transform is 8 to 13 units), long
 * enough that the accumulator is read and written once per four. */
#define PATH_RUN	4u

enum { JOB_IDLE, JOB_PENDING, JOB_RUNNING };

/* One transformed IR set. The level-0 state (acc, overlap) belongs to the
 * kernel so that a crossfade can run two kernels side by side. */
struct kernel {
	uint32_t length;
	uint32_t parts[IEM_CONV_MAX_LEVELS];		/* in use, <= the level's capacity */
	bool live[IEM_CONV_MAX_OUTPUTS][IEM_CONV_MAX_INPUTS];
	float *h[IEM_CONV_MAX_LEVELS];			/* [o][i][p] x stride */
	float *acc[IEM_CONV_MAX_OUTPUTS];		/* level 0: older partitions' sum */
	float *overlap[IEM_CONV_MAX_OUTPUTS];		/* level 0: second half of the last block */
	double flops;
};

/* What a tail job needs, copied when it is posted, and where it is: a job
 * is a sequence of units (an input's transform, one partition's
 * multiply-accumulate, an output's inverse transform) that can be run all
 * at once or a few per call. */
struct job {
	struct kernel *k[2];	/* k[1]: the incoming kernel, or NULL */
	uint64_t t0;		/* absolute frame of the first output frame */
	uint64_t xf_start;
	uint64_t posted;	/* absolute frame it was posted at */
	uint32_t at;		/* ring index of t0 */
	uint32_t slot;		/* input slot */
	/* progress */
	uint32_t unit, n_units;	/* cost done, in all (see UNIT_FORWARD) */
	uint32_t in_done;	/* inputs transformed */
	uint32_t i, s, o, p;	/* cursor: input, kernel slot, output, partition */
	bool fresh;		/* the accumulator of (s, o) is still to be cleared */
	bool active;		/* a spread job in progress */
};

struct level {
	uint32_t block;		/* B */
	uint32_t size;		/* FFT size, 2B */
	uint32_t stride;	/* floats per spectrum, padded for SIMD alignment */
	uint32_t offset;	/* first tap */
	uint32_t parts;		/* capacity, P */
	uint32_t fill;		/* frames of the current block so far */
	uint32_t cur;		/* newest slot of the delay lines */
	uint32_t wslot;		/* input slot being filled (levels >= 1 have two) */
	uint32_t ring_len;	/* levels >= 1: output ring, 3B */
	uint32_t ring_pos;
	struct iem_fft *fft;
	float *in[2][IEM_CONV_MAX_INPUTS];	/* size: the block so far, then zeros */
	float *fdl[IEM_CONV_MAX_INPUTS];	/* parts x stride */
	float *ring[IEM_CONV_MAX_OUTPUTS];	/* levels >= 1 */
	float *spec, *time;			/* scratch of whoever runs this level */
	float *acc[2][IEM_CONV_MAX_OUTPUTS];	/* levels >= 1: per kernel and output */
	bool spread;		/* its jobs run a few units per call, in the
				 * processing thread, instead of on the worker */
	struct job job;
	_Atomic uint32_t state;
	_Atomic uint64_t posted_ns;	/* CLOCK_MONOTONIC of the last hand-off */
	/* the worker's own */
	uint64_t seen_ns;	/* the last hand-off it has seen */
	uint64_t period_ns;	/* between the last two, 0: not known */
};

struct iem_conv {
	uint32_t n_in, n_out, capacity;
	uint32_t n_levels;
	uint32_t flags;
	uint32_t lookahead;	/* frames a level may have written ahead */
	struct level lv[IEM_CONV_MAX_LEVELS];

	/* processing side */
	uint64_t now;		/* frames since the last reset */
	struct kernel *k[2];	/* k[1] while a crossfade runs */
	uint64_t xf_start;
	uint32_t xf_len;
	float *xf_tab;		/* sin(pi/4 (1 - cos(pi u / xf_len))), u = 0 … xf_len */

	/* shared */
	_Atomic(struct kernel *) pending;
	_Atomic(struct kernel *) retired;
	_Atomic uint64_t n_async, n_inline, n_spread, n_late, n_exchanges, worker_ns, last_xf_start;
	_Atomic bool quit;
	_Atomic bool asleep;	/* the worker waits on `wake` with no time-out */
	sem_t wake;
	pthread_t worker;
	bool have_worker;
	double flops;
};

/* acc += sum over j < count of x_j * h_j, complex, interleaved (re, im),
 * over `floats` floats (a whole spectrum stride: a multiple of 16, its
 * padding zero in x and h, so it stays zero in acc), where x_j = x + j *
 * floats and h_j = h + j * floats: a run of partitions whose spectra lie
 * one after the other. GCC does not vectorise the interleaved form, so x86
 * CPUs with AVX2 and FMA get a hand-written copy that keeps a chunk of acc
 * in registers over the whole run: per 8 floats, two loads, three
 * shuffles and two FMAs, and acc is read and written once per run instead
 * of once per partition. The choice is made once, when the first
 * convolver is made. */
static void cmac_run_scalar(float *restrict acc, const float *restrict x, const float *restrict h,
		uint32_t count, uint32_t floats)
{
	for (uint32_t j = 0; j < count; j++, x += floats, h += floats) {
		for (uint32_t k = 0; k < floats; k += 2) {
			float xr = x[k], xi = x[k + 1], hr = h[k], hi = h[k + 1];
			acc[k] += xr * hr - xi * hi;
			acc[k + 1] += xr * hi + xi * hr;
		}
	}
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* t += x * (h's real parts), u += (x's pairs swapped) * (h's imaginary
 * parts); the product is addsub(t, u): (re: xr hr - xi hi, im: xi hr + xr
 * hi). addsub is linear, so the sums over the run are kept apart and
 * combined once. */
#define CMAC_STEP(t, u, xp, hp) do {						\
	__m256 xv_ = _mm256_loadu_ps(xp), hv_ = _mm256_loadu_ps(hp);		\
	t = _mm256_fmadd_ps(xv_, _mm256_moveldup_ps(hv_), t);			\
	u = _mm256_fmadd_ps(_mm256_permute_ps(xv_, 0xb1), _mm256_movehdup_ps(hv_), u);	\
} while (0)

__attribute__((target("avx2,fma")))
static void cmac_run_avx2(float *restrict acc, const float *restrict x, const float *restrict h,
		uint32_t count, uint32_t floats)
{
	const size_t step = floats;
	uint32_t k = 0;

	for (; k + 32 <= floats; k += 32) {
		__m256 t0 = _mm256_setzero_ps(), t1 = t0, t2 = t0, t3 = t0;
		__m256 u0 = t0, u1 = t0, u2 = t0, u3 = t0;
		const float *xp = x + k, *hp = h + k;
		for (uint32_t j = 0; j < count; j++, xp += step, hp += step) {
			CMAC_STEP(t0, u0, xp, hp);
			CMAC_STEP(t1, u1, xp + 8, hp + 8);
			CMAC_STEP(t2, u2, xp + 16, hp + 16);
			CMAC_STEP(t3, u3, xp + 24, hp + 24);
		}
		float *a = acc + k;
		_mm256_storeu_ps(a, _mm256_add_ps(_mm256_loadu_ps(a), _mm256_addsub_ps(t0, u0)));
		_mm256_storeu_ps(a + 8, _mm256_add_ps(_mm256_loadu_ps(a + 8), _mm256_addsub_ps(t1, u1)));
		_mm256_storeu_ps(a + 16, _mm256_add_ps(_mm256_loadu_ps(a + 16), _mm256_addsub_ps(t2, u2)));
		_mm256_storeu_ps(a + 24, _mm256_add_ps(_mm256_loadu_ps(a + 24), _mm256_addsub_ps(t3, u3)));
	}
	for (; k < floats; k += 8) {
		__m256 t = _mm256_setzero_ps(), u = t;
		const float *xp = x + k, *hp = h + k;
		for (uint32_t j = 0; j < count; j++, xp += step, hp += step)
			CMAC_STEP(t, u, xp, hp);
		_mm256_storeu_ps(acc + k, _mm256_add_ps(_mm256_loadu_ps(acc + k), _mm256_addsub_ps(t, u)));
	}
}
#undef CMAC_STEP
#endif

typedef void (*cmac_run_func)(float *restrict acc, const float *restrict x, const float *restrict h,
		uint32_t count, uint32_t floats);
static cmac_run_func cmac_run_impl = cmac_run_scalar;
static pthread_once_t cmac_once = PTHREAD_ONCE_INIT;

static void cmac_choose(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		cmac_run_impl = cmac_run_avx2;
#endif
}

static inline void cmac_run(float *restrict acc, const float *restrict x, const float *restrict h,
		uint32_t count, uint32_t floats)
{
	cmac_run_impl(acc, x, h, count, floats);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

static inline float *fdl_slot(const struct level *l, uint32_t i, uint32_t slot)
{
	return l->fdl[i] + (size_t)slot * l->stride;
}

static inline const float *h_slot(const struct iem_conv *c, const struct kernel *k,
		uint32_t lvl, uint32_t o, uint32_t i, uint32_t p)
{
	const struct level *l = &c->lv[lvl];
	return k->h[lvl] + (((size_t)o * c->n_in + i) * k->parts[lvl] + p) * l->stride;
}

/* acc += the partitions p0 … p0 + count - 1 of path (o, i) times the
 * input spectra as many blocks old. The delay line is a ring (slot (cur +
 * p) % parts), so the run is cut where it wraps. */
static void cmac_parts(const struct iem_conv *c, const struct level *l, const struct kernel *k,
		uint32_t lvl, float *acc, uint32_t o, uint32_t i, uint32_t p0, uint32_t count)
{
	while (count > 0) {
		uint32_t slot = (l->cur + p0) % l->parts;
		uint32_t m = l->parts - slot < count ? l->parts - slot : count;
		cmac_run(acc, fdl_slot(l, i, slot), h_slot(c, k, lvl, o, i, p0), m, l->stride);
		p0 += m;
		count -= m;
	}
}

/* The kernel's gain at absolute frame t: slot 0 fades out, slot 1 in. */
static inline float xf_gain(const struct iem_conv *c, uint64_t xf_start, uint32_t slot, uint64_t t)
{
	uint32_t u;

	if (t < xf_start)
		u = 0;
	else if (t - xf_start >= c->xf_len)
		u = c->xf_len;
	else
		u = (uint32_t)(t - xf_start);
	return c->xf_tab[slot == 0 ? c->xf_len - u : u];
}

/* The levels for a response of `length` taps. */
static uint32_t plan_levels(uint32_t length, struct level lv[IEM_CONV_MAX_LEVELS])
{
	static const uint32_t blocks[N_BLOCKS] = { HEAD_BLOCK, 512, 4096 };
	uint32_t n = 0, start = 0;

	for (uint32_t k = 0; k < N_BLOCKS && start < length; k++) {
		/* level k ends where level k + 1 may start: at twice its block */
		uint32_t end = k + 1 < N_BLOCKS ? 2 * blocks[k + 1] : length;
		if (end > length)
			end = length;
		lv[n] = (struct level) {
			.block = blocks[k],
			.size = 2 * blocks[k],
			.stride = (2 * blocks[k] + 2 + 15) & ~15u,
			.offset = start,
			.parts = (end - start + blocks[k] - 1) / blocks[k],
		};
		n++;
		start = end;
	}
	return n;
}

/* ---- kernels ------------------------------------------------------------ */

static void kernel_free(struct kernel *k)
{
	if (k == NULL)
		return;
	for (uint32_t l = 0; l < IEM_CONV_MAX_LEVELS; l++)
		iem_fft_free_buffer(k->h[l]);
	for (uint32_t o = 0; o < IEM_CONV_MAX_OUTPUTS; o++) {
		iem_fft_free_buffer(k->acc[o]);
		iem_fft_free_buffer(k->overlap[o]);
	}
	free(k);
}

static int check_ir(const struct iem_ir *ir)
{
	if (ir == NULL || ir->taps == NULL || ir->n_inputs == 0 || ir->n_outputs == 0 || ir->length == 0)
		return -EINVAL;
	if (ir->n_inputs > IEM_CONV_MAX_INPUTS || ir->n_outputs > IEM_CONV_MAX_OUTPUTS ||
	    ir->length > IEM_CONV_MAX_TAPS)
		return -E2BIG;
	return 0;
}

/* Control thread: transform `ir` for this convolver's levels. The FFT
 * plans are shared with the processing thread; executing a plan on other
 * arrays is thread safe in FFTW. */
static struct kernel *kernel_new(const struct iem_conv *c, const struct iem_ir *ir, int *res)
{
	struct kernel *k;
	float *time = NULL;
	bool any = false;

	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		*res = -ENOMEM;
		return NULL;
	}
	k->length = ir->length;
	for (uint32_t o = 0; o < c->n_out; o++) {
		for (uint32_t i = 0; i < c->n_in; i++) {
			k->live[o][i] = ir->taps[o * c->n_in + i] != NULL;
			any |= k->live[o][i];
		}
	}
	if (!any) {
		*res = -EINVAL;
		goto error;
	}

	time = iem_fft_alloc(c->lv[c->n_levels - 1].size);
	if (time == NULL)
		goto nomem;

	for (uint32_t o = 0; o < c->n_out; o++) {
		k->acc[o] = iem_fft_alloc(c->lv[0].stride);
		k->overlap[o] = iem_fft_alloc(c->lv[0].block);
		if (k->acc[o] == NULL || k->overlap[o] == NULL)
			goto nomem;
	}

	for (uint32_t lvl = 0; lvl < c->n_levels; lvl++) {
		const struct level *l = &c->lv[lvl];
		const float scale = 1.0f / (float)l->size;
		uint32_t parts = 0;

		if (ir->length > l->offset)
			parts = (ir->length - l->offset + l->block - 1) / l->block;
		if (parts > l->parts)
			parts = l->parts;
		k->parts[lvl] = parts;
		if (parts == 0)
			continue;

		/* parts * stride * paths: at most 2^20 / 64 * 144 * 16 floats,
		 * far from overflowing size_t, computed in size_t throughout. */
		k->h[lvl] = iem_fft_alloc((size_t)c->n_out * c->n_in * parts * l->stride);
		if (k->h[lvl] == NULL)
			goto nomem;

		/* Each partition, zero-padded to the FFT size, with 1/N folded in. */
		for (uint32_t o = 0; o < c->n_out; o++) {
			for (uint32_t i = 0; i < c->n_in; i++) {
				const float *taps = ir->taps[o * c->n_in + i];
				if (taps == NULL)
					continue;
				for (uint32_t p = 0; p < parts; p++) {
					uint32_t first = l->offset + p * l->block;
					memset(time, 0, l->size * sizeof(float));
					for (uint32_t j = 0; j < l->block && first + j < ir->length; j++)
						time[j] = taps[first + j] * scale;
					iem_fft_forward(l->fft, time, (float *)h_slot(c, k, lvl, o, i, p));
				}
			}
		}

		const double n = l->size, bins = l->block + 1;
		k->flops += ((c->n_in + c->n_out) * 2.5 * n * log2(n) +
				8.0 * c->n_out * c->n_in * parts * bins) / l->block;
	}
	iem_fft_free_buffer(time);
	*res = 0;
	return k;

nomem:
	*res = -ENOMEM;
error:
	iem_fft_free_buffer(time);
	kernel_free(k);
	return NULL;
}

/* ---- tail jobs ---------------------------------------------------------- */

/* ring[at …] += g(t) * src over n frames, t from t0. */
static void ring_add(const struct iem_conv *c, const struct job *job, uint32_t slot,
		float *ring, uint32_t ring_len, const float *src, uint32_t n)
{
	uint32_t at = job->at;

	if (job->k[1] == NULL) {
		/* two straight runs, which the compiler vectorises */
		uint32_t first = ring_len - at < n ? ring_len - at : n;
		float *restrict r = ring + at;
		for (uint32_t j = 0; j < first; j++)
			r[j] += src[j];
		for (uint32_t j = first; j < n; j++)
			ring[j - first] += src[j];
		return;
	}
	for (uint32_t j = 0; j < n; j++) {
		ring[at] += xf_gain(c, job->xf_start, slot, job->t0 + j) * src[j];
		if (++at == ring_len)
			at = 0;
	}
}

/* Units of a job: n_in transforms, then for each kernel and output its
 * partitions' multiply-accumulates and one inverse transform. */
static uint32_t job_units(const struct iem_conv *c, const struct job *job, uint32_t lvl)
{
	uint32_t n = c->n_in * UNIT_FORWARD;

	for (uint32_t s = 0; s < 2; s++) {
		const struct kernel *k = job->k[s];
		if (k == NULL || k->parts[lvl] == 0)
			continue;
		for (uint32_t o = 0; o < c->n_out; o++) {
			for (uint32_t i = 0; i < c->n_in; i++)
				if (k->live[o][i])
					n += k->parts[lvl];
			n += UNIT_INVERSE;
		}
	}
	return n;
}

static void job_start(const struct iem_conv *c, struct job *job, uint32_t lvl)
{
	job->unit = 0;
	job->in_done = 0;
	job->n_units = job_units(c, job, lvl);
	job->i = job->s = job->o = job->p = 0;
	job->fresh = true;
}

/* Moves the cursor past kernels, paths and partitions with nothing to do;
 * false when the job is finished. */
static bool job_seek(const struct iem_conv *c, struct job *job, uint32_t lvl)
{
	while (job->s < 2) {
		const struct kernel *k = job->k[job->s];
		if (k == NULL || k->parts[lvl] == 0 || job->o >= c->n_out) {
			job->s++;
			job->o = job->i = job->p = 0;
			job->fresh = true;
			continue;
		}
		/* i == n_in: the inverse transform of output o */
		if (job->i < c->n_in && (!k->live[job->o][job->i] || job->p >= k->parts[lvl])) {
			job->i++;
			job->p = 0;
			continue;
		}
		return true;
	}
	return false;
}

/* The job of a level >= 1, up to `until` units: transform the completed
 * block into the FDL, then each kernel's output for [t0, t0 + 2B) into
 * the ring. Runs in the worker, or in the processing thread, never both
 * (see the state word). Whoever runs it, the arithmetic is the same. */
static void job_run(const struct iem_conv *c, struct level *l, uint32_t lvl, uint32_t until)
{
	struct job *job = &l->job;
	bool finished = false;

	/* A step runs when its midpoint is due: rounding to the nearest step
	 * keeps every call's share close to the average, where "start while
	 * behind" would pile the last transform onto one call. */
	while (job->unit < until) {
		if (job->in_done < c->n_in) {
			if (job->unit + UNIT_FORWARD / 2 > until)
				break;
			float *in = l->in[job->slot][job->in_done];
			iem_fft_forward(l->fft, in, fdl_slot(l, job->in_done, l->cur));
			memset(in, 0, l->block * sizeof(float));
			job->in_done++;
			job->unit += UNIT_FORWARD;
			continue;
		}
		if (!job_seek(c, job, lvl)) {
			finished = true;
			break;
		}
		const struct kernel *k = job->k[job->s];
		float *acc = l->acc[job->s][job->o];
		if (job->fresh) {
			memset(acc, 0, l->stride * sizeof(float));
			job->fresh = false;
		}
		if (job->i < c->n_in) {
			/* The path's partitions in runs of PATH_RUN, cut at the
			 * same places however the job is spread: the sum's
			 * rounding must not depend on which thread ran it or on
			 * the call sizes. */
			uint32_t m = k->parts[lvl] - job->p;
			if (m > PATH_RUN)
				m = PATH_RUN;
			if (job->unit + m / 2 > until)
				break;
			cmac_parts(c, l, k, lvl, acc, job->o, job->i, job->p, m);
			job->p += m;
			job->unit += m;
		} else {
			if (job->unit + UNIT_INVERSE / 2 > until)
				break;
			iem_fft_inverse(l->fft, acc, l->time);
			ring_add(c, job, job->s, l->ring[job->o], l->ring_len, l->time, l->size);
			job->o++;
			job->i = job->p = 0;
			job->fresh = true;
			job->unit += UNIT_INVERSE;
		}
	}
	/* all the cost spent: the cursor has nothing left either */
	if (!finished && job->unit >= job->n_units && job->in_done == c->n_in)
		finished = !job_seek(c, job, lvl);
	if (finished) {
		l->cur = (l->cur + l->parts - 1) % l->parts;
		job->active = false;
	}
}

static void run_job(const struct iem_conv *c, struct level *l, uint32_t lvl)
{
	job_run(c, l, lvl, UINT32_MAX);
}

/* Processing thread: make sure the level's job in flight is finished. */
static void settle(struct iem_conv *c, struct level *l, uint32_t lvl)
{
	uint32_t expect = JOB_PENDING;

	if (l->job.active) {
		/* a spread job: the rest of it, now */
		run_job(c, l, lvl);
		return;
	}
	if (atomic_load_explicit(&l->state, memory_order_acquire) == JOB_IDLE)
		return;
	if (atomic_compare_exchange_strong_explicit(&l->state, &expect, JOB_RUNNING,
				memory_order_acquire, memory_order_acquire)) {
		run_job(c, l, lvl);
		atomic_store_explicit(&l->state, JOB_IDLE, memory_order_release);
		atomic_fetch_add_explicit(&c->n_inline, 1, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&c->n_late, 1, memory_order_relaxed);
	while (atomic_load_explicit(&l->state, memory_order_acquire) != JOB_IDLE)
		cpu_relax();
}

static void worker_account(struct iem_conv *c)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
		atomic_store_explicit(&c->worker_ns,
				(uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec,
				memory_order_relaxed);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool any_pending(struct iem_conv *c)
{
	for (uint32_t lvl = 1; lvl < c->n_levels; lvl++)
		if (atomic_load(&c->lv[lvl].state) == JOB_PENDING)
			return true;
	return atomic_load(&c->retired) != NULL;
}

/* When the worker should look for its next job, 0 for "when woken".
 * While audio flows, hand-offs come at a steady pace (one per block of
 * the level), so the worker wakes itself a little after the next one is
 * due and the processing thread makes no system call to wake it. When
 * the pace is not known yet, or the hand-offs stop (no audio, or a long
 * pause), it sleeps until the processing thread wakes it. */
static uint64_t next_wake(struct iem_conv *c)
{
	const uint64_t now = mono_ns();
	uint64_t next = 0;

	for (uint32_t lvl = 1; lvl < c->n_levels; lvl++) {
		struct level *l = &c->lv[lvl];
		uint64_t posted = atomic_load_explicit(&l->posted_ns, memory_order_relaxed), at;

		if (l->spread || posted == 0)
			continue;
		if (posted != l->seen_ns) {
			l->period_ns = l->seen_ns != 0 && posted > l->seen_ns ? posted - l->seen_ns : 0;
			l->seen_ns = posted;
		}
		if (l->period_ns == 0 || now > posted + 2 * l->period_ns)
			continue;
		/* a little late rather than early: the hand-off comes at the
		 * end of a call, and looking too early costs a second wake-up */
		at = posted + l->period_ns + l->period_ns / 32;
		if (at <= now)
			at = now + l->period_ns / 32;
		if (next == 0 || at < next)
			next = at;
	}
	return next;
}

static void worker_wait(struct iem_conv *c, uint64_t until)
{
	if (until != 0) {
		struct timespec ts = {
			.tv_sec = (time_t)(until / 1000000000u),
			.tv_nsec = (long)(until % 1000000000u),
		};
		while (sem_clockwait(&c->wake, CLOCK_MONOTONIC, &ts) < 0 && errno == EINTR)
			;
		return;
	}
	/* Announce the untimed sleep, then look once more: the processing
	 * thread posts its job and then reads `asleep`, so one of the two
	 * sees the other (both sequentially consistent). */
	atomic_store(&c->asleep, true);
	if (!any_pending(c) && !atomic_load(&c->quit))
		while (sem_wait(&c->wake) < 0 && errno == EINTR)
			;
	atomic_store(&c->asleep, false);
}

/* Processing thread: the worker needs waking only from an untimed sleep. */
static inline void worker_kick(struct iem_conv *c)
{
	if (atomic_load(&c->asleep))
		sem_post(&c->wake);
}

static void *worker_main(void *data)
{
	struct iem_conv *c = data;
	sigset_t all;
	uint64_t until = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	(void)fpenv_enter();

	while (true) {
		worker_wait(c, until);
		if (atomic_load_explicit(&c->quit, memory_order_acquire))
			break;
		bool again;
		do {
			again = false;
			for (uint32_t lvl = 1; lvl < c->n_levels; lvl++) {
				struct level *l = &c->lv[lvl];
				uint32_t expect = JOB_PENDING;
				if (!atomic_compare_exchange_strong_explicit(&l->state, &expect,
							JOB_RUNNING, memory_order_acquire,
							memory_order_relaxed))
					continue;
				run_job(c, l, lvl);
				atomic_store_explicit(&l->state, JOB_IDLE, memory_order_release);
				atomic_fetch_add_explicit(&c->n_async, 1, memory_order_relaxed);
				again = true;
			}
		} while (again);
		kernel_free(atomic_exchange(&c->retired, NULL));
		worker_account(c);
		until = next_wake(c);
	}
	return NULL;
}

/* ---- life cycle --------------------------------------------------------- */

struct iem_conv *iem_conv_free(struct iem_conv *c)
{
	if (c == NULL)
		return NULL;
	if (c->have_worker) {
		atomic_store_explicit(&c->quit, true, memory_order_release);
		sem_post(&c->wake);
		pthread_join(c->worker, NULL);
	}
	sem_destroy(&c->wake);
	kernel_free(c->k[0]);
	kernel_free(c->k[1]);
	kernel_free(atomic_exchange(&c->pending, NULL));
	kernel_free(atomic_exchange(&c->retired, NULL));
	for (uint32_t k = 0; k < c->n_levels; k++) {
		struct level *l = &c->lv[k];
		for (uint32_t i = 0; i < IEM_CONV_MAX_INPUTS; i++) {
			iem_fft_free_buffer(l->in[0][i]);
			iem_fft_free_buffer(l->in[1][i]);
			iem_fft_free_buffer(l->fdl[i]);
		}
		for (uint32_t o = 0; o < IEM_CONV_MAX_OUTPUTS; o++) {
			iem_fft_free_buffer(l->ring[o]);
			iem_fft_free_buffer(l->acc[0][o]);
			iem_fft_free_buffer(l->acc[1][o]);
		}
		iem_fft_free_buffer(l->spec);
		iem_fft_free_buffer(l->time);
		iem_fft_free(l->fft);
	}
	iem_fft_free_buffer(c->xf_tab);
	free(c);
	return NULL;
}

static int setup_level(struct iem_conv *c, struct level *l, bool head)
{
	l->fft = iem_fft_new(l->size);
	if (l->fft == NULL)
		return -errno;
	l->spec = iem_fft_alloc(l->stride);
	l->time = iem_fft_alloc(l->size);
	if (l->spec == NULL || l->time == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->n_in; i++) {
		for (uint32_t s = 0; s < (head ? 1u : 2u); s++)
			if ((l->in[s][i] = iem_fft_alloc(l->size)) == NULL)
				return -ENOMEM;
		l->fdl[i] = iem_fft_alloc((size_t)l->parts * l->stride);
		if (l->fdl[i] == NULL)
			return -ENOMEM;
	}
	if (!head) {
		l->ring_len = l->offset + l->block;
		for (uint32_t o = 0; o < c->n_out; o++) {
			l->ring[o] = iem_fft_alloc(l->ring_len);
			l->acc[0][o] = iem_fft_alloc(l->stride);
			l->acc[1][o] = iem_fft_alloc(l->stride);
			if (!l->ring[o] || !l->acc[0][o] || !l->acc[1][o])
				return -ENOMEM;
		}
	}
	return 0;
}

struct iem_conv *iem_conv_new(const struct iem_ir *ir, const struct iem_conv_config *config)
{
	static const struct iem_conv_config defaults;
	const struct iem_conv_config *cfg = config ? config : &defaults;
	struct iem_conv *c;
	int r;

	if ((r = check_ir(ir)) < 0) {
		errno = -r;
		return NULL;
	}
	if (cfg->max_length > IEM_CONV_MAX_TAPS || cfg->xfade_frames > IEM_CONV_MAX_XFADE) {
		errno = E2BIG;
		return NULL;
	}

	pthread_once(&cmac_once, cmac_choose);
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->n_in = ir->n_inputs;
	c->n_out = ir->n_outputs;
	c->capacity = ir->length > cfg->max_length ? ir->length : cfg->max_length;
	c->flags = cfg->flags;
	c->n_levels = plan_levels(c->capacity, c->lv);
	c->lookahead = 3 * c->lv[c->n_levels - 1].block;
	c->xf_len = cfg->xfade_frames ? cfg->xfade_frames : IEM_CONV_XFADE_DEFAULT;
	if (sem_init(&c->wake, 0, 0) < 0) {
		free(c);
		return NULL;
	}

	c->xf_tab = iem_fft_alloc(c->xf_len + 1);
	if (c->xf_tab == NULL) {
		r = -ENOMEM;
		goto error;
	}
	for (uint32_t u = 0; u <= c->xf_len; u++)
		/* equal power (sin^2 + cos^2 = 1) along a raised-cosine path,
		 * so both gains start and end with zero slope: no corner in
		 * the level at either end of the exchange */
		c->xf_tab[u] = (float)sin(M_PI_2 * 0.5 * (1.0 - cos(M_PI * u / c->xf_len)));

	for (uint32_t k = 0; k < c->n_levels; k++)
		if ((r = setup_level(c, &c->lv[k], k == 0)) < 0)
			goto error;
	if ((c->k[0] = kernel_new(c, ir, &r)) == NULL)
		goto error;
	c->flops = c->k[0]->flops;
	iem_conv_reset(c);

	/* A worker only helps where there are tail levels and a second CPU. */
	if (!(c->flags & IEM_CONV_SYNC) && c->n_levels > 1 && get_nprocs() > 1) {
		if ((r = -pthread_create(&c->worker, NULL, worker_main, c)) < 0)
			goto error;
		c->have_worker = true;
	}
	/* Level 1's job (two 1024-point transforms per channel and 14
	 * partitions) is small: spread over the calls of its block it costs
	 * less than waking a thread. Longer levels go to the worker, whose
	 * 8192-point transforms would not spread evenly; without a worker
	 * they are spread too. */
	for (uint32_t k = 1; k < c->n_levels; k++)
		c->lv[k].spread = !c->have_worker ||
			(k == 1 && !(c->flags & IEM_CONV_WORKER_ALL));
	return c;

error:
	iem_conv_free(c);
	errno = -r;
	return NULL;
}

int iem_conv_set_ir(struct iem_conv *c, const struct iem_ir *ir)
{
	struct kernel *k;
	int r;

	if ((r = check_ir(ir)) < 0)
		return r;
	if (ir->n_inputs != c->n_in || ir->n_outputs != c->n_out)
		return -EINVAL;
	if (ir->length > c->capacity)
		return -E2BIG;
	/* Whatever the processing side has finished with goes first. */
	kernel_free(atomic_exchange(&c->retired, NULL));
	if ((k = kernel_new(c, ir, &r)) == NULL)
		return r;
	c->flops = k->flops;
	/* A set not yet taken is replaced: only the newest one matters. */
	kernel_free(atomic_exchange(&c->pending, k));
	return 0;
}

static void settle_all(struct iem_conv *c)
{
	for (uint32_t k = 1; k < c->n_levels; k++)
		settle(c, &c->lv[k], k);
}

void iem_conv_reset(struct iem_conv *c)
{
	settle_all(c);
	/* An exchange in progress completes at once. */
	if (c->k[1] != NULL && atomic_load(&c->retired) == NULL) {
		atomic_store(&c->retired, c->k[0]);
		c->k[0] = c->k[1];
		c->k[1] = NULL;
		atomic_fetch_add_explicit(&c->n_exchanges, 1, memory_order_relaxed);
	}
	c->now = 0;
	for (uint32_t s = 0; s < 2; s++) {
		struct kernel *k = c->k[s];
		if (k == NULL)
			continue;
		for (uint32_t o = 0; o < c->n_out; o++)
			memset(k->overlap[o], 0, c->lv[0].block * sizeof(float));
	}
	for (uint32_t k = 0; k < c->n_levels; k++) {
		struct level *l = &c->lv[k];
		l->fill = 0;
		l->cur = 0;
		l->wslot = 0;
		l->ring_pos = 0;
		for (uint32_t i = 0; i < c->n_in; i++) {
			for (uint32_t s = 0; s < 2; s++)
				if (l->in[s][i])
					memset(l->in[s][i], 0, l->size * sizeof(float));
			memset(l->fdl[i], 0, (size_t)l->parts * l->stride * sizeof(float));
		}
		for (uint32_t o = 0; o < c->n_out; o++)
			if (l->ring[o])
				memset(l->ring[o], 0, l->ring_len * sizeof(float));
	}
}

/* ---- processing --------------------------------------------------------- */

/* Level 0 for frames [fill, fill + m) of its block, for each kernel;
 * writes (not adds) the outputs. A kernel joins at a block boundary
 * (exchange_step), so both kernels always have their block's state. */
static void head_segment(struct iem_conv *c, float *const *out, uint32_t pos, uint32_t m)
{
	struct level *l = &c->lv[0];
	const uint32_t fill = l->fill;

	for (uint32_t i = 0; i < c->n_in; i++)
		iem_fft_forward(l->fft, l->in[0][i], fdl_slot(l, i, l->cur));

	for (uint32_t s = 0; s < 2; s++) {
		struct kernel *k = c->k[s];
		if (k == NULL)
			continue;

		for (uint32_t o = 0; o < c->n_out; o++) {
			float *y = out[o] + pos;

			if (fill == 0) {
				/* A new block: the older partitions' share is fixed for it. */
				memset(k->acc[o], 0, l->stride * sizeof(float));
				for (uint32_t i = 0; i < c->n_in; i++)
					if (k->live[o][i] && k->parts[0] > 1)
						cmac_parts(c, l, k, 0, k->acc[o], o, i, 1, k->parts[0] - 1);
			}
			memcpy(l->spec, k->acc[o], l->stride * sizeof(float));
			for (uint32_t i = 0; i < c->n_in; i++)
				if (k->live[o][i])
					cmac_run(l->spec, fdl_slot(l, i, l->cur), h_slot(c, k, 0, o, i, 0),
							1, l->stride);
			iem_fft_inverse(l->fft, l->spec, l->time);

			const float *t = l->time + fill, *ov = k->overlap[o] + fill;
			if (c->k[1] == NULL) {
				for (uint32_t j = 0; j < m; j++)
					y[j] = t[j] + ov[j];
			} else {
				for (uint32_t j = 0; j < m; j++) {
					float v = xf_gain(c, c->xf_start, s, c->now + j) * (t[j] + ov[j]);
					y[j] = s == 0 ? v : y[j] + v;
				}
			}
			if (fill + m == l->block)
				memcpy(k->overlap[o], l->time + l->block, l->block * sizeof(float));
		}
	}
	l->fill += m;
	if (l->fill == l->block) {
		l->fill = 0;
		l->cur = (l->cur + l->parts - 1) % l->parts;
		for (uint32_t i = 0; i < c->n_in; i++)
			memset(l->in[0][i], 0, l->block * sizeof(float));
	}
}

/* At a level-0 block boundary: start a pending exchange, or finish one. */
static void exchange_step(struct iem_conv *c)
{
	if (c->k[1] == NULL) {
		struct kernel *k;
		if (atomic_load_explicit(&c->pending, memory_order_relaxed) == NULL ||
		    atomic_load_explicit(&c->retired, memory_order_relaxed) != NULL)
			return;
		k = atomic_exchange_explicit(&c->pending, NULL, memory_order_acquire);
		if (k == NULL)
			return;
		for (uint32_t o = 0; o < c->n_out; o++)
			memset(k->overlap[o], 0, c->lv[0].block * sizeof(float));
		c->k[1] = k;
		/* Every level writes at most `lookahead` frames ahead; from
		 * here on every frame has both kernels in full. */
		c->xf_start = c->now + c->lookahead;
		atomic_store_explicit(&c->last_xf_start, c->xf_start, memory_order_relaxed);
		return;
	}
	/* Jobs posted from xf_start + xf_len - B on no longer use the old
	 * kernel, and all earlier ones are past their deadline by now. */
	if (c->now >= c->xf_start + c->xf_len + c->lookahead) {
		atomic_store_explicit(&c->retired, c->k[0], memory_order_release);
		c->k[0] = c->k[1];
		c->k[1] = NULL;
		atomic_fetch_add_explicit(&c->n_exchanges, 1, memory_order_relaxed);
		if (c->have_worker)
			worker_kick(c);
	}
}

/* A tail level's block completed at frame `now`; `left`: frames still to
 * come in this call after it. */
static void post_job(struct iem_conv *c, struct level *l, uint32_t lvl, uint32_t left)
{
	struct job *job = &l->job;
	/* The previous job's deadline is now; there is one job slot. */
	settle(c, l, lvl);

	job->t0 = c->now + l->block;
	job->at = (l->ring_pos + l->block) % l->ring_len;
	job->slot = l->wslot;
	job->xf_start = c->xf_start;
	job->k[0] = c->k[0];
	job->k[1] = c->k[1];
	if (job->k[1] != NULL && job->t0 >= c->xf_start + c->xf_len) {
		/* All of this job's frames are past the fade: new kernel only. */
		job->k[0] = job->k[1];
		job->k[1] = NULL;
	}
	l->wslot ^= 1;
	l->fill = 0;
	job_start(c, job, lvl);

	if (left >= l->block) {
		/* Due within this call: now. */
		run_job(c, l, lvl);
		atomic_fetch_add_explicit(&c->n_inline, 1, memory_order_relaxed);
		return;
	}
	if (l->spread) {
		/* A few units with every call until the deadline. */
		job->posted = c->now;
		job->active = true;
		atomic_fetch_add_explicit(&c->n_spread, 1, memory_order_relaxed);
		return;
	}
	atomic_store_explicit(&l->posted_ns, mono_ns(), memory_order_relaxed);
	atomic_store(&l->state, JOB_PENDING);
	worker_kick(c);
}

void iem_conv_process(struct iem_conv *c, const float *const *in, float *const *out, uint32_t n)
{
	uint32_t pos = 0;

	while (pos < n) {
		struct level *head = &c->lv[0];
		uint32_t m = head->block - head->fill;
		if (m > n - pos)
			m = n - pos;

		if (head->fill == 0)
			exchange_step(c);

		/* Take the input first: out may be the same buffer as in. */
		for (uint32_t k = 0; k < c->n_levels; k++) {
			struct level *l = &c->lv[k];
			float *const *dst = k == 0 ? l->in[0] : l->in[l->wslot];
			for (uint32_t i = 0; i < c->n_in; i++)
				memcpy(dst[i] + l->fill, in[i] + pos, m * sizeof(float));
		}

		head_segment(c, out, pos, m);

		for (uint32_t k = 1; k < c->n_levels; k++) {
			struct level *l = &c->lv[k];
			/* m <= 64 < ring_len: at most one wrap, two straight runs */
			uint32_t first = l->ring_len - l->ring_pos < m ? l->ring_len - l->ring_pos : m;
			for (uint32_t o = 0; o < c->n_out; o++) {
				float *restrict y = out[o] + pos;
				float *restrict r = l->ring[o] + l->ring_pos;
				for (uint32_t j = 0; j < first; j++)
					y[j] += r[j];
				memset(r, 0, first * sizeof(float));
				r = l->ring[o];
				for (uint32_t j = first; j < m; j++)
					y[j] += r[j - first];
				memset(r, 0, (m - first) * sizeof(float));
			}
			l->ring_pos = (l->ring_pos + m) % l->ring_len;
		}
		c->now += m;
		pos += m;

		for (uint32_t k = 1; k < c->n_levels; k++) {
			struct level *l = &c->lv[k];
			if (l->job.active) {
				/* on schedule: the share of the block gone by */
				uint64_t since = c->now - l->job.posted;
				job_run(c, l, k, (uint32_t)((uint64_t)l->job.n_units * since / l->block));
			}
			l->fill += m;
			if (l->fill == l->block)
				post_job(c, l, k, n - pos);
		}
	}
}

void iem_conv_get_info(const struct iem_conv *c, struct iem_conv_info *info)
{
	memset(info, 0, sizeof(*info));
	info->n_levels = c->n_levels;
	for (uint32_t k = 0; k < c->n_levels; k++) {
		info->block[k] = c->lv[k].block;
		info->offset[k] = c->lv[k].offset;
		info->partitions[k] = c->lv[k].parts;
	}
	info->flops_per_sample = c->flops;
	info->threaded = c->have_worker;
}

void iem_conv_get_stats(const struct iem_conv *c, struct iem_conv_stats *s)
{
	struct iem_conv *m = (struct iem_conv *)c;

	memset(s, 0, sizeof(*s));
	s->jobs_async = atomic_load_explicit(&m->n_async, memory_order_relaxed);
	s->jobs_inline = atomic_load_explicit(&m->n_inline, memory_order_relaxed);
	s->jobs_spread = atomic_load_explicit(&m->n_spread, memory_order_relaxed);
	s->late = atomic_load_explicit(&m->n_late, memory_order_relaxed);
	s->exchanges = atomic_load_explicit(&m->n_exchanges, memory_order_relaxed);
	s->worker_ns = atomic_load_explicit(&m->worker_ns, memory_order_relaxed);
	s->xfade_start = atomic_load_explicit(&m->last_xf_start, memory_order_relaxed);
}
