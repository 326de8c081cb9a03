/* SPDX-License-Identifier: MIT */
/*
 * iemstage-analyze: the soundstage figures of a stage (dsp-reference §5),
 * as the chain builds it from the same parameters: ITD and ILD of each
 * virtual speaker, IACC and IACC_E3 for uncorrelated stereo, centred
 * sound, DRR, C50, reflections and the phantom centre's colouration;
 * printed for people or as JSON, and plotted as SVG.
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
#include "tool-common.h"

#define NAME		"iemstage-analyze"
#define DEFAULT_RATE	48000u
#define PROBE		(1.0f / 16.0f)	/* impulse height: far below the limiter */
#define BLOCK		1024u

struct options {
	struct tool_params_args params;	/* --profile, --brir, --set */
	uint32_t rate;
	const char *svg_dir;
	bool json;
};

/* What was measured, with what describes it. */
struct result {
	struct iem_params params;
	struct iem_stage_info stage;
	char mode[32];
	char preset[32];
	char xtype[32];			/* crossfeed.type */
	char xdelay[32];		/* crossfeed.delay */
	char hrtf[512];
	uint32_t rate;
	uint32_t n;
	float *taps[4];			/* LL, RL, LR, RR */
	struct iem_analysis a;
	bool have_room;
	struct iem_room_info room;	/* geometry, stage.mode = room */
};

static void print_help(void)
{
	printf("Usage: " NAME " [--profile FILE|ID] [--brir FILE] [--set NAME=VALUE]...\n"
	       "                        [--rate R] [--svg DIR] [--json]\n"
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
	       "  --svg DIR          also write SVG plots into DIR: brir.svg, magnitude.svg,\n"
	       "                     centre.svg and, for a room, room.svg\n"
	       "  --json             print the figures as one JSON object\n"
	       "  -h, --help         show this help and exit\n"
	       "  -V, --version      show the version and exit\n"
	       "\n"
	       "Without a stage (stage.mode = off, the default) the figures are plain\n"
	       "headphones'. Exit status: 0 on success, 1 on an error, 2 on bad usage.\n",
	       DEFAULT_RATE);
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
	iem_params_get(&r->params, "crossfeed.type", r->xtype, sizeof(r->xtype));
	iem_params_get(&r->params, "crossfeed.delay", r->xdelay, sizeof(r->xdelay));

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
		printf("stage:       crossfeed (%s, preset %s)%s%s%s, %u taps\n", r->xtype, r->preset,
				r->params.crossfeed_delay > 0.0 ? ", crossfed path delayed " : "",
				r->params.crossfeed_delay > 0.0 ? r->xdelay : "",
				r->params.crossfeed_delay > 0.0 ? " us" : "", r->n);
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
	printf("ITD phase:   left %s us, right %s us (GCC-PHAT below 1.5 kHz, whole response)\n",
			F("%+.1f", a->speaker[0].itd_phat_us), F("%+.1f", a->speaker[1].itd_phat_us));
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
		fputs(", \"type\": ", f);
		json_string(f, r->xtype);
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
		fputs(", \"itd_phat_us\": ", f);
		json_number(f, k->itd_phat_us);
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

/* ---- SVG --------------------------------------------------------------------- */

#define SVG_W		860.0
#define SVG_LEFT	70.0		/* room for the y labels */
#define SVG_RIGHT	20.0
static const char *const path_name[4] = {
	"left speaker to left ear", "right speaker to left ear",
	"left speaker to right ear", "right speaker to right ear",
};
static const char *const path_colour[4] = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728" };

struct svg {
	FILE *f;
	char *path;
};

static int svg_open(struct svg *s, const char *dir, const char *name, double height, const char *title)
{
	size_t len = strlen(dir) + strlen(name) + 2;
	s->path = malloc(len);
	if (s->path == NULL) {
		say_error("%s", strerror(errno));
		return -1;
	}
	snprintf(s->path, len, "%s/%s", dir, name);
	s->f = fopen(s->path, "w");
	if (s->f == NULL) {
		say_error("%s: cannot create: %s", s->path, strerror(errno));
		free(s->path);
		return -1;
	}
	fprintf(s->f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		"viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", SVG_W, height, SVG_W, height);
	fprintf(s->f, "<text x=\"%.0f\" y=\"20\" font-size=\"15\">", SVG_LEFT);
	for (const char *c = title; *c; c++) {
		if (*c == '&')
			fputs("&amp;", s->f);
		else if (*c == '<')
			fputs("&lt;", s->f);
		else if (*c == '>')
			fputs("&gt;", s->f);
		else
			fputc(*c, s->f);
	}
	fputs("</text>\n", s->f);
	return 0;
}

static int svg_close(struct svg *s)
{
	int res = 0;
	fputs("</svg>\n", s->f);
	if (ferror(s->f) | (fclose(s->f) != 0)) {
		say_error("%s: %s", s->path, strerror(errno));
		res = -1;
	}
	free(s->path);
	return res;
}

/* A frame with horizontal grid lines from lo to hi every step (labelled
 * with unit), the plot area [x0, x1] x [y0, y1]. */
static void svg_frame(FILE *f, double x0, double x1, double y0, double y1,
		double lo, double hi, double step, const char *unit)
{
	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#888\"/>\n",
			x0, y0, x1 - x0, y1 - y0);
	for (double v = lo; v <= hi + 1e-9; v += step) {
		double y = y1 - (v - lo) / (hi - lo) * (y1 - y0);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
			"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g%s</text>\n",
				x0, y, x1, y, x0 - 4, y + 4, v, unit);
	}
}

/* x of frequency f on a log axis 20 Hz … f_top. */
static double log_x(double f, double f_top, double x0, double x1)
{
	return x0 + log(f / 20.0) / log(f_top / 20.0) * (x1 - x0);
}

static void svg_freq_axis(FILE *f, double f_top, double x0, double x1, double y0, double y1)
{
	static const double ticks[] = { 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000 };
	for (size_t i = 0; i < sizeof(ticks) / sizeof(ticks[0]); i++) {
		if (ticks[i] > f_top)
			break;
		double x = log_x(ticks[i], f_top, x0, x1);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
			"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g%s</text>\n",
				x, y0, x, y1, x, y1 + 16, ticks[i] >= 1000 ? ticks[i] / 1000 : ticks[i],
				ticks[i] >= 1000 ? "k" : "");
	}
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">Hz</text>\n", (x0 + x1) / 2, y1 + 32);
}

/* The four paths over time, each in its own panel, min/max per pixel. */
static int svg_brir(const char *dir, const struct result *r)
{
	const double panel = 130.0, top = 40.0, x0 = SVG_LEFT, x1 = SVG_W - SVG_RIGHT;
	const uint32_t shown = r->n < (uint32_t)(0.2 * r->rate) ? r->n : (uint32_t)(0.2 * r->rate);
	const double ms = shown * 1e3 / r->rate;
	struct svg s;
	double peak = 0.0;

	for (int p = 0; p < 4; p++)
		for (uint32_t i = 0; i < r->n; i++)
			peak = fmax(peak, fabs(r->taps[p][i]));
	if (svg_open(&s, dir, "brir.svg", top + 4 * panel + 40, "Impulse responses of the stage (re the set's peak)") < 0)
		return -1;
	for (int p = 0; p < 4; p++) {
		const double y0 = top + p * panel + 10, y1 = y0 + panel - 25, mid = (y0 + y1) / 2;
		svg_frame(s.f, x0, x1, y0, y1, -1.0, 1.0, 1.0, "");
		fprintf(s.f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", x0 + 6, y0 + 14, path_name[p]);
		fprintf(s.f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1\" d=\"", path_colour[p]);
		const int cols = (int)(x1 - x0);
		for (int c = 0; c < cols && peak > 0.0; c++) {
			uint32_t a = (uint32_t)((double)c / cols * shown), b = (uint32_t)((double)(c + 1) / cols * shown);
			if (b <= a)
				b = a + 1;
			float lo = 0.0f, hi = 0.0f;
			for (uint32_t i = a; i < b && i < shown; i++) {
				lo = fminf(lo, r->taps[p][i]);
				hi = fmaxf(hi, r->taps[p][i]);
			}
			double half = (y1 - y0) / 2;
			fprintf(s.f, "%s%.1f %.2f L%.1f %.2f ", c ? "L" : "M", x0 + c, mid - hi / peak * half,
					x0 + c, mid - lo / peak * half);
		}
		fputs("\"/>\n", s.f);
	}
	double y = top + 4 * panel;
	for (int t = 0; t <= 10; t++) {
		double x = x0 + t / 10.0 * (x1 - x0);
		fprintf(s.f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.3g</text>\n", x, y, ms * t / 10.0);
	}
	fprintf(s.f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">ms</text>\n", (x0 + x1) / 2, y + 18);
	return svg_close(&s);
}

/* |H| of the four paths, sixth-octave smoothed. */
static int svg_magnitude(const char *dir, const struct result *r)
{
	enum { POINTS = 240 };
	const double x0 = SVG_LEFT, x1 = SVG_W - SVG_RIGHT, y0 = 40, y1 = 400;
	const double f_top = fmin(20000.0, 0.45 * r->rate);
	double freq[POINTS], level[4][POINTS], top = -INFINITY;
	struct svg s;

	for (int i = 0; i < POINTS; i++)
		freq[i] = 20.0 * pow(f_top / 20.0, (double)i / (POINTS - 1));
	for (int p = 0; p < 4; p++) {
		int res = iem_analysis_levels(r->taps[p], NULL, r->n, r->rate, freq, POINTS, 1.0 / 6.0, level[p]);
		if (res < 0) {
			say_error("magnitude responses: %s", strerror(-res));
			return -1;
		}
		for (int i = 0; i < POINTS; i++)
			if (isfinite(level[p][i]))
				top = fmax(top, level[p][i]);
	}
	double hi = isfinite(top) ? ceil(top / 10.0) * 10.0 : 10.0, lo = hi - 60.0;
	if (svg_open(&s, dir, "magnitude.svg", y1 + 90, "Magnitude responses (dB, sixth-octave smoothed)") < 0)
		return -1;
	svg_frame(s.f, x0, x1, y0, y1, lo, hi, 10.0, " dB");
	svg_freq_axis(s.f, f_top, x0, x1, y0, y1);
	for (int p = 0; p < 4; p++) {
		bool pen = false;
		fprintf(s.f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" d=\"", path_colour[p]);
		for (int i = 0; i < POINTS; i++) {
			if (!isfinite(level[p][i])) {
				pen = false;
				continue;
			}
			double v = fmin(fmax(level[p][i], lo), hi);
			fprintf(s.f, "%s%.1f %.1f ", pen ? "L" : "M", log_x(freq[i], f_top, x0, x1),
					y1 - (v - lo) / (hi - lo) * (y1 - y0));
			pen = true;
		}
		fputs("\"/>\n", s.f);
		fprintf(s.f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">%s</text>\n",
				x0 + 10 + (p % 2) * 360, y1 + 50 + (p / 2) * 16, path_colour[p], path_name[p]);
	}
	return svg_close(&s);
}

/* The phantom centre against dry, third octaves. */
static int svg_centre(const char *dir, const struct result *r)
{
	const double x0 = SVG_LEFT, x1 = SVG_W - SVG_RIGHT, y0 = 40, y1 = 340, lo = -12, hi = 12;
	const double f_top = fmin(20000.0, 0.45 * r->rate);
	struct svg s;
	bool pen = false;

	if (svg_open(&s, dir, "centre.svg", y1 + 60,
			"Centre (L = R) colouration re dry, third octaves (dB)") < 0)
		return -1;
	svg_frame(s.f, x0, x1, y0, y1, lo, hi, 3.0, " dB");
	svg_freq_axis(s.f, f_top, x0, x1, y0, y1);
	fputs("<path fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" d=\"", s.f);
	for (uint32_t i = 0; i < IEM_ANALYSIS_THIRDS; i++) {
		double f = iem_analysis_third_hz(i), v = r->a.centre_db[i];
		if (!isfinite(v) || f < 20.0 || f > f_top) {
			pen = false;
			continue;
		}
		v = fmin(fmax(v, lo), hi);
		fprintf(s.f, "%s%.1f %.1f ", pen ? "L" : "M", log_x(f, f_top, x0, x1),
				y1 - (v - lo) / (hi - lo) * (y1 - y0));
		pen = true;
	}
	fputs("\"/>\n", s.f);
	return svg_close(&s);
}

/* The room from above: the front wall at the top, the listener's left on
 * the left; speakers, listener and the first-order reflections off the
 * four walls (floor and ceiling lie on the direct path seen from above). */
static int svg_room(const char *dir, const struct result *r)
{
	const struct iem_params *p = &r->params;
	const struct iem_room_info *in = &r->room;
	const double W = p->room_width, D = p->room_depth;
	const double scale = fmin((SVG_W - 2 * SVG_LEFT) / W, 520.0 / D), x0 = (SVG_W - W * scale) / 2, y0 = 50;
	struct svg s;

	/* plan coordinates: room x (depth, to the front wall), y (width, left) */
#define PX(y) (x0 + (W - (y)) * scale)
#define PY(x) (y0 + (D - (x)) * scale)
	if (svg_open(&s, dir, "room.svg", y0 + D * scale + 50,
			"The room from above: speakers, listener, first-order reflections") < 0)
		return -1;
	fprintf(s.f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#f7f7f7\" "
		"stroke=\"black\" stroke-width=\"2\"/>\n", x0, y0, W * scale, D * scale);
	fprintf(s.f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">front wall (%g x %g x %g m)</text>\n",
			x0 + W * scale / 2, y0 - 6, W, D, p->room_height);
	const double *lx = in->listener;
	for (int sp = 0; sp < 2; sp++) {
		const double *sx = in->speaker[sp];
		/* images in the four walls: x = 0, x = D, y = 0, y = W */
		const double img[4][2] = {
			{ -sx[0], sx[1] }, { 2 * D - sx[0], sx[1] }, { sx[0], -sx[1] }, { sx[0], 2 * W - sx[1] },
		};
		for (int w = 0; w < 4; w++) {
			/* where the line image -> listener crosses the wall */
			double t, hx, hy;
			if (w < 2) {
				double wall = w == 0 ? 0.0 : D;
				t = (wall - img[w][0]) / (lx[0] - img[w][0]);
			} else {
				double wall = w == 2 ? 0.0 : W;
				t = (wall - img[w][1]) / (lx[1] - img[w][1]);
			}
			hx = img[w][0] + t * (lx[0] - img[w][0]);
			hy = img[w][1] + t * (lx[1] - img[w][1]);
			fprintf(s.f, "<polyline fill=\"none\" stroke=\"%s\" stroke-dasharray=\"4 3\" "
				"points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\"/>\n", path_colour[sp],
					PX(sx[1]), PY(sx[0]), PX(hy), PY(hx), PX(lx[1]), PY(lx[0]));
		}
		fprintf(s.f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n",
				PX(sx[1]), PY(sx[0]), PX(lx[1]), PY(lx[0]), path_colour[sp]);
		fprintf(s.f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" fill=\"%s\"/>"
			"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
				PX(sx[1]) - 7, PY(sx[0]) - 7, path_colour[sp], PX(sx[1]), PY(sx[0]) - 12,
				sp ? "R" : "L");
	}
	fprintf(s.f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"9\" fill=\"white\" stroke=\"black\" stroke-width=\"2\"/>"
		"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">listener</text>\n",
			PX(lx[1]), PY(lx[0]), PX(lx[1]), PY(lx[0]) + 26);
#undef PX
#undef PY
	return svg_close(&s);
}

static int analyze_svg(const char *dir, const struct result *r)
{
	if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
		say_error("%s: cannot create: %s", dir, strerror(errno));
		return -1;
	}
	if (svg_brir(dir, r) < 0 || svg_magnitude(dir, r) < 0 || svg_centre(dir, r) < 0)
		return -1;
	if (r->have_room && svg_room(dir, r) < 0)
		return -1;
	return 0;
}

/* ---- command line ------------------------------------------------------------ */

static void parse_args(struct options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		TOOL_PARAMS_OPTIONS,
		{ "rate", required_argument, NULL, 'r' },
		{ "svg", required_argument, NULL, 'g' },
		{ "json", no_argument, NULL, 'j' },
		TOOL_HELP_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->rate = DEFAULT_RATE;
	tool_params_args_init(&o->params, argc);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			o->rate = tool_parse_rate(optarg);
			break;
		case 'g':
			if (o->svg_dir)
				usage_error("--svg given twice");
			if (optarg[0] == '\0')
				usage_error("--svg wants a directory");
			o->svg_dir = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		default:
			if (!tool_params_option(&o->params, c, optarg))
				tool_other_option(c, argv, print_help);
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

	tool_init(NAME, NULL);
	parse_args(&o, argc, argv);
	memset(&r, 0, sizeof(r));
	iem_params_init(&r.params);
	if (o.params.profile && tool_params_load_profile(&o.params, &r.params, NULL) < 0)
		goto done;
	if (tool_params_apply(&o.params, &r.params, "iemstage-render --list-params") < 0)
		goto done;
	if (measure(&o, &r) < 0)
		goto done;
	if (o.json)
		print_json(&r);
	else
		print_text(&r);
	if (o.svg_dir && analyze_svg(o.svg_dir, &r) < 0)
		goto done;
	res = 0;
done:
	result_free(&r);
	tool_params_args_clear(&o.params);
	return tool_exit_status(res);
}
