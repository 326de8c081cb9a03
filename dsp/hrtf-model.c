/* SPDX-License-Identifier: MIT */
/*
 * The built-in HRTF: Brown & Duda's structural model (IEEE Trans. Speech
 * Audio Proc. 6(5):476-488, 1998) of a rigid sphere of radius a with the
 * ears at +-90 degrees, plus pinna and shoulder echoes. Per ear:
 *
 *   echo train (direct sound, five pinna echoes, one shoulder echo)
 *     -> head shadow |H_hs| for that ear's angle
 *     -> delay T_h for that ear's angle (Woodworth's ITD)
 *
 * Head shadow. B&D's one-pole/one-zero filter, bilinear transformed
 * (dsp-reference §2.1):
 *
 *   H(z) = (b0 + b1 z^-1) / (1 + a1 z^-1),  w = (c/a) / fs,
 *   b0 = (alpha + w)/(1 + w),  b1 = (w - alpha)/(1 + w),  a1 = (w - 1)/(1 + w),
 *   alpha(theta) = (1 + amin/2) + (1 - amin/2) cos(theta/theta_min * 180 deg),
 *
 * with theta the angle between the source and that ear's axis, amin = 0.1,
 * theta_min = 150 degrees: +6 dB above the 1.25 kHz corner on the ear's
 * own side, -20 dB at 150 degrees. We use its magnitude only, as a
 * zero-phase (symmetric) kernel centred on the ear's arrival. The filter
 * itself is minimum phase, and its phase adds a low-frequency group delay
 * of (1 - alpha) a / (2c) per ear: about +135 us of ITD at 30 degrees and
 * +220 us at 90 degrees below 1 kHz, on top of Woodworth. Measured KEMAR
 * ITDs (dsp-reference §2.6: 275 / 526 / 706 us low-passed) sit close to
 * Woodworth with a slightly larger radius, not 30-45 % above it, so the
 * shadow's phase is left out: the ITD is the Woodworth delay at every
 * frequency, and the head radius sets it predictably (9.65 cm matches
 * KEMAR's low-frequency ITD best).
 *
 * Delay (B&D, per ear, relative to the centre of the head):
 *
 *   T_h = -(a/c) cos(theta)          for theta < 90 degrees,
 *   T_h =  (a/c) (theta - 90 deg)    beyond,
 *
 * so ITD = (a/c)(phi + sin phi), phi the lateral angle. Realised as a
 * windowed-sinc fractional delay, never rounded.
 *
 * Pinna echoes (B&D Table I, subject 1): rho = 0.5, -1, 0.5, -0.25, 0.25
 * at tau_k = A_k cos(theta/2) sin(D_k (90 deg - phi)) + B_k samples at
 * 44.1 kHz (rescaled to the session rate, fractional), theta the lateral
 * angle and phi the elevation in interaural-polar coordinates, sources
 * behind projected to the front. Same for both ears.
 *
 * Shoulder echo (Brown & Duda 1997): delay 1.2 ms (180 - theta)/180
 * [1 - 0.00004 ((phi - 80) 180/(180 + theta))^2], theta = |lateral angle|,
 * gain 0.3 (an implementation choice; B&D fit none). The formula reaches 0
 * for sources about 75 degrees below the horizon, where the torso blocks
 * the path: the echo fades out over its last 0.2 ms.
 *
 * Each pair is scaled so that its response at 0 Hz is exactly 1 (0 dB), as
 * a real head's is: the pinna echoes sum to zero there, the shoulder echo
 * does not.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hrtf-private.h"

#define ALPHA_MIN	0.1
#define THETA_MIN	(150.0 * M_PI / 180.0)
#define SHOULDER_GAIN	0.3
#define SHOULDER_FADE	0.2e-3	/* s */
#define SHOULDER_MAX	1.2e-3	/* s */
#define PINNA_RATE	44100.0
#define PINNA_MAX	18.0	/* samples at 44.1 kHz: A + B of the last echo */
/* The head-shadow kernel is cut where it has decayed to this. */
#define KERNEL_FLOOR	1e-4

static const double pinna_rho[5] = { 0.5, -1.0, 0.5, -0.25, 0.25 };
static const double pinna_a[5] = { 1.0, 5.0, 5.0, 5.0, 5.0 };
static const double pinna_b[5] = { 2.0, 4.0, 7.0, 11.0, 13.0 };
static const double pinna_d[5] = { 1.0, 0.5, 0.5, 0.5, 0.5 };

int hrtf_model_init(struct hrtf_model *m, double radius, uint32_t rate)
{
	const double ac = radius / HRTF_SPEED_OF_SOUND;
	const double w = 1.0 / (ac * rate);
	/* the one-pole's pole, which sets how fast the kernel decays */
	const double pole = (1.0 - w) / (1.0 + w);
	uint64_t length;

	if (!(radius > 0.0) || rate == 0)
		return -EINVAL;

	memset(m, 0, sizeof(*m));
	m->rate = rate;
	m->radius = radius;
	m->kernel_half = (uint32_t)ceil(log(KERNEL_FLOOR) / log(pole));
	if (m->kernel_half < 8)
		m->kernel_half = 8;
	m->bulk = m->kernel_half + HRTF_FD_HALF;

	length = m->bulk;
	length += (uint64_t)ceil(ac * (1.0 + M_PI / 2.0) * rate);		/* ITD span */
	length += (uint64_t)ceil(fmax(SHOULDER_MAX, PINNA_MAX / PINNA_RATE) * rate);
	length += HRTF_FD_HALF + m->kernel_half + 1;
	length = (length + 15) & ~(uint64_t)15;
	if (length > IEM_HRTF_MAX_TAPS)
		return -E2BIG;
	m->length = (uint32_t)length;
	return 0;
}

/* |H(e^jw)| of the bilinear-transformed head-shadow filter. */
static double shadow_mag(double alpha, double w, double omega)
{
	double b0 = (alpha + w) / (1.0 + w), b1 = (w - alpha) / (1.0 + w), a1 = (w - 1.0) / (1.0 + w);
	double c = cos(omega);
	double num = b0 * b0 + b1 * b1 + 2.0 * b0 * b1 * c;
	double den = 1.0 + a1 * a1 + 2.0 * a1 * c;
	return sqrt(fmax(num, 0.0) / den);
}

/* The zero-phase head-shadow kernel s[0 … half] (s[-m] = s[m]), summing
 * to exactly |H(1)| = 1: the inverse DFT of |H| on fsize points.
 * cos_tab holds cos(2 pi j / fsize); mag is scratch of fsize/2 + 1. */
static void shadow_kernel(double alpha, double w, uint32_t half, const double *cos_tab,
		uint32_t fsize, double *mag, double *s)
{
	const uint32_t bins = fsize / 2;
	double sum = 0.0;

	for (uint32_t k = 0; k <= bins; k++)
		mag[k] = shadow_mag(alpha, w, 2.0 * M_PI * k / fsize);
	for (uint32_t m = 0; m <= half; m++) {
		double acc = mag[0] + ((m & 1) ? -1.0 : 1.0) * mag[bins];
		for (uint32_t k = 1; k < bins; k++)
			acc += 2.0 * mag[k] * cos_tab[((uint64_t)k * m) & (fsize - 1)];
		s[m] = acc / fsize;
	}
	/* taper the second half of the (already tiny) tail */
	for (uint32_t m = half / 2 + 1; m <= half; m++)
		s[m] *= 0.5 + 0.5 * cos(M_PI * (double)(m - half / 2) / (double)(half - half / 2 + 1));
	for (uint32_t m = 0; m <= half; m++)
		sum += m ? 2.0 * s[m] : s[m];
	for (uint32_t m = 0; m <= half; m++)
		s[m] /= sum;
}

int hrtf_model_get(const struct hrtf_model *m, double azimuth_deg, double elevation_deg,
		float *left, float *right)
{
	const double ac = m->radius / HRTF_SPEED_OF_SOUND;
	const double w = 1.0 / (ac * m->rate);
	const uint32_t len = m->length, half = m->kernel_half;
	uint32_t fsize = 16;
	double v[3], *cos_tab, *mag, *train, *kernel;

	while (fsize < 8 * (half + 1))
		fsize <<= 1;
	cos_tab = malloc(fsize * sizeof(double));
	mag = malloc((fsize / 2 + 1) * sizeof(double));
	train = malloc(len * sizeof(double));
	kernel = malloc((half + 1) * sizeof(double));
	if (cos_tab == NULL || mag == NULL || train == NULL || kernel == NULL) {
		free(cos_tab);
		free(mag);
		free(train);
		free(kernel);
		return -ENOMEM;
	}
	for (uint32_t j = 0; j < fsize; j++)
		cos_tab[j] = cos(2.0 * M_PI * j / fsize);

	hrtf_direction(azimuth_deg, elevation_deg, v);

	/* interaural-polar angles for the pinna and shoulder: lateral angle
	 * and elevation around the interaural axis, folded to the front */
	double front = sqrt(v[0] * v[0] + v[2] * v[2]);
	double lateral = atan2(fabs(v[1]), front) * 180.0 / M_PI;
	double polar = front > 1e-12 ? atan2(v[2], v[0]) * 180.0 / M_PI : 0.0;
	if (polar > 90.0)
		polar = 180.0 - polar;
	else if (polar < -90.0)
		polar = -180.0 - polar;

	double tau[5];
	for (int k = 0; k < 5; k++)
		tau[k] = (pinna_a[k] * cos(lateral * M_PI / 360.0) *
				sin(pinna_d[k] * (90.0 - polar) * M_PI / 180.0) + pinna_b[k]) *
			(m->rate / PINNA_RATE);

	double q = (polar - 80.0) * 180.0 / (180.0 + lateral);
	double t_sh = SHOULDER_MAX * (180.0 - lateral) / 180.0 * (1.0 - 0.00004 * q * q);
	double g_sh = SHOULDER_GAIN * fmin(fmax(t_sh / SHOULDER_FADE, 0.0), 1.0);
	double norm = 1.0 / (1.0 + g_sh);

	for (int ear = 0; ear < 2; ear++) {
		float *out = ear == 0 ? left : right;
		/* angle between the source and this ear's axis (y for the left) */
		double side = ear == 0 ? v[1] : -v[1];
		double theta = atan2(front, side);
		double alpha = (1.0 + ALPHA_MIN / 2.0) + (1.0 - ALPHA_MIN / 2.0) * cos(theta / THETA_MIN * M_PI);
		double t_h = theta < M_PI / 2.0 ? -ac * cos(theta) : ac * (theta - M_PI / 2.0);
		double arrival = m->bulk + (t_h + ac) * m->rate;

		memset(train, 0, len * sizeof(double));
		hrtf_impulse_add(train, len, arrival, norm);
		for (int k = 0; k < 5; k++)
			hrtf_impulse_add(train, len, arrival + tau[k], norm * pinna_rho[k]);
		if (g_sh > 0.0)
			hrtf_impulse_add(train, len, arrival + t_sh * m->rate, norm * g_sh);

		shadow_kernel(alpha, w, half, cos_tab, fsize, mag, kernel);
		for (uint32_t n = 0; n < len; n++) {
			double acc = kernel[0] * train[n];
			for (uint32_t k = 1; k <= half; k++) {
				if (n >= k)
					acc += kernel[k] * train[n - k];
				if (n + k < len)
					acc += kernel[k] * train[n + k];
			}
			out[n] = (float)acc;
		}
	}

	free(cos_tab);
	free(mag);
	free(train);
	free(kernel);
	return 0;
}
