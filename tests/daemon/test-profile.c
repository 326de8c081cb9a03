/* SPDX-License-Identifier: MIT */
/*
 * The profile loader: malformed files with their exact messages
 * (file:line:column, JSON pointer), what a good profile turns into, the
 * search path, the last good version, matching, and atomic saving.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "iem-test.h"
#include "iem-profile.h"

static char tmpdir[256];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		exit(99);
	}
	fputs(text, f);
	fclose(f);
	chmod(path, 0644);
}

static char *path_in(const char *dir, const char *name)
{
	static char buf[4][512];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
	return buf[k];
}

/* ---- malformed profiles and their messages ------------------------------ */

struct bad_case {
	const char *text;
	const char *expect;	/* formatted error, the file being "t.json" */
};

static const struct bad_case bad_cases[] = {
	{ "", "t.json:1:1: the file is empty" },
	{ "{\"iemstage\": 1,", "t.json:1:16: unexpected end of file: expected a member name" },
	{ "{\"iemstage\": 1, \"kind\": \"device\",}", "t.json:1:34: trailing comma before '}'" },
	{ "{\"iemstage\": 1, \"kind\": \"device\"} x",
	  "t.json:1:35: unexpected 'x' after the end of the document" },
	{ "{\"iemstage\": 1, \"kind\": \"device\", \"name\": \"\xff\"}",
	  "t.json:1:44: invalid UTF-8 in a string" },
	{ "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	  "t.json:1:33: nested deeper than 32 levels" },
	{ "{\"iemstage\": 1, \"kind\": \"device\",\n \"trim\": {\"gain\": NaN}}",
	  "t.json:2:19: NaN and Infinity are not JSON numbers" },
	{ "{\"iemstage\": 1, \"kind\": \"device\",\n \"trim\": {\"gain\": -1e999}}",
	  "t.json:2:19: number out of range" },
	{ "{\"iemstage\": 1, \"kind\": \"device\", \"kind\": \"listening\"}",
	  "t.json:1:35: duplicate member \"kind\"" },
	{ "{'iemstage': 1}", "t.json:1:2: expected a member name in double quotes, got '''" },
	{ "{\"iemstage\": 1, // the version\n\"kind\": \"device\"}",
	  "t.json:1:17: expected a member name in double quotes, got '/'" },
	{ "{\"iemstage\": 01}", "t.json:1:14: numbers cannot start with 0 (leading zeros)" },
	{ "{\"iemstage\": 1.}", "t.json:1:14: expected a digit after '.'" },
	{ "{\"iemstage\": 1, \"name\": \"a\tb\"}",
	  "t.json:1:27: control character (byte 0x09) in a string: write it as an escape" },
	{ "{\"iemstage\": 1, \"name\": \"\\ud800x\"}", "t.json:1:26: unpaired high surrogate \\uD800" },
	{ "{\"iemstage\": 1, \"name\": \"a\\u0000\"}", "t.json:1:27: \\u0000 is not allowed in strings" },
	{ "[1, 2]", "t.json:1:1: a profile is a JSON object, got an array" },
	{ "{\"kind\": \"device\"}", "t.json:1:1: missing member \"iemstage\": the format version, 1" },
	{ "{\"iemstage\": 2, \"kind\": \"device\"}",
	  "t.json:1:14: /iemstage: format version 2 is newer than this iemstage reads (1)" },
	{ "{\"iemstage\": \"1\", \"kind\": \"device\"}",
	  "t.json:1:14: /iemstage: expected the format version (an integer), got a string" },
	{ "{\"iemstage\": 1, \"kind\": \"headphone\"}",
	  "t.json:1:25: /kind: unknown kind \"headphone\": \"device\", \"listening\" or \"defaults\"" },
	{ "{\n\t\"iemstage\": 1,\n\t\"kind\": \"device\",\n\t\"listenning\": \"studio\"\n}",
	  "t.json:4:2: /listenning: unknown member \"listenning\" in a device profile (known: name, description, match, priority, listening, eq, trim, params, \"output\", \"stage\", \"room\", \"hrtf\", \"crossfeed\")" },
	{ "{\"iemstage\": 1, \"kind\": \"device\", \"trim\": {\"gain\": \"loud\"}}",
	  "t.json:1:52: /trim/gain: expected a number (dB), got a string" },
	{ "{\"iemstage\": 1, \"kind\": \"device\",\n \"eq\": {\"bands\": [\n  {\"type\": \"peaking\", \"freq\": 1000, \"gain\": 45}]}}",
	  "t.json:3:45: /eq/bands/0/gain: eq.1.gain: 45 is out of range (-30 … 30 dB)" },
	{ "{\"iemstage\": 1, \"kind\": \"device\",\n \"eq\": {\"bands\": [\n  {\"type\": \"peaking\"},\n  {\"freq\": 100}]}}",
	  "t.json:4:3: /eq/bands/1: a band needs a \"type\" (peaking, lowshelf, highshelf, …)" },
	{ "{\"iemstage\": 1, \"kind\": \"device\",\n \"eq\": {\"bands\": [\n  {\"type\": \"peaking\",\n   \"gian\": 3}]}}",
	  "t.json:4:4: /eq/bands/0/gian: unknown member \"gian\" in a band (known: type, freq, q, gain, channel)" },
	{ "{\"iemstage\": 1, \"kind\": \"device\", \"eq\": {\"bands\": [{\"type\": \"peak\"}]}}",
	  "t.json:1:61: /eq/bands/0/type: eq.1.type: 'peak' is not one of off, peaking, lowshelf, highshelf, lowpass, highpass, bandpass, notch, allpass" },
	{ "{\"iemstage\": 1, \"kind\": \"device\", \"eq\": {\"preamp\": \"loud\"}}",
	  "t.json:1:52: /eq/preamp: expected a number or \"auto\", got \"loud\"" },
	{ "{\"iemstage\": 1, \"kind\": \"device\", \"match\": [{}]}",
	  "t.json:1:45: /match/0: an empty rule would match every device" },
	{ "{\"iemstage\": 1, \"kind\": \"device\", \"match\": [{\"device.vendor.id\": 11951}]}",
	  "t.json:1:66: /match/0/device.vendor.id: expected a string, got a number" },
	{ "{\"iemstage\": 1, \"kind\": \"device\", \"match\": [{\"device name\": \"x\"}]}",
	  "t.json:1:46: /match/0/device name: \"device name\" is not a property name ([A-Za-z0-9._-], at most 64)" },
	{ "{\"iemstage\": 1, \"kind\": \"device\", \"priority\": 1.5}",
	  "t.json:1:47: /priority: expected an integer, got a number" },
	{ "{\"iemstage\": 1, \"kind\": \"device\", \"listening\": \"my preset!\"}",
	  "t.json:1:48: /listening: \"my preset!\" is not a profile id ([A-Za-z0-9._-], 1 … 64)" },
	{ "{\"iemstage\": 1, \"kind\": \"listening\", \"stage\": {\"brir\": \"/nonexistent/room.wav\"}}",
	  "t.json:1:56: /stage/brir: cannot read '/nonexistent/room.wav': No such file or directory" },
	{ "{\"iemstage\": 1, \"kind\": \"listening\", \"stage\": {\"angel\": 30}}",
	  "t.json:1:48: /stage/angel: unknown member \"angel\" in \"stage\" (known: mode, brir, hrtf, angle, distance, elevation)" },
	{ "{\"iemstage\": 1, \"kind\": \"listening\", \"eq\": {}}",
	  "t.json:1:38: /eq: unknown member \"eq\" in a listening preset (known: name, description, params, \"output\", \"stage\", \"room\", \"hrtf\", \"crossfeed\")" },
	{ "{\"iemstage\": 1, \"kind\": \"device\", \"process\": true}",
	  "t.json:1:35: /process: unknown member \"process\" in a device profile (known: name, description, match, priority, listening, eq, trim, params, \"output\", \"stage\", \"room\", \"hrtf\", \"crossfeed\")" },
	{ "{\"iemstage\": 1, \"kind\": \"listening\", \"params\": {\"stage.mode\": \"room-ish\"}}",
	  "t.json:1:63: /params/stage.mode: stage.mode: 'room-ish' is not one of off, brir, room, crossfeed" },
	{ "{\"iemstage\": 1, \"kind\": \"listening\", \"params\": {\"bypass\": 1}}",
	  "t.json:1:59: /params/bypass: expected true or false, got a number" },
	{ "{\"iemstage\": 1, \"kind\": \"device\", \"eq\": {\"bands\": [], \"import\": \"x.txt\"}}",
	  "t.json:1:55: /eq/import: give either \"bands\" or \"import\", not both" },
	/* columns count characters: Ü and é are two bytes each, a tab one */
	{ "{\r\n\t\"iemstage\": 1, \"kind\": \"device\", \"name\": \"Ünïcödé\", \"x\": 1}",
	  "t.json:2:54: /x: unknown member \"x\" in a device profile (known: name, description, match, priority, listening, eq, trim, params, \"output\", \"stage\", \"room\", \"hrtf\", \"crossfeed\")" },
	/* a byte-order mark is skipped and not counted */
	{ "\xef\xbb\xbf{\"iemstage\": 1, \"kind\": 7}", "t.json:1:25: /kind: expected a string, got a number" },
};

static void test_bad_profiles(void)
{
	unsigned n = sizeof(bad_cases) / sizeof(bad_cases[0]);
	unsigned good = 0;

	for (unsigned i = 0; i < n; i++) {
		struct iem_profile *p = (struct iem_profile *)1;
		struct iem_profile_error e;
		char msg[2048];
		int r = iem_profile_parse(bad_cases[i].text, strlen(bad_cases[i].text), "t.json",
				NULL, &p, &e);
		iem_profile_error_format(&e, msg, sizeof(msg));
		if (r < 0 && p == NULL && strcmp(msg, bad_cases[i].expect) == 0) {
			good++;
		} else {
			check(false, "bad profile %u refused with the expected message", i);
			diag("  text:   %s", bad_cases[i].text);
			diag("  want:   %s", bad_cases[i].expect);
			diag("  got:    %s (r=%d)", r < 0 ? msg : "accepted", r);
			iem_profile_free(r == 0 ? p : NULL);
		}
	}
	check(good == n && n >= 20, "%u malformed profiles refused, each with file:line:column, "
			"pointer and the expected message", good);
}

static const char *test_get_prop(void *data, const char *key)
{
	const char *const *kv = data;
	for (; kv[0] != NULL; kv += 2)
		if (strcmp(kv[0], key) == 0)
			return kv[1];
	return NULL;
}

/* ---- a good device profile --------------------------------------------- */

static void test_good_device(void)
{
	const char *text =
		"{\n"
		"  \"iemstage\": 1,\n"
		"  \"kind\": \"device\",\n"
		"  \"name\": \"Test IEM\",\n"
		"  \"comment\": \"anything\",\n"
		"  \"match\": [ { \"device.bus\": \"usb\", \"device.vendor.id\": \"0x2fc6\" },\n"
		"             { \"api.bluez5.address\": \"AA:BB:*\" } ],\n"
		"  \"priority\": 5,\n"
		"  \"listening\": \"studio\",\n"
		"  \"eq\": { \"preamp\": \"auto\", \"bands\": [\n"
		"    { \"type\": \"lowshelf\", \"freq\": 105, \"q\": 0.7, \"gain\": 4.5 },\n"
		"    { \"type\": \"peaking\", \"freq\": 3000, \"q\": 2, \"gain\": -3, \"channel\": \"left\" } ] },\n"
		"  \"output\": { \"gain\": -1.5 },\n"
		"  \"trim\": { \"gain\": -2 }\n"
		"}\n";
	struct iem_profile *p = NULL;
	struct iem_profile_error e;
	struct iem_params params, want;
	int r;

	r = iem_profile_parse(text, strlen(text), "dir/test-iem.json", NULL, &p, &e);
	if (!check(r == 0, "a good device profile loads")) {
		char msg[1024];
		iem_profile_error_format(&e, msg, sizeof(msg));
		diag("%s", msg);
		return;
	}
	check(strcmp(p->id, "test-iem") == 0 && strcmp(p->name, "Test IEM") == 0 &&
			p->kind == IEM_PROFILE_DEVICE && p->priority == 5 &&
			strcmp(p->listening, "studio") == 0 && p->trim_gain == -2.0,
			"id from the file name, name, kind, priority, listening, trim");
	check(p->n_rules == 2 && p->rules[0].n_props == 2 && p->rules[1].n_props == 1 &&
			strcmp(p->rules[0].props[1].key, "device.vendor.id") == 0 &&
			strcmp(p->rules[0].props[1].glob, "0x2fc6") == 0, "match rules kept in order");

	iem_params_init(&params);
	check(iem_profile_apply(p, &params, &e) == 0, "its settings apply");
	iem_params_init(&want);
	iem_params_set(&want, "eq.1.type", "lowshelf", NULL, 0);
	iem_params_set(&want, "eq.1.freq", "105", NULL, 0);
	iem_params_set(&want, "eq.1.q", "0.7", NULL, 0);
	iem_params_set(&want, "eq.1.gain", "4.5", NULL, 0);
	iem_params_set(&want, "eq.2.type", "peaking", NULL, 0);
	iem_params_set(&want, "eq.2.freq", "3000", NULL, 0);
	iem_params_set(&want, "eq.2.q", "2", NULL, 0);
	iem_params_set(&want, "eq.2.gain", "-3", NULL, 0);
	iem_params_set(&want, "eq.2.channel", "left", NULL, 0);
	iem_params_set(&want, "output.gain", "-1.5", NULL, 0);
	check(memcmp(&params, &want, sizeof(want)) == 0,
			"the parameters are exactly those written in the file");

	/* matching */
	struct props { const char *kv[8]; } usb = { { "device.bus", "usb", "device.vendor.id", "0x2fc6",
		"device.product.id", "0x0001", NULL } }, bt = { { "api.bluez5.address", "AA:BB:CC:DD:EE:FF", NULL } },
		other = { { "device.bus", "usb", "device.vendor.id", "0x1234", NULL } };
	check(iem_profile_match(p, test_get_prop, &usb) == 2, "the USB rule matches with specificity 2");
	check(iem_profile_match(p, test_get_prop, &bt) == 1, "the Bluetooth glob rule matches with specificity 1");
	check(iem_profile_match(p, test_get_prop, &other) == -1, "another vendor does not match");
	iem_profile_free(p);
}

/* The parts of two parameter sets that make a sound: bands that are off
 * may keep any frequency. */
static bool same_sound(const struct iem_params *a, const struct iem_params *b)
{
	if (a->preamp_auto != b->preamp_auto || a->preamp != b->preamp ||
	    a->output_gain != b->output_gain || a->stage_mode != b->stage_mode)
		return false;
	for (int i = 0; i < IEM_MAX_BANDS; i++) {
		const struct iem_band *x = &a->band[i], *y = &b->band[i];
		if (x->type != y->type)
			return false;
		if (x->type != IEM_FILTER_OFF && (x->freq != y->freq || x->q != y->q ||
					x->gain != y->gain || x->channels != y->channels))
			return false;
	}
	return true;
}

/* ---- imports and relative paths ---------------------------------------- */

static void test_import(void)
{
	char dir[512];
	struct iem_profile *p = NULL;
	struct iem_profile_error e;
	struct iem_params params, want;
	char msg[2048];
	int r;

	snprintf(dir, sizeof(dir), "%s/import", tmpdir);
	mkdir(dir, 0755);
	write_file(path_in(dir, "eq.txt"),
			"Preamp: -6.2 dB\n"
			"Filter 1: ON LSC Fc 105 Hz Gain 6.0 dB Q 0.70\n"
			"Filter 2: ON PK Fc 2500 Hz Gain -3.5 dB Q 1.41\n");
	write_file(path_in(dir, "iem.json"),
			"{ \"iemstage\": 1, \"kind\": \"device\",\n"
			"  \"eq\": { \"import\": \"eq.txt\" } }\n");
	r = iem_profile_load(path_in(dir, "iem.json"), &p, &e);
	iem_profile_error_format(&e, msg, sizeof(msg));
	if (!check(r == 0, "eq.import reads a ParametricEQ.txt next to the profile"))
		diag("%s", msg);
	iem_params_init(&params);
	iem_params_init(&want);
	if (p != NULL)
		iem_profile_apply(p, &params, &e);
	{
		struct iem_parse_error perr;
		const char *t = "Preamp: -6.2 dB\nFilter 1: ON LSC Fc 105 Hz Gain 6.0 dB Q 0.70\n"
			"Filter 2: ON PK Fc 2500 Hz Gain -3.5 dB Q 1.41\n";
		iem_apo_parse(t, strlen(t), &want, &perr);
	}
	check(same_sound(&params, &want) && params.band[1].type == IEM_FILTER_PEAKING, "the import gives the same parameters as the APO parser");
	p = iem_profile_free(p);

	/* a GraphicEQ.txt: fitted to parametric bands on import */
	{
		struct iem_params known, got;
		char text[8192];
		size_t n = 0;
		double worst = 0.0;

		iem_params_init(&known);
		iem_params_set(&known, "eq.1.type", "lowshelf", NULL, 0);
		iem_params_set(&known, "eq.1.freq", "105", NULL, 0);
		iem_params_set(&known, "eq.1.gain", "4", NULL, 0);
		iem_params_set(&known, "eq.2.type", "peaking", NULL, 0);
		iem_params_set(&known, "eq.2.freq", "3000", NULL, 0);
		iem_params_set(&known, "eq.2.q", "2", NULL, 0);
		iem_params_set(&known, "eq.2.gain", "-5", NULL, 0);
		n += (size_t)snprintf(text + n, sizeof(text) - n, "GraphicEQ: ");
		for (int i = 0; i <= 120; i++) {
			double f = 20.0 * pow(1000.0, i / 120.0);
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%.1f %.2f", i ? "; " : "",
					f, iem_params_response_db(&known, 48000, 0, f));
		}
		snprintf(text + n, sizeof(text) - n, "\n");
		write_file(path_in(dir, "graphic.txt"), text);
		write_file(path_in(dir, "iem3.json"),
				"{ \"iemstage\": 1, \"kind\": \"device\", \"eq\": { \"import\": \"graphic.txt\" } }\n");
		r = iem_profile_load(path_in(dir, "iem3.json"), &p, &e);
		iem_profile_error_format(&e, msg, sizeof(msg));
		if (!check(r == 0, "eq.import reads a GraphicEQ.txt"))
			diag("%s", msg);
		iem_params_init(&got);
		if (p != NULL)
			iem_profile_apply(p, &got, &e);
		/* the level is the preamp's business: compared with the mean
		 * difference removed */
		double mean = 0.0, rms = 0.0;
		int m = 0;
		for (int pass = 0; pass < 2 && p != NULL; pass++) {
			for (int i = 0; i <= 120; i++) {
				double f = 20.0 * pow(1000.0, i / 120.0);
				double d = iem_params_response_db(&got, 48000, 0, f) -
					iem_params_response_db(&known, 48000, 0, f);
				if (f > 10000.0)
					continue;
				if (pass == 0) {
					mean += d;
					m++;
				} else {
					rms += (d - mean) * (d - mean);
					if (fabs(d - mean) > worst)
						worst = fabs(d - mean);
				}
			}
			if (pass == 0 && m > 0)
				mean /= m;
		}
		rms = m > 0 ? sqrt(rms / m) : INFINITY;
		check(p != NULL && worst < 0.5,
				"and fits it with parametric bands: %.3f dB rms, at most %.3f dB off the curve "
				"(20 Hz - 10 kHz, level aside: %+.2f dB)", rms, worst, mean);
		p = iem_profile_free(p);
	}

	write_file(path_in(dir, "bad-eq.txt"), "Preamp: -6.2 dB\nFilter 1: ON PK Fc 100 Hz Gain 99 dB Q 1\n");
	write_file(path_in(dir, "iem2.json"),
			"{ \"iemstage\": 1, \"kind\": \"device\",\n"
			"  \"eq\": { \"import\": \"bad-eq.txt\" } }\n");
	r = iem_profile_load(path_in(dir, "iem2.json"), &p, &e);
	iem_profile_error_format(&e, msg, sizeof(msg));
	{
		char want_msg[2048];
		snprintf(want_msg, sizeof(want_msg),
				"%s/iem2.json:2:21: /eq/import: %s/bad-eq.txt:2:32: Gain 99 dB is out of range (-30 … 30 dB)",
				dir, dir);
		check(r < 0 && strcmp(msg, want_msg) == 0,
				"an error in the imported file names both places");
		if (strcmp(msg, want_msg) != 0)
			diag("got:  %s\nwant: %s", msg, want_msg);
	}
	iem_profile_free(p);
}

/* ---- file checks --------------------------------------------------------- */

static void test_file_trust(void)
{
	char dir[512];
	struct iem_profile *p = NULL;
	struct iem_profile_error e;
	char msg[2048], big[64];
	int r;

	snprintf(dir, sizeof(dir), "%s/trust", tmpdir);
	mkdir(dir, 0755);
	write_file(path_in(dir, "ok.json"), "{\"iemstage\": 1, \"kind\": \"listening\"}");
	r = iem_profile_load(path_in(dir, "ok.json"), &p, &e);
	check(r == 0 && p->kind == IEM_PROFILE_LISTENING && strcmp(p->name, "ok") == 0,
			"a minimal listening preset loads; its name defaults to the id");
	p = iem_profile_free(p);

	symlink("ok.json", path_in(dir, "link.json"));
	r = iem_profile_load(path_in(dir, "link.json"), &p, &e);
	iem_profile_error_format(&e, msg, sizeof(msg));
	check(r < 0 && strstr(msg, "is a symbolic link") != NULL, "a symbolic link is refused: %s", msg);

	write_file(path_in(dir, "ww.json"), "{\"iemstage\": 1, \"kind\": \"listening\"}");
	chmod(path_in(dir, "ww.json"), 0666);
	r = iem_profile_load(path_in(dir, "ww.json"), &p, &e);
	iem_profile_error_format(&e, msg, sizeof(msg));
	check(r == -EPERM && strstr(msg, "writable by group or others (mode 666)") != NULL,
			"a world-writable file is refused: %s", msg);

	mkdir(path_in(dir, "d.json"), 0755);
	r = iem_profile_load(path_in(dir, "d.json"), &p, &e);
	iem_profile_error_format(&e, msg, sizeof(msg));
	check(r < 0 && strstr(msg, "not a regular file") != NULL, "a directory is refused: %s", msg);

	/* larger than 1 MiB: refused before reading */
	{
		int fd = open(path_in(dir, "big.json"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			if (ftruncate(fd, IEM_PROFILE_FILE_MAX + 1) < 0)
				perror("ftruncate");
			close(fd);
		}
	}
	r = iem_profile_load(path_in(dir, "big.json"), &p, &e);
	iem_profile_error_format(&e, msg, sizeof(msg));
	snprintf(big, sizeof(big), "%u bytes: profiles are at most %u", IEM_PROFILE_FILE_MAX + 1,
			IEM_PROFILE_FILE_MAX);
	check(r == -EFBIG && strstr(msg, big) != NULL, "a file over 1 MiB is refused: %s", msg);

	write_file(path_in(dir, "bad id!.json"), "{\"iemstage\": 1, \"kind\": \"listening\"}");
	r = iem_profile_load(path_in(dir, "bad id!.json"), &p, &e);
	iem_profile_error_format(&e, msg, sizeof(msg));
	check(r < 0 && strstr(msg, "\"bad id!\" is not a profile id") != NULL,
			"a file name that is no id is refused: %s", msg);

	/* 4097 values */
	{
		size_t cap = 16 * 4200, n = 0;
		char *t = malloc(cap);
		n += (size_t)snprintf(t + n, cap - n, "{\"iemstage\": 1, \"kind\": \"listening\", \"comment\": [");
		for (int i = 0; i < 4096; i++)
			n += (size_t)snprintf(t + n, cap - n, "%s0", i ? "," : "");
		n += (size_t)snprintf(t + n, cap - n, "]}");
		r = iem_profile_parse(t, n, "t.json", NULL, &p, &e);
		iem_profile_error_format(&e, msg, sizeof(msg));
		check(r < 0 && strstr(msg, "more than 4096 values in one file") != NULL,
				"more than 4096 values are refused: %s", msg);
		free(t);
	}
}

/* ---- the store: search path, last good version, resolve ----------------- */

static void on_error(void *data, const struct iem_profile_error *e)
{
	char *last = data;
	iem_profile_error_format(e, last, 2048);
}

static void test_store(void)
{
	char user[512], sys[512], msg[2048];
	const char *dirs[3];
	struct iem_profile_store *s;
	struct iem_profile_error e;
	struct iem_params params;
	const struct iem_profile *p;
	int n;

	snprintf(user, sizeof(user), "%s/user", tmpdir);
	snprintf(sys, sizeof(sys), "%s/sys", tmpdir);
	mkdir(user, 0755);
	mkdir(sys, 0755);
	dirs[0] = user;
	dirs[1] = sys;
	dirs[2] = NULL;

	write_file(path_in(sys, "studio.json"),
			"{\"iemstage\": 1, \"kind\": \"listening\", \"name\": \"system studio\", \"output\": {\"gain\": -3}}");
	write_file(path_in(sys, "aria.json"),
			"{\"iemstage\": 1, \"kind\": \"device\", \"listening\": \"studio\",\n"
			" \"match\": [{\"device.bus\": \"usb\"}],\n"
			" \"eq\": {\"bands\": [{\"type\": \"peaking\", \"freq\": 1000, \"gain\": 2}]}, \"trim\": {\"gain\": -1}}");
	write_file(path_in(sys, "aria-usb.json"),
			"{\"iemstage\": 1, \"kind\": \"device\",\n"
			" \"match\": [{\"device.bus\": \"usb\", \"device.vendor.id\": \"0x2fc6\"}]}");
	write_file(path_in(sys, "low.json"),
			"{\"iemstage\": 1, \"kind\": \"device\", \"priority\": -1,\n"
			" \"match\": [{\"device.bus\": \"usb\", \"device.product.id\": \"*\"}]}");
	write_file(path_in(user, "studio.json"),
			"{\"iemstage\": 1, \"kind\": \"listening\", \"name\": \"my studio\", \"output\": {\"gain\": -6}}");

	s = iem_profile_store_new(dirs);
	msg[0] = '\0';
	n = iem_profile_store_reload(s, on_error, msg);
	check(n == 4 && msg[0] == '\0', "4 profiles from two directories (got %d) %s", n, msg);
	p = iem_profile_store_get(s, "studio");
	check(p != NULL && strcmp(p->name, "my studio") == 0,
			"the first directory wins by id (the user's studio)");

	/* resolve: user's studio (-6) + device (eq, trim -1) */
	p = iem_profile_store_get(s, "aria");
	iem_params_init(&params);
	check(p && iem_profile_store_resolve(s, p, &params, &e) == 0 &&
			params.output_gain == -7.0 && params.band[0].type == IEM_FILTER_PEAKING &&
			params.band[0].gain == 2.0,
			"a device profile resolves to its preset, its own settings and its trim (%g dB)",
			params.output_gain);

	/* matching: most specific wins; equal specificity → priority */
	{
		const char *kv[] = { "device.bus", "usb", "device.vendor.id", "0x2fc6",
			"device.product.id", "0x0001", NULL };
		const char *kv2[] = { "device.bus", "usb", "device.vendor.id", "0x9999", NULL };
		const char *kv3[] = { "device.bus", "usb", "device.vendor.id", "0x9999",
			"device.product.id", "0x0001", NULL };
		const char *kv4[] = { "device.bus", "pci", NULL };
		p = iem_profile_store_find_device(s, test_get_prop, kv);
		check(p && strcmp(p->id, "aria-usb") == 0, "the most specific rule wins (%s)", p ? p->id : "none");
		p = iem_profile_store_find_device(s, test_get_prop, kv2);
		check(p && strcmp(p->id, "aria") == 0, "a less specific rule matches what the other does not");
		/* aria-usb does not match kv3; aria (1 prop) and low (2 props) do */
		p = iem_profile_store_find_device(s, test_get_prop, kv3);
		check(p && strcmp(p->id, "low") == 0, "specificity before priority (%s)", p ? p->id : "none");
		p = iem_profile_store_find_device(s, test_get_prop, kv4);
		check(p == NULL, "an unknown device matches nothing");
	}

	/* a bad edit keeps the last good version */
	usleep(20000);
	write_file(path_in(user, "studio.json"),
			"{\"iemstage\": 1, \"kind\": \"listening\", \"name\": \"my studio\", \"output\": {\"gain\": -600}}");
	msg[0] = '\0';
	n = iem_profile_store_reload(s, on_error, msg);
	p = iem_profile_store_get(s, "studio");
	check(n == 4 && p != NULL && strcmp(p->name, "my studio") == 0,
			"after a bad edit the last good version stays");
	{
		char want[1024];
		snprintf(want, sizeof(want),
				"%s/studio.json:1:78: /output/gain: output.gain: -600 is out of range (-60 … 12 dB)",
				user);
		check(strcmp(msg, want) == 0, "and the error is reported with file:line:column");
		if (strcmp(msg, want) != 0)
			diag("got:  %s\nwant: %s", msg, want);
	}
	iem_params_init(&params);
	p = iem_profile_store_get(s, "aria");
	iem_profile_store_resolve(s, p, &params, &e);
	check(params.output_gain == -7.0, "and resolves as before");

	/* fixed: the new version is taken */
	usleep(20000);
	write_file(path_in(user, "studio.json"),
			"{\"iemstage\": 1, \"kind\": \"listening\", \"name\": \"my new studio\", \"output\": {\"gain\": -4}}");
	msg[0] = '\0';
	iem_profile_store_reload(s, on_error, msg);
	p = iem_profile_store_get(s, "studio");
	check(p && strcmp(p->name, "my new studio") == 0 && msg[0] == '\0', "a fixed file is taken");

	/* removed: the system's shows through */
	unlink(path_in(user, "studio.json"));
	iem_profile_store_reload(s, on_error, msg);
	p = iem_profile_store_get(s, "studio");
	check(p && strcmp(p->name, "system studio") == 0, "a removed user file uncovers the system one");

	/* missing preset */
	unlink(path_in(sys, "studio.json"));
	iem_profile_store_reload(s, on_error, msg);
	p = iem_profile_store_get(s, "aria");
	check(p && iem_profile_store_resolve(s, p, &params, &e) == -ENOENT, "a missing preset fails to resolve");
	iem_profile_error_format(&e, msg, sizeof(msg));
	check(strstr(msg, "/listening: no listening preset \"studio\" in the search path") != NULL,
			"naming it: %s", msg);
	iem_profile_store_free(s);
}

/* ---- writing ------------------------------------------------------------- */

static void test_save(void)
{
	struct iem_params params, back;
	struct iem_profile *p = NULL;
	struct iem_profile_error e;
	char *text, *path = path_in(tmpdir, "saved.json");
	char msg[2048];
	int r;

	iem_params_init(&params);
	iem_params_set(&params, "eq.preamp", "-4.5", NULL, 0);
	iem_params_set(&params, "eq.3.type", "peaking", NULL, 0);
	iem_params_set(&params, "eq.3.freq", "2500", NULL, 0);
	iem_params_set(&params, "eq.3.q", "1.41", NULL, 0);
	iem_params_set(&params, "eq.3.gain", "-3.5", NULL, 0);
	iem_params_set(&params, "eq.1.type", "lowshelf", NULL, 0);
	iem_params_set(&params, "eq.1.freq", "105", NULL, 0);
	iem_params_set(&params, "eq.1.gain", "6", NULL, 0);
	iem_params_set(&params, "eq.1.channel", "right", NULL, 0);
	iem_params_set(&params, "output.gain", "-2", NULL, 0);

	const char *const match[] = { "device.bus", "usb", "device.name", "weird*name?", NULL };
	char esc[64];
	iem_profile_glob_escape("weird*name?", esc, sizeof(esc));
	check(strcmp(esc, "weird\\*name\\?") == 0, "glob characters are escaped: %s", esc);
	{
		const char *const m2[] = { "device.bus", "usb", "device.name", esc, NULL };
		text = iem_profile_format_device(&params, "Saved IEM", "studio", m2);
	}
	(void)match;
	check(text != NULL, "a device profile is formatted");
	r = iem_file_write_atomic(path, text, strlen(text), 0644);
	check(r == 0, "and saved atomically");
	free(text);
	r = iem_profile_load(path, &p, &e);
	iem_profile_error_format(&e, msg, sizeof(msg));
	if (!check(r == 0, "the saved profile loads back"))
		diag("%s", msg);
	iem_params_init(&back);
	if (p)
		iem_profile_apply(p, &back, &e);
	/* bands are written compactly: eq.3 comes back as eq.2 */
	check(back.preamp == -4.5 && !back.preamp_auto && back.output_gain == -2.0 &&
			back.band[0].type == IEM_FILTER_LOWSHELF && back.band[0].channels == IEM_CHANNELS_RIGHT &&
			back.band[1].type == IEM_FILTER_PEAKING && back.band[1].freq == 2500 &&
			back.band[1].q == 1.41 && back.band[1].gain == -3.5 &&
			back.band[2].type == IEM_FILTER_OFF,
			"with the same EQ and output gain");
	check(p && strcmp(p->listening, "studio") == 0 && strcmp(p->name, "Saved IEM") == 0,
			"name and listening preset");
	{
		const char *kv[] = { "device.bus", "usb", "device.name", "weird*name?", NULL };
		const char *kv2[] = { "device.bus", "usb", "device.name", "weirdXnameY", NULL };
		check(p && iem_profile_match(p, test_get_prop, kv) == 2 &&
				iem_profile_match(p, test_get_prop, kv2) == -1,
				"the saved match rule matches the device, literally");
	}
	iem_profile_free(p);

	/* a failed write leaves the old file and no temporary file */
	r = iem_file_write_atomic(path_in(tmpdir, "no-such-dir/x.json"), "x", 1, 0644);
	check(r == -ENOENT, "writing into a missing directory fails (%d)", r);
	{
		char cmd[700];
		snprintf(cmd, sizeof(cmd), "ls -A '%s' | grep -c '^\\.' >/dev/null", tmpdir);
		check(system(cmd) != 0, "no temporary file is left behind");
	}
}

/* ---- the shipped files and the schema ---------------------------------- */

static json_object *get_path(json_object *o, const char *const *keys)
{
	for (; o != NULL && *keys != NULL; keys++)
		if (!json_object_object_get_ex(o, *keys, &o))
			return NULL;
	return o;
}

/* The schema describes exactly the parameter table: every section key is
 * a parameter of the same type and range, and every parameter outside eq
 * has its place in a section. */
static void test_schema(const char *path)
{
	json_object *schema = json_object_from_file(path), *defs, *band;
	struct iem_param_info info;
	uint32_t count = iem_param_count(), n_checked = 0, bad = 0;

	if (!check(schema != NULL, "the schema parses: %s", path))
		return;
	defs = get_path(schema, (const char *[]) { "$defs", NULL });
	band = get_path(defs, (const char *[]) { "band", "properties", NULL });
	for (uint32_t i = 0; i < count; i++) {
		char sec[40], key[40], def_name[64];
		const char *dot;
		json_object *prop, *v;

		if (iem_param_info(i, &info) < 0 || (dot = strchr(info.name, '.')) == NULL)
			continue;
		snprintf(sec, sizeof(sec), "%.*s", (int)(dot - info.name), info.name);
		snprintf(key, sizeof(key), "%s", dot + 1);
		if (strcmp(sec, "eq") == 0 && strncmp(key, "1.", 2) == 0) {
			prop = get_path(band, (const char *[]) { key + 2, NULL });
		} else if (strcmp(sec, "eq") == 0 && strcmp(key, "preamp") == 0) {
			prop = get_path(defs, (const char *[]) { "preamp", "oneOf", NULL });
			prop = prop ? json_object_array_get_idx(prop, 0) : NULL;
		} else if (strcmp(sec, "eq") == 0) {
			continue;
		} else {
			snprintf(def_name, sizeof(def_name), "section-%s", sec);
			prop = get_path(defs, (const char *[]) { def_name, "properties", key, NULL });
			if (get_path(schema, (const char *[]) { "properties", sec, NULL }) == NULL) {
				diag("the schema's top level has no \"%s\"", sec);
				bad++;
			}
		}
		n_checked++;
		if (prop == NULL) {
			diag("the schema lacks %s", info.name);
			bad++;
			continue;
		}
		switch (info.type) {
		case IEM_PARAM_FLOAT: {
			json_object *mn = get_path(prop, (const char *[]) { "minimum", NULL });
			json_object *mx = get_path(prop, (const char *[]) { "maximum", NULL });
			if (mn == NULL || mx == NULL || json_object_get_double(mn) != info.min ||
			    json_object_get_double(mx) != info.max) {
				diag("%s: the schema's range differs from %g … %g", info.name, info.min, info.max);
				bad++;
			}
			break;
		}
		case IEM_PARAM_ENUM: {
			size_t k = 0;
			v = get_path(prop, (const char *[]) { "enum", NULL });
			for (; v && info.choices[k]; k++) {
				json_object *c = json_object_array_get_idx(v, k);
				if (c == NULL || strcmp(json_object_get_string(c), info.choices[k]) != 0)
					break;
			}
			if (v == NULL || info.choices[k] != NULL || json_object_array_length(v) != k) {
				diag("%s: the schema's choices differ", info.name);
				bad++;
			}
			break;
		}
		case IEM_PARAM_BOOL:
			v = get_path(prop, (const char *[]) { "type", NULL });
			if (v == NULL || strcmp(json_object_get_string(v), "boolean") != 0) {
				diag("%s: not a boolean in the schema", info.name);
				bad++;
			}
			break;
		case IEM_PARAM_STRING:
			if (get_path(prop, (const char *[]) { "$ref", NULL }) == NULL &&
			    get_path(prop, (const char *[]) { "type", NULL }) == NULL) {
				diag("%s: no type in the schema", info.name);
				bad++;
			}
			break;
		}
	}
	/* and the other way: nothing in a section that is not a parameter */
	json_object_object_foreach(defs, def_name, def) {
		json_object *props;
		if (strncmp(def_name, "section-", 8) != 0)
			continue;
		props = get_path(def, (const char *[]) { "properties", NULL });
		json_object_object_foreach(props, key, unused) {
			char name[80];
			bool found = false;
			(void)unused;
			if (strcmp(key, "comment") == 0)
				continue;
			snprintf(name, sizeof(name), "%s.%s", def_name + 8, key);
			for (uint32_t i = 0; i < count && !found; i++)
				found = iem_param_info(i, &info) == 0 && strcmp(info.name, name) == 0;
			if (!found) {
				diag("the schema has %s, which is no parameter", name);
				bad++;
			}
		}
	}
	check(bad == 0 && n_checked > 6, "the schema and the parameter table agree (%u parameters)",
			n_checked);
	json_object_put(schema);
}

static void on_shipped_error(void *data, const struct iem_profile_error *e)
{
	char msg[2048];
	(*(unsigned *)data)++;
	iem_profile_error_format(e, msg, sizeof(msg));
	diag("%s", msg);
}

static void test_shipped(const char *profiles, const char *examples)
{
	const char *dirs[] = { profiles, examples, NULL };
	struct iem_profile_store *s = iem_profile_store_new(dirs);
	unsigned errors = 0, resolved = 0;
	uint32_t n;
	int r;

	r = iem_profile_store_reload(s, on_shipped_error, &errors);
	n = iem_profile_store_count(s);
	check(r >= 9 && errors == 0, "every shipped profile and example loads (%d files)", r);
	for (uint32_t i = 0; i < n; i++) {
		const struct iem_profile *p = iem_profile_store_get_index(s, i);
		struct iem_profile_error e;
		struct iem_params params;
		if (iem_profile_store_resolve(s, p, &params, &e) == 0) {
			resolved++;
		} else {
			char msg[2048];
			iem_profile_error_format(&e, msg, sizeof(msg));
			diag("%s", msg);
		}
	}
	check(resolved == n, "and each resolves to parameters (%u of %u)", resolved, n);

	/* Every listening preset's stage builds at 48 kHz. */
	for (uint32_t i = 0; i < n; i++) {
		const struct iem_profile *p = iem_profile_store_get_index(s, i);
		struct iem_profile_error e;
		struct iem_params params;
		struct iem_stage_info info;
		struct iem_chain *chain;
		char err[512] = "";
		int res;

		if (p->kind != IEM_PROFILE_LISTENING)
			continue;
		if (iem_profile_store_resolve(s, p, &params, &e) < 0 ||
		    (chain = iem_chain_new(48000)) == NULL)
			continue;
		res = params.stage_mode == IEM_STAGE_OFF ? 0 :
			iem_chain_load_stage(chain, &params, &info, err, sizeof(err));
		check(res == 0, "preset %s: its stage builds%s%s", p->id, err[0] ? ": " : "", err);
		if (res == 0 && params.stage_mode != IEM_STAGE_OFF)
			diag("  %s: %u taps, gain %+.1f dB", p->id, info.length, info.gain_db);
		iem_chain_free(chain);
	}
	check(iem_profile_store_get(s, "defaults") != NULL &&
			iem_profile_store_get(s, "defaults")->kind == IEM_PROFILE_DEFAULTS &&
			!iem_profile_store_get(s, "defaults")->process,
			"the shipped defaults leave unknown devices untouched");
	iem_profile_store_free(s);
}

int main(int argc, char **argv)
{
	const char *t = getenv("TMPDIR");
	snprintf(tmpdir, sizeof(tmpdir), "%s/iem-profile-XXXXXX", t ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 99;
	}
	test_bad_profiles();
	test_good_device();
	test_import();
	test_file_trust();
	test_store();
	test_save();
	if (argc == 4) {
		test_schema(argv[1]);
		test_shipped(argv[2], argv[3]);
	} else {
		diag("skipping the shipped files: run with SCHEMA PROFILES-DIR EXAMPLES-DIR");
	}
	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			diag("could not remove %s", tmpdir);
	}
	return iem_test_done();
}
