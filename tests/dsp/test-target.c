/* SPDX-License-Identifier: MIT */
/*
 * Curves and targets: the built-in targets against the published points,
 * the CSV reader's good and bad files with their exact messages, the
 * interpolation on a log-frequency axis.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iem-dsp.h"
#include "iem-test.h"

/*
 * The Harman in-ear 2019 (v2) target as published by AutoEq
 * (jaakkopasanen/AutoEq, targets/harman_in-ear_2019v2.csv and
 * "targets/Harman in-ear 2019 without bass.csv", MIT licence, Copyright
 * (c) 2018-2022 Jaakko Pasanen), resampled to 128 points
 * f_k = 20 * 1000^(k/127) Hz (linear in log f between AutoEq's 695
 * points, rounded to 0.01 Hz and 0.01 dB; 20 kHz extrapolated from the
 * last two). Columns: Hz, dB with the bass shelf, dB without.
 */
static const double published[][3] = {
	{    20.00,   7.61,  -1.38 },
	{    21.12,   7.65,  -1.34 },
	{    22.30,   7.69,  -1.29 },
	{    23.54,   7.71,  -1.27 },
	{    24.86,   7.72,  -1.25 },
	{    26.25,   7.72,  -1.24 },
	{    27.72,   7.72,  -1.23 },
	{    29.27,   7.72,  -1.22 },
	{    30.90,   7.71,  -1.22 },
	{    32.63,   7.68,  -1.23 },
	{    34.45,   7.64,  -1.24 },
	{    36.38,   7.59,  -1.27 },
	{    38.41,   7.50,  -1.33 },
	{    40.56,   7.39,  -1.39 },
	{    42.83,   7.24,  -1.48 },
	{    45.22,   7.08,  -1.58 },
	{    47.75,   6.87,  -1.72 },
	{    50.42,   6.62,  -1.87 },
	{    53.24,   6.39,  -1.98 },
	{    56.21,   6.13,  -2.11 },
	{    59.36,   5.90,  -2.17 },
	{    62.67,   5.57,  -2.31 },
	{    66.18,   5.29,  -2.37 },
	{    69.88,   4.98,  -2.42 },
	{    73.78,   4.64,  -2.47 },
	{    77.91,   4.33,  -2.45 },
	{    82.26,   4.03,  -2.38 },
	{    86.86,   3.71,  -2.31 },
	{    91.72,   3.38,  -2.23 },
	{    96.84,   3.03,  -2.14 },
	{   102.26,   2.68,  -2.04 },
	{   107.97,   2.35,  -1.92 },
	{   114.01,   2.01,  -1.80 },
	{   120.38,   1.66,  -1.72 },
	{   127.11,   1.34,  -1.63 },
	{   134.22,   1.00,  -1.58 },
	{   141.72,   0.70,  -1.51 },
	{   149.64,   0.44,  -1.45 },
	{   158.00,   0.17,  -1.42 },
	{   166.84,  -0.10,  -1.44 },
	{   176.16,  -0.37,  -1.49 },
	{   186.01,  -0.64,  -1.56 },
	{   196.41,  -0.89,  -1.65 },
	{   207.39,  -1.10,  -1.72 },
	{   218.98,  -1.28,  -1.79 },
	{   231.22,  -1.43,  -1.84 },
	{   244.14,  -1.54,  -1.87 },
	{   257.79,  -1.62,  -1.89 },
	{   272.20,  -1.67,  -1.89 },
	{   287.42,  -1.70,  -1.87 },
	{   303.48,  -1.71,  -1.85 },
	{   320.45,  -1.71,  -1.82 },
	{   338.36,  -1.70,  -1.79 },
	{   357.27,  -1.67,  -1.74 },
	{   377.24,  -1.64,  -1.70 },
	{   398.33,  -1.60,  -1.65 },
	{   420.60,  -1.57,  -1.61 },
	{   444.11,  -1.52,  -1.55 },
	{   468.93,  -1.47,  -1.49 },
	{   495.14,  -1.41,  -1.43 },
	{   522.82,  -1.35,  -1.36 },
	{   552.05,  -1.28,  -1.29 },
	{   582.90,  -1.22,  -1.23 },
	{   615.49,  -1.14,  -1.15 },
	{   649.89,  -1.05,  -1.06 },
	{   686.22,  -0.95,  -0.95 },
	{   724.58,  -0.84,  -0.84 },
	{   765.08,  -0.74,  -0.74 },
	{   807.85,  -0.62,  -0.62 },
	{   853.00,  -0.49,  -0.49 },
	{   900.69,  -0.35,  -0.35 },
	{   951.03,  -0.18,  -0.18 },
	{  1004.19,   0.01,   0.01 },
	{  1060.33,   0.22,   0.22 },
	{  1119.60,   0.48,   0.48 },
	{  1182.18,   0.79,   0.79 },
	{  1248.26,   1.13,   1.13 },
	{  1318.04,   1.54,   1.54 },
	{  1391.71,   1.97,   1.97 },
	{  1469.51,   2.39,   2.39 },
	{  1551.65,   2.86,   2.86 },
	{  1638.38,   3.37,   3.37 },
	{  1729.97,   3.96,   3.96 },
	{  1826.67,   4.60,   4.60 },
	{  1928.78,   5.31,   5.31 },
	{  2036.59,   6.03,   6.03 },
	{  2150.43,   6.67,   6.67 },
	{  2270.64,   7.32,   7.32 },
	{  2397.56,   7.91,   7.91 },
	{  2531.58,   8.41,   8.41 },
	{  2673.09,   8.81,   8.81 },
	{  2822.52,   9.11,   9.11 },
	{  2980.29,   9.29,   9.29 },
	{  3146.88,   9.41,   9.41 },
	{  3322.79,   9.41,   9.41 },
	{  3508.52,   9.33,   9.33 },
	{  3704.64,   9.17,   9.17 },
	{  3911.73,   8.97,   8.97 },
	{  4130.39,   8.74,   8.74 },
	{  4361.27,   8.48,   8.48 },
	{  4605.05,   8.19,   8.19 },
	{  4862.47,   7.88,   7.88 },
	{  5134.27,   7.59,   7.59 },
	{  5421.27,   7.30,   7.30 },
	{  5724.31,   7.02,   7.02 },
	{  6044.29,   6.72,   6.72 },
	{  6382.15,   6.28,   6.28 },
	{  6738.90,   5.81,   5.81 },
	{  7115.59,   5.21,   5.21 },
	{  7513.34,   4.45,   4.45 },
	{  7933.32,   3.71,   3.71 },
	{  8376.78,   2.82,   2.82 },
	{  8845.03,   1.83,   1.83 },
	{  9339.45,   0.72,   0.72 },
	{  9861.51,  -0.47,  -0.47 },
	{ 10412.75,  -1.60,  -1.60 },
	{ 10994.80,  -2.72,  -2.72 },
	{ 11609.39,  -3.90,  -3.90 },
	{ 12258.34,  -5.00,  -5.00 },
	{ 12943.56,  -6.05,  -6.05 },
	{ 13667.08,  -7.08,  -7.08 },
	{ 14431.04,  -8.04,  -8.04 },
	{ 15237.71,  -9.06,  -9.06 },
	{ 16089.47, -10.33, -10.33 },
	{ 16988.84, -12.06, -12.06 },
	{ 17938.49, -14.39, -14.39 },
	{ 18941.22, -17.31, -17.31 },
	{ 20000.00, -20.75, -20.75 },
};

#define N_PUBLISHED	(sizeof(published) / sizeof(published[0]))
#define TOLERANCE_DB	0.5

/* The published curve between its points: straight lines in log f. */
static double published_db(int col, double f)
{
	size_t i;

	for (i = 0; i + 1 < N_PUBLISHED && published[i + 1][0] < f; i++)
		;
	if (i + 1 >= N_PUBLISHED)
		return published[N_PUBLISHED - 1][col];
	double t = log(f / published[i][0]) / log(published[i + 1][0] / published[i][0]);
	return published[i][col] + t * (published[i + 1][col] - published[i][col]);
}

static void test_builtin(const char *name, int col)
{
	struct iem_curve *t;
	double worst = 0.0, worst_f = 0.0, worst12 = 0.0, worst12_f = 0.0;
	int res;

	res = iem_target_find(name, &t);
	if (!check(res == 0 && t != NULL, "%s: found (%d)", name, res))
		return;
	check(strcmp(iem_curve_name(t), name) == 0, "%s: named so ('%s')", name, iem_curve_name(t));
	for (size_t i = 0; i < N_PUBLISHED; i++) {
		double e = fabs(iem_curve_db(t, published[i][0]) - published[i][col]);
		if (e > worst) {
			worst = e;
			worst_f = published[i][0];
		}
	}
	for (int k = 0; k <= 120; k++) {
		/* 1/12 octave from 20 Hz, the last at 20 kHz */
		double f = fmin(20.0 * exp2(k / 12.0), 20000.0);
		double e = fabs(iem_curve_db(t, f) - published_db(col, f));
		if (e > worst12) {
			worst12 = e;
			worst12_f = f;
		}
	}
	check(worst <= TOLERANCE_DB, "%s: within %.1f dB of the %zu published points "
			"(largest %.3f dB at %.0f Hz)", name, TOLERANCE_DB, N_PUBLISHED,
			worst, worst_f);
	check(worst12 <= TOLERANCE_DB, "%s: within %.1f dB at 1/12-octave points 20 Hz … 20 kHz "
			"(largest %.3f dB at %.0f Hz)", name, TOLERANCE_DB, worst12, worst12_f);
	check(fabs(iem_curve_db(t, 1000.0)) < 0.2, "%s: 0 dB at 1 kHz, as published (%.3f dB)",
			name, iem_curve_db(t, 1000.0));
	check(iem_curve_db(t, 5.0) == iem_curve_db(t, 20.0) &&
			iem_curve_db(t, 40000.0) == iem_curve_db(t, 20000.0),
			"%s: end values hold outside 20 Hz … 20 kHz", name);
	iem_curve_free(t);
}

static void test_builtins(void)
{
	struct iem_curve *t = (struct iem_curve *)&t;
	uint32_t n = 0;

	test_builtin("harman-ie-2019", 1);
	test_builtin("harman-ie-2019-nobass", 2);
	while (iem_target_name(n) != NULL)
		n++;
	check(n == 2, "two built-in targets are listed (%u)", n);
	check(iem_target_find("harman", &t) == -ENOENT && t == NULL,
			"an unknown target name is -ENOENT, *out NULL");
}

/* ---- CSV ------------------------------------------------------------------- */

/* The text in a heap buffer of exactly its length: no terminating NUL. */
static int parse(const char *text, const char *column, struct iem_curve **out,
		struct iem_parse_error *err)
{
	size_t len = strlen(text);
	char *copy = malloc(len > 0 ? len : 1);
	int res;

	if (copy == NULL)
		abort();
	memcpy(copy, text, len);
	res = iem_curve_parse_csv(copy, len, column, out, err);
	free(copy);
	return res;
}

static void good(const char *what, const char *text, const char *column,
		const double *f, const double *db, int n)
{
	struct iem_parse_error err;
	struct iem_curve *c = NULL;
	int res = parse(text, column, &c, &err), bad = 0;

	if (!check(res == 0 && c != NULL, "%s: parses (%d, %u:%u: %s)", what, res,
			err.line, err.column, err.message))
		return;
	for (int i = 0; i < n; i++) {
		if (fabs(iem_curve_db(c, f[i]) - db[i]) > 1e-12)
			bad++;
	}
	check(bad == 0, "%s: its %d points read back", what, n);
	iem_curve_free(c);
}

static void bad(const char *text, const char *column, int expect_res,
		uint32_t line, uint32_t col, const char *message)
{
	struct iem_parse_error err;
	struct iem_curve *c = (struct iem_curve *)&err;
	int res = parse(text, column, &c, &err);

	check(res == expect_res && c == NULL && err.line == line && err.column == col &&
			strcmp(err.message, message) == 0,
			"refused: %u:%u: %s (got %d, %u:%u: %s)", line, col, message,
			res, err.line, err.column, err.message);
}

static void test_csv_good(void)
{
	static const double f2[] = { 20, 1000, 20000 }, d2[] = { 1.5, 0, -3.25 };
	static const double f3[] = { 20, 20000 }, d3[] = { -1, 2 };

	good("plain, no header", "20,1.5\n1000,0\n20000,-3.25\n", NULL, f2, d2, 3);
	good("AutoEq's measurement header", "frequency,raw\n20,1.5\n1000,0\n20000,-3.25\n",
			"raw", f2, d2, 3);
	good("AutoEq's target header, column asked for another name",
			"frequency,target\n20,1.5\n1000,0\n20000,-3.25", "raw", f2, d2, 3);
	good("BOM, CR LF, blanks, comments, blank lines, exponents",
			"\xef\xbb\xbf# measured 2024\r\n\r\n Frequency , dB \r\n"
			" 2e1 ,\t+1.5\r\n# a comment\r\n1.0e3,0.0\r\n\r\n20000.000,-325e-2\r\n",
			"target", f2, d2, 3);
	good("AutoEq's results file, the column picked by name",
			"frequency,raw,error,smoothed,target\n20,9,9,9,-1\n20000,9,9,9,2\n",
			"target", f3, d3, 2);
	good("column names are case-insensitive and may be quoted",
			"\"Frequency\",\"RAW\",\"Target\"\n20,-1,7\n20000,2,7\n", "raw", f3, d3, 2);
	good("no header, more columns: the second (REW: frequency, SPL, phase)",
			"20,-1,180\n20000,2,-180\n", "raw", f3, d3, 2);
}

static void test_csv_bad(void)
{
	bad("", NULL, -EINVAL, 0, 0, "expected at least 2 points, got 0");
	bad("frequency,raw\n", "raw", -EINVAL, 0, 0, "expected at least 2 points, got 0");
	bad("frequency,raw\n20,1\n", "raw", -EINVAL, 0, 0, "expected at least 2 points, got 1");
	bad("20 1\n30 2\n", NULL, -EINVAL, 1, 5, "expected at least 2 columns (frequency, dB), got 1");
	bad("20,1\n30;2\n", NULL, -EINVAL, 2, 5, "expected 2 fields, got 1");
	bad("20,1\n30,2,3\n", NULL, -EINVAL, 2, 6, "expected 2 fields, got 3");
	bad("frequency,raw,target\n20,1\n", "raw", -EINVAL, 2, 5, "expected 3 fields, got 2");
	bad("frequency,raw,error\n20,1,1\n30,1,1\n", "target", -EINVAL, 1, 1,
			"no column named 'target' among the header's 3");
	bad("20,1\n30,1,5\n", NULL, -EINVAL, 2, 6, "expected 2 fields, got 3");
	bad("20,1\n30,1.5.\n", NULL, -EINVAL, 2, 4, "expected a number, got '1.5.'");
	bad("20,1\n30,\n", NULL, -EINVAL, 2, 4, "expected a number, got an empty field");
	bad("20,1\n30, nan\n", NULL, -EINVAL, 2, 5, "expected a number, got 'nan'");
	bad("20,1\n30,inf\n", NULL, -EINVAL, 2, 4, "expected a number, got 'inf'");
	bad("20,1\n30,1e999\n", NULL, -EINVAL, 2, 4, "1e999 is not a finite number");
	bad("20,1\n1e400,1\n", NULL, -EINVAL, 2, 1, "1e400 is not a finite number");
	bad("frequency,raw\n20;1,5\n30,2\n", "raw", -EINVAL, 2, 1,
			"expected a number, got '20;1' (fields are separated by ',')");
	bad("0,1\n30,1\n", NULL, -EINVAL, 1, 1,
			"frequency 0 Hz is out of range (above 0, at most 1e+06 Hz)");
	bad("20,1\n-30,1\n", NULL, -EINVAL, 2, 1,
			"frequency -30 Hz is out of range (above 0, at most 1e+06 Hz)");
	bad("20,1\n2e6,1\n", NULL, -EINVAL, 2, 1,
			"frequency 2e6 Hz is out of range (above 0, at most 1e+06 Hz)");
	bad("20,1\n30,-300.5\n", NULL, -EINVAL, 2, 4, "level -300.5 dB is out of range (-300 … 300 dB)");
	bad("frequency,raw\n20,1\n30,1\n30,2\n", "raw", -EINVAL, 4, 1,
			"frequency 30 Hz is not above the previous line's 30 Hz");
	bad("20,1\n# c\n\n40,1\n35,1\n", NULL, -EINVAL, 5, 1,
			"frequency 35 Hz is not above the previous line's 40 Hz");
	bad("20,1\n30,1\r2\n", NULL, -EINVAL, 2, 5,
			"unexpected carriage return: lines end in LF or CR LF");
	bad("20,1\n30,\xff\n", NULL, -EINVAL, 2, 4, "expected a number, got '\\xff'");
}

/* A NUL inside the buffer (strlen would stop there) and too many points,
 * refused before anything is allocated for them. */
static void test_csv_limits(void)
{
	static const char nul[] = "20,1\n30,1\0\n";
	struct iem_parse_error err;
	struct iem_curve *c = NULL;
	size_t n = (size_t)IEM_CURVE_MAX_POINTS + 1, len = 0;
	char *text = malloc(n * 16);
	int res;

	res = iem_curve_parse_csv(nul, sizeof(nul) - 1, NULL, &c, &err);
	check(res == -EINVAL && err.line == 2 && err.column == 5 &&
			strcmp(err.message, "unexpected NUL byte") == 0,
			"a NUL byte is refused at 2:5 (%d, %u:%u: %s)", res, err.line,
			err.column, err.message);

	if (text == NULL)
		abort();
	size_t all_but_last = 0;
	for (size_t i = 0; i < n; i++) {
		all_but_last = len;
		len += (size_t)sprintf(text + len, "%zu,0\n", i + 1);
	}
	res = iem_curve_parse_csv(text, len, NULL, &c, &err);
	check(res == -E2BIG && c == NULL && err.line == n &&
			strcmp(err.message, "too many points: at most 100000") == 0,
			"%zu points: -E2BIG at line %zu (%d, %u: %s)", n, n, res, err.line,
			err.message);
	/* one fewer is fine */
	res = iem_curve_parse_csv(text, all_but_last, NULL, &c, &err);
	check(res == 0 && c != NULL, "%u points: accepted (%d, %s)", IEM_CURVE_MAX_POINTS,
			res, err.message);
	iem_curve_free(c);
	free(text);

	check(iem_curve_parse_csv(NULL, 1, NULL, &c, &err) == -EINVAL &&
			strcmp(err.message, "invalid arguments") == 0, "NULL text refused");
}

/* Straight lines on a log-frequency axis between the points, ends held. */
static void test_interpolation(void)
{
	static const double f[] = { 100, 400, 1600 }, d[] = { 0, 6, -6 };
	struct iem_curve *c = iem_curve_new(f, d, 3);

	if (!check(c != NULL, "iem_curve_new: 3 points"))
		return;
	check(fabs(iem_curve_db(c, 200) - 3.0) < 1e-12, "200 Hz, an octave above 100: half way (%.15g)",
			iem_curve_db(c, 200));
	check(fabs(iem_curve_db(c, 800) - 0.0) < 1e-12, "800 Hz: half way down (%.15g)",
			iem_curve_db(c, 800));
	check(fabs(iem_curve_db(c, 100 * pow(4, 0.25)) - 1.5) < 1e-12, "a quarter of the way (log f)");
	check(iem_curve_db(c, 10) == 0 && iem_curve_db(c, 20000) == -6, "ends held");
	iem_curve_free(c);

	static const double fb[] = { 100, 100 }, db[] = { 0, 1 };
	static const double fn[] = { 100, 200 }, dn[] = { 0, NAN };
	errno = 0;
	check(iem_curve_new(fb, db, 2) == NULL && errno == EINVAL, "equal frequencies refused");
	errno = 0;
	check(iem_curve_new(fn, dn, 2) == NULL && errno == EINVAL, "NaN refused");
	errno = 0;
	check(iem_curve_new(fn, dn, IEM_CURVE_MAX_POINTS + 1) == NULL && errno == E2BIG,
			"too many points refused with E2BIG");
	check(iem_curve_free(NULL) == NULL, "iem_curve_free(NULL)");
}

/* Files: messages carry PATH:LINE:COLUMN; targets by name or file. */
static void test_files(void)
{
	const char *tmp = getenv("TMPDIR");
	char dir[256], path[300], err[700], expect[700];
	struct iem_curve *c = NULL;
	FILE *f;
	int res;

	snprintf(dir, sizeof(dir), "%s/iem-target-XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		check(false, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s/t.csv", dir);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fputs("frequency,raw\n20,1\n30,x\n", f);
	fclose(f);

	snprintf(expect, sizeof(expect), "%s:3:4: expected a number, got 'x'", path);
	res = iem_curve_load_csv(path, "raw", &c, err, sizeof(err));
	check(res == -EINVAL && c == NULL && strcmp(err, expect) == 0,
			"load: the message names file:line:column (%d, %s)", res, err);

	if ((f = fopen(path, "w")) == NULL)
		abort();
	fputs("frequency,target\n20,1\n20000,3\n", f);
	fclose(f);
	res = iem_target_load(path, &c, err, sizeof(err));
	check(res == 0 && c != NULL && iem_curve_db(c, 20000) == 3.0,
			"iem_target_load: a CSV file (%d, %s)", res, res < 0 ? err : "");
	c = iem_curve_free(c);
	res = iem_target_load("harman-ie-2019", &c, err, sizeof(err));
	check(res == 0 && c != NULL, "iem_target_load: a built-in name (%d)", res);
	c = iem_curve_free(c);

	unlink(path);
	snprintf(expect, sizeof(expect), "%s: No such file or directory (and not a built-in "
			"target: harman-ie-2019, harman-ie-2019-nobass)", path);
	res = iem_target_load(path, &c, err, sizeof(err));
	check(res == -ENOENT && c == NULL && strcmp(err, expect) == 0,
			"iem_target_load: neither a file nor a name (%d, %s)", res, err);
	snprintf(expect, sizeof(expect), "%s: Is a directory", dir);
	res = iem_curve_load_csv(dir, NULL, &c, err, sizeof(err));
	check(res == -EISDIR && strcmp(err, expect) == 0, "a directory (%d, %s)", res, err);
	rmdir(dir);
}

int main(void)
{
	test_builtins();
	test_csv_good();
	test_csv_bad();
	test_csv_limits();
	test_interpolation();
	test_files();
	return iem_test_done();
}
