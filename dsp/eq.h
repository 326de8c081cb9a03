/* SPDX-License-Identifier: MIT */
/*
 * Internal: the correction EQ as used by the chain. Not part of the public
 * API; the chain owns two of these to crossfade structure changes.
 */
#ifndef IEM_EQ_H
#define IEM_EQ_H

#include "iem-dsp.h"

/* Ramps advance on a fixed grid of CELL frames, counted from the stream's
 * start, so the output never depends on how the stream is cut into calls. */
#define IEM_CELL 32

typedef double iem_v2d __attribute__((vector_size(16)));

/* One biquad run on both channels at once: lane 0 left, lane 1 right. A
 * band that applies to one channel has identity coefficients in the other
 * lane. Transposed direct form II in double: precise at low frequencies and
 * well behaved while coefficients move. */
struct eq_slot {
	iem_v2d c[5];		/* b0 b1 b2 a1 a2 in use */
	iem_v2d dc[5];		/* per-frame increment while ramping */
	iem_v2d c_end[5];	/* coefficients at the end of the current cell */
	iem_v2d s1, s2;		/* state */
};

struct eq_ramp {
	struct iem_band from, to;
	uint32_t step;		/* cells done, of eq->ramp_cells */
	bool active;
};

struct iem_eq {
	double rate;
	uint32_t ramp_cells;
	uint32_t n_ramping;
	struct iem_band band[IEM_MAX_BANDS];	/* instantaneous parameters */
	struct eq_ramp ramp[IEM_MAX_BANDS];
	uint32_t n_slots;
	int8_t slot_of[IEM_MAX_BANDS];		/* band -> slot, -1 when off */
	uint8_t band_of[IEM_MAX_BANDS];		/* slot -> band */
	struct eq_slot slot[IEM_MAX_BANDS];
};

/* S-shaped ramp 0 -> 1 (the integral of a Blackman window): smooth at both
 * ends, so a parameter move puts almost no energy far from the signal. */
double iem_ramp_shape(double x);

void iem_eq_init(struct iem_eq *eq, double rate, uint32_t ramp_cells);
/* Jumps to bands (no ramp). State of bands whose type and channels stay is
 * kept; other state is cleared. */
void iem_eq_configure(struct iem_eq *eq, const struct iem_band bands[IEM_MAX_BANDS]);
/* True when bands differ from the current ones only in freq, q or gain. */
bool iem_eq_same_structure(const struct iem_eq *eq, const struct iem_band bands[IEM_MAX_BANDS]);
/* Starts ramps toward bands (same structure only). */
void iem_eq_retarget(struct iem_eq *eq, const struct iem_band bands[IEM_MAX_BANDS]);
/* Copies the state of every band that has the same type and channels in src. */
void iem_eq_copy_state(struct iem_eq *eq, const struct iem_eq *src);
void iem_eq_clear_state(struct iem_eq *eq);
/* Grid hooks: at the start of a cell (computes the coefficients the cell
 * ends on) and at its end (lands on them exactly). */
void iem_eq_cell_begin(struct iem_eq *eq);
void iem_eq_cell_end(struct iem_eq *eq);
/* In place, n <= IEM_CELL frames, never across a cell boundary. */
void iem_eq_process(struct iem_eq *eq, iem_v2d *x, uint32_t n);
/* Clears state that went non-finite (returns true if it did) and flushes
 * values too small to matter. */
bool iem_eq_check_state(struct iem_eq *eq);

#endif
