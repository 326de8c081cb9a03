/* SPDX-License-Identifier: MIT */
/*
 * Equalizer APO / AutoEq ParametricEQ.txt parser.
 *
 * The text comes from outside: it is read strictly within len bytes, need
 * not be NUL-terminated, may hold any byte values and lines of any length.
 * Nothing is allocated; the result is built on the stack and copied into
 * the caller's parameters only when the whole text is valid.
 *
 * Columns are 1-based byte offsets into the line; a UTF-8 BOM at the start
 * of the text is not counted. Tokens are quoted as written, with bytes
 * outside printable ASCII shown as \xNN and long tokens cut with "…".
 * "got end of line" points just past the line's last character.
 *
 * Every error message (placeholders in <>):
 *
 *   unexpected NUL byte
 *   unexpected carriage return: lines end in LF or CR LF
 *   expected 'Preamp:', 'Filter:' or 'Channel:', got '<token>'
 *   expected ':' after '<Preamp|Filter|Filter N|Channel>', got '<token>'|end of line
 *   expected a filter number or ':' after 'Filter', got '<token>'
 *   '<Word>' is not supported in a ParametricEQ file
 *   expected a number after '<Preamp|Fc|Gain|Q|BW Oct>', got '<token>'|end of line
 *   expected a number after '<…>', got '<token>' (the decimal separator is '.')
 *   unexpected '<token>'
 *   Preamp <value> dB is out of range (-60 … 30 dB)
 *   Preamp lines add up to <sum> dB, out of range (-60 … 30 dB)
 *   Preamp for channel <L|R> only is not supported: the preamp applies to both channels
 *   expected a channel (L, R or ALL), got end of line
 *   channel '<token>' is not supported: iemstage is stereo (L, R, ALL)
 *   expected ON or OFF, got '<token>'|end of line
 *   expected a filter type, got end of line
 *   unknown filter type '<token>'
 *   fixed-slope shelf '<LS|HS> <slope>' is not supported; use <LSC|HSC> with a Q
 *   shelf slope in '<LSC|HSC> <slope>' is not supported; give a Q instead
 *   '<Fc|Gain|Q|BW Oct>' given twice
 *   'Q' and 'BW Oct' both given
 *   '<Gain|BW Oct>' does not apply to <TYPE> filters
 *   expected 'Oct' after 'BW', got '<token>'|end of line
 *   Fc <value> Hz is out of range (5 … 40000 Hz)
 *   Gain <value> dB is out of range (-30 … 30 dB)
 *   Q <value> is out of range (0.025 … 40)
 *   BW Oct <value> is out of range (0.0361 … 10.64)
 *   missing <Fc|Gain|Q|Q or BW Oct> for <TYPE> filter
 *   too many filters: at most 32 can be ON
 *   invalid arguments                      (line and column 0)
 */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iem-dsp.h"
#include "number.h"
#include "text.h"

#define DEFAULT_FREQ	1000.0
#define DEFAULT_Q	0.7071

enum field {
	FIELD_FC,
	FIELD_GAIN,
	FIELD_Q,
	FIELD_BW,
	FIELD_COUNT
};

static const char *const field_name[FIELD_COUNT] = {
	[FIELD_FC] = "Fc",
	[FIELD_GAIN] = "Gain",
	[FIELD_Q] = "Q",
	[FIELD_BW] = "BW Oct",
};

enum q_rule {
	Q_OPTIONAL,	/* Q may be given, defaults to DEFAULT_Q */
	Q_REQUIRED,	/* Q must be given */
	Q_OR_BW,	/* Q or BW Oct must be given */
};

enum shelf {
	SHELF_NONE,
	SHELF_FIXED,	/* LS/HS: a "6dB"/"12dB" slope selects APO's fixed shelves */
	SHELF_VARIABLE,	/* LSC/HSC: a slope would replace the Q */
};

struct type_info {
	const char *name;
	enum iem_filter_type type;
	bool gain;
	enum q_rule q;
	enum shelf shelf;
	const char *q_shelf;	/* what to use instead of a fixed slope */
};

static const struct type_info types[] = {
	{ "PK",  IEM_FILTER_PEAKING,   true,  Q_OR_BW,     SHELF_NONE, NULL },
	{ "LSC", IEM_FILTER_LOWSHELF,  true,  Q_OPTIONAL,  SHELF_VARIABLE, NULL },
	{ "HSC", IEM_FILTER_HIGHSHELF, true,  Q_OPTIONAL,  SHELF_VARIABLE, NULL },
	{ "LS",  IEM_FILTER_LOWSHELF,  true,  Q_OPTIONAL,  SHELF_FIXED, "LSC" },
	{ "HS",  IEM_FILTER_HIGHSHELF, true,  Q_OPTIONAL,  SHELF_FIXED, "HSC" },
	{ "LP",  IEM_FILTER_LOWPASS,   false, Q_OPTIONAL,  SHELF_NONE, NULL },
	{ "HP",  IEM_FILTER_HIGHPASS,  false, Q_OPTIONAL,  SHELF_NONE, NULL },
	{ "LPQ", IEM_FILTER_LOWPASS,   false, Q_REQUIRED,  SHELF_NONE, NULL },
	{ "HPQ", IEM_FILTER_HIGHPASS,  false, Q_REQUIRED,  SHELF_NONE, NULL },
	{ "BP",  IEM_FILTER_BANDPASS,  false, Q_OR_BW,     SHELF_NONE, NULL },
	{ "NO",  IEM_FILTER_NOTCH,     false, Q_OR_BW,     SHELF_NONE, NULL },
	{ "AP",  IEM_FILTER_ALLPASS,   false, Q_REQUIRED,  SHELF_NONE, NULL },
};

/* A piece of the current line: offset from the line's start and length. */
struct tok {
	size_t off;
	size_t len;
};

struct apo {
	struct iem_parse_error *err;

	const char *line;	/* current line, without its line end */
	size_t len;		/* trailing blanks already cut */
	size_t pos;		/* the tokenizer's position */
	uint32_t lineno;

	enum iem_channels channels;
	uint32_t n_preamp;
	double preamp;
	uint32_t n_bands;
	struct iem_band band[IEM_MAX_BANDS];
};

static inline bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline char to_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive, locale-independent comparison of a counted string
 * with a NUL-terminated keyword. */
static bool eq_ci(const char *s, size_t n, const char *kw)
{
	size_t i;
	for (i = 0; i < n; i++) {
		if (kw[i] == '\0' || to_lower(s[i]) != to_lower(kw[i]))
			return false;
	}
	return kw[n] == '\0';
}

static bool tok_is(const struct apo *a, struct tok t, const char *kw)
{
	return eq_ci(a->line + t.off, t.len, kw);
}

static const char *show_tok(char buf[IEM_SHOW_SIZE], const struct apo *a, struct tok t)
{
	return iem_text_show(buf, a->line + t.off, t.len);
}

/* "'token'" or "end of line", for "got …" */
static const char *show_got(char buf[IEM_SHOW_SIZE + 2], const struct apo *a, struct tok t)
{
	if (t.len == 0)
		return "end of line";
	buf[0] = '\'';
	iem_text_show(buf + 1, a->line + t.off, t.len);
	strcat(buf, "'");
	return buf;
}

#define fail(a, off, ...) iem_text_fail((a)->err, (a)->lineno, (off), __VA_ARGS__)

/* The next blank-separated token; len 0 at the end of the line, with off
 * just past the last character so errors point there. */
static struct tok next_tok(struct apo *a)
{
	struct tok t;

	while (a->pos < a->len && is_blank(a->line[a->pos]))
		a->pos++;
	t.off = a->pos;
	while (a->pos < a->len && !is_blank(a->line[a->pos]))
		a->pos++;
	t.len = a->pos - t.off;
	return t;
}

static struct tok peek_tok(struct apo *a)
{
	size_t pos = a->pos;
	struct tok t = next_tok(a);
	a->pos = pos;
	return t;
}

/* Reads the value of a field (or Preamp) from the next token, with its
 * unit, when it has one, attached ("2.3dB") or as the following token. */
static int parse_value(struct apo *a, const char *what, const char *unit,
		double *val, struct tok *num)
{
	char b1[IEM_SHOW_SIZE + 2];
	struct tok t = next_tok(a);
	size_t used;

	if (t.len == 0)
		return fail(a, t.off, "expected a number after '%s', got end of line", what);

	used = iem_scan_number(a->line + t.off, t.len, val);
	if (used < t.len && (used == 0 || !is_alpha(a->line[t.off + used]))) {
		bool comma = memchr(a->line + t.off, ',', t.len) != NULL;
		return fail(a, t.off, "expected a number after '%s', got %s%s", what,
				show_got(b1, a, t),
				comma ? " (the decimal separator is '.')" : "");
	}
	num->off = t.off;
	num->len = used;

	if (used < t.len) {
		struct tok suffix = { t.off + used, t.len - used };
		if (unit == NULL || !tok_is(a, suffix, unit))
			return fail(a, suffix.off, "unexpected '%s'", show_tok(b1, a, suffix));
	} else if (unit != NULL && tok_is(a, peek_tok(a), unit)) {
		next_tok(a);
	}
	return 0;
}

static int expect_end(struct apo *a)
{
	char b1[IEM_SHOW_SIZE];
	struct tok t = next_tok(a);

	if (t.len > 0)
		return fail(a, t.off, "unexpected '%s'", show_tok(b1, a, t));
	return 0;
}

static int parse_preamp(struct apo *a, size_t cmd_off)
{
	char b1[IEM_SHOW_SIZE];
	struct tok num;
	double v, sum;
	int res;

	/* Equalizer APO applies a Preamp to the selected channels only; a
	 * single preamp for both cannot express that, so refuse rather than
	 * change the sound. */
	if (a->channels != IEM_CHANNELS_BOTH)
		return fail(a, cmd_off, "Preamp for channel %s only is not supported: "
				"the preamp applies to both channels",
				a->channels == IEM_CHANNELS_LEFT ? "L" : "R");

	if ((res = parse_value(a, "Preamp", "dB", &v, &num)) < 0)
		return res;

	sum = a->preamp + v;
	if (!(sum >= IEM_PREAMP_MIN && sum <= IEM_PREAMP_MAX)) {
		if (a->n_preamp == 0)
			return fail(a, num.off, "Preamp %s dB is out of range (%g … %g dB)",
					show_tok(b1, a, num), IEM_PREAMP_MIN, IEM_PREAMP_MAX);
		return fail(a, num.off, "Preamp lines add up to %g dB, out of range (%g … %g dB)",
				sum, IEM_PREAMP_MIN, IEM_PREAMP_MAX);
	}
	if ((res = expect_end(a)) < 0)
		return res;

	a->preamp = sum;
	a->n_preamp++;
	return 0;
}

static int parse_channel(struct apo *a)
{
	char b1[IEM_SHOW_SIZE];
	unsigned int ch = 0;
	struct tok t;

	while ((t = next_tok(a)).len > 0) {
		if (tok_is(a, t, "L") || tok_is(a, t, "1"))
			ch |= IEM_CHANNELS_LEFT;
		else if (tok_is(a, t, "R") || tok_is(a, t, "2"))
			ch |= IEM_CHANNELS_RIGHT;
		else if (tok_is(a, t, "ALL"))
			ch |= IEM_CHANNELS_BOTH;
		else
			return fail(a, t.off, "channel '%s' is not supported: "
					"iemstage is stereo (L, R, ALL)", show_tok(b1, a, t));
	}
	if (ch == 0)
		return fail(a, t.off, "expected a channel (L, R or ALL), got end of line");

	a->channels = (enum iem_channels)ch;
	return 0;
}

/* Q for a bandwidth in octaves, and back (RBJ cookbook). */
static double bw_to_q(double bw)
{
	return 1.0 / (2.0 * sinh(log(2.0) / 2.0 * bw));
}

static double q_to_bw(double q)
{
	return 2.0 / log(2.0) * asinh(1.0 / (2.0 * q));
}

static int check_range(struct apo *a, enum field f, double v, struct tok num)
{
	char b1[IEM_SHOW_SIZE];
	double lo, hi;

	switch (f) {
	case FIELD_FC:
		if (!(v >= IEM_FREQ_MIN && v <= IEM_FREQ_MAX))
			return fail(a, num.off, "Fc %s Hz is out of range (%g … %g Hz)",
					show_tok(b1, a, num), IEM_FREQ_MIN, IEM_FREQ_MAX);
		break;
	case FIELD_GAIN:
		if (!(v >= IEM_GAIN_MIN && v <= IEM_GAIN_MAX))
			return fail(a, num.off, "Gain %s dB is out of range (%g … %g dB)",
					show_tok(b1, a, num), IEM_GAIN_MIN, IEM_GAIN_MAX);
		break;
	case FIELD_Q:
		if (!(v >= IEM_Q_MIN && v <= IEM_Q_MAX))
			return fail(a, num.off, "Q %s is out of range (%g … %g)",
					show_tok(b1, a, num), IEM_Q_MIN, IEM_Q_MAX);
		break;
	case FIELD_BW:
		/* the Q limits as bandwidths (a narrow band is a high Q),
		 * rounded inwards so that the limits in the message are
		 * exactly the ones enforced */
		lo = ceil(q_to_bw(IEM_Q_MAX) * 1e4) / 1e4;
		hi = floor(q_to_bw(IEM_Q_MIN) * 1e2) / 1e2;
		if (!(v >= lo && v <= hi))
			return fail(a, num.off, "BW Oct %s is out of range (%g … %g)",
					show_tok(b1, a, num), lo, hi);
		break;
	default:
		break;
	}
	return 0;
}

static const struct type_info *find_type(const struct apo *a, struct tok t)
{
	size_t i;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (tok_is(a, t, types[i].name))
			return &types[i];
	}
	return NULL;
}

/* Equalizer APO writes shelf slopes right after the type ("LS 6dB",
 * "LSC 12 dB"); neither form has a Q, and guessing one would change the
 * sound, so name the construct instead of failing on a stray number. */
static int check_shelf_slope(struct apo *a, const struct type_info *ti, struct tok type)
{
	char b1[IEM_SHOW_SIZE], b2[IEM_SHOW_SIZE], b3[IEM_SHOW_SIZE];
	struct tok slope, unit;
	size_t pos = a->pos;
	const char *sep = "";

	if (ti->shelf == SHELF_NONE)
		return 0;
	slope = next_tok(a);
	if (slope.len == 0 || !(is_digit(a->line[slope.off]) || a->line[slope.off] == '.')) {
		a->pos = pos;
		return 0;
	}
	/* "LSC 12 dB": show the unit too */
	unit = next_tok(a);
	if (unit.len > 0 && tok_is(a, unit, "dB"))
		sep = " ";
	else
		unit.len = 0;

	if (ti->shelf == SHELF_FIXED)
		return fail(a, type.off, "fixed-slope shelf '%s %s%s%s' is not supported; "
				"use %s with a Q",
				show_tok(b1, a, type), show_tok(b2, a, slope), sep,
				show_tok(b3, a, unit), ti->q_shelf);
	return fail(a, type.off, "shelf slope in '%s %s%s%s' is not supported; give a Q instead",
			show_tok(b1, a, type), show_tok(b2, a, slope), sep,
			show_tok(b3, a, unit));
}

static int parse_filter(struct apo *a, size_t cmd_off)
{
	char b1[IEM_SHOW_SIZE + 2];
	const struct type_info *ti;
	struct tok t, type, num;
	bool on, given[FIELD_COUNT] = { false };
	double val[FIELD_COUNT] = { 0.0 };
	struct iem_band *b;
	enum field f;
	int res;

	t = next_tok(a);
	if (tok_is(a, t, "ON"))
		on = true;
	else if (tok_is(a, t, "OFF"))
		on = false;
	else
		return fail(a, t.off, "expected ON or OFF, got %s", show_got(b1, a, t));

	type = next_tok(a);
	if (type.len == 0)
		return fail(a, type.off, "expected a filter type, got end of line");
	if ((ti = find_type(a, type)) == NULL)
		return fail(a, type.off, "unknown filter type '%s'", show_tok(b1, a, type));
	if ((res = check_shelf_slope(a, ti, type)) < 0)
		return res;

	while ((t = next_tok(a)).len > 0) {
		if (tok_is(a, t, "Fc"))
			f = FIELD_FC;
		else if (tok_is(a, t, "Gain"))
			f = FIELD_GAIN;
		else if (tok_is(a, t, "Q"))
			f = FIELD_Q;
		else if (tok_is(a, t, "BW"))
			f = FIELD_BW;
		else
			return fail(a, t.off, "unexpected '%s'", show_tok(b1, a, t));

		if (given[f])
			return fail(a, t.off, "'%s' given twice", field_name[f]);
		if ((f == FIELD_Q && given[FIELD_BW]) || (f == FIELD_BW && given[FIELD_Q]))
			return fail(a, t.off, "'Q' and 'BW Oct' both given");
		if ((f == FIELD_GAIN && !ti->gain) || (f == FIELD_BW && ti->q != Q_OR_BW))
			return fail(a, t.off, "'%s' does not apply to %s filters",
					field_name[f], ti->name);
		if (f == FIELD_BW) {
			struct tok oct = next_tok(a);
			if (!tok_is(a, oct, "Oct"))
				return fail(a, oct.off, "expected 'Oct' after 'BW', got %s",
						show_got(b1, a, oct));
		}

		res = parse_value(a, field_name[f],
				f == FIELD_FC ? "Hz" : f == FIELD_GAIN ? "dB" : NULL,
				&val[f], &num);
		if (res < 0)
			return res;
		if ((res = check_range(a, f, val[f], num)) < 0)
			return res;
		given[f] = true;
	}

	if (!given[FIELD_FC])
		return fail(a, type.off, "missing Fc for %s filter", ti->name);
	if (ti->gain && !given[FIELD_GAIN])
		return fail(a, type.off, "missing Gain for %s filter", ti->name);
	if (ti->q == Q_REQUIRED && !given[FIELD_Q])
		return fail(a, type.off, "missing Q for %s filter", ti->name);
	if (ti->q == Q_OR_BW && !given[FIELD_Q] && !given[FIELD_BW])
		return fail(a, type.off, "missing Q or BW Oct for %s filter", ti->name);

	if (!on)
		return 0;
	if (a->n_bands >= IEM_MAX_BANDS)
		return fail(a, cmd_off, "too many filters: at most %d can be ON", IEM_MAX_BANDS);

	b = &a->band[a->n_bands++];
	b->type = ti->type;
	b->freq = val[FIELD_FC];
	b->gain = ti->gain ? val[FIELD_GAIN] : 0.0;
	if (given[FIELD_Q])
		b->q = val[FIELD_Q];
	else if (given[FIELD_BW])
		/* the range check on BW keeps this in range but for rounding */
		b->q = fmin(fmax(bw_to_q(val[FIELD_BW]), IEM_Q_MIN), IEM_Q_MAX);
	else
		b->q = DEFAULT_Q;
	b->channels = a->channels;
	return 0;
}

/* "Filter" or "Filter<digits>", the forms of the Filter command's name. */
static bool is_filter_name(const char *s, size_t n)
{
	size_t i;
	if (n < 6 || !eq_ci(s, 6, "Filter"))
		return false;
	for (i = 6; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
	}
	return true;
}

static bool is_word(const char *s, size_t n)
{
	size_t i;
	if (n == 0 || !is_alpha(s[0]))
		return false;
	for (i = 1; i < n; i++) {
		if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '_')
			return false;
	}
	return true;
}

static int parse_line(struct apo *a)
{
	char b1[IEM_SHOW_SIZE + 2], b2[IEM_SHOW_SIZE];
	const char *l = a->line, *bad;
	struct tok w, t;
	size_t i;

	/* Checked before anything else, so that a stray byte is named as
	 * such rather than as part of some odd token. */
	if ((bad = iem_text_bad_byte(l, a->len, &i)) != NULL)
		return fail(a, i, "%s", bad);
	while (a->len > 0 && is_blank(l[a->len - 1]))
		a->len--;

	a->pos = 0;
	while (a->pos < a->len && is_blank(l[a->pos]))
		a->pos++;
	if (a->pos == a->len || l[a->pos] == '#')
		return 0;

	/* the command name ends at a blank or the colon */
	w.off = a->pos;
	while (a->pos < a->len && !is_blank(l[a->pos]) && l[a->pos] != ':')
		a->pos++;
	w.len = a->pos - w.off;
	while (a->pos < a->len && is_blank(l[a->pos]))
		a->pos++;

	if (!is_word(l + w.off, w.len)) {
		a->pos = w.off;
		t = next_tok(a);
		return fail(a, w.off, "expected 'Preamp:', 'Filter:' or 'Channel:', got '%s'",
				show_tok(b2, a, t));
	}

	if (a->pos < a->len && l[a->pos] == ':') {
		a->pos++;
		if (tok_is(a, w, "Preamp"))
			return parse_preamp(a, w.off);
		if (tok_is(a, w, "Channel"))
			return parse_channel(a);
		if (is_filter_name(l + w.off, w.len))
			return parse_filter(a, w.off);
		return fail(a, w.off, "'%s' is not supported in a ParametricEQ file",
				show_tok(b2, a, w));
	}

	if (tok_is(a, w, "Filter")) {
		/* "Filter 12:"; the number means nothing to Equalizer APO
		 * either, it only has to be a number */
		t.off = a->pos;
		while (a->pos < a->len && !is_blank(l[a->pos]) && l[a->pos] != ':')
			a->pos++;
		t.len = a->pos - t.off;
		if (t.len == 0)
			return fail(a, t.off, "expected ':' after 'Filter', got end of line");
		for (i = 0; i < t.len; i++) {
			if (!is_digit(l[t.off + i]))
				return fail(a, t.off, "expected a filter number or ':' after 'Filter', "
						"got '%s'", show_tok(b2, a, t));
		}
		while (a->pos < a->len && is_blank(l[a->pos]))
			a->pos++;
		if (a->pos < a->len && l[a->pos] == ':') {
			a->pos++;
			return parse_filter(a, w.off);
		}
		{
			struct tok n = t;
			t = peek_tok(a);
			return fail(a, t.off, "expected ':' after 'Filter %s', got %s",
					show_tok(b2, a, n), show_got(b1, a, t));
		}
	}
	if (tok_is(a, w, "Preamp") || tok_is(a, w, "Channel") || is_filter_name(l + w.off, w.len)) {
		t = peek_tok(a);
		return fail(a, t.off, "expected ':' after '%s', got %s",
				show_tok(b2, a, w), show_got(b1, a, t));
	}

	a->pos = w.off;
	t = next_tok(a);
	return fail(a, w.off, "expected 'Preamp:', 'Filter:' or 'Channel:', got '%s'",
			show_tok(b2, a, t));
}

int iem_apo_parse(const char *text, size_t len, struct iem_params *p,
		struct iem_parse_error *err)
{
	struct iem_text_lines lines;
	struct apo a;
	size_t i;
	int res;

	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (p == NULL || (text == NULL && len > 0))
		return iem_text_fail(err, 0, 0, "invalid arguments");

	memset(&a, 0, sizeof(a));
	a.err = err;
	a.channels = IEM_CHANNELS_BOTH;

	iem_text_lines_init(&lines, text, len);
	while (iem_text_next_line(&lines, &a.line, &a.len, &a.lineno)) {
		if ((res = parse_line(&a)) < 0)
			return res;
	}

	for (i = 0; i < IEM_MAX_BANDS; i++) {
		if (i < a.n_bands) {
			p->band[i] = a.band[i];
		} else {
			p->band[i].type = IEM_FILTER_OFF;
			p->band[i].freq = DEFAULT_FREQ;
			p->band[i].q = DEFAULT_Q;
			p->band[i].gain = 0.0;
			p->band[i].channels = IEM_CHANNELS_BOTH;
		}
	}
	p->preamp_auto = a.n_preamp == 0;
	p->preamp = a.n_preamp == 0 ? 0.0 : a.preamp;
	return 0;
}
