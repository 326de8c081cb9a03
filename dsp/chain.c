/* SPDX-License-Identifier: MIT */
/*
 * The chain: preamp -> correction EQ -> stage (empty for now) -> output gain
 * -> safety limiter -> out, with bypass crossfading to the dry input.
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
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eq.h"
#include "fpenv.h"

#define NEW_BIT 4u

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
	c->phase = 0;
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
	ramp_start(&c->gain, t->gain_db, ramp_now(&c->gain, c->ramp_cells));
	ramp_start(&c->wet, t->params.bypass ? 0.0 : 1.0, ramp_now(&c->wet, c->ramp_cells));
}

static void cell_begin(struct iem_chain *c)
{
	/* A crossfade must finish before the next setting lands, or two
	 * settings applied together could land apart. */
	if (c->pending && !c->xfade.active) {
		start_changes(c, c->pending);
		c->pending = NULL;
	}
	iem_eq_cell_begin(c->bank[c->active]);
	if (c->xfade.active)
		iem_eq_cell_begin(c->bank[c->active ^ 1]);
	ramp_cell_begin(&c->xfade, c->ramp_cells);
	ramp_cell_begin(&c->gain, c->ramp_cells);
	ramp_cell_begin(&c->wet, c->ramp_cells);
}

static void cell_end(struct iem_chain *c)
{
	iem_eq_cell_end(c->bank[c->active]);
	if (c->xfade.active) {
		iem_eq_cell_end(c->bank[c->active ^ 1]);
		if (ramp_cell_end(&c->xfade, c->ramp_cells)) {
			c->active ^= 1;
			ramp_jump(&c->xfade, 0.0);
		}
	}
	ramp_cell_end(&c->gain, c->ramp_cells);
	ramp_cell_end(&c->wet, c->ramp_cells);
}

/* n <= IEM_CELL frames inside one cell. */
static void process_frames(struct iem_chain *c, const float *inl, const float *inr,
		float *outl, float *outr, uint32_t n)
{
	iem_v2d x[IEM_CELL] __attribute__((aligned(16)));
	float dl[IEM_CELL], dr[IEM_CELL], wl[IEM_CELL], wr[IEM_CELL];
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
		dl[i] = l;
		dr[i] = r;
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

	/* The stage slot goes here. */

	double g = c->gain.value;
	const double dg = c->gain.delta;
	for (uint32_t i = 0; i < n; i++) {
		g += dg;
		wl[i] = (float)(x[i][0] * g);
		wr[i] = (float)(x[i][1] * g);
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

void iem_chain_process(struct iem_chain *c, const float *const in[2], float *const out[2], uint32_t n)
{
	unsigned long fpenv = fpenv_enter();
	uint32_t done = 0;

	fetch(c);
	while (done < n) {
		if (c->phase == 0)
			cell_begin(c);
		uint32_t m = IEM_CELL - c->phase;
		if (m > n - done)
			m = n - done;
		process_frames(c, in[0] + done, in[1] + done, out[0] + done, out[1] + done, m);
		c->phase += m;
		done += m;
		if (c->phase == IEM_CELL) {
			cell_end(c);
			c->phase = 0;
		}
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
