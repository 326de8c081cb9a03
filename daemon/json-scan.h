/* SPDX-License-Identifier: MIT */
/* Strict JSON syntax check with a pointer → position table (json-scan.c). */
#ifndef IEM_JSON_SCAN_H
#define IEM_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "iem-profile.h"

#define JSON_DEPTH_MAX		IEM_PROFILE_DEPTH_MAX
#define JSON_VALUES_MAX		IEM_PROFILE_VALUES_MAX
#define JSON_STRING_MAX		IEM_PROFILE_STRING_MAX
#define JSON_POINTER_MAX	4096

struct json_loc {
	char *pointer;			/* RFC 6901, "" for the document */
	uint32_t key_off;		/* byte offset of the member's key (of the value for elements) */
	uint32_t value_off;		/* byte offset of the value */
	uint32_t parent;		/* index of the containing value, UINT32_MAX for the root */
};

struct json_scan {
	struct json_loc *locs;		/* in document order */
	uint32_t n_locs;
};

/* Checks text[start, len) as one strict JSON document. 0 and the table on
 * success; on failure a negative errno, *err_off and err (a sentence). */
int json_scan(const char *text, size_t len, size_t start, struct json_scan *js,
		size_t *err_off, char *err, size_t err_size);
void json_scan_clear(struct json_scan *js);
const struct json_loc *json_scan_find(const struct json_scan *js, const char *pointer);

/* 1-based line and column (in characters) of a byte offset. */
void json_offset_to_line(const char *text, size_t len, size_t off, uint32_t *line,
		uint32_t *column);

#endif
