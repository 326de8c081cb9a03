/* SPDX-License-Identifier: MIT */
/*
 * Measured HRTFs from SOFA files (AES69, SimpleFreeFieldHRIR) through
 * libmysofa's low-level API.
 *
 * Loading: the file (at most IEM_HRTF_MAX_FILE_SIZE bytes) is parsed by
 * mysofa_load() and checked by mysofa_check()
 * (conventions, dimensions, receivers at the ears), then by us: sizes
 * against our limits and against each other, a usable sampling rate,
 * finite samples, positions and delays. Every refusal says why.
 *
 * Levels: libmysofa's mysofa_open() would scale the whole set so that the
 * measurement with the smallest azimuth + elevation (for KEMAR the one at
 * 0 deg / -40 deg, not the frontal one) has an energy of 2, a reference
 * that depends on the grid and, after resampling, on the rate. We never
 * call mysofa_open() or mysofa_loudness(): without diffuse-field
 * equalisation the file's own levels are kept, sample for sample; with it
 * the equalisation sets the level (diffuse-field average at 0 dB), which
 * is the same for every file and rate.
 *
 * Rate: every IR is resampled to the session rate with iem_resample(); the
 * file's Data.Delay (samples at the file's rate, per SOFA; either one pair
 * or one per measurement) is scaled to the session rate and applied as a
 * fractional delay. Libmysofa's own resampler is not used either.
 *
 * Directions: libmysofa's k-d tree finds the nearest measurement. With
 * interpolation, its neighbour table adds the closer of the two azimuth
 * neighbours and the closer of the two elevation neighbours, weighted by
 * inverse angular distance as mysofa_interpolate() does. Unlike
 * mysofa_interpolate(), the IRs are time-aligned before they are summed
 * (relative delays by cross-correlation with the nearest one, within
 * +-0.5 ms) and the sum is placed at the weighted mean arrival time: plain
 * sums of IRs with different delays comb-filter, and their ITD would not
 * move smoothly between measurements. Sets measured at several distances
 * are used at the largest.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "hrtf-private.h"

#if IEM_HAVE_SOFA

#include <mysofa.h>

#include "fft.h"
#include "resample.h"

/* Fibonacci-lattice points that estimate each measurement's solid angle. */
#define AREA_POINTS		16384
/* Largest relative delay between neighbouring IRs searched for, in s. */
#define ALIGN_MAX		0.5e-3
/* Floats of all HRIRs at the session rate together. */
#define MAX_SET_FLOATS		(1u << 25)

struct hrtf_sofa {
	uint32_t rate;
	uint32_t m;		/* measurements */
	uint32_t n;		/* taps of each stored IR */
	uint32_t length;	/* taps handed out */
	uint32_t bulk;		/* taps of margin before delay 0 */
	uint32_t align;		/* +- lag searched when aligning, taps */
	bool interpolate;
	float radius;		/* where directions are looked up, m */
	float *irs;		/* [m][2][n] */
	double *delay;		/* [m][2], taps at the session rate */
	double *pos;		/* [m][3], unit vectors */
	struct MYSOFA_LOOKUP *lookup;
	struct MYSOFA_NEIGHBORHOOD *neighbours;
};

static const char *mysofa_error_text(int e)
{
	switch (e) {
	case MYSOFA_OK:
		return "no error";
	case MYSOFA_INTERNAL_ERROR:
		return "internal error in libmysofa";
	case MYSOFA_INVALID_FORMAT:
		return "not a valid SOFA (HDF5) file";
	case MYSOFA_UNSUPPORTED_FORMAT:
		return "uses an HDF5 feature libmysofa does not support";
	case MYSOFA_NO_MEMORY:
		return "out of memory";
	case MYSOFA_READ_ERROR:
		return "read error (truncated or damaged file)";
	case MYSOFA_INVALID_ATTRIBUTES:
		return "not SOFA SimpleFreeFieldHRIR: the Conventions, SOFAConventions, "
			"DataType (FIR) or RoomType attributes are missing or wrong";
	case MYSOFA_INVALID_DIMENSIONS:
		return "wrong dimensions (needs 2 receivers, 1 emitter, 3 coordinates)";
	case MYSOFA_INVALID_DIMENSION_LIST:
		return "a variable has the wrong dimension list";
	case MYSOFA_INVALID_COORDINATE_TYPE:
		return "unknown coordinate type";
	case MYSOFA_ONLY_EMITTER_WITH_ECI_SUPPORTED:
		return "only one emitter at the origin is supported";
	case MYSOFA_ONLY_DELAYS_WITH_IR_OR_MR_SUPPORTED:
		return "Data.Delay must be [I,R] or [M,R]";
	case MYSOFA_ONLY_THE_SAME_SAMPLING_RATE_SUPPORTED:
		return "only one sampling rate for all measurements is supported";
	case MYSOFA_RECEIVERS_WITH_RCI_SUPPORTED:
		return "ReceiverPosition must be [R,C,I]";
	case MYSOFA_RECEIVERS_WITH_CARTESIAN_SUPPORTED:
		return "ReceiverPosition must be cartesian";
	case MYSOFA_INVALID_RECEIVER_POSITIONS:
		return "the receivers are not the left and right ears";
	case MYSOFA_ONLY_SOURCES_WITH_MC_SUPPORTED:
		return "SourcePosition must be [M,C]";
	}
	if (e > 0 && e < MYSOFA_INVALID_FORMAT)
		return strerror(e);
	return "unknown libmysofa error";
}

/* libmysofa's codes as errno: memory is memory, the rest is a bad file. */
static int mysofa_errno(int e)
{
	if (e == MYSOFA_NO_MEMORY || e == ENOMEM)
		return ENOMEM;
	if (e > 0 && e < MYSOFA_INVALID_FORMAT)
		return e;
	return EINVAL;
}

static int fail(char *err, size_t err_size, int errnum, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int fail(char *err, size_t err_size, int errnum, const char *path, const char *fmt, ...)
{
	va_list ap;
	if (err && err_size) {
		int n = snprintf(err, err_size, "%s: ", path);
		if (n >= 0 && (size_t)n < err_size) {
			va_start(ap, fmt);
			vsnprintf(err + n, err_size - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -errnum;
}

void hrtf_sofa_free(struct hrtf_sofa *s)
{
	if (s == NULL)
		return;
	if (s->neighbours)
		mysofa_neighborhood_free(s->neighbours);
	if (s->lookup)
		mysofa_lookup_free(s->lookup);
	free(s->irs);
	free(s->delay);
	free(s->pos);
	free(s);
}

/* A regular, non-empty file of at most IEM_HRTF_MAX_FILE_SIZE bytes. */
static int check_file(const char *path, char *err, size_t err_size)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return fail(err, err_size, errno, path, "%s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(err, err_size, EINVAL, path, "not a regular file");
	if (st.st_size == 0)
		return fail(err, err_size, EINVAL, path, "empty file");
	if ((uint64_t)st.st_size > IEM_HRTF_MAX_FILE_SIZE)
		return fail(err, err_size, E2BIG, path, "%.0f MB, larger than the %u MB allowed",
				st.st_size / 1048576.0, IEM_HRTF_MAX_FILE_SIZE >> 20);
	return 0;
}

/* Checks what mysofa_check() does not: sizes, rate, finite values. */
static int validate(const struct MYSOFA_HRTF *hrtf, const char *path, char *err, size_t err_size)
{
	const uint64_t m = hrtf->M, n = hrtf->N, r = hrtf->R;

	if (r != 2)
		return fail(err, err_size, EINVAL, path, "%u receivers, 2 ears needed", hrtf->R);
	if (m == 0 || n == 0)
		return fail(err, err_size, EINVAL, path, "no measurements (M = %u, N = %u)",
				hrtf->M, hrtf->N);
	if (m > IEM_HRTF_MAX_DIRECTIONS)
		return fail(err, err_size, E2BIG, path, "%u measurements, more than the %u allowed",
				hrtf->M, IEM_HRTF_MAX_DIRECTIONS);
	if (n > IEM_HRTF_MAX_TAPS)
		return fail(err, err_size, E2BIG, path, "%u taps per IR, more than the %u allowed",
				hrtf->N, IEM_HRTF_MAX_TAPS);
	if (hrtf->DataIR.values == NULL || hrtf->DataIR.elements != m * r * n)
		return fail(err, err_size, EINVAL, path,
				"Data.IR holds %u values where M x R x N = %u x %u x %u",
				hrtf->DataIR.values ? hrtf->DataIR.elements : 0, hrtf->M, hrtf->R, hrtf->N);
	if (hrtf->SourcePosition.values == NULL || hrtf->SourcePosition.elements != m * 3)
		return fail(err, err_size, EINVAL, path, "SourcePosition is not M x 3 values");
	if (hrtf->DataSamplingRate.values == NULL || hrtf->DataSamplingRate.elements < 1)
		return fail(err, err_size, EINVAL, path, "no Data.SamplingRate");

	double fs = hrtf->DataSamplingRate.values[0];
	if (!isfinite(fs) || fs < IEM_MIN_RATE || fs > IEM_MAX_RATE || fabs(fs - round(fs)) > 1e-3)
		return fail(err, err_size, EINVAL, path,
				"sampling rate %g Hz is not a whole number in %u … %u Hz",
				fs, IEM_MIN_RATE, IEM_MAX_RATE);

	if (hrtf->DataDelay.values && hrtf->DataDelay.elements != 0 &&
	    hrtf->DataDelay.elements != r && hrtf->DataDelay.elements != m * r)
		return fail(err, err_size, EINVAL, path,
				"Data.Delay holds %u values, neither R nor M x R", hrtf->DataDelay.elements);
	for (uint32_t i = 0; hrtf->DataDelay.values && i < hrtf->DataDelay.elements; i++) {
		float d = hrtf->DataDelay.values[i];
		if (!isfinite(d) || d < 0.0f || d > (float)IEM_HRTF_MAX_TAPS)
			return fail(err, err_size, EINVAL, path,
					"Data.Delay value %g is not a delay of 0 … %u samples",
					d, IEM_HRTF_MAX_TAPS);
	}

	double peak = 0.0;
	for (uint64_t i = 0; i < m * r * n; i++) {
		float x = hrtf->DataIR.values[i];
		if (!isfinite(x))
			return fail(err, err_size, EINVAL, path,
					"Data.IR has a non-finite sample (measurement %u)",
					(unsigned)(i / (r * n)));
		peak = fmax(peak, fabs(x));
	}
	if (!(peak > 0.0))
		return fail(err, err_size, EINVAL, path, "every IR is silent");
	if (!(peak < 1e6))
		return fail(err, err_size, EINVAL, path, "IR samples of %g are not plausible", peak);
	return 0;
}

/* Solid angle of each measurement: the share of a Fibonacci lattice (equal
 * areas) that has it as nearest. Lattice points farther than the mean
 * spacing sqrt(4 pi / M) from every measurement lie outside the measured
 * region (KEMAR stops at -40 degrees) and count for nobody. */
static void area_weights(const struct hrtf_sofa *s, double *w)
{
	const double golden = M_PI * (3.0 - sqrt(5.0));
	const double reach = fmin(sqrt(4.0 * M_PI / s->m), M_PI);
	double total = 0.0;

	memset(w, 0, s->m * sizeof(double));
	for (uint32_t k = 0; k < AREA_POINTS; k++) {
		double z = 1.0 - (2.0 * k + 1.0) / AREA_POINTS, rho = sqrt(1.0 - z * z);
		double p[3] = { rho * cos(golden * k), rho * sin(golden * k), z };
		float c[3] = { (float)(p[0] * s->radius), (float)(p[1] * s->radius), (float)(p[2] * s->radius) };
		int i = mysofa_lookup(s->lookup, c);
		if (i < 0 || (uint32_t)i >= s->m)
			continue;
		if (hrtf_angle(p, s->pos + 3 * (size_t)i) <= reach) {
			w[i] += 1.0;
			total += 1.0;
		}
	}
	if (total == 0.0)
		for (uint32_t i = 0; i < s->m; i++)
			w[i] = 1.0;
}

/* Every IR (count of n taps) at the session rate: [count][*out_n]. One
 * iem_resample() call resamples many IRs laid end to end, each followed by
 * more zeros than the kernel reaches (IEM_RESAMPLE_REACH) and starting on a
 * frame that maps to a whole output frame, so each comes out exactly as it
 * would alone; it saves the per-call kernel set-up (some ms) 1420 times
 * for KEMAR. */
static float *resample_all(const float *in, uint32_t count, uint32_t n, uint32_t from, uint32_t to,
		uint32_t *out_n)
{
	const uint32_t q = from / iem_gcd(from, to), p = to / iem_gcd(from, to);
	const uint64_t reach = (uint64_t)IEM_RESAMPLE_REACH * from / (from < to ? from : to) + 1;
	const uint64_t stride_in = ((n + reach + (from + to - 1) / to + 2 + q - 1) / q) * q;
	const uint64_t stride_out = stride_in / q * p;
	const uint64_t len = ((uint64_t)n * to + from - 1) / from;
	uint64_t per_call = IEM_RESAMPLE_MAX_FRAMES / (stride_in > stride_out ? stride_in : stride_out);
	float *out, *buf;

	if (from == to)
		per_call = 1;
	if (per_call == 0 || len > IEM_HRTF_MAX_TAPS) {
		errno = E2BIG;
		return NULL;
	}
	if (per_call > count)
		per_call = count;
	out = malloc((size_t)count * len * sizeof(float));
	buf = calloc(from == to ? 1 : (size_t)(per_call * stride_in), sizeof(float));
	if (out == NULL || buf == NULL) {
		free(out);
		free(buf);
		errno = ENOMEM;
		return NULL;
	}
	for (uint32_t first = 0; first < count; first += (uint32_t)per_call) {
		uint32_t k = count - first < per_call ? count - first : (uint32_t)per_call, got;
		float *y;
		if (from == to) {
			y = iem_resample(in + (size_t)first * n, n, from, to, &got);
		} else {
			for (uint32_t i = 0; i < k; i++)
				memcpy(buf + i * stride_in, in + ((size_t)first + i) * n, n * sizeof(float));
			y = iem_resample(buf, (uint32_t)(k * stride_in), from, to, &got);
		}
		if (y == NULL) {
			free(out);
			free(buf);
			return NULL;
		}
		for (uint32_t i = 0; i < k; i++)
			memcpy(out + ((size_t)first + i) * len, y + i * stride_out, len * sizeof(float));
		free(y);
	}
	free(buf);
	*out_n = (uint32_t)len;
	return out;
}

/* Convolves every IR (n taps, stride n) with the equaliser; returns the new
 * set with stride n + eq->length - 1. */
static float *apply_eq(const float *irs, uint32_t count, uint32_t n, const struct hrtf_dfeq *eq)
{
	const uint32_t out_n = n + eq->length - 1;
	uint32_t size = 16;
	struct iem_fft *fft;
	float *t, *x, *e, *out;

	while (size < out_n)
		size <<= 1;
	fft = iem_fft_new(size);
	t = iem_fft_alloc(size);
	x = iem_fft_alloc(size + 2);
	e = iem_fft_alloc(size + 2);
	out = malloc((size_t)count * out_n * sizeof(float));
	if (!fft || !t || !x || !e || !out) {
		free(out);
		out = NULL;
		goto done;
	}
	memset(t, 0, size * sizeof(float));
	memcpy(t, eq->taps, eq->length * sizeof(float));
	iem_fft_forward(fft, t, e);
	for (uint32_t i = 0; i < count; i++) {
		memset(t, 0, size * sizeof(float));
		memcpy(t, irs + (size_t)i * n, n * sizeof(float));
		iem_fft_forward(fft, t, x);
		for (uint32_t k = 0; k <= size / 2; k++) {
			float xr = x[2 * k], xi = x[2 * k + 1], er = e[2 * k], ei = e[2 * k + 1];
			x[2 * k] = (xr * er - xi * ei) / (float)size;
			x[2 * k + 1] = (xr * ei + xi * er) / (float)size;
		}
		iem_fft_inverse(fft, x, t);
		memcpy(out + (size_t)i * out_n, t, out_n * sizeof(float));
	}
done:
	iem_fft_free(fft);
	iem_fft_free_buffer(t);
	iem_fft_free_buffer(x);
	iem_fft_free_buffer(e);
	return out;
}

struct hrtf_sofa *hrtf_sofa_open(const char *path, uint32_t rate, bool interpolate,
		bool dfeq, struct hrtf_sofa_info *info, char *err, size_t err_size)
{
	struct MYSOFA_HRTF *hrtf = NULL;
	struct hrtf_sofa *s = NULL;
	float *set = NULL;
	double *weight = NULL;
	uint32_t file_rate, n_res = 0;
	int e, res;

	memset(info, 0, sizeof(*info));
	res = check_file(path, err, err_size);
	if (res < 0)
		goto error;

	/* Not mysofa_load_data(): in libmysofa 1.3 its in-memory reader
	 * overruns the stack on truncated input, where reading the file
	 * reports an error. */
	hrtf = mysofa_load(path, &e);
	if (hrtf == NULL) {
		res = fail(err, err_size, mysofa_errno(e), path, "%s", mysofa_error_text(e));
		goto error;
	}
	e = mysofa_check(hrtf);
	if (e != MYSOFA_OK) {
		res = fail(err, err_size, mysofa_errno(e), path, "%s", mysofa_error_text(e));
		goto error;
	}
	res = validate(hrtf, path, err, err_size);
	if (res < 0)
		goto error;
	file_rate = (uint32_t)lround(hrtf->DataSamplingRate.values[0]);

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto nomem;
	s->rate = rate;
	s->m = hrtf->M;
	s->interpolate = interpolate;
	s->pos = malloc((size_t)s->m * 3 * sizeof(double));
	s->delay = malloc((size_t)s->m * 2 * sizeof(double));
	if (s->pos == NULL || s->delay == NULL)
		goto nomem;

	/* positions: cartesian for libmysofa's lookup, unit vectors for us */
	mysofa_tocartesian(hrtf);
	for (uint32_t i = 0; i < s->m; i++) {
		const float *c = hrtf->SourcePosition.values + 3 * (size_t)i;
		double r = sqrt((double)c[0] * c[0] + (double)c[1] * c[1] + (double)c[2] * c[2]);
		if (!isfinite(r) || !(r > 1e-6) || r > 1e6) {
			res = fail(err, err_size, EINVAL, path,
					"SourcePosition of measurement %u is not a direction", i);
			goto error;
		}
		for (int k = 0; k < 3; k++)
			s->pos[3 * i + k] = c[k] / r;
		s->radius = fmaxf(s->radius, (float)r);
	}
	s->lookup = mysofa_lookup_init(hrtf);
	if (s->lookup == NULL) {
		res = fail(err, err_size, EINVAL, path, "cannot index the source positions");
		goto error;
	}
	if (interpolate) {
		s->neighbours = mysofa_neighborhood_init_withstepdefine(hrtf, s->lookup,
				MYSOFA_DEFAULT_NEIGH_STEP_ANGLE, MYSOFA_DEFAULT_NEIGH_STEP_RADIUS);
		if (s->neighbours == NULL)
			goto nomem;
	}

	/* delays, in taps at the session rate */
	for (uint32_t i = 0; i < s->m; i++) {
		for (int ear = 0; ear < 2; ear++) {
			double d = 0.0;
			if (hrtf->DataDelay.values && hrtf->DataDelay.elements == 2)
				d = hrtf->DataDelay.values[ear];
			else if (hrtf->DataDelay.values && hrtf->DataDelay.elements == 2 * s->m)
				d = hrtf->DataDelay.values[2 * i + ear];
			s->delay[2 * i + ear] = d * rate / file_rate;
		}
	}

	/* every IR at the session rate */
	uint64_t taps = ((uint64_t)hrtf->N * rate + file_rate - 1) / file_rate;
	if (taps * 2 * s->m > MAX_SET_FLOATS || taps > IEM_HRTF_MAX_TAPS) {
		res = fail(err, err_size, E2BIG, path,
				"%u measurements of %llu taps at %u Hz are too large a set",
				s->m, (unsigned long long)taps, rate);
		goto error;
	}
	set = resample_all(hrtf->DataIR.values, 2 * s->m, hrtf->N, file_rate, rate, &n_res);
	if (set == NULL) {
		int errnum = errno ? errno : ENOMEM;
		res = fail(err, err_size, errnum, path, "cannot resample %u Hz to %u Hz: %s",
				file_rate, rate, strerror(errnum));
		goto error;
	}
	/* the k-d tree and the neighbour table keep copies of what they need */
	info->file_taps = hrtf->N;
	mysofa_free(hrtf);
	hrtf = NULL;
	s->n = n_res;

	if (dfeq) {
		weight = malloc(s->m * sizeof(double));
		if (weight == NULL)
			goto nomem;
		area_weights(s, weight);
		res = hrtf_dfeq_design(set, s->m, s->n, s->n, weight, rate, HRTF_DFEQ_F_LO,
				HRTF_DFEQ_F_HI * fmin(file_rate, rate), &info->eq);
		if (res < 0) {
			res = fail(err, err_size, -res, path, "diffuse-field equalisation failed: %s",
					strerror(-res));
			goto error;
		}
		float *eqd = apply_eq(set, 2 * s->m, s->n, &info->eq);
		if (eqd == NULL)
			goto nomem;
		free(set);
		set = eqd;
		s->n += info->eq.length - 1;
	}

	/* drop the common silent tail (below -100 dB of the set's peak) */
	float peak = 0.0f;
	for (size_t k = 0; k < (size_t)2 * s->m * s->n; k++)
		peak = fmaxf(peak, fabsf(set[k]));
	uint32_t used = 1;
	for (uint32_t j = 0; j < 2 * s->m; j++)
		for (uint32_t k = s->n; k > used; k--)
			if (fabsf(set[(size_t)j * s->n + k - 1]) > 1e-5f * peak) {
				used = k;
				break;
			}
	for (uint32_t j = 0; j < 2 * s->m; j++)
		memmove(set + (size_t)j * used, set + (size_t)j * s->n, used * sizeof(float));
	s->n = used;
	/* the trimmed set in a buffer of its size (or, short of memory, the
	 * first one kept as it is) */
	s->irs = malloc((size_t)2 * s->m * s->n * sizeof(float));
	if (s->irs != NULL) {
		memcpy(s->irs, set, (size_t)2 * s->m * s->n * sizeof(float));
		free(set);
	} else {
		s->irs = set;
	}
	set = NULL;

	/* the time frame every pair shares */
	double max_delay = 0.0;
	for (uint32_t j = 0; j < 2 * s->m; j++)
		max_delay = fmax(max_delay, s->delay[j]);
	s->align = interpolate ? (uint32_t)ceil(ALIGN_MAX * rate) : 0;
	s->bulk = HRTF_FD_HALF + 2 * s->align;
	uint64_t length = (uint64_t)s->bulk + (uint64_t)ceil(max_delay) + 2 * s->align +
		s->n + HRTF_FD_HALF;
	if (length > IEM_HRTF_MAX_TAPS) {
		res = fail(err, err_size, E2BIG, path, "HRIRs of %llu taps at %u Hz, more than the %u allowed",
				(unsigned long long)length, rate, IEM_HRTF_MAX_TAPS);
		goto error;
	}
	s->length = (uint32_t)length;

	info->length = s->length;
	info->file_rate = file_rate;
	info->directions = s->m;
	info->radius = s->radius;
	free(weight);
	return s;

nomem:
	res = fail(err, err_size, ENOMEM, path, "out of memory");
error:
	if (hrtf)
		mysofa_free(hrtf);
	hrtf_dfeq_clear(&info->eq);
	hrtf_sofa_free(s);
	free(set);
	free(weight);
	errno = -res;
	return NULL;
}

static inline const float *ir_at(const struct hrtf_sofa *s, uint32_t i, int ear)
{
	return s->irs + (2 * (size_t)i + ear) * s->n;
}

/* Lag (taps, fractional) of b against a: argmax over |k| <= max of
 * sum a[t] b[t + k], refined with a parabola through the peak. */
static double relative_lag(const float *a, const float *b, uint32_t n, uint32_t max)
{
	double best = -INFINITY, r[3] = { 0 };
	int best_k = 0;

	for (int k = -(int)max; k <= (int)max; k++) {
		double acc = 0.0;
		uint32_t t0 = k < 0 ? (uint32_t)-k : 0, t1 = k > 0 ? n - (uint32_t)k : n;
		for (uint32_t t = t0; t < t1; t++)
			acc += (double)a[t] * b[(int64_t)t + k];
		if (acc > best) {
			best = acc;
			best_k = k;
		}
	}
	if (!(best > 0.0) || best_k == -(int)max || best_k == (int)max)
		return best > 0.0 ? best_k : 0.0;
	for (int d = -1; d <= 1; d++) {
		int k = best_k + d;
		uint32_t t0 = k < 0 ? (uint32_t)-k : 0, t1 = k > 0 ? n - (uint32_t)k : n;
		for (uint32_t t = t0; t < t1; t++)
			r[d + 1] += (double)a[t] * b[(int64_t)t + k];
	}
	double den = r[0] - 2.0 * r[1] + r[2];
	if (den >= 0.0)
		return best_k;
	return best_k + 0.5 * (r[0] - r[2]) / den;
}

int hrtf_sofa_get(const struct hrtf_sofa *s, double azimuth_deg, double elevation_deg,
		float *left, float *right)
{
	double v[3];
	float c[3];
	uint32_t use[5], n_use = 0;
	double w[5], wsum = 0.0;
	int nearest;

	hrtf_direction(azimuth_deg, elevation_deg, v);
	c[0] = (float)(v[0] * s->radius);
	c[1] = (float)(v[1] * s->radius);
	c[2] = (float)(v[2] * s->radius);
	nearest = mysofa_lookup(s->lookup, c);
	if (nearest < 0 || (uint32_t)nearest >= s->m)
		return -EIO;

	memset(left, 0, s->length * sizeof(float));
	memset(right, 0, s->length * sizeof(float));

	double d0 = hrtf_angle(v, s->pos + 3 * (size_t)nearest);
	if (!s->interpolate || d0 < 1e-6) {
		for (int ear = 0; ear < 2; ear++)
			hrtf_shift_add(ear ? right : left, s->length, ir_at(s, (uint32_t)nearest, ear), s->n,
					s->bulk + s->delay[2 * nearest + ear], 1.0);
		return 0;
	}

	/* the nearest, and the closer of each azimuth and elevation pair */
	use[n_use] = (uint32_t)nearest;
	w[n_use++] = 1.0 / d0;
	int *nb = mysofa_neighborhood(s->neighbours, nearest);
	for (int pair = 0; nb && pair < 2; pair++) {
		int best = -1;
		double best_d = INFINITY;
		for (int k = 0; k < 2; k++) {
			int j = nb[2 * pair + k];
			if (j < 0 || (uint32_t)j >= s->m || j == nearest)
				continue;
			double d = hrtf_angle(v, s->pos + 3 * (size_t)j);
			if (d < best_d) {
				best_d = d;
				best = j;
			}
		}
		if (best >= 0) {
			use[n_use] = (uint32_t)best;
			w[n_use++] = 1.0 / fmax(best_d, 1e-6);
		}
	}
	for (uint32_t k = 0; k < n_use; k++)
		wsum += w[k];

	for (int ear = 0; ear < 2; ear++) {
		const float *ref = ir_at(s, (uint32_t)nearest, ear);
		double lag[5], mean = 0.0;
		for (uint32_t k = 0; k < n_use; k++) {
			lag[k] = k == 0 ? 0.0 : relative_lag(ref, ir_at(s, use[k], ear), s->n, s->align);
			mean += w[k] / wsum * (s->delay[2 * use[k] + ear] + lag[k]);
		}
		for (uint32_t k = 0; k < n_use; k++)
			hrtf_shift_add(ear ? right : left, s->length, ir_at(s, use[k], ear), s->n,
					s->bulk + mean - lag[k], w[k] / wsum);
	}
	return 0;
}

#else /* !IEM_HAVE_SOFA */

struct hrtf_sofa *hrtf_sofa_open(const char *path, uint32_t rate, bool interpolate,
		bool dfeq, struct hrtf_sofa_info *info, char *err, size_t err_size)
{
	memset(info, 0, sizeof(*info));
	if (err && err_size)
		snprintf(err, err_size, "%s: SOFA support is not built in (libmysofa was not found)",
				path);
	errno = ENOTSUP;
	return NULL;
}

void hrtf_sofa_free(struct hrtf_sofa *s)
{
}

int hrtf_sofa_get(const struct hrtf_sofa *s, double azimuth_deg, double elevation_deg,
		float *left, float *right)
{
	return -ENOTSUP;
}

#endif
