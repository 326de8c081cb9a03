/* SPDX-License-Identifier: MIT */
/*
 * Internal: the line-by-line reading that the text parsers (apo.c for
 * ParametricEQ.txt, curve.c for CSV curves and GraphicEQ.txt) share, so
 * that they split lines, count columns and quote tokens alike.
 */
#ifndef IEM_TEXT_H
#define IEM_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iem-dsp.h"

/* Longest rendering of a token in a message, "…" not counted; three of
 * them and the longest text still fit in struct iem_parse_error. */
#define IEM_SHOW_MAX	40
#define IEM_SHOW_SIZE	(IEM_SHOW_MAX + 8)

/* The lines of a text: a UTF-8 BOM at its start skipped (so columns do
 * not count it), each line without its LF, nor the CR of a CR LF. */
struct iem_text_lines {
	const char *text;
	size_t len, pos;
	uint32_t lineno;
};

void iem_text_lines_init(struct iem_text_lines *t, const char *text, size_t len);
/* The next line and its 1-based number (stuck at UINT32_MAX); false at
 * the end of the text. */
bool iem_text_next_line(struct iem_text_lines *t, const char **line, size_t *len,
		uint32_t *lineno);

/* The first byte no line may hold (a NUL, or a CR other than a CR LF's):
 * its offset in *off and the message for it; NULL when there is none. */
const char *iem_text_bad_byte(const char *line, size_t len, size_t *off);

/* Bytes for a message: what could upset a terminal or is not plain ASCII
 * shown as \xNN, cut with "…" past IEM_SHOW_MAX. Returns buf. */
const char *iem_text_show(char buf[IEM_SHOW_SIZE], const char *s, size_t n);

/* Fills err (when not NULL) for byte off of line (1-based; 0: not tied to
 * a line, and then not to a column either). Returns -EINVAL. */
int __attribute__((format(printf, 4, 5)))
iem_text_fail(struct iem_parse_error *err, uint32_t line, size_t off, const char *fmt, ...);

#endif
