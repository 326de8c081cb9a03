/* SPDX-License-Identifier: MIT */
/*
 * Internal: what hrtf.c (the interface, fractional delays, diffuse-field
 * equalisation), hrtf-model.c (Brown & Duda) and hrtf-sofa.c (libmysofa)
 * share. Nothing here is RT-safe.
 */
#ifndef IEM_HRTF_PRIVATE_H
#define IEM_HRTF_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iem-dsp.h"

#define HRTF_SPEED_OF_SOUND	343.0	/* m/s, as Brown & Duda */

/* Windowed-sinc fractional delay: 2 * HRTF_FD_HALF taps (Kaiser, beta
 * HRTF_FD_BETA). Flat to about 0.41 fs, so to 19.7 kHz at 48 kHz; an
 * integer delay is an exact unit impulse. */
#define HRTF_FD_HALF		16
#define HRTF_FD_BETA		8.0

/* Adds gain * x[k] to out at the fractional position k + shift, for every
 * k (a band-limited delay of x by `shift` samples); what falls outside
 * [0, out_n) is dropped. x may be NULL for a unit impulse (n must be 1). */
void hrtf_shift_add(float *out, uint32_t out_n, const float *x, uint32_t n,
		double shift, double gain);
/* The same into a double buffer, for a single impulse. */
void hrtf_impulse_add(double *out, uint32_t out_n, double pos, double gain);

/* Angle between two unit vectors, radians. */
double hrtf_angle(const double a[3], const double b[3]);
/* Unit vector of a SOFA direction (degrees): x front, y left, z up. */
void hrtf_direction(double azimuth_deg, double elevation_deg, double v[3]);

/* Diffuse-field equalisation of a set of HRIR pairs: trusted between
 * HRTF_DFEQ_F_LO and HRTF_DFEQ_F_HI x the lower of the file's and the
 * session's rate (hrtf.c says why). */
#define HRTF_DFEQ_F_LO		150.0
#define HRTF_DFEQ_F_HI		0.42
struct hrtf_dfeq {
	float *taps;		/* minimum-phase inverse filter, malloc()ed */
	uint32_t length;
	double peak_hz;		/* the raw average's largest deviation from 1 kHz … */
	double peak_before;	/* … dB, 200 Hz – 10 kHz, third octaves */
	double peak_after;	/* the equalised average in that band, dB re 1 kHz */
	double max_after;	/* the equalised average's largest |deviation| */
};

/* Designs the filter from `count` pairs of `n` taps at `rate` (pair i:
 * left at irs + 2 i stride, right at + stride), direction i weighted by
 * weight[i] (solid angle; they need not sum to 1). Measured content is
 * trusted between f_lo and f_hi; outside, the inverse holds the gain it has
 * at the edge. -ENOMEM, or -EINVAL for a set without energy. */
int hrtf_dfeq_design(const float *irs, uint32_t count, uint32_t n, size_t stride,
		const double *weight, uint32_t rate, double f_lo, double f_hi,
		struct hrtf_dfeq *eq);
void hrtf_dfeq_clear(struct hrtf_dfeq *eq);

/* ---- the Brown & Duda model (hrtf-model.c) ----------------------------- */

struct hrtf_model {
	uint32_t rate;
	double radius;		/* m */
	uint32_t length;	/* taps */
	uint32_t bulk;		/* taps before the earliest arrival (a source at an ear) */
	uint32_t kernel_half;	/* head-shadow kernel: taps either side of its centre */
};

int hrtf_model_init(struct hrtf_model *m, double radius, uint32_t rate);
int hrtf_model_get(const struct hrtf_model *m, double azimuth_deg, double elevation_deg,
		float *left, float *right);

/* ---- SOFA files (hrtf-sofa.c; stubs without libmysofa) ------------------- */

struct hrtf_sofa;

struct hrtf_sofa_info {
	uint32_t length;
	uint32_t file_rate;
	uint32_t directions;
	uint32_t file_taps;
	double radius;		/* m, of the measurements used */
	struct hrtf_dfeq eq;	/* taps NULL when not equalised */
};

/* NULL and errno (ENOENT, EINVAL for a bad file, E2BIG, ENOMEM, ENOTSUP
 * without libmysofa); err gets the reason. */
struct hrtf_sofa *hrtf_sofa_open(const char *path, uint32_t rate, bool interpolate,
		bool dfeq, struct hrtf_sofa_info *info, char *err, size_t err_size);
void hrtf_sofa_free(struct hrtf_sofa *s);
int hrtf_sofa_get(const struct hrtf_sofa *s, double azimuth_deg, double elevation_deg,
		float *left, float *right);

#endif
