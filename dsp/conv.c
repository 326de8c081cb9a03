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
 * A level of block B starting at tap 2B has a whole block of slack between
 * the moment its input block is complete and the moment its first output
 * is due: that is what allows its work to be moved off the spike path.
 * (For now it is done when the block completes.) Every level is
 * overlap-add with a frequency-domain delay line per input: the input
 * spectrum is computed once per input and shared by all outputs, and each
 * output sums its paths in the frequency domain before one inverse
 * transform.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fft.h"
#include "iem-dsp.h"

#define HEAD_BLOCK	64u

struct level {
	uint32_t block;		/* B */
	uint32_t size;		/* FFT size, 2B */
	uint32_t stride;	/* floats per spectrum, padded for SIMD alignment */
	uint32_t offset;	/* first tap */
	uint32_t parts;		/* P */
	uint32_t fill;		/* frames of the current block so far */
	uint32_t cur;		/* newest slot of the delay lines */
	uint32_t ring_len;	/* levels >= 1: output ring */
	uint32_t ring_pos;
	struct iem_fft *fft;
	float *in[IEM_CONV_MAX_INPUTS];		/* size: block so far, then zeros */
	float *fdl[IEM_CONV_MAX_INPUTS];	/* parts x stride */
	float *h;				/* [out][in][part] x stride */
	float *acc[IEM_CONV_MAX_OUTPUTS];	/* level 0: older partitions' sum */
	float *overlap[IEM_CONV_MAX_OUTPUTS];	/* level 0: second half of the last block */
	float *ring[IEM_CONV_MAX_OUTPUTS];	/* levels >= 1 */
};

struct iem_conv {
	uint32_t n_in, n_out, length;
	uint32_t n_levels;
	struct level lv[IEM_CONV_MAX_LEVELS];
	float *spec;		/* scratch spectrum, largest stride */
	float *time;		/* scratch time signal, largest size */
	double flops;
};

/* Where the CPU has AVX2 and FMA (x86-64-v3), GCC builds a second copy of
 * the multiply-accumulate and picks one when the library loads. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define IEM_HOT __attribute__((target_clones("default", "arch=x86-64-v3"), optimize("tree-vectorize")))
#endif
#endif
#ifndef IEM_HOT
#define IEM_HOT
#endif

/* acc += x * h over bins complex values, interleaved (re, im). */
IEM_HOT static void cmac(float *restrict acc, const float *restrict x, const float *restrict h, uint32_t bins)
{
	for (uint32_t k = 0; k < 2 * bins; k += 2) {
		float xr = x[k], xi = x[k + 1], hr = h[k], hi = h[k + 1];
		acc[k] += xr * hr - xi * hi;
		acc[k + 1] += xr * hi + xi * hr;
	}
}

static inline float *fdl_slot(const struct level *l, uint32_t i, uint32_t slot)
{
	return l->fdl[i] + (size_t)slot * l->stride;
}

static inline const float *h_slot(const struct iem_conv *c, const struct level *l,
		uint32_t o, uint32_t i, uint32_t p)
{
	return l->h + (((size_t)o * c->n_in + i) * l->parts + p) * l->stride;
}

/* The levels for a response of `length` taps. */
static uint32_t plan_levels(uint32_t length, struct level lv[IEM_CONV_MAX_LEVELS])
{
	static const uint32_t blocks[] = { HEAD_BLOCK, 512, 4096 };
	uint32_t n = 0, start = 0;

	for (uint32_t k = 0; k < 3 && start < length; k++) {
		/* level k ends where level k + 1 may start: at twice its block */
		uint32_t end = k + 1 < 3 ? 2 * blocks[k + 1] : length;
		if (end > length || k + 1 == 3)
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

struct iem_conv *iem_conv_free(struct iem_conv *c)
{
	if (c == NULL)
		return NULL;
	for (uint32_t k = 0; k < c->n_levels; k++) {
		struct level *l = &c->lv[k];
		for (uint32_t i = 0; i < IEM_CONV_MAX_INPUTS; i++) {
			iem_fft_free_buffer(l->in[i]);
			iem_fft_free_buffer(l->fdl[i]);
		}
		for (uint32_t o = 0; o < IEM_CONV_MAX_OUTPUTS; o++) {
			iem_fft_free_buffer(l->acc[o]);
			iem_fft_free_buffer(l->overlap[o]);
			iem_fft_free_buffer(l->ring[o]);
		}
		iem_fft_free_buffer(l->h);
		iem_fft_free(l->fft);
	}
	iem_fft_free_buffer(c->spec);
	iem_fft_free_buffer(c->time);
	free(c);
	return NULL;
}

static int setup_level(struct iem_conv *c, struct level *l, bool head, const struct iem_ir *ir)
{
	const uint32_t n_paths = c->n_in * c->n_out;
	const float scale = 1.0f / (float)l->size;

	/* parts * stride * paths: at most 2^20 / 64 * 144 * 16 floats, far
	 * from overflowing size_t, but computed in size_t throughout. */
	l->fft = iem_fft_new(l->size);
	if (l->fft == NULL)
		return -errno;
	for (uint32_t i = 0; i < c->n_in; i++) {
		l->in[i] = iem_fft_alloc(l->size);
		l->fdl[i] = iem_fft_alloc((size_t)l->parts * l->stride);
		if (!l->in[i] || !l->fdl[i])
			return -ENOMEM;
	}
	for (uint32_t o = 0; o < c->n_out; o++) {
		if (head) {
			l->acc[o] = iem_fft_alloc(l->stride);
			l->overlap[o] = iem_fft_alloc(l->block);
			if (!l->acc[o] || !l->overlap[o])
				return -ENOMEM;
		} else {
			l->ring_len = l->offset + l->block;
			l->ring[o] = iem_fft_alloc(l->ring_len);
			if (!l->ring[o])
				return -ENOMEM;
		}
	}
	l->h = iem_fft_alloc((size_t)n_paths * l->parts * l->stride);
	if (l->h == NULL)
		return -ENOMEM;

	/* Each partition, zero-padded to the FFT size, with 1/N folded in. */
	for (uint32_t o = 0; o < c->n_out; o++) {
		for (uint32_t i = 0; i < c->n_in; i++) {
			const float *taps = ir->taps[o * c->n_in + i];
			for (uint32_t p = 0; p < l->parts; p++) {
				uint32_t first = l->offset + p * l->block;
				memset(c->time, 0, l->size * sizeof(float));
				for (uint32_t j = 0; j < l->block && first + j < ir->length; j++)
					c->time[j] = taps[first + j] * scale;
				iem_fft_forward(l->fft, c->time, (float *)h_slot(c, l, o, i, p));
			}
		}
	}

	const double n = l->size, bins = l->block + 1;
	c->flops += ((c->n_in + c->n_out) * 2.5 * n * log2(n) + 8.0 * n_paths * l->parts * bins) / l->block;
	return 0;
}

struct iem_conv *iem_conv_new(const struct iem_ir *ir)
{
	struct iem_conv *c;
	int r;

	if (ir == NULL || ir->taps == NULL || ir->n_inputs == 0 || ir->n_outputs == 0 || ir->length == 0) {
		errno = EINVAL;
		return NULL;
	}
	if (ir->n_inputs > IEM_CONV_MAX_INPUTS || ir->n_outputs > IEM_CONV_MAX_OUTPUTS ||
	    ir->length > IEM_CONV_MAX_TAPS) {
		errno = E2BIG;
		return NULL;
	}
	for (uint32_t k = 0; k < ir->n_inputs * ir->n_outputs; k++) {
		if (ir->taps[k] == NULL) {
			errno = EINVAL;
			return NULL;
		}
	}

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->n_in = ir->n_inputs;
	c->n_out = ir->n_outputs;
	c->length = ir->length;
	c->n_levels = plan_levels(ir->length, c->lv);

	uint32_t max_size = 0, max_stride = 0;
	for (uint32_t k = 0; k < c->n_levels; k++) {
		if (c->lv[k].size > max_size)
			max_size = c->lv[k].size;
		if (c->lv[k].stride > max_stride)
			max_stride = c->lv[k].stride;
	}
	c->time = iem_fft_alloc(max_size);
	c->spec = iem_fft_alloc(max_stride);
	if (c->time == NULL || c->spec == NULL) {
		r = -ENOMEM;
		goto error;
	}
	for (uint32_t k = 0; k < c->n_levels; k++)
		if ((r = setup_level(c, &c->lv[k], k == 0, ir)) < 0)
			goto error;
	iem_conv_reset(c);
	return c;

error:
	iem_conv_free(c);
	errno = -r;
	return NULL;
}

void iem_conv_reset(struct iem_conv *c)
{
	for (uint32_t k = 0; k < c->n_levels; k++) {
		struct level *l = &c->lv[k];
		l->fill = 0;
		l->cur = 0;
		l->ring_pos = 0;
		for (uint32_t i = 0; i < c->n_in; i++) {
			memset(l->in[i], 0, l->size * sizeof(float));
			memset(l->fdl[i], 0, (size_t)l->parts * l->stride * sizeof(float));
		}
		for (uint32_t o = 0; o < c->n_out; o++) {
			if (l->overlap[o])
				memset(l->overlap[o], 0, l->block * sizeof(float));
			if (l->ring[o])
				memset(l->ring[o], 0, l->ring_len * sizeof(float));
		}
	}
}

/* Level 0 for frames [fill, fill + m) of its block; writes the outputs. */
static void head_segment(struct iem_conv *c, float *const *out, uint32_t pos, uint32_t m)
{
	struct level *l = &c->lv[0];
	const uint32_t bins = l->block + 1, fill = l->fill;

	for (uint32_t i = 0; i < c->n_in; i++)
		iem_fft_forward(l->fft, l->in[i], fdl_slot(l, i, l->cur));

	if (fill == 0) {
		/* A new block: the older partitions' share is fixed for it. */
		for (uint32_t o = 0; o < c->n_out; o++) {
			memset(l->acc[o], 0, l->stride * sizeof(float));
			for (uint32_t i = 0; i < c->n_in; i++)
				for (uint32_t p = 1; p < l->parts; p++)
					cmac(l->acc[o], fdl_slot(l, i, (l->cur + p) % l->parts),
							h_slot(c, l, o, i, p), bins);
		}
	}
	for (uint32_t o = 0; o < c->n_out; o++) {
		memcpy(c->spec, l->acc[o], l->stride * sizeof(float));
		for (uint32_t i = 0; i < c->n_in; i++)
			cmac(c->spec, fdl_slot(l, i, l->cur), h_slot(c, l, o, i, 0), bins);
		iem_fft_inverse(l->fft, c->spec, c->time);
		for (uint32_t j = 0; j < m; j++)
			out[o][pos + j] = c->time[fill + j] + l->overlap[o][fill + j];
		if (fill + m == l->block)
			memcpy(l->overlap[o], c->time + l->block, l->block * sizeof(float));
	}
	l->fill += m;
	if (l->fill == l->block) {
		l->fill = 0;
		l->cur = (l->cur + l->parts - 1) % l->parts;
		for (uint32_t i = 0; i < c->n_in; i++)
			memset(l->in[i], 0, l->block * sizeof(float));
	}
}

/* A level >= 1 whose input block just completed. */
static void tail_block(struct iem_conv *c, struct level *l)
{
	const uint32_t bins = l->block + 1;

	for (uint32_t i = 0; i < c->n_in; i++) {
		iem_fft_forward(l->fft, l->in[i], fdl_slot(l, i, l->cur));
		memset(l->in[i], 0, l->block * sizeof(float));
	}
	for (uint32_t o = 0; o < c->n_out; o++) {
		memset(c->spec, 0, l->stride * sizeof(float));
		for (uint32_t i = 0; i < c->n_in; i++)
			for (uint32_t p = 0; p < l->parts; p++)
				cmac(c->spec, fdl_slot(l, i, (l->cur + p) % l->parts), h_slot(c, l, o, i, p), bins);
		iem_fft_inverse(l->fft, c->spec, c->time);
		/* ring_pos is the next frame out; this block's result starts
		 * offset - block frames after it. */
		uint32_t at = (l->ring_pos + l->offset - l->block) % l->ring_len;
		float *ring = l->ring[o];
		for (uint32_t j = 0; j < l->size; j++) {
			ring[at] += c->time[j];
			if (++at == l->ring_len)
				at = 0;
		}
	}
	l->fill = 0;
	l->cur = (l->cur + l->parts - 1) % l->parts;
}

void iem_conv_process(struct iem_conv *c, const float *const *in, float *const *out, uint32_t n)
{
	uint32_t pos = 0;

	while (pos < n) {
		struct level *head = &c->lv[0];
		uint32_t m = head->block - head->fill;
		if (m > n - pos)
			m = n - pos;

		/* Take the input first: out may be the same buffer as in. */
		for (uint32_t k = 0; k < c->n_levels; k++) {
			struct level *l = &c->lv[k];
			for (uint32_t i = 0; i < c->n_in; i++)
				memcpy(l->in[i] + l->fill, in[i] + pos, m * sizeof(float));
		}

		head_segment(c, out, pos, m);

		for (uint32_t k = 1; k < c->n_levels; k++) {
			struct level *l = &c->lv[k];
			for (uint32_t o = 0; o < c->n_out; o++) {
				float *ring = l->ring[o];
				uint32_t at = l->ring_pos;
				for (uint32_t j = 0; j < m; j++) {
					out[o][pos + j] += ring[at];
					ring[at] = 0.0f;
					if (++at == l->ring_len)
						at = 0;
				}
			}
			l->ring_pos = (l->ring_pos + m) % l->ring_len;
			l->fill += m;
			if (l->fill == l->block)
				tail_block(c, l);
		}
		pos += m;
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
}
