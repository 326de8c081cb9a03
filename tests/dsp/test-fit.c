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

/* ---- ParametricEQ.txt ------------------------------------------------------- */

static double max_response_diff(const struct iem_params *a, const struct iem_params *b)
{
	double worst = 0.0;
	for (int ch = 0; ch < 2; ch++) {
		for (int i = 0; i <= 480; i++) {
			double f = 20.0 * pow(1000.0, i / 480.0);
			double d = fabs(iem_params_response_db(a, RATE, ch, f) + a->preamp -
					iem_params_response_db(b, RATE, ch, f) - b->preamp);
			worst = fmax(worst, d);
		}
	}
	return worst;
}

/* What iem_fit() gives, written and read back: the same bands, the same
 * response (limit 0.05 dB; exactly equal in fact). */
static void test_apo_roundtrip(void)
{
	static const struct filt fl[] = {
		{ IEM_FILTER_LOWSHELF, 105, 0.7, 3.0 },
		{ IEM_FILTER_PEAKING, 210, 1.1, -2.5 },
		{ IEM_FILTER_PEAKING, 3100, 3.3, 4.5 },
		{ IEM_FILTER_PEAKING, 7400, 2.2, -3.0 },
		{ IEM_FILTER_HIGHSHELF, 10000, 0.7, 2.0 },
	};
	struct iem_curve *t = NULL, *m;
	struct iem_parse_error err;
	struct iem_params p, back;
	char text[IEM_APO_TEXT_MAX];
	int len, lines = 0;

	iem_target_find("harman-ie-2019", &t);
	m = synthetic(t, fl, 5, 3.0);
	iem_params_init(&p);
	if (!check(m != NULL && iem_fit(m, t, NULL, &p, NULL) == 0, "round trip: fitted"))
		return;
	len = iem_apo_write(&p, text, sizeof(text));
	if (!check(len > 0 && (size_t)len == strlen(text), "round trip: written (%d bytes)", len))
		return;
	for (int i = 0; i < len; i++)
		lines += text[i] == '\n';
	check(strncmp(text, "Preamp: -", 9) == 0 && lines == 11,
			"round trip: a Preamp line and 10 Filter lines (%d lines)", lines);
	for (const char *l = text; *l && l < text + len; l += strcspn(l, "\n") + 1) {
		if (l == text || strncmp(l, "Filter 1:", 9) == 0)
			diag("round trip: %.*s", (int)strcspn(l, "\n"), l);
	}
	iem_params_init(&back);
	int res = iem_apo_parse(text, (size_t)len, &back, &err);
	if (!check(res == 0, "round trip: iem_apo_parse reads it (%d, %u:%u: %s)", res,
			err.line, err.column, err.message))
		goto done;
	check(memcmp(back.band, p.band, sizeof(p.band)) == 0 && back.preamp == p.preamp &&
			!back.preamp_auto, "round trip: identical bands and preamp");
	double d = max_response_diff(&p, &back);
	check(d <= 0.05, "round trip: the same response within 0.05 dB (%.2g dB)", d);

	/* -ENOSPC, not a cut file */
	check(iem_apo_write(&p, text, 40) == -ENOSPC && text[0] == '\0',
			"a buffer too small: -ENOSPC, empty text");
done:
	iem_curve_free(m);
	iem_curve_free(t);
}

/* Any parameters, not only fitted ones: other types, channels, an
 * automatic preamp, values needing more decimals. */
static void test_apo_write_any(void)
{
	struct iem_params p, back;
	struct iem_parse_error err;
	char text[IEM_APO_TEXT_MAX];

	iem_params_init(&p);
	p.band[0] = (struct iem_band) { IEM_FILTER_PEAKING, 1234.5678, 1.41, -3.25, IEM_CHANNELS_BOTH };
	p.band[1] = (struct iem_band) { IEM_FILTER_LOWPASS, 18000, 0.7071, 0, IEM_CHANNELS_LEFT };
	p.band[3] = (struct iem_band) { IEM_FILTER_HIGHPASS, 15, 0.5, 0, IEM_CHANNELS_RIGHT };
	p.band[4] = (struct iem_band) { IEM_FILTER_NOTCH, 50, 10, 0, IEM_CHANNELS_BOTH };
	p.band[5] = (struct iem_band) { IEM_FILTER_HIGHSHELF, 8000, 0.9, 1.000001, IEM_CHANNELS_BOTH };
	int len = iem_apo_write(&p, text, sizeof(text));
	bool as_expected = len > 0 && strcmp(text,
			"Filter 1: ON PK Fc 1234.5678 Hz Gain -3.25 dB Q 1.41\n"
			"Channel: L\n"
			"Filter 2: ON LPQ Fc 18000 Hz Q 0.7071\n"
			"Channel: R\n"
			"Filter 3: ON HPQ Fc 15 Hz Q 0.5\n"
			"Channel: ALL\n"
			"Filter 4: ON NO Fc 50 Hz Q 10\n"
			"Filter 5: ON HSC Fc 8000 Hz Gain 1.000001 dB Q 0.9\n") == 0;
	check(as_expected, "any bands: written as expected");
	for (const char *l = text; !as_expected && *l; l += strcspn(l, "\n") + 1)
		diag("got: %.*s", (int)strcspn(l, "\n"), l);
	iem_params_init(&back);
	int res = iem_apo_parse(text, (size_t)len, &back, &err);
	bool same = res == 0 && back.preamp_auto;
	for (int i = 0, j = 0; i < IEM_MAX_BANDS && same; i++) {
		if (p.band[i].type == IEM_FILTER_OFF)
			continue;
		const struct iem_band *a = &p.band[i], *b = &back.band[j++];
		same = a->type == b->type && a->freq == b->freq && a->q == b->q &&
			(a->type == IEM_FILTER_PEAKING || a->type == IEM_FILTER_HIGHSHELF ?
			 a->gain == b->gain : true) && a->channels == b->channels;
	}
	check(same, "any bands: read back the same, the preamp automatic (%d %s)", res, err.message);
}

/* ---- GraphicEQ.txt ----------------------------------------------------------- */

static char *graphic_eq_text(const struct filt *fl, int n, double level)
{
	/* AutoEq's layout: 127 points from 20 Hz up, "%g %.1f" */
	size_t size = 16384, len = 0;
	char *text = malloc(size);

	if (text == NULL)
		abort();
	len += (size_t)snprintf(text, size, "GraphicEQ: ");
	for (int i = 0; i < 127; i++) {
		double f = round(20.0 * pow(1000.0, i / 126.0));
		len += (size_t)snprintf(text + len, size - len, "%s%g %.1f", i ? "; " : "", f,
				filters_db(fl, n, f) + level);
	}
	return text;
}

static void test_graphic_roundtrip(void)
{
	static const struct filt fl[] = {
		{ IEM_FILTER_PEAKING, 60, 0.8, 4.0 },
		{ IEM_FILTER_PEAKING, 300, 1.2, -3.0 },
		{ IEM_FILTER_PEAKING, 1200, 0.7, 1.5 },
		{ IEM_FILTER_PEAKING, 2500, 2.0, 5.0 },
		{ IEM_FILTER_PEAKING, 4300, 5.0, -2.5 },
		{ IEM_FILTER_PEAKING, 6000, 4.0, -4.0 },
		{ IEM_FILTER_HIGHSHELF, 10000, 0.7, -3.0 },
	};
	char *text = graphic_eq_text(fl, 7, -6.0);
	struct iem_parse_error err;
	struct iem_fit_result r;
	struct iem_params p;
	double s = 0, s2 = 0;
	int n = 0;

	iem_params_init(&p);
	double t0 = now();
	int res = iem_graphic_eq_fit(text, strlen(text), NULL, &p, &r, &err);
	double t1 = now();
	if (!check(res == 0, "GraphicEQ: fitted (%d, %u:%u: %s)", res, err.line, err.column,
			err.message))
		goto done;
	/* against the filters the file was made from, not the file */
	for (int i = 0; ; i++) {
		double f = 20.0 * exp2(i / 48.0);
		if (f > 10000.0)
			break;
		double e = iem_params_response_db(&p, RATE, 0, f) - filters_db(fl, 7, f);
		s += e;
		s2 += e * e;
		n++;
	}
	double rms = sqrt(fmax(s2 / n - (s / n) * (s / n), 0.0));
	check(rms < RESIDUAL_MAX, "GraphicEQ of 7 filters: fitted to %.3f dB rms of them (< %.1f)",
			rms, RESIDUAL_MAX);
	check(r.rms_db < RESIDUAL_MAX, "GraphicEQ: residual against its own curve %.3f dB",
			r.rms_db);
	diag("GraphicEQ (127 points, 0.1 dB steps) of 7 filters: %.3f dB rms from them, "
			"%.3f dB from the file's curve, %.1f ms", rms, r.rms_db, (t1 - t0) * 1e3);
done:
	free(text);
}

static void graphic_bad(const char *text, uint32_t line, uint32_t col, const char *message)
{
	struct iem_parse_error err;
	struct iem_curve *c = (struct iem_curve *)&err;
	size_t len = strlen(text);
	char *copy = malloc(len + 1);

	if (copy == NULL)
		abort();
	memcpy(copy, text, len);
	int res = iem_graphic_eq_parse(copy, len, &c, &err);
	check(res < 0 && c == NULL && err.line == line && err.column == col &&
			strcmp(err.message, message) == 0,
			"GraphicEQ refused: %u:%u: %s (got %d, %u:%u: %s)", line, col, message,
			res, err.line, err.column, err.message);
	free(copy);
}

static void test_graphic_parse(void)
{
	struct iem_parse_error err;
	struct iem_curve *c = NULL;
	static const char good[] = "\xef\xbb\xbf# from AutoEq\r\nPreamp: -6.1 dB\r\n\r\n"
		"graphiceq:20 -1.5;  1000\t0;20000 2.5;  \r\n";
	int res = iem_graphic_eq_parse(good, sizeof(good) - 1, &c, &err);

	if (check(res == 0 && c != NULL, "GraphicEQ: BOM, CR LF, comment, Preamp, odd spacing, "
			"a last ';' (%d, %u:%u: %s)", res, err.line, err.column, err.message))
		check(iem_curve_db(c, 20) == -1.5 && iem_curve_db(c, 1000) == 0 &&
				iem_curve_db(c, 20000) == 2.5 &&
				fabs(iem_curve_db(c, sqrt(20.0 * 1000.0)) + 0.75) < 1e-12,
				"GraphicEQ: the points, joined on a log-frequency axis");
	iem_curve_free(c);

	graphic_bad("", 0, 0, "no 'GraphicEQ:' line");
	graphic_bad("# nothing\nPreamp: -3 dB\n", 0, 0, "no 'GraphicEQ:' line");
	graphic_bad("GraphicEQ: 20 1\n", 1, 0, "expected at least 2 points, got 1");
	graphic_bad("GraphicEQ 20 1; 30 2\n", 1, 11, "expected ':' after 'GraphicEQ'");
	graphic_bad("Filter 1: ON PK Fc 100 Hz Gain 1 dB Q 1\n", 1, 1,
			"expected 'GraphicEQ:' or 'Preamp:', got 'Filter'");
	graphic_bad("GraphicEQ: 20 1; 30 2\nGraphicEQ: 20 1; 30 2\n", 2, 1,
			"a second 'GraphicEQ:' line (the first is line 1)");
	graphic_bad("GraphicEQ: 20 1;; 30 2", 1, 17, "expected a frequency, got ';'");
	graphic_bad("GraphicEQ: 20 1; 30", 1, 20, "expected a gain, got end of line");
	graphic_bad("GraphicEQ: 20 1; 30 x", 1, 21, "expected a gain, got 'x'");
	graphic_bad("GraphicEQ: 20 1; 30 1,5", 1, 21,
			"expected a gain, got '1,5' (the decimal separator is '.')");
	graphic_bad("GraphicEQ: 20 1; 30 2 3", 1, 23, "expected ';' or the end of the line, got '3'");
	graphic_bad("GraphicEQ: 20 1; 30 nan", 1, 21, "expected a gain, got 'nan'");
	graphic_bad("GraphicEQ: 20 1; 30 1e999", 1, 21, "1e999 is not a finite number");
	graphic_bad("GraphicEQ: 0 1; 30 2", 1, 12,
			"frequency 0 Hz is out of range (above 0, at most 1e+06 Hz)");
	graphic_bad("GraphicEQ: 20 1; 30 -301", 1, 21, "gain -301 dB is out of range (-300 … 300 dB)");
	graphic_bad("GraphicEQ: 20 1; 30 2; 30 3", 1, 24,
			"frequency 30 Hz is not above the previous point's 30 Hz");
	graphic_bad("GraphicEQ: 20 1; 30 2\r3", 1, 22,
			"unexpected carriage return: lines end in LF or CR LF");
	graphic_bad("Preamp: x dB\nGraphicEQ: 20 1; 30 2", 1, 9,
			"expected a number after 'Preamp:', got 'x'");

	/* too many points: refused before the curve is allocated */
	size_t n = IEM_CURVE_MAX_POINTS + 1, size = n * 16 + 32, len = 0;
	char *big = malloc(size);
	if (big == NULL)
		abort();
	len += (size_t)snprintf(big, size, "GraphicEQ: ");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(big + len, size - len, "%s%zu 0", i ? ";" : "", i + 1);
	c = NULL;
	res = iem_graphic_eq_parse(big, len, &c, &err);
	check(res == -E2BIG && c == NULL && strcmp(err.message, "too many points: at most 100000") == 0,
			"GraphicEQ of %zu points: -E2BIG (%d, %s)", n, res, err.message);
	free(big);
}

int main(void)
{
	test_synthetic();
	test_flat();
	test_bands();
	test_apo_roundtrip();
	test_apo_write_any();
	test_graphic_roundtrip();
	test_graphic_parse();
	return iem_test_done();
}
