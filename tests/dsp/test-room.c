/* SPDX-License-Identifier: MIT */
/*
 * The virtual room: geometry against the image-source formula (Allen &
 * Berkley, dsp-reference §4.1), the late tail's decay (Schroeder) and
 * interaural coherence, the phantom centre's timbre, determinism, the chain
 * with stage.mode = room, and refusals.
 *
 * Spectra here come from the test's own radix-2 FFT, not the library's.
 * Band levels are power means over the FFT bins in [fc 2^-1/6, fc 2^1/6]
 * (third octaves) or [fc / sqrt 2, fc sqrt 2] (octaves).
 */
#include <complex.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "iem-test.h"
#include "iem-test-dsp.h"

#define C_SOUND 343.0
#define RATE 48000u

/* ---- helpers ------------------------------------------------------------- */

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;
	while (p < n)
		p <<= 1;
	return p;
}

/* In-place iterative radix-2 FFT. */
static void fft(double complex *x, uint32_t n)
{
	for (uint32_t i = 1, j = 0; i < n; i++) {
		uint32_t bit = n >> 1;
		for (; j & bit; bit >>= 1)
			j ^= bit;
		j ^= bit;
		if (i < j) {
			double complex t = x[i];
			x[i] = x[j];
			x[j] = t;
		}
	}
	for (uint32_t len = 2; len <= n; len <<= 1) {
		double complex w = cexp(-2.0 * I * M_PI / len);
		for (uint32_t i = 0; i < n; i += len) {
			double complex u = 1.0;
			for (uint32_t k = 0; k < len / 2; k++) {
				double complex a = x[i + k], b = x[i + k + len / 2] * u;
				x[i + k] = a + b;
				x[i + k + len / 2] = a - b;
				u *= w;
			}
		}
	}
}

/* Spectrum of a + b (b may be NULL), zero-padded to n. */
static double complex *spectrum(const float *a, const float *b, uint32_t len, uint32_t n)
{
	double complex *x = test_alloc(n, sizeof(*x));
	for (uint32_t i = 0; i < len; i++)
		x[i] = a[i] + (b ? b[i] : 0.0f);
	fft(x, n);
	return x;
}

/* Power mean of |x|^2 over bins in [lo, hi] Hz. */
static double band_mean(const double complex *x, uint32_t n, double lo, double hi)
{
	uint32_t a = (uint32_t)ceil(lo * n / RATE), b = (uint32_t)floor(hi * n / RATE);
	double s = 0.0;
	if (b < a)
		b = a;
	for (uint32_t k = a; k <= b; k++)
		s += creal(x[k]) * creal(x[k]) + cimag(x[k]) * cimag(x[k]);
	return s / (b - a + 1);
}

static double energy(const float *x, uint32_t n)
{
	double e = 0.0;
	for (uint32_t i = 0; i < n; i++)
		e += (double)x[i] * x[i];
	return e;
}

static struct iem_room *render(const struct iem_room_config *cfg, const struct iem_hrtf *h)
{
	struct iem_room *room = NULL;
	char err[256] = "";
	int r = iem_room_render(cfg, h, RATE, &room, err, sizeof(err));
	if (r < 0) {
		printf("Bail out! iem_room_render: %s (%d)\n", err, r);
		exit(1);
	}
	return room;
}

static struct iem_hrtf *model(void)
{
	struct iem_hrtf_config hc;
	iem_hrtf_config_init(&hc);
	hc.kind = IEM_HRTF_MODEL;
	struct iem_hrtf *h = iem_hrtf_new(&hc, RATE, NULL, 0);
	if (h == NULL) {
		printf("Bail out! the model HRTF: %s\n", strerror(errno));
		exit(1);
	}
	return h;
}

/* KEMAR, or NULL (and a reason) when the file is missing. */
static struct iem_hrtf *kemar(char *why, size_t size)
{
	struct iem_hrtf_config hc;
	char path[4096];
	int r = iem_hrtf_default_sofa(path, sizeof(path));
	if (r < 0) {
		snprintf(why, size, "no MIT KEMAR SOFA file (%s)", strerror(-r));
		return NULL;
	}
	iem_hrtf_config_init(&hc);
	hc.kind = IEM_HRTF_SOFA;
	hc.sofa_path = path;
	struct iem_hrtf *h = iem_hrtf_new(&hc, RATE, why, size);
	return h;
}

static void skip(const char *why)
{
	printf("ok %u - # SKIP %s\n", ++iem_test_count, why);
}

/* A config with nothing but geometry: omni speakers, no filter. */
static void plain_config(struct iem_room_config *cfg)
{
	iem_room_config_init(cfg);
	cfg->speaker_pattern = 1.0;
	for (int b = 0; b < IEM_ROOM_BANDS; b++)
		cfg->speaker_di_db[b] = 0.0;
	cfg->compensate = false;
}

/* ---- direct sound ----------------------------------------------------------- */

/* First moment (DC group delay) and sum of x over [a, b). */
static void moment(const float *x, uint32_t a, uint32_t b, double *pos, double *sum)
{
	double s = 0.0, m = 0.0;
	for (uint32_t i = a; i < b; i++) {
		s += x[i];
		m += (double)i * x[i];
	}
	*pos = m / s;
	*sum = s;
}

static void test_direct(void)
{
	static const double dist[] = { 0.5, 1.0, 2.0, 3.3, 4.0 };
	struct iem_room_config cfg;
	bool ok_t = true, ok_l = true, only = true;
	double worst_t = 0.0, worst_l = 0.0;

	plain_config(&cfg);
	cfg.rt60 = 0.0;
	cfg.width = cfg.depth = 12.0;
	for (size_t i = 0; i < sizeof(dist) / sizeof(dist[0]); i++) {
		cfg.distance = dist[i];
		struct iem_room *room = render(&cfg, NULL);
		for (int p = 0; p < 4; p++) {
			double pos, sum, want = room->info.origin + dist[i] * RATE / C_SOUND;
			moment(room->ir.taps[p], 0, room->ir.length, &pos, &sum);
			worst_t = fmax(worst_t, fabs(pos - want));
			worst_l = fmax(worst_l, fabs(db(sum * dist[i])));
			ok_t &= fabs(pos - want) < 0.01;
			ok_l &= fabs(db(sum * dist[i])) < 0.01;
			/* nothing but the one arrival: no energy outside its kernel */
			uint32_t c = (uint32_t)lround(want);
			double inside = energy(room->ir.taps[p] + c - 17, 35);
			only &= energy(room->ir.taps[p], room->ir.length) - inside <= 1e-9 * inside;
		}
		iem_room_free(room);
	}
	check(ok_t, "anechoic, omni microphone: the direct sound arrives at r / c (+ origin) for r = 0.5 … 4 m (worst %.4f samples)", worst_t);
	check(ok_l, "… at a level of 1 / r (worst %.4f dB)", worst_l);
	check(only, "… and nothing else arrives (no energy outside +-17 taps of it)");

	/* through the model HRTF: 2 m against 4 m */
	struct iem_hrtf *h = model();
	struct iem_room *room[2];
	cfg.distance = 2.0;
	room[0] = render(&cfg, h);
	cfg.distance = 4.0;
	room[1] = render(&cfg, h);
	double lag_want = 2.0 * RATE / C_SOUND - ((double)room[1]->info.removed - room[0]->info.removed);
	uint32_t n = room[0]->ir.length < room[1]->ir.length ? room[0]->ir.length : room[1]->ir.length;
	double worst_db = 0.0, worst_lag = 0.0;
	for (int p = 0; p < 4; p++) {
		const float *a = room[0]->ir.taps[p], *b = room[1]->ir.taps[p];
		double e = 10.0 * log10(energy(b, room[1]->ir.length) / energy(a, room[0]->ir.length));
		worst_db = fmax(worst_db, fabs(e - db(0.5)));
		/* b is a delayed by lag_want: the cross-correlation peaks there */
		int best = 0;
		double bestv = -INFINITY;
		for (int k = -8; k <= 48; k++) {
			double acc = 0.0;
			for (uint32_t i = 0; i < n; i++)
				if ((int)i + k >= 0 && (int)i + k < (int)n)
					acc += (double)a[i] * b[i + k];
			if (acc > bestv) {
				bestv = acc;
				best = k;
			}
		}
		worst_lag = fmax(worst_lag, fabs(best - lag_want));
	}
	check(worst_db < 0.05 && worst_lag <= 0.5,
			"model HRTF: 4 m is 6.02 dB below 2 m (worst %.3f dB off) and %.2f samples later (worst %.2f off)",
			worst_db, lag_want, worst_lag);
	iem_room_free(room[0]);
	iem_room_free(room[1]);
	iem_hrtf_free(h);
}

/* ---- first-order reflections --------------------------------------------------- */

static void test_first_order(void)
{
	const uint32_t rate = 192000;	/* arrivals 2 cm apart stay apart */
	struct iem_room_config cfg;
	struct iem_room *room = NULL;
	char err[256];

	plain_config(&cfg);
	cfg.order = 1;
	cfg.late_db = IEM_ROOM_LEVEL_OFF;
	cfg.rt60 = 0.5;
	if (iem_room_render(&cfg, NULL, rate, &room, err, sizeof(err)) < 0) {
		check(false, "render at 192 kHz: %s", err);
		return;
	}
	const struct iem_room_info *in = &room->info;
	const double L[3] = { cfg.depth, cfg.width, cfg.height };
	/* Eyring, as dsp-reference §4.1 puts it, from the room alone */
	double V = cfg.width * cfg.depth * cfg.height;
	double S = 2 * (cfg.width * cfg.depth + cfg.width * cfg.height + cfg.depth * cfg.height);
	double alpha = 1.0 - exp(-0.161 * V / (S * cfg.rt60));
	double beta = sqrt(1.0 - alpha);

	/* the listener on the centre line, speakers at +-30 degrees, 2 m */
	double dx = in->speaker[0][0] - in->listener[0], dy = in->speaker[0][1] - in->listener[1];
	check(fabs(in->listener[1] - cfg.width / 2) < 1e-9 && fabs(hypot(dx, dy) - 2.0) < 1e-9 &&
			fabs(atan2(dy, dx) * 180 / M_PI - 30.0) < 1e-9 &&
			fabs(in->speaker[1][1] - (cfg.width - in->speaker[0][1])) < 1e-9,
			"geometry: listener at (%.2f, %.2f, %.2f) m, left speaker at (%.2f, %.2f, %.2f) m",
			in->listener[0], in->listener[1], in->listener[2],
			in->speaker[0][0], in->speaker[0][1], in->speaker[0][2]);

	double worst_t = 0.0, worst_a = 0.0, inside = 0.0;
	for (int s = 0; s < 2; s++) {
		const float *x = room->ir.taps[s];	/* speaker s -> left ear */
		for (int img = 0; img < 7; img++) {
			double p[3] = { in->speaker[s][0], in->speaker[s][1], in->speaker[s][2] };
			if (img > 0) {
				int axis = (img - 1) / 2;
				/* mirror in the wall at 0 or at L */
				p[axis] = (img - 1) % 2 ? 2.0 * L[axis] - p[axis] : -p[axis];
			}
			double r = sqrt(pow(p[0] - in->listener[0], 2) + pow(p[1] - in->listener[1], 2) +
					pow(p[2] - in->listener[2], 2));
			double want_t = in->origin + r * rate / C_SOUND;
			double want_a = (img ? beta : 1.0) / r;
			uint32_t c = (uint32_t)lround(want_t);
			double pos, sum;
			moment(x, c - 17, c + 18, &pos, &sum);
			worst_t = fmax(worst_t, fabs(pos - want_t));
			worst_a = fmax(worst_a, fabs(db(sum / want_a)));
			inside += energy(x + c - 17, 35);
		}
	}
	double e = energy(room->ir.taps[0], room->ir.length) + energy(room->ir.taps[1], room->ir.length);
	check(worst_t < 0.05, "first-order reflections arrive at |image - listener| / c: worst %.3f samples at 192 kHz", worst_t);
	check(worst_a < 0.05, "… with beta / r, beta = %.4f from Eyring (worst %.3f dB; the room says beta %.4f)",
			beta, worst_a, in->beta[3]);
	check(e - inside <= 1e-9 * e, "… and nothing else: %.2g of the energy outside +-17 taps of the 14 arrivals",
			(e - inside) / e);
	check(in->images == 14, "14 images: 2 speakers x (direct + 6) (%u)", in->images);
	iem_room_free(room);
}

/* ---- the speakers' directivity ------------------------------------------------- */

/* kappa of the beam exp(kappa (cos theta - 1)) with directivity index di
 * dB, from its closed form Q = 4 kappa / (1 - exp(-4 kappa)). */
static double beam_kappa(double di)
{
	double q = pow(10.0, di / 10.0), lo = 0.0, hi = 64.0;
	for (int i = 0; i < 100; i++) {
		double mid = 0.5 * (lo + hi);
		if (4.0 * mid / (1.0 - exp(-4.0 * mid)) < q)
			lo = mid;
		else
			hi = mid;
	}
	return 0.5 * (lo + hi);
}

static void test_directivity(void)
{
	const uint32_t rate = 192000;
	struct iem_room_config cfg;
	struct iem_room *room = NULL;
	char err[256];

	/* one directivity index in every band: the filter is a gain, and each
	 * first-order image is exp(kappa (cos theta - 1)) beta / r, theta the
	 * angle at which its ray leaves the speaker */
	plain_config(&cfg);
	cfg.order = 1;
	cfg.late_db = IEM_ROOM_LEVEL_OFF;
	cfg.rt60 = 0.5;
	for (int b = 0; b < IEM_ROOM_BANDS; b++)
		cfg.speaker_di_db[b] = 6.0;
	if (iem_room_render(&cfg, NULL, rate, &room, err, sizeof(err)) < 0) {
		check(false, "render at 192 kHz: %s", err);
		return;
	}
	const struct iem_room_info *in = &room->info;
	const double L[3] = { cfg.depth, cfg.width, cfg.height };
	const double kappa = beam_kappa(6.0);
	double worst = 0.0, lowest = 0.0;
	for (int s = 0; s < 2; s++) {
		const float *x = room->ir.taps[s];
		double axis[3], norm = 0.0;
		for (int i = 0; i < 3; i++) {
			axis[i] = in->listener[i] - in->speaker[s][i];
			norm += axis[i] * axis[i];
		}
		for (int img = 0; img < 7; img++) {
			double p[3] = { in->speaker[s][0], in->speaker[s][1], in->speaker[s][2] };
			int ax = img > 0 ? (img - 1) / 2 : -1;
			if (img > 0)
				p[ax] = (img - 1) % 2 ? 2.0 * L[ax] - p[ax] : -p[ax];
			double d[3], r = 0.0, cos_theta = 0.0;
			for (int i = 0; i < 3; i++) {
				d[i] = in->listener[i] - p[i];
				r += d[i] * d[i];
			}
			r = sqrt(r);
			if (ax >= 0)
				d[ax] = -d[ax];	/* the ray before the wall */
			for (int i = 0; i < 3; i++)
				cos_theta += d[i] * axis[i] / (r * sqrt(norm));
			double want = (img ? in->beta[3] : 1.0) / r * exp(kappa * (cos_theta - 1.0));
			uint32_t c = (uint32_t)lround(in->origin + r * rate / C_SOUND);
			double pos, sum;
			moment(x, c - 17, c + 18, &pos, &sum);
			worst = fmax(worst, fabs(db(sum / want)));
			lowest = fmin(lowest, db(exp(kappa * (cos_theta - 1.0))));
		}
	}
	check(worst < 0.05, "directivity index 6 dB in every band (kappa %.4f): each first-order image is "
			"exp(kappa (cos theta - 1)) beta / r (worst %.3f dB; the images %.1f … 0 dB re omni)",
			kappa, worst, lowest);
	iem_room_free(room);

	/* the late tail carries the energy that leaves the speaker in every
	 * direction: 1 / Q(f) of the omni speaker's, band by band */
	struct iem_room *omni, *dir;
	plain_config(&cfg);
	cfg.early_db = IEM_ROOM_LEVEL_OFF;
	omni = render(&cfg, NULL);
	iem_room_config_init(&cfg);
	cfg.compensate = false;
	cfg.early_db = IEM_ROOM_LEVEL_OFF;
	dir = render(&cfg, NULL);
	const uint32_t from = (uint32_t)ceil(dir->info.origin + dir->info.mixing_time * RATE);
	const uint32_t len = dir->ir.length < omni->ir.length ? dir->ir.length : omni->ir.length;
	const uint32_t n = pow2_at_least(len - from);
	double complex *xo = spectrum(omni->ir.taps[0] + from, NULL, len - from, n);
	double complex *xd = spectrum(dir->ir.taps[0] + from, NULL, len - from, n);
	char line[256];
	size_t at = 0;
	worst = 0.0;
	for (int b = 0; b < IEM_ROOM_BANDS - 1; b++) {
		double fc = 125.0 * pow(2.0, b), lo = fc * pow(2.0, -1.0 / 24.0), hi = fc * pow(2.0, 1.0 / 24.0);
		double got = 10.0 * log10(band_mean(xd, n, lo, hi) / band_mean(xo, n, lo, hi));
		worst = fmax(worst, fabs(got + cfg.speaker_di_db[b]));
		at += (size_t)snprintf(line + at, sizeof(line) - at, " %.0f:%+.2f/%+.1f", fc, got, -cfg.speaker_di_db[b]);
	}
	/* (the tail's 4 ms fade-in smears its spectrum by a few hundred Hz:
	 * the 125 Hz band sees some of 250 Hz's) */
	check(worst < 0.25, "the tail re an omni speaker's, per octave centre (Hz: dB / -DI):%s (worst %.3f dB off)",
			line, worst);
	free(xo);
	free(xd);

	/* the direct sound leaves on axis: the same with and without */
	double diff = 0.0, e = 0.0;
	const uint32_t direct = (uint32_t)lround(dir->info.origin + cfg.distance * RATE / C_SOUND);
	for (uint32_t i = 0; i < direct + 17; i++) {
		diff += pow(dir->ir.taps[0][i] - omni->ir.taps[0][i], 2);
		e += pow(omni->ir.taps[0][i], 2);
	}
	check(diff <= 1e-12 * e, "… and the direct sound is as it was (%.2g of its energy differs)", diff / e);
	iem_room_free(omni);
	iem_room_free(dir);

	iem_room_config_init(&cfg);
	cfg.speaker_di_db[2] = 16.0;
	room = (struct iem_room *)&cfg;
	int r = iem_room_render(&cfg, NULL, RATE, &room, err, sizeof(err));
	check(r == -EINVAL && room == NULL && strstr(err, "500 Hz") != NULL,
			"a directivity index out of range is refused: %s", err);
}

/* ---- late tail ------------------------------------------------------------------ */

/* T20 (-5 … -25 dB of the Schroeder curve, least squares, extrapolated to
 * -60 dB) of x[from …]. */
static double t20(const double *x, uint32_t from, uint32_t n)
{
	double *sch = test_alloc(n, sizeof(double)), acc = 0.0;
	for (uint32_t i = n; i-- > from;) {
		acc += x[i] * x[i];
		sch[i] = acc;
	}
	double top = sch[from], sx = 0, sy = 0, sxx = 0, sxy = 0;
	uint32_t m = 0;
	for (uint32_t i = from; i < n; i++) {
		double l = 10.0 * log10(sch[i] / top);
		if (l > -5.0 || l < -25.0)
			continue;
		double t = (double)i / RATE;
		sx += t, sy += l, sxx += t * t, sxy += t * l;
		m++;
	}
	free(sch);
	double slope = (m * sxy - sx * sy) / (m * sxx - sx * sx);
	return -60.0 / slope;
}

static void bandpass(const float *in, double *out, uint32_t n, double fc)
{
	struct iem_biquad bq;
	double x1 = 0, x2 = 0, y1 = 0, y2 = 0;
	iem_biquad_design(&bq, IEM_FILTER_BANDPASS, RATE, fc, M_SQRT2, 0.0);
	for (uint32_t i = 0; i < n; i++) {
		double x = in[i], y = bq.b0 * x + bq.b1 * x1 + bq.b2 * x2 - bq.a1 * y1 - bq.a2 * y2;
		x2 = x1, x1 = x, y2 = y1, y1 = y;
		out[i] = y;
	}
}

static void test_rt60(void)
{
	static const double flat[] = { 0.2, 0.3, 0.6, 1.0, 1.8 };
	static const double banded[IEM_ROOM_BANDS] = { 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.35, 0.3 };
	struct iem_hrtf *h = model();
	struct iem_room_config cfg;

	plain_config(&cfg);
	cfg.early_db = IEM_ROOM_LEVEL_OFF;
	for (size_t i = 0; i < sizeof(flat) / sizeof(flat[0]); i++) {
		cfg.rt60 = flat[i];
		struct iem_room *room = render(&cfg, h);
		uint32_t from = (uint32_t)ceil(room->info.origin + (room->info.mixing_time + 0.005) * RATE) + 64;
		double worst = 0.0, got[4];
		for (int p = 0; p < 4; p++) {
			double *x = test_alloc(room->ir.length, sizeof(double));
			for (uint32_t j = 0; j < room->ir.length; j++)
				x[j] = room->ir.taps[p][j];
			got[p] = t20(x, from, room->ir.length);
			worst = fmax(worst, fabs(got[p] / flat[i] - 1.0));
			free(x);
		}
		check(worst < 0.10, "RT60 %.1f s: the tail's T20 (Schroeder) is %.3f / %.3f / %.3f / %.3f s (worst %.1f %%)",
				flat[i], got[0], got[1], got[2], got[3], worst * 100);
		iem_room_free(room);
	}

	cfg.rt60 = 0.5;
	memcpy(cfg.rt60_band, banded, sizeof(banded));
	cfg.early_db = 0.0;
	struct iem_room *room = render(&cfg, h);
	uint32_t from = (uint32_t)ceil(room->info.origin + (room->info.mixing_time + 0.005) * RATE) + 64;
	double *x = test_alloc(room->ir.length, sizeof(double)), worst = 0.0;
	char line[512];
	size_t len = 0;
	for (int b = 0; b < 7; b++) {	/* 125 Hz … 8 kHz */
		double fc = 125.0 * (1 << b), sum = 0.0;
		for (int p = 0; p < 4; p++) {
			bandpass(room->ir.taps[p], x, room->ir.length, fc);
			sum += t20(x, from, room->ir.length) / 4.0;
		}
		worst = fmax(worst, fabs(sum / banded[b] - 1.0));
		len += (size_t)snprintf(line + len, sizeof(line) - len, " %g:%.3f/%.2f", fc, sum, banded[b]);
	}
	check(worst < 0.10, "RT60 per octave band, reflections on (Hz: T20/set, s):%s (worst %.1f %%)", line, worst * 100);
	/* the reflections are absorbed per band too: beta(125) > beta(8k) */
	check(room->info.beta[0] > room->info.beta[6] && room->info.beta[6] > 0.0,
			"walls absorb more where RT60 is shorter: beta %.3f at 125 Hz, %.3f at 8 kHz",
			room->info.beta[0], room->info.beta[6]);
	free(x);
	iem_room_free(room);
	iem_hrtf_free(h);
}

/* Interaural coherence of the tail alone, per octave band: Re(sum L R*) /
 * sqrt(sum |L|^2 sum |R|^2) over the band's bins, both speakers pooled. */
static void coherence(const struct iem_room *room, double *ic, const double *fc, int bands)
{
	uint32_t from = (uint32_t)ceil(room->info.origin + (room->info.mixing_time + 0.005) * RATE) + 64;
	uint32_t len = room->ir.length - from, n = pow2_at_least(len);
	double complex *x[4];
	for (int p = 0; p < 4; p++)
		x[p] = spectrum(room->ir.taps[p] + from, NULL, len, n);
	for (int b = 0; b < bands; b++) {
		uint32_t lo = (uint32_t)ceil(fc[b] / M_SQRT2 * n / RATE), hi = (uint32_t)floor(fc[b] * M_SQRT2 * n / RATE);
		double cross = 0.0, el = 0.0, er = 0.0;
		for (int s = 0; s < 2; s++)
			for (uint32_t k = lo; k <= hi; k++) {
				double complex l = x[s][k], r = x[2 + s][k];
				cross += creal(l * conj(r));
				el += creal(l * conj(l));
				er += creal(r * conj(r));
			}
		ic[b] = cross / sqrt(el * er);
	}
	for (int p = 0; p < 4; p++)
		free(x[p]);
}

static void test_coherence(void)
{
	static const double fc[] = { 125, 250, 500, 1000, 2000, 4000, 8000 };
	struct iem_room_config cfg;
	double ic[7];
	char why[512] = "";
	struct iem_hrtf *hs[2] = { model(), kemar(why, sizeof(why)) };

	plain_config(&cfg);
	cfg.early_db = IEM_ROOM_LEVEL_OFF;
	cfg.rt60 = 1.5;
	for (int k = 0; k < 2; k++) {
		if (hs[k] == NULL) {
			skip(why);
			continue;
		}
		struct iem_room *room = render(&cfg, hs[k]);
		coherence(room, ic, fc, 7);
		check(ic[0] > 0.75 && ic[1] > 0.35 && fabs(ic[3]) < 0.2 && fabs(ic[4]) < 0.15 &&
				fabs(ic[5]) < 0.15 && fabs(ic[6]) < 0.15,
				"%s: late-tail interaural coherence is high at low and low at high frequency: "
				"%.2f %.2f %.2f %.2f %.2f %.2f %.2f at 125 Hz … 8 kHz",
				k ? "KEMAR" : "model", ic[0], ic[1], ic[2], ic[3], ic[4], ic[5], ic[6]);
		iem_room_free(room);
	}

	/* the omni microphone is one point: coherence 1 everywhere */
	struct iem_room *room = render(&cfg, NULL);
	coherence(room, ic, fc, 7);
	check(ic[0] > 0.999 && ic[6] > 0.999, "omni microphone: both \"ears\" the same (%.4f, %.4f)", ic[0], ic[6]);
	iem_room_free(room);
	iem_hrtf_free(hs[0]);
	iem_hrtf_free(hs[1]);
}

/* ---- timbre -------------------------------------------------------------------- */

/* The phantom centre (L = R) against dry, third octaves 100 Hz … 10 kHz
 * (and 63 and 80 Hz for "low frequency"): the largest |deviation| and
 * where; *low the deviation at 63 … 100 Hz with the largest magnitude. */
static double centre_deviation(const struct iem_room *room, double *where, double *at_1k6, double *low)
{
	uint32_t len = room->ir.length, n = pow2_at_least(2 * len > 65536 ? 2 * len : 65536);
	double complex *c[2] = {
		spectrum(room->ir.taps[0], room->ir.taps[1], len, n),
		spectrum(room->ir.taps[2], room->ir.taps[3], len, n),
	};
	double worst = 0.0;
	*low = 0.0;
	for (int k = -12; k <= 10; k++) {
		double f = 1000.0 * pow(2.0, k / 3.0);
		double p = 0.5 * (band_mean(c[0], n, f * pow(2, -1 / 6.0), f * pow(2, 1 / 6.0)) +
				band_mean(c[1], n, f * pow(2, -1 / 6.0), f * pow(2, 1 / 6.0)));
		double d = 10.0 * log10(p);
		if (k == 2)
			*at_1k6 = d;
		if (k <= -10 && fabs(d) > fabs(*low))
			*low = d;
		if (k >= -10 && fabs(d) > fabs(worst)) {
			worst = d;
			*where = f;
		}
	}
	free(c[0]);
	free(c[1]);
	return worst;
}

static void timbre_case(const char *what, const struct iem_room_config *cfg, const struct iem_hrtf *h,
		bool expect_flat)
{
	double where = 0, at_1k6 = 0, low = 0;
	struct iem_room *room = render(cfg, h);
	double dev = centre_deviation(room, &where, &at_1k6, &low);
	if (expect_flat)
		check(fabs(dev) <= 1.5 && fabs(low) <= 1.5,
				"%s: phantom centre within +-1.5 dB of dry, third octaves 100 Hz … 10 kHz "
				"(worst %+.2f dB at %.0f Hz; 1.6 kHz %+.2f dB; 63 … 100 Hz %+.2f dB; the room's own figure %+.2f -> %+.2f dB)",
				what, dev, where, at_1k6, low, room->info.centre_dev_before_db, room->info.centre_dev_after_db);
	else
		check(at_1k6 < -4.0, "%s: uncompensated, the phantom centre dips at 1.6 kHz (%+.2f dB; worst %+.2f dB at %.0f Hz)",
				what, at_1k6, dev, where);
	iem_room_free(room);
}

static void test_timbre(void)
{
	struct iem_room_config cfg;
	struct iem_params p;
	char why[512] = "";
	struct iem_hrtf *hs[2] = { model(), kemar(why, sizeof(why)) };

	iem_params_init(&p);
	for (int k = 0; k < 2; k++) {
		const char *name = k ? "KEMAR" : "model";
		char what[128];
		if (hs[k] == NULL) {
			skip(why);
			skip(why);
			skip(why);
			continue;
		}
		iem_room_config_init(&cfg);
		iem_room_config_from_params(&cfg, &p);
		snprintf(what, sizeof(what), "%s, default room", name);
		timbre_case(what, &cfg, hs[k], true);

		cfg.rt60 = 0.0;
		snprintf(what, sizeof(what), "%s, anechoic", name);
		timbre_case(what, &cfg, hs[k], true);
		if (k == 1) {
			cfg.compensate = false;
			snprintf(what, sizeof(what), "%s, anechoic", name);
			timbre_case(what, &cfg, hs[k], false);
		} else {
			cfg.rt60 = 0.6;
			cfg.angle = 45;
			cfg.distance = 3;
			timbre_case("model, RT60 0.6 s, +-45 deg at 3 m", &cfg, hs[k], true);
		}
	}
	iem_hrtf_free(hs[0]);
	iem_hrtf_free(hs[1]);
}

/* ---- determinism, errors ----------------------------------------------------------- */

static void test_determinism(void)
{
	struct iem_hrtf *h = model();
	struct iem_room_config cfg;
	struct iem_room *a, *b, *c;

	iem_room_config_init(&cfg);
	a = render(&cfg, h);
	b = render(&cfg, h);
	cfg.seed = 2;
	c = render(&cfg, h);
	bool same = a->ir.length == b->ir.length;
	for (int p = 0; p < 4 && same; p++)
		same = memcmp(a->ir.taps[p], b->ir.taps[p], a->ir.length * sizeof(float)) == 0;
	bool differs = memcmp(a->ir.taps[0], c->ir.taps[0], a->ir.length * sizeof(float)) != 0;
	check(same, "the same config renders the same response, bit for bit (%u taps)", a->ir.length);
	check(differs, "another seed gives another tail");
	bool finite = true;
	for (int p = 0; p < 4; p++)
		for (uint32_t i = 0; i < a->ir.length; i++)
			finite &= isfinite(a->ir.taps[p][i]);
	check(finite, "every tap is finite");
	diag("default room, model: %u taps (%.3f s), %u images, mixing time %.1f ms, "
			"beta %.3f, timbre filter %+.1f … %+.1f dB",
			a->ir.length, (double)a->ir.length / RATE, a->info.images, a->info.mixing_time * 1e3,
			a->info.beta[3], a->info.eq_max_cut_db, a->info.eq_max_boost_db);
	iem_room_free(a);
	iem_room_free(b);
	iem_room_free(c);
	iem_hrtf_free(h);
}

/* ---- the chain ------------------------------------------------------------------- */

/* stage.mode = room through the params: the chain's output is the input
 * convolved (directly, here) with the response iem_room_render gives for
 * the same params, times the stage's gain. */
static void test_chain_room(void)
{
	const uint32_t burst = 3000;
	struct iem_params p;
	struct iem_stage_info si;
	char err[512] = "";
	static const uint32_t sizes[] = { 64, 1, 500, 1024, 7, 0 };

	iem_params_init(&p);
	int r = iem_params_set(&p, "stage.mode", "room", err, sizeof(err));
	r |= iem_params_set(&p, "stage.hrtf", "model", err, sizeof(err));
	r |= iem_params_set(&p, "stage.angle", "40", err, sizeof(err));
	r |= iem_params_set(&p, "room.rt60", "0.25", err, sizeof(err));
	r |= iem_params_set(&p, "room.late", "-3", err, sizeof(err));
	check(r == 0, "room parameters set by name (%s)", err);

	struct iem_chain *c = iem_chain_new(RATE);
	iem_chain_apply(c, &p, NULL);
	r = iem_chain_load_stage(c, &p, &si, err, sizeof(err));
	check(r == 0 && si.hrtf != NULL && strstr(si.hrtf, "Brown") != NULL,
			"iem_chain_load_stage builds the room: %u taps, gain %+.2f dB, %s",
			si.length, si.gain_db, si.hrtf ? si.hrtf : err);
	iem_chain_reset(c);

	struct iem_hrtf *h = model();
	struct iem_room_config cfg;
	iem_room_config_init(&cfg);
	iem_room_config_from_params(&cfg, &p);
	struct iem_room *room = render(&cfg, h);
	check(room->ir.length == si.length, "… the same length as iem_room_render's (%u)", room->ir.length);

	uint32_t n = burst + room->ir.length;
	float *in[2] = { test_alloc(n, sizeof(float)), test_alloc(n, sizeof(float)) };
	float *out[2] = { test_alloc(n, sizeof(float)), test_alloc(n, sizeof(float)) };
	uint64_t seed = 7;
	for (uint32_t i = 0; i < burst; i++) {
		in[0][i] = (float)(0.05 * test_noise(&seed));
		in[1][i] = (float)(0.05 * test_noise(&seed));
	}
	test_run(c, in[0], in[1], out[0], out[1], n, sizes);

	double g = pow(10.0, si.gain_db / 20.0), worst = 0.0, peak = 0.0;
	for (int o = 0; o < 2; o++) {
		for (uint32_t k = 0; k < n; k += 7) {	/* every 7th frame: enough, and quick */
			double acc = 0.0;
			for (int i = 0; i < 2; i++) {
				const float *hh = room->ir.taps[o * 2 + i];
				uint32_t j0 = k >= room->ir.length ? k - room->ir.length + 1 : 0;
				for (uint32_t j = j0; j <= k && j < burst; j++)
					acc += (double)in[i][j] * hh[k - j];
			}
			acc *= g;
			worst = fmax(worst, fabs(out[o][k] - acc));
			peak = fmax(peak, fabs(acc));
		}
	}
	check(worst < 1e-4 * peak, "the chain's output is the direct convolution with that response: "
			"worst error %.2g (peak %.3f)", worst, peak);

	/* a change of angle rebuilds the room in the running convolver */
	iem_params_set(&p, "stage.angle", "20", NULL, 0);
	r = iem_chain_load_stage(c, &p, &si, err, sizeof(err));
	check(r == 0 && si.exchanged, "stage.angle 40 -> 20: exchanged in place (%s)", r ? err : "ok");
	/* speakers that do not fit: refused with a reason, the stage stays */
	iem_params_set(&p, "stage.distance", "9", NULL, 0);
	r = iem_chain_load_stage(c, &p, &si, err, sizeof(err));
	check(r == -EINVAL && strstr(err, "stage.mode = room: speakers 9 m away") != NULL, "%s", err);

	for (int k = 0; k < 2; k++) {
		free(in[k]);
		free(out[k]);
	}
	iem_room_free(room);
	iem_hrtf_free(h);
	iem_chain_free(c);
}

static void test_errors(void)
{
	struct iem_room_config cfg;
	struct iem_room *room = (struct iem_room *)&cfg;
	char err[256] = "";

	iem_room_config_init(&cfg);
	cfg.distance = 8.0;
	int r = iem_room_render(&cfg, NULL, RATE, &room, err, sizeof(err));
	check(r == -EINVAL && room == NULL && strstr(err, "do not fit") != NULL,
			"speakers that do not fit the room are refused: %s", err);
	iem_room_config_init(&cfg);
	cfg.rt60 = 2.5;
	r = iem_room_render(&cfg, NULL, RATE, &room, err, sizeof(err));
	check(r == -EINVAL && strstr(err, "2.5") != NULL, "an RT60 out of range is refused: %s", err);
	check(iem_room_free(NULL) == NULL, "iem_room_free(NULL)");
}

int main(void)
{
	test_direct();
	test_first_order();
	test_directivity();
	test_rt60();
	test_coherence();
	test_timbre();
	test_determinism();
	test_chain_room();
	test_errors();
	return iem_test_done();
}
