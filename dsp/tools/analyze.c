/* SPDX-License-Identifier: MIT */
/*
 * iemstage-analyze: the soundstage figures of a stage (dsp-reference §5),
 * as the chain builds it from the same parameters: ITD and ILD of each
 * virtual speaker, IACC and IACC_E3 for uncorrelated stereo, centred
 * sound, DRR, C50, reflections and the phantom centre's colouration;
 * printed for people or as JSON.
 *
 * The stage is measured, not rebuilt: a chain is made at the rate asked
 * for, the stage loaded with iem_chain_load_stage() (room, crossfeed or
 * BRIR file, with the chain's loudness scaling), the EQ, preamp and output
 * gain left out, and an impulse sent into each input. What comes out is
 * what a listener's ears get from the stage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "iem-dsp.h"
#include "iem-profile.h"

#define NAME		"iemstage-analyze"
#define DEFAULT_RATE	48000u
#define PROBE		(1.0f / 16.0f)	/* impulse height: far below the limiter */
#define BLOCK		1024u

struct options {
	const char *profile;
	const char *brir_path;
	const char **sets;
	size_t n_sets;
	uint32_t rate;
	bool json;
};

/* What was measured, with what describes it. */
struct result {
	struct iem_params params;
	struct iem_stage_info stage;
	char mode[32];
	char preset[32];
	char hrtf[512];
	uint32_t rate;
	uint32_t n;
	float *taps[4];			/* LL, RL, LR, RR */
	struct iem_analysis a;
	bool have_room;
	struct iem_room_info room;	/* geometry, stage.mode = room */
};

/* ---- messages ------------------------------------------------------------- */

static void __attribute__((format(printf, 1, 2))) say_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs(NAME ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void __attribute__((format(printf, 1, 2), noreturn)) usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs(NAME ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry '" NAME " --help' for more information.\n", stderr);
	exit(2);
}

static void print_help(void)
{
	printf("Usage: " NAME " [--profile FILE|ID] [--brir FILE] [--set NAME=VALUE]...\n"
	       "                        [--rate R] [--json]\n"
	       "\n"
	       "Measures the stage the DSP chain builds from the parameters (stage.mode room,\n"
	       "crossfeed or brir; the EQ is left out) and prints its soundstage figures:\n"
	       "ITD and ILD of each virtual speaker, IACC and IACC_E3 for uncorrelated\n"
	       "stereo, centred sound, DRR, C50, the reflections and the phantom centre's\n"
	       "colouration (dsp-reference §5 says how each is measured).\n"
	       "\n"
	       "Options:\n"
	       "  --profile FILE|ID  start from a profile (a device profile with its\n"
	       "                     listening preset, or a listening preset), by file or\n"
	       "                     by id from the profile search path\n"
	       "  --brir FILE        the stage is this impulse-response file (as\n"
	       "                     --set stage.mode=brir --set stage.brir=FILE)\n"
	       "  --set NAME=VALUE   set one parameter (iemstage-render --list-params lists\n"
	       "                     them); may be given several times, applied in order\n"
	       "  --rate R           sample rate to build the stage at (default %u)\n"
	       "  --json             print the figures as one JSON object\n"
	       "  -h, --help         show this help and exit\n"
	       "  -V, --version      show the version and exit\n"
	       "\n"
	       "Without a stage (stage.mode = off, the default) the figures are plain\n"
	       "headphones'. Exit status: 0 on success, 1 on an error, 2 on bad usage.\n",
	       DEFAULT_RATE);
}

/* ---- parameters (as iemstage-render takes them) ------------------------------ */

struct profile_errors {
	const char *id;
	bool reported;
};

/* Errors of other profiles in the search path are none of this run's
 * business; the one asked for is. */
static void on_profile_error(void *data, const struct iem_profile_error *e)
{
	struct profile_errors *pe = data;
	const char *base = strrchr(e->file, '/');
	char msg[2048];
	size_t n = strlen(pe->id);

	base = base ? base + 1 : e->file;
	if (strncmp(base, pe->id, n) != 0 || strcmp(base + n, ".json") != 0)
		return;
	iem_profile_error_format(e, msg, sizeof(msg));
	say_error("%s", msg);
	pe->reported = true;
}

/* --profile FILE|ID: a file when it has a '/' or ends in .json, else an id
 * from the search path. */
static int load_profile(const char *arg, struct iem_params *p)
{
	size_t len = strlen(arg);
	bool is_file = strchr(arg, '/') != NULL || (len > 5 && strcmp(arg + len - 5, ".json") == 0);
	struct profile_errors pe = { .id = is_file ? "" : arg };
	struct iem_profile_store *store;
	struct iem_profile *own = NULL;
	const struct iem_profile *prof;
	struct iem_profile_error err;
	char msg[2048];
	int res = -1;

	store = iem_profile_store_new(NULL);
	if (store == NULL) {
		say_error("%s", strerror(errno));
		return -1;
	}
	iem_profile_store_reload(store, on_profile_error, &pe);
	if (is_file) {
		if (iem_profile_load(arg, &own, &err) < 0) {
			iem_profile_error_format(&err, msg, sizeof(msg));
			say_error("%s", msg);
			goto done;
		}
		prof = own;
	} else {
		if (!iem_profile_id_valid(arg)) {
			say_error("--profile: '%s' is neither a file nor a profile id", arg);
			goto done;
		}
		prof = iem_profile_store_get(store, arg);
		if (prof == NULL) {
			if (!pe.reported)
				say_error("no profile '%s' in the search path (see the README's Profiles section)",
						arg);
			goto done;
		}
	}
	if (iem_profile_store_resolve(store, prof, p, &err) < 0) {
		iem_profile_error_format(&err, msg, sizeof(msg));
		say_error("%s", msg);
		goto done;
	}
	res = 0;
done:
	iem_profile_free(own);
	iem_profile_store_free(store);
	return res;
}

static int apply_sets(const struct options *o, struct iem_params *p)
{
	for (size_t i = 0; i < o->n_sets; i++) {
		const char *arg = o->sets[i], *eq = strchr(arg, '=');
		size_t name_len = (size_t)(eq - arg);
		char err[256] = "", name[64];
		int res;

		if (name_len >= sizeof(name)) {
			say_error("--set %s: no parameter has a name that long", arg);
			return -1;
		}
		memcpy(name, arg, name_len);
		name[name_len] = '\0';
		res = iem_params_set(p, name, eq + 1, err, sizeof(err));
		if (res < 0) {
			say_error("--set %s: %s%s", arg, err[0] ? err : strerror(-res),
					res == -ENOENT ? "; iemstage-render --list-params lists every name" : "");
			return -1;
		}
	}
	return 0;
}

/* ---- measuring ------------------------------------------------------------- */

static void result_free(struct result *r)
{
	for (int p = 0; p < 4; p++)
		free(r->taps[p]);
}

/* The stage's 2 x 2 response through a chain made for it. */
static int measure(const struct options *o, struct result *r)
{
	struct iem_params p = r->params;
	struct iem_chain *c;
	struct iem_chain_stats stats;
	char err[1024] = "";
	int res = -1;

	/* the stage alone: no EQ, no gain; never bypassed */
	for (int i = 0; i < IEM_MAX_BANDS; i++)
		p.band[i].type = IEM_FILTER_OFF;
	p.preamp_auto = true;
	p.output_gain = 0.0;
	p.bypass = false;

	r->rate = o->rate;
	c = iem_chain_new(o->rate);
	if (c == NULL) {
		say_error("cannot create the DSP chain at %u Hz: %s", o->rate, strerror(errno));
		return -1;
	}
	if ((res = iem_chain_apply(c, &p, NULL)) < 0) {
		say_error("the DSP chain refused the settings: %s", strerror(-res));
		res = -1;
		goto done;
	}
	res = -1;
	if (p.stage_mode != IEM_STAGE_OFF) {
		if (iem_chain_load_stage(c, &p, &r->stage, err, sizeof(err)) < 0) {
			say_error("%s", err);
			goto done;
		}
		if (r->stage.hrtf)
			snprintf(r->hrtf, sizeof(r->hrtf), "%s", r->stage.hrtf);
	}
	/* the length of the stage, or a few taps of plain headphones */
	r->n = p.stage_mode != IEM_STAGE_OFF ? r->stage.length : 64;
	float *in[2], *out[2];
	for (int k = 0; k < 2; k++) {
		in[k] = calloc(BLOCK, sizeof(float));
		out[k] = calloc(BLOCK, sizeof(float));
	}
	for (int k = 0; k < 4; k++)
		r->taps[k] = calloc(r->n, sizeof(float));
	if (!in[0] || !in[1] || !out[0] || !out[1] || !r->taps[0] || !r->taps[1] || !r->taps[2] || !r->taps[3]) {
		say_error("%s", strerror(ENOMEM));
		goto free_buffers;
	}
	for (int i = 0; i < 2; i++) {
		iem_chain_reset(c);
		for (uint32_t done = 0; done < r->n; done += BLOCK) {
			uint32_t m = r->n - done < BLOCK ? r->n - done : BLOCK;
			memset(in[0], 0, BLOCK * sizeof(float));
			memset(in[1], 0, BLOCK * sizeof(float));
			if (done == 0)
				in[i][0] = PROBE;
			iem_chain_process(c, (const float *const[2]) { in[0], in[1] }, out, m);
			for (uint32_t j = 0; j < m; j++) {
				r->taps[0 * 2 + i][done + j] = out[0][j] / PROBE;
				r->taps[1 * 2 + i][done + j] = out[1][j] / PROBE;
			}
		}
	}
	iem_chain_get_stats(c, &stats);
	if (stats.limiter_events != 0) {
		say_error("the stage peaks %+.0f dB above its input: the safety limiter acted on the probe",
				20.0 * log10(1.0 / PROBE));
		goto free_buffers;
	}
	res = 0;
free_buffers:
	for (int k = 0; k < 2; k++) {
		free(in[k]);
		free(out[k]);
	}
done:
	iem_chain_free(c);
	if (res < 0)
		return res;

	const float *const taps[4] = { r->taps[0], r->taps[1], r->taps[2], r->taps[3] };
	struct iem_ir ir = { 2, 2, r->n, taps };
	if ((res = iem_analysis_run(&ir, r->rate, &r->a)) < 0) {
		say_error("cannot analyse the stage: %s", strerror(-res));
		return -1;
	}
	iem_params_get(&r->params, "stage.mode", r->mode, sizeof(r->mode));
	iem_params_get(&r->params, "crossfeed.preset", r->preset, sizeof(r->preset));

	/* where everything stands, for the plan of the room */
	if (p.stage_mode == IEM_STAGE_ROOM) {
		struct iem_room_config cfg;
		struct iem_room *room = NULL;
		iem_room_config_init(&cfg);
		iem_room_config_from_params(&cfg, &p);
		cfg.rt60 = 0.0;		/* the geometry only: quick */
		if (iem_room_render(&cfg, NULL, r->rate, &room, NULL, 0) == 0) {
			r->room = room->info;
			r->have_room = true;
		}
		iem_room_free(room);
	}
	return 0;
}

/* ---- printing -------------------------------------------------------------- */

/* A figure, or "n/a" (NAN) / "+inf" / "-inf", as IEEE printing differs. */
static const char *fmt(char *buf, size_t size, const char *format, double v)
{
	if (isnan(v))
		snprintf(buf, size, "n/a");
	else if (isinf(v))
		snprintf(buf, size, "%s", v > 0 ? "+inf" : "-inf");
	else
		snprintf(buf, size, format, v);
	return buf;
}

#define F(format, v) fmt((char[32]) { 0 }, 32, format, v)

static void print_text(const struct result *r)
{
	const struct iem_analysis *a = &r->a;
	const struct iem_params *p = &r->params;

	if (strcmp(r->mode, "room") == 0)
		printf("stage:       room, +-%g deg at %g m, %g x %g x %g m, RT60 %g s, %u taps, gain %s dB\n"
		       "hrtf:        %s\n", p->stage_angle, p->stage_distance, p->room_width,
				p->room_depth, p->room_height, p->room_rt60, r->n,
				F("%+.2f", r->stage.gain_db), r->hrtf);
	else if (strcmp(r->mode, "crossfeed") == 0)
		printf("stage:       crossfeed (bs2b, preset %s), %u taps\n", r->preset, r->n);
	else if (strcmp(r->mode, "brir") == 0)
		printf("stage:       %s (%s, %u channels, %u Hz), %u taps, gain %s dB\n", p->stage_brir,
				r->stage.layout, r->stage.file_channels, r->stage.file_rate, r->n,
				F("%+.2f", r->stage.gain_db));
	else
		printf("stage:       off (plain headphones)\n");
	printf("rate:        %u Hz\n", r->rate);
	printf("ITD:         left %s us, right %s us (LP 1.5 kHz, whole response)\n",
			F("%+.1f", a->speaker[0].itd_us), F("%+.1f", a->speaker[1].itd_us));
	printf("ITD direct:  left %s us, right %s us (direct sound only)\n",
			F("%+.1f", a->speaker[0].itd_direct_us), F("%+.1f", a->speaker[1].itd_direct_us));
	printf("ILD:         left %s dB, right %s dB\n",
			F("%+.2f", a->speaker[0].ild_db), F("%+.2f", a->speaker[1].ild_db));
	for (int s = 0; s < 2; s++) {
		printf("ILD %-5s    ", s ? "right" : "left");
		for (uint32_t b = 0; b < IEM_ANALYSIS_OCTAVES; b++)
			printf(" %g:%s", iem_analysis_octave_hz(b), F("%+.1f", a->speaker[s].ild_octave_db[b]));
		printf(" (Hz:dB, octaves)\n");
	}
	printf("IACC:        %s (uncorrelated stereo, broadband), early %s\n",
			F("%.3f", a->iacc), F("%.3f", a->iacc_e));
	printf("IACC_E3:     %s (early, 500 Hz %s, 1 kHz %s, 2 kHz %s)\n", F("%.3f", a->iacc_e3),
			F("%.3f", a->iacc_e_band[0]), F("%.3f", a->iacc_e_band[1]), F("%.3f", a->iacc_e_band[2]));
	printf("centred:     ITD %s us, ILD %s dB, IACC %s, early %s, IACC_E3 %s\n",
			F("%+.1f", a->mono_itd_us), F("%+.2f", a->mono_ild_db), F("%.3f", a->mono_iacc),
			F("%.3f", a->mono_iacc_e), F("%.3f", a->mono_iacc_e3));
	printf("DRR:         left %s dB, right %s dB\n",
			F("%+.2f", a->speaker[0].drr_db), F("%+.2f", a->speaker[1].drr_db));
	printf("C50:         left %s dB, right %s dB\n",
			F("%+.2f", a->speaker[0].c50_db), F("%+.2f", a->speaker[1].c50_db));
	for (int s = 0; s < 2; s++) {
		const struct iem_speaker_analysis *k = &a->speaker[s];
		printf("reflections %-5s", s ? "right" : "left");
		if (k->n_reflections == 0)
			printf(" none");
		for (uint32_t j = 0; j < k->n_reflections; j++)
			printf(" %.2f:%+.1f", k->reflection[j].delay_ms, k->reflection[j].level_db);
		printf(" (ms after the direct sound:dB re it)\n");
	}
	printf("centre:      largest %s dB at %s Hz, rms %s dB (re dry, third octaves 100 Hz - 10 kHz)\n",
			F("%+.2f", a->centre_max_db), F("%.0f", a->centre_max_hz), F("%.2f", a->centre_rms_db));
	printf("centre bands");
	for (uint32_t i = 0; i < IEM_ANALYSIS_THIRDS; i++)
		if (!isnan(a->centre_db[i]))
			printf(" %.0f:%s", iem_analysis_third_hz(i), F("%+.1f", a->centre_db[i]));
	printf(" (Hz:dB)\n");
}

/* ---- JSON ------------------------------------------------------------------- */

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* A number, or null where there is none. */
static void json_number(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

static void print_json(const struct result *r)
{
	const struct iem_analysis *a = &r->a;
	FILE *f = stdout;

	fputs("{\n  \"rate\": ", f);
	fprintf(f, "%u,\n  \"length\": %u,\n  \"stage\": { \"mode\": ", r->rate, r->n);
	json_string(f, r->mode);
	if (strcmp(r->mode, "room") == 0) {
		fputs(", \"hrtf\": ", f);
		json_string(f, r->hrtf);
	} else if (strcmp(r->mode, "crossfeed") == 0) {
		fputs(", \"preset\": ", f);
		json_string(f, r->preset);
	} else if (strcmp(r->mode, "brir") == 0) {
		fputs(", \"file\": ", f);
		json_string(f, r->params.stage_brir);
	}
	fputs(", \"gain_db\": ", f);
	json_number(f, r->stage.gain_db);
	fputs(" },\n  \"speakers\": [", f);
	for (int s = 0; s < 2; s++) {
		const struct iem_speaker_analysis *k = &a->speaker[s];
		fprintf(f, "%s\n    { \"side\": \"%s\", \"itd_us\": ", s ? "," : "", s ? "right" : "left");
		json_number(f, k->itd_us);
		fputs(", \"itd_direct_us\": ", f);
		json_number(f, k->itd_direct_us);
		fputs(", \"ild_db\": ", f);
		json_number(f, k->ild_db);
		fputs(",\n      \"ild_octave_db\": {", f);
		for (uint32_t b = 0; b < IEM_ANALYSIS_OCTAVES; b++) {
			fprintf(f, "%s \"%g\": ", b ? "," : "", iem_analysis_octave_hz(b));
			json_number(f, k->ild_octave_db[b]);
		}
		fputs(" },\n      \"direct_ms\": ", f);
		json_number(f, k->direct_ms);
		fputs(", \"drr_db\": ", f);
		json_number(f, k->drr_db);
		fputs(", \"c50_db\": ", f);
		json_number(f, k->c50_db);
		fputs(",\n      \"reflections\": [", f);
		for (uint32_t j = 0; j < k->n_reflections; j++) {
			fprintf(f, "%s { \"delay_ms\": ", j ? "," : "");
			json_number(f, k->reflection[j].delay_ms);
			fputs(", \"level_db\": ", f);
			json_number(f, k->reflection[j].level_db);
			fputs(" }", f);
		}
		fputs(" ] }", f);
	}
	fputs("\n  ],\n  \"iacc\": ", f);
	json_number(f, a->iacc);
	fputs(",\n  \"iacc_e\": ", f);
	json_number(f, a->iacc_e);
	fputs(",\n  \"iacc_e_band\": { \"500\": ", f);
	json_number(f, a->iacc_e_band[0]);
	fputs(", \"1000\": ", f);
	json_number(f, a->iacc_e_band[1]);
	fputs(", \"2000\": ", f);
	json_number(f, a->iacc_e_band[2]);
	fputs(" },\n  \"iacc_e3\": ", f);
	json_number(f, a->iacc_e3);
	fputs(",\n  \"centred\": { \"itd_us\": ", f);
	json_number(f, a->mono_itd_us);
	fputs(", \"ild_db\": ", f);
	json_number(f, a->mono_ild_db);
	fputs(", \"iacc\": ", f);
	json_number(f, a->mono_iacc);
	fputs(", \"iacc_e\": ", f);
	json_number(f, a->mono_iacc_e);
	fputs(", \"iacc_e3\": ", f);
	json_number(f, a->mono_iacc_e3);
	fputs(" },\n  \"centre\": { \"max_db\": ", f);
	json_number(f, a->centre_max_db);
	fputs(", \"max_hz\": ", f);
	json_number(f, a->centre_max_hz);
	fputs(", \"rms_db\": ", f);
	json_number(f, a->centre_rms_db);
	fputs(",\n    \"bands_db\": {", f);
	bool first = true;
	for (uint32_t i = 0; i < IEM_ANALYSIS_THIRDS; i++) {
		if (isnan(a->centre_db[i]))
			continue;
		fprintf(f, "%s \"%.0f\": ", first ? "" : ",", iem_analysis_third_hz(i));
		json_number(f, a->centre_db[i]);
		first = false;
	}
	fputs(" } }\n}\n", f);
}

/* ---- command line ------------------------------------------------------------ */

static void parse_args(struct options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "profile", required_argument, NULL, 'p' },
		{ "brir", required_argument, NULL, 'b' },
		{ "set", required_argument, NULL, 's' },
		{ "rate", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	char *end;

	memset(o, 0, sizeof(*o));
	o->rate = DEFAULT_RATE;
	o->sets = calloc((size_t)argc, sizeof(*o->sets));
	if (o->sets == NULL) {
		say_error("%s", strerror(errno));
		exit(1);
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (o->profile)
				usage_error("--profile given twice");
			o->profile = optarg;
			break;
		case 'b':
			if (o->brir_path)
				usage_error("--brir given twice");
			o->brir_path = optarg;
			break;
		case 's':
			if (strchr(optarg, '=') == NULL || optarg[0] == '=')
				usage_error("--set wants NAME=VALUE, not '%s'", optarg);
			o->sets[o->n_sets++] = optarg;
			break;
		case 'r': {
			unsigned long v;
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' ||
			    v < IEM_MIN_RATE || v > IEM_MAX_RATE)
				usage_error("--rate wants a sample rate from %u to %u Hz, not '%s'",
						IEM_MIN_RATE, IEM_MAX_RATE, optarg);
			o->rate = (uint32_t)v;
			break;
		}
		case 'j':
			o->json = true;
			break;
		case 'h':
			print_help();
			exit(0);
		case 'V':
			printf(NAME " " IEM_VERSION "\n");
			exit(0);
		case ':':
			usage_error("option '%s' needs a value", argv[optind - 1]);
			break;
		default:
			if (optopt)
				usage_error("unknown option '-%c'", optopt);
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
}

int main(int argc, char **argv)
{
	struct options o;
	struct result r;
	int res = -1;

	parse_args(&o, argc, argv);
	memset(&r, 0, sizeof(r));
	iem_params_init(&r.params);
	if (o.profile && load_profile(o.profile, &r.params) < 0)
		goto done;
	if (o.brir_path) {
		char err[256];
		if (iem_params_set(&r.params, "stage.brir", o.brir_path, err, sizeof(err)) < 0) {
			say_error("--brir: %s", err);
			goto done;
		}
		r.params.stage_mode = IEM_STAGE_BRIR;
	}
	if (apply_sets(&o, &r.params) < 0)
		goto done;
	if (measure(&o, &r) < 0)
		goto done;
	if (o.json)
		print_json(&r);
	else
		print_text(&r);
	res = 0;
done:
	result_free(&r);
	free(o.sets);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		say_error("standard output: %s", strerror(errno));
		return 1;
	}
	return res < 0 ? 1 : 0;
}
