/* SPDX-License-Identifier: MIT */
/*
 * A strict JSON (RFC 8259) checker that also maps every value to where it
 * is written.
 *
 * json-c builds the profile's tree, but it accepts what a strict reader
 * must not (measured with JSON_TOKENER_STRICT on json-c 0.16: duplicate
 * keys, NaN and Infinity, 1e999, single-quoted strings, "1.", raw control
 * characters in strings, lone surrogates) and it keeps no positions. This
 * scanner runs first, over the raw bytes, and is the authority on syntax:
 * every error has an offset and a message of its own. On success it hands
 * back a table from JSON pointer to the offsets of the member's key and of
 * its value, which the profile checker uses for line:column.
 *
 * Bounded: nesting IEM_PROFILE_DEPTH_MAX, at most IEM_PROFILE_VALUES_MAX
 * values, keys at most IEM_PROFILE_STRING_MAX bytes; recursion depth is
 * the nesting depth.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-scan.h"

struct scanner {
	const char *s;
	size_t len, pos;
	struct json_loc *locs;
	uint32_t n_locs, cap_locs;
	char ptr[JSON_POINTER_MAX];
	size_t ptr_len;
	size_t err_off;
	char *err;
	size_t err_size;
};

static int __attribute__((format(printf, 3, 4)))
fail(struct scanner *sc, size_t off, const char *fmt, ...)
{
	va_list ap;
	sc->err_off = off;
	va_start(ap, fmt);
	vsnprintf(sc->err, sc->err_size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A character for a message: 'x' for printable ASCII, else its code. */
static void show_char(const char *s, size_t len, size_t pos, char *buf, size_t size)
{
	unsigned char c = (unsigned char)s[pos];
	if (c >= 0x20 && c < 0x7f)
		snprintf(buf, size, "'%c'", c);
	else if (c == '\n')
		snprintf(buf, size, "end of line");
	else
		snprintf(buf, size, "byte 0x%02X", c);
	(void)len;
}

static void skip_ws(struct scanner *sc)
{
	while (sc->pos < sc->len) {
		char c = sc->s[sc->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		sc->pos++;
	}
}

/* Length of the valid UTF-8 sequence at s (1 … 4), 0 when invalid:
 * overlong forms, surrogates and code points above U+10FFFF are invalid. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
	uint32_t cp, min;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2; cp = s[0] & 0x1f; min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3; cp = s[0] & 0x0f; min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4; cp = s[0] & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	if (n > avail)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static int hex4(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	} else if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	} else if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A string at sc->pos (which holds '"'). With out, the decoded text is
 * written there (NUL-terminated; a key); longer than out_size - 1 bytes is
 * an error. */
static int scan_string(struct scanner *sc, char *out, size_t out_size)
{
	size_t start = sc->pos, n = 0;
	char buf[4];

	sc->pos++;
	for (;;) {
		size_t k;
		uint32_t cp;
		unsigned char c;

		if (sc->pos >= sc->len)
			return fail(sc, start, "unterminated string");
		c = (unsigned char)sc->s[sc->pos];
		if (c == '"') {
			sc->pos++;
			break;
		}
		if (c < 0x20)
			return fail(sc, sc->pos, "control character (byte 0x%02X) in a string: write it as an escape", c);
		if (c == '\\') {
			size_t esc = sc->pos;
			if (sc->pos + 1 >= sc->len)
				return fail(sc, start, "unterminated string");
			switch (sc->s[sc->pos + 1]) {
			case '"': cp = '"'; break;
			case '\\': cp = '\\'; break;
			case '/': cp = '/'; break;
			case 'b': cp = '\b'; break;
			case 'f': cp = '\f'; break;
			case 'n': cp = '\n'; break;
			case 'r': cp = '\r'; break;
			case 't': cp = '\t'; break;
			case 'u':
				if (sc->pos + 6 > sc->len || hex4(sc->s + sc->pos + 2, &cp) < 0)
					return fail(sc, esc, "\\u needs four hexadecimal digits");
				if (cp >= 0xdc00 && cp <= 0xdfff)
					return fail(sc, esc, "unpaired low surrogate \\u%04X", cp);
				if (cp >= 0xd800 && cp <= 0xdbff) {
					uint32_t lo;
					if (sc->pos + 12 > sc->len || sc->s[sc->pos + 6] != '\\' ||
					    sc->s[sc->pos + 7] != 'u' ||
					    hex4(sc->s + sc->pos + 8, &lo) < 0 ||
					    lo < 0xdc00 || lo > 0xdfff)
						return fail(sc, esc, "unpaired high surrogate \\u%04X", cp);
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					sc->pos += 6;
				}
				if (cp == 0)
					return fail(sc, esc, "\\u0000 is not allowed in strings");
				sc->pos += 4;
				break;
			default:
				return fail(sc, esc, "invalid escape '\\%c'",
						sc->s[sc->pos + 1] >= 0x20 && sc->s[sc->pos + 1] < 0x7f ?
						sc->s[sc->pos + 1] : '?');
			}
			sc->pos += 2;
			k = put_utf8(buf, cp);
		} else {
			k = utf8_len((const unsigned char *)sc->s + sc->pos, sc->len - sc->pos);
			if (k == 0)
				return fail(sc, sc->pos, "invalid UTF-8 in a string");
			memcpy(buf, sc->s + sc->pos, k);
			sc->pos += k;
		}
		if (out != NULL) {
			if (n + k >= out_size)
				return fail(sc, start, "member name longer than %zu bytes", out_size - 1);
			memcpy(out + n, buf, k);
			n += k;
		}
	}
	if (out != NULL)
		out[n] = '\0';
	return 0;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t) 0);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int scan_number(struct scanner *sc)
{
	size_t start = sc->pos, p = sc->pos;
	char buf[64], *end;
	double v;

	if (p < sc->len && sc->s[p] == '-')
		p++;
	if (p < sc->len && sc->s[p] == 'I')
		return fail(sc, start, "NaN and Infinity are not JSON numbers");
	if (p >= sc->len || !is_digit(sc->s[p]))
		return fail(sc, start, "expected a digit after '-'");
	if (sc->s[p] == '0' && p + 1 < sc->len && is_digit(sc->s[p + 1]))
		return fail(sc, start, "numbers cannot start with 0 (leading zeros)");
	while (p < sc->len && is_digit(sc->s[p]))
		p++;
	if (p < sc->len && sc->s[p] == '.') {
		p++;
		if (p >= sc->len || !is_digit(sc->s[p]))
			return fail(sc, start, "expected a digit after '.'");
		while (p < sc->len && is_digit(sc->s[p]))
			p++;
	}
	if (p < sc->len && (sc->s[p] == 'e' || sc->s[p] == 'E')) {
		p++;
		if (p < sc->len && (sc->s[p] == '+' || sc->s[p] == '-'))
			p++;
		if (p >= sc->len || !is_digit(sc->s[p]))
			return fail(sc, start, "expected a digit in the exponent");
		while (p < sc->len && is_digit(sc->s[p]))
			p++;
	}
	sc->pos = p;

	/* The range: long mantissas are cut (they change nothing at this
	 * scale), a long exponent means out of range anyway. */
	if (p - start >= sizeof(buf)) {
		const char *e = memchr(sc->s + start, 'e', p - start);
		if (e == NULL)
			e = memchr(sc->s + start, 'E', p - start);
		if (e != NULL && (size_t)(sc->s + p - e) > 8)
			return fail(sc, start, "number out of range");
		if (e == NULL && p - start > 310)
			return fail(sc, start, "number out of range");
		return 0;
	}
	memcpy(buf, sc->s + start, p - start);
	buf[p - start] = '\0';
	pthread_once(&c_locale_once, make_c_locale);
	v = c_locale ? strtod_l(buf, &end, c_locale) : strtod(buf, &end);
	if (!isfinite(v))
		return fail(sc, start, "number out of range");
	return 0;
}

static int scan_literal(struct scanner *sc)
{
	static const char *const words[] = { "true", "false", "null" };
	size_t start = sc->pos, p = sc->pos, n;

	while (p < sc->len && ((sc->s[p] >= 'a' && sc->s[p] <= 'z') ||
				(sc->s[p] >= 'A' && sc->s[p] <= 'Z')))
		p++;
	n = p - start;
	for (size_t i = 0; i < 3; i++) {
		if (n == strlen(words[i]) && memcmp(sc->s + start, words[i], n) == 0) {
			sc->pos = p;
			return 0;
		}
	}
	if ((n == 3 && memcmp(sc->s + start, "NaN", 3) == 0) ||
	    (n == 8 && memcmp(sc->s + start, "Infinity", 8) == 0))
		return fail(sc, start, "NaN and Infinity are not JSON numbers");
	if (n > 24)
		n = 24;
	return fail(sc, start, "expected a value, got '%.*s'", (int)n, sc->s + start);
}

/* Appends "/<escaped key>" or "/<index>" to the current pointer. */
static int ptr_push(struct scanner *sc, const char *key, uint32_t index, size_t at)
{
	char tmp[24];
	size_t need = 1;

	if (key == NULL) {
		snprintf(tmp, sizeof(tmp), "%u", index);
		key = tmp;
	}
	for (const char *k = key; *k; k++)
		need += (*k == '~' || *k == '/') ? 2 : 1;
	if (sc->ptr_len + need >= sizeof(sc->ptr))
		return fail(sc, at, "member names nested too long");
	sc->ptr[sc->ptr_len++] = '/';
	for (const char *k = key; *k; k++) {
		if (*k == '~' || *k == '/') {
			sc->ptr[sc->ptr_len++] = '~';
			sc->ptr[sc->ptr_len++] = *k == '~' ? '0' : '1';
		} else {
			sc->ptr[sc->ptr_len++] = *k;
		}
	}
	sc->ptr[sc->ptr_len] = '\0';
	return 0;
}

static void ptr_pop(struct scanner *sc, size_t len)
{
	sc->ptr_len = len;
	sc->ptr[len] = '\0';
}

static int add_loc(struct scanner *sc, size_t key_off, size_t value_off, uint32_t parent)
{
	struct json_loc *l;

	if (sc->n_locs >= JSON_VALUES_MAX)
		return fail(sc, value_off, "more than %u values in one file", JSON_VALUES_MAX);
	if (sc->n_locs == sc->cap_locs) {
		uint32_t cap = sc->cap_locs ? sc->cap_locs * 2 : 64;
		struct json_loc *n = realloc(sc->locs, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		sc->locs = n;
		sc->cap_locs = cap;
	}
	l = &sc->locs[sc->n_locs];
	l->pointer = strdup(sc->ptr);
	if (l->pointer == NULL)
		return -ENOMEM;
	l->key_off = (uint32_t)key_off;
	l->value_off = (uint32_t)value_off;
	l->parent = parent;
	sc->n_locs++;
	return 0;
}

static int scan_value(struct scanner *sc, int depth);

/* At an object's '{' or an array's '[': true when close follows (the
 * container is empty), both consumed. */
static bool scan_open(struct scanner *sc, char close)
{
	sc->pos++;
	skip_ws(sc);
	if (sc->pos < sc->len && sc->s[sc->pos] == close) {
		sc->pos++;
		return true;
	}
	return false;
}

/* A member's or an element's value, its pointer then taken off, and what
 * follows it: 1 after close (the container's end), 0 after a ',', both
 * consumed. item names it in messages ("a member"). */
static int scan_item(struct scanner *sc, int depth, size_t base, char close, const char *item)
{
	char what[32];
	int r;

	if ((r = scan_value(sc, depth)) < 0)
		return r;
	ptr_pop(sc, base);
	skip_ws(sc);
	if (sc->pos >= sc->len)
		return fail(sc, sc->pos, "unexpected end of file: expected ',' or '%c'", close);
	if (sc->s[sc->pos] == close) {
		sc->pos++;
		return 1;
	}
	if (sc->s[sc->pos] != ',') {
		show_char(sc->s, sc->len, sc->pos, what, sizeof(what));
		return fail(sc, sc->pos, "expected ',' or '%c' after %s, got %s", close, item, what);
	}
	sc->pos++;
	return 0;
}

static int scan_object(struct scanner *sc, int depth)
{
	uint32_t self = sc->n_locs - 1;
	size_t base = sc->ptr_len;
	char key[JSON_STRING_MAX + 1];
	int r;

	if (scan_open(sc, '}'))
		return 0;
	for (;;) {
		size_t key_off;
		char what[32];

		skip_ws(sc);
		if (sc->pos >= sc->len)
			return fail(sc, sc->pos, "unexpected end of file: expected a member name");
		if (sc->s[sc->pos] == '}')
			return fail(sc, sc->pos, "trailing comma before '}'");
		if (sc->s[sc->pos] != '"') {
			show_char(sc->s, sc->len, sc->pos, what, sizeof(what));
			return fail(sc, sc->pos, "expected a member name in double quotes, got %s", what);
		}
		key_off = sc->pos;
		if ((r = scan_string(sc, key, sizeof(key))) < 0)
			return r;
		if ((r = ptr_push(sc, key, 0, key_off)) < 0)
			return r;
		for (uint32_t i = self + 1; i < sc->n_locs; i++) {
			if (sc->locs[i].parent == self && strcmp(sc->locs[i].pointer, sc->ptr) == 0)
				return fail(sc, key_off, "duplicate member \"%s\"", key);
		}
		skip_ws(sc);
		if (sc->pos >= sc->len)
			return fail(sc, sc->pos, "unexpected end of file: expected ':'");
		if (sc->s[sc->pos] != ':') {
			show_char(sc->s, sc->len, sc->pos, what, sizeof(what));
			return fail(sc, sc->pos, "expected ':' after the member name, got %s", what);
		}
		sc->pos++;
		skip_ws(sc);
		if ((r = add_loc(sc, key_off, sc->pos, self)) < 0)
			return r;
		if ((r = scan_item(sc, depth, base, '}', "a member")) != 0)
			return r < 0 ? r : 0;
	}
}

static int scan_array(struct scanner *sc, int depth)
{
	uint32_t self = sc->n_locs - 1, index = 0;
	size_t base = sc->ptr_len;
	int r;

	if (scan_open(sc, ']'))
		return 0;
	for (;;) {
		skip_ws(sc);
		if (sc->pos < sc->len && sc->s[sc->pos] == ']')
			return fail(sc, sc->pos, "trailing comma before ']'");
		if ((r = ptr_push(sc, NULL, index++, sc->pos)) < 0)
			return r;
		if ((r = add_loc(sc, sc->pos, sc->pos, self)) < 0)
			return r;
		if ((r = scan_item(sc, depth, base, ']', "an element")) != 0)
			return r < 0 ? r : 0;
	}
}

static int scan_value(struct scanner *sc, int depth)
{
	char what[32];
	char c;

	if (sc->pos >= sc->len)
		return fail(sc, sc->pos, "unexpected end of file: expected a value");
	c = sc->s[sc->pos];
	switch (c) {
	case '{':
	case '[':
		if (depth >= JSON_DEPTH_MAX)
			return fail(sc, sc->pos, "nested deeper than %d levels", JSON_DEPTH_MAX);
		return c == '{' ? scan_object(sc, depth + 1) : scan_array(sc, depth + 1);
	case '"':
		return scan_string(sc, NULL, 0);
	case '\'':
		return fail(sc, sc->pos, "strings are written in double quotes");
	case '-':
		return scan_number(sc);
	default:
		if (is_digit(c))
			return scan_number(sc);
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			return scan_literal(sc);
		if (c == '.' || c == '+')
			return fail(sc, sc->pos, "a number starts with a digit or '-'");
		if (c == '/')
			return fail(sc, sc->pos, "comments are not allowed in JSON (use a \"comment\" member)");
		show_char(sc->s, sc->len, sc->pos, what, sizeof(what));
		return fail(sc, sc->pos, "expected a value, got %s", what);
	}
}

void json_scan_clear(struct json_scan *js)
{
	for (uint32_t i = 0; i < js->n_locs; i++)
		free(js->locs[i].pointer);
	free(js->locs);
	js->locs = NULL;
	js->n_locs = 0;
}

int json_scan(const char *text, size_t len, size_t start, struct json_scan *js,
		size_t *err_off, char *err, size_t err_size)
{
	struct scanner sc = {
		.s = text, .len = len, .pos = start,
		.err = err, .err_size = err_size,
	};
	char what[32];
	int r;

	memset(js, 0, sizeof(*js));
	skip_ws(&sc);
	if (sc.pos >= sc.len) {
		r = fail(&sc, sc.pos, "the file is empty");
		goto error;
	}
	if ((r = add_loc(&sc, sc.pos, sc.pos, UINT32_MAX)) < 0)
		goto error;
	if ((r = scan_value(&sc, 0)) < 0)
		goto error;
	skip_ws(&sc);
	if (sc.pos < sc.len) {
		show_char(sc.s, sc.len, sc.pos, what, sizeof(what));
		r = fail(&sc, sc.pos, "unexpected %s after the end of the document", what);
		goto error;
	}
	js->locs = sc.locs;
	js->n_locs = sc.n_locs;
	return 0;

error:
	if (r == -ENOMEM)
		snprintf(err, err_size, "out of memory");
	*err_off = sc.err_off;
	js->locs = sc.locs;
	js->n_locs = sc.n_locs;
	json_scan_clear(js);
	return r;
}

const struct json_loc *json_scan_find(const struct json_scan *js, const char *pointer)
{
	for (uint32_t i = 0; i < js->n_locs; i++)
		if (strcmp(js->locs[i].pointer, pointer) == 0)
			return &js->locs[i];
	return NULL;
}

void json_offset_to_line(const char *text, size_t len, size_t off, uint32_t *line, uint32_t *column)
{
	size_t line_start = 0;
	uint32_t l = 1, c = 1;

	if (off > len)
		off = len;
	for (size_t i = 0; i < off; i++) {
		if (text[i] == '\n') {
			l++;
			line_start = i + 1;
		}
	}
	/* A UTF-8 byte-order mark is not a character of the first line. */
	if (line_start == 0 && len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		line_start = off >= 3 ? 3 : off;
	for (size_t i = line_start; i < off; i++)
		if (((unsigned char)text[i] & 0xc0) != 0x80)
			c++;
	*line = l;
	*column = c;
}
