/* SPDX-License-Identifier: MIT */
/* The flat parameter name space: setter, getter, errors and the table. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "iem-test.h"
#include "iem-dsp.h"

static void expect_error(const char *name, const char *value, int want_r, const char *want_msg)
{
	struct iem_params p, before;
	char err[256] = "";
	iem_params_init(&p);
	p.output_gain = -1.5;
	before = p;
	int r = iem_params_set(&p, name, value, err, sizeof(err));
	check(r == want_r && strcmp(err, want_msg) == 0 && memcmp(&p, &before, sizeof(p)) == 0,
			"%s=%s is refused with \"%s\" (got %d \"%s\")", name, value, want_msg, r, err);
}

static void test_set_get(void)
{
	struct iem_params p;
	char buf[64];
	static const struct { const char *name, *value, *back; } cases[] = {
		{ "bypass", "on", "true" },
		{ "bypass", "0", "false" },
		{ "eq.preamp", "-6.5", "-6.5" },
		{ "eq.preamp", "auto", "auto" },
		{ "output.gain", "-3", "-3" },
		{ "eq.1.type", "PEAKING", "peaking" },
		{ "eq.32.type", "allpass", "allpass" },
		{ "eq.7.freq", "1e3", "1000" },
		{ "eq.7.q", "0.5", "0.5" },
		{ "eq.7.gain", "-12.25", "-12.25" },
		{ "eq.7.channel", "left", "left" },
		{ "eq.8.channel", "right", "right" },
	};

	iem_params_init(&p);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = iem_params_set(&p, cases[i].name, cases[i].value, NULL, 0);
		int g = iem_params_get(&p, cases[i].name, buf, sizeof(buf));
		check(r == 0 && g == 0 && strcmp(buf, cases[i].back) == 0, "%s=%s reads back as %s (got '%s')",
				cases[i].name, cases[i].value, cases[i].back, buf);
	}
	check(p.band[6].freq == 1000.0 && p.band[6].gain == -12.25 && p.band[6].channels == IEM_CHANNELS_LEFT,
			"values land in the struct");
	check(iem_params_get(&p, "eq.7.freq", buf, 3) == -ENOSPC, "a short buffer gives ENOSPC");
	check(iem_params_get(&p, "eq.0.freq", buf, sizeof(buf)) == -ENOENT, "eq.0 does not exist");
}

static void test_errors(void)
{
	expect_error("eq.33.freq", "100", -ENOENT,
			"unknown parameter 'eq.33.freq' (bands are eq.1 … eq.32)");
	expect_error("eq.01.freq", "100", -ENOENT,
			"unknown parameter 'eq.01.freq' (bands are eq.1 … eq.32)");
	expect_error("stage.width", "30", -ENOENT,
			"unknown parameter 'stage.width' (bands are eq.1 … eq.32)");
	expect_error("stage.angle", "5", -EINVAL, "stage.angle: 5 is out of range (10 … 90 deg)");
	expect_error("stage.distance", "11", -EINVAL, "stage.distance: 11 is out of range (0.5 … 10 m)");
	expect_error("stage.elevation", "-45", -EINVAL, "stage.elevation: -45 is out of range (-30 … 60 deg)");
	expect_error("room.width", "1", -EINVAL, "room.width: 1 is out of range (2 … 30 m)");
	expect_error("room.rt60", "-0.1", -EINVAL, "room.rt60: -0.1 is out of range (0 … 2 s)");
	expect_error("room.early", "-inf", -EINVAL, "room.early: '-inf' is not a number");
	expect_error("room.late", "-61", -EINVAL, "room.late: -61 is out of range (-60 … 12 dB)");
	expect_error("hrtf.head_radius", "0.2", -EINVAL, "hrtf.head_radius: 0.2 is out of range (0.05 … 0.15 m)");
	expect_error("crossfeed.fcut", "100", -EINVAL, "crossfeed.fcut: 100 is out of range (300 … 2000 Hz)");
	expect_error("crossfeed.feed", "20", -EINVAL, "crossfeed.feed: 20 is out of range (1 … 15 dB)");
	expect_error("crossfeed.preset", "loud", -EINVAL,
			"crossfeed.preset: 'loud' is not one of default, cmoy, jmeier, custom");
	expect_error("stage.hrtf", "", -EINVAL, "stage.hrtf: empty; auto, model or a SOFA file");
	expect_error("eq.1.freq", "50000", -EINVAL, "eq.1.freq: 50000 is out of range (5 … 40000 Hz)");
	expect_error("eq.1.freq", "abc", -EINVAL, "eq.1.freq: 'abc' is not a number");
	expect_error("eq.1.freq", "0x10", -EINVAL, "eq.1.freq: '0x10' is not a number");
	expect_error("eq.1.gain", "nan", -EINVAL, "eq.1.gain: 'nan' is not a number");
	expect_error("eq.1.gain", "1e999", -EINVAL, "eq.1.gain: '1e999' is not a number");
	expect_error("eq.1.gain", "", -EINVAL, "eq.1.gain: '' is not a number");
	expect_error("eq.1.gain", "3 ", -EINVAL, "eq.1.gain: '3 ' is not a number");
	expect_error("eq.1.q", "0", -EINVAL, "eq.1.q: 0 is out of range (0.025 … 40)");
	expect_error("eq.preamp", "loud", -EINVAL, "eq.preamp: 'loud' is not a number or auto");
	expect_error("output.gain", "13", -EINVAL, "output.gain: 13 is out of range (-60 … 12 dB)");
	expect_error("bypass", "maybe", -EINVAL, "bypass: 'maybe' is not a boolean (true or false)");
	expect_error("eq.2.type", "shelf", -EINVAL,
			"eq.2.type: 'shelf' is not one of off, peaking, lowshelf, highshelf, lowpass, highpass, bandpass, notch, allpass");
	expect_error("eq.2.channel", "center", -EINVAL, "eq.2.channel: 'center' is not one of both, left, right");
}

static void test_locale(void)
{
	struct iem_params p;
	char buf[64];
	const char *loc = setlocale(LC_NUMERIC, "de_DE.UTF-8");
	if (loc == NULL)
		loc = setlocale(LC_NUMERIC, "fr_FR.UTF-8");
	if (loc == NULL) {
		printf("ok %u - # SKIP no locale with a decimal comma is installed\n", ++iem_test_count);
		return;
	}
	iem_params_init(&p);
	int r = iem_params_set(&p, "eq.1.gain", "2.5", NULL, 0);
	iem_params_get(&p, "eq.1.gain", buf, sizeof(buf));
	check(r == 0 && p.band[0].gain == 2.5 && strcmp(buf, "2.5") == 0,
			"in %s numbers still use a decimal point (read back '%s')", loc, buf);
	setlocale(LC_NUMERIC, "C");
}

static void test_table(void)
{
	struct iem_param_info info;
	uint32_t n = iem_param_count();
	bool all = true;
	char buf[64];
	struct iem_params p;

	iem_params_init(&p);
	check(n == 21 + 5 * IEM_MAX_BANDS, "%u parameters", n);
	for (uint32_t i = 0; i < n; i++) {
		all &= iem_param_info(i, &info) == 0;
		/* every listed name is accepted and its default reads back */
		all &= iem_params_get(&p, info.name, buf, sizeof(buf)) == 0;
		all &= strcmp(buf, info.def_string) == 0 || fabs(atof(buf) - atof(info.def_string)) < 1e-4;
		all &= info.description && info.description[0];
	}
	check(all, "every parameter in the table exists, has a description and its default is what iem_params_init sets");
	check(iem_param_info(n, &info) == -ENOENT, "past the end: ENOENT");
	iem_param_info(21 + 5 * 31 + 1, &info);
	check(strcmp(info.name, "eq.32.freq") == 0, "band parameters are named eq.N.field (%s)", info.name);
}

static void test_stage(void)
{
	struct iem_params p;
	char buf[IEM_PATH_MAX], err[256];

	iem_params_init(&p);
	check(iem_params_set(&p, "stage.mode", "brir", err, sizeof(err)) == 0 && p.stage_mode == IEM_STAGE_BRIR,
			"stage.mode = brir");
	check(iem_params_set(&p, "stage.brir", "/some dir/My BRIR, 48k.wav", err, sizeof(err)) == 0 &&
			iem_params_get(&p, "stage.brir", buf, sizeof(buf)) == 0 &&
			strcmp(buf, "/some dir/My BRIR, 48k.wav") == 0,
			"stage.brir keeps a file name as given, commas and spaces included (%s)", buf);
	check(iem_params_set(&p, "stage.mode", "Room", err, sizeof(err)) == 0 && p.stage_mode == IEM_STAGE_ROOM &&
			iem_params_get(&p, "stage.mode", buf, sizeof(buf)) == 0 && strcmp(buf, "room") == 0,
			"stage.mode = room (%s)", buf);
	check(iem_params_set(&p, "stage.mode", "crossfeed", err, sizeof(err)) == 0 &&
			p.stage_mode == IEM_STAGE_CROSSFEED, "stage.mode = crossfeed");
	check(iem_params_set(&p, "stage.mode", "hall", err, sizeof(err)) == -EINVAL &&
			strstr(err, "off, brir, room, crossfeed") != NULL, "stage.mode = hall is refused: %s", err);
	char longname[IEM_PATH_MAX + 10];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	check(iem_params_set(&p, "stage.brir", longname, err, sizeof(err)) == -EINVAL &&
			strcmp(p.stage_brir, "/some dir/My BRIR, 48k.wav") == 0,
			"a file name longer than %d bytes is refused and the old one stays: %s", IEM_PATH_MAX - 1, err);
}

/* The stage's parameters: defaults as documented, values land in the struct. */
static void test_room_params(void)
{
	static const struct { const char *name, *value, *back; } cases[] = {
		{ "stage.hrtf", "model", "model" },
		{ "stage.hrtf", "/data/my head.sofa", "/data/my head.sofa" },
		{ "stage.angle", "45", "45" },
		{ "stage.distance", "3.5", "3.5" },
		{ "stage.elevation", "-10", "-10" },
		{ "room.width", "7", "7" },
		{ "room.depth", "9.5", "9.5" },
		{ "room.height", "3", "3" },
		{ "room.rt60", "0", "0" },
		{ "room.early", "-60", "-60" },
		{ "room.late", "+6", "6" },
		{ "hrtf.head_radius", "0.0965", "0.0965" },
		{ "crossfeed.preset", "JMEIER", "jmeier" },
		{ "crossfeed.fcut", "650", "650" },
		{ "crossfeed.feed", "9.5", "9.5" },
		{ "crossfeed.type", "Meier", "meier" },
		{ "crossfeed.delay", "250", "250" },
	};
	struct iem_params p;
	char buf[IEM_PATH_MAX];

	iem_params_init(&p);
	check(p.stage_angle == 30.0 && p.stage_distance == 2.0 && p.stage_elevation == 0.0 &&
			p.room_width == 5.0 && p.room_depth == 6.0 && p.room_height == 2.7 &&
			p.room_rt60 == 0.3 && p.room_early == 0.0 && p.room_late == 0.0 &&
			p.head_radius == 0.0875 && strcmp(p.stage_hrtf, "auto") == 0 &&
			p.crossfeed_preset == IEM_CROSSFEED_DEFAULT && p.crossfeed_fcut == 700.0 &&
			p.crossfeed_feed == 4.5 && p.crossfeed_type == IEM_CROSSFEED_BS2B && p.crossfeed_delay == 0.0,
			"stage defaults: +-30 deg at 2 m, 5 x 6 x 2.7 m, RT60 0.3 s, HRTF auto, bs2b default, no delay");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = iem_params_set(&p, cases[i].name, cases[i].value, NULL, 0);
		int g = iem_params_get(&p, cases[i].name, buf, sizeof(buf));
		check(r == 0 && g == 0 && strcmp(buf, cases[i].back) == 0, "%s=%s reads back as %s (got '%s')",
				cases[i].name, cases[i].value, cases[i].back, buf);
	}
	check(p.stage_angle == 45.0 && p.stage_distance == 3.5 && p.room_depth == 9.5 && p.room_late == 6.0 &&
			p.room_early == IEM_ROOM_LEVEL_OFF && p.head_radius == 0.0965 &&
			p.crossfeed_preset == IEM_CROSSFEED_JMEIER && p.crossfeed_feed == 9.5 &&
			p.crossfeed_type == IEM_CROSSFEED_MEIER && p.crossfeed_delay == 250.0 &&
			strcmp(p.stage_hrtf, "/data/my head.sofa") == 0,
			"stage values land in the struct");

	/* the table: every new name has a unit where it is a number */
	struct iem_param_info info;
	bool units = true;
	for (uint32_t k = 0; k < iem_param_count(); k++) {
		iem_param_info(k, &info);
		if (info.type == IEM_PARAM_FLOAT && (strncmp(info.name, "stage.", 6) == 0 ||
				strncmp(info.name, "room.", 5) == 0 || strncmp(info.name, "crossfeed.", 10) == 0 ||
				strncmp(info.name, "hrtf.", 5) == 0))
			units &= info.unit[0] != '\0' && info.min <= info.def && info.def <= info.max &&
				info.min < info.max;
	}
	check(units, "stage, room, crossfeed and hrtf numbers have a unit and a default inside their range");
}

/* iem_param_find() gives, for every name, what iem_param_info() gives for
 * its index; unknown names are -ENOENT. */
static void test_find(void)
{
	struct iem_param_info a, b;
	uint32_t n = iem_param_count(), same = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (iem_param_info(i, &a) == 0 && iem_param_find(a.name, &b) == 0 &&
		    strcmp(a.name, b.name) == 0 && a.type == b.type && a.min == b.min &&
		    a.max == b.max && a.description == b.description)
			same++;
	}
	check(same == n, "iem_param_find finds each of the %u parameters by name (%u)", n, same);
	check(iem_param_find("eq.33.gain", &b) == -ENOENT && iem_param_find("stage.angel", &b) == -ENOENT &&
			iem_param_find("eq.1", &b) == -ENOENT, "and no others");
}

int main(void)
{
	test_find();
	test_room_params();
	test_stage();
	test_set_get();
	test_errors();
	test_locale();
	test_table();
	return iem_test_done();
}
