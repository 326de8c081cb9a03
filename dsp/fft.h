/* SPDX-License-Identifier: MIT */
/*
 * Internal: real FFTs (fft.c is the only file that includes <fftw3.h>).
 * Spectra are interleaved (re, im) floats, n/2 + 1 bins; transforms are
 * unnormalised: inverse(forward(x)) = n x.
 */
#ifndef IEM_FFT_H
#define IEM_FFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct iem_fft;

/* RT-safe: no. n a power of two. Plans (wisdom first) and keeps the plans. */
struct iem_fft *iem_fft_new(uint32_t n);
/* RT-safe: no. Accepts NULL; returns NULL. */
struct iem_fft *iem_fft_free(struct iem_fft *fft);
uint32_t iem_fft_size(const struct iem_fft *fft);
/* RT-safe: yes. in: n floats; out: n + 2 floats. Buffers from iem_fft_alloc. */
void iem_fft_forward(const struct iem_fft *fft, float *in, float *out);
/* RT-safe: yes. in (n + 2 floats) is destroyed; out: n floats. */
void iem_fft_inverse(const struct iem_fft *fft, float *in, float *out);
/* RT-safe: no. SIMD-aligned, zeroed; NULL on failure. */
float *iem_fft_alloc(size_t n);
/* RT-safe: no. Accepts NULL. */
void iem_fft_free_buffer(float *p);

#endif
