/* SPDX-License-Identifier: MIT */
/*
 * Runs a libFuzzer target once over each file named on the command line,
 * or each file in a directory named there, so that a compiler without
 * libFuzzer still exercises the target over its seed corpus as a test.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned int n_run;

/* The whole file in a buffer of exactly its size, so that a sanitizer
 * notices a read past the end. */
static int run_file(const char *path)
{
	uint8_t *data = NULL, *exact;
	size_t size = 0, alloc = 0, n;
	FILE *f;
	int res = 0;

	if ((f = fopen(path, "rb")) == NULL) {
		res = -errno;
		fprintf(stderr, "%s: %s\n", path, strerror(-res));
		return res;
	}
	do {
		if (size == alloc) {
			uint8_t *d;
			alloc = alloc ? alloc * 2 : 4096;
			if ((d = realloc(data, alloc)) == NULL) {
				res = -ENOMEM;
				goto done;
			}
			data = d;
		}
		n = fread(data + size, 1, alloc - size, f);
		size += n;
	} while (n > 0);
	if (ferror(f)) {
		fprintf(stderr, "%s: read error\n", path);
		res = -EIO;
		goto done;
	}
	if ((exact = malloc(size > 0 ? size : 1)) == NULL) {
		res = -ENOMEM;
		goto done;
	}
	if (size > 0)
		memcpy(exact, data, size);
	LLVMFuzzerTestOneInput(exact, size);
	free(exact);
	n_run++;
done:
	free(data);
	fclose(f);
	return res;
}

static int run_dir(const char *path)
{
	struct dirent *d;
	DIR *dir;
	int res = 0;

	if ((dir = opendir(path)) == NULL) {
		res = -errno;
		fprintf(stderr, "%s: %s\n", path, strerror(-res));
		return res;
	}
	while ((d = readdir(dir)) != NULL) {
		struct stat st;
		size_t len;
		char *file;

		if (d->d_name[0] == '.')
			continue;
		len = strlen(path) + strlen(d->d_name) + 2;
		if ((file = malloc(len)) == NULL) {
			res = -ENOMEM;
			break;
		}
		snprintf(file, len, "%s/%s", path, d->d_name);
		if (stat(file, &st) == 0 && S_ISREG(st.st_mode) && run_file(file) < 0)
			res = -EIO;
		free(file);
	}
	closedir(dir);
	return res;
}

int main(int argc, char *argv[])
{
	int i, failed = 0;

	for (i = 1; i < argc; i++) {
		struct stat st;
		int res;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			failed++;
			continue;
		}
		res = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]);
		if (res < 0)
			failed++;
	}
	printf("%u inputs run\n", n_run);
	/* an empty run would pass without testing anything */
	return failed > 0 || n_run == 0 ? 1 : 0;
}
