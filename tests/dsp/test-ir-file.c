/* SPDX-License-Identifier: MIT */
/*
 * IR files: each layout's channels land in the right convolver paths,
 * resampling keeps lengths and positions, and every bad file is refused
 * with a message naming the file and the reason — absurd headers quickly,
 * without reading or allocating what they claim. Files are written into a
 * fresh directory under $TMPDIR (or /tmp) and removed at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sndfile.h>

#include "iem-test.h"
#include "iem-test-dsp.h"

#define N_ELEMS(a)	(sizeof(a) / sizeof((a)[0]))
/* Refusing an absurd header is reading a few bytes: this is generous
 * enough for valgrind. */
#define QUICK_S		2.0

static char dir[4096];

static const char *file(const char *name)
{
	static char buf[4][4200];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
	return buf[k];
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* frames x channels interleaved floats into a WAV of the given subformat. */
static bool write_wav(const char *name, int channels, int rate, const float *data,
		sf_count_t frames, int subformat)
{
	SF_INFO info = {
		.samplerate = rate,
		.channels = channels,
		.format = SF_FORMAT_WAV | subformat,
	};
	SNDFILE *sf = sf_open(file(name), SFM_WRITE, &info);
	bool ok;

	if (sf == NULL) {
		diag("%s: %s", name, sf_strerror(NULL));
		return false;
	}
	ok = sf_writef_float(sf, data, frames) == frames;
	return sf_close(sf) == 0 && ok;
}

static bool write_bytes(const char *name, const void *data, size_t size)
{
	FILE *f = fopen(file(name), "wbe");
	bool ok;
	if (f == NULL)
		return false;
	ok = fwrite(data, 1, size, f) == size;
	return fclose(f) == 0 && ok;
}

/* Channel c holds (c + 1) / 16 at frame 20 + c: every channel distinct. */
static float *distinct(int channels, sf_count_t frames)
{
	float *x = test_alloc((size_t)frames * channels, sizeof(float));
	for (int c = 0; c < channels; c++)
		x[(20 + c) * channels + c] = (float)(c + 1) / 16.0f;
	return x;
}

/* Path p holds file channel ch as distinct() wrote it, and nothing else. */
static bool path_is(const char *what, const struct iem_ir_file *f, int p, int ch)
{
	static const char *const names[4] = { "LL", "RL", "LR", "RR" };
	const float *h = f->ir.taps[p];
	uint32_t others = 0;

	if (h == NULL)
		return check(false, "%s: path %s is there", what, names[p]);
	for (uint32_t k = 0; k < f->ir.length; k++)
		if (k != (uint32_t)(20 + ch) && h[k] != 0.0f)
			others++;
	return check((uint32_t)(20 + ch) < f->ir.length && h[20 + ch] == (float)(ch + 1) / 16.0f &&
			others == 0, "%s: path %s is file channel %d (%g at %d, %u other taps)",
			what, names[p], ch, (uint32_t)(20 + ch) < f->ir.length ? h[20 + ch] : -1.0f,
			20 + ch, others);
}

static struct iem_ir_file *load_ok(const char *what, const char *name, uint32_t rate,
		enum iem_ir_layout layout)
{
	struct iem_ir_file *f = NULL;
	char err[512];
	int res = iem_ir_file_load(file(name), rate, layout, &f, err, sizeof(err));

	if (!check(res == 0 && f != NULL, "%s: loads (%d: %s)", what, res, err))
		return NULL;
	check(err[0] == '\0', "%s: no message on success", what);
	return f;
}

/* A refusal with error `want` whose message names the file and contains
 * `reason`. Returns the time it took. */
static double refused(const char *what, const char *name, uint32_t rate, enum iem_ir_layout layout,
		int want, const char *reason)
{
	struct iem_ir_file *f = (struct iem_ir_file *)&f;	/* must come back NULL */
	char err[512];
	double t = now();
	int res = iem_ir_file_load(file(name), rate, layout, &f, err, sizeof(err));

	t = now() - t;
	check(res == -want && f == NULL, "%s: refused with %s (%d: %s)", what, strerror(want), res,
			res < 0 ? strerror(-res) : "loaded");
	check(strstr(err, name) != NULL && strstr(err, reason) != NULL,
			"%s: the message names the file and says '%s' (\"%s\")", what, reason, err);
	if (res == 0)
		iem_ir_file_free(f);
	return t;
}

/* ---- layouts ------------------------------------------------------------- */

static void test_stereo(void)
{
	const char *w = "2 channels";
	float *x = distinct(2, 100);
	struct iem_ir_file *f;

	x[5 * 2 + 1] = -0.75f;	/* and a louder tap on R->R */
	if (!write_wav("stereo.wav", 2, 48000, x, 100, SF_FORMAT_FLOAT))
		abort();
	free(x);
	if ((f = load_ok(w, "stereo.wav", 48000, IEM_IR_LAYOUT_AUTO)) == NULL)
		return;
	check(f->layout == IEM_IR_LAYOUT_STEREO && f->ir.n_inputs == 2 && f->ir.n_outputs == 2,
			"%s: stereo layout, 2 x 2 (%d, %u x %u)", w, f->layout, f->ir.n_inputs,
			f->ir.n_outputs);
	check(f->ir.taps[1] == NULL && f->ir.taps[2] == NULL, "%s: no cross paths (NULL)", w);
	path_is(w, f, 0, 0);
	check(f->ir.taps[3][5] == -0.75f && f->ir.taps[3][21] == 2.0f / 16.0f,
			"%s: path RR is file channel 1", w);
	check(f->ir.length == 22, "%s: trailing silence trimmed: 22 taps (%u)", w, f->ir.length);
	check(f->rate == 48000 && f->file_rate == 48000 && f->file_channels == 2 &&
			f->file_frames == 100, "%s: figures (%u Hz, %u Hz, %u channels, %u frames)",
			w, f->rate, f->file_rate, f->file_channels, f->file_frames);
	/* right ear: -0.75 and 0.125, in phase somewhere */
	check(fabs(f->peak_gain_db - db(0.875)) < 1e-4, "%s: peak gain %.4f dB (%.4f)", w,
			f->peak_gain_db, db(0.875));
	iem_ir_file_free(f);

	if ((f = load_ok("2 channels, layout stereo", "stereo.wav", 48000, IEM_IR_LAYOUT_STEREO)))
		iem_ir_file_free(f);
	refused("2 channels as true stereo", "stereo.wav", 48000, IEM_IR_LAYOUT_TRUE_STEREO, EINVAL,
			"2 channels, but the true-stereo layout has 4 (LL, LR, RL, RR) channels");
	refused("2 channels as HeSuVi", "stereo.wav", 48000, IEM_IR_LAYOUT_HESUVI, EINVAL,
			"the hesuvi layout has 14 or 7 (HeSuVi) channels");
}

static void test_true_stereo(void)
{
	const char *w = "4 channels";
	float *x = distinct(4, 64);
	struct iem_ir_file *f;

	if (!write_wav("true-stereo.wav", 4, 48000, x, 64, SF_FORMAT_FLOAT))
		abort();
	free(x);
	if ((f = load_ok(w, "true-stereo.wav", 48000, IEM_IR_LAYOUT_AUTO)) == NULL)
		return;
	check(f->layout == IEM_IR_LAYOUT_TRUE_STEREO, "%s: true-stereo layout", w);
	/* file: LL, LR, RL, RR; convolver: LL, RL, LR, RR */
	path_is(w, f, 0, 0);
	path_is(w, f, 1, 2);
	path_is(w, f, 2, 1);
	path_is(w, f, 3, 3);
	check(f->ir.length == 24, "%s: 24 taps (%u)", w, f->ir.length);
	/* left ear: 1/16 + 3/16; right ear: 2/16 + 4/16, flat */
	check(fabs(f->peak_gain_db - db(6.0 / 16.0)) < 1e-4, "%s: peak gain %.4f dB (%.4f)", w,
			f->peak_gain_db, db(6.0 / 16.0));
	iem_ir_file_free(f);
	refused("4 channels as HeSuVi", "true-stereo.wav", 48000, IEM_IR_LAYOUT_HESUVI, EINVAL,
			"4 channels, but the hesuvi layout");
}

static void test_hesuvi(void)
{
	float *x = distinct(14, 64);
	struct iem_ir_file *f;
	const char *w = "HeSuVi, 14 channels";

	if (!write_wav("hesuvi14.wav", 14, 48000, x, 64, SF_FORMAT_FLOAT))
		abort();
	free(x);
	if ((f = load_ok(w, "hesuvi14.wav", 48000, IEM_IR_LAYOUT_AUTO))) {
		check(f->layout == IEM_IR_LAYOUT_HESUVI && f->file_channels == 14, "%s: HeSuVi layout", w);
		/* FL->L 0, FR->L 8, FL->R 1, FR->R 7 */
		path_is(w, f, 0, 0);
		path_is(w, f, 1, 8);
		path_is(w, f, 2, 1);
		path_is(w, f, 3, 7);
		check(f->ir.length == 29, "%s: trimmed to the paths used: 29 taps (%u)", w, f->ir.length);
		iem_ir_file_free(f);
	}

	w = "HeSuVi, 7 channels";
	x = distinct(7, 64);
	if (!write_wav("hesuvi7.wav", 7, 48000, x, 64, SF_FORMAT_FLOAT))
		abort();
	free(x);
	if ((f = load_ok(w, "hesuvi7.wav", 48000, IEM_IR_LAYOUT_HESUVI))) {
		check(f->layout == IEM_IR_LAYOUT_HESUVI && f->file_channels == 7, "%s: HeSuVi layout", w);
		/* mirrored: FR->L = FL->R (1), FR->R = FL->L (0) */
		path_is(w, f, 0, 0);
		path_is(w, f, 1, 1);
		path_is(w, f, 2, 1);
		path_is(w, f, 3, 0);
		check(f->ir.length == 22, "%s: 22 taps (%u)", w, f->ir.length);
		/* each ear: 1/16 + 2/16 */
		check(fabs(f->peak_gain_db - db(3.0 / 16.0)) < 1e-4, "%s: peak gain %.4f dB (%.4f)", w,
				f->peak_gain_db, db(3.0 / 16.0));
		iem_ir_file_free(f);
	}
	refused("7 channels as stereo", "hesuvi7.wav", 48000, IEM_IR_LAYOUT_STEREO, EINVAL,
			"7 channels, but the stereo layout has 2 (L, R) channels");
}

static void test_pcm16(void)
{
	const char *w = "16-bit PCM";
	float x[2 * 8] = { 0 };
	struct iem_ir_file *f;

	x[0] = 0.5f;
	x[2 * 7 + 1] = -0.25f;
	if (!write_wav("pcm16.wav", 2, 48000, x, 8, SF_FORMAT_PCM_16))
		abort();
	if ((f = load_ok(w, "pcm16.wav", 48000, IEM_IR_LAYOUT_AUTO)) == NULL)
		return;
	check(f->ir.length == 8 && f->ir.taps[0][0] == 0.5f && f->ir.taps[3][7] == -0.25f,
			"%s: read as floats, full scale 1 (%u taps, %g, %g)", w, f->ir.length,
			f->ir.taps[0][0], f->ir.taps[3][7]);
	iem_ir_file_free(f);
}

static void test_silent(void)
{
	const char *w = "all silent";
	float x[2 * 300] = { 0 };
	struct iem_ir_file *f;

	if (!write_wav("silent.wav", 2, 48000, x, 300, SF_FORMAT_FLOAT))
		abort();
	if ((f = load_ok(w, "silent.wav", 48000, IEM_IR_LAYOUT_AUTO)) == NULL)
		return;
	check(f->ir.length == 1 && f->ir.taps[0][0] == 0.0f && f->ir.taps[3][0] == 0.0f,
			"%s: one tap of silence kept (%u)", w, f->ir.length);
	check(f->peak_gain_db == -150.0, "%s: peak gain -150 dB (%g)", w, f->peak_gain_db);
	iem_ir_file_free(f);
}

/* ---- resampling ---------------------------------------------------------- */

static void test_resampled(void)
{
	const char *w = "44.1 kHz at 48 kHz";
	const sf_count_t n = 4410;
	float *x = test_alloc((size_t)n * 2, sizeof(float));
	struct iem_ir_file *f;
	uint32_t peak[2] = { 0, 0 };

	x[441 * 2] = 1.0f;		/* 10 ms: 480 at 48 kHz */
	x[(n - 1) * 2 + 1] = 1.0f;	/* the last frame: 4798.9 */
	if (!write_wav("44k.wav", 2, 44100, x, n, SF_FORMAT_FLOAT))
		abort();
	free(x);
	if ((f = load_ok(w, "44k.wav", 48000, IEM_IR_LAYOUT_AUTO)) == NULL)
		return;
	check(f->rate == 48000 && f->file_rate == 44100 && f->file_frames == 4410,
			"%s: %u Hz from %u Hz, %u frames", w, f->rate, f->file_rate, f->file_frames);
	check(f->ir.length == 4800, "%s: 4410 frames make 4800 taps (%u)", w, f->ir.length);
	for (int i = 0; i < 2; i++) {
		const float *h = f->ir.taps[i * 3];
		for (uint32_t k = 0; k < f->ir.length; k++)
			if (fabsf(h[k]) > fabsf(h[peak[i]]))
				peak[i] = k;
	}
	check(peak[0] == 480 && peak[1] == 4799, "%s: impulses at 441 and 4409 peak at 480 and "
			"4799 (%u, %u)", w, peak[0], peak[1]);
	check(f->ir.taps[1] == NULL && f->ir.taps[2] == NULL, "%s: cross paths still NULL", w);
	iem_ir_file_free(f);

	/* and down: 96 kHz at 48 kHz */
	w = "96 kHz at 48 kHz";
	x = distinct(4, 960);
	if (!write_wav("96k.wav", 4, 96000, x, 960, SF_FORMAT_FLOAT))
		abort();
	free(x);
	if ((f = load_ok(w, "96k.wav", 48000, IEM_IR_LAYOUT_AUTO)) == NULL)
		return;
	/* channel 0 at 20 -> 10; the last, channel 3 at 23 -> 11.5, rings on
	 * for the resampler's reach (87 frames at 48 kHz), not cut short */
	const float *h = f->ir.taps[0];
	uint32_t p = 0;
	for (uint32_t k = 0; k < f->ir.length; k++)
		if (fabsf(h[k]) > fabsf(h[p]))
			p = k;
	check(p == 10 && f->ir.length > 11 + 80 && f->ir.length <= 12 + 90,
			"%s: impulse at 20 peaks at 10 (%u), trimmed to %u taps", w, p, f->ir.length);
	iem_ir_file_free(f);
}

/* ---- refusals ------------------------------------------------------------ */

static void le16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
	le16(p, v & 0xffff);
	le16(p + 2, v >> 16);
}

static void le64(uint8_t *p, uint64_t v)
{
	le32(p, (uint32_t)v);
	le32(p + 4, (uint32_t)(v >> 32));
}

/* A canonical 44-byte PCM WAV header and `have` bytes of audio. */
static bool craft_wav(const char *name, uint32_t channels, uint32_t bits, uint32_t data_size,
		size_t have)
{
	size_t size = 44 + have;
	uint8_t *b = test_alloc(size, 1);
	uint32_t align = channels * bits / 8;
	bool ok;

	memcpy(b, "RIFF", 4);
	le32(b + 4, 36 + data_size);
	memcpy(b + 8, "WAVEfmt ", 8);
	le32(b + 16, 16);
	le16(b + 20, 1);
	le16(b + 22, channels);
	le32(b + 24, 48000);
	le32(b + 28, 48000 * align);
	le16(b + 32, align);
	le16(b + 34, bits);
	memcpy(b + 36, "data", 4);
	le32(b + 40, data_size);
	for (size_t i = 44; i < size; i++)
		b[i] = (uint8_t)(i * 37);
	ok = write_bytes(name, b, size);
	free(b);
	return ok;
}

/* RF64, 2 channels of 16 bits, announcing `frames`; then `have` bytes, or
 * the file extended (sparse) to the size announced when `sparse`. */
static bool craft_rf64(const char *name, uint64_t frames, size_t have, bool sparse)
{
	const size_t head = 12 + 36 + 24 + 8;
	uint8_t *b = test_alloc(head + have, 1);
	uint64_t data = frames * 4;
	bool ok;

	memcpy(b, "RF64", 4);
	le32(b + 4, UINT32_MAX);
	memcpy(b + 8, "WAVEds64", 8);
	le32(b + 16, 28);
	le64(b + 20, head - 8 + data);	/* RIFF size */
	le64(b + 28, data);		/* data size */
	le64(b + 36, frames);		/* sample count */
	le32(b + 44, 0);		/* table length */
	memcpy(b + 48, "fmt ", 4);
	le32(b + 52, 16);
	le16(b + 56, 1);
	le16(b + 58, 2);
	le32(b + 60, 48000);
	le32(b + 64, 48000 * 4);
	le16(b + 68, 4);
	le16(b + 70, 16);
	memcpy(b + 72, "data", 4);
	le32(b + 76, UINT32_MAX);
	for (size_t i = head; i < head + have; i++)
		b[i] = (uint8_t)(i * 37);
	ok = write_bytes(name, b, head + have);
	free(b);
	if (ok && sparse)
		ok = truncate(file(name), (off_t)(head + data)) == 0;
	return ok;
}

static void test_channels(void)
{
	float x[5 * 40] = { 0 };
	static const int counts[] = { 1, 3, 5, 6, 8, 13, 15, 16 };

	for (size_t i = 0; i < N_ELEMS(counts); i++) {
		char name[32], what[64], reason[160];
		x[0] = 1.0f;
		snprintf(name, sizeof(name), "ch%d.wav", counts[i]);
		snprintf(what, sizeof(what), "%d channel%s", counts[i], counts[i] == 1 ? "" : "s");
		snprintf(reason, sizeof(reason), "%d channel%s: an IR file has 2 (L, R), "
				"4 (LL, LR, RL, RR) or 14/7 (HeSuVi) channels", counts[i],
				counts[i] == 1 ? "" : "s");
		/* 40 x 5 floats hold 40 frames of up to 5 channels; more channels, fewer frames */
		if (!write_wav(name, counts[i], 48000, x, 40 * 5 / counts[i], SF_FORMAT_FLOAT))
			abort();
		refused(what, name, 48000, IEM_IR_LAYOUT_AUTO, EINVAL, reason);
	}

	/* a header claiming 65535 channels (libsndfile stops at 1024) */
	if (!craft_wav("ch65535.wav", 65535, 16, 65535u * 2 * 4, 65535u * 2 * 4))
		abort();
	double t = refused("65535 channels in the header", "ch65535.wav", 48000, IEM_IR_LAYOUT_AUTO,
			EINVAL, "65535 channels: an IR file has");
	check(t < QUICK_S, "65535 channels: refused in %.3f s", t);
	if (!craft_wav("ch1000.wav", 1000, 16, 2000 * 4, 2000 * 4))
		abort();
	refused("1000 channels in the header", "ch1000.wav", 48000, IEM_IR_LAYOUT_AUTO,
			EINVAL, "1000 channels: an IR file has");
}

static void test_nonfinite(void)
{
	float x[2 * 16] = { 0 };

	x[0] = 1.0f;
	x[5 * 2 + 1] = NAN;
	if (!write_wav("nan.wav", 2, 48000, x, 16, SF_FORMAT_FLOAT))
		abort();
	refused("NaN", "nan.wav", 48000, IEM_IR_LAYOUT_AUTO, EINVAL,
			"channel 2 of 2, frame 5: not a finite number (nan)");
	x[5 * 2 + 1] = 0.0f;
	x[12 * 2] = -INFINITY;
	if (!write_wav("inf.wav", 2, 48000, x, 16, SF_FORMAT_FLOAT))
		abort();
	refused("-Inf", "inf.wav", 48000, IEM_IR_LAYOUT_AUTO, EINVAL,
			"channel 1 of 2, frame 12: not a finite number (-inf)");

	/* in a channel the layout does not use: still a broken file */
	float *y = distinct(14, 64);
	y[30 * 14 + 12] = NAN;
	if (!write_wav("nan14.wav", 14, 48000, y, 64, SF_FORMAT_FLOAT))
		abort();
	free(y);
	refused("NaN in an unused HeSuVi channel", "nan14.wav", 48000, IEM_IR_LAYOUT_AUTO, EINVAL,
			"channel 13 of 14, frame 30: not a finite number");

	/* after the first chunk */
	const sf_count_t n = 10000;
	y = test_alloc((size_t)n * 2, sizeof(float));
	y[9999 * 2 + 1] = INFINITY;
	if (!write_wav("inf-late.wav", 2, 48000, y, n, SF_FORMAT_FLOAT))
		abort();
	free(y);
	refused("Inf in the last frame", "inf-late.wav", 48000, IEM_IR_LAYOUT_AUTO, EINVAL,
			"channel 2 of 2, frame 9999: not a finite number (inf)");
}

static void test_not_audio(void)
{
	uint8_t junk[1000];
	uint64_t seed = 11;

	if (!write_bytes("empty.wav", "", 0))
		abort();
	refused("an empty file", "empty.wav", 48000, IEM_IR_LAYOUT_AUTO, EINVAL,
			"not an audio file libsndfile can read");

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)test_rand(&seed);
	if (!write_bytes("garbage.wav", junk, sizeof(junk)))
		abort();
	refused("garbage", "garbage.wav", 48000, IEM_IR_LAYOUT_AUTO, EINVAL,
			"not an audio file libsndfile can read");

	/* RIFF WAVE and then garbage */
	memcpy(junk, "RIFF\x10\x00\x00\x00WAVE", 12);
	if (!write_bytes("riff-garbage.wav", junk, sizeof(junk)))
		abort();
	refused("a RIFF WAVE header and garbage", "riff-garbage.wav", 48000, IEM_IR_LAYOUT_AUTO,
			EINVAL, "not an audio file libsndfile can read");

	if (!write_wav("no-frames.wav", 2, 48000, NULL, 0, SF_FORMAT_FLOAT))
		abort();
	refused("a WAV of no frames", "no-frames.wav", 48000, IEM_IR_LAYOUT_AUTO, EINVAL,
			"no audio frames");

	refused("a missing file", "missing.wav", 48000, IEM_IR_LAYOUT_AUTO, ENOENT,
			"No such file or directory");
	if (mkdir(file("dir.wav"), 0700) != 0)
		abort();
	refused("a directory", "dir.wav", 48000, IEM_IR_LAYOUT_AUTO, EISDIR, "Is a directory");
	rmdir(file("dir.wav"));
}

static void test_truncated(void)
{
	const sf_count_t n = 1000;
	float *x = distinct(2, n);
	struct stat st;

	for (sf_count_t k = 0; k < n; k++)
		x[k * 2] = 0.001f;
	if (!write_wav("cut.wav", 2, 48000, x, n, SF_FORMAT_FLOAT))
		abort();
	free(x);
	/* cut the second half off: 500 frames of 8 bytes */
	if (stat(file("cut.wav"), &st) != 0 || truncate(file("cut.wav"), st.st_size - 500 * 8) != 0)
		abort();
	refused("a WAV cut short", "cut.wav", 48000, IEM_IR_LAYOUT_AUTO, EINVAL,
			"truncated: the header announces 1000 frames, the file holds 500");

	/* 2 x 8 bits with a data size of 2^32 - 2: 2^31 - 1 frames */
	if (!craft_wav("2g.wav", 2, 8, UINT32_MAX - 1, 400))
		abort();
	double t = refused("a WAV header claiming 2^31 - 1 frames", "2g.wav", 48000,
			IEM_IR_LAYOUT_AUTO, EINVAL, "the header announces 2147483647 frames, the file holds 200");
	check(t < QUICK_S, "2^31 - 1 frames: refused in %.3f s", t);

	if (!craft_rf64("2g.rf64", 1ull << 31, 4000, false))
		abort();
	t = refused("an RF64 header claiming 2^31 frames", "2g.rf64", 48000, IEM_IR_LAYOUT_AUTO,
			EINVAL, "the header announces 2147483648 frames, the file holds 1000");
	check(t < QUICK_S, "RF64, 2^31 frames: refused in %.3f s", t);

	/* The same, with all 8 GiB there (a sparse file): too long, not read. */
	if (craft_rf64("8g.rf64", 1ull << 31, 4000, true)) {
		t = refused("an RF64 file of 2^31 frames", "8g.rf64", 48000, IEM_IR_LAYOUT_AUTO,
				E2BIG, "too long: 2147483648 frames, more than 8388608");
		check(t < QUICK_S, "RF64, 8 GiB: refused in %.3f s", t);
	} else {
		diag("cannot make an 8 GiB sparse file here (%s): skipped", strerror(errno));
	}

	/* 0xffffffff, "length not recorded" (a WAV written to a pipe): loaded */
	if (!craft_wav("streamed.wav", 2, 16, UINT32_MAX, 4000))
		abort();
	struct iem_ir_file *f = load_ok("a WAV whose data size is not recorded", "streamed.wav",
			48000, IEM_IR_LAYOUT_AUTO);
	if (f)
		check(f->file_frames == 1000, "streamed WAV: the 1000 frames there (%u)", f->file_frames);
	iem_ir_file_free(f);
}

static void test_limits(void)
{
	/* 2^20 taps at 48 kHz are 21.8 s */
	const sf_count_t n = (1 << 20) + 1;
	float *x = test_alloc((size_t)n * 2, sizeof(float));
	struct iem_ir_file *f;

	x[0] = 1.0f;
	if (!write_wav("long.wav", 2, 48000, x, n, SF_FORMAT_FLOAT))
		abort();
	refused("2^20 + 1 frames", "long.wav", 48000, IEM_IR_LAYOUT_AUTO, E2BIG,
			"too long: 1048577 frames at 48000 Hz make 1048577 taps at 48000 Hz, more than "
			"1048576 (trailing silence counts)");
	if (!write_wav("long44.wav", 2, 44100, x, 963380, SF_FORMAT_FLOAT))
		abort();
	refused("963380 frames at 44.1 kHz, at 48 kHz", "long44.wav", 48000, IEM_IR_LAYOUT_AUTO, E2BIG,
			"963380 frames at 44100 Hz make 1048577 taps at 48000 Hz");
	/* the most there may be: 2^20 taps, and sound up to the end */
	x[(963379 - 1) * 2 + 1] = 0.5f;
	if (!write_wav("longest44.wav", 2, 44100, x, 963379, SF_FORMAT_FLOAT))
		abort();
	if ((f = load_ok("963379 frames at 44.1 kHz, at 48 kHz", "longest44.wav", 48000,
			IEM_IR_LAYOUT_AUTO))) {
		check(f->ir.length == IEM_CONV_MAX_TAPS, "963379 frames at 44.1 kHz make %u taps (%u)",
				IEM_CONV_MAX_TAPS, f->ir.length);
		iem_ir_file_free(f);
	}
	free(x);

	if (!write_wav("4k.wav", 2, 4000, (const float[4]) { 1, 1, 0, 0 }, 2, SF_FORMAT_FLOAT))
		abort();
	refused("a file at 4 kHz", "4k.wav", 48000, IEM_IR_LAYOUT_AUTO, EINVAL,
			"4000 Hz: IR files are read at 8000 … 384000 Hz");
	refused("a session rate of 0 Hz", "stereo.wav", 0, IEM_IR_LAYOUT_AUTO, EINVAL,
			"cannot load for 0 Hz");
	refused("a session rate of 400 kHz", "stereo.wav", 400000, IEM_IR_LAYOUT_AUTO, EINVAL,
			"cannot load for 400000 Hz");
	refused("layout 17", "stereo.wav", 48000, (enum iem_ir_layout)17, EINVAL, "unknown layout 17");

	char err[64] = "x";
	struct iem_ir_file *g = NULL;
	check(iem_ir_file_load(NULL, 48000, IEM_IR_LAYOUT_AUTO, &g, err, sizeof(err)) == -EINVAL &&
			g == NULL, "no path: -EINVAL (%s)", err);
	check(iem_ir_file_load(file("stereo.wav"), 48000, IEM_IR_LAYOUT_AUTO, NULL, NULL, 0) == -EINVAL,
			"nowhere to put it: -EINVAL");
	check(iem_ir_file_load(file("nan.wav"), 48000, IEM_IR_LAYOUT_AUTO, &g, NULL, 0) == -EINVAL &&
			g == NULL, "no message buffer: still refused");
	check(iem_ir_file_load(file("nan.wav"), 48000, IEM_IR_LAYOUT_AUTO, &g, err, 8) == -EINVAL &&
			strlen(err) == 7, "a short message buffer: cut, terminated (\"%s\")", err);
	check(iem_ir_file_free(NULL) == NULL, "iem_ir_file_free(NULL)");
}

static void test_names(void)
{
	static const char *const names[] = { "auto", "stereo", "true-stereo", "hesuvi" };
	for (int i = 0; i < IEM_IR_LAYOUT_COUNT; i++)
		check(iem_ir_layout_name((enum iem_ir_layout)i) != NULL &&
				strcmp(iem_ir_layout_name((enum iem_ir_layout)i), names[i]) == 0 &&
				iem_ir_layout_from_name(names[i]) == i, "layout %d is \"%s\"", i, names[i]);
	check(iem_ir_layout_name(IEM_IR_LAYOUT_COUNT) == NULL &&
			iem_ir_layout_from_name("Stereo") == -EINVAL &&
			iem_ir_layout_from_name(NULL) == -EINVAL, "unknown layouts and names");
}

static void cleanup(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			unlink(file(e->d_name));
	closedir(d);
	check(rmdir(dir) == 0, "the temporary directory is removed (%s)", strerror(errno));
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/iem-ir-file-XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_stereo();
	test_true_stereo();
	test_hesuvi();
	test_pcm16();
	test_silent();
	test_resampled();
	test_channels();
	test_nonfinite();
	test_not_audio();
	test_truncated();
	test_limits();
	test_names();
	cleanup();
	return iem_test_done();
}
