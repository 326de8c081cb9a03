/* SPDX-License-Identifier: MIT */
/*
 * The correction EQ: up to 32 RBJ biquads in cascade, linked or per channel,
 * with parameter moves ramped on a fixed grid and coefficients interpolated
 * per frame inside each grid cell.
 */
#include <math.h>
#include <string.h>

#include "eq.h"


double iem_ramp_shape(double x)
{
	if (x <= 0.0)
		return 0.0;
	if (x >= 1.0)
		return 1.0;
	return (0.42 * x - 0.5 / (2.0 * M_PI) * sin(2.0 * M_PI * x) +
			0.08 / (4.0 * M_PI) * sin(4.0 * M_PI * x)) / 0.42;
}

static void design_lanes(const struct iem_eq *eq, const struct iem_band *b, iem_v2d c[5])
{
	struct iem_biquad bq;

	if (iem_biquad_design(&bq, b->type, eq->rate, b->freq, b->q, b->gain) < 0)
		bq = (struct iem_biquad) { .b0 = 1.0 };
	const double v[5] = { bq.b0, bq.b1, bq.b2, bq.a1, bq.a2 };
	const double id[5] = { 1.0, 0.0, 0.0, 0.0, 0.0 };
	for (int k = 0; k < 5; k++) {
		c[k][0] = (b->channels & IEM_CHANNELS_LEFT) ? v[k] : id[k];
		c[k][1] = (b->channels & IEM_CHANNELS_RIGHT) ? v[k] : id[k];
	}
}

void iem_eq_init(struct iem_eq *eq, double rate, uint32_t ramp_cells)
{
	memset(eq, 0, sizeof(*eq));
	eq->rate = rate;
	eq->ramp_cells = ramp_cells ? ramp_cells : 1;
	for (int i = 0; i < IEM_MAX_BANDS; i++) {
		eq->band[i] = (struct iem_band) {
			.type = IEM_FILTER_OFF, .freq = 1000.0, .q = M_SQRT1_2,
			.channels = IEM_CHANNELS_BOTH,
		};
		eq->slot_of[i] = -1;
	}
}

static bool same_kind(const struct iem_band *a, const struct iem_band *b)
{
	if (a->type != b->type)
		return false;
	return a->type == IEM_FILTER_OFF || a->channels == b->channels;
}

bool iem_eq_same_structure(const struct iem_eq *eq, const struct iem_band bands[IEM_MAX_BANDS])
{
	for (int i = 0; i < IEM_MAX_BANDS; i++)
		if (!same_kind(&eq->band[i], &bands[i]))
			return false;
	return true;
}

void iem_eq_configure(struct iem_eq *eq, const struct iem_band bands[IEM_MAX_BANDS])
{
	struct eq_slot old[IEM_MAX_BANDS];
	int8_t old_slot_of[IEM_MAX_BANDS];
	struct iem_band old_band[IEM_MAX_BANDS];

	memcpy(old, eq->slot, sizeof(old));
	memcpy(old_slot_of, eq->slot_of, sizeof(old_slot_of));
	memcpy(old_band, eq->band, sizeof(old_band));

	eq->n_slots = 0;
	eq->n_ramping = 0;
	for (int i = 0; i < IEM_MAX_BANDS; i++) {
		eq->band[i] = bands[i];
		eq->ramp[i].active = false;
		eq->slot_of[i] = -1;
		if (bands[i].type == IEM_FILTER_OFF)
			continue;

		struct eq_slot *s = &eq->slot[eq->n_slots];
		memset(s, 0, sizeof(*s));
		design_lanes(eq, &bands[i], s->c);
		memcpy(s->c_end, s->c, sizeof(s->c));
		if (old_slot_of[i] >= 0 && same_kind(&old_band[i], &bands[i])) {
			s->s1 = old[old_slot_of[i]].s1;
			s->s2 = old[old_slot_of[i]].s2;
		}
		eq->slot_of[i] = (int8_t)eq->n_slots;
		eq->band_of[eq->n_slots] = (uint8_t)i;
		eq->n_slots++;
	}
}

static bool same_values(const struct iem_band *a, const struct iem_band *b)
{
	return a->freq == b->freq && a->q == b->q && a->gain == b->gain;
}

void iem_eq_retarget(struct iem_eq *eq, const struct iem_band bands[IEM_MAX_BANDS])
{
	for (int i = 0; i < IEM_MAX_BANDS; i++) {
		struct eq_ramp *r = &eq->ramp[i];
		const struct iem_band *want = r->active ? &r->to : &eq->band[i];

		if (bands[i].type == IEM_FILTER_OFF || same_values(want, &bands[i]))
			continue;
		if (!r->active)
			eq->n_ramping++;
		r->active = true;
		r->from = eq->band[i];
		r->to = bands[i];
		r->step = 0;
	}
}

void iem_eq_copy_state(struct iem_eq *eq, const struct iem_eq *src)
{
	for (int i = 0; i < IEM_MAX_BANDS; i++) {
		int a = eq->slot_of[i], b = src->slot_of[i];
		if (a < 0 || b < 0 || !same_kind(&eq->band[i], &src->band[i]))
			continue;
		eq->slot[a].s1 = src->slot[b].s1;
		eq->slot[a].s2 = src->slot[b].s2;
	}
}

void iem_eq_clear_state(struct iem_eq *eq)
{
	for (uint32_t k = 0; k < eq->n_slots; k++) {
		eq->slot[k].s1 = (iem_v2d) { 0.0, 0.0 };
		eq->slot[k].s2 = (iem_v2d) { 0.0, 0.0 };
	}
}

/* Moves in the domain where equal steps sound equal: log frequency, log Q,
 * gain in dB. */
static void ramp_point(const struct eq_ramp *r, double x, struct iem_band *out)
{
	const double s = iem_ramp_shape(x);
	*out = r->to;
	out->freq = exp(log(r->from.freq) + (log(r->to.freq) - log(r->from.freq)) * s);
	out->q = exp(log(r->from.q) + (log(r->to.q) - log(r->from.q)) * s);
	out->gain = r->from.gain + (r->to.gain - r->from.gain) * s;
}

void iem_eq_cell_begin(struct iem_eq *eq)
{
	if (eq->n_ramping == 0)
		return;
	for (int i = 0; i < IEM_MAX_BANDS; i++) {
		struct eq_ramp *r = &eq->ramp[i];
		int k = eq->slot_of[i];
		if (!r->active || k < 0)
			continue;
		struct eq_slot *s = &eq->slot[k];
		struct iem_band next;
		ramp_point(r, (double)(r->step + 1) / eq->ramp_cells, &next);
		design_lanes(eq, &next, s->c_end);
		for (int j = 0; j < 5; j++)
			s->dc[j] = (s->c_end[j] - s->c[j]) * (1.0 / IEM_CELL);
	}
}

void iem_eq_cell_end(struct iem_eq *eq)
{
	if (eq->n_ramping == 0)
		return;
	for (int i = 0; i < IEM_MAX_BANDS; i++) {
		struct eq_ramp *r = &eq->ramp[i];
		int k = eq->slot_of[i];
		if (!r->active || k < 0)
			continue;
		struct eq_slot *s = &eq->slot[k];
		memcpy(s->c, s->c_end, sizeof(s->c));
		memset(s->dc, 0, sizeof(s->dc));
		r->step++;
		ramp_point(r, (double)r->step / eq->ramp_cells, &eq->band[i]);
		if (r->step >= eq->ramp_cells) {
			eq->band[i] = r->to;
			r->active = false;
			eq->n_ramping--;
		}
	}
}

/* Where the CPU has AVX2 and FMA (x86-64-v3), GCC builds a second copy of
 * the static kernels and picks one when the library loads. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define IEM_HOT __attribute__((target_clones("default", "arch=x86-64-v3")))
#endif
#endif
#ifndef IEM_HOT
#define IEM_HOT
#endif

/*
 * The static kernels run transposed direct form II with the state update
 * regrouped so that the loop-carried path is one multiply and one add:
 *
 *   y   = b0 x + s1
 *   s1' = -a1 s1 + (s2 + (b1 - a1 b0) x)
 *   s2' = -a2 s1 + (b2 - a2 b0) x
 *
 * The state holds the same values as the textbook form (it is the same
 * filter), so switching to the ramp kernel and back is seamless. Two bands
 * per pass keep two independent recursions in flight.
 */
struct kern {
	iem_v2d b0, c1, c2, na1, na2;
};

static inline void kern_from(struct kern *k, const struct eq_slot *s)
{
	k->b0 = s->c[0];
	k->c1 = s->c[1] - s->c[3] * s->c[0];
	k->c2 = s->c[2] - s->c[4] * s->c[0];
	k->na1 = -s->c[3];
	k->na2 = -s->c[4];
}

IEM_HOT static void run_static2(struct eq_slot *sa, struct eq_slot *sb, iem_v2d *x, uint32_t n)
{
	struct kern ka, kb;
	iem_v2d as1 = sa->s1, as2 = sa->s2, bs1 = sb->s1, bs2 = sb->s2;

	kern_from(&ka, sa);
	kern_from(&kb, sb);
	for (uint32_t i = 0; i < n; i++) {
		iem_v2d v = x[i];
		iem_v2d y = ka.b0 * v + as1;
		iem_v2d t = as2 + ka.c1 * v;
		as2 = ka.na2 * as1 + ka.c2 * v;
		as1 = ka.na1 * as1 + t;
		iem_v2d z = kb.b0 * y + bs1;
		t = bs2 + kb.c1 * y;
		bs2 = kb.na2 * bs1 + kb.c2 * y;
		bs1 = kb.na1 * bs1 + t;
		x[i] = z;
	}
	sa->s1 = as1;
	sa->s2 = as2;
	sb->s1 = bs1;
	sb->s2 = bs2;
}

IEM_HOT static void run_static1(struct eq_slot *sa, iem_v2d *x, uint32_t n)
{
	struct kern k;
	iem_v2d s1 = sa->s1, s2 = sa->s2;

	kern_from(&k, sa);
	for (uint32_t i = 0; i < n; i++) {
		iem_v2d v = x[i];
		iem_v2d y = k.b0 * v + s1;
		iem_v2d t = s2 + k.c1 * v;
		s2 = k.na2 * s1 + k.c2 * v;
		s1 = k.na1 * s1 + t;
		x[i] = y;
	}
	sa->s1 = s1;
	sa->s2 = s2;
}

/* While coefficients move they are interpolated per frame, in the
 * textbook form: rare enough that its longer dependency chain is fine. */
static void run_ramp(struct eq_slot *sa, iem_v2d *x, uint32_t n)
{
	iem_v2d b0 = sa->c[0], b1 = sa->c[1], b2 = sa->c[2], a1 = sa->c[3], a2 = sa->c[4];
	const iem_v2d d0 = sa->dc[0], d1 = sa->dc[1], d2 = sa->dc[2], d3 = sa->dc[3], d4 = sa->dc[4];
	iem_v2d s1 = sa->s1, s2 = sa->s2;

	for (uint32_t i = 0; i < n; i++) {
		b0 += d0;
		b1 += d1;
		b2 += d2;
		a1 += d3;
		a2 += d4;
		iem_v2d v = x[i];
		iem_v2d y = b0 * v + s1;
		s1 = b1 * v - a1 * y + s2;
		s2 = b2 * v - a2 * y;
		x[i] = y;
	}
	sa->c[0] = b0;
	sa->c[1] = b1;
	sa->c[2] = b2;
	sa->c[3] = a1;
	sa->c[4] = a2;
	sa->s1 = s1;
	sa->s2 = s2;
}

void iem_eq_process(struct iem_eq *eq, iem_v2d *x, uint32_t n)
{
	uint32_t k = 0;

	if (eq->n_ramping == 0) {
		for (; k + 1 < eq->n_slots; k += 2)
			run_static2(&eq->slot[k], &eq->slot[k + 1], x, n);
		if (k < eq->n_slots)
			run_static1(&eq->slot[k], x, n);
		return;
	}
	for (; k < eq->n_slots; k++) {
		if (eq->ramp[eq->band_of[k]].active)
			run_ramp(&eq->slot[k], x, n);
		else
			run_static1(&eq->slot[k], x, n);
	}
}

bool iem_eq_check_state(struct iem_eq *eq)
{
	bool bad = false;

	for (uint32_t k = 0; k < eq->n_slots; k++) {
		struct eq_slot *s = &eq->slot[k];
		for (int l = 0; l < 2; l++) {
			if (!isfinite(s->s1[l]) || !isfinite(s->s2[l]))
				bad = true;
			/* Far below anything audible: exact zero keeps a decaying
			 * tail out of the denormal range on every CPU. */
			if (fabs(s->s1[l]) < 1e-30)
				s->s1[l] = 0.0;
			if (fabs(s->s2[l]) < 1e-30)
				s->s2[l] = 0.0;
		}
	}
	if (bad)
		iem_eq_clear_state(eq);
	return bad;
}
