/* SPDX-License-Identifier: MIT */
/*
 * Fitting a parametric EQ to (target - measurement); the method is
 * described in iem-fit.h.
 *
 * The model, on the grid f_i (1/48 octave, 20 Hz … 20 kHz):
 *
 *   r_i = S_i + c - d_i                            f_i <= fit_max
 *   r_hf = sqrt(n_hf) * (mean S_hf + c - mean d_hf) one term for the rest
 *
 * with d the desired EQ (target - measurement), S_i the bands' summed dB
 * response and c a free level. The high-frequency term weighs as much as
 * the n_hf points it stands for would if each were replaced by the mean,
 * which is AutoEq's treatment of the treble. Bands are parametrised as
 * (log2 f, log2 Q, gain), where equal steps mean about equal changes of
 * shape at any frequency; shelves have their gain only.
 *
 * Each band's gain also adds (GAIN_PENALTY * sqrt(n_lo) * gain)^2: a
 * little ridge that keeps bands from cancelling each other.
 *
 * Levenberg-Marquardt with a forward-difference Jacobian: each band's
 * response is kept, so a column costs one band's response on the grid.
 * Steps are clamped to the limits (a projected method); a parameter at a
 * limit that the descent would push further out sits out the step.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iem-dsp.h"
#include "curve-private.h"

#define GRID_F0		20.0
#define GRID_F1		20000.0
#define MAX_PARAMS	(3 * IEM_MAX_BANDS + 1)
#define LM_MAX_ITER	200
#define LM_LAMBDA0	1e-3
#define LM_LAMBDA_MAX	1e10
/* a step that gains less than this share of the cost, or less than
 * LM_ATOL dB^2 per grid point (an rms of 0.0003 dB: nothing anyone hears
 * or a file's 0.01 dB holds), several times in a row, ends the
 * optimisation */
#define LM_RTOL		1e-6
#define LM_ATOL		1e-7
#define LM_SLOW_STEPS	3
/* forward-difference steps: octaves, log2 Q, dB */
#define STEP_X		1e-5
#define STEP_Y		1e-5
#define STEP_G		1e-4

/* Every dB of a band's gain costs as much as this rms error (dB) over the
 * fitted range: without it, bands that nearly cancel (a wide cut under
 * two boosts) buy hundredths of a dB with headroom and noise. */
#ifndef GAIN_PENALTY
#define GAIN_PENALTY	0.02
#endif

/* what a ParametricEQ.txt holds */
#define ROUND_FREQ	10.0	/* 0.1 Hz */
#define ROUND_Q		1000.0	/* 0.001 */
#define ROUND_GAIN	100.0	/* 0.01 dB */

struct fband {
	enum iem_filter_type type;
	bool free;		/* frequency and Q are fitted too (peaking) */
	double x, y, g;		/* log2 f, log2 Q, dB */
};

/* One fitted parameter: band b's x, y or g (b == UINT32_MAX: the level). */
struct param {
	uint32_t band;
	int what;		/* 0 x, 1 y, 2 g */
};

struct fit {
	const struct iem_fit_config *cfg;
	uint32_t n;		/* grid points */
	uint32_t n_lo;		/* of them, up to fit_max */
	double sqrt_hf;		/* sqrt(n - n_lo) */
	double pen;		/* weight of a band's gain in the cost */
	double *freq, *phi, *d;	/* n each */
	double mean_d_hf;

	uint32_t n_bands;
	struct fband band[IEM_MAX_BANDS];
	double *resp;		/* n_bands x n */
	double *sum;		/* n */
	double c;

	double xmin, xmax, ymin, ymax;

	/* the optimiser */
	uint32_t n_params;
	struct param param[MAX_PARAMS];
	double *jac;		/* rows (see residual_vec()) x MAX_PARAMS */
	double *col;		/* n: a band's response, perturbed */
	uint32_t iterations;
};

void iem_fit_config_init(struct iem_fit_config *cfg)
{
	*cfg = (struct iem_fit_config) {
		.bands = 10,
		.shelves = true,
		.rate = 48000.0,
		.low_shelf_freq = 105.0,
		.high_shelf_freq = 10000.0,
		.shelf_q = 0.7,
		.freq_min = 20.0,
		.freq_max = 10000.0,
		.q_min = 0.18248,
		.q_max = 6.0,
		.gain_max = 20.0,
		.fit_max = 10000.0,
	};
}

static bool config_ok(const struct iem_fit_config *c)
{
	return c->bands >= 1 && c->bands <= IEM_MAX_BANDS &&
		c->rate >= IEM_MIN_RATE && c->rate <= IEM_MAX_RATE &&
		c->low_shelf_freq >= IEM_FREQ_MIN && c->low_shelf_freq <= IEM_FREQ_MAX &&
		c->high_shelf_freq >= IEM_FREQ_MIN && c->high_shelf_freq <= IEM_FREQ_MAX &&
		c->shelf_q >= IEM_Q_MIN && c->shelf_q <= IEM_Q_MAX &&
		c->freq_min >= IEM_FREQ_MIN && c->freq_max <= IEM_FREQ_MAX &&
		c->freq_min < c->freq_max &&
		c->q_min >= IEM_Q_MIN && c->q_max <= IEM_Q_MAX && c->q_min <= c->q_max &&
		c->gain_max > 0.0 && c->gain_max <= IEM_GAIN_MAX &&
		c->fit_max > GRID_F0 * 2.0 && c->fit_max <= GRID_F1;
}

static double clamp(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* ---- responses ------------------------------------------------------------ */

static void band_response(const struct fit *f, const struct fband *b, double *out)
{
	struct iem_biquad bq;

	iem_biquad_design(&bq, b->type, f->cfg->rate, exp2(b->x), exp2(b->y), b->g);
	/* iem_biquad_magnitude_db()'s closed form, with phi per point kept */
	const double bs = bq.b0 + bq.b1 + bq.b2, as = 1.0 + bq.a1 + bq.a2;
	const double nb = bq.b0 * bq.b2, nv = bq.b1 * (bq.b0 + bq.b2) + 4.0 * bq.b0 * bq.b2;
	const double dv = bq.a1 * (1.0 + bq.a2) + 4.0 * bq.a2;
	for (uint32_t i = 0; i < f->n; i++) {
		const double phi = f->phi[i];
		const double num = bs * bs + (nb * phi - nv) * phi;
		const double den = as * as + (bq.a2 * phi - dv) * phi;
		out[i] = 10.0 * log10(fmax(num, 1e-300) / den);
	}
}

static void update_sum(struct fit *f)
{
	memset(f->sum, 0, f->n * sizeof(double));
	for (uint32_t b = 0; b < f->n_bands; b++) {
		const double *r = f->resp + (size_t)b * f->n;
		for (uint32_t i = 0; i < f->n; i++)
			f->sum[i] += r[i];
	}
}

static double mean_hf(const struct fit *f, const double *v)
{
	double s = 0.0;
	for (uint32_t i = f->n_lo; i < f->n; i++)
		s += v[i];
	return s / (double)(f->n - f->n_lo);
}

/* The best level for the current bands: the mean of d - S over the whole
 * grid (the treble term counts as its n_hf points). */
static void best_level(struct fit *f)
{
	double s = 0.0;
	for (uint32_t i = 0; i < f->n; i++)
		s += f->d[i] - f->sum[i];
	f->c = s / (double)f->n;
}

static double cost(const struct fit *f)
{
	double s = 0.0, e;
	for (uint32_t i = 0; i < f->n_lo; i++) {
		e = f->sum[i] + f->c - f->d[i];
		s += e * e;
	}
	e = f->sqrt_hf * (mean_hf(f, f->sum) + f->c - f->mean_d_hf);
	s += e * e;
	for (uint32_t b = 0; b < f->n_bands; b++)
		s += f->pen * f->pen * f->band[b].g * f->band[b].g;
	return s;
}

/* ---- placing a peaking band ---------------------------------------------- */

/* Puts band b (peaking) on the largest area of remaining error between
 * freq_min and freq_max: the longest-and-highest run of one sign, at its
 * highest point, as wide as where the error is above half of that. Its
 * own response must not be in f->sum. */
static void place_peak(struct fit *f, uint32_t b)
{
	const struct iem_fit_config *cfg = f->cfg;
	double *e = f->col, best_area = -1.0;
	uint32_t i, lo = f->n, hi = 0, best_k = 0, k;

	best_level(f);
	for (i = 0; i < f->n_lo; i++) {
		e[i] = f->d[i] - f->sum[i] - f->c;
		if (f->freq[i] >= cfg->freq_min && f->freq[i] <= cfg->freq_max) {
			lo = i < lo ? i : lo;
			hi = i;
		}
	}
	for (i = lo; i <= hi && lo <= hi; ) {
		uint32_t j = i, peak = i;
		double area = 0.0;
		while (j <= hi && (e[j] >= 0.0) == (e[i] >= 0.0)) {
			area += fabs(e[j]);
			if (fabs(e[j]) > fabs(e[peak]))
				peak = j;
			j++;
		}
		if (area > best_area) {
			best_area = area;
			best_k = peak;
		}
		i = j;
	}

	k = best_k;
	double g = e[k], half = fabs(g) / 2.0;
	uint32_t l = k, r = k;
	while (l > lo && (e[l - 1] >= 0.0) == (g >= 0.0) && fabs(e[l - 1]) >= half)
		l--;
	while (r < hi && (e[r + 1] >= 0.0) == (g >= 0.0) && fabs(e[r + 1]) >= half)
		r++;
	/* between the half-height points, the RBJ peaking bandwidth */
	double bw = (double)(r - l + 1) / IEM_FIT_GRID_PER_OCT;
	double q = 1.0 / (2.0 * sinh(M_LN2 / 2.0 * bw));

	f->band[b].type = IEM_FILTER_PEAKING;
	f->band[b].free = true;
	f->band[b].x = clamp(log2(f->freq[k]), f->xmin, f->xmax);
	f->band[b].y = clamp(log2(q), f->ymin, f->ymax);
	f->band[b].g = clamp(g, -cfg->gain_max, cfg->gain_max);
	band_response(f, &f->band[b], f->resp + (size_t)b * f->n);
}

/* ---- Levenberg-Marquardt ------------------------------------------------- */

static double *param_ref(struct fit *f, const struct param *p)
{
	struct fband *b = &f->band[p->band];
	return p->what == 0 ? &b->x : p->what == 1 ? &b->y : &b->g;
}

static void param_clamp(struct fit *f, const struct param *p)
{
	double *v = param_ref(f, p);
	if (p->what == 0)
		*v = clamp(*v, f->xmin, f->xmax);
	else if (p->what == 1)
		*v = clamp(*v, f->ymin, f->ymax);
	else
		*v = clamp(*v, -f->cfg->gain_max, f->cfg->gain_max);
}

/* True when p is at one of its limits and dir points beyond it. */
static bool at_limit(struct fit *f, const struct param *p, double dir)
{
	double v = *param_ref(f, p), lo, hi;

	if (p->what == 0) {
		lo = f->xmin;
		hi = f->xmax;
	} else if (p->what == 1) {
		lo = f->ymin;
		hi = f->ymax;
	} else {
		lo = -f->cfg->gain_max;
		hi = f->cfg->gain_max;
	}
	return (v <= lo && dir < 0.0) || (v >= hi && dir > 0.0);
}

/* The parameters of bands [0, n_bands) (active[b] true), and the level. */
static void select_params(struct fit *f, const bool *active)
{
	f->n_params = 0;
	for (uint32_t b = 0; b < f->n_bands; b++) {
		if (!active[b])
			continue;
		for (int w = f->band[b].free ? 0 : 2; w < 3; w++)
			f->param[f->n_params++] = (struct param) { b, w };
	}
	f->param[f->n_params++] = (struct param) { UINT32_MAX, 0 };
}

static void jacobian(struct fit *f)
{
	const uint32_t np = f->n_params;

	for (uint32_t j = 0; j < np; j++) {
		const struct param *p = &f->param[j];
		double *col = f->col;

		for (uint32_t b = 0; b < f->n_bands; b++)
			f->jac[(size_t)(f->n_lo + 1 + b) * MAX_PARAMS + j] =
				p->band == b && p->what == 2 ? f->pen : 0.0;
		if (p->band == UINT32_MAX) {
			for (uint32_t i = 0; i < f->n_lo; i++)
				f->jac[(size_t)i * MAX_PARAMS + j] = 1.0;
			f->jac[(size_t)f->n_lo * MAX_PARAMS + j] = f->sqrt_hf;
			continue;
		}
		double *v = param_ref(f, p), keep = *v;
		double h = p->what == 0 ? STEP_X : p->what == 1 ? STEP_Y : STEP_G;
		/* step inwards at an upper limit */
		double hi = p->what == 0 ? f->xmax : p->what == 1 ? f->ymax : f->cfg->gain_max;
		if (keep + h > hi)
			h = -h;
		*v = keep + h;
		band_response(f, &f->band[p->band], col);
		*v = keep;
		const double *r = f->resp + (size_t)p->band * f->n;
		double shf = 0.0;
		for (uint32_t i = 0; i < f->n_lo; i++)
			f->jac[(size_t)i * MAX_PARAMS + j] = (col[i] - r[i]) / h;
		for (uint32_t i = f->n_lo; i < f->n; i++)
			shf += col[i] - r[i];
		f->jac[(size_t)f->n_lo * MAX_PARAMS + j] =
			f->sqrt_hf * shf / (double)(f->n - f->n_lo) / h;
	}
}

/* Solves (A + lambda diag(A)) x = -g by Cholesky; false when not positive
 * definite. A is np x np (row stride MAX_PARAMS), overwritten by L. */
static bool solve(double *a, const double *diag, double lambda, const double *g,
		double *x, uint32_t np)
{
	for (uint32_t i = 0; i < np; i++)
		a[(size_t)i * MAX_PARAMS + i] = diag[i] * (1.0 + lambda) + 1e-12;
	for (uint32_t j = 0; j < np; j++) {
		double s = a[(size_t)j * MAX_PARAMS + j];
		for (uint32_t k = 0; k < j; k++)
			s -= a[(size_t)j * MAX_PARAMS + k] * a[(size_t)j * MAX_PARAMS + k];
		if (!(s > 0.0))
			return false;
		double l = sqrt(s);
		a[(size_t)j * MAX_PARAMS + j] = l;
		for (uint32_t i = j + 1; i < np; i++) {
			double t = a[(size_t)i * MAX_PARAMS + j];
			for (uint32_t k = 0; k < j; k++)
				t -= a[(size_t)i * MAX_PARAMS + k] * a[(size_t)j * MAX_PARAMS + k];
			a[(size_t)i * MAX_PARAMS + j] = t / l;
		}
	}
	for (uint32_t i = 0; i < np; i++) {
		double t = -g[i];
		for (uint32_t k = 0; k < i; k++)
			t -= a[(size_t)i * MAX_PARAMS + k] * x[k];
		x[i] = t / a[(size_t)i * MAX_PARAMS + i];
	}
	for (uint32_t i = np; i-- > 0; ) {
		double t = x[i];
		for (uint32_t k = i + 1; k < np; k++)
			t -= a[(size_t)k * MAX_PARAMS + i] * x[k];
		x[i] = t / a[(size_t)i * MAX_PARAMS + i];
	}
	return true;
}

/* Sets the parameters to base + step (clamped) and recomputes the
 * responses of the bands they belong to. */
static void apply(struct fit *f, const double *base, const double *step)
{
	for (uint32_t j = 0; j < f->n_params; j++) {
		const struct param *p = &f->param[j];
		if (p->band == UINT32_MAX) {
			f->c = base[j] + (step ? step[j] : 0.0);
			continue;
		}
		*param_ref(f, p) = base[j] + (step ? step[j] : 0.0);
		param_clamp(f, p);
	}
	for (uint32_t j = 0; j < f->n_params; j++) {
		const struct param *p = &f->param[j];
		/* once per band: at its last parameter */
		if (p->band != UINT32_MAX && (j + 1 == f->n_params || f->param[j + 1].band != p->band))
			band_response(f, &f->band[p->band], f->resp + (size_t)p->band * f->n);
	}
	update_sum(f);
}

static double residual_vec(const struct fit *f, double *r)
{
	double s = 0.0;
	for (uint32_t i = 0; i < f->n_lo; i++) {
		r[i] = f->sum[i] + f->c - f->d[i];
		s += r[i] * r[i];
	}
	r[f->n_lo] = f->sqrt_hf * (mean_hf(f, f->sum) + f->c - f->mean_d_hf);
	s += r[f->n_lo] * r[f->n_lo];
	for (uint32_t b = 0; b < f->n_bands; b++) {
		double *e = &r[f->n_lo + 1 + b];
		*e = f->pen * f->band[b].g;
		s += *e * *e;
	}
	return s;
}

/* Optimises the selected parameters; returns the final cost. */
static double optimise(struct fit *f, double *work)
{
	const uint32_t np = f->n_params, m = f->n_lo + 1 + f->n_bands;
	double *r = work, *a = r + m, *g = a + (size_t)MAX_PARAMS * MAX_PARAMS;
	double *diag = g + MAX_PARAMS, *x0 = diag + MAX_PARAMS, *step = x0 + MAX_PARAMS;
	double lambda = LM_LAMBDA0, c0;
	int slow = 0;

	best_level(f);
	c0 = residual_vec(f, r);
	for (uint32_t it = 0; it < LM_MAX_ITER; it++) {
		jacobian(f);
		for (uint32_t j = 0; j < np; j++) {
			x0[j] = f->param[j].band == UINT32_MAX ? f->c : *param_ref(f, &f->param[j]);
			double s = 0.0;
			for (uint32_t i = 0; i < m; i++)
				s += f->jac[(size_t)i * MAX_PARAMS + j] * r[i];
			g[j] = s;
			for (uint32_t k = 0; k <= j; k++) {
				double t = 0.0;
				for (uint32_t i = 0; i < m; i++)
					t += f->jac[(size_t)i * MAX_PARAMS + j] *
						f->jac[(size_t)i * MAX_PARAMS + k];
				diag[j] = k == j ? t : diag[j];
				if (k < j)
					a[(size_t)j * MAX_PARAMS + k] = t;
			}
		}
		f->iterations++;

		/* a parameter at a limit that the descent pushes further out
		 * stays where it is this time: clamping its share of the step
		 * would leave the others a step meant for a different point */
		for (uint32_t j = 0; j < np; j++) {
			const struct param *p = &f->param[j];
			if (p->band == UINT32_MAX || !at_limit(f, p, -g[j]))
				continue;
			g[j] = 0.0;
			diag[j] = 1.0;
			for (uint32_t k = 0; k < np; k++) {
				if (k < j)
					a[(size_t)j * MAX_PARAMS + k] = 0.0;
				else if (k > j)
					a[(size_t)k * MAX_PARAMS + j] = 0.0;
			}
		}

		bool better = false;
		double c1 = c0;
		while (lambda < LM_LAMBDA_MAX) {
			/* solve() overwrites the lower triangle: work on a copy
			 * kept in the upper one */
			for (uint32_t j = 0; j < np; j++)
				for (uint32_t k = 0; k < j; k++)
					a[(size_t)k * MAX_PARAMS + j] = a[(size_t)j * MAX_PARAMS + k];
			bool ok = solve(a, diag, lambda, g, step, np);
			for (uint32_t j = 0; j < np; j++)
				for (uint32_t k = 0; k < j; k++)
					a[(size_t)j * MAX_PARAMS + k] = a[(size_t)k * MAX_PARAMS + j];
			if (ok) {
				apply(f, x0, step);
				c1 = cost(f);
				if (c1 < c0) {
					better = true;
					lambda = fmax(lambda / 3.0, 1e-12);
					break;
				}
			}
			lambda *= 4.0;
		}
		if (!better) {
			apply(f, x0, NULL);
			break;
		}
		slow = c0 - c1 < fmax(LM_RTOL * c0, LM_ATOL * m) ? slow + 1 : 0;
		c0 = residual_vec(f, r);
		if (slow >= LM_SLOW_STEPS || c0 == 0.0)
			break;
	}
	return c0;
}

/* ---- the whole fit ------------------------------------------------------- */

static int fit_alloc(struct fit *f, const struct iem_fit_config *cfg)
{
	memset(f, 0, sizeof(*f));
	f->cfg = cfg;
	f->n = (uint32_t)floor(IEM_FIT_GRID_PER_OCT * log2(GRID_F1 / GRID_F0)) + 1;
	f->freq = calloc((size_t)f->n * (5 + IEM_MAX_BANDS), sizeof(double));
	f->jac = calloc((size_t)(f->n + 1 + IEM_MAX_BANDS) * MAX_PARAMS, sizeof(double));
	if (f->freq == NULL || f->jac == NULL) {
		free(f->freq);
		free(f->jac);
		return -ENOMEM;
	}
	f->phi = f->freq + f->n;
	f->d = f->phi + f->n;
	f->sum = f->d + f->n;
	f->col = f->sum + f->n;
	f->resp = f->col + f->n;
	for (uint32_t i = 0; i < f->n; i++) {
		double s;
		f->freq[i] = GRID_F0 * exp2((double)i / IEM_FIT_GRID_PER_OCT);
		s = sin(M_PI * fmin(f->freq[i], 0.49 * cfg->rate) / cfg->rate);
		f->phi[i] = 4.0 * s * s;
		if (f->freq[i] <= cfg->fit_max * (1.0 + 1e-9))
			f->n_lo = i + 1;
	}
	if (f->n_lo >= f->n)
		f->n_lo = f->n - 1;
	f->sqrt_hf = sqrt((double)(f->n - f->n_lo));
	f->pen = GAIN_PENALTY * sqrt((double)f->n_lo);
	f->xmin = log2(cfg->freq_min);
	f->xmax = log2(cfg->freq_max);
	f->ymin = log2(cfg->q_min);
	f->ymax = log2(cfg->q_max);
	return 0;
}

static void fit_free(struct fit *f)
{
	free(f->freq);
	free(f->jac);
}

struct snapshot {
	struct fband band[IEM_MAX_BANDS];
	double cost;
};

static void restore(struct fit *f, const struct snapshot *s)
{
	memcpy(f->band, s->band, sizeof(f->band));
	for (uint32_t b = 0; b < f->n_bands; b++)
		band_response(f, &f->band[b], f->resp + (size_t)b * f->n);
	update_sum(f);
	best_level(f);
}

static int by_type_and_freq(const void *pa, const void *pb)
{
	const struct iem_band *a = pa, *b = pb;
	/* low shelf, peaking bands by frequency, high shelf */
	int ra = a->type == IEM_FILTER_LOWSHELF ? 0 : a->type == IEM_FILTER_HIGHSHELF ? 2 : 1;
	int rb = b->type == IEM_FILTER_LOWSHELF ? 0 : b->type == IEM_FILTER_HIGHSHELF ? 2 : 1;
	if (ra != rb)
		return ra - rb;
	return (a->freq > b->freq) - (a->freq < b->freq);
}

static double round_to(double v, double scale)
{
	/* an integer divided by a power of ten: the double that the decimal
	 * text of that many places parses to */
	return round(v * scale) / scale;
}

static void fit_run(struct fit *f, double *work)
{
	const struct iem_fit_config *cfg = f->cfg;
	bool active[IEM_MAX_BANDS] = { false };
	uint32_t n_peaks, b;
	struct snapshot best;

	/* shelves first, on their own */
	f->n_bands = 0;
	if (cfg->shelves && cfg->bands >= 3) {
		f->band[0] = (struct fband) { IEM_FILTER_LOWSHELF, false,
			log2(cfg->low_shelf_freq), log2(cfg->shelf_q), 0.0 };
		f->band[1] = (struct fband) { IEM_FILTER_HIGHSHELF, false,
			log2(cfg->high_shelf_freq), log2(cfg->shelf_q), 0.0 };
		f->n_bands = 2;
		for (b = 0; b < 2; b++) {
			band_response(f, &f->band[b], f->resp + (size_t)b * f->n);
			active[b] = true;
		}
		update_sum(f);
		select_params(f, active);
		optimise(f, work);
	}
	n_peaks = cfg->bands - f->n_bands;

	/* then each peaking band on the largest error left */
	for (uint32_t k = 0; k < n_peaks; k++) {
		b = f->n_bands++;
		update_sum(f);	/* without band b */
		place_peak(f, b);
		update_sum(f);
	}

	/* all of them together */
	for (b = 0; b < f->n_bands; b++)
		active[b] = true;
	select_params(f, active);
	best_level(f);
	memcpy(best.band, f->band, sizeof(best.band));
	best.cost = optimise(f, work);
	memcpy(best.band, f->band, sizeof(best.band));

	/* move the band that does least to the largest error left, while
	 * that helps */
	for (uint32_t round = 0; round < n_peaks; round++) {
		uint32_t weakest = UINT32_MAX;
		double weakest_cost = HUGE_VAL;
		for (b = 0; b < f->n_bands; b++) {
			if (!f->band[b].free)
				continue;
			/* the cost without band b */
			const double *r = f->resp + (size_t)b * f->n;
			for (uint32_t i = 0; i < f->n; i++)
				f->sum[i] -= r[i];
			best_level(f);
			double c = cost(f);
			for (uint32_t i = 0; i < f->n; i++)
				f->sum[i] += r[i];
			if (c < weakest_cost) {
				weakest_cost = c;
				weakest = b;
			}
		}
		if (weakest == UINT32_MAX)
			break;
		const double *r = f->resp + (size_t)weakest * f->n;
		for (uint32_t i = 0; i < f->n; i++)
			f->sum[i] -= r[i];
		place_peak(f, weakest);
		update_sum(f);
		select_params(f, active);
		double c = optimise(f, work);
		/* worth a change only when clearly better (cf. LM_ATOL) */
		if (c < best.cost * 0.98 && best.cost - c > 100.0 * LM_ATOL * f->n_lo) {
			memcpy(best.band, f->band, sizeof(best.band));
			best.cost = c;
		} else {
			restore(f, &best);
			break;
		}
	}
	restore(f, &best);
}

int iem_fit(const struct iem_curve *measurement, const struct iem_curve *target,
		const struct iem_fit_config *cfg, struct iem_params *out,
		struct iem_fit_result *result)
{
	struct iem_fit_config defaults;
	struct iem_headroom h;
	struct iem_params p;
	struct fit f;
	double *work;
	int res;

	if (cfg == NULL) {
		iem_fit_config_init(&defaults);
		cfg = &defaults;
	}
	if (target == NULL || out == NULL || !config_ok(cfg))
		return -EINVAL;
	if ((res = fit_alloc(&f, cfg)) < 0)
		return res;
	work = calloc((size_t)f.n + 1 + IEM_MAX_BANDS + (size_t)MAX_PARAMS * MAX_PARAMS + 4 * MAX_PARAMS,
			sizeof(double));
	if (work == NULL) {
		fit_free(&f);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < f.n; i++)
		f.d[i] = iem_curve_db(target, f.freq[i]) -
			(measurement ? iem_curve_db(measurement, f.freq[i]) : 0.0);
	f.mean_d_hf = mean_hf(&f, f.d);

	fit_run(&f, work);

	/* the bands as a ParametricEQ.txt holds them */
	p = *out;
	for (uint32_t b = 0; b < IEM_MAX_BANDS; b++) {
		struct iem_band *band = &p.band[b];
		if (b < f.n_bands) {
			const struct fband *fb = &f.band[b];
			band->type = fb->type;
			band->freq = clamp(round_to(exp2(fb->x), ROUND_FREQ), IEM_FREQ_MIN, IEM_FREQ_MAX);
			band->q = clamp(round_to(exp2(fb->y), ROUND_Q), IEM_Q_MIN, IEM_Q_MAX);
			band->gain = round_to(fb->g, ROUND_GAIN);
		} else {
			*band = (struct iem_band) { IEM_FILTER_OFF, 1000.0, 0.7071, 0.0, 0 };
		}
		band->channels = IEM_CHANNELS_BOTH;
	}
	qsort(p.band, f.n_bands, sizeof(p.band[0]), by_type_and_freq);

	/* no gain above 0 dB anywhere: the preamp takes off the peak,
	 * rounded up to the next 0.01 dB */
	p.preamp_auto = true;
	p.output_gain = 0.0;
	iem_params_headroom(&p, cfg->rate, &h);
	p.preamp_auto = false;
	p.preamp = h.eq_peak > 0.0 ? -ceil(h.eq_peak * ROUND_GAIN - 1e-9) / ROUND_GAIN : 0.0;
	p.output_gain = out->output_gain;

	if (result != NULL) {
		iem_fit_residual(measurement, target, &p, cfg->rate, cfg->fit_max, result);
		result->eq_peak_db = h.eq_peak;
		result->iterations = f.iterations;
	}
	/* only the EQ part: the rest of out stays */
	memcpy(out->band, p.band, sizeof(p.band));
	out->preamp_auto = false;
	out->preamp = p.preamp;

	free(work);
	fit_free(&f);
	return 0;
}

int iem_fit_residual(const struct iem_curve *measurement, const struct iem_curve *target,
		const struct iem_params *p, double rate, double fit_max,
		struct iem_fit_result *result)
{
	const uint32_t n = (uint32_t)floor(IEM_FIT_GRID_PER_OCT * log2(GRID_F1 / GRID_F0)) + 1;
	double sum_lo = 0.0, sum_hf = 0.0, sq = 0.0, mx = 0.0, mean;
	uint32_t n_lo = 0, n_hf = 0;
	struct iem_headroom h;

	if (target == NULL || p == NULL || result == NULL || !(rate >= IEM_MIN_RATE) ||
	    !(rate <= IEM_MAX_RATE) || !(fit_max > GRID_F0) || !(fit_max <= GRID_F1))
		return -EINVAL;

	/* two passes: the mean, then the spread around it */
	for (int pass = 0; pass < 2; pass++) {
		mean = n_lo > 0 ? sum_lo / n_lo : 0.0;
		for (uint32_t i = 0; i < n; i++) {
			double f = GRID_F0 * exp2((double)i / IEM_FIT_GRID_PER_OCT);
			double e = (measurement ? iem_curve_db(measurement, f) : 0.0) +
				iem_params_response_db(p, rate, 0, f) - iem_curve_db(target, f);
			bool lo = f <= fit_max * (1.0 + 1e-9);
			if (pass == 0) {
				if (lo) {
					sum_lo += e;
					n_lo++;
				} else {
					sum_hf += e;
					n_hf++;
				}
			} else if (lo) {
				sq += (e - mean) * (e - mean);
				mx = fmax(mx, fabs(e - mean));
			}
		}
	}
	memset(result, 0, sizeof(*result));
	result->rms_db = sqrt(sq / n_lo);
	result->max_db = mx;
	result->treble_db = n_hf > 0 ? sum_hf / n_hf - sum_lo / n_lo : 0.0;
	iem_params_headroom(p, rate, &h);
	result->eq_peak_db = h.eq_peak;
	return 0;
}

int iem_graphic_eq_fit(const char *text, size_t len, const struct iem_fit_config *cfg,
		struct iem_params *out, struct iem_fit_result *result,
		struct iem_parse_error *err)
{
	struct iem_curve *wanted;
	int res;

	if (out == NULL) {
		if (err != NULL) {
			memset(err, 0, sizeof(*err));
			snprintf(err->message, sizeof(err->message), "invalid arguments");
		}
		return -EINVAL;
	}
	if ((res = iem_graphic_eq_parse(text, len, &wanted, err)) < 0)
		return res;
	res = iem_fit(NULL, wanted, cfg, out, result);
	iem_curve_free(wanted);
	if (res < 0 && err != NULL)
		snprintf(err->message, sizeof(err->message), "%s",
				res == -ENOMEM ? "out of memory" : "invalid arguments");
	return res;
}
