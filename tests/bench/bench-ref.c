/* SPDX-License-Identifier: MIT */
/*
 * bench-ref: the signals of the PipeWire benchmark (tests/bench/bench-pipewire.sh)
 * and the float64 reference its recordings are measured against.
 *
 *   bench-ref noise OUT.wav SECONDS [SEED]
 *       stereo white noise, 48 kHz float32, uniform in [-0.1, 0.1]
 *       (-20 dBFS peak: no EQ boost below reaches the safety limiter).
 *   bench-ref brir OUT.wav
 *       a 1 s true-stereo BRIR, 4 channels LL LR RL RR, 48 kHz float32:
 *       a direct sound per path (the contralateral one 0.6 ms later and
 *       6 dB down) and a decaying noise tail that is still at about -50 dB
 *       at 1 s, so neither module trims it: 48000 taps in every path.
 *   bench-ref compare (--eq SPEC | --brir FILE) INPUT.wav RECORDED.wav
 *       the recording of INPUT through the filter against the float64
 *       computation of the same filter on INPUT. SPEC is
 *       "type:freq:q:gain,..." with type peaking, lowshelf or highshelf
 *       (RBJ cookbook, double coefficients and state); the BRIR is
 *       convolved in double precision through FFTW's double FFT (error
 *       ~1e-15, far below what is measured). The recording is aligned on
 *       the reference (cross-correlation around its onset); with --brir a
 *       single gain is fitted (the median of the clean blocks'
 *       least-squares gains) and printed, since the module scales a BRIR set to unity
 *       centre loudness and filter-chain does not. The last 0.5 s of INPUT
 *       is left out (pw-play drops its last buffers). The comparison runs
 *       in 0.1 s blocks. A block whose normalised correlation with the
 *       reference is below 1 - 1e-4 (about -37 dB rms difference, whatever
 *       the gain) holds a dropout or a gap in the feed (the machine's, not
 *       the filter's): it is counted as a glitch and left out with the
 *       filter's memory after it (0.5 s for the EQ, 1.1 s for the BRIR),
 *       then the recording is aligned again. The gain is fitted over the
 *       clean blocks only.
 *       Prints one line:
 *         err_db=E gain=G lag=L glitches=N compared_s=S
 *       E the largest |recording - reference| in the compared blocks, dB
 *       re the reference's peak.
 *
 * Exit status 0; 1 with a message on bad input (nothing to compare counts).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fftw3.h>
#include <sndfile.h>

#define RATE		48000
#define BLOCK		4800		/* comparison block: 0.1 s */
#define CC_TOL		1e-4		/* 1 - correlation that marks a dropout */
#define MAX_BANDS	32

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "bench-ref: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(1);
}

/* xorshift64*: the same noise on every machine */
static uint64_t rng_state;

static double rng_uniform(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	uint64_t r = rng_state * 0x2545F4914F6CDD1DULL;
	return (double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0;	/* [-1, 1) */
}

static void write_wav(const char *path, int channels, const float *interleaved, sf_count_t frames)
{
	SF_INFO info = { .samplerate = RATE, .channels = channels,
		.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT };
	SNDFILE *f = sf_open(path, SFM_WRITE, &info);
	if (f == NULL)
		die("%s: cannot write", path);
	if (sf_writef_float(f, interleaved, frames) != frames)
		die("%s: short write", path);
	sf_close(f);
}

/* The file as doubles, channel-major; *frames and *channels filled. */
static double *read_wav(const char *path, int want_channels, sf_count_t *frames)
{
	SF_INFO info = { 0 };
	SNDFILE *f = sf_open(path, SFM_READ, &info);
	if (f == NULL)
		die("%s: cannot read", path);
	if (info.channels != want_channels) {
		char msg[64];
		snprintf(msg, sizeof(msg), "%d channels, want %d", info.channels, want_channels);
		fprintf(stderr, "bench-ref: %s: %s\n", path, msg);
		exit(1);
	}
	if (info.samplerate != RATE)
		die("%s: not 48 kHz", path);
	/* pw-record leaves the data size open while it writes; libsndfile then
	 * reports what the file holds */
	sf_count_t n = info.frames;
	float *buf = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1) * (size_t)info.channels);
	double *out = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1) * (size_t)info.channels);
	if (buf == NULL || out == NULL)
		die("%s: out of memory", path);
	n = sf_readf_float(f, buf, n);
	sf_close(f);
	for (sf_count_t i = 0; i < n; i++)
		for (int c = 0; c < info.channels; c++)
			out[(size_t)c * (size_t)n + (size_t)i] = buf[(size_t)i * (size_t)info.channels + (size_t)c];
	free(buf);
	*frames = n;
	return out;
}

static int cmd_noise(int argc, char **argv)
{
	if (argc < 4)
		die("%s", "usage: bench-ref noise OUT.wav SECONDS [SEED]");
	double seconds = atof(argv[3]);
	rng_state = argc > 4 ? strtoull(argv[4], NULL, 0) : 0x1e5a9e;
	if (rng_state == 0)
		rng_state = 1;
	if (!(seconds > 0 && seconds <= 600))
		die("%s: SECONDS out of range (0, 600]", argv[3]);
	sf_count_t frames = (sf_count_t)(seconds * RATE);
	float *x = malloc(sizeof(float) * 2 * (size_t)frames);
	if (x == NULL)
		die("%s", "out of memory");
	for (sf_count_t i = 0; i < 2 * frames; i++)
		x[i] = (float)(0.1 * rng_uniform());
	write_wav(argv[2], 2, x, frames);
	free(x);
	return 0;
}

static int cmd_brir(int argc, char **argv)
{
	if (argc < 3)
		die("%s", "usage: bench-ref brir OUT.wav");
	const sf_count_t taps = RATE;
	float *h = calloc(4 * (size_t)taps, sizeof(float));
	if (h == NULL)
		die("%s", "out of memory");
	rng_state = 0xb41e;
	/* LL LR RL RR: ipsilateral paths 0 and 3, contralateral 1 and 2 */
	for (int c = 0; c < 4; c++) {
		int contra = c == 1 || c == 2;
		sf_count_t direct = contra ? 29 : 0;	/* 0.6 ms interaural delay */
		double tau = 2.0 / log(1000.0);		/* RT60 = 2 s */
		h[direct * 4 + c] = contra ? 0.35f : 0.7f;
		for (sf_count_t i = RATE / 200; i < taps; i++) {
			double t = (double)i / RATE;
			h[i * 4 + c] += (float)(0.08 * exp(-t / tau) * rng_uniform());
		}
	}
	write_wav(argv[2], 4, h, taps);
	free(h);
	return 0;
}

/* ---- float64 references --------------------------------------------------- */

struct band {
	int type;	/* 0 peaking, 1 lowshelf, 2 highshelf */
	double freq, q, gain;
};

static int parse_eq(const char *spec, struct band *bands)
{
	int n = 0;
	const char *p = spec;
	while (*p) {
		char type[16];
		int used = 0;
		if (n == MAX_BANDS)
			die("--eq: more than 32 bands in '%s'", spec);
		if (sscanf(p, "%15[a-z]:%lf:%lf:%lf%n", type, &bands[n].freq, &bands[n].q,
			   &bands[n].gain, &used) != 4)
			die("--eq: cannot read a band at '%s' (want type:freq:q:gain)", p);
		if (strcmp(type, "peaking") == 0)
			bands[n].type = 0;
		else if (strcmp(type, "lowshelf") == 0)
			bands[n].type = 1;
		else if (strcmp(type, "highshelf") == 0)
			bands[n].type = 2;
		else
			die("--eq: unknown band type '%s'", type);
		n++;
		p += used;
		if (*p == ',')
			p++;
		else if (*p != '\0')
			die("--eq: expected ',' at '%s'", p);
	}
	return n;
}

/* y = EQ(x), RBJ cookbook biquads in double, direct form I. */
static void eq_reference(const struct band *bands, int n_bands, const double *x, double *y, size_t n)
{
	memcpy(y, x, n * sizeof(double));
	for (int b = 0; b < n_bands; b++) {
		double A = pow(10.0, bands[b].gain / 40.0);
		double w0 = 2.0 * M_PI * bands[b].freq / RATE;
		double cw = cos(w0), alpha = sin(w0) / (2.0 * bands[b].q);
		double b0, b1, b2, a0, a1, a2;
		if (bands[b].type == 0) {
			b0 = 1 + alpha * A;
			b1 = -2 * cw;
			b2 = 1 - alpha * A;
			a0 = 1 + alpha / A;
			a1 = -2 * cw;
			a2 = 1 - alpha / A;
		} else {
			double s = bands[b].type == 1 ? 1.0 : -1.0;	/* low: +, high: - */
			double k = 2 * sqrt(A) * alpha;
			b0 = A * ((A + 1) - s * (A - 1) * cw + k);
			b1 = s * 2 * A * ((A - 1) - s * (A + 1) * cw);
			b2 = A * ((A + 1) - s * (A - 1) * cw - k);
			a0 = (A + 1) + s * (A - 1) * cw + k;
			a1 = -s * 2 * ((A - 1) + s * (A + 1) * cw);
			a2 = (A + 1) + s * (A - 1) * cw - k;
		}
		double x1 = 0, x2 = 0, y1 = 0, y2 = 0;
		for (size_t i = 0; i < n; i++) {
			double in = y[i];
			double out = (b0 * in + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2) / a0;
			x2 = x1;
			x1 = in;
			y2 = y1;
			y1 = out;
			y[i] = out;
		}
	}
}

/* y[ear] = x[L] * h[L->ear] + x[R] * h[R->ear], linear convolution in double. */
static void brir_reference(const double *h, size_t taps, const double *x, double *y, size_t n)
{
	size_t len = 1;
	while (len < n + taps)
		len <<= 1;
	size_t bins = len / 2 + 1;
	double *buf = fftw_alloc_real(len);
	fftw_complex *X[2], *H[4], *acc = fftw_alloc_complex(bins);
	fftw_plan fwd = fftw_plan_dft_r2c_1d((int)len, buf, acc, FFTW_ESTIMATE);
	fftw_plan inv = fftw_plan_dft_c2r_1d((int)len, acc, buf, FFTW_ESTIMATE);
	if (buf == NULL || acc == NULL || fwd == NULL || inv == NULL)
		die("%s", "FFTW: out of memory");
	for (int c = 0; c < 2; c++) {
		X[c] = fftw_alloc_complex(bins);
		memset(buf, 0, len * sizeof(double));
		memcpy(buf, x + (size_t)c * n, n * sizeof(double));
		fftw_execute_dft_r2c(fwd, buf, X[c]);
	}
	for (int p = 0; p < 4; p++) {
		H[p] = fftw_alloc_complex(bins);
		memset(buf, 0, len * sizeof(double));
		memcpy(buf, h + (size_t)p * taps, taps * sizeof(double));
		fftw_execute_dft_r2c(fwd, buf, H[p]);
	}
	for (int ear = 0; ear < 2; ear++) {
		/* LL LR RL RR: the left speaker's path to EAR is EAR, the right one's 2 + EAR */
		const fftw_complex *hl = H[ear], *hr = H[2 + ear];
		for (size_t k = 0; k < bins; k++) {
			double re = X[0][k][0] * hl[k][0] - X[0][k][1] * hl[k][1] +
				X[1][k][0] * hr[k][0] - X[1][k][1] * hr[k][1];
			double im = X[0][k][0] * hl[k][1] + X[0][k][1] * hl[k][0] +
				X[1][k][0] * hr[k][1] + X[1][k][1] * hr[k][0];
			acc[k][0] = re;
			acc[k][1] = im;
		}
		fftw_execute_dft_c2r(inv, acc, buf);
		for (size_t i = 0; i < n; i++)
			y[(size_t)ear * n + i] = buf[i] / (double)len;
	}
	fftw_destroy_plan(fwd);
	fftw_destroy_plan(inv);
	for (int c = 0; c < 2; c++)
		fftw_free(X[c]);
	for (int p = 0; p < 4; p++)
		fftw_free(H[p]);
	fftw_free(acc);
	fftw_free(buf);
}

/* ---- alignment and comparison ----------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static long onset(const double *s, size_t n, double threshold)
{
	for (size_t i = 0; i < n; i++)
		if (fabs(s[i]) > threshold || fabs(s[n + i]) > threshold)
			return (long)i;
	return -1;
}

/* The lag (recording index - reference index) in [lo, hi] whose normalised
 * cross-correlation over reference frames [from, from + len) is largest. */
static long best_lag(const double *ref, size_t n_ref, const double *rec, size_t n_rec,
		     size_t from, size_t len, long lo, long hi, double *score)
{
	long best = lo;
	double best_c = -2;
	for (long lag = lo; lag <= hi; lag++) {
		double xy = 0, xx = 0, yy = 0;
		for (size_t i = from; i < from + len && i < n_ref; i++) {
			long j = (long)i + lag;
			if (j < 0 || j >= (long)n_rec)
				continue;
			for (int c = 0; c < 2; c++) {
				double a = ref[(size_t)c * n_ref + i], b = rec[(size_t)c * n_rec + (size_t)j];
				xy += a * b;
				xx += a * a;
				yy += b * b;
			}
		}
		double cc = xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : -1;
		if (cc > best_c) {
			best_c = cc;
			best = lag;
		}
	}
	*score = best_c;
	return best;
}

static double block_error(const double *ref, size_t n_ref, const double *rec, size_t n_rec,
			  size_t from, size_t len, long lag, double gain)
{
	double e = 0;
	for (size_t i = from; i < from + len; i++) {
		long j = (long)i + lag;
		for (int c = 0; c < 2; c++) {
			double b = j >= 0 && j < (long)n_rec ? rec[(size_t)c * n_rec + (size_t)j] : 0.0;
			double d = fabs(b - gain * ref[(size_t)c * n_ref + i]);
			if (d > e)
				e = d;
		}
	}
	return e;
}

static int cmd_compare(int argc, char **argv)
{
	const char *eq = NULL, *brir = NULL;
	int i = 2;
	for (; i < argc && argv[i][0] == '-'; i += 2) {
		if (i + 1 >= argc)
			die("%s: needs a value", argv[i]);
		if (strcmp(argv[i], "--eq") == 0)
			eq = argv[i + 1];
		else if (strcmp(argv[i], "--brir") == 0)
			brir = argv[i + 1];
		else
			die("unknown option %s", argv[i]);
	}
	if ((eq == NULL) == (brir == NULL) || argc - i != 2)
		die("%s", "usage: bench-ref compare (--eq SPEC | --brir FILE) INPUT.wav RECORDED.wav");
	const char *input = argv[i], *recorded = argv[i + 1];

	sf_count_t n_in, n_rec;
	double *x = read_wav(input, 2, &n_in);
	double *rec = read_wav(recorded, 2, &n_rec);
	size_t n = (size_t)n_in;
	double *y = malloc(sizeof(double) * 2 * n);
	if (y == NULL)
		die("%s", "out of memory");
	size_t memory = RATE / 2;	/* the EQ's lowest bands ring for ~0.3 s to -120 dB */
	if (eq != NULL) {
		struct band bands[MAX_BANDS];
		int nb = parse_eq(eq, bands);
		for (int c = 0; c < 2; c++)
			eq_reference(bands, nb, x + (size_t)c * n, y + (size_t)c * n, n);
	} else {
		sf_count_t taps;
		double *h = read_wav(brir, 4, &taps);
		brir_reference(h, (size_t)taps, x, y, n);
		memory = (size_t)taps + BLOCK;
		free(h);
	}

	double peak = 0, rec_peak = 0;
	for (size_t k = 0; k < 2 * n; k++)
		peak = fmax(peak, fabs(y[k]));
	for (size_t k = 0; k < 2 * (size_t)n_rec; k++)
		rec_peak = fmax(rec_peak, fabs(rec[k]));
	long on_ref = onset(y, n, 0.05 * peak);
	long on_rec = onset(rec, (size_t)n_rec, 0.05 * rec_peak);
	if (peak <= 0 || on_ref < 0 || on_rec < 0) {
		fprintf(stderr, "bench-ref: %s: no signal to compare\n", recorded);
		return 1;
	}
	double score;
	long lag0 = on_rec - on_ref;
	long lag = best_lag(y, n, rec, (size_t)n_rec, (size_t)on_ref, BLOCK, lag0 - 512, lag0 + 512, &score);

	/* pw-play drops its last buffers: leave the last 0.5 s out */
	size_t end = n > RATE / 2 ? n - RATE / 2 : 0;
	if ((long)end + lag > (long)n_rec)
		end = (size_t)(n_rec - lag > 0 ? n_rec - lag : 0);
	end = end / BLOCK * BLOCK;

	/* Pass 1, gain-blind: which blocks are clean, at which lag. A block
	 * whose normalised correlation with the reference falls short of
	 * 1 - CC_TOL (about -37 dB rms difference) holds a dropout; the
	 * filter's memory after it is left out, then the lag is found again. */
	size_t nb = end / BLOCK;
	long *lag_of = calloc(nb > 0 ? nb : 1, sizeof(long));
	signed char *clean = calloc(nb > 0 ? nb : 1, 1);
	double *g = calloc(nb > 0 ? nb : 1, sizeof(double));
	if (lag_of == NULL || clean == NULL || g == NULL)
		die("%s", "out of memory");
	int glitches = 0;
	size_t guard_until = 0;
	bool realign = false;
	for (size_t k = 0; k < nb; k++) {
		size_t from = k * BLOCK;
		if (from < guard_until)
			continue;
		if (realign) {
			lag = best_lag(y, n, rec, (size_t)n_rec, from, BLOCK, lag - 8192, lag + 8192, &score);
			realign = false;
		}
		best_lag(y, n, rec, (size_t)n_rec, from, BLOCK, lag, lag, &score);
		if (1.0 - score > CC_TOL) {
			glitches++;
			guard_until = from + memory;
			realign = true;
			if (getenv("BENCH_REF_BLOCKS") != NULL)
				fprintf(stderr, "block %5.1f s: dropout (1 - cc = %.2e)\n",
					(double)from / RATE, 1.0 - score);
			continue;
		}
		clean[k] = 1;
		lag_of[k] = lag;
	}

	/* Pass 2, the gain: 1, or for a BRIR the median of the clean blocks'
	 * least-squares gains. */
	double gain = 1.0;
	size_t n_g = 0;
	for (size_t k = 0; k < nb && brir != NULL; k++) {
		double xy = 0, yy = 0;
		if (!clean[k])
			continue;
		for (size_t i = k * BLOCK; i < (k + 1) * BLOCK; i++) {
			long j = (long)i + lag_of[k];
			if (j < 0 || j >= n_rec)
				continue;
			for (int c = 0; c < 2; c++) {
				xy += y[(size_t)c * n + i] * rec[(size_t)c * (size_t)n_rec + (size_t)j];
				yy += y[(size_t)c * n + i] * y[(size_t)c * n + i];
			}
		}
		if (yy > 0)
			g[n_g++] = xy / yy;
	}
	if (n_g > 0) {
		qsort(g, n_g, sizeof(double), cmp_double);
		gain = n_g % 2 ? g[n_g / 2] : 0.5 * (g[n_g / 2 - 1] + g[n_g / 2]);
	}

	/* Pass 3: the largest difference over the clean blocks. */
	double worst = 0;
	size_t compared = 0;
	for (size_t k = 0; k < nb; k++) {
		if (!clean[k])
			continue;
		double e = block_error(y, n, rec, (size_t)n_rec, k * BLOCK, BLOCK, lag_of[k], gain);
		if (getenv("BENCH_REF_BLOCKS") != NULL)
			fprintf(stderr, "block %5.1f s: %7.1f dB lag %ld\n", (double)(k * BLOCK) / RATE,
				20 * log10(e / (gain * peak) + 1e-300), lag_of[k]);
		worst = fmax(worst, e);
		compared += BLOCK;
	}
	free(lag_of);
	free(clean);
	free(g);
	if (compared == 0) {
		fprintf(stderr, "bench-ref: %s: no clean block to compare (%d glitches)\n",
			recorded, glitches);
		printf("err_db=nan gain=%.6f lag=%ld glitches=%d compared_s=0\n", gain, lag, glitches);
		free(x);
		free(y);
		free(rec);
		return 0;
	}
	printf("err_db=%.1f gain=%.6f lag=%ld glitches=%d compared_s=%.1f\n",
	       worst > 0 ? 20 * log10(worst / (gain * peak)) : -INFINITY, gain, lag, glitches,
	       (double)compared / RATE);
	free(x);
	free(y);
	free(rec);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "noise") == 0)
		return cmd_noise(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "brir") == 0)
		return cmd_brir(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "compare") == 0)
		return cmd_compare(argc, argv);
	fprintf(stderr, "usage: bench-ref noise|brir|compare ...\n");
	return 2;
}
