/* SPDX-License-Identifier: MIT */
/*
 * The only file that sees FFTW. Real transforms in single precision,
 * planned once per size off the real-time thread and executed with the
 * new-array interface on buffers from iem_fft_alloc().
 *
 * Wisdom is cached in $XDG_CACHE_HOME/iemstage/fftw-wisdom (or
 * ~/.cache/…), behind a first line naming the FFTW version, precision and
 * CPU features it was measured with: wisdom from another machine or build,
 * or a damaged file, is ignored and replaced, never trusted.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fftw3.h>

#include "fft.h"

#define WISDOM_MAX (1u << 20)

struct iem_fft {
	uint32_t n;
	fftwf_plan forward;
	fftwf_plan inverse;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
/* The planner is made thread safe; the wisdom file is ours to guard. */
static pthread_mutex_t wisdom_lock = PTHREAD_MUTEX_INITIALIZER;

static void cpu_tag(char *buf, size_t size)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	snprintf(buf, size, "x86%s%s%s%s",
			__builtin_cpu_supports("avx") ? "+avx" : "",
			__builtin_cpu_supports("avx2") ? "+avx2" : "",
			__builtin_cpu_supports("fma") ? "+fma" : "",
			__builtin_cpu_supports("avx512f") ? "+avx512f" : "");
#elif defined(__aarch64__)
	snprintf(buf, size, "aarch64");
#else
	snprintf(buf, size, "generic");
#endif
}

static void header(char *buf, size_t size)
{
	char cpu[64];
	cpu_tag(cpu, sizeof(cpu));
	snprintf(buf, size, "iemstage fftw wisdom 1 %s float %s\n", fftwf_version, cpu);
}

static int wisdom_path(char *buf, size_t size, bool make_dir)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char dir[4096];
	int r;

	if (xdg && xdg[0] == '/')
		r = snprintf(dir, sizeof(dir), "%s/iemstage", xdg);
	else if (home && home[0] == '/')
		r = snprintf(dir, sizeof(dir), "%s/.cache/iemstage", home);
	else
		return -ENOENT;
	if (r < 0 || (size_t)r >= sizeof(dir))
		return -ENAMETOOLONG;
	if (make_dir) {
		char parent[4096];
		snprintf(parent, sizeof(parent), "%s", dir);
		char *slash = strrchr(parent, '/');
		if (slash) {
			*slash = '\0';
			mkdir(parent, 0700);
		}
		mkdir(dir, 0700);
	}
	r = snprintf(buf, size, "%s/fftw-wisdom", dir);
	if (r < 0 || (size_t)r >= size)
		return -ENAMETOOLONG;
	return 0;
}

static void load_wisdom(void)
{
	char path[4200], want[256], *text = NULL;
	struct stat st;
	FILE *f;

	if (wisdom_path(path, sizeof(path), false) < 0)
		return;
	f = fopen(path, "re");
	if (f == NULL)
		return;
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > WISDOM_MAX)
		goto out;
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL || fread(text, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
		goto out;
	text[st.st_size] = '\0';
	header(want, sizeof(want));
	if (strncmp(text, want, strlen(want)) != 0)
		goto out;	/* another machine, build or format: ignore */
	/* FFTW checks the rest itself and refuses what it cannot parse. */
	if (!fftwf_import_wisdom_from_string(text + strlen(want)))
		fftwf_forget_wisdom();
out:
	free(text);
	fclose(f);
}

static void save_wisdom(void)
{
	char path[4200], tmp[4300], head[256];
	char *text;
	int fd;

	if (wisdom_path(path, sizeof(path), true) < 0)
		return;
	text = fftwf_export_wisdom_to_string();
	if (text == NULL)
		return;
	header(head, sizeof(head));
	snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd >= 0) {
		size_t a = strlen(head), b = strlen(text);
		bool ok = write(fd, head, a) == (ssize_t)a && write(fd, text, b) == (ssize_t)b;
		ok = fsync(fd) == 0 && ok;
		ok = close(fd) == 0 && ok;
		if (!ok || rename(tmp, path) < 0)
			unlink(tmp);
	}
	free(text);
}

static void global_init(void)
{
	fftwf_make_planner_thread_safe();
	pthread_mutex_lock(&wisdom_lock);
	load_wisdom();
	pthread_mutex_unlock(&wisdom_lock);
}

struct iem_fft *iem_fft_new(uint32_t n)
{
	struct iem_fft *fft;
	float *in, *out;
	bool measured = false;

	if (n < 2 || n > (1u << 24) || (n & (n - 1)) != 0) {
		errno = EINVAL;
		return NULL;
	}
	pthread_once(&init_once, global_init);

	fft = calloc(1, sizeof(*fft));
	in = fftwf_alloc_real(n);
	out = fftwf_alloc_real(n + 2);
	if (fft == NULL || in == NULL || out == NULL)
		goto error;
	fft->n = n;

	/* Wisdom first; measuring overwrites the arrays, which are scratch. */
	const unsigned flags = FFTW_MEASURE;
	fft->forward = fftwf_plan_dft_r2c_1d((int)n, in, (fftwf_complex *)out, flags | FFTW_WISDOM_ONLY);
	if (fft->forward == NULL) {
		fft->forward = fftwf_plan_dft_r2c_1d((int)n, in, (fftwf_complex *)out, flags);
		measured = true;
	}
	fft->inverse = fftwf_plan_dft_c2r_1d((int)n, (fftwf_complex *)out, in, flags | FFTW_WISDOM_ONLY);
	if (fft->inverse == NULL) {
		fft->inverse = fftwf_plan_dft_c2r_1d((int)n, (fftwf_complex *)out, in, flags);
		measured = true;
	}
	if (fft->forward == NULL || fft->inverse == NULL)
		goto error;
	if (measured) {
		pthread_mutex_lock(&wisdom_lock);
		save_wisdom();
		pthread_mutex_unlock(&wisdom_lock);
	}
	fftwf_free(in);
	fftwf_free(out);
	return fft;

error:
	fftwf_free(in);
	fftwf_free(out);
	iem_fft_free(fft);
	errno = ENOMEM;
	return NULL;
}

struct iem_fft *iem_fft_free(struct iem_fft *fft)
{
	if (fft == NULL)
		return NULL;
	if (fft->forward)
		fftwf_destroy_plan(fft->forward);
	if (fft->inverse)
		fftwf_destroy_plan(fft->inverse);
	free(fft);
	return NULL;
}

uint32_t iem_fft_size(const struct iem_fft *fft)
{
	return fft->n;
}

void iem_fft_forward(const struct iem_fft *fft, float *in, float *out)
{
	fftwf_execute_dft_r2c(fft->forward, in, (fftwf_complex *)out);
}

void iem_fft_inverse(const struct iem_fft *fft, float *in, float *out)
{
	fftwf_execute_dft_c2r(fft->inverse, (fftwf_complex *)in, out);
}

float *iem_fft_alloc(size_t n)
{
	float *p;
	if (n == 0 || n > SIZE_MAX / sizeof(float) / 2)
		return NULL;
	p = fftwf_alloc_real(n);
	if (p)
		memset(p, 0, n * sizeof(float));
	return p;
}

void iem_fft_free_buffer(float *p)
{
	fftwf_free(p);
}
