/* SPDX-License-Identifier: MIT */
/*
 * The flat parameter name space: one table, one text setter, shared by
 * every front end.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iem-dsp.h"

enum field {
	F_BYPASS,
	F_PREAMP,
	F_OUTPUT_GAIN,
	F_BAND_TYPE,
	F_BAND_FREQ,
	F_BAND_Q,
	F_BAND_GAIN,
	F_BAND_CHANNEL,
	F_STAGE_MODE,
	F_STAGE_BRIR,
	F_STAGE_HRTF,
	F_STAGE_ANGLE,
	F_STAGE_DISTANCE,
	F_STAGE_ELEVATION,
	F_ROOM_WIDTH,
	F_ROOM_DEPTH,
	F_ROOM_HEIGHT,
	F_ROOM_RT60,
	F_ROOM_EARLY,
	F_ROOM_LATE,
	F_HEAD_RADIUS,
	F_CROSSFEED_PRESET,
	F_CROSSFEED_FCUT,
	F_CROSSFEED_FEED,
	F_CROSSFEED_TYPE,
	F_CROSSFEED_DELAY,
};

static const char *const bool_choices[] = { "false", "true", NULL };
static const char *const type_choices[] = {
	"off", "peaking", "lowshelf", "highshelf", "lowpass", "highpass",
	"bandpass", "notch", "allpass", NULL
};
static const char *const channel_choices[] = { "both", "left", "right", NULL };
/* in the order of enum iem_stage_mode, enum iem_crossfeed_preset and
 * enum iem_crossfeed_type */
static const char *const stage_choices[] = { "off", "brir", "room", "crossfeed", NULL };
static const char *const crossfeed_choices[] = { "default", "cmoy", "jmeier", "custom", NULL };
static const char *const crossfeed_types[] = { "bs2b", "linkwitz", "meier", NULL };

struct param_def {
	const char *name;	/* for band fields: the part after "eq.N." */
	enum field field;
	enum iem_param_type type;
	double min, max, def;
	const char *unit;
	const char *const *choices;
	const char *def_string;
	const char *description;
};

#define BAND_DEFAULT_FREQ 1000.0
#define BAND_DEFAULT_Q M_SQRT1_2

static const struct param_def global_defs[] = {
	{ "bypass", F_BYPASS, IEM_PARAM_BOOL, 0, 1, 0, "", bool_choices, "false",
	  "Crossfade to the unprocessed input" },
	{ "eq.preamp", F_PREAMP, IEM_PARAM_FLOAT, IEM_PREAMP_MIN, IEM_PREAMP_MAX, 0, "dB", NULL, "auto",
	  "Gain before the EQ, or auto: just enough attenuation that the chain never gains above 0 dB" },
	{ "output.gain", F_OUTPUT_GAIN, IEM_PARAM_FLOAT, IEM_OUTPUT_GAIN_MIN, IEM_OUTPUT_GAIN_MAX, 0, "dB", NULL, "0",
	  "Gain after the chain, before the safety limiter" },
	{ "stage.mode", F_STAGE_MODE, IEM_PARAM_ENUM, 0, 0, 0, "", stage_choices, "off",
	  "The stage: off; brir (convolve with the impulse-response file stage.brir); room (two virtual speakers in a virtual room, stage.* and room.*); crossfeed (bs2b-style, crossfeed.*)" },
	{ "stage.brir", F_STAGE_BRIR, IEM_PARAM_STRING, 0, 0, 0, "", NULL, "",
	  "Impulse-response file for stage.mode = brir: WAV (or any libsndfile format) with 2 (L, R), 4 (LL, LR, RL, RR) or HeSuVi 14/7 channels" },
	{ "stage.hrtf", F_STAGE_HRTF, IEM_PARAM_STRING, 0, 0, 0, "", NULL, "auto",
	  "HRTF of stage.mode = room: auto (the system's MIT KEMAR SOFA file when readable, else the model), model (Brown & Duda spherical head, hrtf.head_radius) or a SOFA file" },
	{ "stage.angle", F_STAGE_ANGLE, IEM_PARAM_FLOAT, IEM_STAGE_ANGLE_MIN, IEM_STAGE_ANGLE_MAX,
	  IEM_STAGE_ANGLE_DEFAULT, "deg", NULL, "30",
	  "Room: each speaker's angle off straight ahead (30 = the stereo triangle)" },
	{ "stage.distance", F_STAGE_DISTANCE, IEM_PARAM_FLOAT, IEM_STAGE_DISTANCE_MIN, IEM_STAGE_DISTANCE_MAX,
	  IEM_STAGE_DISTANCE_DEFAULT, "m", NULL, "2",
	  "Room: distance from the centre of the head to each speaker" },
	{ "stage.elevation", F_STAGE_ELEVATION, IEM_PARAM_FLOAT, IEM_STAGE_ELEVATION_MIN, IEM_STAGE_ELEVATION_MAX,
	  0, "deg", NULL, "0",
	  "Room: the speakers' height as an angle above the ears" },
	{ "room.width", F_ROOM_WIDTH, IEM_PARAM_FLOAT, IEM_ROOM_SIZE_MIN, IEM_ROOM_SIZE_MAX,
	  IEM_ROOM_WIDTH_DEFAULT, "m", NULL, "5",
	  "Room: width (side wall to side wall); the listener sits on its centre line" },
	{ "room.depth", F_ROOM_DEPTH, IEM_PARAM_FLOAT, IEM_ROOM_SIZE_MIN, IEM_ROOM_SIZE_MAX,
	  IEM_ROOM_DEPTH_DEFAULT, "m", NULL, "6",
	  "Room: depth (front wall, behind the speakers, to back wall)" },
	{ "room.height", F_ROOM_HEIGHT, IEM_PARAM_FLOAT, IEM_ROOM_SIZE_MIN, IEM_ROOM_SIZE_MAX,
	  IEM_ROOM_HEIGHT_DEFAULT, "m", NULL, "2.7",
	  "Room: floor to ceiling; the ears are 1.2 m above the floor" },
	{ "room.rt60", F_ROOM_RT60, IEM_PARAM_FLOAT, 0, IEM_ROOM_RT60_MAX,
	  IEM_ROOM_RT60_DEFAULT, "s", NULL, "0.3",
	  "Room: reverberation time; the walls' absorption follows (Eyring). 0 = no room: anechoic speakers" },
	{ "room.early", F_ROOM_EARLY, IEM_PARAM_FLOAT, IEM_ROOM_LEVEL_OFF, IEM_ROOM_LEVEL_MAX,
	  0, "dB", NULL, "0",
	  "Room: level of the early reflections relative to the room's own; -60 = off" },
	{ "room.late", F_ROOM_LATE, IEM_PARAM_FLOAT, IEM_ROOM_LEVEL_OFF, IEM_ROOM_LEVEL_MAX,
	  0, "dB", NULL, "0",
	  "Room: level of the late reverberation relative to the room's own; -60 = off" },
	{ "hrtf.head_radius", F_HEAD_RADIUS, IEM_PARAM_FLOAT, IEM_HRTF_HEAD_RADIUS_MIN, IEM_HRTF_HEAD_RADIUS_MAX,
	  IEM_HRTF_HEAD_RADIUS_DEFAULT, "m", NULL, "0.0875",
	  "Head radius of the model HRTF (stage.hrtf = model, or auto without a SOFA file); 0.0965 matches KEMAR's ITD" },
	{ "crossfeed.preset", F_CROSSFEED_PRESET, IEM_PARAM_ENUM, 0, 0, 0, "", crossfeed_choices, "default",
	  "Crossfeed levels as bs2b names them: default (700 Hz, 4.5 dB), cmoy (700 Hz, 6 dB), jmeier (650 Hz, 9.5 dB), or custom (crossfeed.fcut and crossfeed.feed)" },
	{ "crossfeed.fcut", F_CROSSFEED_FCUT, IEM_PARAM_FLOAT, IEM_CROSSFEED_FCUT_MIN, IEM_CROSSFEED_FCUT_MAX,
	  700, "Hz", NULL, "700",
	  "Crossfeed (preset custom): cut-off of the low-pass feeding each ear the other channel" },
	{ "crossfeed.feed", F_CROSSFEED_FEED, IEM_PARAM_FLOAT, IEM_CROSSFEED_FEED_MIN, IEM_CROSSFEED_FEED_MAX,
	  4.5, "dB", NULL, "4.5",
	  "Crossfeed (preset custom): how far the fed channel stays below the direct one at low frequency" },
	{ "crossfeed.type", F_CROSSFEED_TYPE, IEM_PARAM_ENUM, 0, 0, 0, "", crossfeed_types, "bs2b",
	  "Crossfeed circuit: bs2b (Bauer, as libbs2b: treble boost on the direct path), linkwitz (Linkwitz 1971 / Chu Moy RC: direct path flat) or meier (Meier's natural crossfeed: centred sound passes untouched); crossfeed.preset sets its levels" },
	{ "crossfeed.delay", F_CROSSFEED_DELAY, IEM_PARAM_FLOAT, 0, IEM_CROSSFEED_DELAY_MAX,
	  0, "us", NULL, "0",
	  "Crossfeed: extra delay of the crossfed path (an interaural time, e.g. 250 for speakers at 30 deg); above 0 both paths start 15 samples later" },
};
#define N_GLOBAL (sizeof(global_defs) / sizeof(global_defs[0]))

static const struct param_def band_defs[] = {
	{ "type", F_BAND_TYPE, IEM_PARAM_ENUM, 0, 0, 0, "", type_choices, "off",
	  "Filter type of the band (RBJ cookbook); off = band unused" },
	{ "freq", F_BAND_FREQ, IEM_PARAM_FLOAT, IEM_FREQ_MIN, IEM_FREQ_MAX, BAND_DEFAULT_FREQ, "Hz", NULL, "1000",
	  "Centre or corner frequency (limited to 0.49 x sample rate when designed)" },
	{ "q", F_BAND_Q, IEM_PARAM_FLOAT, IEM_Q_MIN, IEM_Q_MAX, BAND_DEFAULT_Q, "", NULL, "0.7071",
	  "Quality factor; for shelves the cookbook's shelf Q (0.7071 = slope 1)" },
	{ "gain", F_BAND_GAIN, IEM_PARAM_FLOAT, IEM_GAIN_MIN, IEM_GAIN_MAX, 0, "dB", NULL, "0",
	  "Gain of peaking and shelf bands" },
	{ "channel", F_BAND_CHANNEL, IEM_PARAM_ENUM, 0, 0, 0, "", channel_choices, "both",
	  "Channels the band applies to" },
};
#define N_BAND_FIELDS (sizeof(band_defs) / sizeof(band_defs[0]))

void iem_params_init(struct iem_params *p)
{
	memset(p, 0, sizeof(*p));
	p->bypass = false;
	p->preamp_auto = true;
	p->preamp = 0.0;
	p->output_gain = 0.0;
	for (int i = 0; i < IEM_MAX_BANDS; i++) {
		p->band[i] = (struct iem_band) {
			.type = IEM_FILTER_OFF,
			.freq = BAND_DEFAULT_FREQ,
			.q = BAND_DEFAULT_Q,
			.gain = 0.0,
			.channels = IEM_CHANNELS_BOTH,
		};
	}
	p->stage_mode = IEM_STAGE_OFF;
	snprintf(p->stage_hrtf, sizeof(p->stage_hrtf), "auto");
	p->stage_angle = IEM_STAGE_ANGLE_DEFAULT;
	p->stage_distance = IEM_STAGE_DISTANCE_DEFAULT;
	p->stage_elevation = 0.0;
	p->room_width = IEM_ROOM_WIDTH_DEFAULT;
	p->room_depth = IEM_ROOM_DEPTH_DEFAULT;
	p->room_height = IEM_ROOM_HEIGHT_DEFAULT;
	p->room_rt60 = IEM_ROOM_RT60_DEFAULT;
	p->room_early = 0.0;
	p->room_late = 0.0;
	p->head_radius = IEM_HRTF_HEAD_RADIUS_DEFAULT;
	p->crossfeed_preset = IEM_CROSSFEED_DEFAULT;
	p->crossfeed_fcut = 700.0;
	p->crossfeed_feed = 4.5;
	p->crossfeed_type = IEM_CROSSFEED_BS2B;
	p->crossfeed_delay = 0.0;
}

/* The double behind a FLOAT parameter other than eq.preamp; NULL for others. */
static double *float_field(struct iem_params *p, enum field field, int band)
{
	switch (field) {
	case F_OUTPUT_GAIN:
		return &p->output_gain;
	case F_BAND_FREQ:
		return &p->band[band].freq;
	case F_BAND_Q:
		return &p->band[band].q;
	case F_BAND_GAIN:
		return &p->band[band].gain;
	case F_STAGE_ANGLE:
		return &p->stage_angle;
	case F_STAGE_DISTANCE:
		return &p->stage_distance;
	case F_STAGE_ELEVATION:
		return &p->stage_elevation;
	case F_ROOM_WIDTH:
		return &p->room_width;
	case F_ROOM_DEPTH:
		return &p->room_depth;
	case F_ROOM_HEIGHT:
		return &p->room_height;
	case F_ROOM_RT60:
		return &p->room_rt60;
	case F_ROOM_EARLY:
		return &p->room_early;
	case F_ROOM_LATE:
		return &p->room_late;
	case F_HEAD_RADIUS:
		return &p->head_radius;
	case F_CROSSFEED_FCUT:
		return &p->crossfeed_fcut;
	case F_CROSSFEED_FEED:
		return &p->crossfeed_feed;
	case F_CROSSFEED_DELAY:
		return &p->crossfeed_delay;
	default:
		return NULL;
	}
}

static char *string_field(struct iem_params *p, enum field field, size_t *size)
{
	switch (field) {
	case F_STAGE_BRIR:
		*size = sizeof(p->stage_brir);
		return p->stage_brir;
	case F_STAGE_HRTF:
		*size = sizeof(p->stage_hrtf);
		return p->stage_hrtf;
	default:
		return NULL;
	}
}

static void __attribute__((format(printf, 3, 4)))
set_error(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;
	if (err == NULL || size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t) 0);
}

/* A finite decimal number, the whole string, read in the C locale. Hex
 * floats, "inf" and "nan" are refused. */
static int parse_number(const char *s, double *out)
{
	char *end;
	double v;

	if (*s == '\0' || strspn(s, "0123456789+-.eE") != strlen(s))
		return -EINVAL;
	pthread_once(&c_locale_once, make_c_locale);
	errno = 0;
	v = c_locale ? strtod_l(s, &end, c_locale) : strtod(s, &end);
	if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "1", "on", "yes" };
	static const char *const no[] = { "false", "0", "off", "no" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int choice_index(const char *const *choices, const char *s)
{
	for (int i = 0; choices[i]; i++)
		if (strcasecmp(s, choices[i]) == 0)
			return i;
	return -EINVAL;
}

static void choices_text(const char *const *choices, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (int i = 0; choices[i] && len < size; i++) {
		int r = snprintf(buf + len, size - len, "%s%s", i ? ", " : "", choices[i]);
		if (r < 0)
			break;
		len += (size_t)r;
	}
}

static const enum iem_channels channel_values[] = {
	IEM_CHANNELS_BOTH, IEM_CHANNELS_LEFT, IEM_CHANNELS_RIGHT
};

/* Finds the definition for name; *band is the 0-based band or -1. */
static const struct param_def *lookup(const char *name, int *band)
{
	*band = -1;
	for (size_t i = 0; i < N_GLOBAL; i++)
		if (strcmp(name, global_defs[i].name) == 0)
			return &global_defs[i];

	if (strncmp(name, "eq.", 3) != 0)
		return NULL;
	const char *s = name + 3;
	if (*s < '1' || *s > '9')
		return NULL;
	char *end;
	long n = strtol(s, &end, 10);
	if (*end != '.' || n < 1 || n > IEM_MAX_BANDS)
		return NULL;
	for (size_t i = 0; i < N_BAND_FIELDS; i++) {
		if (strcmp(end + 1, band_defs[i].name) == 0) {
			*band = (int)n - 1;
			return &band_defs[i];
		}
	}
	return NULL;
}

int iem_params_set(struct iem_params *p, const char *name, const char *value,
		char *err, size_t err_size)
{
	const struct param_def *d;
	char list[160];
	double v = 0.0;
	bool b;
	int band, r;

	if (name == NULL || value == NULL)
		return -EINVAL;
	d = lookup(name, &band);
	if (d == NULL) {
		set_error(err, err_size, "unknown parameter '%s' (bands are eq.1 … eq.%d)",
				name, IEM_MAX_BANDS);
		return -ENOENT;
	}

	switch (d->type) {
	case IEM_PARAM_BOOL:
		if (parse_bool(value, &b) < 0) {
			set_error(err, err_size, "%s: '%s' is not a boolean (true or false)", name, value);
			return -EINVAL;
		}
		p->bypass = b;
		return 0;

	case IEM_PARAM_ENUM:
		r = choice_index(d->choices, value);
		if (r < 0) {
			choices_text(d->choices, list, sizeof(list));
			set_error(err, err_size, "%s: '%s' is not one of %s", name, value, list);
			return -EINVAL;
		}
		if (d->field == F_BAND_TYPE)
			p->band[band].type = (enum iem_filter_type)r;
		else if (d->field == F_STAGE_MODE)
			p->stage_mode = (enum iem_stage_mode)r;
		else if (d->field == F_CROSSFEED_PRESET)
			p->crossfeed_preset = (enum iem_crossfeed_preset)r;
		else if (d->field == F_CROSSFEED_TYPE)
			p->crossfeed_type = (enum iem_crossfeed_type)r;
		else
			p->band[band].channels = channel_values[r];
		return 0;

	case IEM_PARAM_STRING: {
		size_t size = 0;
		char *s = string_field(p, d->field, &size);
		if (s == NULL)
			return -EINVAL;
		if (strlen(value) >= size) {
			set_error(err, err_size, "%s: longer than %zu bytes", name, size - 1);
			return -EINVAL;
		}
		if (d->field == F_STAGE_HRTF && value[0] == '\0') {
			set_error(err, err_size, "%s: empty; auto, model or a SOFA file", name);
			return -EINVAL;
		}
		snprintf(s, size, "%s", value);
		return 0;
	}

	case IEM_PARAM_FLOAT:
		if (d->field == F_PREAMP && strcasecmp(value, "auto") == 0) {
			p->preamp_auto = true;
			p->preamp = 0.0;
			return 0;
		}
		if (parse_number(value, &v) < 0) {
			set_error(err, err_size, "%s: '%s' is not a number%s", name, value,
					d->field == F_PREAMP ? " or auto" : "");
			return -EINVAL;
		}
		if (v < d->min || v > d->max) {
			set_error(err, err_size, "%s: %s is out of range (%g … %g%s%s)", name, value,
					d->min, d->max, d->unit[0] ? " " : "", d->unit);
			return -EINVAL;
		}
		break;
	}

	if (d->field == F_PREAMP) {
		p->preamp_auto = false;
		p->preamp = v;
		return 0;
	}
	double *f = float_field(p, d->field, band);
	if (f == NULL)
		return -EINVAL;
	*f = v;
	return 0;
}

/* The shortest of %.15g, %.16g, %.17g that reads back as v: 0.0965, not
 * 0.096500000000000002. */
static int format_number(char *buf, size_t size, double v)
{
	char tmp[40];
	for (int prec = 15; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		for (char *c = tmp; *c; c++)
			if (*c == ',')
				*c = '.';
		double back;
		if (parse_number(tmp, &back) == 0 && back == v)
			return snprintf(buf, size, "%s", tmp);
	}
	return snprintf(buf, size, "%.17g", v);
}

int iem_params_get(const struct iem_params *p, const char *name, char *buf, size_t size)
{
	const struct param_def *d;
	struct iem_params *mp = (struct iem_params *)p;	/* the field lookups only read */
	const double *f;
	const char *s;
	size_t unused;
	int band, r;

	if (name == NULL || buf == NULL)
		return -EINVAL;
	d = lookup(name, &band);
	if (d == NULL)
		return -ENOENT;

	switch (d->field) {
	case F_BYPASS:
		r = snprintf(buf, size, "%s", p->bypass ? "true" : "false");
		break;
	case F_PREAMP:
		r = p->preamp_auto ? snprintf(buf, size, "auto") : format_number(buf, size, p->preamp);
		break;
	case F_BAND_TYPE:
		r = snprintf(buf, size, "%s", iem_filter_type_name(p->band[band].type));
		break;
	case F_BAND_CHANNEL:
		r = snprintf(buf, size, "%s", p->band[band].channels == IEM_CHANNELS_LEFT ? "left" :
				p->band[band].channels == IEM_CHANNELS_RIGHT ? "right" : "both");
		break;
	case F_STAGE_MODE:
		if ((unsigned)p->stage_mode > IEM_STAGE_CROSSFEED)
			return -EINVAL;
		r = snprintf(buf, size, "%s", stage_choices[p->stage_mode]);
		break;
	case F_CROSSFEED_PRESET:
		if ((unsigned)p->crossfeed_preset >= IEM_CROSSFEED_PRESET_COUNT)
			return -EINVAL;
		r = snprintf(buf, size, "%s", crossfeed_choices[p->crossfeed_preset]);
		break;
	case F_CROSSFEED_TYPE:
		if ((unsigned)p->crossfeed_type >= IEM_CROSSFEED_TYPE_COUNT)
			return -EINVAL;
		r = snprintf(buf, size, "%s", crossfeed_types[p->crossfeed_type]);
		break;
	default:
		if ((s = string_field(mp, d->field, &unused)) != NULL) {
			r = snprintf(buf, size, "%s", s);
			if (r >= 0 && (size_t)r >= size)
				return -ENOSPC;
			return 0;	/* a file name is not a number: no comma fix-up */
		}
		if ((f = float_field(mp, d->field, band)) == NULL)
			return -EINVAL;
		r = format_number(buf, size, *f);
		break;
	}
	if (r < 0)
		return -EINVAL;
	if ((size_t)r >= size)
		return -ENOSPC;
	/* %.17g is locale dependent in principle; our numbers never need a
	 * thousands separator, but a comma decimal point must not leak out. */
	for (char *c = buf; *c; c++)
		if (*c == ',')
			*c = '.';
	return 0;
}

uint32_t iem_param_count(void)
{
	return N_GLOBAL + IEM_MAX_BANDS * N_BAND_FIELDS;
}

int iem_param_find(const char *name, struct iem_param_info *info)
{
	const struct param_def *d;
	int band;
	uint32_t index;

	if (name == NULL || (d = lookup(name, &band)) == NULL)
		return -ENOENT;
	if (band < 0)
		index = (uint32_t)(d - global_defs);
	else
		index = N_GLOBAL + (uint32_t)band * N_BAND_FIELDS + (uint32_t)(d - band_defs);
	return iem_param_info(index, info);
}

int iem_param_info(uint32_t index, struct iem_param_info *info)
{
	const struct param_def *d;

	if (index >= iem_param_count())
		return -ENOENT;
	if (index < N_GLOBAL) {
		d = &global_defs[index];
		snprintf(info->name, sizeof(info->name), "%s", d->name);
	} else {
		uint32_t i = index - N_GLOBAL;
		d = &band_defs[i % N_BAND_FIELDS];
		snprintf(info->name, sizeof(info->name), "eq.%u.%s", i / (uint32_t)N_BAND_FIELDS + 1, d->name);
	}
	info->type = d->type;
	info->min = d->min;
	info->max = d->max;
	info->def = d->def;
	info->unit = d->unit;
	info->choices = d->choices;
	info->def_string = d->def_string;
	info->description = d->description;
	return 0;
}

/* ---- headroom ---------------------------------------------------------- */

struct designed {
	uint32_t n;
	struct iem_biquad bq[IEM_MAX_BANDS];
};

static void design_channel(const struct iem_params *p, double rate, int channel, struct designed *d)
{
	d->n = 0;
	for (int i = 0; i < IEM_MAX_BANDS; i++) {
		const struct iem_band *b = &p->band[i];
		if (b->type == IEM_FILTER_OFF || !(b->channels & (1u << channel)))
			continue;
		if (iem_biquad_design(&d->bq[d->n], b->type, rate, b->freq, b->q, b->gain) == 0)
			d->n++;
	}
}

static double designed_response(const struct designed *d, double rate, double freq)
{
	double db = 0.0;
	for (uint32_t i = 0; i < d->n; i++)
		db += iem_biquad_magnitude_db(&d->bq[i], rate, freq);
	return db;
}

double iem_params_response_db(const struct iem_params *p, double rate, int channel, double freq)
{
	struct designed d;
	design_channel(p, rate, channel & 1, &d);
	return designed_response(&d, rate, freq);
}

void iem_params_headroom(const struct iem_params *p, double rate, struct iem_headroom *h)
{
	/* 1/96-octave grid from 10 Hz to Nyquist, then a golden-section search
	 * around the largest grid point: peaks of Q 40 bands are found to well
	 * under 0.01 dB. */
	const double step = pow(2.0, 1.0 / 96.0), nyq = rate / 2.0;
	double peak = -HUGE_VAL, peak_f = 1000.0;
	struct designed d;

	for (int ch = 0; ch < 2; ch++) {
		design_channel(p, rate, ch, &d);
		double best = -HUGE_VAL, best_f = 10.0;
		for (double f = 10.0; ; f *= step) {
			if (f > nyq)
				f = nyq;
			double v = designed_response(&d, rate, f);
			if (v > best) {
				best = v;
				best_f = f;
			}
			if (f >= nyq)
				break;
		}
		double lo = fmax(best_f / step, 1.0), hi = fmin(best_f * step, nyq);
		const double g = (sqrt(5.0) - 1.0) / 2.0;
		for (int it = 0; it < 60; it++) {
			double m1 = hi - g * (hi - lo), m2 = lo + g * (hi - lo);
			if (designed_response(&d, rate, m1) > designed_response(&d, rate, m2))
				hi = m2;
			else
				lo = m1;
		}
		double f = (lo + hi) / 2.0, v = designed_response(&d, rate, f);
		if (v > best) {
			best = v;
			best_f = f;
		}
		if (best > peak) {
			peak = best;
			peak_f = best_f;
		}
	}

	h->eq_peak = peak;
	h->eq_peak_freq = peak_f;
	if (p->preamp_auto)
		h->preamp = peak + p->output_gain > 0.0 ? -(peak + p->output_gain) : 0.0;
	else
		h->preamp = p->preamp;
	h->total_peak = h->preamp + peak + p->output_gain;
}
