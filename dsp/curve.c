/* SPDX-License-Identifier: MIT */
/*
 * Frequency-response curves: points joined on a log-frequency axis, read
 * from CSV files.
 *
 * A CSV text comes from outside: it is read strictly within len bytes,
 * need not be NUL-terminated and may hold any bytes. It is read twice:
 * once to check everything and count the points, then, with the memory
 * for exactly that many allocated, to fill them in.
 *
 * Columns are 1-based byte offsets into the line (a UTF-8 BOM at the
 * start of the text is not counted). Tokens are quoted as written, bytes
 * outside printable ASCII shown as \xNN, long ones cut with "…".
 *
 * Every error message (placeholders in <>):
 *
 *   unexpected NUL byte
 *   unexpected carriage return: lines end in LF or CR LF
 *   expected at least 2 columns (frequency, dB), got 1
 *   no column named '<column>' among the header's <n>
 *   expected <n> fields, got <m>
 *   expected a number, got '<token>'|an empty field
 *   expected a number, got '<token>' (fields are separated by ',')
 *   <token> is not a finite number
 *   frequency <token> Hz is out of range (above 0, at most 1e+06 Hz)
 *   level <token> dB is out of range (-300 … 300 dB)
 *   frequency <token> Hz is not above the previous line's <f> Hz
 *   too many points: at most 100000
 *   expected at least 2 points, got <n>       (line and column 0)
 *   invalid arguments                         (line and column 0)
 *   out of memory                             (line and column 0)
 *
 * and for GraphicEQ.txt:
 *
 *   unexpected NUL byte
 *   unexpected carriage return: lines end in LF or CR LF
 *   expected 'GraphicEQ:' or 'Preamp:', got '<token>'
 *   expected ':' after '<GraphicEQ|Preamp>'
 *   a second 'GraphicEQ:' line (the first is line <n>)
 *   expected <a frequency|a gain>, got '<token>'|';'|end of line
 *   expected <…>, got '<token>' (the decimal separator is '.')
 *   expected a number after 'Preamp:', got …
 *   <token> is not a finite number
 *   unexpected '<token>'
 *   expected ';' or the end of the line, got '<token>'
 *   frequency <token> Hz is out of range (above 0, at most 1e+06 Hz)
 *   gain <token> dB is out of range (-300 … 300 dB)
 *   frequency <token> Hz is not above the previous point's <f> Hz
 *   too many points: at most 100000
 *   expected at least 2 points, got <n>       (column 0)
 *   no 'GraphicEQ:' line                      (line and column 0)
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iem-dsp.h"
#include "curve-private.h"
#include "number.h"
#include "text.h"

#define MAX_COLUMNS	1024u

/* ---- the curve ------------------------------------------------------------ */

struct iem_curve *curve_alloc(uint32_t n, bool spline)
{
	struct iem_curve *c;
	size_t per = spline ? 3 : 2;

	if (n == 0 || n > IEM_CURVE_MAX_POINTS) {
		errno = n == 0 ? EINVAL : E2BIG;
		return NULL;
	}
	c = calloc(1, sizeof(*c) + per * n * sizeof(double));
	if (c == NULL)
		return NULL;
	c->n = n;
	c->spline = spline;
	c->x = c->data;
	c->y = c->data + n;
	c->m2 = spline ? c->data + 2 * n : NULL;
	return c;
}

/* Natural cubic spline (second derivative 0 at both ends): the
 * tridiagonal system for the inner second derivatives, solved by the
 * Thomas algorithm; m2 holds the eliminated right-hand side on the way. */
void curve_spline_init(struct iem_curve *c)
{
	uint32_t n = c->n, i;
	double *diag;

	memset(c->m2, 0, n * sizeof(double));
	if (n < 3)
		return;
	if ((diag = calloc(n, sizeof(double))) == NULL) {
		/* straight lines instead: still the same points */
		c->spline = false;
		return;
	}
	for (i = 1; i + 1 < n; i++) {
		double h0 = c->x[i] - c->x[i - 1], h1 = c->x[i + 1] - c->x[i];
		double r = (c->y[i + 1] - c->y[i]) / h1 - (c->y[i] - c->y[i - 1]) / h0;
		diag[i] = (h0 + h1) / 3.0;
		c->m2[i] = r;
		if (i > 1) {
			/* row i - 1's upper entry is h0 / 6, this row's lower too */
			double w = (h0 / 6.0) / diag[i - 1];
			diag[i] -= w * h0 / 6.0;
			c->m2[i] -= w * c->m2[i - 1];
		}
	}
	for (i = n - 2; i >= 1; i--) {
		double h1 = c->x[i + 1] - c->x[i];
		c->m2[i] = (c->m2[i] - h1 / 6.0 * c->m2[i + 1]) / diag[i];
	}
	free(diag);
}

struct iem_curve *iem_curve_new(const double *freq, const double *db, uint32_t n)
{
	struct iem_curve *c;
	uint32_t i;

	if (freq == NULL || db == NULL || n == 0) {
		errno = EINVAL;
		return NULL;
	}
	if (n > IEM_CURVE_MAX_POINTS) {
		errno = E2BIG;
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if (!(freq[i] > 0.0 && freq[i] <= IEM_CURVE_FREQ_MAX) ||
		    !(fabs(db[i]) <= IEM_CURVE_DB_MAX) ||
		    (i > 0 && !(freq[i] > freq[i - 1]))) {
			errno = EINVAL;
			return NULL;
		}
	}
	if ((c = curve_alloc(n, false)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		c->x[i] = log2(freq[i]);
		c->y[i] = db[i];
	}
	return c;
}

struct iem_curve *iem_curve_free(struct iem_curve *c)
{
	free(c);
	return NULL;
}

const char *iem_curve_name(const struct iem_curve *c)
{
	return c->name;
}

double iem_curve_db(const struct iem_curve *c, double freq)
{
	double x = log2(freq), v;
	uint32_t lo = 0, hi = c->n - 1;

	/* the end values hold, shelf included */
	if (!(x > c->x[0]))
		x = c->x[0];
	else if (x > c->x[hi])
		x = c->x[hi];

	if (c->n == 1 || x == c->x[0]) {
		v = c->y[0];
	} else if (x == c->x[hi]) {
		v = c->y[hi];
	} else {
		/* x[lo] < x < x[hi] */
		while (hi - lo > 1) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (c->x[mid] < x)
				lo = mid;
			else
				hi = mid;
		}
		double h = c->x[hi] - c->x[lo];
		double b = (x - c->x[lo]) / h, a = 1.0 - b;
		v = a * c->y[lo] + b * c->y[hi];
		if (c->spline)
			v += ((a * a * a - a) * c->m2[lo] + (b * b * b - b) * c->m2[hi]) * h * h / 6.0;
	}
	if (c->has_shelf)
		v += iem_biquad_magnitude_db(&c->shelf, c->shelf_rate,
				fmin(exp2(x), 0.49 * c->shelf_rate));
	return v;
}

/* ---- CSV ------------------------------------------------------------------ */

struct csv {
	struct iem_parse_error *err;
	const char *line;	/* the current line, without its line end */
	size_t len;
	uint32_t lineno;

	const char *column;
	bool header_done;	/* the first non-blank line has been seen */
	uint32_t n_fields;	/* of every line, from the header or first row */
	uint32_t value_field;	/* 0-based, >= 1 */

	uint32_t n;		/* points so far */
	double last_freq;
	uint32_t last_line;
	struct iem_curve *curve;	/* second pass: where the points go */
};

/* A field of the current line: offset and length, blanks trimmed. */
struct field {
	size_t off, len;
};

static inline bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

#define fail(c, off, ...) iem_text_fail((c)->err, (c)->lineno, (off), __VA_ARGS__)

/* Splits the line at commas into at most max fields (counting all of
 * them); returns the count. */
static uint32_t split(const struct csv *c, struct field *f, uint32_t max)
{
	size_t pos = 0;
	uint32_t n = 0;

	for (;;) {
		size_t start = pos, end;
		while (pos < c->len && c->line[pos] != ',')
			pos++;
		end = pos;
		while (start < end && is_blank(c->line[start]))
			start++;
		while (end > start && is_blank(c->line[end - 1]))
			end--;
		if (n < max) {
			f[n].off = start;
			f[n].len = end - start;
		}
		if (n < UINT32_MAX)
			n++;
		if (pos >= c->len)
			return n;
		pos++;
	}
}

static bool field_is(const struct csv *c, struct field f, const char *name)
{
	size_t off = f.off, len = f.len;

	/* "name" as some spreadsheet programs write it */
	if (len >= 2 && c->line[off] == '"' && c->line[off + len - 1] == '"') {
		off++;
		len -= 2;
	}
	return strlen(name) == len && strncasecmp(c->line + off, name, len) == 0;
}

static int number(struct csv *c, struct field f, double *v)
{
	char b[IEM_SHOW_SIZE];
	size_t used;

	if (f.len == 0)
		return fail(c, f.off, "expected a number, got an empty field");
	used = iem_scan_number(c->line + f.off, f.len, v);
	if (used != f.len)
		return fail(c, f.off, "expected a number, got '%s'%s",
				iem_text_show(b, c->line + f.off, f.len),
				memchr(c->line + f.off, ';', f.len) ?
				" (fields are separated by ',')" : "");
	if (!isfinite(*v))
		return fail(c, f.off, "%s is not a finite number", iem_text_show(b, c->line + f.off, f.len));
	return 0;
}

static int header(struct csv *c, const struct field *f, uint32_t n)
{
	uint32_t i;

	c->value_field = 1;
	if (c->column == NULL)
		return 0;
	for (i = 1; i < n && i < MAX_COLUMNS; i++) {
		if (field_is(c, f[i], c->column)) {
			c->value_field = i;
			return 0;
		}
	}
	if (n > 2)
		return fail(c, 0, "no column named '%s' among the header's %u",
				c->column, n);
	return 0;
}

static int row(struct csv *c, const struct field *f)
{
	char b[IEM_SHOW_SIZE];
	struct field ff = f[0], fv = f[c->value_field];
	double freq, level;
	int res;

	if ((res = number(c, ff, &freq)) < 0 || (res = number(c, fv, &level)) < 0)
		return res;
	if (!(freq > 0.0 && freq <= IEM_CURVE_FREQ_MAX))
		return fail(c, ff.off, "frequency %s Hz is out of range (above 0, at most %g Hz)",
				iem_text_show(b, c->line + ff.off, ff.len), IEM_CURVE_FREQ_MAX);
	if (!(fabs(level) <= IEM_CURVE_DB_MAX))
		return fail(c, fv.off, "level %s dB is out of range (%g … %g dB)",
				iem_text_show(b, c->line + fv.off, fv.len),
				-IEM_CURVE_DB_MAX, IEM_CURVE_DB_MAX);
	if (c->n > 0 && !(freq > c->last_freq))
		return fail(c, ff.off, "frequency %s Hz is not above the previous line's %g Hz",
				iem_text_show(b, c->line + ff.off, ff.len), c->last_freq);
	if (c->n >= IEM_CURVE_MAX_POINTS) {
		if (c->err != NULL)
			fail(c, ff.off, "too many points: at most %u", IEM_CURVE_MAX_POINTS);
		return -E2BIG;
	}
	if (c->curve != NULL) {
		c->curve->x[c->n] = log2(freq);
		c->curve->y[c->n] = level;
	}
	c->n++;
	c->last_freq = freq;
	return 0;
}

static int csv_line(struct csv *c)
{
	struct field f[MAX_COLUMNS];
	size_t i, start = 0;
	uint32_t n;
	double dummy;
	const char *bad;

	if ((bad = iem_text_bad_byte(c->line, c->len, &i)) != NULL)
		return fail(c, i, "%s", bad);
	while (start < c->len && is_blank(c->line[start]))
		start++;
	if (start == c->len || c->line[start] == '#')
		return 0;

	n = split(c, f, MAX_COLUMNS);
	if (!c->header_done) {
		c->header_done = true;
		if (n < 2)
			return fail(c, c->len, "expected at least 2 columns (frequency, dB), got 1");
		c->n_fields = n;
		if (f[0].len == 0 || iem_scan_number(c->line + f[0].off, f[0].len, &dummy) != f[0].len)
			return header(c, f, n);
		c->value_field = 1;
	}
	if (n != c->n_fields)
		return fail(c, n > c->n_fields && c->n_fields < MAX_COLUMNS ?
				f[c->n_fields].off : c->len,
				"expected %u fields, got %u", c->n_fields, n);
	return row(c, f);
}

static int csv_pass(struct csv *c, const char *text, size_t len)
{
	struct iem_text_lines lines;
	int res;

	iem_text_lines_init(&lines, text, len);
	while (iem_text_next_line(&lines, &c->line, &c->len, &c->lineno)) {
		if ((res = csv_line(c)) < 0)
			return res;
	}
	if (c->n < 2)
		return iem_text_fail(c->err, 0, 0, "expected at least 2 points, got %u", c->n);
	return 0;
}

int iem_curve_parse_csv(const char *text, size_t len, const char *column,
		struct iem_curve **out, struct iem_parse_error *err)
{
	struct csv c;
	int res;

	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (out == NULL || (text == NULL && len > 0))
		return iem_text_fail(err, 0, 0, "invalid arguments");
	*out = NULL;

	memset(&c, 0, sizeof(c));
	c.err = err;
	c.column = column;
	if ((res = csv_pass(&c, text, len)) < 0)
		return res;

	struct iem_curve *curve = curve_alloc(c.n, false);
	if (curve == NULL) {
		iem_text_fail(err, 0, 0, "out of memory");
		return -ENOMEM;
	}
	memset(&c, 0, sizeof(c));
	c.column = column;
	c.curve = curve;
	if ((res = csv_pass(&c, text, len)) < 0) {
		/* cannot happen: the same text passed the first time */
		iem_curve_free(curve);
		return iem_text_fail(err, 0, 0, "invalid arguments");
	}
	*out = curve;
	return 0;
}

int iem_curve_load_csv(const char *path, const char *column,
		struct iem_curve **out, char *err, size_t err_size)
{
	struct iem_parse_error perr;
	char *text = NULL;
	size_t len = 0;
	int res;

	if (path == NULL || out == NULL) {
		if (err != NULL)
			snprintf(err, err_size, "invalid arguments");
		return -EINVAL;
	}
	*out = NULL;
	if ((res = iem_read_text_file(path, IEM_CURVE_MAX_FILE_SIZE, &text, &len, err, err_size)) < 0)
		return res;
	res = iem_curve_parse_csv(text, len, column, out, &perr);
	free(text);
	if (res < 0 && err != NULL)
		iem_parse_error_format(&perr, path, err, err_size);
	return res;
}

/* ---- GraphicEQ.txt --------------------------------------------------------- */

struct geq {
	struct iem_parse_error *err;
	const char *line;
	size_t len;
	uint32_t lineno;
	uint32_t geq_line;	/* where the GraphicEQ: line was, 0: not yet */
	uint32_t n;
	double last_freq;
	struct iem_curve *curve;
};

static size_t skip_blanks(const struct geq *g, size_t pos)
{
	while (pos < g->len && is_blank(g->line[pos]))
		pos++;
	return pos;
}

/* The token from pos to the next blank or ';'. */
static size_t token_end(const struct geq *g, size_t pos)
{
	while (pos < g->len && !is_blank(g->line[pos]) && g->line[pos] != ';')
		pos++;
	return pos;
}

#define gfail(g, off, ...) iem_text_fail((g)->err, (g)->lineno, (off), __VA_ARGS__)

static int geq_number(struct geq *g, size_t pos, size_t end, const char *what, double *v)
{
	char b[IEM_SHOW_SIZE];

	if (end == pos)
		return gfail(g, pos, "expected %s, got %s", what,
				pos < g->len ? "';'" : "end of line");
	if (iem_scan_number(g->line + pos, end - pos, v) != end - pos)
		return gfail(g, pos, "expected %s, got '%s'%s", what,
				iem_text_show(b, g->line + pos, end - pos),
				memchr(g->line + pos, ',', end - pos) ?
				" (the decimal separator is '.')" : "");
	if (!isfinite(*v))
		return gfail(g, pos, "%s is not a finite number", iem_text_show(b, g->line + pos, end - pos));
	return 0;
}

static int geq_points(struct geq *g, size_t pos)
{
	char b[IEM_SHOW_SIZE];
	int res;

	for (;;) {
		size_t fpos, fend, gpos, gend;
		double freq, gain;

		fpos = skip_blanks(g, pos);
		if (fpos == g->len && g->n > 0 && pos > 0 && g->line[pos - 1] == ';')
			return 0;	/* a last ';' */
		fend = token_end(g, fpos);
		if ((res = geq_number(g, fpos, fend, "a frequency", &freq)) < 0)
			return res;
		gpos = skip_blanks(g, fend);
		gend = token_end(g, gpos);
		if ((res = geq_number(g, gpos, gend, "a gain", &gain)) < 0)
			return res;

		if (!(freq > 0.0 && freq <= IEM_CURVE_FREQ_MAX))
			return gfail(g, fpos, "frequency %s Hz is out of range (above 0, at most %g Hz)",
					iem_text_show(b, g->line + fpos, fend - fpos), IEM_CURVE_FREQ_MAX);
		if (!(fabs(gain) <= IEM_CURVE_DB_MAX))
			return gfail(g, gpos, "gain %s dB is out of range (%g … %g dB)",
					iem_text_show(b, g->line + gpos, gend - gpos),
					-IEM_CURVE_DB_MAX, IEM_CURVE_DB_MAX);
		if (g->n > 0 && !(freq > g->last_freq))
			return gfail(g, fpos, "frequency %s Hz is not above the previous point's %g Hz",
					iem_text_show(b, g->line + fpos, fend - fpos), g->last_freq);
		if (g->n >= IEM_CURVE_MAX_POINTS) {
			gfail(g, fpos, "too many points: at most %u", IEM_CURVE_MAX_POINTS);
			return -E2BIG;
		}
		if (g->curve != NULL) {
			g->curve->x[g->n] = log2(freq);
			g->curve->y[g->n] = gain;
		}
		g->n++;
		g->last_freq = freq;

		pos = skip_blanks(g, gend);
		if (pos == g->len)
			return 0;
		if (g->line[pos] != ';')
			return gfail(g, pos, "expected ';' or the end of the line, got '%s'",
					iem_text_show(b, g->line + pos, token_end(g, pos) - pos));
		pos++;
	}
}

static int geq_line(struct geq *g)
{
	char b[IEM_SHOW_SIZE];
	const char *bad;
	size_t i, pos, end;
	double v;

	if ((bad = iem_text_bad_byte(g->line, g->len, &i)) != NULL)
		return gfail(g, i, "%s", bad);
	pos = skip_blanks(g, 0);
	if (pos == g->len || g->line[pos] == '#')
		return 0;
	end = pos;
	while (end < g->len && !is_blank(g->line[end]) && g->line[end] != ':')
		end++;
	i = skip_blanks(g, end);
	bool colon = i < g->len && g->line[i] == ':';
	bool is_geq = end - pos == 9 && strncasecmp(g->line + pos, "GraphicEQ", 9) == 0;
	bool is_preamp = end - pos == 6 && strncasecmp(g->line + pos, "Preamp", 6) == 0;

	if (!(is_geq || is_preamp) || !colon) {
		if (is_geq || is_preamp)
			return gfail(g, i, "expected ':' after '%s'", is_geq ? "GraphicEQ" : "Preamp");
		return gfail(g, pos, "expected 'GraphicEQ:' or 'Preamp:', got '%s'",
				iem_text_show(b, g->line + pos, token_end(g, pos) - pos));
	}
	if (is_preamp) {
		/* only the level, which a fit leaves free: checked, not used */
		pos = skip_blanks(g, i + 1);
		end = token_end(g, pos);
		if (end - pos > 2 && strncasecmp(g->line + end - 2, "dB", 2) == 0)
			end -= 2;
		int res = geq_number(g, pos, end, "a number after 'Preamp:'", &v);
		if (res < 0)
			return res;
		pos = skip_blanks(g, end);
		if (pos + 2 <= g->len && strncasecmp(g->line + pos, "dB", 2) == 0)
			pos = skip_blanks(g, pos + 2);
		if (pos < g->len)
			return gfail(g, pos, "unexpected '%s'",
					iem_text_show(b, g->line + pos, g->len - pos));
		return 0;
	}
	if (g->geq_line > 0)
		return gfail(g, pos, "a second 'GraphicEQ:' line (the first is line %u)", g->geq_line);
	g->geq_line = g->lineno;
	return geq_points(g, i + 1);
}

static int geq_pass(struct geq *g, const char *text, size_t len)
{
	struct iem_text_lines lines;
	int res;

	iem_text_lines_init(&lines, text, len);
	while (iem_text_next_line(&lines, &g->line, &g->len, &g->lineno)) {
		while (g->len > 0 && is_blank(g->line[g->len - 1]))
			g->len--;
		if ((res = geq_line(g)) < 0)
			return res;
	}
	if (g->geq_line == 0)
		return iem_text_fail(g->err, 0, 0, "no 'GraphicEQ:' line");
	if (g->n < 2) {
		res = iem_text_fail(g->err, g->geq_line, 0, "expected at least 2 points, got %u", g->n);
		if (g->err != NULL)
			g->err->column = 0;	/* the line, not a place in it */
		return res;
	}
	return 0;
}

int iem_graphic_eq_parse(const char *text, size_t len, struct iem_curve **out,
		struct iem_parse_error *err)
{
	struct iem_curve *curve;
	struct geq g;
	int res;

	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (out == NULL || (text == NULL && len > 0))
		return iem_text_fail(err, 0, 0, "invalid arguments");
	*out = NULL;

	memset(&g, 0, sizeof(g));
	g.err = err;
	if ((res = geq_pass(&g, text, len)) < 0)
		return res;
	if ((curve = curve_alloc(g.n, false)) == NULL) {
		iem_text_fail(err, 0, 0, "out of memory");
		return -ENOMEM;
	}
	memset(&g, 0, sizeof(g));
	g.curve = curve;
	if (geq_pass(&g, text, len) < 0) {
		/* cannot happen: the same text passed the first time */
		iem_curve_free(curve);
		return iem_text_fail(err, 0, 0, "invalid arguments");
	}
	*out = curve;
	return 0;
}
