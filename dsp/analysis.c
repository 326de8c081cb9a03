/* SPDX-License-Identifier: MIT */
/*
 * Soundstage metrics of a 2 x 2 response set or of rendered ear signals
 * (iem-dsp.h says what each figure is; dsp-reference §3.4 and §5 where
 * they come from).
 *
 * Two ways of correlating. The ITD is the oracle method of §3.4, in
 * double precision, directly: its figures must match the reference table
 * to a few microseconds. The IACC goes through the FFT: the cross-spectrum
 * of the (windowed) responses, masked to an ideal band, transformed back
 * on a grid at least twice the window's length, so that lags within
 * +-1 ms are linear correlations, not circular ones. For a set, the cross
 * spectra of the two speakers are summed before the transform: that is
 * the IACF of uncorrelated white noise on the inputs, in expectation,
 * without the noise.
 *
 * The phase-transform ITD (GCC-PHAT) correlates the cross-spectrum with
 * every bin's magnitude set to 1: what is left is the interaural phase
 * alone, in which any filter common to both ears cancels. Its peak is
 * found on the FFT's lag grid, then refined on the continuous correlation
 * sum_k cos(phi_k + 2 pi f_k tau) (golden section; the main lobe is
 * 1 / f_hi wide, many samples).
 *
 * The energy envelope (direct sound, DRR, C50, reflections) is l^2 + r^2
 * smoothed by two running sums of half a millisecond each: a 1 ms
 * triangle, computed in O(n) whatever the rate.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fft.h"
#include "iem-dsp.h"

#define MIN_FFT			65536u		/* points for spectra: fine third octaves at 20 Hz */
#define SMOOTH_MS		1.0		/* the envelope's triangle */
#define PEAK_SPAN_MS		1.0		/* a reflection is the largest within +-this */
#define REFLECTION_END_MS	50.0
#define C50_MS			50.0
#define EARLY_LEAD_MS		1.0		/* the early window starts this before the direct peak */
#define LOWPASS_TAIL_MS		5.0		/* the ITD's low-pass rings below -120 dB by then (at 20 Hz) */
#define CENTRE_FIRST		(-10)		/* 99 Hz … */
#define CENTRE_LAST		10		/* … 10.1 kHz: the summary's thirds */

static const double e3_centre[3] = { 500.0, 1000.0, 2000.0 };

double iem_analysis_third_hz(uint32_t i)
{
	return 1000.0 * pow(2.0, (IEM_ANALYSIS_THIRD_FIRST + (int)i) / 3.0);
}

double iem_analysis_octave_hz(uint32_t i)
{
	return 125.0 * pow(2.0, (double)i);
}

static uint32_t pow2_at_least(uint64_t n)
{
	uint32_t p = 1;
	while (p < n && p < (1u << 24))
		p <<= 1;
	return p;
}

static bool rate_ok(uint32_t rate)
{
	return rate >= IEM_MIN_RATE && rate <= IEM_MAX_RATE;
}

static bool all_finite(const float *x, uint32_t n)
{
	for (uint32_t i = 0; x && i < n; i++)
		if (!isfinite(x[i]))
			return false;
	return true;
}

static double energy(const float *x, uint32_t n)
{
	double e = 0.0;
	for (uint32_t i = 0; x && i < n; i++)
		e += (double)x[i] * x[i];
	return e;
}

/* 10 log10(a / b), with the limits spelled out. */
static double ratio_db(double a, double b)
{
	if (a > 0.0 && b > 0.0)
		return 10.0 * log10(a / b);
	if (a > 0.0)
		return INFINITY;
	if (b > 0.0)
		return -INFINITY;
	return NAN;
}

/* ---- noise ----------------------------------------------------------------- */

static uint64_t next_u64(uint64_t *st)
{
	if (*st == 0)
		*st = 0x9E3779B97F4A7C15ull;
	*st ^= *st >> 12;
	*st ^= *st << 25;
	*st ^= *st >> 27;
	return *st * 2685821657736338717ull;
}

void iem_analysis_noise(uint64_t *state, float *out, uint32_t n)
{
	for (uint32_t i = 0; i < n; i += 2) {
		double u1 = ((next_u64(state) >> 11) + 0.5) / 9007199254740992.0;
		double u2 = (next_u64(state) >> 11) / 9007199254740992.0;
		double r = sqrt(-2.0 * log(u1));
		out[i] = (float)(r * cos(2.0 * M_PI * u2));
		if (i + 1 < n)
			out[i + 1] = (float)(r * sin(2.0 * M_PI * u2));
	}
}

/* ---- ITD ------------------------------------------------------------------- */

/* x (n samples, then zeros up to m) through two cascaded RBJ low-passes
 * at fc (Q 1/sqrt 2), zero initial state; fc <= 0 copies. */
static void lowpass(const float *x, double *out, uint32_t n, uint32_t m, uint32_t rate, double fc)
{
	struct iem_biquad bq;
	double x1 = 0, x2 = 0, y1 = 0, y2 = 0, u1 = 0, u2 = 0, v1 = 0, v2 = 0;

	if (fc <= 0.0 || iem_biquad_design(&bq, IEM_FILTER_LOWPASS, rate, fc, M_SQRT1_2, 0.0) < 0) {
		for (uint32_t i = 0; i < m; i++)
			out[i] = i < n ? x[i] : 0.0;
		return;
	}
	for (uint32_t i = 0; i < m; i++) {
		double in = i < n ? x[i] : 0.0;
		double y = bq.b0 * in + bq.b1 * x1 + bq.b2 * x2 - bq.a1 * y1 - bq.a2 * y2;
		x2 = x1, x1 = in, y2 = y1, y1 = y;
		double v = bq.b0 * y + bq.b1 * u1 + bq.b2 * u2 - bq.a1 * v1 - bq.a2 * v2;
		u2 = u1, u1 = y, v2 = v1, v1 = v;
		out[i] = v;
	}
}

static double xcorr_at(const double *a, const double *b, uint32_t n, int k)
{
	uint32_t i0 = k < 0 ? (uint32_t)-k : 0;
	uint32_t i1 = k > 0 ? (k < (int64_t)n ? n - (uint32_t)k : 0) : n;
	double acc = 0.0;
	for (uint32_t i = i0; i < i1; i++)
		acc += a[i] * b[i + k];
	return acc;
}

int iem_analysis_itd(const float *left, const float *right, uint32_t n,
		uint32_t rate, double lowpass_hz, double *itd_us)
{
	if (left == NULL || right == NULL || itd_us == NULL || n == 0 || !rate_ok(rate) ||
	    !(lowpass_hz >= 0.0) || !all_finite(left, n) || !all_finite(right, n))
		return -EINVAL;
	if (energy(left, n) <= 0.0 || energy(right, n) <= 0.0)
		return -ENODATA;

	const int max = (int)ceil(IEM_ANALYSIS_ITD_MAX_MS * 1e-3 * rate);
	/* the low-pass rings on past the last tap: a response cut right
	 * after its last arrival must not lose that arrival's ringing */
	const uint32_t m = n + (lowpass_hz > 0.0 ? (uint32_t)ceil(LOWPASS_TAIL_MS * 1e-3 * rate) : 0);
	double *a = malloc((size_t)m * sizeof(double)), *b = malloc((size_t)m * sizeof(double));
	double *c = malloc((size_t)(2 * max + 3) * sizeof(double));
	int res = -ENOMEM;

	if (a == NULL || b == NULL || c == NULL)
		goto out;
	lowpass(left, a, n, m, rate, lowpass_hz);
	lowpass(right, b, n, m, rate, lowpass_hz);
	n = m;
	/* c[k + max + 1] for |k| <= max + 1: the neighbours of an edge peak too */
	for (int k = -max - 1; k <= max + 1; k++)
		c[k + max + 1] = xcorr_at(a, b, n, k);
	int best = 0;
	for (int k = -max; k <= max; k++)
		if (c[k + max + 1] > c[best + max + 1])
			best = k;
	res = -ENODATA;
	if (!(c[best + max + 1] > 0.0))
		goto out;
	double lo = c[best + max], mid = c[best + max + 1], hi = c[best + max + 2];
	double den = lo - 2.0 * mid + hi, k = best;
	if (den < 0.0)
		k += 0.5 * (lo - hi) / den;
	*itd_us = k / rate * 1e6;
	res = 0;
out:
	free(a);
	free(b);
	free(c);
	return res;
}

/* ---- spectra and the IACF ----------------------------------------------------- */

struct spectra {
	struct iem_fft *fft;
	uint32_t n;		/* points */
	double df;		/* Hz per bin */
	float *t, *s;		/* scratch: n and n + 2 floats */
};

static int spectra_init(struct spectra *sp, uint32_t n, uint32_t rate)
{
	memset(sp, 0, sizeof(*sp));
	sp->n = n;
	sp->df = (double)rate / n;
	sp->fft = iem_fft_new(n);
	sp->t = iem_fft_alloc(n);
	sp->s = iem_fft_alloc(n + 2);
	return sp->fft && sp->t && sp->s ? 0 : -ENOMEM;
}

static void spectra_clear(struct spectra *sp)
{
	iem_fft_free(sp->fft);
	iem_fft_free_buffer(sp->t);
	iem_fft_free_buffer(sp->s);
	memset(sp, 0, sizeof(*sp));
}

/* The spectrum of x[from, to) (+ y's, when not NULL), zero-padded; a new
 * buffer, or NULL for a silent (NULL) x and y. *err = -ENOMEM on failure. */
static float *spectrum_of(struct spectra *sp, const float *x, const float *y,
		uint32_t from, uint32_t to, int *err)
{
	if (x == NULL && y == NULL)
		return NULL;
	float *out = iem_fft_alloc(sp->n + 2);
	if (out == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	memset(sp->t, 0, sp->n * sizeof(float));
	for (uint32_t i = from; i < to; i++)
		sp->t[i - from] = (x ? x[i] : 0.0f) + (y ? y[i] : 0.0f);
	iem_fft_forward(sp->fft, sp->t, out);
	return out;
}

/* The mean of |X|^2 (X = a + b, b may be NULL) over bins [k0, k1]. */
static double bins_power(const float *a, const float *b, uint32_t k0, uint32_t k1)
{
	double sum = 0.0;
	if (a == NULL && b == NULL)
		return 0.0;
	for (uint32_t k = k0; k <= k1; k++) {
		double re = (a ? a[2 * k] : 0.0) + (b ? b[2 * k] : 0.0);
		double im = (a ? a[2 * k + 1] : 0.0) + (b ? b[2 * k + 1] : 0.0);
		sum += re * re + im * im;
	}
	return sum / (double)(k1 - k0 + 1);
}

/* The bins of f 2^(+-width / 2); false when the band reaches past Nyquist. */
static bool band_bins(const struct spectra *sp, double f, double width_oct, uint32_t *k0, uint32_t *k1)
{
	const double lo = f * pow(2.0, -width_oct / 2.0), hi = f * pow(2.0, width_oct / 2.0);
	const uint32_t last = sp->n / 2;
	if (!(hi <= last * sp->df * (1.0 + 1e-12)) || !(lo >= 0.0))
		return false;
	uint32_t a = (uint32_t)ceil(lo / sp->df), b = (uint32_t)floor(hi / sp->df);
	if (b > last)
		b = last;
	if (a > b) {
		a = b = (uint32_t)lround(f / sp->df);
		if (a > last)
			a = b = last;
	}
	*k0 = a;
	*k1 = b;
	return true;
}

/* The phase-transform correlation at lag tau (s) of the unit-magnitude
 * cross-spectrum g (bins 1 … kmax, df Hz apart). */
static double phat_at(const float *g, uint32_t kmax, double df, double tau)
{
	double acc = 0.0;
	const double w = 2.0 * M_PI * df * tau;
	for (uint32_t k = 1; k <= kmax; k++)
		acc += g[2 * k] * cos(w * k) - g[2 * k + 1] * sin(w * k);
	return acc;
}

int iem_analysis_itd_phat(const float *left, const float *right, uint32_t n,
		uint32_t rate, double f_hi, double *itd_us)
{
	if (left == NULL || right == NULL || itd_us == NULL || n == 0 || !rate_ok(rate) ||
	    !(f_hi > 0.0 && f_hi <= rate / 2.0) || !all_finite(left, n) || !all_finite(right, n))
		return -EINVAL;
	if (n > IEM_CONV_MAX_TAPS)
		return -E2BIG;
	if (energy(left, n) <= 0.0 || energy(right, n) <= 0.0)
		return -ENODATA;

	struct spectra sp;
	float *l = NULL, *r = NULL;
	int res;
	if ((res = spectra_init(&sp, pow2_at_least(fmax(2.0 * n, MIN_FFT)), rate)) < 0)
		goto out;
	l = spectrum_of(&sp, left, NULL, 0, n, &res);
	r = spectrum_of(&sp, right, NULL, 0, n, &res);
	if (res < 0)
		goto out;

	/* conj(L) R, magnitude 1, below f_hi; bins with next to nothing in
	 * them (1e-6 of the largest) stay out */
	const uint32_t bins = sp.n / 2 + 1;
	const uint32_t kmax = (uint32_t)fmin(floor(f_hi / sp.df), bins - 1);
	double top = 0.0;
	for (uint32_t k = 1; k <= kmax; k++) {
		double re = (double)l[2 * k] * r[2 * k] + (double)l[2 * k + 1] * r[2 * k + 1];
		double im = (double)l[2 * k] * r[2 * k + 1] - (double)l[2 * k + 1] * r[2 * k];
		l[2 * k] = (float)re;
		l[2 * k + 1] = (float)im;
		top = fmax(top, hypot(re, im));
	}
	res = -ENODATA;
	if (kmax == 0 || !(top > 0.0))
		goto out;
	memset(sp.s, 0, (sp.n + 2) * sizeof(float));
	for (uint32_t k = 1; k <= kmax; k++) {
		double m = hypot(l[2 * k], l[2 * k + 1]);
		if (m > 1e-6 * top) {
			l[2 * k] = (float)(l[2 * k] / m);
			l[2 * k + 1] = (float)(l[2 * k + 1] / m);
		} else {
			l[2 * k] = l[2 * k + 1] = 0.0f;
		}
		sp.s[2 * k] = l[2 * k];
		sp.s[2 * k + 1] = l[2 * k + 1];
	}
	/* on the lag grid: t[m] = sum_k 2 Re(g_k e^(2 pi i k m / N)) */
	iem_fft_inverse(sp.fft, sp.s, sp.t);
	const int max = (int)ceil(IEM_ANALYSIS_ITD_MAX_MS * 1e-3 * rate);
	int best = 0;
	for (int k = -max; k <= max; k++) {
		float v = sp.t[k >= 0 ? (uint32_t)k : sp.n - (uint32_t)-k];
		float b = sp.t[best >= 0 ? (uint32_t)best : sp.n - (uint32_t)-best];
		if (v > b)
			best = k;
	}
	/* golden section over the neighbouring lags */
	const double g = (sqrt(5.0) - 1.0) / 2.0;
	double a = (best - 1.0) / rate, b = (best + 1.0) / rate;
	double x1 = b - g * (b - a), x2 = a + g * (b - a);
	double f1 = phat_at(l, kmax, sp.df, x1), f2 = phat_at(l, kmax, sp.df, x2);
	for (int i = 0; i < 60; i++) {
		if (f1 > f2) {
			b = x2, x2 = x1, f2 = f1;
			x1 = b - g * (b - a);
			f1 = phat_at(l, kmax, sp.df, x1);
		} else {
			a = x1, x1 = x2, f1 = f2;
			x2 = a + g * (b - a);
			f2 = phat_at(l, kmax, sp.df, x2);
		}
	}
	*itd_us = 0.5 * (a + b) * 1e6;
	res = 0;
out:
	iem_fft_free_buffer(l);
	iem_fft_free_buffer(r);
	spectra_clear(&sp);
	return res;
}

/*
 * max |IACF(tau)|, |tau| <= 1 ms, of `count` ear pairs whose spectra are
 * l[i], r[i] (NULL: silent), summed as uncorrelated sources, in the band
 * [f_lo, f_hi] (both 0: every bin). -ENODATA when an ear has no energy
 * there.
 */
static int iacf_peak(struct spectra *sp, float *const *l, float *const *r, int count,
		uint32_t rate, double f_lo, double f_hi, double *iacc, double *lag_us)
{
	const uint32_t n = sp->n, bins = n / 2 + 1;
	const bool broadband = f_lo <= 0.0 && f_hi <= 0.0;
	double el = 0.0, er = 0.0;
	float *s = sp->s, *t = sp->t;

	for (uint32_t k = 0; k < bins; k++) {
		double f = k * sp->df, re = 0.0, im = 0.0;
		double w = k == 0 || k == n / 2 ? 1.0 : 2.0;	/* Parseval over the half spectrum */
		bool in = broadband || (f >= f_lo && f <= f_hi);
		for (int i = 0; in && i < count; i++) {
			if (l[i] == NULL && r[i] == NULL)
				continue;
			double lr = l[i] ? l[i][2 * k] : 0.0, li = l[i] ? l[i][2 * k + 1] : 0.0;
			double rr = r[i] ? r[i][2 * k] : 0.0, ri = r[i] ? r[i][2 * k + 1] : 0.0;
			/* conj(L) R: sum_j l[j] r[j + tau] */
			re += lr * rr + li * ri;
			im += lr * ri - li * rr;
			el += w * (lr * lr + li * li);
			er += w * (rr * rr + ri * ri);
		}
		s[2 * k] = (float)re;
		s[2 * k + 1] = (float)im;
	}
	if (!(el > 0.0) || !(er > 0.0))
		return -ENODATA;
	iem_fft_inverse(sp->fft, s, t);	/* n * correlation; energies are n * sum x^2 */
	const double norm = sqrt(el * er);
	const int max = (int)ceil(IEM_ANALYSIS_ITD_MAX_MS * 1e-3 * rate);
	double best = -1.0;
	int at = 0;
	for (int k = -max; k <= max; k++) {
		double v = fabs(t[k >= 0 ? (uint32_t)k : n - (uint32_t)-k]) / norm;
		if (v > best) {
			best = v;
			at = k;
		}
	}
	*iacc = fmin(best, 1.0);
	if (lag_us)
		*lag_us = (double)at / rate * 1e6;
	return 0;
}

/* The IACC of `count` ear pairs (l[i], r[i], NULL: silent) over [from, to)
 * in each of n_bands bands (band[b][0 … 1]; both 0: broadband). */
static int iacc_window(const float *const *l, const float *const *r, int count,
		uint32_t from, uint32_t to, uint32_t rate, const double (*band)[2], int n_bands,
		double *iacc, double *lag_us)
{
	const int max = (int)ceil(IEM_ANALYSIS_ITD_MAX_MS * 1e-3 * rate);
	struct spectra sp;
	float *ls[2] = { NULL }, *rs[2] = { NULL };
	int res;

	if ((res = spectra_init(&sp, pow2_at_least(2 * (uint64_t)(to - from) + 2 * max + 2), rate)) < 0)
		goto out;
	for (int i = 0; i < count; i++) {
		ls[i] = spectrum_of(&sp, l[i], NULL, from, to, &res);
		rs[i] = spectrum_of(&sp, r[i], NULL, from, to, &res);
	}
	if (res < 0)
		goto out;
	for (int b = 0; b < n_bands; b++) {
		int r2 = iacf_peak(&sp, ls, rs, count, rate, band[b][0], band[b][1], &iacc[b],
				lag_us ? &lag_us[b] : NULL);
		if (r2 == -ENODATA)
			iacc[b] = NAN;
		else if (r2 < 0) {
			res = r2;
			goto out;
		}
	}
	res = 0;
out:
	for (int i = 0; i < 2; i++) {
		iem_fft_free_buffer(ls[i]);
		iem_fft_free_buffer(rs[i]);
	}
	spectra_clear(&sp);
	return res;
}

int iem_analysis_iacc(const float *left, const float *right, uint32_t n,
		uint32_t rate, double f_lo, double f_hi, double *iacc, double *lag_us)
{
	if (left == NULL || right == NULL || iacc == NULL || n == 0 || !rate_ok(rate) ||
	    !(f_lo >= 0.0) || !(f_hi >= 0.0) || (f_hi > 0.0 && f_hi < f_lo) ||
	    !all_finite(left, n) || !all_finite(right, n))
		return -EINVAL;
	if (n > IEM_CONV_MAX_TAPS)
		return -E2BIG;
	const double band[1][2] = { { f_lo, f_hi > 0.0 ? f_hi : (f_lo > 0.0 ? rate / 2.0 : 0.0) } };
	double v = NAN;
	int r = iacc_window(&left, &right, 1, 0, n, rate, band, 1, &v, lag_us);
	if (r < 0)
		return r;
	if (isnan(v))
		return -ENODATA;
	*iacc = v;
	return 0;
}

int iem_analysis_levels(const float *a, const float *b, uint32_t n, uint32_t rate,
		const double *freq, uint32_t count, double width_oct, double *db)
{
	struct spectra sp;
	float *x = NULL;
	int res = 0;

	if (a == NULL || freq == NULL || db == NULL || n == 0 || !rate_ok(rate) ||
	    !(width_oct >= 0.0 && width_oct <= 4.0) || !all_finite(a, n) || !all_finite(b, n))
		return -EINVAL;
	if (n > IEM_CONV_MAX_TAPS)
		return -E2BIG;
	if ((res = spectra_init(&sp, pow2_at_least(fmax(2.0 * n, MIN_FFT)), rate)) < 0)
		goto out;
	if ((x = spectrum_of(&sp, a, b, 0, n, &res)) == NULL)
		goto out;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t k0, k1;
		if (!(freq[i] > 0.0) || !band_bins(&sp, freq[i], width_oct, &k0, &k1))
			db[i] = NAN;
		else
			db[i] = ratio_db(bins_power(x, NULL, k0, k1), 1.0);
	}
out:
	iem_fft_free_buffer(x);
	spectra_clear(&sp);
	return res;
}

/* ---- the energy envelope ------------------------------------------------------- */

/* out[i] = sum of x over [i - h, i + h], from the running sum. */
static void boxcar(const double *x, double *cum, double *out, uint32_t n, uint32_t h)
{
	cum[0] = 0.0;
	for (uint32_t i = 0; i < n; i++)
		cum[i + 1] = cum[i] + x[i];
	for (uint32_t i = 0; i < n; i++) {
		uint32_t a = i > h ? i - h : 0, b = i + h + 1 < n ? i + h + 1 : n;
		out[i] = fmax(cum[b] - cum[a], 0.0);
	}
}

/* Direct sound, DRR, C50 and reflections of one speaker; *peak gets the
 * direct sound's frame (0 for a silent speaker). */
static int envelope_figures(const float *l, const float *r, uint32_t n, uint32_t rate,
		struct iem_speaker_analysis *sp, uint32_t *peak)
{
	const uint32_t h = (uint32_t)fmax(1.0, lround(SMOOTH_MS * 1e-3 * rate / 4.0));
	double *e = malloc((size_t)n * sizeof(double)), *env = malloc((size_t)n * sizeof(double));
	double *cum = malloc(((size_t)n + 1) * sizeof(double));
	int res = -ENOMEM;

	*peak = 0;
	sp->direct_ms = sp->drr_db = sp->c50_db = NAN;
	sp->n_reflections = 0;
	if (e == NULL || env == NULL || cum == NULL)
		goto out;
	double total = 0.0;
	for (uint32_t i = 0; i < n; i++) {
		e[i] = (l ? (double)l[i] * l[i] : 0.0) + (r ? (double)r[i] * r[i] : 0.0);
		total += e[i];
	}
	res = 0;
	if (!(total > 0.0))
		goto out;
	boxcar(e, cum, env, n, h);
	boxcar(env, cum, env, n, h);	/* in place: the running sum is taken first */

	uint32_t td = 0;
	for (uint32_t i = 1; i < n; i++)
		if (env[i] > env[td])
			td = i;
	*peak = td;
	sp->direct_ms = td * 1e3 / rate;

	const uint64_t end = td + (uint64_t)lround(IEM_ANALYSIS_DIRECT_MS * 1e-3 * rate);
	const uint64_t c50 = td + (uint64_t)lround(C50_MS * 1e-3 * rate);
	double before = 0.0, early = 0.0;
	for (uint32_t i = 0; i < n; i++) {
		if (i < end)
			before += e[i];
		if (i < c50)
			early += e[i];
	}
	sp->drr_db = ratio_db(before, total - before);
	sp->c50_db = ratio_db(early, total - early);

	const uint32_t span = (uint32_t)lround(PEAK_SPAN_MS * 1e-3 * rate);
	const uint64_t last = td + (uint64_t)lround(REFLECTION_END_MS * 1e-3 * rate);
	const double floor = env[td] * pow(10.0, -IEM_ANALYSIS_REFLECTION_FLOOR / 10.0);
	for (uint64_t i = end + 1; i <= last && i < n && sp->n_reflections < IEM_ANALYSIS_MAX_REFLECTIONS; i++) {
		if (env[i] < floor)
			continue;
		bool top = true;
		uint64_t a = i > span ? i - span : 0, b = i + span < n ? i + span : n - 1;
		for (uint64_t j = a; j <= b && top; j++)
			top = j < i ? env[j] < env[i] : env[j] <= env[i];
		if (!top)
			continue;
		struct iem_reflection *rf = &sp->reflection[sp->n_reflections++];
		rf->delay_ms = (double)(i - td) * 1e3 / rate;
		rf->level_db = 10.0 * log10(env[i] / env[td]);
	}
out:
	free(e);
	free(env);
	free(cum);
	return res;
}

/* ---- the whole set --------------------------------------------------------------- */

int iem_analysis_run(const struct iem_ir *ir, uint32_t rate, struct iem_analysis *a)
{
	struct spectra sp = { 0 };
	float *spec[4] = { NULL }, *centre[2] = { NULL };
	float *mono[2] = { NULL };
	int res = 0;

	if (ir == NULL || a == NULL || ir->n_inputs != 2 || ir->n_outputs != 2 ||
	    ir->taps == NULL || ir->length == 0 || !rate_ok(rate))
		return -EINVAL;
	if (ir->length > IEM_CONV_MAX_TAPS)
		return -E2BIG;
	const uint32_t n = ir->length;
	double total = 0.0;
	for (int p = 0; p < 4; p++) {
		if (!all_finite(ir->taps[p], n))
			return -EINVAL;
		total += energy(ir->taps[p], n);
	}
	if (!(total > 0.0))
		return -EINVAL;

	memset(a, 0, sizeof(*a));
	a->rate = rate;
	a->length = n;
	/* speaker s at ear o: taps[o * 2 + s] */
	const float *ear[2][2] = {
		{ ir->taps[0], ir->taps[2] },
		{ ir->taps[1], ir->taps[3] },
	};

	if ((res = spectra_init(&sp, pow2_at_least(fmax(2.0 * n, MIN_FFT)), rate)) < 0)
		goto out;
	for (int p = 0; p < 4; p++)
		spec[p] = spectrum_of(&sp, ir->taps[p], NULL, 0, n, &res);
	centre[0] = spectrum_of(&sp, ir->taps[0], ir->taps[1], 0, n, &res);
	centre[1] = spectrum_of(&sp, ir->taps[2], ir->taps[3], 0, n, &res);
	if (res < 0)
		goto out;

	/* per speaker */
	uint32_t peak[2], t0 = UINT32_MAX;
	for (int s = 0; s < 2; s++) {
		struct iem_speaker_analysis *spk = &a->speaker[s];
		const float *l = ear[s][0], *r = ear[s][1];
		double el = energy(l, n), er = energy(r, n);

		spk->ild_db = ratio_db(el, er);
		spk->itd_us = spk->itd_direct_us = spk->itd_phat_us = NAN;
		if ((res = envelope_figures(l, r, n, rate, spk, &peak[s])) < 0)
			goto out;
		if (l && r && el > 0.0 && er > 0.0) {
			const uint64_t end = peak[s] + (uint64_t)lround(IEM_ANALYSIS_DIRECT_MS * 1e-3 * rate);
			int r2 = iem_analysis_itd(l, r, n, rate, IEM_ANALYSIS_ITD_LOWPASS, &spk->itd_us);
			if (r2 != -ENOMEM)
				r2 = iem_analysis_itd(l, r, end < n ? (uint32_t)end : n, rate,
						IEM_ANALYSIS_ITD_LOWPASS, &spk->itd_direct_us);
			if (r2 != -ENOMEM)
				r2 = iem_analysis_itd_phat(l, r, n, rate, IEM_ANALYSIS_ITD_LOWPASS,
						&spk->itd_phat_us);
			if (r2 == -ENOMEM) {
				res = r2;
				goto out;
			}
		}
		for (uint32_t b = 0; b < IEM_ANALYSIS_OCTAVES; b++) {
			uint32_t k0, k1;
			spk->ild_octave_db[b] = NAN;
			if (band_bins(&sp, iem_analysis_octave_hz(b), 1.0, &k0, &k1))
				spk->ild_octave_db[b] = ratio_db(bins_power(spec[s], NULL, k0, k1),
						bins_power(spec[2 + s], NULL, k0, k1));
		}
		if (el + er > 0.0 && peak[s] < t0)
			t0 = peak[s];
	}

	/* the phantom centre */
	double worst = 0.0, sq = 0.0;
	int counted = 0;
	a->centre_max_hz = NAN;
	for (uint32_t i = 0; i < IEM_ANALYSIS_THIRDS; i++) {
		uint32_t k0, k1;
		int k = IEM_ANALYSIS_THIRD_FIRST + (int)i;
		a->centre_db[i] = NAN;
		if (!band_bins(&sp, iem_analysis_third_hz(i), 1.0 / 3.0, &k0, &k1))
			continue;
		double p = 0.5 * (bins_power(centre[0], NULL, k0, k1) + bins_power(centre[1], NULL, k0, k1));
		a->centre_db[i] = ratio_db(p, 1.0);
		if (k >= CENTRE_FIRST && k <= CENTRE_LAST && isfinite(a->centre_db[i])) {
			if (fabs(a->centre_db[i]) > fabs(worst) || counted == 0) {
				worst = a->centre_db[i];
				a->centre_max_hz = iem_analysis_third_hz(i);
			}
			sq += a->centre_db[i] * a->centre_db[i];
			counted++;
		}
	}
	a->centre_max_db = counted ? worst : NAN;
	a->centre_rms_db = counted ? sqrt(sq / counted) : NAN;

	/* whole-response IACC: the spectra are on a grid of twice the length */
	float *ls[2] = { spec[0], spec[1] }, *rs[2] = { spec[2], spec[3] };
	int r2 = iacf_peak(&sp, ls, rs, 2, rate, 0.0, 0.0, &a->iacc, NULL);
	if (r2 == -ENODATA)
		a->iacc = NAN;
	r2 = iacf_peak(&sp, &centre[0], &centre[1], 1, rate, 0.0, 0.0, &a->mono_iacc, NULL);
	if (r2 == -ENODATA)
		a->mono_iacc = NAN;

	/* centred sound: its ITD and ILD */
	mono[0] = malloc((size_t)n * sizeof(float));
	mono[1] = malloc((size_t)n * sizeof(float));
	if (mono[0] == NULL || mono[1] == NULL) {
		res = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		mono[0][i] = (ir->taps[0] ? ir->taps[0][i] : 0.0f) + (ir->taps[1] ? ir->taps[1][i] : 0.0f);
		mono[1][i] = (ir->taps[2] ? ir->taps[2][i] : 0.0f) + (ir->taps[3] ? ir->taps[3][i] : 0.0f);
	}
	a->mono_ild_db = ratio_db(energy(mono[0], n), energy(mono[1], n));
	a->mono_itd_us = NAN;
	r2 = iem_analysis_itd(mono[0], mono[1], n, rate, IEM_ANALYSIS_ITD_LOWPASS, &a->mono_itd_us);
	if (r2 == -ENOMEM) {
		res = r2;
		goto out;
	}

	/* early IACC: from just before the first direct sound, 80 ms */
	const uint32_t lead = (uint32_t)lround(EARLY_LEAD_MS * 1e-3 * rate);
	const uint32_t from = t0 > lead ? t0 - lead : 0;
	const uint64_t to64 = (uint64_t)t0 + (uint64_t)lround(IEM_ANALYSIS_EARLY_MS * 1e-3 * rate);
	const uint32_t to = to64 < n ? (uint32_t)to64 : n;
	const double bands[4][2] = {
		{ 0.0, 0.0 },
		{ e3_centre[0] * M_SQRT1_2, e3_centre[0] * M_SQRT2 },
		{ e3_centre[1] * M_SQRT1_2, e3_centre[1] * M_SQRT2 },
		{ e3_centre[2] * M_SQRT1_2, e3_centre[2] * M_SQRT2 },
	};
	const int n_bands = e3_centre[2] * M_SQRT2 < rate / 2.0 ? 4 : 1;
	double v[4] = { NAN, NAN, NAN, NAN };
	const float *el[2] = { ear[0][0], ear[1][0] }, *er[2] = { ear[0][1], ear[1][1] };
	if ((res = iacc_window(el, er, 2, from, to, rate, bands, n_bands, v, NULL)) < 0)
		goto out;
	a->iacc_e = v[0];
	for (int b = 0; b < 3; b++)
		a->iacc_e_band[b] = v[b + 1];
	a->iacc_e3 = (v[1] + v[2] + v[3]) / 3.0;
	const float *ml = mono[0], *mr = mono[1];
	if ((res = iacc_window(&ml, &mr, 1, from, to, rate, bands, n_bands, v, NULL)) < 0)
		goto out;
	a->mono_iacc_e = v[0];
	a->mono_iacc_e3 = (v[1] + v[2] + v[3]) / 3.0;
	res = 0;
out:
	for (int p = 0; p < 4; p++)
		iem_fft_free_buffer(spec[p]);
	iem_fft_free_buffer(centre[0]);
	iem_fft_free_buffer(centre[1]);
	free(mono[0]);
	free(mono[1]);
	spectra_clear(&sp);
	return res;
}
