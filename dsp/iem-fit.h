/* SPDX-License-Identifier: MIT */
/*
 * iemstage DSP library, part 2: frequency-response curves, the built-in
 * target curves and fitting a parametric EQ from a measurement.
 * Included by iem-dsp.h; nothing here is RT-safe (it allocates, reads
 * files and takes milliseconds).
 */
#ifndef IEM_FIT_H
#define IEM_FIT_H

#include "iem-dsp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- frequency-response curves ----------------------------------------- */

/*
 * A magnitude response in dB over frequency: a measurement, a target, a
 * desired EQ. Points from a file are joined by straight lines on a
 * log-frequency axis; below the first point and above the last the end
 * values hold.
 */
struct iem_curve;

#define IEM_CURVE_MAX_POINTS	100000u		/* points of a curve */
#define IEM_CURVE_MAX_FILE_SIZE	(16u << 20)	/* bytes of a curve file */
#define IEM_CURVE_FREQ_MAX	1000000.0	/* Hz; frequencies are above 0 */
#define IEM_CURVE_DB_MAX	300.0		/* |dB| of a point */

/* RT-safe: no. A curve through n points (freq strictly increasing, above
 * 0 and at most IEM_CURVE_FREQ_MAX; db finite, |db| <= IEM_CURVE_DB_MAX;
 * 1 <= n <= IEM_CURVE_MAX_POINTS), copied. NULL and errno: EINVAL, E2BIG,
 * ENOMEM. */
IEM_EXPORT struct iem_curve *iem_curve_new(const double *freq, const double *db, uint32_t n);
/* RT-safe: no. Accepts NULL; returns NULL. */
IEM_EXPORT struct iem_curve *iem_curve_free(struct iem_curve *c);
/* RT-safe: yes. The curve's value at freq (Hz, > 0), in dB. */
IEM_EXPORT double iem_curve_db(const struct iem_curve *c, double freq);
/* RT-safe: yes. A short name: a built-in target's, or "" for a curve read
 * from points. */
IEM_EXPORT const char *iem_curve_name(const struct iem_curve *c);

/*
 * RT-safe: no. Parses a CSV curve (len bytes, need not be NUL-terminated):
 * comma-separated lines of frequency (Hz) and level (dB), the way AutoEq,
 * REW exports made into CSV and most graph tools write them:
 *
 *   frequency,raw          <- an optional header: the first line that is
 *   20.00,1.25                not blank or a '#' comment, when it does not
 *   20.20,1.31                start with a number
 *
 * The frequency is the first column. The level is the column whose header
 * name is `column` (case-insensitive; AutoEq's results carry "raw",
 * "target", "smoothed", …), else the second; a header of more than two
 * columns must name `column` when it is not NULL. A file without a
 * header, or a NULL column, uses the second.
 * Frequencies must increase strictly; every number must be finite and in
 * range; at least 2 points. Blank lines and lines starting with '#' are
 * skipped; lines end in LF or CR LF; a UTF-8 BOM is skipped.
 * On success *out is a new curve and 0 is returned; on failure -EINVAL
 * (-E2BIG: too many points, -ENOMEM), *out NULL and err filled (line and
 * column 1-based; 0 when not tied to a place). The list of messages is at
 * the top of curve.c. Limits are checked before anything is allocated.
 */
IEM_EXPORT int iem_curve_parse_csv(const char *text, size_t len, const char *column,
		struct iem_curve **out, struct iem_parse_error *err);

/* RT-safe: no. Reads a CSV file (at most IEM_CURVE_MAX_FILE_SIZE bytes)
 * with iem_curve_parse_csv(). On failure err (when not NULL) gets
 * "PATH:LINE:COLUMN: message" or "PATH: reason"; -errno of the reading
 * (-ENOENT, -EISDIR, -EFBIG, …) or the parser's. */
IEM_EXPORT int iem_curve_load_csv(const char *path, const char *column,
		struct iem_curve **out, char *err, size_t err_size);

/*
 * RT-safe: no. Parses an Equalizer APO / AutoEq GraphicEQ.txt text (len
 * bytes, need not be NUL-terminated) into the curve it describes:
 *
 *   GraphicEQ: 20 -1.2; 21 -1.1; 22 -1.0; …
 *
 * points "frequency gain" separated by ';' (a last ';' is allowed), on
 * one "GraphicEQ:" line. Blank lines, '#' comments and "Preamp:" lines
 * (whose level a fit ignores anyway) may be around it; nothing else.
 * Frequencies must increase strictly; numbers finite and in range (those
 * of a CSV curve); at least 2 points. Errors as iem_curve_parse_csv(),
 * messages listed at the top of curve.c.
 */
IEM_EXPORT int iem_graphic_eq_parse(const char *text, size_t len, struct iem_curve **out,
		struct iem_parse_error *err);

/* ---- target curves ----------------------------------------------------- */

/*
 * The built-in targets (see target.c for how each is defined and how far
 * it is from the published data):
 *
 *   harman-ie-2019          Harman in-ear 2019 (v2), as AutoEq publishes it
 *   harman-ie-2019-nobass   the same without its bass shelf
 *
 * Both are 0 dB at about 1 kHz, as published.
 */

/* RT-safe: no. A new curve for a built-in target; -ENOENT for an unknown
 * name, -ENOMEM. Free it with iem_curve_free(). */
IEM_EXPORT int iem_target_find(const char *name, struct iem_curve **out);
/* RT-safe: yes. The built-in targets' names by index (0 …); NULL past the
 * end. */
IEM_EXPORT const char *iem_target_name(uint32_t index);
/* RT-safe: no. A built-in target by name, or else a CSV file (read with
 * column "target"): what a --target option or a profile names. Errors as
 * iem_curve_load_csv(). */
IEM_EXPORT int iem_target_load(const char *name_or_path, struct iem_curve **out,
		char *err, size_t err_size);

/* ---- fitting a parametric EQ ------------------------------------------- */

/*
 * Fits bands to (target - measurement) the way AutoEq does (its default
 * "8 peaking with shelves" set and limits):
 * - the error is taken on a 1/48-octave grid from 20 Hz to 20 kHz; up to
 *   fit_max (10 kHz) it is fitted point by point, above only its average
 *   level (treble measurements are not to be trusted in detail);
 * - the overall level is free: it is the preamp's business;
 * - shelves keep their frequency and Q and get a gain; peaking bands are
 *   placed one by one on the largest remaining area of error (height x
 *   width), then every band is optimised jointly (Levenberg-Marquardt over
 *   log f, log Q and gain, within the limits, with a small cost on each
 *   band's gain so that bands do not cancel each other), then the weakest
 *   band is moved to the largest error left as long as that clearly helps;
 * - the result is rounded to what a ParametricEQ.txt holds (0.1 Hz,
 *   0.001 in Q, 0.01 dB) and the preamp set so that the EQ never gains
 *   above 0 dB at any frequency.
 * Deterministic: the same curves and configuration give the same bands.
 */
#define IEM_FIT_GRID_PER_OCT	48

struct iem_fit_config {
	uint32_t bands;		/* 1 … IEM_MAX_BANDS (10) */
	bool shelves;		/* with bands >= 3: the first band a low shelf and the
				 * last a high shelf, the rest peaking (true) */
	double rate;		/* Hz, the bands are designed at this rate (48000) */
	double low_shelf_freq;	/* Hz (105) */
	double high_shelf_freq;	/* Hz (10000) */
	double shelf_q;		/* (0.7) */
	double freq_min;	/* Hz, range of peaking centres (20) */
	double freq_max;	/* Hz (10000) */
	double q_min;		/* peaking Q (0.18248, 5 octaves) */
	double q_max;		/* (6) */
	double gain_max;	/* dB, |gain| of any band (20) */
	double fit_max;		/* Hz, fitted in detail up to here (10000) */
};

struct iem_fit_result {
	/* (measurement + EQ - target) on the 1/48-octave grid from 20 Hz to
	 * fit_max, its mean removed (the level is the preamp's): */
	double rms_db;		/* root mean square */
	double max_db;		/* largest magnitude */
	/* the mean from fit_max to 20 kHz, relative to the mean below */
	double treble_db;
	double eq_peak_db;	/* the bands' largest gain, before the preamp */
	uint32_t iterations;	/* optimiser steps taken */
};

/* RT-safe: yes. The defaults above. */
IEM_EXPORT void iem_fit_config_init(struct iem_fit_config *cfg);

/* RT-safe: no. Fits cfg->bands bands (cfg NULL: the defaults) so that
 * measurement + EQ follows target; a NULL measurement is flat, i.e. the
 * target is the EQ wanted (a GraphicEQ curve). On success replaces the EQ
 * part of out (every band and the preamp, set as a fixed value) and
 * returns 0; result, when not NULL, gets the figures. -EINVAL for bad
 * arguments or configuration, -ENOMEM; out is then untouched. */
IEM_EXPORT int iem_fit(const struct iem_curve *measurement, const struct iem_curve *target,
		const struct iem_fit_config *cfg, struct iem_params *out,
		struct iem_fit_result *result);

/* RT-safe: no. The figures of struct iem_fit_result (iterations 0) for
 * any EQ p (left channel, designed at rate), e.g. one from a file:
 * measurement NULL is flat. -EINVAL for bad arguments. */
IEM_EXPORT int iem_fit_residual(const struct iem_curve *measurement,
		const struct iem_curve *target, const struct iem_params *p, double rate,
		double fit_max, struct iem_fit_result *result);

/* RT-safe: no. iem_graphic_eq_parse() and iem_fit() of that curve as the
 * EQ wanted (measurement flat): a GraphicEQ.txt made into cfg->bands
 * parametric bands. Returns 0; -EINVAL with err filled for a bad text
 * (err->line 0 and "invalid arguments" for bad arguments or
 * configuration), -E2BIG, -ENOMEM. out is changed only on success. */
IEM_EXPORT int iem_graphic_eq_fit(const char *text, size_t len, const struct iem_fit_config *cfg,
		struct iem_params *out, struct iem_fit_result *result,
		struct iem_parse_error *err);

/* ---- writing a ParametricEQ.txt ------------------------------------------- */

/* RT-safe: no. Writes the EQ part of p as an Equalizer APO / AutoEq
 * ParametricEQ.txt into buf (NUL-terminated): a "Preamp:" line unless the
 * preamp is automatic, "Channel:" lines where bands apply to one side,
 * and one "Filter N: ON …" line per band that is on (PK, LSC, HSC, LPQ,
 * HPQ, BP, NO, AP). Numbers are written with the fewest decimals (at most
 * 6) that give back the same double, in any locale, so iem_apo_parse()
 * of the text gives back p's bands and preamp exactly when they have at
 * most 6 decimals (iem_fit()'s always do). Returns the length, or
 * -ENOSPC when buf is too small (IEM_APO_TEXT_MAX always suffices),
 * -EINVAL. */
#define IEM_APO_TEXT_MAX	8192
IEM_EXPORT int iem_apo_write(const struct iem_params *p, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* IEM_FIT_H */
