/* SPDX-License-Identifier: MIT */
/*
 * What the readers of text formats (ParametricEQ.txt, GraphicEQ.txt, CSV
 * curves) share: reading a whole file within a size limit, its lines,
 * and saying where in it an error is and what is there (text.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iem-dsp.h"
#include "text.h"

void iem_text_lines_init(struct iem_text_lines *t, const char *text, size_t len)
{
	t->text = text;
	t->len = len;
	t->pos = len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
	t->lineno = 0;
}

bool iem_text_next_line(struct iem_text_lines *t, const char **line, size_t *len,
		uint32_t *lineno)
{
	const char *nl;
	size_t end;

	if (t->pos >= t->len)
		return false;
	nl = memchr(t->text + t->pos, '\n', t->len - t->pos);
	end = nl != NULL ? (size_t)(nl - t->text) : t->len;
	if (t->lineno < UINT32_MAX)
		t->lineno++;
	*line = t->text + t->pos;
	*len = end - t->pos;
	if (*len > 0 && (*line)[*len - 1] == '\r')
		(*len)--;
	*lineno = t->lineno;
	t->pos = nl != NULL ? end + 1 : t->len;
	return true;
}

const char *iem_text_bad_byte(const char *line, size_t len, size_t *off)
{
	for (size_t i = 0; i < len; i++) {
		if (line[i] == '\0' || line[i] == '\r') {
			*off = i;
			return line[i] == '\0' ? "unexpected NUL byte" :
				"unexpected carriage return: lines end in LF or CR LF";
		}
	}
	return NULL;
}

const char *iem_text_show(char buf[IEM_SHOW_SIZE], const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool plain = c >= 0x20 && c < 0x7f;
		if (o + (plain ? 1 : 4) > IEM_SHOW_MAX)
			break;
		if (plain) {
			buf[o++] = (char)c;
		} else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 0xf];
		}
	}
	if (i < n) {
		memcpy(buf + o, "…", sizeof("…") - 1);
		o += sizeof("…") - 1;
	}
	buf[o] = '\0';
	return buf;
}

int iem_text_fail(struct iem_parse_error *err, uint32_t line, size_t off, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -EINVAL;
	err->line = line;
	err->column = line == 0 ? 0 : off >= UINT32_MAX ? UINT32_MAX : (uint32_t)off + 1;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

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
