/* SPDX-License-Identifier: MIT */
/*
 * The demo piece: Am F C G (vi IV I V in C) at 120 bpm, one chord per bar,
 * four bars that repeat for as long as asked.
 *
 * Every voice except the hi-hats is a closed-form function of time, each
 * note's phase counted from the note's own start, so there are no
 * oscillator states to drift and any sample can be computed on its own.
 * The hi-hats are filtered noise from a fixed-seed generator, which makes
 * the whole piece repeatable to the bit.
 *
 * The placement is chosen to make processing audible: the bass (centre)
 * shows a low shelf, the hi-hats (right) a treble shelf, the melody (left)
 * the presence region, and the pad, whose voices slowly spread apart and
 * swap sides, shows anything that changes the stereo image.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "iem-dsp.h"
#include "demo-piece.h"

#define BEAT		0.5		/* s: 120 bpm */
#define BAR		(4.0 * BEAT)
#define BARS		4
#define SEED		0x1e5a9e57u	/* any non-zero value; fixed for repeatability */
#define PEAK		0.5011872336	/* -6 dBFS */

#define BASS_LEVEL	0.42
#define BASS_RELEASE	0.04
#define PAD_LEVEL	0.1
#define PAD_RELEASE	0.4
#define PAD_DETUNE	0.003		/* about 5 cents each way */
#define PAD_SWEEP	8.0		/* s for one full left-right-left spread */
#define LEAD_LEVEL	0.26
#define LEAD_PAN	(-0.6)
#define LEAD_RELEASE	0.08
#define VIBRATO_RATE	5.0		/* Hz */
#define VIBRATO_DEPTH	0.004		/* relative frequency deviation */
#define HAT_PAN		0.65
#define HAT_CUTOFF	7000.0		/* Hz */
#define FADE_IN		0.25		/* s */
#define FADE_OUT	1.5		/* s */

struct note {
	double beat;	/* start, in beats from the start of the bar */
	double len;	/* beats; 0 ends a list */
	int key;	/* MIDI note number */
};

/* Close voicings so that the pad moves by steps, not jumps. */
static const int chords[BARS][3] = {
	{ 57, 60, 64 },		/* Am */
	{ 57, 60, 65 },		/* F */
	{ 55, 60, 64 },		/* C */
	{ 55, 59, 62 },		/* G */
};
static const int roots[BARS] = { 45, 41, 36, 43 };

/* Keys relative to the bar's root. */
static const struct note bass_line[] = {
	{ 0.0, 1.25, 0 }, { 1.5, 0.5, 0 }, { 2.0, 0.75, 0 }, { 3.0, 0.5, 7 }, { 3.5, 0.5, 12 },
};

#define MELODY_NOTES 6
static const struct note melody[BARS][MELODY_NOTES] = {
	{ { 0.0, 1.0, 76 }, { 1.0, 0.5, 72 }, { 1.5, 0.5, 74 }, { 2.0, 1.5, 76 }, { 3.5, 0.5, 79 } },
	{ { 0.0, 1.0, 81 }, { 1.0, 0.5, 79 }, { 1.5, 0.5, 76 }, { 2.0, 1.5, 72 }, { 3.5, 0.5, 74 } },
	{ { 0.0, 0.5, 79 }, { 0.5, 0.5, 76 }, { 1.0, 1.0, 74 }, { 2.0, 1.0, 72 }, { 3.0, 1.0, 76 } },
	{ { 0.0, 1.5, 74 }, { 1.5, 0.5, 71 }, { 2.0, 1.0, 74 }, { 3.0, 1.0, 67 } },
};

/* Harmonic amplitudes: a soft saw for the pad, a warm sine for the bass,
 * something between flute and triangle for the melody. */
static const double pad_harmonics[] = { 1.0, 0.5, 0.3, 0.18, 0.1 };
static const double bass_harmonics[] = { 1.0, 0.35, 0.12 };
static const double lead_harmonics[] = { 1.0, 0.15, -1.0 / 9.0, 0.0, 1.0 / 25.0 };
#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

struct demo_piece {
	uint32_t rate;
	uint64_t frames;
	uint64_t pos;
	double gain;
	uint32_t rng;
	struct iem_biquad hp;
	double hat_state[2][4];	/* two direct-form-I sections: x1 x2 y1 y2 */
};

static double midi_hz(int key)
{
	return 440.0 * pow(2.0, (key - 69) / 12.0);
}

/* Linear attack, exponential decay toward the sustain level while the
 * note is held (len seconds), then a linear release. t is the time since
 * the note started. */
static double envelope(double t, double len, double attack, double decay,
		double sustain, double release)
{
	double held = fmin(t, len), e;

	if (t < 0.0)
		return 0.0;
	if (held < attack)
		e = held / attack;
	else
		e = sustain + (1.0 - sustain) * exp(-(held - attack) / decay);
	if (t > len)
		e *= fmax(0.0, 1.0 - (t - len) / release);
	return e;
}

/* Sum of harmonics at `cycles` (fundamental periods since the note
 * started). Harmonics at or above 0.45 rate are left out so that low rates
 * do not alias. The Chebyshev recurrence gives sin(k x) from sin((k-1) x)
 * and sin((k-2) x), one sin() and one cos() per call. */
static double harmonics(double cycles, double freq, double rate,
		const double *amp, uint32_t n)
{
	const double x = 2.0 * M_PI * (cycles - floor(cycles));
	const double c2 = 2.0 * cos(x);
	double prev = 0.0, cur = sin(x), sum = 0.0;

	for (uint32_t k = 1; k <= n && k * freq < 0.45 * rate; k++) {
		double next = c2 * cur - prev;
		sum += amp[k - 1] * cur;
		prev = cur;
		cur = next;
	}
	return sum;
}

/* Constant-power pan, p from -1 (left) to 1 (right). */
static void pan(double x, double p, double *l, double *r)
{
	const double a = (fmin(fmax(p, -1.0), 1.0) + 1.0) * M_PI / 4.0;
	*l += x * cos(a);
	*r += x * sin(a);
}

static void bass(double t, double rate, double *l, double *r)
{
	const int bar = (int)floor(t / BAR);

	/* The previous bar too: its last note may still be releasing. */
	for (int b = bar - 1; b <= bar; b++) {
		if (b < 0)
			continue;
		for (size_t i = 0; i < N_ELEMENTS(bass_line); i++) {
			const struct note *n = &bass_line[i];
			const double tn = t - (b * BAR + n->beat * BEAT);
			const double len = n->len * BEAT;
			if (tn < 0.0 || tn > len + BASS_RELEASE)
				continue;
			const double f = midi_hz(roots[b % BARS] + n->key);
			const double x = BASS_LEVEL *
				envelope(tn, len, 0.005, 0.35, 0.45, BASS_RELEASE) *
				harmonics(f * tn, f, rate, bass_harmonics, N_ELEMENTS(bass_harmonics));
			*l += x;
			*r += x;
		}
	}
}

static void pad(double t, double rate, double *l, double *r)
{
	const int bar = (int)floor(t / BAR);
	/* Voices fan out from the centre and cross over: the outer two swap
	 * sides every half sweep. */
	const double spread = 0.8 * sin(2.0 * M_PI * t / PAD_SWEEP);

	for (int b = bar - 1; b <= bar; b++) {
		if (b < 0)
			continue;
		const double tn = t - b * BAR;
		if (tn > BAR + PAD_RELEASE)
			continue;
		/* The release of one chord overlaps the attack of the next. */
		const double env = PAD_LEVEL * envelope(tn, BAR, 0.3, 1.0, 0.8, PAD_RELEASE);
		for (int v = 0; v < 3; v++) {
			const double f0 = midi_hz(chords[b % BARS][v]);
			for (int d = -1; d <= 1; d += 2) {
				const double f = f0 * (1.0 + d * PAD_DETUNE);
				const double x = env * harmonics(f * tn, f, rate,
						pad_harmonics, N_ELEMENTS(pad_harmonics));
				pan(x, spread * (v - 1) + 0.25 * d, l, r);
			}
		}
	}
}

static void lead(double t, double rate, double *l, double *r)
{
	const int bar = (int)floor(t / BAR);

	for (int b = bar - 1; b <= bar; b++) {
		if (b < 0)
			continue;
		for (size_t i = 0; i < MELODY_NOTES && melody[b % BARS][i].len > 0.0; i++) {
			const struct note *n = &melody[b % BARS][i];
			const double tn = t - (b * BAR + n->beat * BEAT);
			const double len = n->len * BEAT;
			if (tn < 0.0 || tn > len + LEAD_RELEASE)
				continue;
			const double f = midi_hz(n->key);
			/* The phase of f (1 + d sin(2 pi r t)), integrated. */
			const double cycles = f * (tn + VIBRATO_DEPTH *
					(1.0 - cos(2.0 * M_PI * VIBRATO_RATE * tn)) /
					(2.0 * M_PI * VIBRATO_RATE));
			const double x = LEAD_LEVEL *
				envelope(tn, len, 0.012, 0.25, 0.6, LEAD_RELEASE) *
				harmonics(cycles, f, rate, lead_harmonics, N_ELEMENTS(lead_harmonics));
			pan(x, LEAD_PAN, l, r);
		}
	}
}

static double noise(struct demo_piece *d)
{
	/* xorshift32: tiny, and the same on every platform. */
	uint32_t x = d->rng;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	d->rng = x;
	return (double)x / 2147483648.0 - 1.0;
}

static double highpass(struct demo_piece *d, double x)
{
	const struct iem_biquad *bq = &d->hp;

	for (int s = 0; s < 2; s++) {
		double *z = d->hat_state[s];
		double y = bq->b0 * x + bq->b1 * z[0] + bq->b2 * z[1] - bq->a1 * z[2] - bq->a2 * z[3];
		z[1] = z[0];
		z[0] = x;
		z[3] = z[2];
		z[2] = y;
		x = y;
	}
	return x;
}

static void hats(struct demo_piece *d, double t, double *l, double *r)
{
	/* The noise runs all the time, so that its sequence does not depend
	 * on where the hits are. */
	const double n = highpass(d, noise(d));
	const int bar = (int)floor(t / BAR);
	const double pos = t - bar * BAR;
	const int k = (int)floor(pos / (BEAT / 2.0));
	const double dt = pos - k * (BEAT / 2.0);
	/* Off-beats accented; the last one of the phrase is an open hat. Each
	 * hit chokes the one before, as on a real hi-hat. */
	const double amp = (k & 1) ? 0.55 : 0.25;
	const double tau = (bar % BARS == BARS - 1 && k == 7) ? 0.18 : 0.035;
	const double env = amp * exp(-dt / tau) * fmin(1.0, dt / 0.0005);

	pan(env * n, HAT_PAN, l, r);
}

static double fade(const struct demo_piece *d, double t)
{
	const double len = (double)d->frames / d->rate;
	const double in = fmin(FADE_IN, len / 4.0), out = fmin(FADE_OUT, len / 4.0);
	double g = 1.0;

	if (t < in)
		g *= 0.5 - 0.5 * cos(M_PI * t / in);
	if (len - t < out)
		g *= 0.5 - 0.5 * cos(M_PI * fmax(0.0, len - t) / out);
	return g;
}

static void rewind_piece(struct demo_piece *d)
{
	d->pos = 0;
	d->rng = SEED;
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < 4; i++)
			d->hat_state[s][i] = 0.0;
}

uint32_t demo_piece_render(struct demo_piece *d, float *left, float *right, uint32_t n)
{
	if (d->frames - d->pos < n)
		n = (uint32_t)(d->frames - d->pos);

	for (uint32_t i = 0; i < n; i++) {
		const double t = (double)(d->pos + i) / d->rate;
		double l = 0.0, r = 0.0;

		bass(t, d->rate, &l, &r);
		pad(t, d->rate, &l, &r);
		lead(t, d->rate, &l, &r);
		hats(d, t, &l, &r);

		const double g = d->gain * fade(d, t);
		left[i] = (float)(l * g);
		right[i] = (float)(r * g);
	}
	d->pos += n;
	return n;
}

struct demo_piece *demo_piece_new(uint32_t rate, double seconds)
{
	struct demo_piece *d;
	float l[256], r[256];
	double peak = 0.0;
	uint32_t n;
	int res;

	if (rate < IEM_MIN_RATE || rate > IEM_MAX_RATE || !isfinite(seconds) ||
	    seconds < DEMO_PIECE_MIN_SECONDS || seconds > DEMO_PIECE_MAX_SECONDS) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->rate = rate;
	d->frames = (uint64_t)llround(seconds * rate);
	d->gain = 1.0;
	res = iem_biquad_design(&d->hp, IEM_FILTER_HIGHPASS, rate, HAT_CUTOFF, M_SQRT1_2, 0.0);
	if (res < 0) {
		free(d);
		errno = -res;
		return NULL;
	}

	/* Measure, then scale: cheaper to get right than balancing every
	 * voice's level by hand against every rate and length. */
	rewind_piece(d);
	while ((n = demo_piece_render(d, l, r, 256)) > 0) {
		for (uint32_t i = 0; i < n; i++)
			peak = fmax(peak, fmax(fabs(l[i]), fabs(r[i])));
	}
	rewind_piece(d);
	if (peak > 0.0)
		d->gain = PEAK / peak;
	return d;
}

struct demo_piece *demo_piece_free(struct demo_piece *d)
{
	free(d);
	return NULL;
}

uint64_t demo_piece_frames(const struct demo_piece *d)
{
	return d->frames;
}
