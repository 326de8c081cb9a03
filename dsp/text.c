/* SPDX-License-Identifier: MIT */
/*
 * What the readers of text formats (ParametricEQ.txt, GraphicEQ.txt, CSV
 * curves) share: reading a whole file within a size limit, and saying
 * where in it an error is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iem-dsp.h"

void iem_parse_error_format(const struct iem_parse_error *e, const char *path,
		char *buf, size_t size)
{
	if (e->line > 0 && e->column > 0)
		snprintf(buf, size, "%s:%u:%u: %s", path, e->line, e->column, e->message);
	else if (e->line > 0)
		snprintf(buf, size, "%s:%u: %s", path, e->line, e->message);
	else
		snprintf(buf, size, "%s: %s", path, e->message);
}

int iem_read_text_file(const char *path, size_t max, char **text, size_t *len,
		char *err, size_t err_size)
{
	struct stat st;
	size_t n = 0, cap;
	char *buf = NULL;
	int fd, res;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		res = -errno;
		goto fail;
	}
	if (fstat(fd, &st) < 0) {
		res = -errno;
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		res = -EISDIR;
		goto fail;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
		res = -EFBIG;
		goto fail;
	}
	/* one byte more than the limit tells a file of exactly max bytes
	 * from a larger one that does not say its size (a pipe) */
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : max + 1;
	if ((buf = malloc(cap + 1)) == NULL) {
		res = -ENOMEM;
		goto fail;
	}
	for (;;) {
		ssize_t got;
		if (n == cap) {
			/* a regular file that grew */
			if (cap > max)
				break;
			char *nb = realloc(buf, max + 2);
			if (nb == NULL) {
				res = -ENOMEM;
				goto fail;
			}
			buf = nb;
			cap = max + 1;
		}
		got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			res = -errno;
			goto fail;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n > max) {
		res = -EFBIG;
		goto fail;
	}
	close(fd);
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;

fail:
	if (err != NULL) {
		if (res == -EFBIG)
			snprintf(err, err_size, "%s: larger than %zu bytes", path, max);
		else
			snprintf(err, err_size, "%s: %s", path, strerror(-res));
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return res;
}
