/* SPDX-License-Identifier: MIT */
/*
 * EQ fitting: synthetic measurements (a target minus a known set of
 * filters) are fitted back to a small residual; the preamp keeps the EQ
 * at or below 0 dB; the limits hold; the result is deterministic; the
 * figures iem_fit() reports agree with an independent computation; the
 * time of each fit is printed (never asserted).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iem-dsp.h"
#include "iem-test.h"

#define RATE		48000.0
#define RESIDUAL_MAX	0.5	/* dB rms, 20 Hz … 10 kHz */
#define POINTS_PER_OCT	96

struct filt {
	enum iem_filter_type type;
	double freq, q, gain;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double filters_db(const struct filt *fl, int n, double f)
{
	double db = 0.0;
	for (int i = 0; i < n; i++) {
		struct iem_biquad bq;
		iem_biquad_design(&bq, fl[i].type, RATE, fl[i].freq, fl[i].q, fl[i].gain);
		db += iem_biquad_magnitude_db(&bq, RATE, f);
	}
	return db;
}

/* A measurement that the filters turn into the target (plus a level):
 * target - filters + level, at 1/96 octave from 20 Hz to 20 kHz. */
static struct iem_curve *synthetic(const struct iem_curve *target, const struct filt *fl,
		int n, double level)
{
	const int np = (int)(POINTS_PER_OCT * log2(1000.0)) + 2;
	double *f = calloc(np, sizeof(double)), *db = calloc(np, sizeof(double));
	struct iem_curve *c;

	if (f == NULL || db == NULL)
		abort();
	for (int i = 0; i < np; i++) {
		f[i] = fmin(20.0 * exp2((double)i / POINTS_PER_OCT), 20000.0 + i);
		db[i] = iem_curve_db(target, f[i]) - filters_db(fl, n, f[i]) + level;
	}
	c = iem_curve_new(f, db, np);
	free(f);
	free(db);
	return c;
}

/* The residual computed here, independently of iem_fit_residual(): the
 * rms over 1/48 octave 20 Hz … 10 kHz of measurement + EQ - target, mean
 * removed. */
static double residual(const struct iem_curve *m, const struct iem_curve *t,
		const struct iem_params *p)
{
	double s = 0.0, s2 = 0.0;
	int n = 0;
	for (int i = 0; ; i++) {
		double f = 20.0 * exp2(i / 48.0);
		if (f > 10000.0 * (1 + 1e-9))
			break;
		double e = (m ? iem_curve_db(m, f) : 0.0) + iem_params_response_db(p, RATE, 0, f) -
			iem_curve_db(t, f);
		s += e;
		s2 += e * e;
		n++;
	}
	return sqrt(fmax(s2 / n - (s / n) * (s / n), 0.0));
}

static void check_limits(const char *what, const struct iem_params *p, uint32_t bands)
{
	struct iem_fit_config cfg;
	int bad = 0, on = 0;

	iem_fit_config_init(&cfg);
	for (uint32_t i = 0; i < IEM_MAX_BANDS; i++) {
		const struct iem_band *b = &p->band[i];
		if (b->type == IEM_FILTER_OFF)
			continue;
		on++;
		if (b->type == IEM_FILTER_PEAKING &&
		    (b->freq < cfg.freq_min || b->freq > cfg.freq_max ||
		     b->q < cfg.q_min - 1e-3 || b->q > cfg.q_max || fabs(b->gain) > cfg.gain_max))
			bad++;
		if (b->type != IEM_FILTER_PEAKING && (fabs(b->gain) > cfg.gain_max ||
		    b->q != cfg.shelf_q))
			bad++;
		/* what a ParametricEQ.txt holds: 0.1 Hz, 0.001, 0.01 dB */
		if (fabs(b->freq * 10 - round(b->freq * 10)) > 1e-6 ||
		    fabs(b->q * 1000 - round(b->q * 1000)) > 1e-6 ||
		    fabs(b->gain * 100 - round(b->gain * 100)) > 1e-6)
			bad++;
	}
	check(on == (int)bands && bad == 0, "%s: %u bands, all within the limits and rounded "
			"(%d on, %d not)", what, bands, on, bad);
	check(p->band[0].type == IEM_FILTER_LOWSHELF && p->band[bands - 1].type == IEM_FILTER_HIGHSHELF,
			"%s: the low shelf first, the high shelf last", what);
}

static void fit_case(const char *what, const char *target_name, const struct filt *fl, int n,
		double level)
{
	struct iem_curve *t = NULL, *m;
	struct iem_fit_result r;
	struct iem_headroom h;
	struct iem_params p;
	double t0, t1;
	int res;

	iem_target_find(target_name, &t);
	m = synthetic(t, fl, n, level);
	if (!check(t != NULL && m != NULL, "%s: curves made", what))
		return;
	iem_params_init(&p);
	p.output_gain = -2.5;
	t0 = now();
	res = iem_fit(m, t, NULL, &p, &r);
	t1 = now();
	if (!check(res == 0, "%s: fitted (%d)", what, res))
		goto done;
	double mine = residual(m, t, &p);
	check(mine < RESIDUAL_MAX, "%s: %d filters recovered to %.3f dB rms (< %.1f)",
			what, n, mine, RESIDUAL_MAX);
	check(fabs(r.rms_db - mine) < 1e-6, "%s: the reported residual is the one computed here "
			"(%.6f, %.6f)", what, r.rms_db, mine);
	diag("%s: residual %.3f dB rms, max %.3f dB, treble %+.3f dB, EQ peak %+.2f dB, "
			"preamp %.2f dB, %u iterations, %.1f ms", what, r.rms_db, r.max_db,
			r.treble_db, r.eq_peak_db, p.preamp, r.iterations, (t1 - t0) * 1e3);
	check_limits(what, &p, 10);

	iem_params_headroom(&p, RATE, &h);
	check(!p.preamp_auto && h.eq_peak + p.preamp <= 0.0 && h.eq_peak + p.preamp > -0.02,
			"%s: preamp %.2f dB takes off the EQ's peak %.3f dB (%.4f left)",
			what, p.preamp, h.eq_peak, h.eq_peak + p.preamp);
	check(p.output_gain == -2.5, "%s: the rest of the parameters stays", what);

	/* deterministic: the same again */
	struct iem_params p2;
	iem_params_init(&p2);
	p2.output_gain = -2.5;
	iem_fit(m, t, NULL, &p2, NULL);
	check(memcmp(p.band, p2.band, sizeof(p.band)) == 0 && p.preamp == p2.preamp,
			"%s: a second fit gives the same bands", what);
done:
	iem_curve_free(m);
	iem_curve_free(t);
}

static void test_synthetic(void)
{
	/* AutoEq-like corrections within the fitter's set (low shelf at
	 * 105 Hz, high shelf at 10 kHz, peaking bands) */
	static const struct filt five[] = {
		{ IEM_FILTER_LOWSHELF, 105, 0.7, 4.0 },
		{ IEM_FILTER_PEAKING, 180, 0.9, -3.5 },
		{ IEM_FILTER_PEAKING, 2300, 2.0, 3.9 },
		{ IEM_FILTER_PEAKING, 5400, 4.2, 5.1 },
		{ IEM_FILTER_HIGHSHELF, 10000, 0.7, -3.8 },
	};
	static const struct filt six[] = {
		{ IEM_FILTER_PEAKING, 40, 0.8, 5.0 },
		{ IEM_FILTER_PEAKING, 350, 1.4, -2.0 },
		{ IEM_FILTER_PEAKING, 1150, 1.3, 1.8 },
		{ IEM_FILTER_PEAKING, 3600, 3.4, -4.4 },
		{ IEM_FILTER_PEAKING, 7000, 1.9, -2.2 },
		{ IEM_FILTER_PEAKING, 9000, 2.7, 1.5 },
	};
	static const struct filt eight[] = {
		{ IEM_FILTER_LOWSHELF, 105, 0.7, -6.0 },
		{ IEM_FILTER_PEAKING, 25, 1.5, 3.0 },
		{ IEM_FILTER_PEAKING, 120, 0.6, 2.5 },
		{ IEM_FILTER_PEAKING, 800, 0.5, -1.5 },
		{ IEM_FILTER_PEAKING, 1900, 1.1, 4.5 },
		{ IEM_FILTER_PEAKING, 3000, 5.0, -6.0 },
		{ IEM_FILTER_PEAKING, 6000, 3.0, 7.0 },
		{ IEM_FILTER_PEAKING, 8200, 6.0, -5.0 },
	};

	fit_case("5 filters, harman-ie-2019", "harman-ie-2019", five, 5, 0.0);
	fit_case("6 peaking, harman-ie-2019-nobass, +20 dB level", "harman-ie-2019-nobass",
			six, 6, 20.0);
	fit_case("8 filters, harman-ie-2019", "harman-ie-2019", eight, 8, -7.0);
}

/* A measurement that is the target already: nothing to do. */
static void test_flat(void)
{
	struct iem_curve *t = NULL;
	struct iem_fit_result r;
	struct iem_params p;
	int big = 0;

	iem_target_find("harman-ie-2019", &t);
	iem_params_init(&p);
	if (!check(iem_fit(t, t, NULL, &p, &r) == 0, "measurement = target: fitted"))
		return;
	for (int i = 0; i < IEM_MAX_BANDS; i++)
		big += fabs(p.band[i].gain) > 0.1;
	check(r.rms_db < 0.05 && big == 0, "measurement = target: no band above 0.1 dB "
			"(%d are), residual %.3f dB", big, r.rms_db);
	iem_curve_free(t);
}

static void test_bands(void)
{
	struct iem_fit_config cfg;
	struct iem_curve *t = NULL;
	struct iem_fit_result r;
	struct iem_params p;
	double last = HUGE_VAL;
	static const uint32_t counts[] = { 1, 2, 5, 10, 16 };

	iem_target_find("harman-ie-2019", &t);
	/* the EQ wanted is the target itself (measurement flat) */
	for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		int on = 0, peaking = 0;
		iem_fit_config_init(&cfg);
		cfg.bands = counts[k];
		iem_params_init(&p);
		double t0 = now();
		int res = iem_fit(NULL, t, &cfg, &p, &r);
		double t1 = now();
		for (int i = 0; i < IEM_MAX_BANDS; i++) {
			on += p.band[i].type != IEM_FILTER_OFF;
			peaking += p.band[i].type == IEM_FILTER_PEAKING;
		}
		check(res == 0 && on == (int)counts[k] &&
				peaking == (int)(counts[k] >= 3 ? counts[k] - 2 : counts[k]),
				"--bands %u: that many bands, %d peaking (%d)", counts[k], peaking, res);
		/* more bands never fit worse (a small slack for rounding) */
		check(r.rms_db <= last + 0.02, "--bands %u: residual %.3f dB, no worse than "
				"with fewer (%.3f)", counts[k], r.rms_db, last);
		diag("harman-ie-2019 as the EQ wanted, %u bands: %.3f dB rms, %.1f ms",
				counts[k], r.rms_db, (t1 - t0) * 1e3);
		last = r.rms_db;
	}

	iem_fit_config_init(&cfg);
	cfg.bands = 0;
	check(iem_fit(NULL, t, &cfg, &p, NULL) == -EINVAL, "0 bands: -EINVAL");
	cfg.bands = IEM_MAX_BANDS + 1;
	check(iem_fit(NULL, t, &cfg, &p, NULL) == -EINVAL, "33 bands: -EINVAL");
	check(iem_fit(NULL, NULL, NULL, &p, NULL) == -EINVAL, "no target: -EINVAL");
	iem_curve_free(t);
}

int main(void)
{
	test_synthetic();
	test_flat();
	test_bands();
	return iem_test_done();
}
