/* SPDX-License-Identifier: MIT */
/*
 * Impulse-response files (BRIRs, HRIRs) into the 2 x 2 convolver's paths.
 *
 * The file comes from outside and is checked before anything is allocated
 * for its audio: channel count, rate and length from libsndfile's header
 * (and, for WAV and RF64, from our own walk of the RIFF chunks, which also
 * catches a data chunk that announces more than the file holds: libsndfile
 * quietly shortens those, and an IR cut short is not what was measured).
 * The audio is then read in chunks of CHUNK_FRAMES, each sample checked to
 * be finite, and only the channels the layout uses are kept.
 *
 * Channel orders (first the speaker, then the ear):
 *
 *   2 channels  L->L, R->R; the cross paths are NULL (silent)
 *   4 channels  LL, LR, RL, RR
 *   14 channels HeSuVi's hrir.wav:
 *                0 FL->L   1 FL->R   2 SL->L   3 SL->R   4 BL->L   5 BL->R
 *                6 FC->L   7 FR->R   8 FR->L   9 SR->R  10 SR->L  11 BR->R
 *               12 BR->L  13 FC->R
 *               (the right-hand speakers list the near, right ear first);
 *               we take 0, 8, 1, 7
 *   7 channels  HeSuVi's symmetric sets: channels 0 … 6 of the above, the
 *               right-hand speakers being the mirror image of the left:
 *               FR->R = FL->L (0), FR->L = FL->R (1); we take 0, 1, 1, 0
 *
 * Messages start with the path as given and say what is wrong, e.g.
 * "brir.wav: 3 channels: an IR file has 2 (L, R), 4 (LL, LR, RL, RR) or
 * 14/7 (HeSuVi) channels".
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sndfile.h>

#include "fft.h"
#include "iem-dsp.h"
#include "resample.h"

#define CHUNK_FRAMES	4096u
/* Trailing samples below -150 dBFS on every path are trimmed. */
#define SILENCE		3.1622776601683794e-08
#define SILENCE_DB	(-150.0)
/* Frequencies at which the peak gain is sampled: at least 2 x the length,
 * at most this many (the response is folded onto them, which is exact). */
#define GAIN_FFT_MAX	(1u << 16)
#define RIFF_MAX_CHUNKS	64

#define CHANNELS_HINT	"an IR file has 2 (L, R), 4 (LL, LR, RL, RR) or 14/7 (HeSuVi) channels"

static const char *const layout_names[IEM_IR_LAYOUT_COUNT] = {
	[IEM_IR_LAYOUT_AUTO] = "auto",
	[IEM_IR_LAYOUT_STEREO] = "stereo",
	[IEM_IR_LAYOUT_TRUE_STEREO] = "true-stereo",
	[IEM_IR_LAYOUT_HESUVI] = "hesuvi",
};

const char *iem_ir_layout_name(enum iem_ir_layout layout)
{
	if ((unsigned)layout >= IEM_IR_LAYOUT_COUNT)
		return NULL;
	return layout_names[layout];
}

int iem_ir_layout_from_name(const char *name)
{
	if (name == NULL)
		return -EINVAL;
	for (int i = 0; i < IEM_IR_LAYOUT_COUNT; i++)
		if (strcmp(name, layout_names[i]) == 0)
			return i;
	return -EINVAL;
}

static int __attribute__((format(printf, 5, 6)))
fail(char *err, size_t size, int res, const char *path, const char *fmt, ...)
{
	va_list ap;
	int len;

	if (err == NULL || size == 0)
		return res;
	len = snprintf(err, size, "%s: ", path);
	if (len >= 0 && (size_t)len < size) {
		va_start(ap, fmt);
		vsnprintf(err + len, size - (size_t)len, fmt, ap);
		va_end(ap);
	}
	return res;
}

/* ---- RIFF WAVE / RF64 header walk --------------------------------------- */

struct wav_scan {
	bool wave;		/* RIFF/RF64/BW64 WAVE */
	bool have_fmt, have_data;
	uint16_t tag;		/* fmt: format tag */
	uint32_t channels;	/* fmt */
	uint32_t block_align;	/* fmt: bytes per frame for PCM and float */
	uint64_t declared;	/* data bytes announced; UINT64_MAX: not recorded */
	uint64_t available;	/* bytes in the file after the data chunk's header */
};

static inline uint32_t le16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static inline uint32_t le32(const uint8_t *p)
{
	return le16(p) | le16(p + 2) << 16;
}

static inline uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Finds fmt and data in the first RIFF_MAX_CHUNKS chunks. Reads a few
 * bytes per chunk header, whatever sizes they claim. */
static void wav_scan(int fd, uint64_t size, struct wav_scan *w)
{
	uint8_t h[12];
	uint64_t pos = 12, ds64_data = UINT64_MAX;
	bool rf64;

	memset(w, 0, sizeof(*w));
	if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) || memcmp(h + 8, "WAVE", 4) != 0)
		return;
	rf64 = memcmp(h, "RF64", 4) == 0 || memcmp(h, "BW64", 4) == 0;
	if (!rf64 && memcmp(h, "RIFF", 4) != 0)
		return;
	w->wave = true;

	for (int k = 0; k < RIFF_MAX_CHUNKS && pos + 8 <= size; k++) {
		uint8_t c[8 + 24];
		ssize_t got = pread(fd, c, sizeof(c), (off_t)pos);
		if (got < 8)
			return;
		const uint32_t len = le32(c + 4);
		if (memcmp(c, "ds64", 4) == 0 && got >= 8 + 16) {
			ds64_data = le64(c + 16);
		} else if (memcmp(c, "fmt ", 4) == 0 && got >= 8 + 14) {
			w->have_fmt = true;
			w->tag = (uint16_t)le16(c + 8);
			w->channels = le16(c + 10);
			w->block_align = le16(c + 20);
		} else if (memcmp(c, "data", 4) == 0) {
			w->have_data = true;
			w->available = size - (pos + 8);
			if (len != UINT32_MAX)
				w->declared = len;
			else if (rf64)
				w->declared = ds64_data;
			else
				w->declared = UINT64_MAX;	/* streamed: length not recorded */
			return;
		}
		pos += 8 + (uint64_t)len + (len & 1);
	}
}

/* ---- layout ------------------------------------------------------------- */

/* File channel of each path, in the convolver's order { LL, RL, LR, RR };
 * -1: no path. */
static const int8_t layout_map[][4] = {
	[0] = { 0, -1, -1, 1 },		/* stereo */
	[1] = { 0, 2, 1, 3 },		/* true stereo */
	[2] = { 0, 8, 1, 7 },		/* HeSuVi, 14 channels */
	[3] = { 0, 1, 1, 0 },		/* HeSuVi, 7 channels: mirrored */
};

static int resolve_layout(const char *path, enum iem_ir_layout layout, uint32_t channels,
		enum iem_ir_layout *resolved, const int8_t **map, char *err, size_t size)
{
	enum iem_ir_layout by_count;
	const int8_t *m;

	switch (channels) {
	case 2:
		by_count = IEM_IR_LAYOUT_STEREO;
		m = layout_map[0];
		break;
	case 4:
		by_count = IEM_IR_LAYOUT_TRUE_STEREO;
		m = layout_map[1];
		break;
	case 14:
		by_count = IEM_IR_LAYOUT_HESUVI;
		m = layout_map[2];
		break;
	case 7:
		by_count = IEM_IR_LAYOUT_HESUVI;
		m = layout_map[3];
		break;
	default:
		return fail(err, size, -EINVAL, path, "%u channel%s: " CHANNELS_HINT, channels,
				channels == 1 ? "" : "s");
	}
	if (layout != IEM_IR_LAYOUT_AUTO && layout != by_count) {
		static const char *const want[IEM_IR_LAYOUT_COUNT] = {
			[IEM_IR_LAYOUT_STEREO] = "2 (L, R)",
			[IEM_IR_LAYOUT_TRUE_STEREO] = "4 (LL, LR, RL, RR)",
			[IEM_IR_LAYOUT_HESUVI] = "14 or 7 (HeSuVi)",
		};
		return fail(err, size, -EINVAL, path, "%u channels, but the %s layout has %s channels",
				channels, layout_names[layout], want[layout]);
	}
	*resolved = by_count;
	*map = m;
	return 0;
}

/* ---- the response ------------------------------------------------------- */

struct iem_ir_file *iem_ir_file_free(struct iem_ir_file *f)
{
	if (f == NULL)
		return NULL;
	for (int i = 0; i < 4; i++)
		free(f->buf[i]);
	free(f);
	return NULL;
}

/* Frames up to the last one above SILENCE on any of the n buffers; >= 1. */
static uint32_t trimmed_length(float *const *buf, int n, uint32_t length)
{
	uint32_t keep = 1;

	for (int i = 0; i < n; i++) {
		for (uint32_t k = length; k > keep; k--) {
			if (fabsf(buf[i][k - 1]) > SILENCE) {
				keep = k;
				break;
			}
		}
	}
	return keep;
}

/* max over ears o and frequencies of |H(L->o)| + |H(R->o)|, in dB. The
 * response is folded (time-aliased) onto the transform size: the
 * transform of the folded response is the response's spectrum at those
 * frequencies, exactly. */
static int peak_gain(const float *const paths[4], uint32_t length, double *gain_db)
{
	struct iem_fft *fft;
	float *time, *spec[2];
	uint32_t n = 64;
	double peak = 0.0;
	int res = 0;

	while (n < GAIN_FFT_MAX && n < 2 * (uint64_t)length)
		n *= 2;
	fft = iem_fft_new(n);
	time = iem_fft_alloc(n);
	spec[0] = iem_fft_alloc(n + 2);
	spec[1] = iem_fft_alloc(n + 2);
	if (fft == NULL || time == NULL || spec[0] == NULL || spec[1] == NULL) {
		res = -ENOMEM;
		goto out;
	}
	for (int o = 0; o < 2; o++) {
		for (int i = 0; i < 2; i++) {
			const float *h = paths[o * 2 + i];
			memset(time, 0, n * sizeof(float));
			if (h != NULL)
				for (uint32_t k = 0; k < length; k++)
					time[k & (n - 1)] += h[k];
			iem_fft_forward(fft, time, spec[i]);
		}
		for (uint32_t b = 0; b <= n / 2; b++) {
			double m = 0.0;
			for (int i = 0; i < 2; i++)
				m += hypot(spec[i][2 * b], spec[i][2 * b + 1]);
			if (m > peak)
				peak = m;
		}
	}
	*gain_db = peak > 0.0 ? fmax(20.0 * log10(peak), SILENCE_DB) : SILENCE_DB;
out:
	iem_fft_free_buffer(spec[1]);
	iem_fft_free_buffer(spec[0]);
	iem_fft_free_buffer(time);
	iem_fft_free(fft);
	return res;
}

/* Reads every frame into the layout's buffers, checking each sample. */
static int read_audio(const char *path, SNDFILE *sf, uint32_t channels, uint32_t frames,
		const int8_t *chan, int n_buf, float *const *buf, char *err, size_t size)
{
	float *chunk = malloc((size_t)CHUNK_FRAMES * channels * sizeof(float));
	uint32_t done = 0;
	int res = 0;

	if (chunk == NULL)
		return fail(err, size, -ENOMEM, path, "%s", strerror(ENOMEM));
	while (done < frames) {
		uint32_t want = frames - done < CHUNK_FRAMES ? frames - done : CHUNK_FRAMES;
		sf_count_t got = sf_readf_float(sf, chunk, want);
		if (got <= 0)
			break;
		for (sf_count_t k = 0; k < got; k++) {
			const float *fr = chunk + (size_t)k * channels;
			for (uint32_t c = 0; c < channels; c++) {
				if (!isfinite(fr[c])) {
					res = fail(err, size, -EINVAL, path,
							"channel %u of %u, frame %u: not a finite number (%g)",
							c + 1, channels, done + (uint32_t)k, (double)fr[c]);
					goto out;
				}
			}
			for (int i = 0; i < n_buf; i++)
				buf[i][done + k] = fr[chan[i]];
		}
		done += (uint32_t)got;
	}
	if (sf_error(sf) != SF_ERR_NO_ERROR) {
		res = fail(err, size, -EIO, path, "read error after %u frames: %s", done, sf_strerror(sf));
	} else if (done < frames) {
		res = fail(err, size, -EINVAL, path,
				"truncated: the header announces %u frames, only %u could be read",
				frames, done);
	}
out:
	free(chunk);
	return res;
}

static int check_header(const char *path, int fd, uint64_t file_size, char *err, size_t size)
{
	struct wav_scan w;

	wav_scan(fd, file_size, &w);
	if (!w.wave)
		return 0;
	/* before libsndfile, which says only "Too many channels specified." */
	if (w.have_fmt && w.channels != 2 && w.channels != 4 && w.channels != 14 && w.channels != 7)
		return fail(err, size, -EINVAL, path, "%u channel%s: " CHANNELS_HINT, w.channels,
				w.channels == 1 ? "" : "s");
	if (w.have_data && w.declared != UINT64_MAX && w.declared > w.available) {
		/* frames where a frame has a fixed size: PCM, float, A-law, µ-law, extensible */
		bool framed = w.have_fmt && w.block_align > 0 && (w.tag == 0x0001 ||
				w.tag == 0x0003 || w.tag == 0x0006 || w.tag == 0x0007 || w.tag == 0xfffe);
		if (framed)
			return fail(err, size, -EINVAL, path,
					"truncated: the header announces %llu frames, the file holds %llu",
					(unsigned long long)(w.declared / w.block_align),
					(unsigned long long)(w.available / w.block_align));
		return fail(err, size, -EINVAL, path,
				"truncated: the header announces %llu bytes of audio, the file holds %llu",
				(unsigned long long)w.declared, (unsigned long long)w.available);
	}
	return 0;
}

int iem_ir_file_load(const char *path, uint32_t rate, enum iem_ir_layout layout,
		struct iem_ir_file **out, char *err, size_t err_size)
{
	struct iem_ir_file *f = NULL;
	SNDFILE *sf = NULL;
	SF_INFO info;
	struct stat st;
	const int8_t *map = NULL;
	int8_t chan[4];
	int n_buf = 0, fd = -1, res;
	uint32_t frames, length;
	uint64_t taps;

	if (err && err_size)
		err[0] = '\0';
	if (out)
		*out = NULL;
	if (path == NULL || out == NULL)
		return fail(err, err_size, -EINVAL, "(null)", "no file or no result to load into");
	if (rate < IEM_MIN_RATE || rate > IEM_MAX_RATE)
		return fail(err, err_size, -EINVAL, path, "cannot load for %u Hz: the rate must be %u … %u Hz",
				rate, IEM_MIN_RATE, IEM_MAX_RATE);
	if ((unsigned)layout >= IEM_IR_LAYOUT_COUNT)
		return fail(err, err_size, -EINVAL, path, "unknown layout %d", (int)layout);

	/* Our own descriptor: plain "No such file or directory", and no
	 * blocking on a FIFO. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return fail(err, err_size, -errno, path, "%s", strerror(errno));
	if (fstat(fd, &st) < 0) {
		res = fail(err, err_size, -errno, path, "%s", strerror(errno));
		goto error;
	}
	if (S_ISDIR(st.st_mode)) {
		res = fail(err, err_size, -EISDIR, path, "%s", strerror(EISDIR));
		goto error;
	}
	if (!S_ISREG(st.st_mode)) {
		res = fail(err, err_size, -EINVAL, path, "not a regular file");
		goto error;
	}
	if ((res = check_header(path, fd, (uint64_t)st.st_size, err, err_size)) < 0)
		goto error;

	memset(&info, 0, sizeof(info));
	sf = sf_open_fd(fd, SFM_READ, &info, SF_FALSE);
	if (sf == NULL) {
		res = fail(err, err_size, -EINVAL, path, "not an audio file libsndfile can read (%s)",
				sf_strerror(NULL));
		goto error;
	}
	if ((res = resolve_layout(path, layout, (uint32_t)(info.channels > 0 ? info.channels : 0),
			&layout, &map, err, err_size)) < 0)
		goto error;
	if (info.samplerate < (int)IEM_MIN_RATE || info.samplerate > (int)IEM_MAX_RATE) {
		res = fail(err, err_size, -EINVAL, path, "%d Hz: IR files are read at %u … %u Hz",
				info.samplerate, IEM_MIN_RATE, IEM_MAX_RATE);
		goto error;
	}
	if (info.frames <= 0) {
		res = fail(err, err_size, -EINVAL, path, "no audio frames");
		goto error;
	}
	if (info.frames > IEM_RESAMPLE_MAX_FRAMES) {
		res = fail(err, err_size, -E2BIG, path, "too long: %lld frames, more than %u",
				(long long)info.frames, IEM_RESAMPLE_MAX_FRAMES);
		goto error;
	}
	/* frames <= 2^23 and rate <= 384000: no overflow in 64 bits */
	taps = ((uint64_t)info.frames * rate + (uint32_t)info.samplerate - 1) / (uint32_t)info.samplerate;
	if (taps > IEM_CONV_MAX_TAPS) {
		res = fail(err, err_size, -E2BIG, path,
				"too long: %lld frames at %d Hz make %llu taps at %u Hz, more than %u "
				"(trailing silence counts)", (long long)info.frames, info.samplerate,
				(unsigned long long)taps, rate, IEM_CONV_MAX_TAPS);
		goto error;
	}
	frames = (uint32_t)info.frames;

	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		res = fail(err, err_size, -ENOMEM, path, "%s", strerror(ENOMEM));
		goto error;
	}
	/* one buffer per distinct file channel the layout uses */
	for (int p = 0; p < 4; p++) {
		int b;
		if (map[p] < 0)
			continue;
		for (b = 0; b < n_buf && chan[b] != map[p]; b++)
			;
		if (b == n_buf) {
			chan[n_buf] = map[p];
			f->buf[n_buf] = malloc((size_t)frames * sizeof(float));
			if (f->buf[n_buf++] == NULL) {
				res = fail(err, err_size, -ENOMEM, path, "%s", strerror(ENOMEM));
				goto error;
			}
		}
	}
	if ((res = read_audio(path, sf, (uint32_t)info.channels, frames, chan, n_buf, f->buf,
			err, err_size)) < 0)
		goto error;
	sf_close(sf);
	sf = NULL;
	close(fd);
	fd = -1;

	length = trimmed_length(f->buf, n_buf, frames);
	if ((uint32_t)info.samplerate != rate) {
		/* Resample the kernel's reach of the silence after the sound too,
		 * where the file has it, to keep the sinc's ringing there; then
		 * trim again. The output is at most the file's length, scaled. */
		const uint32_t from = (uint32_t)info.samplerate, lo = from < rate ? from : rate;
		const uint64_t pad = ((uint64_t)IEM_RESAMPLE_REACH * from + lo - 1) / lo + 1;
		const uint32_t in_length = length + pad < frames ? (uint32_t)(length + pad) : frames;
		for (int b = 0; b < n_buf; b++) {
			float *r = iem_resample(f->buf[b], in_length, from, rate, &length);
			if (r == NULL) {
				int e = errno;
				res = fail(err, err_size, -e, path, "resampling %u Hz to %u Hz: %s",
						from, rate, strerror(e));
				goto error;
			}
			free(f->buf[b]);
			f->buf[b] = r;
		}
		length = trimmed_length(f->buf, n_buf, length);
	}

	for (int p = 0; p < 4; p++) {
		int b;
		if (map[p] < 0)
			continue;
		for (b = 0; chan[b] != map[p]; b++)
			;
		f->paths[p] = f->buf[b];
	}
	f->ir = (struct iem_ir) {
		.n_inputs = 2,
		.n_outputs = 2,
		.length = length,
		.taps = f->paths,
	};
	f->rate = rate;
	f->file_rate = (uint32_t)info.samplerate;
	f->file_channels = (uint32_t)info.channels;
	f->file_frames = frames;
	f->layout = layout;
	if ((res = peak_gain(f->paths, length, &f->peak_gain_db)) < 0) {
		fail(err, err_size, res, path, "%s", strerror(-res));
		goto error;
	}
	*out = f;
	return 0;

error:
	if (sf)
		sf_close(sf);
	if (fd >= 0)
		close(fd);
	iem_ir_file_free(f);
	return res;
}
