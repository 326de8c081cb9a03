/* SPDX-License-Identifier: MIT */
/*
 * A short stereo test piece computed from scratch: bass in the centre, a
 * chord pad whose voices slowly spread left and right, a melody on the left
 * and hi-hats on the right. Deterministic: the same rate and length always
 * give the same samples. Peak at -6 dBFS.
 */
#ifndef IEM_DEMO_PIECE_H
#define IEM_DEMO_PIECE_H

#include <stdint.h>

#define DEMO_PIECE_RATE		48000u
#define DEMO_PIECE_SECONDS	8.0
#define DEMO_PIECE_MIN_SECONDS	0.1
#define DEMO_PIECE_MAX_SECONDS	3600.0

struct demo_piece;

/* rate in [IEM_MIN_RATE, IEM_MAX_RATE], seconds in [DEMO_PIECE_MIN_SECONDS,
 * DEMO_PIECE_MAX_SECONDS]. Renders the piece once to find its peak, so this
 * takes about as long as rendering it. NULL and errno on failure. */
struct demo_piece *demo_piece_new(uint32_t rate, double seconds);
/* Accepts NULL; returns NULL. */
struct demo_piece *demo_piece_free(struct demo_piece *d);
/* Length of the piece in frames. */
uint64_t demo_piece_frames(const struct demo_piece *d);
/* Writes the next frames, up to n, into left and right; returns how many
 * were written, 0 at the end. */
uint32_t demo_piece_render(struct demo_piece *d, float *left, float *right, uint32_t n);

#endif /* IEM_DEMO_PIECE_H */
