/* SPDX-License-Identifier: MIT */
/*
 * The chain: preamp -> correction EQ -> stage (a 2 x 2 convolver, or none)
 * -> output gain -> safety limiter -> out, with bypass crossfading to the
 * dry input.
 *
 * Settings cross from the control thread to the processing thread through a
 * triple buffer: the control side fills its back slot and swaps it into the
 * middle with one atomic exchange; the processing side swaps the middle into
 * its front slot when the "new" bit is set. Neither side ever waits.
 *
 * Everything that changes moves on a grid of IEM_CELL frames: a gain or EQ
 * parameter ramps over IEM_RAMP_MS, an EQ structure change (a band's type or
 * channels) crossfades between two EQ banks, bypass crossfades to dry. A new
 * setting waits while a crossfade runs, so settings applied together always
 * land together.
 *
 * A call is processed in chunks of up to CHUNK frames, in three passes:
 * input check and EQ cell by cell; the stage over the whole chunk (the
 * convolver's cost grows with the number of calls, not frames); then gain,
 * limiter and bypass cell by cell. A setting that lands in a cell during
 * the first pass starts its gain ramps at the same cell in the third, so
 * the output still does not depend on call sizes.
 *
 * The stage: a response set that fits the running convolver is exchanged
 * inside it (equal-power crossfade with the full input history); anything
 * else (on, off, a longer set) brings a new convolver, handed over through
 * `stage_pending` and crossfaded in over IEM_RAMP_MS. The old one comes
 * back through `stage_retired` and is freed on the control thread.
 */
#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eq.h"
#include "fpenv.h"

#define NEW_BIT 4u
#define CHUNK 1024u		/* frames per pass; a multiple of IEM_CELL */

/* Pending "no stage": a pointer that is not NULL and not a convolver. */
static char stage_off_marker;
#define STAGE_OFF ((struct iem_conv *)(void *)&stage_off_marker)

struct iem_chain;
static void fetch_stage(struct iem_chain *c);

struct target {
	struct iem_params params;
	double gain_db;		/* preamp + output gain */
};

/* A scalar that ramps on the cell grid, linear inside a cell. */
struct ramp {
	double from, to;	/* in the ramp's own domain (dB or 0..1) */
	double value;		/* linear gain now */
	double delta;		/* per frame inside the current cell */
	double end;		/* linear gain at the end of the current cell */
	uint32_t step;
	bool active;
	bool db;		/* from/to are dB */
};

struct iem_chain {
	uint32_t rate;
	uint32_t ramp_cells;

	/* control side */
	struct iem_params applied;
	uint32_t back;

	/* shared */
	struct target slots[3];
	uint32_t middle;

	/* processing side */
	uint32_t front;
	const struct target *pending;
	struct iem_eq *bank[2];
	uint32_t active;
	struct ramp xfade;	/* 0 -> 1: from bank[active] to the other */
	struct ramp gain;
	struct ramp wet;	/* 1 = processed, 0 = bypassed */
	uint32_t phase;		/* frames into the current cell */
	struct iem_limiter *limiter;
	uint64_t invalid_samples;
	uint64_t state_resets;
	uint64_t frames;

	/* a setting that landed in this chunk: its gain ramps start at the
	 * cell `land_at` frames in, in the output pass */
	const struct target *land;
	uint32_t land_at;

	/* the stage, processing side */
	struct iem_conv *stage[2];	/* [0] in use (NULL: none); [1] fading in */
	bool stage_fading;
	uint32_t stage_pos, stage_len;	/* frames into the fade, its length */

	/* the stage, control side */
	struct iem_conv *stage_ctl;	/* the newest convolver handed over */
	struct iem_stage_info stage_info;
	struct iem_hrtf *hrtf;		/* the room's, kept while stage.hrtf and
					 * hrtf.head_radius stay: loading a SOFA
					 * file takes far longer than a room */
	char hrtf_key[IEM_PATH_MAX + 32];

	/* the stage, shared */
	struct iem_conv *stage_pending;
	struct iem_conv *stage_retired;

	/* chunk buffers */
	float dl[CHUNK], dr[CHUNK];	/* checked input (for bypass) */
	float xl[CHUNK], xr[CHUNK];	/* after the EQ, then after the stage */
	float yl[CHUNK], yr[CHUNK];	/* the incoming stage while fading */
};

/* ---- scalar ramps ------------------------------------------------------ */

static double ramp_eval(const struct ramp *r, double x)
{
	double v = r->from + (r->to - r->from) * iem_ramp_shape(x);
	return r->db ? pow(10.0, v / 20.0) : v;
}

static void ramp_jump(struct ramp *r, double to)
{
	r->from = r->to = to;
	r->active = false;
	r->delta = 0.0;
	r->value = r->end = ramp_eval(r, 1.0);
}

static void ramp_start(struct ramp *r, double to, double now)
{
	if (to == r->to && (r->active || r->from == to))
		return;
	r->from = now;
	r->to = to;
	r->step = 0;
	r->active = true;
}

/* Where the ramp is now, in its own domain. */
static double ramp_now(const struct ramp *r, uint32_t cells)
{
	if (!r->active)
		return r->to;
	return r->from + (r->to - r->from) * iem_ramp_shape((double)r->step / cells);
}

static void ramp_cell_begin(struct ramp *r, uint32_t cells)
{
	if (!r->active)
		return;
	r->end = ramp_eval(r, (double)(r->step + 1) / cells);
	r->delta = (r->end - r->value) / IEM_CELL;
}

/* Returns true when the ramp just finished. */
static bool ramp_cell_end(struct ramp *r, uint32_t cells)
{
	if (!r->active)
		return false;
	r->value = r->end;
	r->delta = 0.0;
	if (++r->step < cells)
		return false;
	r->active = false;
	r->from = r->to;
	return true;
}

/* ---- life cycle -------------------------------------------------------- */

static int make_target(struct iem_chain *c, const struct iem_params *p, struct target *t,
		struct iem_headroom *hr)
{
	struct iem_headroom h;

	if (!isfinite(p->output_gain) || p->output_gain < IEM_OUTPUT_GAIN_MIN ||
	    p->output_gain > IEM_OUTPUT_GAIN_MAX)
		return -EINVAL;
	if (!p->preamp_auto && (!isfinite(p->preamp) || p->preamp < IEM_PREAMP_MIN ||
				p->preamp > IEM_PREAMP_MAX))
		return -EINVAL;
	for (int i = 0; i < IEM_MAX_BANDS; i++) {
		const struct iem_band *b = &p->band[i];
		if ((unsigned)b->type >= IEM_FILTER_TYPE_COUNT)
			return -EINVAL;
		if (b->type == IEM_FILTER_OFF)
			continue;
		if (!(b->freq >= IEM_FREQ_MIN && b->freq <= IEM_FREQ_MAX) ||
		    !(b->q >= IEM_Q_MIN && b->q <= IEM_Q_MAX) ||
		    !(b->gain >= IEM_GAIN_MIN && b->gain <= IEM_GAIN_MAX) ||
		    (b->channels != IEM_CHANNELS_LEFT && b->channels != IEM_CHANNELS_RIGHT &&
		     b->channels != IEM_CHANNELS_BOTH))
			return -EINVAL;
	}

	iem_params_headroom(p, c->rate, &h);
	t->params = *p;
	t->gain_db = h.preamp + p->output_gain;
	if (hr)
		*hr = h;
	return 0;
}

/* Processing side: lands on t at once, no ramps. */
static void jump_to(struct iem_chain *c, const struct target *t)
{
	iem_eq_configure(c->bank[c->active], t->params.band);
	c->xfade.active = false;
	ramp_jump(&c->xfade, 0.0);
	ramp_jump(&c->gain, t->gain_db);
	ramp_jump(&c->wet, t->params.bypass ? 0.0 : 1.0);
}

struct iem_chain *iem_chain_new(uint32_t rate)
{
	struct iem_chain *c;
	struct iem_params p;
	int r;

	if (rate < IEM_MIN_RATE || rate > IEM_MAX_RATE) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->rate = rate;
	c->ramp_cells = (uint32_t)lround(IEM_RAMP_MS / 1000.0 * rate / IEM_CELL);
	if (c->ramp_cells == 0)
		c->ramp_cells = 1;

	for (int i = 0; i < 2; i++) {
		void *mem = NULL;
		if (posix_memalign(&mem, 64, sizeof(struct iem_eq)) != 0)
			goto error_nomem;
		c->bank[i] = mem;
		iem_eq_init(c->bank[i], rate, c->ramp_cells);
	}
	c->limiter = iem_limiter_new(rate);
	if (c->limiter == NULL)
		goto error_nomem;

	c->gain.db = true;
	c->stage_len = c->ramp_cells * IEM_CELL;
	c->front = 0;
	c->middle = 1;
	c->back = 2;

	iem_params_init(&p);
	if ((r = make_target(c, &p, &c->slots[c->front], NULL)) < 0) {
		iem_chain_free(c);
		errno = -r;
		return NULL;
	}
	c->applied = p;
	jump_to(c, &c->slots[c->front]);
	return c;

error_nomem:
	iem_chain_free(c);
	errno = ENOMEM;
	return NULL;
}

struct iem_chain *iem_chain_free(struct iem_chain *c)
{
	if (c == NULL)
		return NULL;
	free(c->bank[0]);
	free(c->bank[1]);
	iem_limiter_free(c->limiter);
	iem_conv_free(c->stage[0]);
	iem_conv_free(c->stage[1]);
	if (c->stage_pending != STAGE_OFF)
		iem_conv_free(c->stage_pending);
	iem_conv_free(c->stage_retired);
	iem_hrtf_free(c->hrtf);
	free(c);
	return NULL;
}

uint32_t iem_chain_get_rate(const struct iem_chain *c)
{
	return c->rate;
}

int iem_chain_apply(struct iem_chain *c, const struct iem_params *p, struct iem_headroom *headroom)
{
	struct target *t = &c->slots[c->back];
	int r;

	if ((r = make_target(c, p, t, headroom)) < 0)
		return r;
	c->applied = *p;
	c->back = __atomic_exchange_n(&c->middle, c->back | NEW_BIT, __ATOMIC_ACQ_REL) & 3u;
	return 0;
}

/* ---- the stage, control side --------------------------------------------- */

/* Energy of h (plus `tail` frames of ringing) through one biquad. */
static double band_energy(const struct iem_biquad *bq, const float *h, const float *h2,
		uint32_t len, uint32_t tail)
{
	double x1 = 0, x2 = 0, y1 = 0, y2 = 0, e = 0;

	for (uint32_t j = 0; j < len + tail; j++) {
		double x = j < len ? (h ? h[j] : 0.0) + (h2 ? h2[j] : 0.0) : 0.0;
		double y = bq->b0 * x + bq->b1 * x1 + bq->b2 * x2 - bq->a1 * y1 - bq->a2 * y2;
		x2 = x1;
		x1 = x;
		y2 = y1;
		y1 = y;
		e += y * y;
	}
	return e;
}

/*
 * The stage's loudness for centred sound (L = R) against the dry signal:
 * the mean, over octave bands 125 Hz … 8 kHz and both ears, of the power
 * gain of (L -> ear) + (R -> ear). Octave bands weight the spectrum the
 * way loudness does (per octave, not per hertz), so a bright or boomy
 * response does not dominate. Returns the power gain.
 */
static double stage_power_gain(uint32_t rate, const struct iem_ir *ir)
{
	static const double centres[] = { 125, 250, 500, 1000, 2000, 4000, 8000 };
	const uint32_t tail = rate / 10;
	const float one[1] = { 1.0f };
	double sum = 0.0;
	uint32_t n = 0;

	for (size_t b = 0; b < sizeof(centres) / sizeof(centres[0]); b++) {
		struct iem_biquad bq;
		if (centres[b] >= 0.45 * rate ||
		    iem_biquad_design(&bq, IEM_FILTER_BANDPASS, rate, centres[b], M_SQRT2, 0.0) < 0)
			continue;
		double ref = band_energy(&bq, one, NULL, 1, tail);
		for (uint32_t o = 0; o < 2; o++) {
			sum += band_energy(&bq, ir->taps[o * 2 + 0], ir->taps[o * 2 + 1], ir->length, tail) / ref;
			n++;
		}
	}
	return n ? sum / n : 1.0;
}

/* normalise: scale for centred loudness (iem_chain_set_stage), or take
 * the set as it is (a crossfeed, level-matched by design). */
static int set_stage(struct iem_chain *c, const struct iem_ir *ir, bool normalise,
		struct iem_stage_info *info)
{
	struct iem_stage_info si = { 0 };
	struct iem_conv *next, *old;
	float *scaled[4] = { NULL };
	int r = 0;

	/* what the processing side has finished with */
	iem_conv_free(__atomic_exchange_n(&c->stage_retired, NULL, __ATOMIC_ACQ_REL));

	if (ir == NULL) {
		if (c->stage_ctl != NULL) {
			old = __atomic_exchange_n(&c->stage_pending, STAGE_OFF, __ATOMIC_ACQ_REL);
			if (old != STAGE_OFF)
				iem_conv_free(old);
			c->stage_ctl = NULL;
		}
		c->stage_info = si;
		if (info)
			*info = si;
		return 0;
	}
	if (ir->n_inputs != 2 || ir->n_outputs != 2 || ir->taps == NULL || ir->length == 0)
		return -EINVAL;
	if (ir->length > IEM_CONV_MAX_TAPS)
		return -E2BIG;
	for (uint32_t k = 0; k < 4; k++)
		for (uint32_t j = 0; ir->taps[k] && j < ir->length; j++)
			if (!isfinite(ir->taps[k][j]))
				return -EINVAL;

	double power = stage_power_gain(c->rate, ir);
	if (!(power > 1e-12))
		return -EINVAL;	/* silent in every band: nothing to listen to */
	const float scale = normalise ? (float)(1.0 / sqrt(power)) : 1.0f;
	si.gain_db = 20.0 * log10(scale);
	si.length = ir->length;

	for (uint32_t k = 0; k < 4; k++) {
		if (ir->taps[k] == NULL)
			continue;
		if ((scaled[k] = malloc((size_t)ir->length * sizeof(float))) == NULL) {
			r = -ENOMEM;
			goto done;
		}
		for (uint32_t j = 0; j < ir->length; j++)
			scaled[k][j] = ir->taps[k][j] * scale;
	}
	struct iem_ir sir = { 2, 2, ir->length, (const float *const *)scaled };

	/* the running convolver, when the set fits it: crossfaded inside */
	if (c->stage_ctl != NULL && (r = iem_conv_set_ir(c->stage_ctl, &sir)) != -E2BIG) {
		if (r == 0) {
			si.exchanged = true;
			goto done_ok;
		}
		goto done;
	}
	/* room for later sets of up to 2 s without a new convolver */
	uint64_t room = (uint64_t)c->rate * 2;
	struct iem_conv_config cfg = {
		.max_length = (uint32_t)(room > IEM_CONV_MAX_TAPS ? IEM_CONV_MAX_TAPS : room),
		.xfade_frames = (uint32_t)lround(IEM_STAGE_XFADE_MS / 1000.0 * c->rate),
	};
	if ((next = iem_conv_new(&sir, &cfg)) == NULL) {
		r = -errno;
		goto done;
	}
	old = __atomic_exchange_n(&c->stage_pending, next, __ATOMIC_ACQ_REL);
	if (old != NULL && old != STAGE_OFF)
		iem_conv_free(old);	/* never taken */
	c->stage_ctl = next;

done_ok:
	c->stage_info = si;
	if (info)
		*info = si;
	r = 0;
done:
	for (uint32_t k = 0; k < 4; k++)
		free(scaled[k]);
	return r;
}

int iem_chain_set_stage(struct iem_chain *c, const struct iem_ir *ir, struct iem_stage_info *info)
{
	return set_stage(c, ir, true, info);
}

/* The HRTF stage.hrtf and hrtf.head_radius ask for, loaded once. */
static int room_hrtf(struct iem_chain *c, const struct iem_params *p, char *err, size_t err_size)
{
	struct iem_hrtf_config hc;
	char key[sizeof(c->hrtf_key)];

	snprintf(key, sizeof(key), "%.17g %s", p->head_radius, p->stage_hrtf);
	if (c->hrtf != NULL && strcmp(key, c->hrtf_key) == 0)
		return 0;
	iem_hrtf_config_init(&hc);
	hc.head_radius = p->head_radius;
	if (strcasecmp(p->stage_hrtf, "auto") == 0 || p->stage_hrtf[0] == '\0') {
		hc.kind = IEM_HRTF_AUTO;
	} else if (strcasecmp(p->stage_hrtf, "model") == 0) {
		hc.kind = IEM_HRTF_MODEL;
	} else {
		hc.kind = IEM_HRTF_SOFA;
		hc.sofa_path = p->stage_hrtf;
	}
	struct iem_hrtf *h = iem_hrtf_new(&hc, c->rate, err, err_size);
	if (h == NULL)
		return -errno;
	iem_hrtf_free(c->hrtf);
	c->hrtf = h;
	snprintf(c->hrtf_key, sizeof(c->hrtf_key), "%s", key);
	return 0;
}

static int load_room(struct iem_chain *c, const struct iem_params *p,
		struct iem_stage_info *info, char *err, size_t err_size)
{
	struct iem_room_config cfg;
	struct iem_room *room = NULL;
	char why[512];
	int r;

	if ((r = room_hrtf(c, p, why, sizeof(why))) < 0) {
		snprintf(err, err_size, "stage.hrtf = %s: %s", p->stage_hrtf, why);
		return r;
	}
	iem_room_config_init(&cfg);
	iem_room_config_from_params(&cfg, p);
	if ((r = iem_room_render(&cfg, c->hrtf, c->rate, &room, why, sizeof(why))) < 0) {
		snprintf(err, err_size, "stage.mode = room: %s", why);
		return r;
	}
	if ((r = set_stage(c, &room->ir, true, info)) < 0)
		snprintf(err, err_size, "stage.mode = room: the stage refused it: %s", strerror(-r));
	else if (info != NULL)
		info->hrtf = iem_hrtf_describe(c->hrtf);
	iem_room_free(room);
	return r;
}

static int load_crossfeed(struct iem_chain *c, const struct iem_params *p,
		struct iem_stage_info *info, char *err, size_t err_size)
{
	struct iem_crossfeed cf;
	double fcut = p->crossfeed_fcut, feed = p->crossfeed_feed;
	int r;

	if (p->crossfeed_preset != IEM_CROSSFEED_CUSTOM &&
	    iem_crossfeed_preset_levels(p->crossfeed_preset, &fcut, &feed) < 0) {
		snprintf(err, err_size, "crossfeed.preset %d is not known", (int)p->crossfeed_preset);
		return -EINVAL;
	}
	if ((r = iem_crossfeed_design_type(&cf, p->crossfeed_type, fcut, feed, p->crossfeed_delay,
			c->rate)) < 0) {
		snprintf(err, err_size, "crossfeed: type %d, %g Hz, %g dB, %g us is outside "
				"%g … %g Hz, %g … %g dB, 0 … %g us", (int)p->crossfeed_type,
				fcut, feed, p->crossfeed_delay, IEM_CROSSFEED_FCUT_MIN, IEM_CROSSFEED_FCUT_MAX,
				IEM_CROSSFEED_FEED_MIN, IEM_CROSSFEED_FEED_MAX, IEM_CROSSFEED_DELAY_MAX);
		return r;
	}
	uint32_t n = iem_crossfeed_length(&cf);
	float *direct = calloc(n, sizeof(float)), *cross = calloc(n, sizeof(float));
	if (direct == NULL || cross == NULL) {
		free(direct);
		free(cross);
		snprintf(err, err_size, "crossfeed: out of memory");
		return -ENOMEM;
	}
	iem_crossfeed_ir(&cf, direct, cross, n);
	const float *taps[4] = { direct, cross, cross, direct };	/* LL, RL, LR, RR */
	struct iem_ir ir = { 2, 2, n, taps };
	if ((r = set_stage(c, &ir, false, info)) < 0)
		snprintf(err, err_size, "crossfeed: the stage refused it: %s", strerror(-r));
	free(direct);
	free(cross);
	return r;
}

int iem_chain_load_stage(struct iem_chain *c, const struct iem_params *p,
		struct iem_stage_info *info, char *err, size_t err_size)
{
	struct iem_ir_file *f = NULL;
	int r;

	if (p->stage_mode == IEM_STAGE_OFF)
		return iem_chain_set_stage(c, NULL, info);
	if (p->stage_mode == IEM_STAGE_ROOM)
		return load_room(c, p, info, err, err_size);
	if (p->stage_mode == IEM_STAGE_CROSSFEED)
		return load_crossfeed(c, p, info, err, err_size);
	if (p->stage_mode != IEM_STAGE_BRIR) {
		snprintf(err, err_size, "stage.mode %d is not known", (int)p->stage_mode);
		return -EINVAL;
	}
	if (p->stage_brir[0] == '\0') {
		snprintf(err, err_size, "stage.mode = brir needs a file in stage.brir");
		return -EINVAL;
	}
	if ((r = iem_ir_file_load(p->stage_brir, c->rate, IEM_IR_LAYOUT_AUTO, &f, err, err_size)) < 0)
		return r;
	if ((r = iem_chain_set_stage(c, &f->ir, info)) < 0)
		snprintf(err, err_size, "%s: the stage refused it: %s", p->stage_brir, strerror(-r));
	else if (info != NULL) {
		info->file_rate = f->file_rate;
		info->file_channels = f->file_channels;
		info->layout = iem_ir_layout_name(f->layout);
	}
	iem_ir_file_free(f);
	return r;
}

void iem_chain_get_params(const struct iem_chain *c, struct iem_params *p)
{
	*p = c->applied;
}

/* ---- processing -------------------------------------------------------- */

static void fetch(struct iem_chain *c)
{
	if (__atomic_load_n(&c->middle, __ATOMIC_ACQUIRE) & NEW_BIT) {
		c->front = __atomic_exchange_n(&c->middle, c->front, __ATOMIC_ACQ_REL) & 3u;
		c->pending = &c->slots[c->front];
	}
}

void iem_chain_reset(struct iem_chain *c)
{
	fetch(c);
	if (c->pending) {
		jump_to(c, c->pending);
		c->pending = NULL;
	} else {
		jump_to(c, &c->slots[c->front]);
	}
	iem_eq_clear_state(c->bank[c->active]);
	iem_limiter_reset(c->limiter);
	c->land = NULL;
	c->phase = 0;
	/* a stage fading in is taken at once */
	fetch_stage(c);
	if (c->stage_fading) {
		c->stage_pos = c->stage_len;
		if (c->stage[0] != NULL)
			__atomic_store_n(&c->stage_retired, c->stage[0], __ATOMIC_RELEASE);
		c->stage[0] = c->stage[1];
		c->stage[1] = NULL;
		c->stage_fading = false;
	}
	if (c->stage[0] != NULL)
		iem_conv_reset(c->stage[0]);
}

static void start_changes(struct iem_chain *c, const struct target *t)
{
	struct iem_eq *cur = c->bank[c->active];

	if (iem_eq_same_structure(cur, t->params.band)) {
		iem_eq_retarget(cur, t->params.band);
	} else {
		struct iem_eq *next = c->bank[c->active ^ 1];
		iem_eq_configure(next, t->params.band);
		iem_eq_clear_state(next);
		iem_eq_copy_state(next, cur);
		ramp_jump(&c->xfade, 0.0);
		ramp_start(&c->xfade, 1.0, 0.0);
	}
	/* the gain and bypass ramps start in pass 3, at the same cell */
}

/* ---- pass 1: input check and EQ --------------------------------------- */

static void eq_cell_begin(struct iem_chain *c, uint32_t at)
{
	/* A crossfade must finish before the next setting lands, or two
	 * settings applied together could land apart. */
	if (c->pending && !c->xfade.active) {
		start_changes(c, c->pending);
		c->land = c->pending;
		c->land_at = at;
		c->pending = NULL;
	}
	iem_eq_cell_begin(c->bank[c->active]);
	if (c->xfade.active)
		iem_eq_cell_begin(c->bank[c->active ^ 1]);
	ramp_cell_begin(&c->xfade, c->ramp_cells);
}

static void eq_cell_end(struct iem_chain *c)
{
	iem_eq_cell_end(c->bank[c->active]);
	if (c->xfade.active) {
		iem_eq_cell_end(c->bank[c->active ^ 1]);
		if (ramp_cell_end(&c->xfade, c->ramp_cells)) {
			c->active ^= 1;
			ramp_jump(&c->xfade, 0.0);
		}
	}
}

/* n <= IEM_CELL frames inside one cell, at offset `at` of the chunk. */
static void eq_frames(struct iem_chain *c, const float *inl, const float *inr, uint32_t at, uint32_t n)
{
	iem_v2d x[IEM_CELL] __attribute__((aligned(16)));
	uint32_t invalid = 0;

	for (uint32_t i = 0; i < n; i++) {
		float l = inl[i], r = inr[i];
		/* Written to reject NaN as well: NaN fails every comparison. */
		if (!(fabsf(l) <= IEM_INPUT_MAX)) {
			l = 0.0f;
			invalid++;
		}
		if (!(fabsf(r) <= IEM_INPUT_MAX)) {
			r = 0.0f;
			invalid++;
		}
		c->dl[at + i] = l;
		c->dr[at + i] = r;
		x[i] = (iem_v2d) { l, r };
	}
	if (invalid)
		__atomic_store_n(&c->invalid_samples, c->invalid_samples + invalid, __ATOMIC_RELAXED);

	if (c->xfade.active) {
		iem_v2d y[IEM_CELL] __attribute__((aligned(16)));
		memcpy(y, x, n * sizeof(x[0]));
		iem_eq_process(c->bank[c->active], x, n);
		iem_eq_process(c->bank[c->active ^ 1], y, n);
		double g = c->xfade.value;
		for (uint32_t i = 0; i < n; i++) {
			g += c->xfade.delta;
			x[i] = x[i] + (y[i] - x[i]) * g;
		}
		c->xfade.value = g;
	} else {
		iem_eq_process(c->bank[c->active], x, n);
	}
	for (uint32_t i = 0; i < n; i++) {
		c->xl[at + i] = (float)x[i][0];
		c->xr[at + i] = (float)x[i][1];
	}
}

static void pass_eq(struct iem_chain *c, const float *inl, const float *inr, uint32_t n)
{
	uint32_t done = 0;

	while (done < n) {
		if (c->phase == 0)
			eq_cell_begin(c, done);
		uint32_t m = IEM_CELL - c->phase;
		if (m > n - done)
			m = n - done;
		eq_frames(c, inl + done, inr + done, done, m);
		c->phase += m;
		done += m;
		if (c->phase == IEM_CELL) {
			eq_cell_end(c);
			c->phase = 0;
		}
	}
}

/* ---- pass 2: the stage --------------------------------------------------- */

/* At the start of a call: take a new stage unless one is fading in, or the
 * control side has not yet collected the last one retired. */
static void fetch_stage(struct iem_chain *c)
{
	struct iem_conv *next;

	if (c->stage_fading || __atomic_load_n(&c->stage_retired, __ATOMIC_ACQUIRE) != NULL ||
	    __atomic_load_n(&c->stage_pending, __ATOMIC_RELAXED) == NULL)
		return;
	next = __atomic_exchange_n(&c->stage_pending, NULL, __ATOMIC_ACQ_REL);
	if (next == NULL)
		return;
	c->stage[1] = next == STAGE_OFF ? NULL : next;
	c->stage_fading = true;
	c->stage_pos = 0;
}

static void stage_run(struct iem_conv *conv, float *l, float *r, float *ol, float *or, uint32_t n)
{
	const float *in[2] = { l, r };
	float *out[2] = { ol, or };

	if (conv == NULL) {
		if (ol != l) {
			memcpy(ol, l, n * sizeof(float));
			memcpy(or, r, n * sizeof(float));
		}
		return;
	}
	iem_conv_process(conv, in, out, n);
}

static void pass_stage(struct iem_chain *c, uint32_t n)
{
	if (!c->stage_fading) {
		if (c->stage[0] != NULL)
			stage_run(c->stage[0], c->xl, c->xr, c->xl, c->xr, n);
		return;
	}

	stage_run(c->stage[1], c->xl, c->xr, c->yl, c->yr, n);
	stage_run(c->stage[0], c->xl, c->xr, c->xl, c->xr, n);
	/* Two convolvers: equal power (their outputs are mostly uncorrelated);
	 * to or from no stage: equal amplitude (dry and wet are correlated). */
	const bool power = c->stage[0] != NULL && c->stage[1] != NULL;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t pos = c->stage_pos + i;
		double g = pos >= c->stage_len ? 1.0 : iem_ramp_shape((double)pos / c->stage_len);
		double a = power ? cos(M_PI_2 * g) : 1.0 - g, b = power ? sin(M_PI_2 * g) : g;
		c->xl[i] = (float)(a * c->xl[i] + b * c->yl[i]);
		c->xr[i] = (float)(a * c->xr[i] + b * c->yr[i]);
	}
	c->stage_pos += n;
	if (c->stage_pos >= c->stage_len) {
		if (c->stage[0] != NULL)
			__atomic_store_n(&c->stage_retired, c->stage[0], __ATOMIC_RELEASE);
		c->stage[0] = c->stage[1];
		c->stage[1] = NULL;
		c->stage_fading = false;
	}
}

/* ---- pass 3: gain, limiter, bypass -------------------------------------- */

static void out_cell_begin(struct iem_chain *c, uint32_t at)
{
	if (c->land != NULL && c->land_at == at) {
		const struct target *t = c->land;
		ramp_start(&c->gain, t->gain_db, ramp_now(&c->gain, c->ramp_cells));
		ramp_start(&c->wet, t->params.bypass ? 0.0 : 1.0, ramp_now(&c->wet, c->ramp_cells));
		c->land = NULL;
	}
	ramp_cell_begin(&c->gain, c->ramp_cells);
	ramp_cell_begin(&c->wet, c->ramp_cells);
}

static void out_cell_end(struct iem_chain *c)
{
	ramp_cell_end(&c->gain, c->ramp_cells);
	ramp_cell_end(&c->wet, c->ramp_cells);
}

static void out_frames(struct iem_chain *c, float *outl, float *outr, uint32_t at, uint32_t n)
{
	float wl[IEM_CELL], wr[IEM_CELL];
	const float *xl = c->xl + at, *xr = c->xr + at, *dl = c->dl + at, *dr = c->dr + at;

	double g = c->gain.value;
	const double dg = c->gain.delta;
	for (uint32_t i = 0; i < n; i++) {
		g += dg;
		wl[i] = (float)(xl[i] * g);
		wr[i] = (float)(xr[i] * g);
	}
	c->gain.value = g;

	iem_limiter_process(c->limiter, wl, wr, n);

	if (!c->wet.active && c->wet.value == 1.0) {
		memcpy(outl, wl, n * sizeof(float));
		memcpy(outr, wr, n * sizeof(float));
	} else if (!c->wet.active && c->wet.value == 0.0) {
		memcpy(outl, dl, n * sizeof(float));
		memcpy(outr, dr, n * sizeof(float));
	} else {
		double w = c->wet.value;
		for (uint32_t i = 0; i < n; i++) {
			w += c->wet.delta;
			outl[i] = (float)(dl[i] + (wl[i] - dl[i]) * w);
			outr[i] = (float)(dr[i] + (wr[i] - dr[i]) * w);
		}
		c->wet.value = w;
	}
}

static void pass_out(struct iem_chain *c, float *outl, float *outr, uint32_t phase, uint32_t n)
{
	uint32_t done = 0;

	while (done < n) {
		if (phase == 0)
			out_cell_begin(c, done);
		uint32_t m = IEM_CELL - phase;
		if (m > n - done)
			m = n - done;
		out_frames(c, outl + done, outr + done, done, m);
		phase += m;
		done += m;
		if (phase == IEM_CELL) {
			out_cell_end(c);
			phase = 0;
		}
	}
}

void iem_chain_process(struct iem_chain *c, const float *const in[2], float *const out[2], uint32_t n)
{
	unsigned long fpenv = fpenv_enter();
	uint32_t done = 0;

	fetch(c);
	fetch_stage(c);
	while (done < n) {
		uint32_t m = n - done < CHUNK ? n - done : CHUNK;
		uint32_t phase = c->phase;
		/* in may be out: pass 1 copies the input aside first */
		pass_eq(c, in[0] + done, in[1] + done, m);
		pass_stage(c, m);
		pass_out(c, out[0] + done, out[1] + done, phase, m);
		done += m;
	}

	/* both banks, always: each check also flushes tiny state */
	bool bad = iem_eq_check_state(c->bank[0]);
	bad = iem_eq_check_state(c->bank[1]) || bad;
	if (bad)
		__atomic_store_n(&c->state_resets, c->state_resets + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&c->frames, c->frames + n, __ATOMIC_RELAXED);
	fpenv_leave(fpenv);
}

void iem_chain_get_stats(const struct iem_chain *c, struct iem_chain_stats *s)
{
	iem_limiter_get_counts(c->limiter, &s->limiter_events, &s->limiter_samples);
	s->invalid_samples = __atomic_load_n(&c->invalid_samples, __ATOMIC_RELAXED);
	s->state_resets = __atomic_load_n(&c->state_resets, __ATOMIC_RELAXED);
	s->frames = __atomic_load_n(&c->frames, __ATOMIC_RELAXED);
}
