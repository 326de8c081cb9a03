/* SPDX-License-Identifier: MIT */
/*
 * iemstage DSP library: the signal chain and everything that builds it.
 *
 * Pure C, no PipeWire, no D-Bus, never logs. Every function says whether it
 * is safe to call from a real-time thread ("RT-safe"). Functions that can
 * fail return a negative errno; constructors return NULL and set errno.
 *
 * Audio is planar float stereo. Processing accepts any block size and the
 * block size may change from one call to the next.
 */
#ifndef IEM_DSP_H
#define IEM_DSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IEM_EXPORT __attribute__((visibility("default")))

/* ---- limits ---------------------------------------------------------- */

#define IEM_MAX_BANDS		32	/* EQ bands, eq.1 … eq.32 */
#define IEM_MIN_RATE		8000u
#define IEM_MAX_RATE		384000u
#define IEM_LIMITER_CEILING_DB	(-0.1)	/* the safety limiter's ceiling */
/* Input samples that are not finite or whose magnitude is above this
 * (+60 dBFS) are treated as silence: garbage never reaches filter state. */
#define IEM_INPUT_MAX		1000.0f
/* Every parameter move, EQ structure change and bypass toggle is a smooth
 * ramp of this length. */
#define IEM_RAMP_MS		80.0

/* Ranges every front end enforces (iem_params_set, the APO parser, …). */
#define IEM_FREQ_MIN		5.0	/* Hz; a design clamps to 0.49 * rate */
#define IEM_FREQ_MAX		40000.0
#define IEM_Q_MIN		0.025
#define IEM_Q_MAX		40.0
#define IEM_GAIN_MIN		(-30.0)	/* dB, a band's gain */
#define IEM_GAIN_MAX		30.0
#define IEM_PREAMP_MIN		(-60.0)	/* dB */
#define IEM_PREAMP_MAX		30.0
#define IEM_OUTPUT_GAIN_MIN	(-60.0)	/* dB */
#define IEM_OUTPUT_GAIN_MAX	12.0

/* ---- biquads (RBJ Audio EQ Cookbook) --------------------------------- */

enum iem_filter_type {
	IEM_FILTER_OFF,
	IEM_FILTER_PEAKING,
	IEM_FILTER_LOWSHELF,
	IEM_FILTER_HIGHSHELF,
	IEM_FILTER_LOWPASS,
	IEM_FILTER_HIGHPASS,
	IEM_FILTER_BANDPASS,	/* constant 0 dB peak gain */
	IEM_FILTER_NOTCH,
	IEM_FILTER_ALLPASS,
	IEM_FILTER_TYPE_COUNT
};

/* Normalised coefficients (a0 = 1):
 * H(z) = (b0 + b1 z^-1 + b2 z^-2) / (1 + a1 z^-1 + a2 z^-2) */
struct iem_biquad {
	double b0, b1, b2, a1, a2;
};

/* RT-safe: yes. Designs one RBJ biquad. freq is clamped to
 * [1 Hz, 0.49 * rate]; gain is used by peaking and shelves only; q is the
 * cookbook's Q (for shelves the cookbook's shelf Q, 0.7071 = slope 1).
 * IEM_FILTER_OFF gives the identity. Returns -EINVAL for a bad type, a
 * non-positive rate or q, or non-finite input. */
IEM_EXPORT int iem_biquad_design(struct iem_biquad *bq, enum iem_filter_type type,
		double rate, double freq, double q, double gain_db);

/* RT-safe: yes. |H| in dB at freq, from the closed form (no complex math). */
IEM_EXPORT double iem_biquad_magnitude_db(const struct iem_biquad *bq, double rate, double freq);

/* RT-safe: yes. "peaking", "lowshelf", … ; NULL for an unknown type. */
IEM_EXPORT const char *iem_filter_type_name(enum iem_filter_type type);
/* RT-safe: yes. The type for a name, or -EINVAL. */
IEM_EXPORT int iem_filter_type_from_name(const char *name);

/* ---- parameters ------------------------------------------------------ */

/* Which channels a band applies to. */
enum iem_channels {
	IEM_CHANNELS_LEFT = 1,
	IEM_CHANNELS_RIGHT = 2,
	IEM_CHANNELS_BOTH = 3,
};

struct iem_band {
	enum iem_filter_type type;	/* IEM_FILTER_OFF: band unused */
	double freq;			/* Hz */
	double q;
	double gain;			/* dB */
	enum iem_channels channels;
};

/*
 * Every user-visible setting of the chain, as plain values. One flat name
 * space shared by every front end (iemstage-render --set, module args,
 * Props, D-Bus, profiles): see iem_params_set().
 */
enum iem_stage_mode {
	IEM_STAGE_OFF,			/* no stage */
	IEM_STAGE_BRIR,			/* convolve with the IR file stage.brir */
	IEM_STAGE_ROOM,			/* two virtual speakers in a virtual room (iem_room_render) */
	IEM_STAGE_CROSSFEED,		/* bs2b-style crossfeed */
};

enum iem_crossfeed_preset {
	IEM_CROSSFEED_DEFAULT,		/* bs2b's default: 700 Hz, 4.5 dB */
	IEM_CROSSFEED_CMOY,		/* Chu Moy: 700 Hz, 6 dB */
	IEM_CROSSFEED_JMEIER,		/* Jan Meier: 650 Hz, 9.5 dB */
	IEM_CROSSFEED_CUSTOM,		/* crossfeed.fcut and crossfeed.feed */
	IEM_CROSSFEED_PRESET_COUNT
};

/* The crossfeed's circuit (crossfeed.type); crossfeed.preset gives its
 * levels, whichever it is. */
enum iem_crossfeed_type {
	IEM_CROSSFEED_BS2B,		/* Bauer's, as libbs2b: direct path boosted in the treble */
	IEM_CROSSFEED_LINKWITZ,		/* Linkwitz 1971 / Chu Moy: RC low-pass across, direct flat */
	IEM_CROSSFEED_MEIER,		/* Meier's natural crossfeed: direct = 1 - cross */
	IEM_CROSSFEED_TYPE_COUNT
};

/* Ranges and defaults of the stage's parameters (iem_params_set enforces
 * them; iem_room_render and iem_crossfeed_* check their own). */
#define IEM_STAGE_ANGLE_MIN		10.0	/* deg, each speaker off the median plane */
#define IEM_STAGE_ANGLE_MAX		90.0
#define IEM_STAGE_ANGLE_DEFAULT		30.0
#define IEM_STAGE_DISTANCE_MIN		0.5	/* m, head centre to speaker */
#define IEM_STAGE_DISTANCE_MAX		10.0
#define IEM_STAGE_DISTANCE_DEFAULT	2.0
#define IEM_STAGE_ELEVATION_MIN		(-30.0)	/* deg */
#define IEM_STAGE_ELEVATION_MAX		60.0
#define IEM_ROOM_SIZE_MIN		2.0	/* m, each of width, depth, height */
#define IEM_ROOM_SIZE_MAX		30.0
#define IEM_ROOM_WIDTH_DEFAULT		5.0	/* a furnished living room, 81 m^3 */
#define IEM_ROOM_DEPTH_DEFAULT		6.0
#define IEM_ROOM_HEIGHT_DEFAULT		2.7
#define IEM_ROOM_RT60_MAX		2.0	/* s */
#define IEM_ROOM_RT60_DEFAULT		0.3
#define IEM_ROOM_LEVEL_OFF		(-60.0)	/* dB: room.early / room.late at or below: off */
#define IEM_ROOM_LEVEL_MAX		12.0
#define IEM_CROSSFEED_FCUT_MIN		300.0	/* Hz, bs2b's range */
#define IEM_CROSSFEED_FCUT_MAX		2000.0
#define IEM_CROSSFEED_FEED_MIN		1.0	/* dB */
#define IEM_CROSSFEED_FEED_MAX		15.0
#define IEM_CROSSFEED_DELAY_MAX		1000.0	/* us, extra on the crossfed path */

#define IEM_PATH_MAX	1024		/* bytes of a file name parameter, with its NUL */

struct iem_params {
	bool bypass;			/* bypass */
	bool preamp_auto;		/* eq.preamp = auto */
	double preamp;			/* eq.preamp, dB, when not auto */
	double output_gain;		/* output.gain, dB */
	struct iem_band band[IEM_MAX_BANDS];	/* eq.1 … eq.32 */
	enum iem_stage_mode stage_mode;	/* stage.mode */
	char stage_brir[IEM_PATH_MAX];	/* stage.brir: an IR file (see iem_ir_file_load) */
	char stage_hrtf[IEM_PATH_MAX];	/* stage.hrtf: "auto", "model" or a SOFA file */
	double stage_angle;		/* stage.angle, deg */
	double stage_distance;		/* stage.distance, m */
	double stage_elevation;		/* stage.elevation, deg */
	double room_width;		/* room.width, m */
	double room_depth;		/* room.depth, m */
	double room_height;		/* room.height, m */
	double room_rt60;		/* room.rt60, s; 0: no room (anechoic speakers) */
	double room_early;		/* room.early, dB; <= IEM_ROOM_LEVEL_OFF: off */
	double room_late;		/* room.late, dB; <= IEM_ROOM_LEVEL_OFF: off */
	double head_radius;		/* hrtf.head_radius, m (the model's head) */
	enum iem_crossfeed_preset crossfeed_preset;	/* crossfeed.preset */
	double crossfeed_fcut;		/* crossfeed.fcut, Hz (preset custom) */
	double crossfeed_feed;		/* crossfeed.feed, dB (preset custom) */
	enum iem_crossfeed_type crossfeed_type;	/* crossfeed.type */
	double crossfeed_delay;		/* crossfeed.delay, us */
};

enum iem_param_type {
	IEM_PARAM_BOOL,
	IEM_PARAM_FLOAT,
	IEM_PARAM_ENUM,
	IEM_PARAM_STRING,
};

/* Describes one parameter, for help texts and PropInfo. */
struct iem_param_info {
	char name[32];			/* e.g. "eq.3.freq" */
	enum iem_param_type type;
	double min, max, def;		/* FLOAT: range and default */
	const char *unit;		/* "dB", "Hz" or "" */
	const char *const *choices;	/* ENUM/BOOL: NULL-terminated names */
	const char *def_string;		/* the default as text */
	const char *description;
};

/* RT-safe: yes. Defaults: no bypass, automatic preamp, 0 dB output gain,
 * every band off. */
IEM_EXPORT void iem_params_init(struct iem_params *p);

/* RT-safe: no. Sets one parameter from its text form ("12.5", "true",
 * "peaking", "auto"). Numbers are read in the C locale whatever the
 * process's locale. On failure p is unchanged, -EINVAL (bad value) or
 * -ENOENT (unknown name) is returned and err, when not NULL, gets a
 * sentence naming the parameter and what is allowed. */
IEM_EXPORT int iem_params_set(struct iem_params *p, const char *name, const char *value,
		char *err, size_t err_size);

/* RT-safe: no. Writes the text form of one parameter into buf; -ENOENT for
 * an unknown name, -ENOSPC when buf is too small. */
IEM_EXPORT int iem_params_get(const struct iem_params *p, const char *name,
		char *buf, size_t size);

/* RT-safe: yes. Number of parameters (the eq.N.* ones counted per band). */
IEM_EXPORT uint32_t iem_param_count(void);
/* RT-safe: yes. Fills info for parameter index (0 … count-1); -ENOENT past
 * the end. */
IEM_EXPORT int iem_param_info(uint32_t index, struct iem_param_info *info);
/* RT-safe: yes. Fills info for the parameter called name; -ENOENT when
 * there is none. */
IEM_EXPORT int iem_param_find(const char *name, struct iem_param_info *info);

/* ---- headroom -------------------------------------------------------- */

struct iem_headroom {
	double eq_peak;		/* dB, the EQ's largest gain over 10 Hz … Nyquist, either channel */
	double eq_peak_freq;	/* Hz, where it is */
	double preamp;		/* dB, the preamp in effect (computed when auto) */
	double total_peak;	/* dB, preamp + eq_peak + output gain */
};

/* RT-safe: no. The EQ's magnitude response at freq for one channel
 * (0 = left, 1 = right), in dB, bands as designed at rate. */
IEM_EXPORT double iem_params_response_db(const struct iem_params *p, double rate,
		int channel, double freq);

/* RT-safe: no. Computes the chain's worst-case (largest) gain at rate. With
 * an automatic preamp, the preamp is -max(0, eq_peak + output gain), so the
 * chain as a whole never gains above 0 dB at any frequency. */
IEM_EXPORT void iem_params_headroom(const struct iem_params *p, double rate,
		struct iem_headroom *h);

/* ---- Equalizer APO / AutoEq ParametricEQ.txt ------------------------- */

struct iem_parse_error {
	uint32_t line, column;	/* 1-based; 0 when not tied to a place */
	char message[256];
};

/* RT-safe: no. An error in the text file at path as people read it:
 * "PATH:LINE:COLUMN: message", without the column or the line when the
 * error is not tied to them. */
IEM_EXPORT void iem_parse_error_format(const struct iem_parse_error *e, const char *path,
		char *buf, size_t size);

/* RT-safe: no. Reads the whole file at path, at most max bytes, for the
 * parsers here: *text (free() it) holds its *len bytes and a NUL after
 * them. Returns 0, or -errno (-EISDIR for a directory, -EFBIG past max)
 * with err (when not NULL) saying "PATH: reason". */
IEM_EXPORT int iem_read_text_file(const char *path, size_t max, char **text, size_t *len,
		char *err, size_t err_size);

/* RT-safe: no. Parses an Equalizer APO / AutoEq ParametricEQ.txt text
 * (len bytes, need not be NUL-terminated). On success replaces the EQ part
 * of p (every band and the preamp: the file's Preamp lines, summed, or
 * automatic when it has none) and returns 0. On failure returns -EINVAL,
 * fills err and leaves p untouched: nothing is half-applied. */
IEM_EXPORT int iem_apo_parse(const char *text, size_t len, struct iem_params *p,
		struct iem_parse_error *err);

/* ---- safety limiter -------------------------------------------------- */

struct iem_limiter;

/* RT-safe: no. NULL and errno on failure. */
IEM_EXPORT struct iem_limiter *iem_limiter_new(uint32_t rate);
/* RT-safe: no. Accepts NULL; returns NULL. */
IEM_EXPORT struct iem_limiter *iem_limiter_free(struct iem_limiter *l);
/* RT-safe: yes. */
IEM_EXPORT void iem_limiter_reset(struct iem_limiter *l);
/* RT-safe: yes. Stereo-linked, zero latency: no sample leaves above the
 * ceiling (IEM_LIMITER_CEILING_DB); while the input stays below it the
 * output is the input, bit for bit. In place. */
IEM_EXPORT void iem_limiter_process(struct iem_limiter *l, float *left, float *right, uint32_t n);
/* RT-safe: yes. How often it acted: onsets of gain reduction, and samples
 * processed with a gain below 1. */
IEM_EXPORT void iem_limiter_get_counts(const struct iem_limiter *l,
		uint64_t *events, uint64_t *samples);

/* ---- partitioned convolution ------------------------------------------- */

#define IEM_CONV_MAX_TAPS	(1u << 20)
#define IEM_CONV_MAX_INPUTS	8
#define IEM_CONV_MAX_OUTPUTS	2
#define IEM_CONV_MAX_LEVELS	4

/* Impulse responses for every input -> output path of an N x M convolver:
 * taps[o * n_inputs + i] is the path from input i to output o, `length`
 * floats each (shorter responses are zero-padded by the caller). For true
 * stereo, inputs are (L, R) speakers and outputs (L, R) ears:
 * taps = { LL, RL, LR, RR } — i.e. { L->L, R->L, L->R, R->R }. */
struct iem_ir {
	uint32_t n_inputs, n_outputs;
	uint32_t length;
	const float *const *taps;
};

/* How the response is cut up (for figures and tests). */
struct iem_conv_info {
	uint32_t n_levels;
	uint32_t block[IEM_CONV_MAX_LEVELS];		/* block size of each level */
	uint32_t offset[IEM_CONV_MAX_LEVELS];		/* first tap it covers */
	uint32_t partitions[IEM_CONV_MAX_LEVELS];	/* capacity of each level */
	double flops_per_sample;			/* cost model: 2.5 N log2 N per FFT, 8 per complex MAC */
	bool threaded;					/* tail levels run on a worker thread */
};

/* What the convolver has done (counters since creation). */
struct iem_conv_stats {
	uint64_t jobs_async;	/* tail blocks computed by the worker thread */
	uint64_t jobs_inline;	/* … in the processing thread at once: due within
				 * the call, or not started by the worker in time */
	uint64_t jobs_spread;	/* … in the processing thread a few units per call */
	uint64_t late;		/* deadline reached while the worker was still on
				 * the block: the processing thread waited */
	uint64_t exchanges;	/* IR exchanges completed */
	uint64_t worker_ns;	/* CPU time used by the worker thread */
	uint64_t xfade_start;	/* frame (since reset) where the last exchange's
				 * crossfade began */
};

#define IEM_CONV_SYNC			(1u << 0)	/* no worker thread */
#define IEM_CONV_WORKER_ALL		(1u << 1)	/* level 1 on the worker too */
#define IEM_CONV_XFADE_DEFAULT		2048u		/* frames: 43 ms at 48 kHz */
#define IEM_CONV_MAX_XFADE		(1u << 20)

struct iem_conv_config {
	uint32_t max_length;	/* taps reserved for iem_conv_set_ir(); 0: the first IR's */
	uint32_t xfade_frames;	/* equal-power IR exchange; 0: IEM_CONV_XFADE_DEFAULT */
	uint32_t flags;		/* IEM_CONV_SYNC: every level runs in the processing
				 * thread (offline rendering, one CPU) */
};

struct iem_conv;

/* RT-safe: no. Plans FFTs (FFTW, thread-safe planner, wisdom cached under
 * $XDG_CACHE_HOME/iemstage/), transforms the responses and, unless
 * IEM_CONV_SYNC or the machine has one CPU, starts a worker thread for the
 * long partitions. A NULL path (taps[k] == NULL) is silent and costs
 * nothing. config may be NULL. NULL and errno: EINVAL (no paths, zero
 * length), E2BIG (more than IEM_CONV_MAX_TAPS taps, too many channels, too
 * long a crossfade), ENOMEM, or a pthread error. */
IEM_EXPORT struct iem_conv *iem_conv_new(const struct iem_ir *ir,
		const struct iem_conv_config *config);
/* RT-safe: no. Stops the worker. Accepts NULL; returns NULL. */
IEM_EXPORT struct iem_conv *iem_conv_free(struct iem_conv *conv);
/* RT-safe: no (control thread). Transforms a new set of responses and
 * hands it to the processing side, which crossfades to it (equal power,
 * xfade_frames) with the full input history: no gap, no build-up. A set
 * not yet taken is replaced. -EINVAL: other channel counts; -E2BIG:
 * longer than the convolver was made for (max_length); -ENOMEM. */
IEM_EXPORT int iem_conv_set_ir(struct iem_conv *conv, const struct iem_ir *ir);
/* RT-safe: yes (processing thread). Clears all history; an exchange in
 * progress completes at once. */
IEM_EXPORT void iem_conv_reset(struct iem_conv *conv);
/* RT-safe: yes (processing thread). Zero latency: out[o][k] depends on
 * in[*][j <= k] only. Any n, changing from call to call; in and out may be
 * the same buffers. Denormal handling is the caller's (the chain sets
 * FTZ/DAZ); the worker thread runs with FTZ/DAZ set. */
IEM_EXPORT void iem_conv_process(struct iem_conv *conv, const float *const *in,
		float *const *out, uint32_t n);
/* RT-safe: yes. */
IEM_EXPORT void iem_conv_get_info(const struct iem_conv *conv, struct iem_conv_info *info);
/* RT-safe: yes, any thread. */
IEM_EXPORT void iem_conv_get_stats(const struct iem_conv *conv, struct iem_conv_stats *stats);

/* ---- impulse-response files ------------------------------------------ */

/* How the channels of an IR file map onto the 2 x 2 convolver (speakers
 * L, R -> ears L, R). Channel names give the speaker, then the ear. */
enum iem_ir_layout {
	IEM_IR_LAYOUT_AUTO,		/* "auto": from the channel count */
	IEM_IR_LAYOUT_STEREO,		/* "stereo": 2 channels, L->L and R->R only */
	IEM_IR_LAYOUT_TRUE_STEREO,	/* "true-stereo": 4 channels, LL, LR, RL, RR */
	IEM_IR_LAYOUT_HESUVI,		/* "hesuvi": 14 or 7 channels, HeSuVi's hrir.wav;
					 * the front-left and front-right speakers are used */
	IEM_IR_LAYOUT_COUNT
};

/* An IR file, loaded: always 2 inputs x 2 outputs in the convolver's order,
 * taps = { LL, RL, LR, RR }; ready for iem_conv_new(&f->ir, …). */
struct iem_ir_file {
	struct iem_ir ir;		/* at `rate`; stereo layout: taps[1] and taps[2]
					 * are NULL (silent paths) */
	uint32_t rate;			/* Hz, the rate ir is at: the one asked for */
	uint32_t file_rate;		/* Hz, as stored */
	uint32_t file_channels;
	uint32_t file_frames;		/* as stored: before trimming and resampling */
	enum iem_ir_layout layout;	/* as resolved, never AUTO */
	/* dB, the largest gain from the speakers in phase to either ear:
	 * max over ear o and frequency of |H(L->o)| + |H(R->o)|, sampled at
	 * min(65536, >= 2 x length) frequencies; -150 for a silent file.
	 * What a preamp must take off for the convolver never to gain. */
	double peak_gain_db;
	/* private: the buffers behind ir.taps (paths may share one) */
	const float *paths[4];
	float *buf[4];
};

/* RT-safe: no. Loads an IR file (whatever libsndfile reads: WAV, RF64,
 * FLAC, …) as a 2 x 2 response at `rate`:
 * - channels by layout; AUTO takes 2 as stereo, 4 as true stereo, 14 and
 *   7 as HeSuVi. HeSuVi's 14 channels are FL->L, FL->R, SL->L, SL->R,
 *   BL->L, BL->R, FC->L, FR->R, FR->L, SR->R, SR->L, BR->R, BR->L, FC->R
 *   (0 … 13): taps = { 0, 8, 1, 7 }. Its 7-channel files hold the first
 *   seven, the right-hand speakers mirroring the left: taps = { 0, 1, 1, 0 };
 * - resampled with a linear-phase windowed sinc when the file's rate is
 *   not `rate` (no delay added: a tap at t s stays at t s);
 * - trailing silence (below -150 dBFS on every path) trimmed, at least one
 *   tap kept; no gain applied.
 * Refused before its audio is allocated: not an audio file, a channel
 * count other than 2, 4, 14 or 7 (or one the layout does not take), no
 * frames, a rate outside IEM_MIN_RATE … IEM_MAX_RATE, more than
 * IEM_CONV_MAX_TAPS taps at `rate` (trailing silence included), more than
 * 2^23 frames, a WAV whose data chunk announces more than the file holds
 * (cut short: refused, not loaded in part); while reading, the first
 * sample that is not finite.
 * Returns 0 and *out (free it with iem_ir_file_free()), or a negative errno
 * with *out NULL and err (when not NULL) a sentence starting with the path:
 * -ENOENT, -EACCES, -EISDIR, … (opening), -EINVAL (not a usable IR file,
 * bad arguments), -E2BIG (too long), -EIO (read error), -ENOMEM. */
IEM_EXPORT int iem_ir_file_load(const char *path, uint32_t rate, enum iem_ir_layout layout,
		struct iem_ir_file **out, char *err, size_t err_size);
/* RT-safe: no. Accepts NULL; returns NULL. */
IEM_EXPORT struct iem_ir_file *iem_ir_file_free(struct iem_ir_file *f);

/* RT-safe: yes. "auto", "stereo", "true-stereo", "hesuvi"; NULL for an
 * unknown layout. */
IEM_EXPORT const char *iem_ir_layout_name(enum iem_ir_layout layout);
/* RT-safe: yes. The layout for a name, or -EINVAL. */
IEM_EXPORT int iem_ir_layout_from_name(const char *name);

/* ---- the chain ------------------------------------------------------- */

/*
 * preamp -> correction EQ -> stage (a 2 x 2 convolver: BRIR or room; none
 * by default) -> output gain -> safety limiter -> out, with bypass
 * crossfading to the dry input.
 *
 * Threads: iem_chain_apply() is called from one control thread,
 * iem_chain_process() from one processing thread; they never block each
 * other (settings travel through a lock-free triple buffer). Settings
 * applied together take effect together.
 */
struct iem_chain;

struct iem_chain_stats {
	uint64_t limiter_events;	/* onsets of limiting */
	uint64_t limiter_samples;	/* frames processed with gain reduction */
	uint64_t invalid_samples;	/* non-finite or huge input samples silenced */
	uint64_t state_resets;		/* filter state found non-finite and cleared */
	uint64_t frames;		/* frames processed */
};

/* What iem_chain_set_stage() did. */
struct iem_stage_info {
	double gain_db;		/* applied so that centred sound keeps its loudness */
	uint32_t length;	/* taps */
	bool exchanged;		/* crossfaded inside the running convolver */
	/* iem_chain_load_stage() only: the file's */
	uint32_t file_rate, file_channels;
	const char *layout;	/* "stereo", "true-stereo", "hesuvi" */
	/* stage.mode = room: the HRTF in use (iem_hrtf_describe()), valid
	 * until the next iem_chain_load_stage() or iem_chain_free() */
	const char *hrtf;
};

#define IEM_STAGE_XFADE_MS	50.0	/* a response exchanged in place */

/* RT-safe: no. rate in [IEM_MIN_RATE, IEM_MAX_RATE]. Starts with
 * iem_params_init() defaults. NULL and errno on failure. */
IEM_EXPORT struct iem_chain *iem_chain_new(uint32_t rate);
/* RT-safe: no. Accepts NULL; returns NULL. */
IEM_EXPORT struct iem_chain *iem_chain_free(struct iem_chain *c);
/* RT-safe: no. The session rate the chain was made for. */
IEM_EXPORT uint32_t iem_chain_get_rate(const struct iem_chain *c);

/* RT-safe: no (control thread). Validates p and hands it to the processing
 * side, where every change ramps in (IEM_RAMP_MS). headroom, when not NULL,
 * receives the gain figures in effect. -EINVAL leaves the chain as it was. */
IEM_EXPORT int iem_chain_apply(struct iem_chain *c, const struct iem_params *p,
		struct iem_headroom *headroom);

/* RT-safe: no (control thread). The stage's responses, 2 x 2 at the
 * chain's rate (taps { LL, RL, LR, RR }, see struct iem_ir; NULL paths
 * are silent), or NULL for no stage. The set is scaled so that centred
 * sound (L = R) keeps its loudness: the power gain of (L -> ear) + (R ->
 * ear), averaged over octave bands 125 Hz … 8 kHz and both ears, is made
 * 0 dB; peaks above that are the limiter's. It crossfades in, with no
 * gap: inside the running convolver when it fits (equal power over
 * IEM_STAGE_XFADE_MS), else through a new one (over IEM_RAMP_MS). -EINVAL
 * (not 2 x 2, non-finite or silent), -E2BIG, -ENOMEM: the stage in use
 * stays. */
IEM_EXPORT int iem_chain_set_stage(struct iem_chain *c, const struct iem_ir *ir,
		struct iem_stage_info *info);

/* RT-safe: no (control thread; reads files, synthesises). Brings the
 * stage in line with p's stage.*, room.*, crossfeed.* and hrtf.*
 * parameters: stage.mode = off removes it; brir loads the file stage.brir
 * at the chain's rate; room loads the HRTF stage.hrtf (kept for the next
 * call while stage.hrtf and hrtf.head_radius stay) and renders the room
 * with iem_room_render(); each hands its response to
 * iem_chain_set_stage(). crossfeed hands over the two responses of
 * iem_crossfeed_ir() (crossfeed.preset, or fcut and feed for custom)
 * unscaled: a centred signal already passes at 0 dB at low frequency,
 * and the loudness scaling would lift it by 1 dB. On failure err names the file or setting and the
 * reason, and the stage in use stays. */
IEM_EXPORT int iem_chain_load_stage(struct iem_chain *c, const struct iem_params *p,
		struct iem_stage_info *info, char *err, size_t err_size);

/* RT-safe: no (control thread). The parameters last applied. */
IEM_EXPORT void iem_chain_get_params(const struct iem_chain *c, struct iem_params *p);

/* RT-safe: yes (processing thread). Jumps to the last applied settings
 * with no ramp and clears all filter and limiter state. */
IEM_EXPORT void iem_chain_reset(struct iem_chain *c);

/* RT-safe: yes (processing thread). Any n; in and out may be the same
 * buffers. Output is always finite and never above the limiter's ceiling,
 * except in full bypass, where it is the (sanitised) input. */
IEM_EXPORT void iem_chain_process(struct iem_chain *c, const float *const in[2],
		float *const out[2], uint32_t n);

/* RT-safe: yes, any thread. */
IEM_EXPORT void iem_chain_get_stats(const struct iem_chain *c, struct iem_chain_stats *s);

/* ---- HRTF sources ------------------------------------------------------ */

/*
 * An HRTF gives the pair of head-related impulse responses (left ear, right
 * ear) for a direction, at the session rate: the built-in Brown & Duda
 * spherical-head model, or a measured set from a SOFA file.
 *
 * Directions are SOFA's: azimuth counter-clockwise from straight ahead, so
 * +90 is to the LEFT and -90 (or 270) to the right; elevation up from the
 * horizontal plane, -90 … +90. All pairs of one instance have the same
 * length and share one time reference: the interaural time difference is
 * in them as delay, and pairs for different directions may be summed with
 * relative delays (as a room does).
 */
#define IEM_HRTF_HEAD_RADIUS_DEFAULT	0.0875	/* m: Brown & Duda's typical head */
#define IEM_HRTF_HEAD_RADIUS_MIN	0.05	/* m */
#define IEM_HRTF_HEAD_RADIUS_MAX	0.15	/* m */
#define IEM_HRTF_MAX_TAPS		16384u	/* of one HRIR, in a file or at the session rate */
#define IEM_HRTF_MAX_DIRECTIONS		65536u	/* measurements in a SOFA file */
#define IEM_HRTF_MAX_FILE_SIZE		(256u << 20)	/* bytes of a SOFA file */

enum iem_hrtf_kind {
	IEM_HRTF_AUTO,		/* the SOFA file given, else the system's MIT KEMAR file,
				 * when it can be read; otherwise the model */
	IEM_HRTF_MODEL,		/* Brown & Duda 1998 spherical head: needs no file */
	IEM_HRTF_SOFA,		/* a SOFA file (SimpleFreeFieldHRIR) */
};

struct iem_hrtf_config {
	enum iem_hrtf_kind kind;
	const char *sofa_path;		/* SOFA: the file; AUTO: tried before the system's */
	double head_radius;		/* model, m; 0: IEM_HRTF_HEAD_RADIUS_DEFAULT */
	double head_circumference;	/* model, m, instead of the radius (r = C / 2 pi); 0: unused */
	bool interpolate;		/* SOFA: between measured directions; else the nearest */
	bool diffuse_field_eq;		/* SOFA: equalise the set to the diffuse field
					 * (removes the ear-canal resonance of KEMAR & co.) */
};

struct iem_hrtf_info {
	enum iem_hrtf_kind kind;	/* MODEL or SOFA: what was used */
	uint32_t rate;			/* the session rate */
	uint32_t length;		/* taps of every HRIR */
	double head_radius;		/* model: m */
	/* SOFA */
	uint32_t file_rate;		/* Hz */
	uint32_t file_taps;		/* taps of each IR in the file */
	uint32_t directions;		/* measurements */
	double distance;		/* m, of the measurements used */
	bool interpolate;
	bool diffuse_field_eq;
	/* Diffuse-field average (all directions, both ears, third-octave bands
	 * from 200 Hz to 10 kHz, dB re its 1 kHz band): the band that deviated
	 * most before equalisation, how much before and after, and the largest
	 * deviation left in any band after. */
	double df_peak_hz;
	double df_peak_before_db;
	double df_peak_after_db;
	double df_max_after_db;
};

struct iem_hrtf;

/* RT-safe: yes. Defaults: AUTO, no file, default head, interpolated,
 * diffuse-field equalised. */
IEM_EXPORT void iem_hrtf_config_init(struct iem_hrtf_config *cfg);

/* RT-safe: yes. "auto", "model", "sofa"; NULL for an unknown kind. */
IEM_EXPORT const char *iem_hrtf_kind_name(enum iem_hrtf_kind kind);

/* RT-safe: no. The path of the system's MIT KEMAR file
 * (MIT_KEMAR_normal_pinna.sofa in $IEM_SOFA_DIR, else in libmysofa's data
 * directory as found when building). 0 when it exists, -ENOENT (or another
 * errno of stat()) when not, -ENAMETOOLONG when buf is too small. */
IEM_EXPORT int iem_hrtf_default_sofa(char *buf, size_t size);

/* RT-safe: no. Reads and checks the file, resamples, equalises: up to a
 * second for a large SOFA set. cfg NULL means the defaults. rate in
 * [IEM_MIN_RATE, IEM_MAX_RATE]. NULL and errno on failure: EINVAL (bad
 * configuration or a bad file), ENOENT, E2BIG (beyond the IEM_HRTF_MAX_*
 * limits), ENOMEM, ENOTSUP (built without libmysofa); err, when not NULL,
 * gets a sentence saying why (for a file: its path and the reason). */
IEM_EXPORT struct iem_hrtf *iem_hrtf_new(const struct iem_hrtf_config *cfg, uint32_t rate,
		char *err, size_t err_size);
/* RT-safe: no. Accepts NULL; returns NULL. */
IEM_EXPORT struct iem_hrtf *iem_hrtf_free(struct iem_hrtf *h);

/* RT-safe: yes. Taps of every HRIR, at the session rate. */
IEM_EXPORT uint32_t iem_hrtf_length(const struct iem_hrtf *h);
/* RT-safe: yes. */
IEM_EXPORT void iem_hrtf_get_info(const struct iem_hrtf *h, struct iem_hrtf_info *info);
/* RT-safe: yes. One line for people, e.g. "SOFA MIT_KEMAR_normal_pinna.sofa,
 * 710 directions at 1.40 m, 512 taps, 44100 Hz -> 48000 Hz, interpolated,
 * diffuse-field equalised (+15.9 dB at 2520 Hz -> +0.4 dB)". Valid until
 * iem_hrtf_free(). */
IEM_EXPORT const char *iem_hrtf_describe(const struct iem_hrtf *h);

/* RT-safe: no (allocates scratch). Fills left and right with
 * iem_hrtf_length() taps each for the direction (degrees, see above;
 * any azimuth, elevation -90 … +90). -EINVAL for a bad argument, -ENOMEM.
 * Keeps no state (libmysofa's lookup only reads its tree): calls on one
 * instance may run in several threads at once. */
IEM_EXPORT int iem_hrtf_get(const struct iem_hrtf *h, double azimuth_deg, double elevation_deg,
		float *left, float *right);

/* ---- the virtual room ---------------------------------------------------- */

/*
 * Two virtual speakers in a shoebox room, heard through an HRTF: a 2 x 2
 * binaural room impulse response (BRIR) synthesised at the session rate.
 *
 *   - Geometry: the listener on the room's centre line facing the front
 *     wall, ears IEM_ROOM_EAR_HEIGHT above the floor, placed so that the
 *     speakers stand IEM_ROOM_FRONT_GAP in front of the front wall (or
 *     nearer, down to IEM_ROOM_WALL_MIN, in a shallow room); speakers at
 *     +-angle (left speaker to the left), `distance` from the centre of
 *     the head, `elevation` above the ears, turned towards the listener.
 *   - Walls: one absorption per octave band for all six surfaces, from
 *     the reverberation time by Eyring's formula (which is also the decay
 *     rate of the image-source model itself).
 *   - Direct sound and early reflections: image sources (Allen & Berkley)
 *     up to `order` reflections, each with its own delay (fractional),
 *     1/r loss, wall absorption per band (beta^reflections) and the HRIR
 *     for its direction of arrival; the speakers radiate with a
 *     frequency-dependent directivity (`speaker_di_db`): each image gets
 *     the speaker's response in the direction it leaves the speaker in
 *     (a minimum-phase filter; the direct sound is on axis, untouched).
 *   - Late reverberation: from the mixing time (the first arrival of an
 *     image of order `order` + 1), noise whose energy follows the
 *     image-source statistics (4 pi c / V per second over the speakers'
 *     directivity factor, both per band, decaying at the band's RT60),
 *     the two ears decorrelated as a head in a diffuse field
 *     is: coherence sinc(2 pi f d / c), d = 0.32 m for the default head
 *     (scaled with hrtf.head_radius for the model). The images fade out
 *     and the tail fades in over IEM_ROOM_XFADE_MS.
 *   - Timbre: the phantom centre (L = R) is made flat against the dry
 *     signal in third-octave bands by one minimum-phase filter applied to
 *     all four paths (interaural differences stay untouched).
 *
 * Deterministic: the noise comes from fixed seeds, so the same config,
 * HRTF and rate give the same response bit for bit.
 */
#define IEM_ROOM_BANDS		8	/* octave bands, 125 Hz … 16 kHz */
#define IEM_ROOM_MAX_ORDER	12
#define IEM_ROOM_MAX_SECONDS	4.0	/* the longest response, s */
#define IEM_ROOM_EAR_HEIGHT	1.2	/* m */
#define IEM_ROOM_FRONT_GAP	0.8	/* m, speakers to front wall */
#define IEM_ROOM_WALL_MIN	0.25	/* m, anything to any wall */
#define IEM_ROOM_XFADE_MS	4.0	/* early -> late */
#define IEM_ROOM_SPEED_OF_SOUND	343.0	/* m/s */
#define IEM_ROOM_DI_MAX		15.0	/* dB, the speakers' directivity index */

struct iem_room_config {
	double angle;			/* deg */
	double distance;		/* m */
	double elevation;		/* deg */
	double width, depth, height;	/* m */
	double rt60;			/* s, every band; 0: anechoic */
	double rt60_band[IEM_ROOM_BANDS];	/* s per octave band (125 Hz … 16 kHz);
						 * 0 where rt60 applies */
	double early_db;		/* reflections re the room's own; <= IEM_ROOM_LEVEL_OFF: none */
	double late_db;			/* late tail re the room's own; <= IEM_ROOM_LEVEL_OFF: none */
	uint32_t order;			/* image-source order of the early part */
	double max_seconds;		/* length cap, s (<= IEM_ROOM_MAX_SECONDS) */
	/* speakers' pattern: gain a + (1 - a) cos(off-axis angle), the same
	 * at every frequency; 1 = none (the default: speaker_di_db is the
	 * speakers' directivity). */
	double speaker_pattern;
	bool compensate;		/* the phantom-centre timbre filter */
	uint64_t seed;			/* of the late tail's noise */
	/* The speakers' directivity index per octave band (125 Hz … 16 kHz),
	 * dB, 0 … IEM_ROOM_DI_MAX: the beam exp(kappa (cos(off-axis angle) - 1)),
	 * kappa per band such that the on-axis intensity is DI dB above the
	 * mean over all directions (times speaker_pattern's, when that is
	 * below 1). All 0: omnidirectional. The default rises from near omni
	 * in the bass (1 dB at 125 Hz) to 6 dB at 2 kHz and 9 dB at 16 kHz,
	 * as forward-firing domestic speakers do (room.c says where the
	 * figures come from). */
	double speaker_di_db[IEM_ROOM_BANDS];
};

struct iem_room_info {
	double listener[3];		/* m, head centre: x depth (to the front wall), y width (left), z up */
	double speaker[2][3];		/* m, left and right speaker */
	double volume, surface;		/* m^3, m^2 */
	double rt60[IEM_ROOM_BANDS];	/* s, as used (0: anechoic) */
	double beta[IEM_ROOM_BANDS];	/* wall reflection factor (pressure) per band */
	uint32_t images;		/* image sources rendered (both speakers, direct included) */
	double mixing_time;		/* s after emission: the tail starts (0: none) */
	uint32_t removed;		/* frames of flight time taken off the front */
	/* Frame where a sound that left the speakers at t = 0 and travelled r
	 * metres lands: origin + r fs / c (with an HRTF, plus its own delay). */
	double origin;
	/* the timbre filter: its largest boost and cut (dB), and the phantom
	 * centre's largest third-octave deviation from dry (100 Hz – 10 kHz)
	 * before and after it */
	double eq_max_boost_db, eq_max_cut_db;
	double centre_dev_before_db, centre_dev_after_db;
};

struct iem_room {
	struct iem_ir ir;		/* 2 x 2, taps { LL, RL, LR, RR } at `rate` */
	uint32_t rate;
	struct iem_room_info info;
	/* private */
	const float *paths[4];
	float *buf;
};

/* RT-safe: yes. The defaults: stage and room as iem_params_init() has
 * them, order 3, 2 s cap, pattern 1, the default directivity,
 * compensated, seed 1. */
IEM_EXPORT void iem_room_config_init(struct iem_room_config *cfg);

/* RT-safe: yes. The room part of p (stage.angle … room.late) in cfg;
 * the rest of cfg stays. */
IEM_EXPORT void iem_room_config_from_params(struct iem_room_config *cfg, const struct iem_params *p);

/* RT-safe: no (allocates, plans FFTs; tens of milliseconds). Synthesises
 * the BRIR through hrtf at rate; hrtf NULL stands for an omnidirectional
 * microphone at the centre of the head (both ears the same: for checking
 * the geometry). Room off (rt60 0, or early and late both off) gives the
 * speakers alone. Returns 0 and *out (free with iem_room_free()), or a
 * negative errno with err saying why: -EINVAL (a value out of range, the
 * speakers do not fit the room), -E2BIG, -ENOMEM. */
IEM_EXPORT int iem_room_render(const struct iem_room_config *cfg, const struct iem_hrtf *hrtf,
		uint32_t rate, struct iem_room **out, char *err, size_t err_size);
/* RT-safe: no. Accepts NULL; returns NULL. */
IEM_EXPORT struct iem_room *iem_room_free(struct iem_room *room);

/* ---- crossfeed ------------------------------------------------------------- */

/*
 * Crossfeed, as its two impulse responses (direct: L -> L, cross: L -> R;
 * the right channel's are the same). Each ear gets the other channel
 * through a one-pole low-pass at fcut, `feed` dB below its own channel at
 * low frequency, where a centred (mono) signal passes at 0 dB. The types
 * differ in the direct path (crossfeed.c has the transfer functions):
 *
 *   bs2b      libbs2b's (dsp-reference §1.1): a one-pole/one-zero high
 *             boost, both paths times `gain`;
 *   linkwitz  the passive RC crossfeed (Linkwitz 1971, Chu Moy): flat;
 *             centred sound loses the cross path's share in the treble;
 *   meier     Meier's "natural" crossfeed: the impulse minus the cross
 *             path, so the two ears' pressures add up to the input at
 *             every frequency (centred sound passes exactly).
 *
 * `delay` (us) delays the crossfed path further, band-limited (a Kaiser-
 * windowed sinc): both paths then start IEM_CROSSFEED_DELAY_LEAD taps
 * late, so that the fractional delay needs nothing before time 0. No type
 * is ever louder than dry: at every frequency neither path, nor a
 * centred signal's sum, nor uncorrelated stereo's power exceeds 1 (for
 * linkwitz and meier, `gain` scales both paths down when a delay would
 * make a centred signal's sum exceed 1; bs2b is libbs2b's as it is).
 */
#define IEM_CROSSFEED_DELAY_LEAD	15

struct iem_crossfeed {
	double fcut;		/* Hz */
	double feed;		/* dB */
	/* the coefficients at the rate: the low-pass (all types), bs2b's
	 * high boost, and the gain on both paths */
	double a0_lo, b1_lo, a0_hi, a1_hi, b1_hi, gain;
	enum iem_crossfeed_type type;
	double delay;		/* us, on the crossfed path */
	double direct;		/* linkwitz: the direct path's level */
	uint32_t rate;
};

/* RT-safe: yes. fcut and feed of a preset (not CUSTOM); -EINVAL. */
IEM_EXPORT int iem_crossfeed_preset_levels(enum iem_crossfeed_preset preset,
		double *fcut, double *feed);
/* RT-safe: yes. Designs bs2b's for rate; fcut in IEM_CROSSFEED_FCUT_MIN
 * … MAX, feed in IEM_CROSSFEED_FEED_MIN … MAX, else -EINVAL. */
IEM_EXPORT int iem_crossfeed_design(struct iem_crossfeed *cf, double fcut, double feed, uint32_t rate);
/* RT-safe: yes. Designs any type, with delay_us (0 … IEM_CROSSFEED_DELAY_MAX)
 * on the crossfed path; -EINVAL for a value out of range. */
IEM_EXPORT int iem_crossfeed_design_type(struct iem_crossfeed *cf, enum iem_crossfeed_type type,
		double fcut, double feed, double delay_us, uint32_t rate);
/* RT-safe: yes. The name of a type ("bs2b", "linkwitz", "meier"), or NULL. */
IEM_EXPORT const char *iem_crossfeed_type_name(enum iem_crossfeed_type type);
/* RT-safe: yes. Taps after which both responses are below 1e-7 (-140 dB). */
IEM_EXPORT uint32_t iem_crossfeed_length(const struct iem_crossfeed *cf);
/* RT-safe: yes. The first n taps of the direct (L -> L) and cross
 * (L -> R) responses; either may be NULL. With a delay, n must be at
 * most iem_crossfeed_length() (a delay's taps are worked out in place). */
IEM_EXPORT void iem_crossfeed_ir(const struct iem_crossfeed *cf, float *direct, float *cross, uint32_t n);

/* ---- analysis: soundstage metrics ----------------------------------------- */

/*
 * Objective figures of a stage (dsp-reference §5), from its 2 x 2 response
 * set or from rendered stereo signals. How each is measured:
 *
 *   ITD: r(k) = sum l[i] r[i + k] over |k| <= ceil(1 ms fs) of the ear
 *        signals after two cascaded RBJ low-passes (Q 1/sqrt 2) at
 *        lowpass_hz (IEM_ANALYSIS_ITD_LOWPASS; 0: broadband); the argmax
 *        of r (not |r|), refined by a 3-point parabola. Positive: the
 *        right ear lags, a source on the left (dsp-reference §3.4).
 *        Its figure depends on the ears' common spectrum, not only on
 *        their difference: a head's ITD falls with frequency, and the
 *        correlation peak sits at an average weighted by the power below
 *        lowpass_hz, so a filter on both ears moves it (KEMAR at 30 deg:
 *        275 us raw, 306 us diffuse-field equalised, 286 us through the
 *        anechoic stage's timbre filter: one interaural transfer function).
 *   ITD (phase transform, GCC-PHAT, Knapp & Carter 1976): the same peak
 *        search on the cross-spectrum below f_hi with every bin's
 *        magnitude set to 1, refined on the continuous correlation. Only
 *        the interaural phase is left: a filter common to both ears cancels
 *        exactly, so a stage's output and the HRIR it was built from are
 *        measured alike (KEMAR at 30 deg: 286.5 us in all three cases).
 *   ILD: 10 log10 of the left ear's energy over the right's; per octave,
 *        the energies of the FFT bins in [fc / sqrt 2, fc sqrt 2].
 *   IACC: max |IACF(tau)| over |tau| <= 1 ms (ISO 3382-1). For a response
 *        set it is the IACF that uncorrelated white noise on the two
 *        inputs gives in expectation, sum over speakers s of the ears'
 *        cross-correlation, over the energies summed the same way (§5.1):
 *        exact, so the same set gives the same figure on every machine.
 *        Bands are ideal (zero-phase, brick-wall) octaves applied to the
 *        windowed responses. Early: 0 … 80 ms after the direct sound (from
 *        1 ms before its peak, the HRIR's own onset); E3: the mean of the
 *        early IACC in the 500, 1000 and 2000 Hz octaves.
 *   Direct sound: the peak of the speaker's binaural energy envelope (l^2 +
 *        r^2 smoothed by a 1 ms triangle); it is everything up to
 *        IEM_ANALYSIS_DIRECT_MS after that peak (§5.4's Delta; a head's own
 *        response, pinna and shoulder, lies within it).
 *   DRR: energy up to the direct sound's end over the energy after it;
 *        C50: up to 50 ms after the peak over the rest. Both ears summed.
 *   Reflections: the envelope's local maxima (each the largest within
 *        +-1 ms) from the direct sound's end to 50 ms after its peak, at
 *        most IEM_ANALYSIS_REFLECTION_FLOOR dB below the direct peak, in
 *        order of arrival: delay after the direct peak and level re it.
 *        Late-tail noise above the floor shows up as peaks too.
 *   Centre colouration: the phantom centre (L = R: H_LL + H_RL at the
 *        left ear, H_LR + H_RR at the right), power averaged over the
 *        ears and over the bins of each third octave, in dB re the dry
 *        signal (0 dB: as loud as the input, at the ear).
 */
#define IEM_ANALYSIS_OCTAVES		8	/* ILD bands: 125 Hz … 16 kHz */
#define IEM_ANALYSIS_THIRDS		31	/* 1000 2^(k/3) Hz, k = -17 … 13: 19.7 Hz … 20.2 kHz */
#define IEM_ANALYSIS_THIRD_FIRST	(-17)
#define IEM_ANALYSIS_MAX_REFLECTIONS	8
#define IEM_ANALYSIS_ITD_LOWPASS	1500.0	/* Hz */
#define IEM_ANALYSIS_ITD_MAX_MS		1.0
#define IEM_ANALYSIS_EARLY_MS		80.0
#define IEM_ANALYSIS_DIRECT_MS		2.5
#define IEM_ANALYSIS_REFLECTION_FLOOR	20.0	/* dB below the direct sound */

struct iem_reflection {
	double delay_ms;	/* after the direct sound's peak */
	double level_db;	/* envelope peak re the direct sound's */
};

/* One virtual speaker (one input) as heard at both ears. Figures that do
 * not exist (an ear that hears nothing, a band above 0.45 fs) are NAN;
 * an ILD with one silent ear is +-INFINITY. */
struct iem_speaker_analysis {
	double itd_us;		/* the whole response */
	double itd_direct_us;	/* the direct sound alone: up to its end */
	double itd_phat_us;	/* the whole response, phase transform below IEM_ANALYSIS_ITD_LOWPASS */
	double ild_db;
	double ild_octave_db[IEM_ANALYSIS_OCTAVES];
	double direct_ms;	/* the direct sound's peak, ms from the response's start */
	double drr_db;
	double c50_db;
	uint32_t n_reflections;
	struct iem_reflection reflection[IEM_ANALYSIS_MAX_REFLECTIONS];
};

struct iem_analysis {
	uint32_t rate;
	uint32_t length;			/* taps of the set */
	struct iem_speaker_analysis speaker[2];	/* left, right input */
	/* uncorrelated noise on the two inputs */
	double iacc;				/* broadband, the whole response */
	double iacc_e;				/* broadband, early */
	double iacc_e_band[3];			/* early, octaves 500, 1000, 2000 Hz */
	double iacc_e3;				/* their mean */
	/* centred sound (L = R) */
	double mono_itd_us;
	double mono_ild_db;
	double mono_iacc;			/* broadband, the whole response */
	double mono_iacc_e;			/* broadband, early */
	double mono_iacc_e3;			/* as iacc_e3 */
	double centre_db[IEM_ANALYSIS_THIRDS];	/* colouration re dry */
	double centre_max_db;			/* the largest |deviation|, signed, */
	double centre_max_hz;			/* … and where, thirds 100 Hz … 10 kHz */
	double centre_rms_db;			/* rms of those bands */
};

/* RT-safe: yes. Centre of third-octave band i (0 … IEM_ANALYSIS_THIRDS - 1)
 * and of ILD octave band i (0 … IEM_ANALYSIS_OCTAVES - 1), Hz. */
IEM_EXPORT double iem_analysis_third_hz(uint32_t i);
IEM_EXPORT double iem_analysis_octave_hz(uint32_t i);

/* RT-safe: yes. Gaussian noise of unit variance, deterministic: the same
 * *state gives the same samples everywhere (xorshift64*, Box-Muller).
 * *state is any value (0 is taken as another fixed seed) and advances. */
IEM_EXPORT void iem_analysis_noise(uint64_t *state, float *out, uint32_t n);

/* RT-safe: no (allocates). The ITD of two ear signals (an HRIR pair, a
 * rendered output), in microseconds; lowpass_hz 0 for broadband. -EINVAL
 * (bad arguments, non-finite samples), -ENODATA (an ear is silent, or
 * the correlation has no positive peak), -ENOMEM. */
IEM_EXPORT int iem_analysis_itd(const float *left, const float *right, uint32_t n,
		uint32_t rate, double lowpass_hz, double *itd_us);

/* RT-safe: no (allocates, plans FFTs). The phase-transform ITD of two ear
 * signals below f_hi Hz (see above), in microseconds. -EINVAL (bad
 * arguments, non-finite samples, f_hi outside 0 … rate / 2), -ENODATA (a
 * silent ear, nothing below f_hi), -E2BIG (n above IEM_CONV_MAX_TAPS),
 * -ENOMEM. */
IEM_EXPORT int iem_analysis_itd_phat(const float *left, const float *right, uint32_t n,
		uint32_t rate, double f_hi, double *itd_us);

/* RT-safe: no (allocates, plans FFTs). IACC of two ear signals, in the
 * band f_lo … f_hi Hz (both 0: broadband); lag_us, when not NULL, gets
 * where |IACF| peaks (positive: the right ear lags). -EINVAL, -ENODATA
 * (a silent ear or band), -E2BIG (n above IEM_CONV_MAX_TAPS), -ENOMEM. */
IEM_EXPORT int iem_analysis_iacc(const float *left, const float *right, uint32_t n,
		uint32_t rate, double f_lo, double f_hi, double *iacc, double *lag_us);

/* RT-safe: no (allocates, plans FFTs). Level in dB (re 1) of the response
 * a (+ b when not NULL), n taps at rate, at each of count frequencies:
 * the power mean over the FFT bins within freq * 2^(+-width_oct / 2), or
 * the nearest bin when none is (width_oct 0: the bin itself). A band
 * reaching above rate / 2 is NAN. -EINVAL, -E2BIG, -ENOMEM. */
IEM_EXPORT int iem_analysis_levels(const float *a, const float *b, uint32_t n, uint32_t rate,
		const double *freq, uint32_t count, double width_oct, double *db);

/* RT-safe: no (allocates, plans FFTs; tens of milliseconds for a 2 s set
 * at 48 kHz). Every figure of struct iem_analysis for a 2 x 2 set (taps
 * { LL, RL, LR, RR }, NULL paths silent) at rate. -EINVAL (not 2 x 2, no
 * taps, non-finite, silent; a bad rate), -E2BIG (above
 * IEM_CONV_MAX_TAPS), -ENOMEM. */
IEM_EXPORT int iem_analysis_run(const struct iem_ir *ir, uint32_t rate, struct iem_analysis *a);

#ifdef __cplusplus
}
#endif

/* curves, targets, EQ fitting */
#include "iem-fit.h"

#endif /* IEM_DSP_H */
