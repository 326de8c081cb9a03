/* SPDX-License-Identifier: MIT */
/*
 * HRTF sources behind one interface: the Brown & Duda spherical-head model
 * (hrtf-model.c) or a SOFA file (hrtf-sofa.c), an HRIR pair per direction
 * at the session rate.
 *
 * This file also holds what both use: the windowed-sinc fractional delay
 * and the diffuse-field equalisation of measured sets.
 *
 * Diffuse-field equalisation. A measured set contains everything between
 * the loudspeaker and the microphone that does not depend on direction:
 * for the MIT KEMAR set the loudspeaker's low-frequency roll-off and the
 * ear simulator's canal resonance (+16 dB at 2.5 kHz in the diffuse-field
 * average). An IEM tuned to its target already supplies the ear canal's
 * gain, so it must not arrive twice. The diffuse-field (DF) average is the
 * power spectrum averaged over all directions and both ears, each
 * direction weighted by the solid angle it stands for (hrtf-sofa.c counts
 * the points of an equal-area Fibonacci lattice nearest to it: grids are
 * denser near the poles, and KEMAR's stops at -40 degrees). One filter
 * serves both ears and every direction, so interaural differences stay
 * what they were band by band (broadband ITD estimates move a little, as
 * the spectrum they average changes: KEMAR at 30 degrees, cross-correlation,
 * 255.9 -> 249.5 us). Its inverse,
 *
 *   - smoothed to a third of an octave (a rectangular power average over
 *     f * 2^(+-1/6)), so no single direction's notch is inverted;
 *   - trusted only between f_lo and f_hi (150 Hz and 0.42 x the lower of
 *     the file's and the session's rate): outside, the gain it has at the
 *     edge is held (below 150 Hz the KEMAR average is the loudspeaker's
 *     roll-off and the 512-tap window, not the head);
 *   - limited to +12 dB of boost and -24 dB of cut relative to its gain
 *     at 1 kHz;
 *
 * is made minimum phase (real cepstrum, folded) and cut to about 8 ms with
 * a half-Hann fade. Minimum phase because it then adds no pre-ringing and
 * almost no delay; a linear-phase filter with useful resolution at 150 Hz
 * would delay every HRIR by several milliseconds.
 * The absolute level is set by the inverse too: after equalisation the DF
 * average is 0 dB where the inverse is not limited.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "fft.h"
#include "hrtf-private.h"
#include "iem-dsp.h"

#define DFEQ_MAX_BOOST_DB	12.0
#define DFEQ_MAX_CUT_DB		24.0
#define DFEQ_LENGTH_MS		8.0

#define KEMAR_FILE		"MIT_KEMAR_normal_pinna.sofa"

struct iem_hrtf {
	struct iem_hrtf_info info;
	struct hrtf_model model;
	struct hrtf_sofa *sofa;
	char description[512];
};

static void set_err(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;
	if (err == NULL || err_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

/* ---- geometry ----------------------------------------------------------- */

void hrtf_direction(double azimuth_deg, double elevation_deg, double v[3])
{
	double az = azimuth_deg * M_PI / 180.0, el = elevation_deg * M_PI / 180.0;
	v[0] = cos(el) * cos(az);
	v[1] = cos(el) * sin(az);
	v[2] = sin(el);
}

double hrtf_angle(const double a[3], const double b[3])
{
	double c[3] = {
		a[1] * b[2] - a[2] * b[1],
		a[2] * b[0] - a[0] * b[2],
		a[0] * b[1] - a[1] * b[0],
	};
	return atan2(sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2]),
			a[0] * b[0] + a[1] * b[1] + a[2] * b[2]);
}

/* ---- fractional delay ----------------------------------------------------- */

static double bessel_i0(double x)
{
	double sum = 1.0, term = 1.0, q = x * x / 4.0;
	for (int k = 1; k < 64 && term > 1e-17 * sum; k++) {
		term *= q / ((double)k * k);
		sum += term;
	}
	return sum;
}

/* Taps c[0 … 2H-1] of a delay by frac (0 <= frac < 1): tap j sits at
 * offset j - H + 1 from the integer part of the delay. */
static void frac_kernel(double frac, double c[2 * HRTF_FD_HALF])
{
	static const double half = HRTF_FD_HALF;
	const double norm = 1.0 / bessel_i0(HRTF_FD_BETA);

	for (int j = 0; j < 2 * HRTF_FD_HALF; j++) {
		double t = (double)(j - HRTF_FD_HALF + 1) - frac;
		double s = fabs(t) < 1e-12 ? 1.0 : sin(M_PI * t) / (M_PI * t);
		double u = t / half;
		double w = u * u < 1.0 ? bessel_i0(HRTF_FD_BETA * sqrt(1.0 - u * u)) * norm : 0.0;
		c[j] = s * w;
	}
}

void hrtf_impulse_add(double *out, uint32_t out_n, double pos, double gain)
{
	double ip = floor(pos), frac = pos - ip, c[2 * HRTF_FD_HALF];
	int64_t base = (int64_t)ip;

	if (frac < 1e-9 || frac > 1.0 - 1e-9) {
		int64_t k = frac < 0.5 ? base : base + 1;
		if (k >= 0 && k < (int64_t)out_n)
			out[k] += gain;
		return;
	}
	frac_kernel(frac, c);
	for (int j = 0; j < 2 * HRTF_FD_HALF; j++) {
		int64_t k = base + j - HRTF_FD_HALF + 1;
		if (k >= 0 && k < (int64_t)out_n)
			out[k] += gain * c[j];
	}
}

void hrtf_shift_add(float *out, uint32_t out_n, const float *x, uint32_t n,
		double shift, double gain)
{
	double ip = floor(shift), frac = shift - ip, c[2 * HRTF_FD_HALF];
	int64_t base = (int64_t)ip;
	bool integer = frac < 1e-9 || frac > 1.0 - 1e-9;

	if (integer && frac > 0.5)
		base++;
	if (!integer)
		frac_kernel(frac, c);

	for (uint32_t i = 0; i < n; i++) {
		double v = gain * (x ? x[i] : 1.0);
		if (v == 0.0)
			continue;
		if (integer) {
			int64_t k = base + i;
			if (k >= 0 && k < (int64_t)out_n)
				out[k] += (float)v;
			continue;
		}
		for (int j = 0; j < 2 * HRTF_FD_HALF; j++) {
			int64_t k = base + i + j - HRTF_FD_HALF + 1;
			if (k >= 0 && k < (int64_t)out_n)
				out[k] += (float)(v * c[j]);
		}
	}
}

/* ---- diffuse-field equalisation -------------------------------------------- */

static uint32_t pow2_at_least(uint64_t n)
{
	uint32_t p = 1;
	while (p < n && p < (1u << 24))
		p <<= 1;
	return p;
}

/* Third-octave band level (power mean over f * 2^(+-1/6)) of a power
 * spectrum with `bins` bins spaced df apart, in dB. */
static double band_db(const double *p, uint32_t bins, double df, double f)
{
	double lo = f * pow(2.0, -1.0 / 6.0) / df, hi = f * pow(2.0, 1.0 / 6.0) / df;
	uint32_t a = (uint32_t)ceil(lo), b = (uint32_t)floor(hi);
	double sum = 0.0;

	if (b >= bins)
		b = bins - 1;
	if (a > b) {
		a = b = (uint32_t)lround(f / df);
		if (a >= bins)
			a = b = bins - 1;
	}
	for (uint32_t k = a; k <= b; k++)
		sum += p[k];
	return 10.0 * log10(fmax(sum / (double)(b - a + 1), 1e-30));
}

/* The band 200 Hz - 10 kHz (third octaves from 1 kHz) with the largest
 * |level - level at 1 kHz|: its centre, and that deviation. */
static void band_peak(const double *p, uint32_t bins, double df, double *peak_hz, double *peak_db)
{
	double ref = band_db(p, bins, df, 1000.0), best = 0.0, best_f = 1000.0;
	for (int k = -7; k <= 10; k++) {
		double f = 1000.0 * pow(2.0, k / 3.0);
		double d = band_db(p, bins, df, f) - ref;
		if (fabs(d) > fabs(best)) {
			best = d;
			best_f = f;
		}
	}
	*peak_hz = best_f;
	*peak_db = best;
}

void hrtf_dfeq_clear(struct hrtf_dfeq *eq)
{
	free(eq->taps);
	memset(eq, 0, sizeof(*eq));
}

int hrtf_dfeq_design(const float *irs, uint32_t count, uint32_t n, size_t stride,
		const double *weight, uint32_t rate, double f_lo, double f_hi,
		struct hrtf_dfeq *eq)
{
	const uint32_t eq_len = ((uint32_t)ceil(DFEQ_LENGTH_MS * 1e-3 * rate) + 15) & ~15u;
	/* n1: the average (at least twice the IRs and room for the filter);
	 * n2: the cepstrum, long enough not to alias the minimum phase */
	const uint32_t n1 = pow2_at_least(fmax(fmax(2.0 * n, (double)n + eq_len), 1024.0));
	const uint32_t n2 = pow2_at_least(fmax(16.0 * eq_len, n1));
	const uint32_t bins1 = n1 / 2 + 1, bins2 = n2 / 2 + 1;
	const double df1 = (double)rate / n1, df2 = (double)rate / n2;
	struct iem_fft *fft1 = NULL, *fft2 = NULL;
	float *t1 = NULL, *s1 = NULL, *t2 = NULL, *s2 = NULL;
	double *p = NULL, *cum = NULL, *gdb = NULL, *after = NULL, wsum = 0.0;
	int res = -ENOMEM;

	memset(eq, 0, sizeof(*eq));
	if (count == 0 || n == 0 || n > n1)
		return -EINVAL;

	fft1 = iem_fft_new(n1);
	fft2 = iem_fft_new(n2);
	t1 = iem_fft_alloc(n1);
	s1 = iem_fft_alloc(n1 + 2);
	t2 = iem_fft_alloc(n2);
	s2 = iem_fft_alloc(n2 + 2);
	p = calloc(bins1, sizeof(double));
	cum = calloc(bins1 + 1, sizeof(double));
	gdb = calloc(bins1, sizeof(double));
	after = calloc(bins1, sizeof(double));
	eq->taps = calloc(eq_len, sizeof(float));
	if (!fft1 || !fft2 || !t1 || !s1 || !t2 || !s2 || !p || !cum || !gdb || !after || !eq->taps)
		goto out;

	/* the weighted power average over directions and both ears */
	for (uint32_t i = 0; i < count; i++) {
		if (!(weight[i] > 0.0))
			continue;
		wsum += weight[i];
		for (uint32_t ear = 0; ear < 2; ear++) {
			memset(t1, 0, n1 * sizeof(float));
			memcpy(t1, irs + (2 * (size_t)i + ear) * stride, n * sizeof(float));
			iem_fft_forward(fft1, t1, s1);
			for (uint32_t k = 0; k < bins1; k++) {
				double re = s1[2 * k], im = s1[2 * k + 1];
				p[k] += 0.5 * weight[i] * (re * re + im * im);
			}
		}
	}
	if (!(wsum > 0.0)) {
		res = -EINVAL;
		goto out;
	}
	for (uint32_t k = 0; k < bins1; k++)
		p[k] /= wsum;
	if (!(band_db(p, bins1, df1, 1000.0) > -200.0)) {
		res = -EINVAL;
		goto out;
	}

	/* smoothed to a third of an octave, inverted, held outside
	 * [f_lo, f_hi], limited around its 1 kHz gain */
	for (uint32_t k = 0; k < bins1; k++)
		cum[k + 1] = cum[k] + p[k];
	for (uint32_t k = 0; k < bins1; k++) {
		double f = fmin(fmax(k * df1, f_lo), f_hi);
		uint32_t a = (uint32_t)floor(f * pow(2.0, -1.0 / 6.0) / df1);
		uint32_t b = (uint32_t)ceil(f * pow(2.0, 1.0 / 6.0) / df1);
		if (b >= bins1)
			b = bins1 - 1;
		if (a > b)
			a = b;
		double mean = (cum[b + 1] - cum[a]) / (double)(b - a + 1);
		gdb[k] = -10.0 * log10(fmax(mean, 1e-30));
	}
	double ref = gdb[(uint32_t)lround(1000.0 / df1)];
	for (uint32_t k = 0; k < bins1; k++)
		gdb[k] = ref + fmin(fmax(gdb[k] - ref, -DFEQ_MAX_CUT_DB), DFEQ_MAX_BOOST_DB);

	/* minimum phase through the real cepstrum, on the finer grid n2 */
	for (uint32_t k = 0; k < bins2; k++) {
		double pos = k * df2 / df1;
		uint32_t k0 = (uint32_t)pos;
		double u = pos - k0, g;
		if (k0 + 1 < bins1)
			g = gdb[k0] * (1.0 - u) + gdb[k0 + 1] * u;
		else
			g = gdb[bins1 - 1];
		s2[2 * k] = (float)(g * M_LN10 / 20.0);	/* ln |H| */
		s2[2 * k + 1] = 0.0f;
	}
	iem_fft_inverse(fft2, s2, t2);
	for (uint32_t m = 0; m < n2; m++) {
		double c = t2[m] / (double)n2;
		if (m == 0 || m == n2 / 2)
			t2[m] = (float)c;
		else if (m < n2 / 2)
			t2[m] = (float)(2.0 * c);
		else
			t2[m] = 0.0f;
	}
	iem_fft_forward(fft2, t2, s2);
	for (uint32_t k = 0; k < bins2; k++) {
		double mag = exp(s2[2 * k]), ph = s2[2 * k + 1];
		s2[2 * k] = (float)(mag * cos(ph));
		s2[2 * k + 1] = (float)(mag * sin(ph));
	}
	iem_fft_inverse(fft2, s2, t2);
	for (uint32_t m = 0; m < eq_len; m++) {
		double fade = 1.0;
		uint32_t start = eq_len - eq_len / 4;
		if (m >= start)
			fade = 0.5 + 0.5 * cos(M_PI * (double)(m - start + 1) / (double)(eq_len / 4 + 1));
		eq->taps[m] = (float)(t2[m] / (double)n2 * fade);
	}
	eq->length = eq_len;

	/* before and after, in third-octave bands */
	band_peak(p, bins1, df1, &eq->peak_hz, &eq->peak_before);
	memset(t1, 0, n1 * sizeof(float));
	memcpy(t1, eq->taps, eq_len * sizeof(float));
	iem_fft_forward(fft1, t1, s1);
	for (uint32_t k = 0; k < bins1; k++) {
		double re = s1[2 * k], im = s1[2 * k + 1];
		after[k] = p[k] * (re * re + im * im);
	}
	double ref_after = band_db(after, bins1, df1, 1000.0), unused;
	eq->peak_after = band_db(after, bins1, df1, eq->peak_hz) - ref_after;
	band_peak(after, bins1, df1, &unused, &eq->max_after);
	res = 0;

out:
	iem_fft_free(fft1);
	iem_fft_free(fft2);
	iem_fft_free_buffer(t1);
	iem_fft_free_buffer(s1);
	iem_fft_free_buffer(t2);
	iem_fft_free_buffer(s2);
	free(p);
	free(cum);
	free(gdb);
	free(after);
	if (res < 0)
		hrtf_dfeq_clear(eq);
	return res;
}

/* ---- the interface -------------------------------------------------------- */

void iem_hrtf_config_init(struct iem_hrtf_config *cfg)
{
	*cfg = (struct iem_hrtf_config) {
		.kind = IEM_HRTF_AUTO,
		.interpolate = true,
		.diffuse_field_eq = true,
	};
}

const char *iem_hrtf_kind_name(enum iem_hrtf_kind kind)
{
	switch (kind) {
	case IEM_HRTF_AUTO:
		return "auto";
	case IEM_HRTF_MODEL:
		return "model";
	case IEM_HRTF_SOFA:
		return "sofa";
	}
	return NULL;
}

int iem_hrtf_default_sofa(char *buf, size_t size)
{
	const char *dir = getenv("IEM_SOFA_DIR");
	struct stat st;
	int r;

	if (dir == NULL || dir[0] == '\0')
		dir = IEM_SOFA_DIR;
	if (dir[0] == '\0')
		return -ENOENT;
	r = snprintf(buf, size, "%s/%s", dir, KEMAR_FILE);
	if (r < 0 || (size_t)r >= size)
		return -ENAMETOOLONG;
	if (stat(buf, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOENT;
	return 0;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static int open_sofa(struct iem_hrtf *h, const struct iem_hrtf_config *cfg, const char *path,
		uint32_t rate, char *err, size_t err_size)
{
	struct hrtf_sofa_info si;
	size_t len;

	h->sofa = hrtf_sofa_open(path, rate, cfg->interpolate, cfg->diffuse_field_eq,
			&si, err, err_size);
	if (h->sofa == NULL)
		return -errno;

	h->info.kind = IEM_HRTF_SOFA;
	h->info.length = si.length;
	h->info.file_rate = si.file_rate;
	h->info.directions = si.directions;
	h->info.file_taps = si.file_taps;
	h->info.distance = si.radius;
	h->info.interpolate = cfg->interpolate;
	h->info.diffuse_field_eq = si.eq.taps != NULL;
	h->info.df_peak_hz = si.eq.peak_hz;
	h->info.df_peak_before_db = si.eq.peak_before;
	h->info.df_peak_after_db = si.eq.peak_after;
	h->info.df_max_after_db = si.eq.max_after;
	hrtf_dfeq_clear(&si.eq);

	len = (size_t)snprintf(h->description, sizeof(h->description),
			"SOFA %s, %u directions at %.2f m, %u taps, %u Hz",
			base_name(path), si.directions, si.radius, si.file_taps, si.file_rate);
	if (si.file_rate != rate && len < sizeof(h->description))
		len += (size_t)snprintf(h->description + len, sizeof(h->description) - len,
				" -> %u Hz", rate);
	if (len < sizeof(h->description))
		len += (size_t)snprintf(h->description + len, sizeof(h->description) - len,
				", %s", cfg->interpolate ? "interpolated" : "nearest direction");
	if (h->info.diffuse_field_eq && len < sizeof(h->description))
		snprintf(h->description + len, sizeof(h->description) - len,
				", diffuse-field equalised (%+.1f dB at %.0f Hz -> %+.1f dB)",
				h->info.df_peak_before_db, h->info.df_peak_hz, h->info.df_peak_after_db);
	return 0;
}

static int open_model(struct iem_hrtf *h, double radius, uint32_t rate)
{
	int r = hrtf_model_init(&h->model, radius, rate);
	if (r < 0)
		return r;
	h->info.kind = IEM_HRTF_MODEL;
	h->info.length = h->model.length;
	h->info.head_radius = radius;
	snprintf(h->description, sizeof(h->description),
			"Brown & Duda spherical head, radius %.2f cm, %u Hz", radius * 100.0, rate);
	return 0;
}

struct iem_hrtf *iem_hrtf_new(const struct iem_hrtf_config *cfg, uint32_t rate,
		char *err, size_t err_size)
{
	struct iem_hrtf_config def;
	struct iem_hrtf *h;
	double radius;
	char path[4096], why[256];
	int r;

	if (err && err_size)
		err[0] = '\0';
	if (cfg == NULL) {
		iem_hrtf_config_init(&def);
		cfg = &def;
	}
	if (rate < IEM_MIN_RATE || rate > IEM_MAX_RATE) {
		set_err(err, err_size, "sample rate %u Hz is outside %u … %u Hz",
				rate, IEM_MIN_RATE, IEM_MAX_RATE);
		errno = EINVAL;
		return NULL;
	}
	if (cfg->head_radius != 0.0 && cfg->head_circumference != 0.0) {
		set_err(err, err_size, "give the head radius or its circumference, not both");
		errno = EINVAL;
		return NULL;
	}
	radius = IEM_HRTF_HEAD_RADIUS_DEFAULT;
	if (cfg->head_radius != 0.0)
		radius = cfg->head_radius;
	else if (cfg->head_circumference != 0.0)
		radius = cfg->head_circumference / (2.0 * M_PI);
	if (!(radius >= IEM_HRTF_HEAD_RADIUS_MIN && radius <= IEM_HRTF_HEAD_RADIUS_MAX)) {
		set_err(err, err_size, "head radius %.2f cm is outside %.0f … %.0f cm "
				"(circumference %.0f … %.0f cm)", radius * 100.0,
				IEM_HRTF_HEAD_RADIUS_MIN * 100.0, IEM_HRTF_HEAD_RADIUS_MAX * 100.0,
				IEM_HRTF_HEAD_RADIUS_MIN * 200.0 * M_PI,
				IEM_HRTF_HEAD_RADIUS_MAX * 200.0 * M_PI);
		errno = EINVAL;
		return NULL;
	}

	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		set_err(err, err_size, "out of memory");
		return NULL;
	}
	h->info.rate = rate;

	switch (cfg->kind) {
	case IEM_HRTF_MODEL:
		r = open_model(h, radius, rate);
		break;
	case IEM_HRTF_SOFA:
		if (cfg->sofa_path == NULL || cfg->sofa_path[0] == '\0') {
			set_err(err, err_size, "no SOFA file given");
			r = -EINVAL;
			break;
		}
		r = open_sofa(h, cfg, cfg->sofa_path, rate, err, err_size);
		break;
	case IEM_HRTF_AUTO:
		if (cfg->sofa_path && cfg->sofa_path[0]) {
			snprintf(path, sizeof(path), "%s", cfg->sofa_path);
			r = 0;
		} else {
			r = iem_hrtf_default_sofa(path, sizeof(path));
		}
		if (r == 0)
			r = open_sofa(h, cfg, path, rate, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "no %s (%s)", KEMAR_FILE, strerror(-r));
		if (r < 0) {
			if (r == -ENOMEM) {
				set_err(err, err_size, "out of memory");
				break;
			}
			r = open_model(h, radius, rate);
			if (r == 0) {
				size_t len = strlen(h->description);
				snprintf(h->description + len, sizeof(h->description) - len,
						" (auto: %s)", why);
			}
		}
		break;
	default:
		set_err(err, err_size, "unknown HRTF kind %d", (int)cfg->kind);
		r = -EINVAL;
		break;
	}
	if (r < 0) {
		if (err && err_size && err[0] == '\0')
			set_err(err, err_size, "%s", strerror(-r));
		iem_hrtf_free(h);
		errno = -r;
		return NULL;
	}
	return h;
}

struct iem_hrtf *iem_hrtf_free(struct iem_hrtf *h)
{
	if (h == NULL)
		return NULL;
	hrtf_sofa_free(h->sofa);
	free(h);
	return NULL;
}

uint32_t iem_hrtf_length(const struct iem_hrtf *h)
{
	return h->info.length;
}

void iem_hrtf_get_info(const struct iem_hrtf *h, struct iem_hrtf_info *info)
{
	*info = h->info;
}

const char *iem_hrtf_describe(const struct iem_hrtf *h)
{
	return h->description;
}

int iem_hrtf_get(const struct iem_hrtf *h, double azimuth_deg, double elevation_deg,
		float *left, float *right)
{
	if (h == NULL || left == NULL || right == NULL || left == right ||
	    !isfinite(azimuth_deg) || !isfinite(elevation_deg) ||
	    elevation_deg < -90.0 || elevation_deg > 90.0)
		return -EINVAL;
	/* wrap to (-180, 180]: keeps the trigonometry exact for the usual angles */
	azimuth_deg = fmod(azimuth_deg, 360.0);
	if (azimuth_deg > 180.0)
		azimuth_deg -= 360.0;
	else if (azimuth_deg <= -180.0)
		azimuth_deg += 360.0;

	if (h->info.kind == IEM_HRTF_SOFA)
		return hrtf_sofa_get(h->sofa, azimuth_deg, elevation_deg, left, right);
	return hrtf_model_get(&h->model, azimuth_deg, elevation_deg, left, right);
}
