/* SPDX-License-Identifier: MIT */
/*
 * iemstage-fit: a parametric EQ fitted from a frequency-response
 * measurement toward a target (or from a GraphicEQ.txt), written as an
 * Equalizer APO / AutoEq ParametricEQ.txt, with an SVG plot on request.
 *
 * The fit itself is iem_fit(); this file reads the inputs, hands the
 * resulting struct iem_params to the writers (ParametricEQ.txt here; a
 * device profile writer can take the same struct) and reports.
 * Files are written to NAME.tmp-XXXXXX and renamed: an error never leaves
 * half a file.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "iem-dsp.h"
#include "iem-profile.h"
#include "tool-common.h"

#define NAME		"iemstage-fit"
#define DEFAULT_TARGET	"harman-ie-2019"
#define GRAPHIC_MAX	(1024 * 1024)	/* bytes of a GraphicEQ.txt */

struct options {
	const char *measurement;
	const char *graphic;
	const char *target;
	const char *out;
	const char *svg;
	struct iem_fit_config cfg;
};

/* What a plot shows. */
struct plot {
	const char *title;
	const struct iem_curve *measurement;	/* NULL with --graphic */
	const struct iem_curve *target;		/* or the GraphicEQ curve */
	const struct iem_params *eq;
	double rate;
	double fit_max;
	bool graphic;
};

static void print_help(void)
{
	printf("Usage: " NAME " MEASUREMENT.csv [--target NAME|FILE.csv] [--bands N] [-o OUT.txt] [--svg PLOT.svg]\n"
	       "       " NAME " --graphic GraphicEQ.txt [--bands N] [-o OUT.txt] [--svg PLOT.svg]\n"
	       "       " NAME " --list-targets | --help | --version\n"
	       "\n"
	       "Fits a parametric EQ (by default a low shelf at 105 Hz, 8 peaking bands and a\n"
	       "high shelf at 10 kHz, AutoEq's set and limits) that brings an in-ear monitor's\n"
	       "measured frequency response to a target: closely from 20 Hz to 10 kHz, the\n"
	       "average level above. Writes an Equalizer APO / AutoEq ParametricEQ.txt, which\n"
	       "iemstage-render --eq and the PipeWire module read, with the preamp set so the\n"
	       "EQ never gains above 0 dB. Prints the residual (rms dB, 20 Hz - 10 kHz, level\n"
	       "removed) and the time taken to stderr.\n"
	       "\n"
	       "MEASUREMENT.csv: frequency (Hz) and level (dB) per line, comma-separated, as\n"
	       "AutoEq's measurements ('frequency,raw'); a header is optional.\n"
	       "\n"
	       "Options:\n"
	       "  --target T        a built-in target (see --list-targets) or a CSV file\n"
	       "                    (frequency,dB or AutoEq's frequency,target); default\n"
	       "                    " DEFAULT_TARGET "\n"
	       "  --graphic FILE    instead of a measurement: an Equalizer APO / AutoEq\n"
	       "                    GraphicEQ.txt, whose curve is the EQ wanted\n"
	       "  --bands N         bands in all, 1 ... %d (default 10); from 3 on, the first\n"
	       "                    is the low shelf and the last the high shelf\n"
	       "  --rate R          sample rate the bands are designed at (default 48000)\n"
	       "  -o, --output OUT  write the ParametricEQ.txt there (default: stdout); a\n"
	       "                    name ending in .json gets a device profile instead\n"
	       "                    (add match rules and a listening preset to it)\n"
	       "  --svg FILE        plot measurement, target, EQ and result as SVG\n"
	       "  --list-targets    list the built-in targets\n"
	       "  -h, --help        show this help and exit\n"
	       "  -V, --version     show the version and exit\n"
	       "\n"
	       "Exit status: 0 on success, 1 on bad input or an error, 2 on bad usage.\n",
	       IEM_MAX_BANDS);
}

/* ---- files ---------------------------------------------------------------- */

/* A new file written whole or not at all: FILE.tmp-XXXXXX, renamed by
 * file_commit(). */
struct outfile {
	const char *path;
	char *tmp;
	FILE *f;
};

static int file_open(struct outfile *o, const char *path)
{
	int fd;

	memset(o, 0, sizeof(*o));
	o->path = path;
	if ((fd = tool_create_temp(path, &o->tmp)) < 0)
		return -1;
	if ((o->f = fdopen(fd, "w")) == NULL) {
		say_error("%s: %s", o->tmp, strerror(errno));
		close(fd);
		unlink(o->tmp);
		free(o->tmp);
		o->tmp = NULL;
		return -1;
	}
	return 0;
}

static void file_abort(struct outfile *o)
{
	if (o->f != NULL)
		fclose(o->f);
	if (o->tmp != NULL)
		unlink(o->tmp);
	free(o->tmp);
	memset(o, 0, sizeof(*o));
}

static int file_commit(struct outfile *o)
{
	bool bad = ferror(o->f) != 0;

	if (fflush(o->f) != 0 || fsync(fileno(o->f)) < 0)
		bad = true;
	if (fclose(o->f) != 0)
		bad = true;
	o->f = NULL;
	if (bad) {
		say_error("%s: %s", o->path, strerror(errno ? errno : EIO));
		file_abort(o);
		return -1;
	}
	if (rename(o->tmp, o->path) < 0) {
		say_error("%s: %s", o->path, strerror(errno));
		file_abort(o);
		return -1;
	}
	free(o->tmp);
	o->tmp = NULL;
	return 0;
}

/* ---- the plot ------------------------------------------------------------- */

#define SVG_W		960
#define SVG_H		540
#define PLOT_X0		70
#define PLOT_X1		(SVG_W - 20)
#define PLOT_Y0		50
#define PLOT_Y1		(SVG_H - 50)
#define PLOT_F0		20.0
#define PLOT_F1		20000.0
#define PLOT_STEPS	480	/* points per curve: 1/48 octave */

static double plot_x(double f)
{
	return PLOT_X0 + (PLOT_X1 - PLOT_X0) * log(f / PLOT_F0) / log(PLOT_F1 / PLOT_F0);
}

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default:
			/* control bytes are not allowed in XML 1.0 */
			if ((unsigned char)*s >= 0x20 || *s == '\t')
				fputc(*s, f);
		}
	}
}

enum curve_id { C_MEAS, C_TARGET, C_EQ, C_RESULT, C_COUNT };

static void plot_values(const struct plot *p, double level, double v[C_COUNT][PLOT_STEPS + 1])
{
	for (int i = 0; i <= PLOT_STEPS; i++) {
		double f = PLOT_F0 * pow(PLOT_F1 / PLOT_F0, (double)i / PLOT_STEPS);
		double m = p->measurement ? iem_curve_db(p->measurement, f) : 0.0;
		double eq = iem_params_response_db(p->eq, p->rate, 0, f) + p->eq->preamp;
		v[C_MEAS][i] = m;
		/* the target at the level the EQ reaches it */
		v[C_TARGET][i] = iem_curve_db(p->target, f) + level;
		v[C_EQ][i] = eq;
		v[C_RESULT][i] = m + eq;
	}
}

static int write_svg(FILE *f, const struct plot *p, const struct iem_fit_result *r)
{
	static const char *const color[C_COUNT] = { "#888888", "#000000", "#1f6fd1", "#d1361f" };
	static const char *const dash[C_COUNT] = { "", "6,4", "", "" };
	const char *label[C_COUNT] = { "measurement", "target", "EQ (with preamp)", "result" };
	static const double fticks[] = { 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000 };
	static double v[C_COUNT][PLOT_STEPS + 1];
	double lo = HUGE_VAL, hi = -HUGE_VAL, level = 0.0, step;
	int n = 0, first = p->graphic ? C_TARGET : C_MEAS;

	if (p->graphic) {
		label[C_TARGET] = "GraphicEQ";
		label[C_EQ] = "parametric EQ (level matched)";
	}
	/* the level: mean of (result - target) up to fit_max */
	for (int i = 0; i <= PLOT_STEPS; i++) {
		double fr = PLOT_F0 * pow(PLOT_F1 / PLOT_F0, (double)i / PLOT_STEPS);
		if (fr > p->fit_max)
			break;
		double m = p->measurement ? iem_curve_db(p->measurement, fr) : 0.0;
		level += m + iem_params_response_db(p->eq, p->rate, 0, fr) + p->eq->preamp -
			iem_curve_db(p->target, fr);
		n++;
	}
	level /= n;
	plot_values(p, level, v);
	if (p->graphic) {
		/* the GraphicEQ as it is, the EQ shifted onto it */
		for (int i = 0; i <= PLOT_STEPS; i++) {
			v[C_TARGET][i] -= level;
			v[C_EQ][i] -= level;
		}
	}
	for (int c = first; c < (p->graphic ? C_RESULT : C_COUNT); c++) {
		for (int i = 0; i <= PLOT_STEPS; i++) {
			lo = fmin(lo, v[c][i]);
			hi = fmax(hi, v[c][i]);
		}
	}
	step = hi - lo > 60.0 ? 10.0 : 5.0;
	lo = floor(lo / step) * step - step;
	hi = ceil(hi / step) * step + step;

#define Y(db) (PLOT_Y1 - (PLOT_Y1 - PLOT_Y0) * ((db) - lo) / (hi - lo))
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", SVG_W, SVG_H, SVG_W, SVG_H);
	fputs("<text x=\"70\" y=\"22\" font-size=\"15\">", f);
	xml_text(f, p->title);
	fputs("</text>\n", f);
	fprintf(f, "<text x=\"70\" y=\"40\" fill=\"#444\">residual %.2f dB rms (20 Hz - %g kHz), "
		"preamp %.2f dB</text>\n", r->rms_db, p->fit_max / 1000.0, p->eq->preamp);

	/* grid */
	fputs("<g stroke=\"#dddddd\" stroke-width=\"1\">\n", f);
	for (double d = lo; d <= hi + 1e-9; d += step)
		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n",
				PLOT_X0, Y(d), PLOT_X1, Y(d));
	for (size_t i = 0; i < sizeof(fticks) / sizeof(fticks[0]); i++)
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n",
				plot_x(fticks[i]), PLOT_Y0, plot_x(fticks[i]), PLOT_Y1);
	fputs("</g>\n<g fill=\"#444\">\n", f);
	for (double d = lo; d <= hi + 1e-9; d += step)
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%+.0f dB</text>\n",
				PLOT_X0 - 6, Y(d) + 4, d);
	for (size_t i = 0; i < sizeof(fticks) / sizeof(fticks[0]); i++)
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g%s</text>\n",
				plot_x(fticks[i]), PLOT_Y1 + 18,
				fticks[i] >= 1000 ? fticks[i] / 1000 : fticks[i],
				fticks[i] >= 1000 ? "k" : "");
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">frequency (Hz)</text>\n</g>\n",
			(PLOT_X0 + PLOT_X1) / 2, PLOT_Y1 + 38);
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n",
			PLOT_X0, PLOT_Y0, PLOT_X1 - PLOT_X0, PLOT_Y1 - PLOT_Y0);

	/* curves */
	for (int c = first; c < (p->graphic ? C_RESULT : C_COUNT); c++) {
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s%s%s points=\"",
				color[c], c == C_RESULT || c == C_EQ ? "2" : "1.5",
				dash[c][0] ? " stroke-dasharray=\"" : "", dash[c], dash[c][0] ? "\"" : "");
		for (int i = 0; i <= PLOT_STEPS; i++) {
			double f0 = PLOT_F0 * pow(PLOT_F1 / PLOT_F0, (double)i / PLOT_STEPS);
			fprintf(f, "%s%.1f,%.1f", i ? " " : "", plot_x(f0), Y(v[c][i]));
		}
		fputs("\"/>\n", f);
	}

	/* legend */
	int row = 0;
	for (int c = first; c < (p->graphic ? C_RESULT : C_COUNT); c++, row++) {
		int y = PLOT_Y0 + 18 + 18 * row;
		fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
			"stroke-width=\"2\"%s%s%s/>\n", PLOT_X1 - 200, y - 4, PLOT_X1 - 170, y - 4,
			color[c], dash[c][0] ? " stroke-dasharray=\"" : "", dash[c],
			dash[c][0] ? "\"" : "");
		fprintf(f, "<text x=\"%d\" y=\"%d\">%s</text>\n", PLOT_X1 - 162, y, label[c]);
	}
	fputs("</svg>\n", f);
#undef Y
	return ferror(f) ? -1 : 0;
}

/* ---- main ----------------------------------------------------------------- */

static double parse_number(const char *opt, const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !(v >= min && v <= max))
		usage_error("%s: '%s' is not a number from %g to %g", opt, s, min, max);
	return v;
}

static bool is_json(const char *path)
{
	size_t n = strlen(path);
	return n > 5 && strcmp(path + n - 5, ".json") == 0;
}

/* -o OUT.json: a device profile holding the fitted EQ, written atomically,
 * and read back through the profile loader before it counts as done. */
static int write_profile(const struct options *o, const struct iem_params *p)
{
	const char *src = o->graphic ? o->graphic : o->measurement;
	const char *base = strrchr(src, '/');
	struct iem_profile_error e;
	struct iem_profile *back = NULL;
	struct iem_params check;
	char name[256], msg[2048], *text;
	int res;

	base = base ? base + 1 : src;
	if (o->graphic)
		snprintf(name, sizeof(name), "Fitted from %.200s", base);
	else
		snprintf(name, sizeof(name), "%.160s fitted to %.60s", base, o->target);
	text = iem_profile_format_device(p, name, NULL, NULL);
	if (text == NULL) {
		say_error("%s: %s", o->out, strerror(errno));
		return -1;
	}
	res = iem_profile_parse(text, strlen(text), o->out, NULL, &back, &e);
	if (res < 0) {
		iem_profile_error_format(&e, msg, sizeof(msg));
		say_error("%s", msg);
		free(text);
		return -1;
	}
	iem_params_init(&check);
	iem_profile_apply(back, &check, &e);
	iem_profile_free(back);
	bool same = check.preamp == p->preamp && check.preamp_auto == p->preamp_auto;
	for (int i = 0; i < IEM_MAX_BANDS && same; i++) {
		const struct iem_band *x = &check.band[i], *y = &p->band[i];
		same = x->type == y->type && (x->type == IEM_FILTER_OFF ||
				(x->freq == y->freq && x->q == y->q && x->gain == y->gain &&
				 x->channels == y->channels));
	}
	if (!same) {
		say_error("internal error: the profile does not read back as fitted");
		free(text);
		return -1;
	}
	res = iem_file_write_atomic(o->out, text, strlen(text), 0644);
	free(text);
	if (res < 0) {
		say_error("%s: %s", o->out, strerror(-res));
		return -1;
	}
	return 0;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_TARGET = 256, OPT_GRAPHIC, OPT_BANDS, OPT_RATE, OPT_SVG, OPT_LIST };
	static const struct option long_options[] = {
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "graphic", required_argument, NULL, OPT_GRAPHIC },
		{ "bands", required_argument, NULL, OPT_BANDS },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "output", required_argument, NULL, 'o' },
		{ "svg", required_argument, NULL, OPT_SVG },
		{ "list-targets", no_argument, NULL, OPT_LIST },
		TOOL_HELP_OPTIONS,
		{ NULL, 0, NULL, 0 }
	};
	bool target_given = false;
	int c;

	memset(o, 0, sizeof(*o));
	o->target = DEFAULT_TARGET;
	iem_fit_config_init(&o->cfg);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:hV", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_TARGET:
			o->target = optarg;
			target_given = true;
			break;
		case OPT_GRAPHIC:
			o->graphic = optarg;
			break;
		case OPT_BANDS:
			o->cfg.bands = (uint32_t)parse_number("--bands", optarg, 1, IEM_MAX_BANDS);
			if (o->cfg.bands != parse_number("--bands", optarg, 1, IEM_MAX_BANDS))
				usage_error("--bands: '%s' is not a whole number", optarg);
			break;
		case OPT_RATE:
			o->cfg.rate = parse_number("--rate", optarg, IEM_MIN_RATE, IEM_MAX_RATE);
			break;
		case 'o':
			o->out = optarg;
			break;
		case OPT_SVG:
			o->svg = optarg;
			break;
		case OPT_LIST:
			for (uint32_t i = 0; iem_target_name(i) != NULL; i++)
				printf("%s\n", iem_target_name(i));
			exit(0);
		default:
			tool_other_option(c, argv, print_help);
		}
	}
	if (optind < argc)
		o->measurement = argv[optind++];
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (o->measurement == NULL && o->graphic == NULL)
		usage_error("no measurement given");
	if (o->measurement != NULL && o->graphic != NULL)
		usage_error("a measurement and --graphic: give one of them");
	if (o->graphic != NULL && target_given)
		usage_error("--target does not apply to --graphic (its curve is the EQ wanted)");
	if (o->out != NULL && o->svg != NULL && strcmp(o->out, o->svg) == 0)
		usage_error("-o and --svg name the same file");
}

int main(int argc, char **argv)
{
	struct iem_curve *measurement = NULL, *target = NULL;
	struct iem_params p, back;
	struct iem_parse_error perr;
	struct iem_fit_result r;
	struct outfile of;
	struct options o;
	char err[PATH_MAX + 512], *text = NULL;
	static char apo[IEM_APO_TEXT_MAX];
	size_t len = 0;
	double t0, t1;
	int res, status = 1;

	tool_init(NAME, NULL);
	parse_options(argc, argv, &o);
	iem_params_init(&p);

	if (o.graphic != NULL) {
		if (iem_read_text_file(o.graphic, GRAPHIC_MAX, &text, &len, err, sizeof(err)) < 0) {
			say_error("%s", err);
			goto done;
		}
		if ((res = iem_graphic_eq_parse(text, len, &target, &perr)) < 0) {
			iem_parse_error_format(&perr, o.graphic, err, sizeof(err));
			say_error("%s", err);
			goto done;
		}
	} else {
		if (iem_curve_load_csv(o.measurement, "raw", &measurement, err, sizeof(err)) < 0) {
			say_error("%s", err);
			goto done;
		}
		if (iem_target_load(o.target, &target, err, sizeof(err)) < 0) {
			say_error("%s", err);
			goto done;
		}
	}

	t0 = tool_now();
	res = iem_fit(measurement, target, &o.cfg, &p, &r);
	t1 = tool_now();
	if (res < 0) {
		say_error("fitting failed: %s", strerror(-res));
		goto done;
	}

	if ((res = iem_apo_write(&p, apo, sizeof(apo))) < 0) {
		say_error("writing the EQ: %s", strerror(-res));
		goto done;
	}
	/* what is written must read back as what was fitted */
	back = p;
	if (iem_apo_parse(apo, (size_t)res, &back, &perr) < 0 ||
	    memcmp(back.band, p.band, sizeof(p.band)) != 0 || back.preamp != p.preamp) {
		say_error("internal error: the ParametricEQ.txt does not read back as fitted");
		goto done;
	}

	if (o.out != NULL && is_json(o.out)) {
		if (write_profile(&o, &p) < 0)
			goto done;
	} else if (o.out != NULL) {
		if (file_open(&of, o.out) < 0)
			goto done;
		fputs(apo, of.f);
		if (file_commit(&of) < 0)
			goto done;
	} else {
		fputs(apo, stdout);
		if (fflush(stdout) != 0) {
			say_error("stdout: %s", strerror(errno));
			goto done;
		}
	}

	if (o.svg != NULL) {
		const char *src = o.graphic ? o.graphic : o.measurement;
		char title[1200];
		struct plot pl = {
			.title = title, .measurement = measurement, .target = target, .eq = &p,
			.rate = o.cfg.rate, .fit_max = o.cfg.fit_max, .graphic = o.graphic != NULL,
		};
		if (o.graphic)
			snprintf(title, sizeof(title), "%s: %u parametric bands", src, o.cfg.bands);
		else
			snprintf(title, sizeof(title), "%s to %s, %u bands", src, o.target, o.cfg.bands);
		if (file_open(&of, o.svg) < 0)
			goto done;
		if (write_svg(of.f, &pl, &r) < 0) {
			say_error("%s: %s", o.svg, strerror(errno ? errno : EIO));
			file_abort(&of);
			goto done;
		}
		if (file_commit(&of) < 0)
			goto done;
	}

	fprintf(stderr, "residual %.3f dB rms, 20 Hz - %g kHz (max %.2f dB); treble level %+.2f dB; "
			"EQ peak %+.2f dB, preamp %.2f dB; %u bands in %.1f ms\n",
			r.rms_db, o.cfg.fit_max / 1000.0, r.max_db, r.treble_db, r.eq_peak_db,
			p.preamp, o.cfg.bands, (t1 - t0) * 1e3);
	status = 0;
done:
	free(text);
	iem_curve_free(measurement);
	iem_curve_free(target);
	return status;
}
