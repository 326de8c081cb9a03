/* SPDX-License-Identifier: MIT */
/*
 * The virtual room: two speakers in a shoebox, heard through an HRTF, as a
 * 2 x 2 binaural room impulse response (iem-dsp.h says what is modelled).
 *
 * How the parts fit together in time. t = 0 is the moment sound leaves
 * the speakers; frame = origin + t fs, where origin takes the direct
 * sound's whole samples of flight time off the front (latency nobody
 * needs). The image sources up to `order` reflections are complete until
 * the first image of order + 1 arrives: that is the mixing time t_mix.
 * From there the statistical tail takes over: images fade out and the
 * tail fades in over IEM_ROOM_XFADE_MS (cos^2 / sin^2), so the energy
 * stays continuous on average.
 *
 * The tail's level is not a free parameter. Images fill space at one per
 * room volume V; those arriving between t and t + dt lie in a shell of
 * 4 pi (c t)^2 c dt, each 1/(c t) loud and beta^2k weaker in energy after
 * k ~ c t S / 4V reflections. Their energy per second is therefore
 * 4 pi c / V exp(-13.8 t / T60) (Eyring's T60, the same beta) in units
 * where the direct sound is 1/r: that is the noise's variance, divided by
 * the speakers' directivity factor Q(f) (the images leave the speaker in
 * every direction alike, on average, and the direct sound leaves it on
 * axis: their energy is the mean over the sphere, 1 / Q of the axis').
 *
 * Speaker directivity. A real loudspeaker is nearly omnidirectional where
 * its wavelength is large against the box (the bass) and beams more and
 * more above that: the sound-power directivity index (DI, ANSI/CTA-2034-A:
 * on-axis, strictly the listening window, over sound power) of forward-
 * firing cone-and-dome speakers rises from 0 … 2 dB at 100 … 200 Hz to
 * about 5 … 6 dB at 2 kHz and 7 … 10 dB at 10 kHz (Toole, Sound
 * Reproduction, 3rd ed., the spinorama chapters, recalled). That is what
 * sets the direct-to-reverberant ratio at the listener: DRR = 20 log10
 * (r_c / r) with the critical distance r_c = 0.057 sqrt(Q V / T60)
 * (dsp-reference §4.3): for the default room, -6.6 dB + DI at 2 m, so an
 * omnidirectional source gives a DRR no real speaker in that room has.
 * The model: gain exp(kappa(f) (cos theta - 1)) at theta off axis, a beam
 * with no nulls and no rear lobe (at DI 6 dB: -8.5 dB at 90 deg, -17 dB
 * behind), whose directivity factor has the closed form
 * Q = 4 kappa / (1 - exp(-4 kappa)); kappa per octave band from the DI
 * asked for, linear in log frequency between the band centres. An image
 * that leaves the speaker at theta gets a minimum-phase filter with
 * ln |H(f)| = kappa(f) (cos theta - 1): the complex cepstrum of the
 * filter for ln |H| = kappa(f) (computed once), times (cos theta - 1),
 * exponentiated. The direct sound leaves on axis and stays as it was; the
 * tail's level follows Q(f). The first-order speaker_pattern, when below
 * 1, multiplies in (its Q then by numerical integration).
 *
 * Wall absorption per band: an image of order k carries beta(f)^k. With
 * one reverberation time for every band that is a number; otherwise the
 * images are summed per order and each order goes through a minimum-phase
 * filter with magnitude beta(f)^k (beta interpolated linearly in ln beta
 * over log frequency between octave centres). The tail is split into
 * octave bands with amplitude-complementary raised-cosine crossovers in
 * log frequency, each band with its own decay.
 *
 * Interaural coherence of the tail: per speaker two independent noises
 * n1, n2; left = A n1 + B n2, right = A n1 - B n2 with A = sqrt((1 + IC)
 * / 2), B = sqrt((1 - IC) / 2) per frequency, which gives the coherence IC
 * at unchanged power. IC(f) = sinc(2 pi f d / c) with d = 0.32 m
 * (dsp-reference §4.2: the best fit to KEMAR's diffuse field below 1.5
 * kHz, first zero at 536 Hz against KEMAR's 528 Hz), tapered to 0 above
 * 1 kHz where KEMAR's coherence stays within +-0.05.
 *
 * Timbre: the phantom centre, C(f) = H_LL + H_RL (left ear) and H_LR +
 * H_RR (right), is measured on the finished response, its power averaged
 * over both ears and smoothed to a third of an octave; the inverse (held
 * below 50 Hz and above min(16 kHz, 0.42 fs), within +-12 dB of its mean
 * over 200 Hz - 4 kHz) is made minimum phase (real cepstrum) and applied
 * to all four paths. Minimum phase: no pre-ringing before the direct
 * sound and no added delay; the same filter on every path keeps every
 * interaural difference as it was.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fft.h"
#include "hrtf-private.h"
#include "iem-dsp.h"

#define C_SOUND			IEM_ROOM_SPEED_OF_SOUND
#define LN1000			6.907755278982137	/* ln 10^3: amplitude -60 dB */
#define OMNI_LEAD		HRTF_FD_HALF	/* taps before an omni arrival at 0 m */
#define IC_DISTANCE		0.32		/* m, diffuse-field coherence of the default head */
#define EQ_F_LO			50.0		/* Hz */
#define EQ_F_HI			16000.0
#define EQ_RANGE_DB		12.0
#define EQ_LENGTH_MS		40.0
#define EQ_REFINE		2		/* corrections after the first design */
#define WALL_LENGTH_MS		10.0
#define DIR_LENGTH_MS		10.0		/* an image's directivity filter */
#define DIR_GRID_MS		40.0		/* … designed on a grid at least this long */
#define TAIL_FADE_OUT		0.05		/* of the tail's length */

static const double band_centre[IEM_ROOM_BANDS] = {
	125, 250, 500, 1000, 2000, 4000, 8000, 16000
};

/* The speakers' directivity index per octave band, dB (see the top). */
static const double di_default[IEM_ROOM_BANDS] = {
	1.0, 1.5, 2.5, 4.0, 6.0, 7.0, 8.0, 9.0
};

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;
	if (err == NULL || size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

static uint32_t pow2_at_least(uint64_t n)
{
	uint32_t p = 1;
	while (p < n && p < (1u << 24))
		p <<= 1;
	return p;
}

void iem_room_config_init(struct iem_room_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->angle = IEM_STAGE_ANGLE_DEFAULT;
	cfg->distance = IEM_STAGE_DISTANCE_DEFAULT;
	cfg->elevation = 0.0;
	cfg->width = IEM_ROOM_WIDTH_DEFAULT;
	cfg->depth = IEM_ROOM_DEPTH_DEFAULT;
	cfg->height = IEM_ROOM_HEIGHT_DEFAULT;
	cfg->rt60 = IEM_ROOM_RT60_DEFAULT;
	cfg->early_db = 0.0;
	cfg->late_db = 0.0;
	cfg->order = 3;
	cfg->max_seconds = 2.0;
	cfg->speaker_pattern = 1.0;
	cfg->compensate = true;
	cfg->seed = 1;
	for (int b = 0; b < IEM_ROOM_BANDS; b++)
		cfg->speaker_di_db[b] = di_default[b];
}

void iem_room_config_from_params(struct iem_room_config *cfg, const struct iem_params *p)
{
	cfg->angle = p->stage_angle;
	cfg->distance = p->stage_distance;
	cfg->elevation = p->stage_elevation;
	cfg->width = p->room_width;
	cfg->depth = p->room_depth;
	cfg->height = p->room_height;
	cfg->rt60 = p->room_rt60;
	cfg->early_db = p->room_early;
	cfg->late_db = p->room_late;
}

struct iem_room *iem_room_free(struct iem_room *room)
{
	if (room == NULL)
		return NULL;
	free(room->buf);
	free(room);
	return NULL;
}

/* ---- checks and geometry ---------------------------------------------------- */

static bool in_range(double v, double lo, double hi)
{
	return v >= lo && v <= hi;	/* false for NaN */
}

static int check_config(const struct iem_room_config *c, char *err, size_t err_size)
{
	if (!in_range(c->angle, IEM_STAGE_ANGLE_MIN, IEM_STAGE_ANGLE_MAX)) {
		set_err(err, err_size, "speaker angle %g deg is outside %g … %g deg",
				c->angle, IEM_STAGE_ANGLE_MIN, IEM_STAGE_ANGLE_MAX);
		return -EINVAL;
	}
	if (!in_range(c->distance, IEM_STAGE_DISTANCE_MIN, IEM_STAGE_DISTANCE_MAX)) {
		set_err(err, err_size, "speaker distance %g m is outside %g … %g m",
				c->distance, IEM_STAGE_DISTANCE_MIN, IEM_STAGE_DISTANCE_MAX);
		return -EINVAL;
	}
	if (!in_range(c->elevation, IEM_STAGE_ELEVATION_MIN, IEM_STAGE_ELEVATION_MAX)) {
		set_err(err, err_size, "speaker elevation %g deg is outside %g … %g deg",
				c->elevation, IEM_STAGE_ELEVATION_MIN, IEM_STAGE_ELEVATION_MAX);
		return -EINVAL;
	}
	if (!in_range(c->width, IEM_ROOM_SIZE_MIN, IEM_ROOM_SIZE_MAX) ||
	    !in_range(c->depth, IEM_ROOM_SIZE_MIN, IEM_ROOM_SIZE_MAX) ||
	    !in_range(c->height, IEM_ROOM_SIZE_MIN, IEM_ROOM_SIZE_MAX)) {
		set_err(err, err_size, "room %g x %g x %g m: each side must be %g … %g m",
				c->width, c->depth, c->height, IEM_ROOM_SIZE_MIN, IEM_ROOM_SIZE_MAX);
		return -EINVAL;
	}
	if (!in_range(c->rt60, 0.0, IEM_ROOM_RT60_MAX)) {
		set_err(err, err_size, "reverberation time %g s is outside 0 … %g s",
				c->rt60, IEM_ROOM_RT60_MAX);
		return -EINVAL;
	}
	for (int b = 0; b < IEM_ROOM_BANDS; b++) {
		if (!in_range(c->rt60_band[b], 0.0, IEM_ROOM_RT60_MAX)) {
			set_err(err, err_size, "reverberation time %g s at %g Hz is outside 0 … %g s",
					c->rt60_band[b], band_centre[b], IEM_ROOM_RT60_MAX);
			return -EINVAL;
		}
	}
	if (isnan(c->early_db) || isnan(c->late_db) ||
	    c->early_db > IEM_ROOM_LEVEL_MAX || c->late_db > IEM_ROOM_LEVEL_MAX) {
		set_err(err, err_size, "early and late levels must be at most %+g dB", IEM_ROOM_LEVEL_MAX);
		return -EINVAL;
	}
	if (c->order > IEM_ROOM_MAX_ORDER) {
		set_err(err, err_size, "image-source order %u is above %d", c->order, IEM_ROOM_MAX_ORDER);
		return -EINVAL;
	}
	if (!in_range(c->max_seconds, 0.01, IEM_ROOM_MAX_SECONDS)) {
		set_err(err, err_size, "length cap %g s is outside 0.01 … %g s",
				c->max_seconds, IEM_ROOM_MAX_SECONDS);
		return -EINVAL;
	}
	if (!in_range(c->speaker_pattern, 0.5, 1.0)) {
		set_err(err, err_size, "speaker pattern %g is outside 0.5 (cardioid) … 1 (omni)",
				c->speaker_pattern);
		return -EINVAL;
	}
	for (int b = 0; b < IEM_ROOM_BANDS; b++) {
		if (!in_range(c->speaker_di_db[b], 0.0, IEM_ROOM_DI_MAX)) {
			set_err(err, err_size, "speaker directivity index %g dB at %g Hz is outside 0 … %g dB",
					c->speaker_di_db[b], band_centre[b], IEM_ROOM_DI_MAX);
			return -EINVAL;
		}
	}
	return 0;
}

/* Listener and speakers (see iem-dsp.h); -EINVAL when they do not fit. */
static int place(const struct iem_room_config *c, struct iem_room_info *info,
		char *err, size_t err_size)
{
	const double az = c->angle * M_PI / 180.0, el = c->elevation * M_PI / 180.0;
	const double ahead = c->distance * cos(el) * cos(az);
	const double side = c->distance * cos(el) * sin(az);
	const double up = c->distance * sin(el);
	const double ear = fmin(IEM_ROOM_EAR_HEIGHT, c->height / 2.0);
	double x = c->depth - IEM_ROOM_FRONT_GAP - ahead;

	if (x < IEM_ROOM_WALL_MIN)
		x = IEM_ROOM_WALL_MIN;
	if (x + ahead > c->depth - IEM_ROOM_WALL_MIN) {
		set_err(err, err_size, "speakers %g m away at %g deg do not fit a room %g m deep",
				c->distance, c->angle, c->depth);
		return -EINVAL;
	}
	if (side > c->width / 2.0 - IEM_ROOM_WALL_MIN) {
		set_err(err, err_size, "speakers %g m away at %g deg do not fit a room %g m wide",
				c->distance, c->angle, c->width);
		return -EINVAL;
	}
	if (ear + up > c->height - IEM_ROOM_WALL_MIN || ear + up < IEM_ROOM_WALL_MIN) {
		set_err(err, err_size, "speakers %g m away at %g deg elevation do not fit a room %g m high "
				"(ears at %g m)", c->distance, c->elevation, c->height, ear);
		return -EINVAL;
	}
	info->listener[0] = x;
	info->listener[1] = c->width / 2.0;
	info->listener[2] = ear;
	for (int s = 0; s < 2; s++) {
		info->speaker[s][0] = x + ahead;
		info->speaker[s][1] = c->width / 2.0 + (s == 0 ? side : -side);
		info->speaker[s][2] = ear + up;
	}
	return 0;
}

/* ---- spectra ------------------------------------------------------------------ */

/* A per-band figure (ln beta, kappa, ln Q) at frequency f: linear in
 * log2 f between the octave centres, held beyond them. */
static double band_value_at(const double *v, double f)
{
	if (f <= band_centre[0])
		return v[0];
	if (f >= band_centre[IEM_ROOM_BANDS - 1])
		return v[IEM_ROOM_BANDS - 1];
	double x = log2(f / band_centre[0]);
	int b = (int)x;
	double u = x - b;
	return v[b] * (1.0 - u) + v[b + 1] * u;
}

/* Directivity factor of the beam exp(kappa (cos theta - 1)). */
static double beam_q(double kappa)
{
	if (kappa < 1e-9)
		return 1.0;
	return 4.0 * kappa / -expm1(-4.0 * kappa);
}

/* kappa of the beam with directivity index di_db (bisection; Q grows
 * monotonically with kappa). */
static double beam_kappa(double di_db)
{
	const double q = pow(10.0, di_db / 10.0);
	double lo = 0.0, hi = 64.0;
	if (q <= 1.0)
		return 0.0;
	for (int i = 0; i < 80; i++) {
		double mid = 0.5 * (lo + hi);
		if (beam_q(mid) < q)
			lo = mid;
		else
			hi = mid;
	}
	return 0.5 * (lo + hi);
}

/* Directivity factor of the beam times the first-order pattern
 * a + (1 - a) cos theta: 2 / integral of the power over cos theta in
 * [-1, 1] (Simpson; the integrand is smooth). */
static double speaker_q(double kappa, double a)
{
	if (a >= 1.0)
		return beam_q(kappa);
	const int m = 512;
	double sum = 0.0;
	for (int i = 0; i <= m; i++) {
		double u = -1.0 + 2.0 * i / m;
		double g = (a + (1.0 - a) * u) * exp(kappa * (u - 1.0));
		sum += (i == 0 || i == m ? 1.0 : (i & 1) ? 4.0 : 2.0) * g * g;
	}
	return 2.0 / (sum * (2.0 / m) / 3.0);
}

/* Weight of octave band b at f: raised-cosine crossovers in log2 f between
 * neighbouring centres; the weights of all bands sum to 1. */
static double band_weight(int b, double f)
{
	if (f <= 0.0)
		return b == 0 ? 1.0 : 0.0;
	double x = log2(f / band_centre[0]);	/* band b's centre at x = b */
	if (x <= 0.0)
		return b == 0 ? 1.0 : 0.0;
	if (x >= IEM_ROOM_BANDS - 1)
		return b == IEM_ROOM_BANDS - 1 ? 1.0 : 0.0;
	double d = x - b;
	if (d <= -1.0 || d >= 1.0)
		return 0.0;
	return 0.5 + 0.5 * cos(M_PI * d);
}

/* Interaural coherence of a diffuse field at f for a head whose
 * coherence distance is d. */
static double diffuse_ic(double f, double d)
{
	double x = 2.0 * M_PI * f * d / C_SOUND;
	double ic = x < 1e-9 ? 1.0 : sin(x) / x;
	if (f > 1000.0)
		ic *= exp(-((f - 1000.0) / 800.0) * ((f - 1000.0) / 800.0));
	return ic;
}

/*
 * The complex logarithm of the minimum-phase spectrum whose magnitude is
 * exp(lnmag[k]) at bin k of an n-point grid (n / 2 + 1 bins): into s
 * (n + 2 floats), ln |H| as real and the phase as imaginary part. t (n
 * floats) is scratch; both from iem_fft_alloc.
 */
static void minimum_phase_log(struct iem_fft *fft, const double *lnmag, uint32_t n,
		float *t, float *s)
{
	const uint32_t bins = n / 2 + 1;

	for (uint32_t k = 0; k < bins; k++) {
		s[2 * k] = (float)lnmag[k];
		s[2 * k + 1] = 0.0f;
	}
	iem_fft_inverse(fft, s, t);		/* real cepstrum, times n */
	for (uint32_t m = 0; m < n; m++) {
		double c = t[m] / (double)n;
		if (m == 0 || m == n / 2)
			t[m] = (float)c;
		else if (m < n / 2)
			t[m] = (float)(2.0 * c);	/* fold the anticausal part */
		else
			t[m] = 0.0f;
	}
	iem_fft_forward(fft, t, s);
}

/*
 * Minimum-phase filter of `len` taps whose magnitude is exp(lnmag[k]) at
 * bin k of an n-point grid (n / 2 + 1 bins, n a power of two well above
 * len); a half-Hann fade over its last quarter. t (n floats) and s (n + 2)
 * are scratch from iem_fft_alloc.
 */
static void minimum_phase(struct iem_fft *fft, const double *lnmag, uint32_t n,
		float *t, float *s, float *out, uint32_t len)
{
	const uint32_t bins = n / 2 + 1;

	minimum_phase_log(fft, lnmag, n, t, s);
	for (uint32_t k = 0; k < bins; k++) {
		double mag = exp(s[2 * k]), ph = s[2 * k + 1];
		s[2 * k] = (float)(mag * cos(ph));
		s[2 * k + 1] = (float)(mag * sin(ph));
	}
	iem_fft_inverse(fft, s, t);
	const uint32_t fade = len / 4, start = len - fade;
	for (uint32_t m = 0; m < len; m++) {
		double w = m < start ? 1.0 : 0.5 + 0.5 * cos(M_PI * (double)(m - start + 1) / (fade + 1));
		out[m] = (float)(t[m] / (double)n * w);
	}
}

/* Third-octave power mean of p over f * 2^(+-1/6), from its running sum
 * cum (bins + 1 entries). */
static double third_octave_mean(const double *cum, uint32_t bins, double df, double f)
{
	uint32_t a = (uint32_t)ceil(f * pow(2.0, -1.0 / 6.0) / df);
	uint32_t b = (uint32_t)floor(f * pow(2.0, 1.0 / 6.0) / df);
	if (b >= bins)
		b = bins - 1;
	if (a > b) {
		a = b = (uint32_t)lround(f / df);
		if (a >= bins)
			a = b = bins - 1;
	}
	return (cum[b + 1] - cum[a]) / (double)(b - a + 1);
}

/* ---- the parts ------------------------------------------------------------------ */

struct synth {
	const struct iem_room_config *cfg;
	const struct iem_hrtf *hrtf;
	uint32_t rate;
	struct iem_room_info *info;

	uint32_t hl;			/* taps of an HRIR (1 for the omni microphone) */
	float *hrir[2];
	bool banded;			/* rt60 differs between bands */
	double ln_beta[IEM_ROOM_BANDS];
	double early_gain, late_gain;	/* linear; 0: off */
	bool room;			/* any reflection or tail at all */
	double t_mix;			/* s */
	double xfade;			/* s */
	uint32_t len;			/* taps of the response */
	float *path[4];			/* LL, RL, LR, RR */

	/* the speakers' directivity (see the top) */
	double kappa[IEM_ROOM_BANDS];
	double ln_q[IEM_ROOM_BANDS];	/* ln of the directivity factor, for the tail */
	bool directive;			/* images get directivity filters */
	uint32_t dn;			/* their design grid, points */
	uint32_t dextra;		/* taps they add to an arrival (0: none) */
	struct iem_fft *dfft;
	float *dlog;			/* complex log of the filter for ln |H| = kappa(f) */
	float *dspec, *dx, *dt;		/* scratch: dn + 2, dn + 2, dn floats */
	float *darr[2];			/* a filtered arrival, hl + dextra taps per ear */
};

/* kappa and Q per band; the filters' grid and the complex cepstral
 * logarithm of ln |H| = kappa(f), when images need them. */
static int directivity_init(struct synth *sy)
{
	const struct iem_room_config *c = sy->cfg;
	bool any = false;

	for (int b = 0; b < IEM_ROOM_BANDS; b++) {
		sy->kappa[b] = beam_kappa(c->speaker_di_db[b]);
		sy->ln_q[b] = log(speaker_q(sy->kappa[b], c->speaker_pattern));
		any |= sy->kappa[b] > 0.0;
	}
	if (!any || sy->early_gain == 0.0)
		return 0;

	const uint32_t flen = pow2_at_least((uint64_t)ceil(DIR_LENGTH_MS * 1e-3 * sy->rate));
	const uint32_t n = pow2_at_least((uint64_t)fmax(2.0 * (sy->hl + flen), DIR_GRID_MS * 1e-3 * sy->rate));
	const uint32_t bins = n / 2 + 1;
	double *lnmag = calloc(bins, sizeof(double));

	sy->dn = n;
	sy->dextra = flen;
	sy->dfft = iem_fft_new(n);
	sy->dlog = iem_fft_alloc(n + 2);
	sy->dspec = iem_fft_alloc(n + 2);
	sy->dx = iem_fft_alloc(n + 2);
	sy->dt = iem_fft_alloc(n);
	sy->darr[0] = calloc(sy->hl + flen, sizeof(float));
	sy->darr[1] = calloc(sy->hl + flen, sizeof(float));
	if (lnmag == NULL || sy->dfft == NULL || sy->dlog == NULL || sy->dspec == NULL ||
	    sy->dx == NULL || sy->dt == NULL || sy->darr[0] == NULL || sy->darr[1] == NULL) {
		free(lnmag);
		return -ENOMEM;
	}
	for (uint32_t k = 0; k < bins; k++)
		lnmag[k] = band_value_at(sy->kappa, (double)k * sy->rate / n);
	minimum_phase_log(sy->dfft, lnmag, n, sy->dt, sy->dlog);
	free(lnmag);
	sy->directive = true;
	return 0;
}

static void directivity_clear(struct synth *sy)
{
	sy->dfft = iem_fft_free(sy->dfft);
	iem_fft_free_buffer(sy->dlog);
	iem_fft_free_buffer(sy->dspec);
	iem_fft_free_buffer(sy->dx);
	iem_fft_free_buffer(sy->dt);
	free(sy->darr[0]);
	free(sy->darr[1]);
	sy->dlog = sy->dspec = sy->dx = sy->dt = sy->darr[0] = sy->darr[1] = NULL;
}

/* x[ear] (n taps each) through the speaker's response at cos theta off
 * axis: into sy->darr, n + dextra taps, faded over the filter's last
 * quarter. */
static void directivity_apply(struct synth *sy, const float *const x[2], uint32_t n, double cos_theta)
{
	const uint32_t dn = sy->dn, bins = dn / 2 + 1, len = n + sy->dextra;
	const uint32_t fade = sy->dextra / 4, start = len - fade;
	const double c = cos_theta - 1.0;

	for (uint32_t k = 0; k < bins; k++) {
		double mag = exp(c * sy->dlog[2 * k]), ph = c * sy->dlog[2 * k + 1];
		sy->dspec[2 * k] = (float)(mag * cos(ph));
		sy->dspec[2 * k + 1] = (float)(mag * sin(ph));
	}
	for (int ear = 0; ear < 2; ear++) {
		memset(sy->dt, 0, dn * sizeof(float));
		memcpy(sy->dt, x[ear], n * sizeof(float));
		iem_fft_forward(sy->dfft, sy->dt, sy->dx);
		for (uint32_t k = 0; k < bins; k++) {
			float re = sy->dx[2 * k] * sy->dspec[2 * k] - sy->dx[2 * k + 1] * sy->dspec[2 * k + 1];
			float im = sy->dx[2 * k] * sy->dspec[2 * k + 1] + sy->dx[2 * k + 1] * sy->dspec[2 * k];
			sy->dx[2 * k] = re;
			sy->dx[2 * k + 1] = im;
		}
		iem_fft_inverse(sy->dfft, sy->dx, sy->dt);
		for (uint32_t i = 0; i < len; i++) {
			double w = i < start ? 1.0 : 0.5 + 0.5 * cos(M_PI * (double)(i - start + 1) / (fade + 1));
			sy->darr[ear][i] = (float)(sy->dt[i] / (double)dn * w);
		}
	}
}

/* Adds one arrival (direction from the head centre, unit vector v; delay
 * in frames from the start of the response; left the speaker at
 * cos_theta off its axis) for speaker s through the HRTF, scaled by gain,
 * into out[ear] (out[0] left, out[1] right). */
static int add_arrival(struct synth *sy, const double v[3], double frames, double gain,
		double cos_theta, float *out_left, float *out_right, uint32_t out_len)
{
	static const float one = 1.0f;
	const float *x[2] = { &one, &one };
	uint32_t n = 1;

	if (sy->hrtf == NULL) {
		frames += OMNI_LEAD;
	} else {
		double az = atan2(v[1], v[0]) * 180.0 / M_PI;
		double el = atan2(v[2], hypot(v[0], v[1])) * 180.0 / M_PI;
		int r = iem_hrtf_get(sy->hrtf, az, el, sy->hrir[0], sy->hrir[1]);
		if (r < 0)
			return r;
		x[0] = sy->hrir[0];
		x[1] = sy->hrir[1];
		n = sy->hl;
	}
	if (sy->directive && cos_theta < 1.0 - 1e-9) {
		directivity_apply(sy, x, n, cos_theta);
		x[0] = sy->darr[0];
		x[1] = sy->darr[1];
		n += sy->dextra;
	}
	hrtf_shift_add(out_left, out_len, x[0], n, frames, gain);
	hrtf_shift_add(out_right, out_len, x[1], n, frames, gain);
	return 0;
}

/* Image sources of both speakers, up to `order`: with `render`, each into
 * out (4 paths of out_len, or per order: out + 4 * k when banded) and
 * counted; always, the mixing time (the nearest image of order + 1). */
static int images(struct synth *sy, uint32_t order, bool render, float *const *out, uint32_t out_len)
{
	const struct iem_room_config *c = sy->cfg;
	const double L[3] = { c->depth, c->width, c->height };
	const double *rx = sy->info->listener;
	const int nmax = (int)order + 1;
	const double a = c->speaker_pattern;
	const double fs_c = sy->rate / C_SOUND;
	double nearest_next = INFINITY;
	int r;

	for (int s = 0; s < 2; s++) {
		const double *sx = sy->info->speaker[s];
		double axis[3], dist = 0.0;
		for (int i = 0; i < 3; i++) {
			axis[i] = rx[i] - sx[i];
			dist += axis[i] * axis[i];
		}
		dist = sqrt(dist);
		for (int i = 0; i < 3; i++)
			axis[i] /= dist;

		for (int p = 0; p < 8; p++) {
			const int px = p & 1, py = (p >> 1) & 1, pz = (p >> 2) & 1;
			const int pv[3] = { px, py, pz };
			for (int nx = -nmax; nx <= nmax; nx++)
			for (int ny = -nmax; ny <= nmax; ny++)
			for (int nz = -nmax; nz <= nmax; nz++) {
				const int nv[3] = { nx, ny, nz };
				uint32_t k = 0;
				double d[3], r2 = 0.0;
				for (int i = 0; i < 3; i++) {
					k += (uint32_t)(abs(nv[i] - pv[i]) + abs(nv[i]));
					d[i] = (1 - 2 * pv[i]) * sx[i] + 2.0 * nv[i] * L[i] - rx[i];
					r2 += d[i] * d[i];
				}
				double dist_i = sqrt(r2);
				if (k == order + 1 && dist_i < nearest_next)
					nearest_next = dist_i;
				if (!render || k > order || (k > 0 && sy->early_gain == 0.0))
					continue;

				double t = dist_i / C_SOUND, w = 1.0;
				if (k > 0 && sy->late_gain > 0.0 && t > sy->t_mix) {
					if (t >= sy->t_mix + sy->xfade)
						continue;
					w = cos(M_PI_2 * (t - sy->t_mix) / sy->xfade);
					w *= w;
				}
				/* direction of arrival, and of departure from the real speaker */
				double v[3], cosang = 0.0;
				for (int i = 0; i < 3; i++) {
					v[i] = d[i] / dist_i;
					cosang += (1 - 2 * pv[i]) * -v[i] * axis[i];
				}
				double gain = (a + (1.0 - a) * cosang) / dist_i * w;
				if (k > 0) {
					gain *= sy->early_gain;
					if (!sy->banded)
						gain *= exp(sy->ln_beta[0] * k);
				}
				float *const *o = sy->banded ? out + 4 * k : out;
				double frames = dist_i * fs_c - sy->info->removed;
				if ((r = add_arrival(sy, v, frames, gain, cosang, o[0 + s], o[2 + s], out_len)) < 0)
					return r;
				sy->info->images++;
			}
		}
	}
	sy->t_mix = nearest_next / C_SOUND;
	return 0;
}

/* Per order k >= 1: the images summed in acc + 4 k, through a minimum-phase
 * filter of magnitude beta(f)^k, added into the paths. */
static int wall_filters(struct synth *sy, uint32_t order, float *const *acc, uint32_t acc_len)
{
	const uint32_t flen = pow2_at_least((uint64_t)ceil(WALL_LENGTH_MS * 1e-3 * sy->rate));
	const uint32_t n = pow2_at_least(fmax((double)acc_len + flen, 8.0 * flen));
	const uint32_t bins = n / 2 + 1;
	struct iem_fft *fft = iem_fft_new(n);
	float *t = iem_fft_alloc(n), *s = iem_fft_alloc(n + 2), *fs = iem_fft_alloc(n + 2);
	float *taps = calloc(flen, sizeof(float));
	double *lnmag = calloc(bins, sizeof(double));
	int res = -ENOMEM;

	if (fft == NULL || t == NULL || s == NULL || fs == NULL || taps == NULL || lnmag == NULL)
		goto out;
	for (uint32_t k = 1; k <= order; k++) {
		for (uint32_t b = 0; b < bins; b++)
			lnmag[b] = k * band_value_at(sy->ln_beta, (double)b * sy->rate / n);
		minimum_phase(fft, lnmag, n, t, s, taps, flen);
		memset(t, 0, n * sizeof(float));
		memcpy(t, taps, flen * sizeof(float));
		iem_fft_forward(fft, t, fs);
		for (uint32_t p = 0; p < 4; p++) {
			memset(t, 0, n * sizeof(float));
			memcpy(t, acc[4 * k + p], acc_len * sizeof(float));
			iem_fft_forward(fft, t, s);
			for (uint32_t b = 0; b < bins; b++) {
				float re = s[2 * b] * fs[2 * b] - s[2 * b + 1] * fs[2 * b + 1];
				float im = s[2 * b] * fs[2 * b + 1] + s[2 * b + 1] * fs[2 * b];
				s[2 * b] = re;
				s[2 * b + 1] = im;
			}
			iem_fft_inverse(fft, s, t);
			uint32_t m = acc_len + flen - 1 < sy->len ? acc_len + flen - 1 : sy->len;
			for (uint32_t j = 0; j < m; j++)
				sy->path[p][j] += t[j] / (float)n;
		}
	}
	res = 0;
out:
	iem_fft_free(fft);
	iem_fft_free_buffer(t);
	iem_fft_free_buffer(s);
	iem_fft_free_buffer(fs);
	free(taps);
	free(lnmag);
	return res;
}

/* Gaussian noise, unit variance: xorshift64* and Box-Muller (fixed seed,
 * the same sequence everywhere). */
static uint64_t next_u64(uint64_t *st)
{
	*st ^= *st >> 12;
	*st ^= *st << 25;
	*st ^= *st >> 27;
	return *st * 2685821657736338717ull;
}

static void gaussian(uint64_t *st, float *out, uint32_t n)
{
	for (uint32_t i = 0; i < n; i += 2) {
		double u1 = ((next_u64(st) >> 11) + 0.5) / 9007199254740992.0;
		double u2 = (next_u64(st) >> 11) / 9007199254740992.0;
		double r = sqrt(-2.0 * log(u1));
		out[i] = (float)(r * cos(2.0 * M_PI * u2));
		if (i + 1 < n)
			out[i + 1] = (float)(r * sin(2.0 * M_PI * u2));
	}
}

/* The late tail from frame `start` (time t_mix, including the HRTF's own
 * lead) to the end of the response. */
static int tail(struct synth *sy, double start, double ic_distance)
{
	const struct iem_room_config *c = sy->cfg;
	const struct iem_room_info *info = sy->info;
	const uint32_t first = (uint32_t)ceil(fmax(start, 0.0));
	if (first >= sy->len)
		return 0;
	const uint32_t count = sy->len - first;
	const uint32_t n = pow2_at_least(count);
	const uint32_t bins = n / 2 + 1;
	const int bands = sy->banded ? IEM_ROOM_BANDS : 1;
	const double level = sqrt(4.0 * M_PI * C_SOUND / (info->volume * sy->rate)) * sy->late_gain;
	const uint32_t fade_out = (uint32_t)(count * TAIL_FADE_OUT) + 1;
	struct iem_fft *fft = iem_fft_new(n);
	float *noise[2] = { iem_fft_alloc(n + 2), iem_fft_alloc(n + 2) };
	float *spec = iem_fft_alloc(n + 2), *t = iem_fft_alloc(n);
	double *mixa = calloc(bins, sizeof(double)), *mixb = calloc(bins, sizeof(double));
	double *weight = calloc(bins, sizeof(double));
	int res = -ENOMEM;

	if (fft == NULL || noise[0] == NULL || noise[1] == NULL || spec == NULL || t == NULL ||
	    mixa == NULL || mixb == NULL || weight == NULL)
		goto out;
	/* the coherence, and the level over the speakers' directivity factor */
	for (uint32_t k = 0; k < bins; k++) {
		double f = (double)k * sy->rate / n;
		double ic = sy->hrtf == NULL ? 1.0 : diffuse_ic(f, ic_distance);
		double q = exp(-0.5 * band_value_at(sy->ln_q, f));
		mixa[k] = q * sqrt((1.0 + ic) / 2.0);
		mixb[k] = q * sqrt((1.0 - ic) / 2.0);
	}

	for (int s = 0; s < 2; s++) {
		uint64_t st = c->seed * 0x9E3779B97F4A7C15ull + (uint64_t)s * 2 + 1;
		for (int j = 0; j < 2; j++) {
			gaussian(&st, t, n);
			iem_fft_forward(fft, t, noise[j]);
		}
		for (int b = 0; b < bands; b++) {
			double t60 = sy->banded ? info->rt60[b] : info->rt60[3];
			for (uint32_t k = 0; k < bins; k++)
				weight[k] = bands == 1 ? 1.0 : band_weight(b, (double)k * sy->rate / n);
			for (int ear = 0; ear < 2; ear++) {
				const double sign = ear == 0 ? 1.0 : -1.0;
				for (uint32_t k = 0; k < bins; k++) {
					double wa = weight[k] * mixa[k], wb = sign * weight[k] * mixb[k];
					spec[2 * k] = (float)(wa * noise[0][2 * k] + wb * noise[1][2 * k]);
					spec[2 * k + 1] = (float)(wa * noise[0][2 * k + 1] + wb * noise[1][2 * k + 1]);
				}
				iem_fft_inverse(fft, spec, t);
				float *out = sy->path[ear * 2 + s];
				for (uint32_t i = 0; i < count; i++) {
					double since = (first + i - start) / sy->rate;	/* s after t_mix */
					double env = level / n * exp(-LN1000 * (sy->t_mix + since) / t60);
					if (since < sy->xfade) {
						double g = sin(M_PI_2 * since / sy->xfade);
						env *= g * g;
					}
					if (i >= count - fade_out)
						env *= 0.5 + 0.5 * cos(M_PI * (double)(i - (count - fade_out) + 1) / (fade_out + 1));
					out[first + i] += (float)(t[i] * env);
				}
			}
		}
	}
	res = 0;
out:
	iem_fft_free(fft);
	iem_fft_free_buffer(noise[0]);
	iem_fft_free_buffer(noise[1]);
	iem_fft_free_buffer(spec);
	iem_fft_free_buffer(t);
	free(mixa);
	free(mixb);
	free(weight);
	return res;
}

/* The largest |third-octave level| of a power spectrum (running sum cum)
 * over 100 Hz … 10 kHz, dB. */
static double centre_deviation(const double *cum, uint32_t bins, double df)
{
	double worst = 0.0;
	for (int k = -10; k <= 10; k++) {
		double d = 10.0 * log10(fmax(third_octave_mean(cum, bins, df, 1000.0 * pow(2.0, k / 3.0)), 1e-30));
		if (fabs(d) > fabs(worst))
			worst = d;
	}
	return worst;
}

/* The phantom-centre timbre filter (see the top); the response grows to
 * `final_len` taps. */
static int compensate(struct synth *sy, uint32_t final_len, uint32_t eq_len)
{
	const uint32_t n = pow2_at_least(fmax((double)sy->len + eq_len, 8.0 * eq_len));
	const uint32_t bins = n / 2 + 1;
	const double df = (double)sy->rate / n;
	const double f_hi = fmin(EQ_F_HI, 0.42 * sy->rate);
	const double lo = pow(2.0, -1.0 / 6.0), hi = pow(2.0, 1.0 / 6.0);
	struct iem_fft *fft = iem_fft_new(n);
	float *spec[4] = { NULL }, *t = iem_fft_alloc(n), *s = iem_fft_alloc(n + 2);
	float *taps = calloc(eq_len, sizeof(float));
	double *pw = calloc(bins, sizeof(double)), *cum = calloc(bins + 1, sizeof(double));
	double *lnmag = calloc(bins, sizeof(double)), *gdb = calloc(bins, sizeof(double));
	int res = -ENOMEM;

	for (int p = 0; p < 4; p++)
		spec[p] = iem_fft_alloc(n + 2);
	if (fft == NULL || t == NULL || s == NULL || taps == NULL || pw == NULL || cum == NULL ||
	    lnmag == NULL || gdb == NULL || !spec[0] || !spec[1] || !spec[2] || !spec[3])
		goto out;

	for (int p = 0; p < 4; p++) {
		memset(t, 0, n * sizeof(float));
		memcpy(t, sy->path[p], sy->len * sizeof(float));
		iem_fft_forward(fft, t, spec[p]);
	}
	/* the phantom centre's power, both ears */
	for (uint32_t k = 0; k < bins; k++) {
		double e = 0.0;
		for (int ear = 0; ear < 2; ear++) {
			double re = spec[ear * 2][2 * k] + spec[ear * 2 + 1][2 * k];
			double im = spec[ear * 2][2 * k + 1] + spec[ear * 2 + 1][2 * k + 1];
			e += 0.5 * (re * re + im * im);
		}
		pw[k] = e;
		cum[k + 1] = cum[k] + e;
	}
	sy->info->centre_dev_before_db = centre_deviation(cum, bins, df);

	/* The inverse, smoothed, held at the edges, limited around its mean;
	 * then corrected by what is left after the filter as realised (cut to
	 * eq_len taps), twice: where the response swings within a third of an
	 * octave (room modes, comb notches), one inversion of the smoothed
	 * power does not make the band's mean power flat. */
	double ref = 0.0;
	int nref = 0;
	for (int k = -7; k <= 6; k++, nref++)
		ref += -10.0 * log10(fmax(third_octave_mean(cum, bins, df, 1000.0 * pow(2.0, k / 3.0)), 1e-30));
	ref /= nref;
	for (uint32_t k = 0; k < bins; k++)
		gdb[k] = 0.0;
	for (int iter = 0; iter < 1 + EQ_REFINE; iter++) {
		double max_boost = -INFINITY, max_cut = INFINITY;
		for (uint32_t k = 0; k < bins; k++) {
			double f = fmin(fmax(k * df, EQ_F_LO), f_hi);
			uint32_t a = (uint32_t)floor(f * lo / df), b = (uint32_t)ceil(f * hi / df);
			if (b >= bins)
				b = bins - 1;
			double mean = (cum[b + 1] - cum[a]) / (double)(b - a + 1);
			double g = gdb[k] - 10.0 * log10(fmax(mean, 1e-30));
			gdb[k] = ref + fmin(fmax(g - ref, -EQ_RANGE_DB), EQ_RANGE_DB);
			max_boost = fmax(max_boost, gdb[k]);
			max_cut = fmin(max_cut, gdb[k]);
			lnmag[k] = gdb[k] * M_LN10 / 20.0;
		}
		sy->info->eq_max_boost_db = max_boost;
		sy->info->eq_max_cut_db = max_cut;
		minimum_phase(fft, lnmag, n, t, s, taps, eq_len);

		/* the centre's power through the filter as realised */
		memset(t, 0, n * sizeof(float));
		memcpy(t, taps, eq_len * sizeof(float));
		iem_fft_forward(fft, t, s);
		for (uint32_t k = 0; k < bins; k++) {
			double g2 = (double)s[2 * k] * s[2 * k] + (double)s[2 * k + 1] * s[2 * k + 1];
			cum[k + 1] = cum[k] + pw[k] * g2;
		}
	}
	sy->info->centre_dev_after_db = centre_deviation(cum, bins, df);

	/* applied to every path (s holds the filter's spectrum) */
	for (int p = 0; p < 4; p++) {
		float *x = spec[p];
		for (uint32_t k = 0; k < bins; k++) {
			float re = x[2 * k] * s[2 * k] - x[2 * k + 1] * s[2 * k + 1];
			float im = x[2 * k] * s[2 * k + 1] + x[2 * k + 1] * s[2 * k];
			x[2 * k] = re;
			x[2 * k + 1] = im;
		}
		iem_fft_inverse(fft, x, t);
		for (uint32_t j = 0; j < final_len; j++)
			sy->path[p][j] = t[j] / (float)n;
	}
	sy->len = final_len;
	res = 0;
out:
	iem_fft_free(fft);
	for (int p = 0; p < 4; p++)
		iem_fft_free_buffer(spec[p]);
	iem_fft_free_buffer(t);
	iem_fft_free_buffer(s);
	free(taps);
	free(pw);
	free(cum);
	free(lnmag);
	free(gdb);
	return res;
}

/* The frame where the HRTF's frontal response peaks: its own delay. */
static int hrtf_lead(struct synth *sy, double *lead)
{
	int r;
	if (sy->hrtf == NULL) {
		*lead = OMNI_LEAD;
		return 0;
	}
	if ((r = iem_hrtf_get(sy->hrtf, 0.0, 0.0, sy->hrir[0], sy->hrir[1])) < 0)
		return r;
	uint32_t best = 0;
	for (uint32_t i = 1; i < sy->hl; i++)
		if (fabsf(sy->hrir[0][i]) > fabsf(sy->hrir[0][best]))
			best = i;
	*lead = best;
	return 0;
}

int iem_room_render(const struct iem_room_config *cfg, const struct iem_hrtf *hrtf,
		uint32_t rate, struct iem_room **out, char *err, size_t err_size)
{
	struct synth sy = { .cfg = cfg, .hrtf = hrtf, .rate = rate };
	struct iem_room *room = NULL;
	float **acc = NULL;
	uint32_t order = 0, acc_len = 0;
	double lead, arrive0, ic_distance = IC_DISTANCE;
	int r;

	if (out == NULL || cfg == NULL) {
		set_err(err, err_size, "no configuration or no place for the result");
		return -EINVAL;
	}
	*out = NULL;
	if (rate < IEM_MIN_RATE || rate > IEM_MAX_RATE) {
		set_err(err, err_size, "sample rate %u Hz is outside %u … %u Hz", rate, IEM_MIN_RATE, IEM_MAX_RATE);
		return -EINVAL;
	}
	if ((r = check_config(cfg, err, err_size)) < 0)
		return r;
	if ((room = calloc(1, sizeof(*room))) == NULL) {
		set_err(err, err_size, "out of memory");
		return -ENOMEM;
	}
	room->rate = rate;
	sy.info = &room->info;
	if ((r = place(cfg, sy.info, err, err_size)) < 0)
		goto error;

	/* walls */
	struct iem_room_info *info = sy.info;
	info->volume = cfg->width * cfg->depth * cfg->height;
	info->surface = 2.0 * (cfg->width * cfg->depth + cfg->width * cfg->height + cfg->depth * cfg->height);
	double t60_max = 0.0;
	bool any_zero = false;
	for (int b = 0; b < IEM_ROOM_BANDS; b++) {
		double t60 = cfg->rt60_band[b] > 0.0 ? cfg->rt60_band[b] : cfg->rt60;
		info->rt60[b] = t60;
		t60_max = fmax(t60_max, t60);
		any_zero |= !(t60 > 0.0);
		if (t60 != info->rt60[0])
			sy.banded = true;
		/* Eyring: ln(1 - alpha) = -24 ln 10 V / (c S T); beta = sqrt(1 - alpha) */
		sy.ln_beta[b] = t60 > 0.0 ? -12.0 * M_LN10 * info->volume / (C_SOUND * info->surface * t60) : -INFINITY;
		info->beta[b] = exp(sy.ln_beta[b]);
	}
	sy.early_gain = cfg->early_db > IEM_ROOM_LEVEL_OFF ? pow(10.0, cfg->early_db / 20.0) : 0.0;
	sy.late_gain = cfg->late_db > IEM_ROOM_LEVEL_OFF ? pow(10.0, cfg->late_db / 20.0) : 0.0;
	sy.room = t60_max > 0.0 && (sy.early_gain > 0.0 || sy.late_gain > 0.0);
	if (sy.room && any_zero) {
		set_err(err, err_size, "a reverberation time of 0 s in some bands only: give all bands or none");
		r = -EINVAL;
		goto error;
	}
	if (!sy.room) {
		sy.early_gain = sy.late_gain = 0.0;
		sy.banded = false;
	}
	order = sy.room ? cfg->order : 0;
	sy.xfade = IEM_ROOM_XFADE_MS * 1e-3;

	/* HRIR scratch */
	sy.hl = hrtf ? iem_hrtf_length(hrtf) : 1;
	sy.hrir[0] = calloc(sy.hl, sizeof(float));
	sy.hrir[1] = calloc(sy.hl, sizeof(float));
	if (sy.hrir[0] == NULL || sy.hrir[1] == NULL)
		goto nomem;
	if ((r = hrtf_lead(&sy, &lead)) < 0) {
		set_err(err, err_size, "the HRTF failed: %s", strerror(-r));
		goto error;
	}
	if (directivity_init(&sy) < 0)
		goto nomem;
	if (hrtf) {
		struct iem_hrtf_info hi;
		iem_hrtf_get_info(hrtf, &hi);
		if (hi.kind == IEM_HRTF_MODEL)
			ic_distance = IC_DISTANCE * hi.head_radius / IEM_HRTF_HEAD_RADIUS_DEFAULT;
	}

	/* timing: flight time off the front; the mixing time */
	info->removed = (uint32_t)floor(cfg->distance / C_SOUND * rate);
	info->origin = (hrtf ? 0.0 : OMNI_LEAD) - (double)info->removed;
	arrive0 = lead - (double)info->removed;	/* a 0 m arrival at the ears */
	if ((r = images(&sy, order, false, NULL, 0)) < 0)
		goto error;
	info->mixing_time = sy.late_gain > 0.0 ? sy.t_mix : 0.0;

	/* length: the last image (at most t_mix + xfade when there is a tail,
	 * else the furthest of its order) and the tail to -60 dB */
	double diag = sqrt(cfg->width * cfg->width + cfg->depth * cfg->depth + cfg->height * cfg->height);
	double t_last = sy.room ? (sy.late_gain > 0.0 ? sy.t_mix + sy.xfade + t60_max
				: (2.0 * order + 1.0) * diag / C_SOUND) : cfg->distance / C_SOUND;
	const uint64_t cap = (uint64_t)floor(cfg->max_seconds * rate);
	const uint32_t eq_len = cfg->compensate ? pow2_at_least((uint64_t)ceil(EQ_LENGTH_MS * 1e-3 * rate)) : 0;
	uint64_t need = (uint64_t)ceil(arrive0 + t_last * rate) + sy.hl + sy.dextra + 2 * HRTF_FD_HALF;
	if (need > cap)
		need = cap;
	uint64_t final_len = need + eq_len > cap ? cap : need + eq_len;
	if (final_len > IEM_CONV_MAX_TAPS) {
		set_err(err, err_size, "%llu taps is more than a stage takes (%u)",
				(unsigned long long)final_len, IEM_CONV_MAX_TAPS);
		r = -E2BIG;
		goto error;
	}
	sy.len = (uint32_t)need;
	if ((room->buf = calloc(4 * (size_t)final_len, sizeof(float))) == NULL)
		goto nomem;
	for (int p = 0; p < 4; p++)
		sy.path[p] = room->buf + (size_t)p * final_len;

	/* direct sound and early reflections */
	if (sy.banded) {
		acc_len = (uint32_t)fmin((double)sy.len,
				ceil(arrive0 + (sy.late_gain > 0.0 ? sy.t_mix + sy.xfade : t_last) * rate) +
				sy.hl + sy.dextra + 2 * HRTF_FD_HALF);
		acc = calloc(4 * ((size_t)order + 1), sizeof(float *));
		if (acc == NULL)
			goto nomem;
		for (uint32_t p = 0; p < 4; p++)
			acc[p] = sy.path[p];	/* order 0: straight into the response */
		for (size_t k = 4; k < 4 * ((size_t)order + 1); k++)
			if ((acc[k] = calloc(acc_len, sizeof(float))) == NULL)
				goto nomem;
		r = images(&sy, order, true, acc, acc_len);
		if (r == 0)
			r = wall_filters(&sy, order, acc, acc_len);
	} else {
		r = images(&sy, order, true, sy.path, sy.len);
	}
	if (r < 0) {
		set_err(err, err_size, "%s", r == -ENOMEM ? "out of memory" : "the HRTF failed");
		goto error;
	}
	if (sy.late_gain > 0.0 &&
	    (r = tail(&sy, arrive0 + sy.t_mix * rate, ic_distance)) < 0)
		goto nomem;
	if (cfg->compensate && (r = compensate(&sy, (uint32_t)final_len, eq_len)) < 0)
		goto nomem;

	for (int p = 0; p < 4; p++)
		room->paths[p] = sy.path[p];
	room->ir = (struct iem_ir) { 2, 2, sy.len, room->paths };
	free(sy.hrir[0]);
	free(sy.hrir[1]);
	directivity_clear(&sy);
	if (acc) {
		for (size_t k = 4; k < 4 * ((size_t)order + 1); k++)
			free(acc[k]);
		free(acc);
	}
	*out = room;
	return 0;

nomem:
	set_err(err, err_size, "out of memory");
	r = -ENOMEM;
error:
	free(sy.hrir[0]);
	free(sy.hrir[1]);
	directivity_clear(&sy);
	if (acc) {
		for (size_t k = 4; k < 4 * ((size_t)order + 1); k++)
			free(acc[k]);
		free(acc);
	}
	iem_room_free(room);
	return r;
}
