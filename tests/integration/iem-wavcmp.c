/* SPDX-License-Identifier: MIT */
/*
 * iem-wavcmp: the measurements the module's integration tests make on
 * recordings (stereo WAV, any format libsndfile reads, compared as double).
 *
 *   iem-wavcmp match RECORDED REFERENCE
 *       Aligns RECORDED on REFERENCE and prints
 *         "err_db=E lag=L overlap=N ref_frames=M at=F peak=P"
 *       E is the largest absolute difference over the overlap, both
 *       channels, in dB re the reference's peak (-inf: identical); L the
 *       frame of RECORDED where REFERENCE's frame 0 is; N how many of the
 *       reference's M frames from its first non-zero one the recording
 *       covers (the comparison starts there: leading silence is where the
 *       players start up); F the reference frame of the largest
 *       difference. The lag is the cross-correlation peak: of 32-frame
 *       envelopes over every lag, then of the samples (both channels
 *       summed, 16384 frames from the reference's first non-zero one)
 *       within +-64 frames of it.
 *
 *   iem-wavcmp match RECORDED REFERENCE --slips GUARD_S
 *       The same where the players may drop or repeat frames (PipeWire
 *       0.3.65's pw-play and pw-record do, at a quantum change, with or
 *       without anything between them): in 256-frame blocks, a block more
 *       than -60 dB off looks for the best lag again (+-4096 frames, over
 *       the next 2048 frames, else the next 512); a different one is a
 *       slip, and the block before, that block and GUARD_S seconds after
 *       it are left out (the slip is somewhere in the two blocks; the
 *       chain remembers the input before it). A block off at the best lag
 *       counts as it is.
 *       Prints "err_db=E slips=S left_out=F compared=N ref_frames=M at=A
 *       peak=P [where=T:+D,...]" (T seconds into the signal, D frames).
 *
 *   iem-wavcmp clicks RECORDED [FROM_S TO_S [INJECT_S INJECT_DB]] [--in A:B,...]
 *       The discontinuity detector. The signal is a steady low sine; a
 *       click, gap or step is broadband, the sine is not. The residual is
 *       the third difference y[i] - 3y[i-1] + 3y[i-2] - y[i-3] (about
 *       (2 pi f / rate)^3 of the sine: -95 dB at 200 Hz, 48 kHz; a step
 *       of size a passes at a). Over the part of the recording from FROM_S
 *       after the signal starts to TO_S before it ends (default 0.3 s
 *       each), in 5 ms blocks: each block's largest residual; prints
 *         "click_db=C at_s=T baseline_db=B blocks=K"
 *       C: the largest block against the median block, dB; T where (s
 *       into the recording); B the median block re the signal's peak, dB.
 *       With --in, C is the largest of the blocks inside those spans
 *       (seconds into the recording; the median is of all blocks). With
 *       INJECT_S and INJECT_DB a step of INJECT_DB re peak is added to
 *       both channels at INJECT_S into the recording first (to show the
 *       detector catches one).
 *
 * Exit status 0, 1 on an error (unreadable file), 2 on bad usage.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sndfile.h>

struct wav {
	double *ch[2];
	long frames;
	int rate;
};

/* every file read, freed at exit */
static struct wav *loaded[4];

static void free_loaded(void)
{
	for (size_t i = 0; i < 4; i++)
		if (loaded[i] != NULL) {
			free(loaded[i]->ch[0]);
			free(loaded[i]->ch[1]);
		}
}

static int wav_read(const char *path, struct wav *w)
{
	SF_INFO info = { 0 };
	SNDFILE *f = sf_open(path, SFM_READ, &info);
	double *buf;

	if (f == NULL) {
		fprintf(stderr, "iem-wavcmp: %s: %s\n", path, sf_strerror(NULL));
		return -1;
	}
	if (info.channels != 2) {
		fprintf(stderr, "iem-wavcmp: %s: %d channels, want 2\n", path, info.channels);
		sf_close(f);
		return -1;
	}
	buf = malloc(sizeof(double) * 2 * (size_t)(info.frames + 1));
	w->ch[0] = malloc(sizeof(double) * (size_t)(info.frames + 1));
	w->ch[1] = malloc(sizeof(double) * (size_t)(info.frames + 1));
	for (size_t i = 0; i < 4; i++)
		if (loaded[i] == NULL || loaded[i] == w) {
			loaded[i] = w;
			break;
		}
	if (buf == NULL || w->ch[0] == NULL || w->ch[1] == NULL) {
		fprintf(stderr, "iem-wavcmp: %s: out of memory\n", path);
		sf_close(f);
		return -1;
	}
	/* pw-record leaves the data size at its maximum until it closes:
	 * read what is there */
	w->frames = (long)sf_readf_double(f, buf, info.frames);
	for (long i = 0; i < w->frames; i++) {
		w->ch[0][i] = buf[2 * i];
		w->ch[1][i] = buf[2 * i + 1];
	}
	w->rate = info.samplerate;
	free(buf);
	sf_close(f);
	return 0;
}

static double peak(const struct wav *w)
{
	double m = 0.0;
	for (int c = 0; c < 2; c++)
		for (long i = 0; i < w->frames; i++)
			m = fmax(m, fabs(w->ch[c][i]));
	return m;
}

static long first_above(const struct wav *w, double level)
{
	for (long i = 0; i < w->frames; i++)
		if (fabs(w->ch[0][i]) > level || fabs(w->ch[1][i]) > level)
			return i;
	return -1;
}

static long last_above(const struct wav *w, double level)
{
	for (long i = w->frames - 1; i >= 0; i--)
		if (fabs(w->ch[0][i]) > level || fabs(w->ch[1][i]) > level)
			return i;
	return -1;
}

static double db(double x)
{
	return x > 0.0 ? 20.0 * log10(x) : -INFINITY;
}

/* The lag near `guess` (+-range) where REFERENCE's frames from `from`
 * (win of them) correlate best with RECORDED. */
static long fine_lag(const struct wav *rec, const struct wav *ref, long from, long win,
		long guess, long range)
{
	long best = guess;
	double best_c = -INFINITY;

	if (win > ref->frames - from)
		win = ref->frames - from;
	for (long lag = guess - range; lag <= guess + range; lag++) {
		double s = 0.0;
		for (int c = 0; c < 2; c++) {
			const double *x = ref->ch[c] + from, *y = rec->ch[c];
			for (long i = 0; i < win; i++) {
				long j = from + i + lag;
				if (j >= 0 && j < rec->frames)
					s += x[i] * y[j];
			}
		}
		if (s > best_c) {
			best_c = s;
			best = lag;
		}
	}
	return best;
}

/* The largest difference over reference frames [a, b) at lag; where. */
static double block_err(const struct wav *rec, const struct wav *ref, long a, long b, long lag,
		long *at)
{
	double err = 0.0;
	for (long i = a; i < b && i < ref->frames; i++) {
		long j = i + lag;
		if (j < 0 || j >= rec->frames)
			continue;
		for (int c = 0; c < 2; c++) {
			double d = fabs(rec->ch[c][j] - ref->ch[c][i]);
			if (d > err) {
				err = d;
				*at = i;
			}
		}
	}
	return err;
}

static int cmd_match(const char *rec_path, const char *ref_path, double guard_s)
{
	static struct wav rec, ref;	/* freed at exit (free_loaded) */

	if (wav_read(rec_path, &rec) < 0 || wav_read(ref_path, &ref) < 0)
		return 1;
	double pk = peak(&ref), rpk = peak(&rec);
	if (pk <= 0.0 || rpk <= 0.0) {
		fprintf(stderr, "iem-wavcmp: %s is silent\n", pk <= 0.0 ? ref_path : rec_path);
		return 1;
	}
	/* coarse: envelopes (sum of |x| over 32 frames) correlated over
	 * every lag; fine: the samples, +-64 frames around it */
	const long blk = 32, na = rec.frames / blk, nb = ref.frames / blk;
	double *ea = calloc((size_t)na + 1, sizeof(double)), *eb = calloc((size_t)nb + 1, sizeof(double));
	if (ea == NULL || eb == NULL)
		return 1;
	for (long i = 0; i < na * blk; i++)
		ea[i / blk] += fabs(rec.ch[0][i]) + fabs(rec.ch[1][i]);
	for (long i = 0; i < nb * blk; i++)
		eb[i / blk] += fabs(ref.ch[0][i]) + fabs(ref.ch[1][i]);
	long guess = 0;
	double best_c = -INFINITY;
	for (long lag = -nb; lag < na; lag++) {
		double s = 0.0;
		for (long i = lag < 0 ? -lag : 0; i < nb && i + lag < na; i++)
			s += ea[i + lag] * eb[i];
		if (s > best_c) {
			best_c = s;
			guess = lag * blk;
		}
	}
	free(ea);
	free(eb);
	long b = first_above(&ref, 0.0);
	long best = fine_lag(&rec, &ref, b, 16384, guess, 64);

	if (guard_s < 0.0) {
		/* one lag for everything */
		long at = 0, n = 0;
		double err = block_err(&rec, &ref, b, ref.frames, best, &at);
		for (long i = b; i < ref.frames && i + best < rec.frames; i++)
			if (i + best >= 0)
				n++;
		printf("err_db=%.1f lag=%ld overlap=%ld ref_frames=%ld at=%ld peak=%.4f\n",
				db(err / pk), best, n, ref.frames - b, at, pk);
		return 0;
	}

	/* Slips: see the usage at the top. */
	const long bs = 256, guard = (long)(guard_s * ref.rate);
	long lag = best, at = 0, slips = 0, left_out = 0, n = 0, guard_end = -1;
	double err = 0.0;
	char where[1024] = "";
	/* a block is counted once the next one shows no slip: the slip may
	 * have been in it, fitting its old lag best over most of it */
	double pend_e = 0.0;
	long pend_at = 0, pend_n = 0;
	for (long a = b; a < ref.frames; a += bs) {
		long e = a + bs < ref.frames ? a + bs : ref.frames, bat = 0;
		if (a + lag >= rec.frames)
			break;
		double be = block_err(&rec, &ref, a, e, lag, &bat);
		if (be > pk * 1e-3) {
			/* a slip inside the 2048 frames may leave the old lag
			 * the best over them: then the next 512 alone */
			long nl = fine_lag(&rec, &ref, a, 2048, lag, 4096);
			if (nl == lag)
				nl = fine_lag(&rec, &ref, a, 512, lag, 4096);
			long nat = 0;
			double ne = block_err(&rec, &ref, a, e, nl, &nat);
			if (nl != lag) {
				size_t len = strlen(where);
				if (len < sizeof(where) - 32)
					snprintf(where + len, sizeof(where) - len, "%s%.3fs:%+ld",
							slips ? "," : "", (double)(a - b) / ref.rate, nl - lag);
				lag = nl;
				be = ne;
				bat = nat;
				slips++;
				guard_end = a + guard;
				left_out += pend_n;
				pend_n = 0;
			}
		}
		if (pend_n > 0) {
			n += pend_n;
			if (pend_e > err) {
				err = pend_e;
				at = pend_at;
			}
			pend_n = 0;
		}
		if (a < guard_end || (guard_end >= 0 && a == guard_end - guard)) {
			left_out += e - a;
			continue;
		}
		pend_e = be;
		pend_at = bat;
		pend_n = e - a;
	}
	n += pend_n;
	if (pend_n > 0 && pend_e > err) {
		err = pend_e;
		at = pend_at;
	}
	printf("err_db=%.1f slips=%ld left_out=%ld compared=%ld ref_frames=%ld at=%ld peak=%.4f%s%s\n",
			db(err / pk), slips, left_out, n, ref.frames - b, at, pk,
			slips ? " where=" : "", where);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int cmd_clicks(const char *path, double from_s, double to_s, double inject_s,
		double inject_db, bool inject, const char *windows)
{
	static struct wav w;	/* freed at exit (free_loaded) */

	if (wav_read(path, &w) < 0)
		return 1;
	double pk = peak(&w);
	if (pk <= 0.0) {
		fprintf(stderr, "iem-wavcmp: %s is silent\n", path);
		return 1;
	}
	long on = first_above(&w, pk * 1e-3), off = last_above(&w, pk * 1e-3);
	if (inject) {
		long at = (long)(inject_s * w.rate);
		double step = pk * pow(10.0, inject_db / 20.0);
		for (long i = at; i >= 0 && i < w.frames; i++) {
			w.ch[0][i] += step;
			w.ch[1][i] += step;
		}
	}
	long start = on + (long)(from_s * w.rate), end = off - (long)(to_s * w.rate);
	long block = w.rate / 200;
	if (start < 3)
		start = 3;
	if (block <= 0 || end - start < 10 * block) {
		fprintf(stderr, "iem-wavcmp: %s: %.2f s of signal, too short\n", path,
				(double)(off - on) / w.rate);
		return 1;
	}
	long nb = (end - start) / block;
	double *m = calloc((size_t)nb, sizeof(double)), *sorted = calloc((size_t)nb, sizeof(double));
	if (m == NULL || sorted == NULL)
		return 1;
	for (long k = 0; k < nb; k++) {
		for (long i = start + k * block; i < start + (k + 1) * block; i++) {
			for (int c = 0; c < 2; c++) {
				const double *y = w.ch[c];
				double r = y[i] - 3.0 * y[i - 1] + 3.0 * y[i - 2] - y[i - 3];
				m[k] = fmax(m[k], fabs(r));
			}
		}
	}
	memcpy(sorted, m, sizeof(double) * (size_t)nb);
	qsort(sorted, (size_t)nb, sizeof(double), cmp_double);
	double median = sorted[nb / 2];
	/* the largest block, inside the windows when there are some */
	long kmax = -1;
	for (long k = 0; k < nb; k++) {
		double t = (double)(start + k * block) / w.rate;
		bool in = windows == NULL;
		for (const char *p = windows; p && *p;) {
			char *end;
			double a = strtod(p, &end), b = a;
			if (*end == ':')
				b = strtod(end + 1, &end);
			in = in || (t >= a && t < b);
			p = *end == ',' ? end + 1 : end;
			if (end == p && *p != '\0')
				break;
		}
		if (in && (kmax < 0 || m[k] > m[kmax]))
			kmax = k;
	}
	if (kmax < 0) {
		fprintf(stderr, "iem-wavcmp: %s: no block inside %s\n", path, windows);
		return 1;
	}
	printf("resid_db=%.1f click_db=%.1f at_s=%.3f baseline_db=%.1f blocks=%ld\n",
			db(m[kmax] / pk), median > 0 ? db(m[kmax] / median) : INFINITY,
			(double)(start + kmax * block) / w.rate, db(median / pk), nb);
	free(m);
	free(sorted);
	return 0;
}

int main(int argc, char *argv[])
{
	atexit(free_loaded);
	if (argc < 2)
		goto usage;
	if (argc == 4 && strcmp(argv[1], "match") == 0)
		return cmd_match(argv[2], argv[3], -1.0);
	if (argc == 6 && strcmp(argv[1], "match") == 0 && strcmp(argv[4], "--slips") == 0)
		return cmd_match(argv[2], argv[3], atof(argv[5]));
	if (strcmp(argv[1], "clicks") == 0 && argc >= 3) {
		const char *windows = NULL;
		if (argc >= 5 && strcmp(argv[argc - 2], "--in") == 0) {
			windows = argv[argc - 1];
			argc -= 2;
		}
		if (argc == 3 || argc == 5 || argc == 7) {
			double from = argc > 3 ? atof(argv[3]) : 0.3, to = argc > 3 ? atof(argv[4]) : 0.3;
			return cmd_clicks(argv[2], from, to, argc > 5 ? atof(argv[5]) : 0.0,
					argc > 5 ? atof(argv[6]) : 0.0, argc > 5, windows);
		}
	}
usage:
	fprintf(stderr, "usage: %s match RECORDED REFERENCE [--slips GUARD_S]\n"
			"       %s clicks RECORDED [FROM_S TO_S [INJECT_S INJECT_DB]] [--in A:B,...]\n",
			argv[0], argv[0]);
	return 2;
}
