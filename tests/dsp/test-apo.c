/* SPDX-License-Identifier: MIT */
/*
 * The ParametricEQ.txt parser: valid files give exactly the bands they
 * describe, every malformed input is refused with its exact position and
 * message and leaves the parameters alone. Every text is handed over in a
 * buffer of exactly its length, so a sanitizer build catches any read past
 * the end.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iem-dsp.h"
#include "iem-test-params.h"
#include "iem-test.h"

#define DEF_FREQ	1000.0
#define DEF_Q		0.7071

/* Parameters that differ from the defaults everywhere, to see what the
 * parser touches. */

/* The text in a heap buffer of exactly its length: no terminating NUL. */
static int parse_n(const char *text, size_t len, struct iem_params *p,
		struct iem_parse_error *err)
{
	char *copy = malloc(len > 0 ? len : 1);
	int res;

	if (copy == NULL)
		abort();
	memcpy(copy, text, len);
	res = iem_apo_parse(copy, len, p, err);
	free(copy);
	return res;
}

static int parse(const char *text, struct iem_params *p, struct iem_parse_error *err)
{
	return parse_n(text, strlen(text), p, err);
}

static bool parse_ok(const char *what, const char *text, struct iem_params *p)
{
	struct iem_parse_error err;
	int res;

	test_params_nondefault(p);
	res = parse(text, p, &err);
	return check(res == 0, "%s: parses (%d, %u:%u: %s)", what, res,
			err.line, err.column, err.message);
}

static bool band_is(const char *what, const struct iem_params *p, int i,
		enum iem_filter_type type, double freq, double q, double gain,
		enum iem_channels channels)
{
	const struct iem_band *b = &p->band[i];
	return check(b->type == type && b->freq == freq && b->q == q &&
			b->gain == gain && b->channels == channels,
			"%s: band %d is type %d %.17g Hz Q %.17g %.17g dB ch %d "
			"(got type %d %.17g Hz Q %.17g %.17g dB ch %d)",
			what, i + 1, type, freq, q, gain, channels,
			b->type, b->freq, b->q, b->gain, b->channels);
}

static void rest_off(const char *what, const struct iem_params *p, int from)
{
	int i, bad = 0;

	for (i = from; i < IEM_MAX_BANDS; i++) {
		const struct iem_band *b = &p->band[i];
		if (b->type != IEM_FILTER_OFF || b->freq != DEF_FREQ || b->q != DEF_Q ||
		    b->gain != 0.0 || b->channels != IEM_CHANNELS_BOTH)
			bad++;
	}
	check(bad == 0, "%s: bands %d … %d are off with defaults (%d are not)",
			what, from + 1, IEM_MAX_BANDS, bad);
}

static void kept(const char *what, const struct iem_params *p)
{
	check(p->bypass && p->output_gain == -3.25,
			"%s: bypass and output gain kept (%d, %g)", what, p->bypass, p->output_gain);
}

static void test_autoeq(void)
{
	static const char text[] =
		"Preamp: -6.2 dB\n"
		"Filter 1: ON LSC Fc 105 Hz Gain 2.3 dB Q 0.70\n"
		"Filter 2: ON PK Fc 180 Hz Gain -3.5 dB Q 0.93\n"
		"Filter 3: ON PK Fc 1150 Hz Gain 1.8 dB Q 1.26\n"
		"Filter 4: ON PK Fc 2300 Hz Gain 3.9 dB Q 2.02\n"
		"Filter 5: ON PK Fc 3600 Hz Gain -4.4 dB Q 3.41\n"
		"Filter 6: ON PK Fc 5400 Hz Gain 5.1 dB Q 4.23\n"
		"Filter 7: ON PK Fc 7000 Hz Gain -2.2 dB Q 1.87\n"
		"Filter 8: ON PK Fc 9000 Hz Gain 1.5 dB Q 2.67\n"
		"Filter 9: ON PK Fc 12000 Hz Gain -1.1 dB Q 0.89\n"
		"Filter 10: ON HSC Fc 10000 Hz Gain -3.8 dB Q 0.70\n";
	const char *w = "autoeq";
	struct iem_params p;

	if (!parse_ok(w, text, &p))
		return;
	check(!p.preamp_auto && p.preamp == -6.2, "%s: preamp -6.2 dB (%d, %.17g)",
			w, p.preamp_auto, p.preamp);
	band_is(w, &p, 0, IEM_FILTER_LOWSHELF, 105, 0.70, 2.3, IEM_CHANNELS_BOTH);
	band_is(w, &p, 1, IEM_FILTER_PEAKING, 180, 0.93, -3.5, IEM_CHANNELS_BOTH);
	band_is(w, &p, 2, IEM_FILTER_PEAKING, 1150, 1.26, 1.8, IEM_CHANNELS_BOTH);
	band_is(w, &p, 3, IEM_FILTER_PEAKING, 2300, 2.02, 3.9, IEM_CHANNELS_BOTH);
	band_is(w, &p, 4, IEM_FILTER_PEAKING, 3600, 3.41, -4.4, IEM_CHANNELS_BOTH);
	band_is(w, &p, 5, IEM_FILTER_PEAKING, 5400, 4.23, 5.1, IEM_CHANNELS_BOTH);
	band_is(w, &p, 6, IEM_FILTER_PEAKING, 7000, 1.87, -2.2, IEM_CHANNELS_BOTH);
	band_is(w, &p, 7, IEM_FILTER_PEAKING, 9000, 2.67, 1.5, IEM_CHANNELS_BOTH);
	band_is(w, &p, 8, IEM_FILTER_PEAKING, 12000, 0.89, -1.1, IEM_CHANNELS_BOTH);
	band_is(w, &p, 9, IEM_FILTER_HIGHSHELF, 10000, 0.70, -3.8, IEM_CHANNELS_BOTH);
	rest_off(w, &p, 10);
	kept(w, &p);
}

static void test_layout(void)
{
	/* BOM, CRLF, tabs, comments, blank lines, odd case, attached units,
	 * no final line end */
	static const char text[] =
		"\xef\xbb\xbf# made by hand\r\n"
		"\r\n"
		"   \t\r\n"
		"  # indented comment: Filter: ON XYZ\r\n"
		"\tpreamp:-3dB \t\r\n"
		"FILTER 1 :\ton\tpk\tfc\t100hz\tgain\t-2DB\tq\t1.5\r\n"
		"Filter2:  On   Pk   FC 200   GAIN 2   Q 2  \r\n"
		"filter   3:ON HSC Gain 4 dB Fc 8000 Hz\r\n"
		"Filter 0004: ON PK Q 3 Fc 300 Gain +1.25 dB";
	const char *w = "layout";
	struct iem_params p;

	if (!parse_ok(w, text, &p))
		return;
	check(!p.preamp_auto && p.preamp == -3.0, "%s: preamp -3 dB (%d, %g)",
			w, p.preamp_auto, p.preamp);
	band_is(w, &p, 0, IEM_FILTER_PEAKING, 100, 1.5, -2, IEM_CHANNELS_BOTH);
	band_is(w, &p, 1, IEM_FILTER_PEAKING, 200, 2, 2, IEM_CHANNELS_BOTH);
	band_is(w, &p, 2, IEM_FILTER_HIGHSHELF, 8000, DEF_Q, 4, IEM_CHANNELS_BOTH);
	band_is(w, &p, 3, IEM_FILTER_PEAKING, 300, 3, 1.25, IEM_CHANNELS_BOTH);
	rest_off(w, &p, 4);
	kept(w, &p);
}

static void test_numberless_and_off(void)
{
	static const char text[] =
		"Filter: ON PK Fc 50 Hz Gain -1 dB Q 0.5\n"
		"Filter: OFF PK Fc 60 Hz Gain -2 dB Q 0.6\n"
		"Filter 3: off LSC Fc 70 Hz Gain 3 dB\n"
		"Filter: ON LP Fc 20000 Hz\n"
		"Filter 5: OFF HPQ Fc 20 Hz Q 0.5\n";
	const char *w = "numberless/off";
	struct iem_params p;

	if (!parse_ok(w, text, &p))
		return;
	check(p.preamp_auto && p.preamp == 0.0, "%s: no Preamp line: automatic (%d, %g)",
			w, p.preamp_auto, p.preamp);
	band_is(w, &p, 0, IEM_FILTER_PEAKING, 50, 0.5, -1, IEM_CHANNELS_BOTH);
	band_is(w, &p, 1, IEM_FILTER_LOWPASS, 20000, DEF_Q, 0, IEM_CHANNELS_BOTH);
	rest_off(w, &p, 2);
	kept(w, &p);
}

static void test_channels(void)
{
	static const char text[] =
		"Preamp: -1 dB\n"
		"Filter: ON PK Fc 100 Hz Gain 1 dB Q 1\n"
		"Channel: L\n"
		"Filter: ON PK Fc 200 Hz Gain 2 dB Q 1\n"
		"Channel: r\n"
		"Filter: ON PK Fc 300 Hz Gain 3 dB Q 1\n"
		"Channel: L R\n"
		"Preamp: -1 dB\n"
		"Filter: ON PK Fc 400 Hz Gain 4 dB Q 1\n"
		"Channel:2\n"
		"Filter: ON PK Fc 500 Hz Gain 5 dB Q 1\n"
		"channel: 1\n"
		"Filter: ON PK Fc 600 Hz Gain 6 dB Q 1\n"
		"Channel: all\n"
		"Filter: ON PK Fc 700 Hz Gain 7 dB Q 1\n"
		"Channel: 2 1\n"
		"Filter: ON PK Fc 800 Hz Gain 8 dB Q 1\n"
		"Channel: L\n";
	const char *w = "channels";
	struct iem_params p;

	if (!parse_ok(w, text, &p))
		return;
	check(!p.preamp_auto && p.preamp == -2.0, "%s: preamp -2 dB (%g)", w, p.preamp);
	band_is(w, &p, 0, IEM_FILTER_PEAKING, 100, 1, 1, IEM_CHANNELS_BOTH);
	band_is(w, &p, 1, IEM_FILTER_PEAKING, 200, 1, 2, IEM_CHANNELS_LEFT);
	band_is(w, &p, 2, IEM_FILTER_PEAKING, 300, 1, 3, IEM_CHANNELS_RIGHT);
	band_is(w, &p, 3, IEM_FILTER_PEAKING, 400, 1, 4, IEM_CHANNELS_BOTH);
	band_is(w, &p, 4, IEM_FILTER_PEAKING, 500, 1, 5, IEM_CHANNELS_RIGHT);
	band_is(w, &p, 5, IEM_FILTER_PEAKING, 600, 1, 6, IEM_CHANNELS_LEFT);
	band_is(w, &p, 6, IEM_FILTER_PEAKING, 700, 1, 7, IEM_CHANNELS_BOTH);
	band_is(w, &p, 7, IEM_FILTER_PEAKING, 800, 1, 8, IEM_CHANNELS_BOTH);
	rest_off(w, &p, 8);
}

static void test_types(void)
{
	static const char text[] =
		"Filter: ON PK Fc 100 Hz Gain 1 dB Q 1.1\n"
		"Filter: ON LSC Fc 101 Hz Gain 2 dB Q 1.2\n"
		"Filter: ON HSC Fc 102 Hz Gain 3 dB\n"
		"Filter: ON LS Fc 103 Hz Gain 4 dB Q 1.4\n"
		"Filter: ON HS Fc 104 Hz Gain -5 dB\n"
		"Filter: ON LP Fc 105 Hz\n"
		"Filter: ON HP Fc 106 Hz Q 1.6\n"
		"Filter: ON LPQ Fc 107 Hz Q 1.7\n"
		"Filter: ON HPQ Fc 108 Hz Q 1.8\n"
		"Filter: ON BP Fc 109 Hz Q 1.9\n"
		"Filter: ON NO Fc 110 Hz Q 2.0\n"
		"Filter: ON AP Fc 111 Hz Q 2.1\n"
		"Filter: ON hp Fc 112 Hz\n"
		"Filter: ON lsc Fc 113 Hz Gain -30 dB Q 0.025\n"
		"Filter: ON pk Fc 5 Hz Gain 30 dB Q 40\n"
		"Filter: ON pk Fc 40000 Hz Gain -0 dB Q 40\n";
	const char *w = "types";
	struct iem_params p;

	if (!parse_ok(w, text, &p))
		return;
	band_is(w, &p, 0, IEM_FILTER_PEAKING, 100, 1.1, 1, IEM_CHANNELS_BOTH);
	band_is(w, &p, 1, IEM_FILTER_LOWSHELF, 101, 1.2, 2, IEM_CHANNELS_BOTH);
	band_is(w, &p, 2, IEM_FILTER_HIGHSHELF, 102, DEF_Q, 3, IEM_CHANNELS_BOTH);
	band_is(w, &p, 3, IEM_FILTER_LOWSHELF, 103, 1.4, 4, IEM_CHANNELS_BOTH);
	band_is(w, &p, 4, IEM_FILTER_HIGHSHELF, 104, DEF_Q, -5, IEM_CHANNELS_BOTH);
	band_is(w, &p, 5, IEM_FILTER_LOWPASS, 105, DEF_Q, 0, IEM_CHANNELS_BOTH);
	band_is(w, &p, 6, IEM_FILTER_HIGHPASS, 106, 1.6, 0, IEM_CHANNELS_BOTH);
	band_is(w, &p, 7, IEM_FILTER_LOWPASS, 107, 1.7, 0, IEM_CHANNELS_BOTH);
	band_is(w, &p, 8, IEM_FILTER_HIGHPASS, 108, 1.8, 0, IEM_CHANNELS_BOTH);
	band_is(w, &p, 9, IEM_FILTER_BANDPASS, 109, 1.9, 0, IEM_CHANNELS_BOTH);
	band_is(w, &p, 10, IEM_FILTER_NOTCH, 110, 2.0, 0, IEM_CHANNELS_BOTH);
	band_is(w, &p, 11, IEM_FILTER_ALLPASS, 111, 2.1, 0, IEM_CHANNELS_BOTH);
	band_is(w, &p, 12, IEM_FILTER_HIGHPASS, 112, DEF_Q, 0, IEM_CHANNELS_BOTH);
	band_is(w, &p, 13, IEM_FILTER_LOWSHELF, 113, 0.025, -30, IEM_CHANNELS_BOTH);
	band_is(w, &p, 14, IEM_FILTER_PEAKING, 5, 40, 30, IEM_CHANNELS_BOTH);
	band_is(w, &p, 15, IEM_FILTER_PEAKING, 40000, 40, 0, IEM_CHANNELS_BOTH);
	check(!signbit(p.band[15].gain), "%s: Gain -0 is stored as +0", w);
	rest_off(w, &p, 16);
}

static void test_bandwidth(void)
{
	static const struct {
		const char *text;
		double bw;
		enum iem_filter_type type;
		double gain;
	} cases[] = {
		{ "Filter: ON PK Fc 1000 Hz Gain -4 dB BW Oct 1", 1.0, IEM_FILTER_PEAKING, -4 },
		{ "Filter: ON PK BW Oct 0.5 Fc 1000 Hz Gain 2 dB", 0.5, IEM_FILTER_PEAKING, 2 },
		{ "Filter: ON BP Fc 1000 Hz bw oct 2", 2.0, IEM_FILTER_BANDPASS, 0 },
		{ "Filter: ON NO Fc 1000 Hz BW\tOct\t1.9", 1.9, IEM_FILTER_NOTCH, 0 },
		{ "Filter: ON PK Fc 1000 Hz Gain 1 dB BW Oct 1.4142135623730951",
			1.4142135623730951, IEM_FILTER_PEAKING, 1 },
		{ "Filter: ON BP Fc 1000 Hz BW Oct 0.0361", 0.0361, IEM_FILTER_BANDPASS, 0 },
		{ "Filter: ON BP Fc 1000 Hz BW Oct 10.64", 10.64, IEM_FILTER_BANDPASS, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct iem_params p;
		double q = 1.0 / (2.0 * sinh(log(2.0) / 2.0 * cases[i].bw));
		const struct iem_band *b = &p.band[0];

		if (!parse_ok(cases[i].text, cases[i].text, &p))
			continue;
		check(b->type == cases[i].type && b->freq == 1000.0 &&
				fabs(b->q - q) < 1e-12 * q && b->gain == cases[i].gain &&
				b->channels == IEM_CHANNELS_BOTH,
				"BW Oct %g is Q %.6f (got type %d, Q %.6f, gain %g)",
				cases[i].bw, q, b->type, b->q, b->gain);
	}
	/* the familiar figures: one octave is Q 1.4142, two are Q 0.6667 */
	{
		struct iem_params p;
		if (parse_ok("BW 1 and 2",
				"Filter: ON BP Fc 100 BW Oct 1\nFilter: ON BP Fc 100 BW Oct 2\n", &p))
			check(fabs(p.band[0].q - 1.4142) < 1e-4 && fabs(p.band[1].q - 0.6667) < 1e-4,
					"BW Oct 1, 2 are Q %.4f, %.4f", p.band[0].q, p.band[1].q);
	}
}

static void test_preamp(void)
{
	struct iem_params p;

	if (parse_ok("preamp sum", "Preamp: -3 dB\nPreamp: -2.5dB\nPreamp: +0.25\n", &p))
		check(!p.preamp_auto && p.preamp == -5.25, "preamp sum: -5.25 dB (%.17g)", p.preamp);
	if (parse_ok("preamp limits", "Preamp: -60 dB\nPreamp: 30 dB\nPreamp: 30 dB\n", &p))
		check(!p.preamp_auto && p.preamp == 0.0, "preamp limits: 0 dB (%.17g)", p.preamp);
	if (parse_ok("preamp zero", "Preamp: 0 dB\n", &p))
		check(!p.preamp_auto && p.preamp == 0.0, "preamp zero: manual 0 dB (%d %g)",
				p.preamp_auto, p.preamp);
	if (parse_ok("no preamp", "Filter: ON PK Fc 100 Hz Gain 1 dB Q 1\n", &p))
		check(p.preamp_auto && p.preamp == 0.0, "no preamp: automatic (%d %g)",
				p.preamp_auto, p.preamp);
}

static void test_numbers(void)
{
	static const struct {
		const char *text;
		double freq;
	} cases[] = {
		{ "+100", 100.0 },
		{ "100.", 100.0 },
		{ "0100.50", 100.5 },
		{ "1e3", 1000.0 },
		{ "1E+3Hz", 1000.0 },
		{ "12345e-1", 1234.5 },
		{ "0.0000000000000000000000000000000000000000000001e48", 100.0 },
		{ "1000.000000000000000000000000000000000000000000000000001", 1000.0 },
		{ "1234.5678901234567890123456789012345678901234567890", 1234.5678901234567890 },
		{ "19999.999999999999999999999999999999999999999999999999", 20000.0 },
		{ "5.000000000000001", 5.000000000000001 },
		{ "39999.99999999999", 39999.99999999999 },
		{ ".5e2", 50.0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[256];
		struct iem_params p;

		snprintf(text, sizeof(text), "Filter: ON LP Fc %s", cases[i].text);
		if (parse_ok(text, text, &p))
			check(p.band[0].freq == cases[i].freq, "Fc %s is %.17g (got %.17g)",
					cases[i].text, cases[i].freq, p.band[0].freq);
	}
}

/* Digits far beyond a double's precision, and exponents that only make
 * sense together with them. */
static void test_long_numbers(void)
{
	size_t zeros = 200000, o = 0;
	char *text = malloc(zeros + 64);
	struct iem_parse_error err;
	struct iem_params p;

	if (text == NULL)
		abort();
	o += (size_t)sprintf(text, "Filter: ON LP Fc 0.");
	memset(text + o, '0', zeros);
	o += zeros;
	o += (size_t)sprintf(text + o, "1e%zu Hz", zeros + 2);
	test_params_nondefault(&p);
	check(parse_n(text, o, &p, &err) == 0 && p.band[0].freq == 10.0,
			"Fc 0.(200000 zeros)1e200002 is 10 Hz (%g; %s)", p.band[0].freq, err.message);

	o = (size_t)sprintf(text, "Filter: ON LP Fc 2");
	memset(text + o, '0', zeros);
	o += zeros;
	o += (size_t)sprintf(text + o, "e-%zu", zeros - 1);
	test_params_nondefault(&p);
	check(parse_n(text, o, &p, &err) == 0 && p.band[0].freq == 20.0,
			"Fc 2(200000 zeros)e-199999 is 20 Hz (%g; %s)", p.band[0].freq, err.message);
	free(text);
}

/* Numbers do not follow the process locale, whose decimal point may be a
 * comma. Only runs where such a locale is installed. */
static void test_locale(void)
{
	static const char *const names[] = {
		"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "nl_NL.UTF-8",
		"ru_RU.UTF-8", NULL,
	};
	struct iem_params p;
	int i;

	for (i = 0; names[i] != NULL; i++) {
		if (setlocale(LC_ALL, names[i]) != NULL &&
		    strcmp(localeconv()->decimal_point, ",") == 0)
			break;
	}
	if (names[i] == NULL) {
		diag("no locale with a decimal comma installed: locale test skipped");
		setlocale(LC_ALL, "C");
		return;
	}
	if (parse_ok("locale", "Preamp: -6.5 dB\nFilter: ON PK Fc 1234.5 Hz Gain 2.25 dB Q 0.75\n", &p)) {
		check(p.preamp == -6.5, "locale %s: preamp -6.5 (%g)", names[i], p.preamp);
		band_is("locale", &p, 0, IEM_FILTER_PEAKING, 1234.5, 0.75, 2.25, IEM_CHANNELS_BOTH);
	}
	setlocale(LC_ALL, "C");
}

static void test_limits(void)
{
	char text[64 * 40];
	struct iem_params p;
	size_t o = 0;
	int i;

	for (i = 0; i < IEM_MAX_BANDS; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
				"Filter %d: ON PK Fc %d Hz Gain 1 dB Q 1\n", i + 1, 100 + i);
	o += (size_t)snprintf(text + o, sizeof(text) - o, "Filter 33: OFF PK Fc 99 Hz Gain 1 dB Q 1\n");
	if (parse_ok("32 filters", text, &p)) {
		band_is("32 filters", &p, 0, IEM_FILTER_PEAKING, 100, 1, 1, IEM_CHANNELS_BOTH);
		band_is("32 filters", &p, 31, IEM_FILTER_PEAKING, 131, 1, 1, IEM_CHANNELS_BOTH);
	}

	if (parse_ok("empty", "", &p)) {
		check(p.preamp_auto && p.preamp == 0.0, "empty: automatic preamp");
		rest_off("empty", &p, 0);
		kept("empty", &p);
	}
	test_params_nondefault(&p);
	check(iem_apo_parse(NULL, 0, &p, NULL) == 0, "NULL text of length 0 is empty");
	check(iem_apo_parse("x", 1, NULL, NULL) == -EINVAL, "NULL params: -EINVAL");
	check(iem_apo_parse(NULL, 1, &p, NULL) == -EINVAL, "NULL text of length 1: -EINVAL");
	check(iem_apo_parse("Fc", 2, &p, NULL) == -EINVAL, "an error without err: -EINVAL");
	check(parse_ok("comments only", "# a\n#\n\n   # b", &p), "comments only parse");
}

/* Lines of any length: a long comment, and a long run of blanks inside a
 * statement whose error column is past 1000000. */
static void test_long_lines(void)
{
	size_t n = 3000000, o = 0;
	char *text = malloc(n + 256);
	struct iem_parse_error err;
	struct iem_params p;
	char want[128];

	if (text == NULL)
		abort();
	text[o++] = '#';
	memset(text + o, 'x', 1000000);
	o += 1000000;
	text[o++] = '\n';
	memcpy(text + o, "Filter:", 7);
	o += 7;
	memset(text + o, ' ', 1000000);
	o += 1000000;
	memcpy(text + o, "ON PK Fc 100 Gain 1 Q 1 junk", 28);
	o += 28;
	test_params_nondefault(&p);
	check(parse_n(text, o, &p, &err) == -EINVAL, "long lines: refused");
	snprintf(want, sizeof(want), "2:%u: unexpected 'junk'", 7 + 1000000 + 24 + 1);
	{
		char got[512];
		snprintf(got, sizeof(got), "%u:%u: %s", err.line, err.column, err.message);
		check(strcmp(got, want) == 0, "long lines: '%s' (got '%s')", want, got);
	}
	o -= 5;
	check(parse_n(text, o, &p, &err) == 0 && p.band[0].freq == 100.0,
			"long lines: valid without the junk");
	free(text);
}

struct bad {
	const char *text;
	size_t len;		/* 0: strlen(text) */
	const char *want;	/* "line:column: message" */
};

static const struct bad bad[] = {
	{ "Preamp: -6.2 dB\nFilter 1: ON PK Fc abc Hz Gain 1 dB Q 1\n", 0,
		"2:20: expected a number after 'Fc', got 'abc'" },
	{ "Filter 1: ON PK Fc 0 Hz Gain 1 dB Q 1\n", 0,
		"1:20: Fc 0 Hz is out of range (5 … 40000 Hz)" },
	{ "Filter 1: ON PK Fc 40001Hz Gain 1 dB Q 1\n", 0,
		"1:20: Fc 40001 Hz is out of range (5 … 40000 Hz)" },
	{ "Filter 1: ON PK Fc 1e999 Hz Gain 1 dB Q 1\n", 0,
		"1:20: Fc 1e999 Hz is out of range (5 … 40000 Hz)" },
	{ "Filter 1: ON PK Fc 100 Hz Gain 30.5 dB Q 1\n", 0,
		"1:32: Gain 30.5 dB is out of range (-30 … 30 dB)" },
	{ "Filter 1: ON PK Fc 100 Hz Gain -1 dB Q 0\n", 0,
		"1:40: Q 0 is out of range (0.025 … 40)" },
	{ "Filter 1: ON PK Fc 100 Hz Gain -1 dB Q 40.001\n", 0,
		"1:40: Q 40.001 is out of range (0.025 … 40)" },
	{ "\n\nFilter 1: ON PK Fc 100 Hz Gain -1 dB\n", 0,
		"3:14: missing Q or BW Oct for PK filter" },
	{ "Filter 1: ON PK Gain -1 dB Q 1\n", 0,
		"1:14: missing Fc for PK filter" },
	{ "Filter: ON LSC Fc 100 Hz Q 1\n", 0,
		"1:12: missing Gain for LSC filter" },
	{ "Filter: ON LPQ Fc 100 Hz\n", 0,
		"1:12: missing Q for LPQ filter" },
	{ "Filter: ON AP Fc 100 Hz\n", 0,
		"1:12: missing Q for AP filter" },
	{ "Filter: ON PK Fc 100 Hz Gain 1 dB Gain 2 dB Q 1\n", 0,
		"1:35: 'Gain' given twice" },
	{ "Filter: ON PK Fc 100 Hz fc 100 Hz Gain 2 dB Q 1\n", 0,
		"1:25: 'Fc' given twice" },
	{ "Filter: ON LP Fc 100 Hz Gain 2 dB\n", 0,
		"1:25: 'Gain' does not apply to LP filters" },
	{ "Filter: ON NO Fc 100 Hz Gain 2 dB Q 1\n", 0,
		"1:25: 'Gain' does not apply to NO filters" },
	{ "Filter 1: MAYBE PK Fc 100 Hz Gain 1 dB Q 1\n", 0,
		"1:11: expected ON or OFF, got 'MAYBE'" },
	{ "Filter 1:\n", 0,
		"1:10: expected ON or OFF, got end of line" },
	{ "Filter: ON  \n", 0,
		"1:11: expected a filter type, got end of line" },
	{ "Filter: ON PK Fc 100 Hz Gain 1 dB Q 1 Hz\n", 0,
		"1:39: unexpected 'Hz'" },
	{ "Filter: ON PK Fc 100 dB Gain 1 dB Q 1\n", 0,
		"1:22: unexpected 'dB'" },
	{ "Filter: ON PK Fc 100kHz Gain 1 dB Q 1\n", 0,
		"1:21: unexpected 'kHz'" },
	{ "Filter: ON XYZ Fc 100 Hz\n", 0,
		"1:12: unknown filter type 'XYZ'" },
	{ "Filter: ON PEQ Fc 100 Hz Gain 1 dB Q 1\n", 0,
		"1:12: unknown filter type 'PEQ'" },
	{ "Filter: ON LS 6dB Fc 100 Hz Gain 3 dB\n", 0,
		"1:12: fixed-slope shelf 'LS 6dB' is not supported; use LSC with a Q" },
	{ "Filter: ON HS 12 dB Fc 100 Hz Gain 3 dB\n", 0,
		"1:12: fixed-slope shelf 'HS 12 dB' is not supported; use HSC with a Q" },
	{ "Filter: ON LSC 12dB Fc 100 Hz Gain 3 dB\n", 0,
		"1:12: shelf slope in 'LSC 12dB' is not supported; give a Q instead" },
	{ "Channel: C\n", 0,
		"1:10: channel 'C' is not supported: iemstage is stereo (L, R, ALL)" },
	{ "Channel: L SUB\n", 0,
		"1:12: channel 'SUB' is not supported: iemstage is stereo (L, R, ALL)" },
	{ "Channel:\n", 0,
		"1:9: expected a channel (L, R or ALL), got end of line" },
	{ "GraphicEQ: 25 0; 40 1\n", 0,
		"1:1: 'GraphicEQ' is not supported in a ParametricEQ file" },
	{ "  Include: other.txt\n", 0,
		"1:3: 'Include' is not supported in a ParametricEQ file" },
	{ "Device: Speakers\n", 0,
		"1:1: 'Device' is not supported in a ParametricEQ file" },
	{ "hello world\n", 0,
		"1:1: expected 'Preamp:', 'Filter:' or 'Channel:', got 'hello'" },
	{ ":-6 dB\n", 0,
		"1:1: expected 'Preamp:', 'Filter:' or 'Channel:', got ':-6'" },
	{ "Preamp -6 dB\n", 0,
		"1:8: expected ':' after 'Preamp', got '-6'" },
	{ "Filter 1 ON PK Fc 100 Hz Gain 1 dB Q 1\n", 0,
		"1:10: expected ':' after 'Filter 1', got 'ON'" },
	{ "Filter x: ON PK Fc 100 Hz Gain 1 dB Q 1\n", 0,
		"1:8: expected a filter number or ':' after 'Filter', got 'x'" },
	{ "Filter\n", 0,
		"1:7: expected ':' after 'Filter', got end of line" },
	{ "Preamp: -40 dB\nPreamp: -25 dB\n", 0,
		"2:9: Preamp lines add up to -65 dB, out of range (-60 … 30 dB)" },
	{ "Preamp: 31 dB\n", 0,
		"1:9: Preamp 31 dB is out of range (-60 … 30 dB)" },
	{ "Preamp:\n", 0,
		"1:8: expected a number after 'Preamp', got end of line" },
	{ "Preamp: -6 dB please\n", 0,
		"1:15: unexpected 'please'" },
	{ "Preamp: -6 dB\nChannel: L\nPreamp: -1 dB\n", 0,
		"3:1: Preamp for channel L only is not supported: the preamp applies to both channels" },
	{ "Filter: ON PK Fc 1,5 Hz Gain 1 dB Q 1\n", 0,
		"1:18: expected a number after 'Fc', got '1,5' (the decimal separator is '.')" },
	{ "Filter: ON PK Fc 1.2.3 Hz Gain 1 dB Q 1\n", 0,
		"1:18: expected a number after 'Fc', got '1.2.3'" },
	{ "Filter: ON PK Fc inf Hz Gain 1 dB Q 1\n", 0,
		"1:18: expected a number after 'Fc', got 'inf'" },
	{ "Filter: ON PK Fc nan Hz Gain 1 dB Q 1\n", 0,
		"1:18: expected a number after 'Fc', got 'nan'" },
	{ "Filter: ON PK Fc 0x10 Hz Gain 1 dB Q 1\n", 0,
		"1:19: unexpected 'x10'" },
	{ "Filter: ON PK Fc 100 Hz Gain 1 dB Q\n", 0,
		"1:36: expected a number after 'Q', got end of line" },
	{ "Filter: ON PK Fc 100 Hz Gain 1 dB BW Oct 1 Q 1\n", 0,
		"1:44: 'Q' and 'BW Oct' both given" },
	{ "Filter: ON PK Fc 100 Hz Gain 1 dB BW 1\n", 0,
		"1:38: expected 'Oct' after 'BW', got '1'" },
	{ "Filter: ON LSC Fc 100 Hz Gain 1 dB BW Oct 1\n", 0,
		"1:36: 'BW Oct' does not apply to LSC filters" },
	{ "Filter: ON PK Fc 100 Hz Gain 1 dB BW Oct 0\n", 0,
		"1:42: BW Oct 0 is out of range (0.0361 … 10.64)" },
	{ "Filter: ON PK Fc 100 Hz Gain 1 dB BW Oct 10.641\n", 0,
		"1:42: BW Oct 10.641 is out of range (0.0361 … 10.64)" },
	{ "Filter: ON PK Fc 100 Hz Gain 1 dB BW Oct 0.0360\n", 0,
		"1:42: BW Oct 0.0360 is out of range (0.0361 … 10.64)" },
	{ "Filter: ON PK Fc 100 Hz Gain 1 dB BW Oct 1 BW Oct 2\n", 0,
		"1:44: 'BW Oct' given twice" },
	{ "Filter: OFF PK Fc 100000 Hz Gain 1 dB Q 1\n", 0,
		"1:19: Fc 100000 Hz is out of range (5 … 40000 Hz)" },
	{ "Filter: ON PK Fc\xc2\xa0" "100 Hz Gain 1 dB Q 1\n", 0,
		"1:15: unexpected 'Fc\\xc2\\xa0100'" },
	{ "Filter: ON PK Fc 100 Hz Gain 1 dB Q 1 "
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", 0,
		"1:39: unexpected 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…'" },
	{ "Preamp: -1 dB\nFilter: ON PK Fc 1\0" "00 Hz Gain 1 dB Q 1\n", 39,
		"2:19: unexpected NUL byte" },
	{ "# a comment with a NUL \0 byte\n", 30,
		"1:24: unexpected NUL byte" },
	{ "Preamp: -1 dB\rFilter: ON PK Fc 100 Hz Gain 1 dB Q 1\r\n", 0,
		"1:14: unexpected carriage return: lines end in LF or CR LF" },
	{ "\xef\xbb\xbf" "Filter: ON PK Fc 100 Hz Gain 1 dB Q 1 extra\r\n", 0,
		"1:39: unexpected 'extra'" },
	{ "\xef\xbb\xbf\xef\xbb\xbf" "Preamp: 1 dB\n", 0,
		"1:1: expected 'Preamp:', 'Filter:' or 'Channel:', got '\\xef\\xbb\\xbfPreamp:'" },
	{ "Filter: ON PK Fc 100 Hz Gain 1 dB Q 1 # comment\n", 0,
		"1:39: unexpected '#'" },
};

static void test_bad(void)
{
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct iem_params p, ref;
		struct iem_parse_error err;
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].text);
		char got[512];
		int res;

		test_params_nondefault(&ref);
		p = ref;
		memset(&err, 0x55, sizeof(err));
		res = parse_n(bad[i].text, len, &p, &err);
		err.message[sizeof(err.message) - 1] = '\0';
		snprintf(got, sizeof(got), "%u:%u: %s", err.line, err.column, err.message);
		check(res == -EINVAL && strcmp(got, bad[i].want) == 0,
				"bad %zu: %s (got %d, '%s')", i, bad[i].want, res, got);
		check(memcmp(&p, &ref, sizeof(p)) == 0, "bad %zu: parameters untouched", i);
	}
}

/* The 33rd active filter is refused at its line; OFF ones do not count. */
static void test_too_many(void)
{
	char text[64 * 40], got[512];
	struct iem_params p, ref;
	struct iem_parse_error err;
	size_t o = 0;
	int i;

	for (i = 0; i < IEM_MAX_BANDS + 3; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
				"  Filter %d: %s PK Fc %d Hz Gain 1 dB Q 1\n",
				i + 1, i == 3 || i == 5 ? "OFF" : "ON", 100 + i);
	test_params_nondefault(&ref);
	p = ref;
	check(parse(text, &p, &err) == -EINVAL, "33 filters: refused");
	snprintf(got, sizeof(got), "%u:%u: %s", err.line, err.column, err.message);
	check(strcmp(got, "35:3: too many filters: at most 32 can be ON") == 0,
			"33 filters: message (got '%s')", got);
	check(memcmp(&p, &ref, sizeof(p)) == 0, "33 filters: parameters untouched");
}

int main(void)
{
	test_autoeq();
	test_layout();
	test_numberless_and_off();
	test_channels();
	test_types();
	test_bandwidth();
	test_preamp();
	test_numbers();
	test_long_numbers();
	test_locale();
	test_limits();
	test_long_lines();
	test_bad();
	test_too_many();
	return iem_test_done();
}
