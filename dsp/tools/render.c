/* SPDX-License-Identifier: MIT */
/*
 * iemstage-render: runs an audio file offline through the same DSP chain
 * the PipeWire module runs live, and writes a stereo WAV.
 * Also makes the demo piece and carries a few diagnostics the tests use.
 *
 * Output is written to OUT.tmp-XXXXXX next to OUT and renamed at the end,
 * so that an error or an interrupt never leaves a half-written OUT behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sndfile.h>

#include "config.h"
#include "iem-dsp.h"
#include "iem-profile.h"
#include "demo-piece.h"
#include "tool-common.h"

#define NAME			"iemstage-render"
#define BLOCK			1024u		/* frames per read/process/write */
#define EQ_FILE_MAX		(1024 * 1024)	/* bytes */
#define PROGRESS_MIN_SECONDS	10.0
#define PROGRESS_WIDTH		40
#define DITHER_SEED		0x9e3779b9u
/* Bytes of samples a WAV file can hold, with room for its header. */
#define WAV_DATA_MAX		(UINT32_MAX - 65536ull)

enum mode {
	MODE_RENDER,
	MODE_DEMO,
	MODE_LIST,
	MODE_INFO,
	MODE_COMPARE,
};

struct format_info {
	const char *name;
	int subtype;
	int bits;		/* 0: float, no dither */
	const char *description;
};

static const struct format_info formats[] = {
	{ "float", SF_FORMAT_FLOAT, 0, "32-bit float" },
	{ "pcm16", SF_FORMAT_PCM_16, 16, "16-bit PCM, TPDF dither" },
	{ "pcm24", SF_FORMAT_PCM_24, 24, "24-bit PCM, TPDF dither" },
};

struct options {
	enum mode mode;
	int n_modes;
	struct tool_params_args params;	/* --profile, --brir, --set */
	const char *eq_path;
	const struct format_info *format;
	bool quiet;
	const char *demo_path;
	uint32_t rate;
	bool rate_given;
	double seconds;
	bool seconds_given;
	const char *info_path;
	const char *in, *out;
};

struct reader {
	const char *path;
	int fd;
	SNDFILE *sf;
	SF_INFO info;
};

struct writer {
	const char *path;
	char *tmp_path;
	int fd;
	SNDFILE *sf;
	const struct format_info *format;
	uint32_t rng;
	float buf[BLOCK * 2];
};

struct progress {
	bool enabled;
	int shown;		/* percentage on screen, -1 when none */
};

static struct progress progress = { .shown = -1 };
static volatile sig_atomic_t interrupted;

/* ---- messages ----------------------------------------------------------- */

static void progress_clear(void)
{
	if (progress.shown >= 0)
		fputs("\r\033[K", stderr);
	progress.shown = -1;
}

static void progress_update(uint64_t done, uint64_t total)
{
	char bar[PROGRESS_WIDTH + 1];
	int pct, fill;

	if (!progress.enabled || total == 0)
		return;
	pct = (int)(done >= total ? 100 : done * 100 / total);
	if (pct == progress.shown)
		return;
	fill = pct * PROGRESS_WIDTH / 100;
	memset(bar, '#', fill);
	memset(bar + fill, '.', PROGRESS_WIDTH - fill);
	bar[PROGRESS_WIDTH] = '\0';
	fprintf(stderr, "\r%3d%% [%s]", pct, bar);
	fflush(stderr);
	progress.shown = pct;
}

static void print_help(void)
{
	printf("Usage: " NAME " IN OUT [--profile FILE|ID] [--eq FILE] [--brir FILE] [--set NAME=VALUE]...\n"
	       "                      [--format FMT] [--quiet]\n"
	       "       " NAME " --demo-piece OUT [--rate R] [--seconds S]\n"
	       "       " NAME " --list-params | --help | --version\n"
	       "\n"
	       "Runs an audio file through the iemstage DSP chain (preamp, correction EQ,\n"
	       "stage, output gain, safety limiter) at the file's own sample rate and writes the\n"
	       "result as a stereo WAV file. Reads whatever libsndfile reads (WAV, FLAC,\n"
	       "Ogg, ...); a mono input is heard on both sides.\n"
	       "\n"
	       "Options:\n"
	       "  --profile FILE|ID  start from a profile: a device profile (with its\n"
	       "                     listening preset) or a listening preset, by file\n"
	       "                     or by id from the profile search path; the\n"
	       "                     options below override it\n"
	       "  --eq FILE          load an Equalizer APO / AutoEq ParametricEQ.txt file\n"
	       "  --brir FILE        convolve with an impulse-response file as the stage:\n"
	       "                     2 channels (L->L, R->R), 4 channels true stereo\n"
	       "                     (LL, LR, RL, RR: speaker, then ear) or HeSuVi 14/7;\n"
	       "                     resampled to the input's rate, scaled so that\n"
	       "                     centred sound keeps its loudness\n"
	       "  --set NAME=VALUE   set one parameter (see --list-params); may be given\n"
	       "                     several times; applied in order after --eq, so they\n"
	       "                     override the file\n"
	       "  --format FMT       float (default), pcm16 or pcm24 (PCM with TPDF dither)\n"
	       "  --quiet            print nothing but errors\n"
	       "  --demo-piece OUT   write a short stereo test piece made by the program\n"
	       "  --rate R           sample rate of the demo piece (default %u)\n"
	       "  --seconds S        length of the demo piece (default %g)\n"
	       "  --list-params      list every parameter with its range and default\n"
	       "  -h, --help         show this help and exit\n"
	       "  -V, --version      show the version and exit\n"
	       "\n"
	       "Diagnostics (for tests and scripts):\n"
	       "  --info FILE        print frames=N rate=R channels=C peak_dbfs=P subtype=T\n"
	       "  --compare A B      print frames=N max_diff=D max_diff_dbfs=P, the largest\n"
	       "                     difference between two files' samples (-inf: equal)\n"
	       "\n"
	       "Exit status: 0 on success, 1 on an error, 2 on bad usage.\n",
	       DEMO_PIECE_RATE, DEMO_PIECE_SECONDS);
}

static double to_db(double x)
{
	return 20.0 * log10(x);
}

/* "-6.02", "-inf", or "+inf" (IEEE printing of infinities differs between
 * libcs, so make it explicit). */
static const char *format_db(char *buf, size_t size, double x, const char *fmt)
{
	double db = to_db(x);

	if (isinf(db) || isnan(db))
		snprintf(buf, size, "%s", db > 0.0 ? "+inf" : "-inf");
	else
		snprintf(buf, size, fmt, db);
	return buf;
}

static const char *format_duration(char *buf, size_t size, double s)
{
	if (s < 60.0) {
		snprintf(buf, size, "%.2f s", s);
	} else {
		unsigned long whole = (unsigned long)s;
		double frac = s - (double)(whole - whole % 60);
		if (whole >= 3600)
			snprintf(buf, size, "%lu:%02lu:%04.1f", whole / 3600,
					whole / 60 % 60, frac);
		else
			snprintf(buf, size, "%lu:%04.1f", whole / 60, frac);
	}
	return buf;
}

static void on_signal(int sig)
{
	interrupted = 1;
}

static void catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* ---- files -------------------------------------------------------------- */

/* Opening the descriptor ourselves gives plain "No such file or directory"
 * instead of libsndfile's wording, and keeps directories out. */
static int reader_open(struct reader *r, const char *path)
{
	struct stat st;

	memset(r, 0, sizeof(*r));
	r->path = path;
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		say_error("%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(r->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		say_error("%s: %s", path, strerror(EISDIR));
		close(r->fd);
		return -1;
	}
	r->sf = sf_open_fd(r->fd, SFM_READ, &r->info, SF_FALSE);
	if (r->sf == NULL) {
		say_error("%s: %s", path, sf_strerror(NULL));
		close(r->fd);
		return -1;
	}
	if (r->info.channels < 1 || r->info.samplerate <= 0) {
		say_error("%s: not a usable audio file (%d channels, %d Hz)",
				path, r->info.channels, r->info.samplerate);
		sf_close(r->sf);
		close(r->fd);
		return -1;
	}
	return 0;
}

static void reader_close(struct reader *r)
{
	if (r->sf)
		sf_close(r->sf);
	if (r->fd >= 0)
		close(r->fd);
	r->sf = NULL;
	r->fd = -1;
}

/* Reads up to n frames into buf; >= 0 frames read (0 at the end), -1 after
 * an error has been printed. */
static int64_t reader_read(struct reader *r, float *buf, uint32_t n)
{
	sf_count_t got = sf_readf_float(r->sf, buf, n);

	if (got < (sf_count_t)n && sf_error(r->sf) != SF_ERR_NO_ERROR) {
		say_error("%s: %s", r->path, sf_strerror(r->sf));
		return -1;
	}
	return got;
}

static bool frames_known(const SF_INFO *info)
{
	return info->frames >= 0 && info->frames < SF_COUNT_MAX;
}

/* Closes everything and removes the temporary file, whatever state the
 * writer is in. */
static void writer_abort(struct writer *w)
{
	if (w->sf)
		sf_close(w->sf);
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp_path)
		unlink(w->tmp_path);
	free(w->tmp_path);
	w->sf = NULL;
	w->fd = -1;
	w->tmp_path = NULL;
}

/* frames: the expected length, or -1 when unknown. */
static int writer_open(struct writer *w, const char *path, uint32_t rate,
		const struct format_info *format, int64_t frames)
{
	SF_INFO info;

	memset(w, 0, sizeof(*w));
	w->path = path;
	w->format = format;
	w->rng = DITHER_SEED;
	if ((w->fd = tool_create_temp(path, &w->tmp_path)) < 0)
		return -1;

	/* Plain WAV is what every player reads. Past its 4 GiB limit, or
	 * when the length is not known, RF64 instead, which libsndfile turns
	 * back into WAV at the end if it stayed small enough. */
	memset(&info, 0, sizeof(info));
	info.samplerate = (int)rate;
	info.channels = 2;
	info.format = SF_FORMAT_WAV | format->subtype;
	if (frames < 0 || (uint64_t)frames > WAV_DATA_MAX / (2 * 4))
		info.format = SF_FORMAT_RF64 | format->subtype;
	w->sf = sf_open_fd(w->fd, SFM_WRITE, &info, SF_FALSE);
	if (w->sf == NULL) {
		say_error("%s: %s", path, sf_strerror(NULL));
		writer_abort(w);
		return -1;
	}
	if ((info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_RF64)
		sf_command(w->sf, SFC_RF64_AUTO_DOWNGRADE, NULL, SF_TRUE);
	/* Dither can nudge a full-scale sample over; clip it, do not wrap. */
	if (format->bits > 0)
		sf_command(w->sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
	return 0;
}

static float dither(struct writer *w)
{
	uint32_t x = w->rng, a, b;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	a = x;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	b = x;
	w->rng = x;
	/* Difference of two uniforms: triangular over +-1 LSB. */
	return (float)(((double)a - (double)b) / 4294967296.0 * ldexp(1.0, 1 - w->format->bits));
}

static int writer_write(struct writer *w, const float *left, const float *right, uint32_t n)
{
	bool dithered = w->format->bits > 0;

	for (uint32_t i = 0; i < n; i++) {
		w->buf[2 * i] = left[i] + (dithered ? dither(w) : 0.0f);
		w->buf[2 * i + 1] = right[i] + (dithered ? dither(w) : 0.0f);
	}
	if (sf_writef_float(w->sf, w->buf, n) != (sf_count_t)n) {
		say_error("%s: %s", w->path, sf_strerror(w->sf));
		return -1;
	}
	return 0;
}

static int writer_commit(struct writer *w)
{
	int res = sf_close(w->sf);

	w->sf = NULL;
	if (res != 0) {
		say_error("%s: %s", w->path, sf_error_number(res));
		goto error;
	}
	/* Data on disk before the name points at it: a crash right after
	 * the rename must not leave an empty OUT. */
	if (fsync(w->fd) < 0) {
		say_error("%s: %s", w->path, strerror(errno));
		goto error;
	}
	res = close(w->fd);
	w->fd = -1;
	if (res < 0) {
		say_error("%s: %s", w->path, strerror(errno));
		goto error;
	}
	if (rename(w->tmp_path, w->path) < 0) {
		say_error("%s: %s", w->path, strerror(errno));
		goto error;
	}
	free(w->tmp_path);
	w->tmp_path = NULL;
	return 0;

error:
	writer_abort(w);
	return -1;
}

/* ---- parameters --------------------------------------------------------- */

static int load_eq(const char *path, struct iem_params *p)
{
	struct iem_parse_error perr;
	char *text = NULL, msg[PATH_MAX + sizeof(perr.message) + 32];
	size_t len = 0;
	int res;

	res = iem_read_text_file(path, EQ_FILE_MAX, &text, &len, msg, sizeof(msg));
	if (res == -EFBIG) {
		say_error("%s: larger than %d MiB; not an EQ file", path, EQ_FILE_MAX / (1024 * 1024));
		return -1;
	}
	if (res < 0) {
		say_error("%s", msg);
		return -1;
	}
	res = iem_apo_parse(text, len, p, &perr);
	free(text);
	if (res < 0) {
		/* the place in the file, as compilers say it: no program name */
		iem_parse_error_format(&perr, path, msg, sizeof(msg));
		progress_clear();
		fprintf(stderr, "%s\n", msg);
		return -1;
	}
	return 0;
}

/* --profile FILE|ID (the profile library's rules and messages). */
static int load_profile(const struct options *o, struct iem_params *p)
{
	struct iem_profile_summary sum;

	if (tool_params_load_profile(&o->params, p, &sum) < 0)
		return -1;
	if (!o->quiet) {
		printf("profile:  %s (%s%s%s)\n", sum.id, iem_profile_kind_name(sum.kind),
				sum.listening[0] ? ", listening preset " : "", sum.listening);
		if (sum.kind == IEM_PROFILE_DEFAULTS && !sum.process)
			printf("          a defaults profile that leaves audio untouched\n");
	}
	return 0;
}

static const char *channels_name(enum iem_channels c)
{
	switch (c) {
	case IEM_CHANNELS_LEFT:
		return "left";
	case IEM_CHANNELS_RIGHT:
		return "right";
	case IEM_CHANNELS_BOTH:
		return "both";
	}
	return "?";
}

static bool type_has_gain(enum iem_filter_type t)
{
	return t == IEM_FILTER_PEAKING || t == IEM_FILTER_LOWSHELF || t == IEM_FILTER_HIGHSHELF;
}

static void print_settings(const struct iem_params *p, const struct iem_headroom *h)
{
	char buf[32];
	int n = 0;

	for (int i = 0; i < IEM_MAX_BANDS; i++)
		if (p->band[i].type != IEM_FILTER_OFF)
			n++;
	if (n == 0)
		printf("EQ:       none\n");
	else
		printf("EQ:       %d band%s\n", n, n == 1 ? "" : "s");
	for (int i = 0; i < IEM_MAX_BANDS; i++) {
		const struct iem_band *b = &p->band[i];
		const char *type = iem_filter_type_name(b->type);
		if (b->type == IEM_FILTER_OFF)
			continue;
		if (type_has_gain(b->type))
			snprintf(buf, sizeof(buf), "%+6.1f dB", b->gain);
		else
			snprintf(buf, sizeof(buf), "%9s", "");
		printf("  %2d %-10s %8.1f Hz  Q %-5.2f %s  %s\n", i + 1, type ? type : "?",
				b->freq, b->q, buf, channels_name(b->channels));
	}
	printf("preamp:   %+.1f dB (%s)\n", h->preamp, p->preamp_auto ? "automatic" : "fixed");
	if (p->output_gain != 0.0)
		printf("output gain: %+.1f dB\n", p->output_gain);
	printf("headroom: EQ peak %+.1f dB at %.0f Hz, total peak %+.1f dB%s\n",
			h->eq_peak, h->eq_peak_freq, h->total_peak,
			h->total_peak > 0.0 ? " (loud passages may reach the limiter)" : "");
	if (p->bypass)
		printf("bypass:   on (the output is the input)\n");
}

/* ---- modes -------------------------------------------------------------- */

static int render(const struct options *o)
{
	struct iem_params params;
	struct iem_headroom headroom;
	struct iem_chain_stats stats;
	struct iem_stage_info stage;
	struct iem_chain *chain = NULL;
	struct reader in;
	struct writer *out = NULL;
	static float buf[BLOCK * 2], left[BLOCK], right[BLOCK];
	float *const planar[2] = { left, right };
	double in_peak = 0.0, out_peak = 0.0, dsp_time = 0.0, seconds;
	uint64_t done = 0;
	uint32_t rate;
	int channels, res = -1;
	char b1[32], b2[32];

	iem_params_init(&params);
	if (o->params.profile && load_profile(o, &params) < 0)
		return -1;
	if (o->eq_path && load_eq(o->eq_path, &params) < 0)
		return -1;
	/* --brir and each --set, in command-line order, after the EQ file */
	if (tool_params_apply(&o->params, &params, "--list-params") < 0)
		return -1;

	if (reader_open(&in, o->in) < 0)
		return -1;
	channels = in.info.channels;
	if (channels > 2) {
		say_error("%s: %d channels; only mono and stereo files are supported",
				o->in, channels);
		goto done;
	}
	if ((unsigned)in.info.samplerate < IEM_MIN_RATE ||
	    (unsigned)in.info.samplerate > IEM_MAX_RATE) {
		say_error("%s: sample rate %d Hz is outside %u to %u Hz",
				o->in, in.info.samplerate, IEM_MIN_RATE, IEM_MAX_RATE);
		goto done;
	}
	rate = (uint32_t)in.info.samplerate;

	chain = iem_chain_new(rate);
	if (chain == NULL) {
		say_error("cannot create the DSP chain at %u Hz: %s", rate, strerror(errno));
		goto done;
	}
	res = iem_chain_apply(chain, &params, &headroom);
	if (res < 0) {
		say_error("the DSP chain refused the settings: %s", strerror(-res));
		res = -1;
		goto done;
	}
	res = -1;
	if (params.stage_mode != IEM_STAGE_OFF) {
		char err[512];
		if (iem_chain_load_stage(chain, &params, &stage, err, sizeof(err)) < 0) {
			say_error("%s", err);
			goto done;
		}
		if (!o->quiet && params.stage_mode == IEM_STAGE_ROOM)
			printf("stage:    room, +-%g deg at %g m, %g x %g x %g m, RT60 %g s (%u taps = %s), gain %s\n"
			       "hrtf:     %s\n",
					params.stage_angle, params.stage_distance, params.room_width,
					params.room_depth, params.room_height, params.room_rt60, stage.length,
					format_duration(b1, sizeof(b1), (double)stage.length / rate),
					format_db(b2, sizeof(b2), pow(10.0, stage.gain_db / 20.0), "%+.1f dB"),
					stage.hrtf ? stage.hrtf : "");
		else if (!o->quiet && params.stage_mode == IEM_STAGE_CROSSFEED)
			printf("stage:    crossfeed (bs2b, preset %s, %u taps)\n",
					params.crossfeed_preset == IEM_CROSSFEED_CMOY ? "cmoy" :
					params.crossfeed_preset == IEM_CROSSFEED_JMEIER ? "jmeier" :
					params.crossfeed_preset == IEM_CROSSFEED_CUSTOM ? "custom" : "default",
					stage.length);
		else if (!o->quiet && params.stage_mode == IEM_STAGE_BRIR)
			printf("stage:    %s (%s, %u channels, %u Hz%s, %u taps = %s), gain %s\n",
					params.stage_brir, stage.layout, stage.file_channels,
					stage.file_rate, stage.file_rate != rate ? " resampled" : "",
					stage.length,
					format_duration(b1, sizeof(b1), (double)stage.length / rate),
					format_db(b2, sizeof(b2), pow(10.0, stage.gain_db / 20.0), "%+.1f dB"));
	}
	/* Offline, the file should start with the settings in place rather
	 * than ramp in from the defaults as a live stream does. */
	iem_chain_reset(chain);

	out = malloc(sizeof(*out));
	if (out == NULL) {
		say_error("%s", strerror(errno));
		goto done;
	}
	if (writer_open(out, o->out, rate, o->format,
				frames_known(&in.info) ? (int64_t)in.info.frames : -1) < 0) {
		free(out);
		out = NULL;
		goto done;
	}

	if (!o->quiet) {
		if (frames_known(&in.info))
			printf("input:    %s (%u Hz, %s, %s, %" PRId64 " frames)\n", o->in, rate,
					channels == 1 ? "mono" : "stereo",
					format_duration(b1, sizeof(b1), (double)in.info.frames / rate),
					(int64_t)in.info.frames);
		else
			printf("input:    %s (%u Hz, %s, length unknown)\n", o->in, rate,
					channels == 1 ? "mono" : "stereo");
		print_settings(&params, &headroom);
		fflush(stdout);
	}

	progress.enabled = !o->quiet && isatty(STDERR_FILENO) && frames_known(&in.info) &&
		(double)in.info.frames > PROGRESS_MIN_SECONDS * rate;

	for (;;) {
		int64_t n = reader_read(&in, buf, BLOCK);
		double t0;

		if (n < 0)
			goto done;
		if (n == 0)
			break;
		if (interrupted) {
			say_error("interrupted");
			goto done;
		}
		for (int64_t i = 0; i < n * channels; i++)
			in_peak = fmax(in_peak, fabsf(buf[i]));
		for (int64_t i = 0; i < n; i++) {
			left[i] = buf[i * channels];
			right[i] = buf[i * channels + channels - 1];
		}

		t0 = tool_now();
		iem_chain_process(chain, (const float *const *)planar, planar, (uint32_t)n);
		dsp_time += tool_now() - t0;

		for (int64_t i = 0; i < n; i++)
			out_peak = fmax(out_peak, fmax(fabsf(left[i]), fabsf(right[i])));
		if (writer_write(out, left, right, (uint32_t)n) < 0)
			goto done;
		done += (uint64_t)n;
		if (frames_known(&in.info))
			progress_update(done, (uint64_t)in.info.frames);
	}
	progress_clear();
	reader_close(&in);

	if (writer_commit(out) < 0) {
		free(out);
		out = NULL;
		goto done;
	}
	free(out);
	out = NULL;
	res = 0;

	if (!o->quiet) {
		iem_chain_get_stats(chain, &stats);
		seconds = (double)done / rate;
		printf("output:   %s (WAV, %s, %u Hz, stereo, %s)\n", o->out,
				o->format->description, rate,
				format_duration(b1, sizeof(b1), seconds));
		printf("peaks:    input %s dBFS, output %s dBFS\n",
				format_db(b1, sizeof(b1), in_peak, "%.1f"),
				format_db(b2, sizeof(b2), out_peak, "%.1f"));
		printf("limiter:  %" PRIu64 " event%s, %" PRIu64 " samples limited; "
				"%" PRIu64 " invalid input samples\n",
				stats.limiter_events, stats.limiter_events == 1 ? "" : "s",
				stats.limiter_samples, stats.invalid_samples);
		if (stats.state_resets > 0)
			printf("warning:  filter state was reset %" PRIu64 " times\n",
					stats.state_resets);
		if (dsp_time > 0.0 && done > 0)
			printf("speed:    %.0fx real time (DSP only, %.3f s)\n",
					seconds / dsp_time, dsp_time);
	}

done:
	progress_clear();
	if (out) {
		writer_abort(out);
		free(out);
	}
	reader_close(&in);
	iem_chain_free(chain);
	return res;
}

static int demo(const struct options *o)
{
	static float left[BLOCK], right[BLOCK];
	struct demo_piece *d;
	struct writer *out;
	double peak = 0.0;
	uint32_t n;
	char b1[32], b2[32];
	int res = -1;

	d = demo_piece_new(o->rate, o->seconds);
	if (d == NULL) {
		say_error("cannot make the demo piece: %s", strerror(errno));
		return -1;
	}
	out = malloc(sizeof(*out));
	if (out == NULL) {
		say_error("%s", strerror(errno));
		goto done;
	}
	if (writer_open(out, o->demo_path, o->rate, o->format,
				(int64_t)demo_piece_frames(d)) < 0)
		goto done_free;

	while ((n = demo_piece_render(d, left, right, BLOCK)) > 0) {
		if (interrupted) {
			say_error("interrupted");
			writer_abort(out);
			goto done_free;
		}
		for (uint32_t i = 0; i < n; i++)
			peak = fmax(peak, fmax(fabsf(left[i]), fabsf(right[i])));
		if (writer_write(out, left, right, n) < 0) {
			writer_abort(out);
			goto done_free;
		}
	}
	if (writer_commit(out) < 0)
		goto done_free;
	res = 0;

	if (!o->quiet)
		printf("demo piece: %s (WAV, %s, %u Hz, stereo, %s, peak %s dBFS)\n",
				o->demo_path, o->format->description, o->rate,
				format_duration(b1, sizeof(b1),
					(double)demo_piece_frames(d) / o->rate),
				format_db(b2, sizeof(b2), peak, "%.1f"));

done_free:
	free(out);
done:
	demo_piece_free(d);
	return res;
}

/* eq.<digits>.<rest>: the band number, or 0 for anything else. */
static unsigned long band_of(const char *name, const char **rest)
{
	char *end;
	unsigned long n;

	if (strncmp(name, "eq.", 3) != 0 || name[3] < '0' || name[3] > '9')
		return 0;
	n = strtoul(name + 3, &end, 10);
	if (*end != '.')
		return 0;
	*rest = end + 1;
	return n;
}

/* One row of --list-params; false for rows folded into eq.N.*. */
static bool param_row(uint32_t index, char *name, size_t name_size,
		char *range, size_t range_size, struct iem_param_info *info)
{
	const char *rest;
	unsigned long band;
	size_t len = 0;

	if (iem_param_info(index, info) < 0)
		return false;
	band = band_of(info->name, &rest);
	if (band > 1)
		return false;
	if (band == 1)
		snprintf(name, name_size, "eq.N.%s", rest);
	else
		snprintf(name, name_size, "%s", info->name);

	range[0] = '\0';
	if (info->type == IEM_PARAM_FLOAT) {
		snprintf(range, range_size, "%g..%g%s%s", info->min, info->max,
				info->unit && info->unit[0] ? " " : "",
				info->unit ? info->unit : "");
	} else if (info->type == IEM_PARAM_STRING) {
		snprintf(range, range_size, "file");
	} else if (info->choices) {
		for (size_t i = 0; info->choices[i] && len + 1 < range_size; i++) {
			int w = snprintf(range + len, range_size - len, "%s%s",
					i ? "|" : "", info->choices[i]);
			if (w < 0)
				break;
			len += (size_t)w;
		}
	}
	return true;
}

static int list_params(void)
{
	static const char *const type_names[] = {
		[IEM_PARAM_BOOL] = "bool",
		[IEM_PARAM_FLOAT] = "float",
		[IEM_PARAM_ENUM] = "enum",
		[IEM_PARAM_STRING] = "string",
	};
	/* A longer list of choices overflows its column rather than push
	 * every description far to the right. */
	const int range_max = 20;
	struct iem_param_info info;
	char name[48], range[256];
	uint32_t count = iem_param_count();
	int name_w = 4, range_w = 5, def_w = 7;

	/* Two passes: the first sizes the columns. */
	for (uint32_t i = 0; i < count; i++) {
		if (!param_row(i, name, sizeof(name), range, sizeof(range), &info))
			continue;
		if ((int)strlen(name) > name_w)
			name_w = (int)strlen(name);
		if ((int)strlen(range) > range_w && (int)strlen(range) <= range_max)
			range_w = (int)strlen(range);
		if (info.def_string && (int)strlen(info.def_string) > def_w)
			def_w = (int)strlen(info.def_string);
	}
	printf("%-*s  %-5s  %-*s  %-*s  %s\n", name_w, "NAME", "TYPE", def_w, "DEFAULT",
			range_w, "RANGE", "DESCRIPTION");
	for (uint32_t i = 0; i < count; i++) {
		const char *type;
		if (!param_row(i, name, sizeof(name), range, sizeof(range), &info))
			continue;
		type = (size_t)info.type < sizeof(type_names) / sizeof(type_names[0]) &&
			type_names[info.type] ? type_names[info.type] : "?";
		printf("%-*s  %-5s  %-*s  %-*s  %s\n", name_w, name, type,
				def_w, info.def_string && info.def_string[0] ? info.def_string : "\"\"",
				range_w, range, info.description ? info.description : "");
	}
	printf("eq.N.* are the settings of EQ band N, N = 1 to %d.\n", IEM_MAX_BANDS);
	return 0;
}

static const char *subtype_name(int format)
{
	switch (format & SF_FORMAT_SUBMASK) {
	case SF_FORMAT_FLOAT:
		return "float";
	case SF_FORMAT_DOUBLE:
		return "double";
	case SF_FORMAT_PCM_S8:
	case SF_FORMAT_PCM_U8:
		return "pcm8";
	case SF_FORMAT_PCM_16:
		return "pcm16";
	case SF_FORMAT_PCM_24:
		return "pcm24";
	case SF_FORMAT_PCM_32:
		return "pcm32";
	}
	return "other";
}

static int show_info(const char *path)
{
	static float buf[BLOCK * 2];
	struct reader r;
	double peak = 0.0;
	uint64_t frames = 0;
	uint32_t step;
	int64_t n;
	char b[32];

	if (reader_open(&r, path) < 0)
		return -1;
	step = BLOCK * 2 / (uint32_t)r.info.channels;
	if (step == 0) {
		say_error("%s: %d channels is too many", path, r.info.channels);
		reader_close(&r);
		return -1;
	}
	while ((n = reader_read(&r, buf, step)) > 0) {
		for (int64_t i = 0; i < n * r.info.channels; i++)
			peak = fmax(peak, fabsf(buf[i]));
		frames += (uint64_t)n;
	}
	reader_close(&r);
	if (n < 0)
		return -1;
	printf("frames=%" PRIu64 " rate=%d channels=%d peak_dbfs=%s subtype=%s\n", frames,
			r.info.samplerate, r.info.channels, format_db(b, sizeof(b), peak, "%.4f"),
			subtype_name(r.info.format));
	return 0;
}

static int show_compare(const char *path_a, const char *path_b)
{
	static float a[BLOCK * 2], b[BLOCK * 2];
	struct reader ra, rb;
	double diff = 0.0;
	uint64_t frames = 0;
	int64_t na, nb;
	uint32_t step;
	int res = -1;
	char db[32];

	if (reader_open(&ra, path_a) < 0)
		return -1;
	if (reader_open(&rb, path_b) < 0) {
		reader_close(&ra);
		return -1;
	}
	if (ra.info.channels != rb.info.channels) {
		say_error("%s has %d channels, %s has %d", path_a, ra.info.channels,
				path_b, rb.info.channels);
		goto done;
	}
	if (ra.info.samplerate != rb.info.samplerate) {
		say_error("%s is at %d Hz, %s at %d Hz", path_a, ra.info.samplerate,
				path_b, rb.info.samplerate);
		goto done;
	}
	step = BLOCK * 2 / (uint32_t)ra.info.channels;
	if (step == 0) {
		say_error("%s: %d channels is too many to compare", path_a, ra.info.channels);
		goto done;
	}
	for (;;) {
		na = reader_read(&ra, a, step);
		nb = reader_read(&rb, b, step);
		if (na < 0 || nb < 0)
			goto done;
		const int64_t m = na < nb ? na : nb;
		for (int64_t i = 0; i < m * ra.info.channels; i++)
			diff = fmax(diff, fabs((double)a[i] - (double)b[i]));
		frames += (uint64_t)m;
		if (na != nb) {
			say_error("%s and %s differ in length", path_a, path_b);
			goto done;
		}
		if (na == 0)
			break;
	}
	printf("frames=%" PRIu64 " max_diff=%.9g max_diff_dbfs=%s\n", frames, diff,
			format_db(db, sizeof(db), diff, "%.2f"));
	res = 0;
done:
	reader_close(&ra);
	reader_close(&rb);
	return res;
}

/* ---- command line ------------------------------------------------------- */

static void set_mode(struct options *o, enum mode mode)
{
	o->mode = mode;
	o->n_modes++;
}

static void parse_args(struct options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		TOOL_PARAMS_OPTIONS,
		{ "eq", required_argument, NULL, 'e' },
		{ "format", required_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "demo-piece", required_argument, NULL, 'D' },
		{ "rate", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "list-params", no_argument, NULL, 'L' },
		{ "info", required_argument, NULL, 'I' },
		{ "compare", no_argument, NULL, 'C' },
		TOOL_HELP_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	int c, npos;
	char *end;

	memset(o, 0, sizeof(*o));
	o->format = &formats[0];
	o->rate = DEMO_PIECE_RATE;
	o->seconds = DEMO_PIECE_SECONDS;
	tool_params_args_init(&o->params, argc);

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hqV", longopts, NULL)) != -1) {
		switch (c) {
		case 'e':
			if (o->eq_path)
				usage_error("--eq given twice");
			o->eq_path = optarg;
			break;
		case 'f':
			o->format = NULL;
			for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
				if (strcmp(optarg, formats[i].name) == 0)
					o->format = &formats[i];
			if (o->format == NULL)
				usage_error("--format wants float, pcm16 or pcm24, not '%s'", optarg);
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'D':
			set_mode(o, MODE_DEMO);
			o->demo_path = optarg;
			break;
		case 'r':
			o->rate = tool_parse_rate(optarg);
			o->rate_given = true;
			break;
		case 'S':
			errno = 0;
			o->seconds = strtod(optarg, &end);
			if (errno || end == optarg || *end || !isfinite(o->seconds) ||
			    o->seconds < DEMO_PIECE_MIN_SECONDS || o->seconds > DEMO_PIECE_MAX_SECONDS)
				usage_error("--seconds wants a length from %g to %g, not '%s'",
						DEMO_PIECE_MIN_SECONDS, DEMO_PIECE_MAX_SECONDS, optarg);
			o->seconds_given = true;
			break;
		case 'L':
			set_mode(o, MODE_LIST);
			break;
		case 'I':
			set_mode(o, MODE_INFO);
			o->info_path = optarg;
			break;
		case 'C':
			set_mode(o, MODE_COMPARE);
			break;
		default:
			if (!tool_params_option(&o->params, c, optarg))
				tool_other_option(c, argv, print_help);
		}
	}

	npos = argc - optind;
	if (o->n_modes > 1)
		usage_error("--demo-piece, --list-params, --info and --compare go alone");
	if (o->mode != MODE_DEMO && (o->rate_given || o->seconds_given))
		usage_error("--rate and --seconds go with --demo-piece");
	if (o->mode != MODE_RENDER && (o->params.profile || o->eq_path || o->params.brir ||
				       o->params.n_sets > 0))
		usage_error("--profile, --eq, --brir and --set go with rendering a file");

	switch (o->mode) {
	case MODE_RENDER:
		if (npos != 2)
			usage_error("%s", npos < 2 ? "needs an input and an output file" :
					"too many arguments");
		o->in = argv[optind];
		o->out = argv[optind + 1];
		break;
	case MODE_COMPARE:
		if (npos != 2)
			usage_error("--compare needs two files");
		o->in = argv[optind];
		o->out = argv[optind + 1];
		break;
	default:
		if (npos != 0)
			usage_error("unexpected argument '%s'", argv[optind]);
		break;
	}
}

int main(int argc, char **argv)
{
	struct options o;
	int res = 0;

	tool_init(NAME, progress_clear);
	parse_args(&o, argc, argv);
	catch_signals();

	switch (o.mode) {
	case MODE_RENDER:
		res = render(&o);
		break;
	case MODE_DEMO:
		res = demo(&o);
		break;
	case MODE_LIST:
		res = list_params();
		break;
	case MODE_INFO:
		res = show_info(o.info_path);
		break;
	case MODE_COMPARE:
		res = show_compare(o.in, o.out);
		break;
	}
	tool_params_args_clear(&o.params);
	return tool_exit_status(res);
}
