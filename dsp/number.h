/* SPDX-License-Identifier: MIT */
/*
 * Internal: reading and writing decimal numbers the same way in every
 * locale, for the text formats the library reads (ParametricEQ.txt,
 * GraphicEQ.txt, CSV curves) and writes.
 */
#ifndef IEM_NUMBER_H
#define IEM_NUMBER_H

#include <stddef.h>

/* Scans a decimal number at the start of s[0..n): optional sign, digits
 * with an optional fraction (at least one digit in all), optional
 * exponent; no "inf" or "nan". Returns the bytes used, 0 when s does not
 * start with a number. Values too large for a double become +-inf. */
size_t iem_scan_number(const char *s, size_t n, double *val);

/* Writes x rounded to `decimals` places (0 … 9) as "-12.345", without
 * the locale's decimal point; "-0.00" is written "0.00". Returns what
 * snprintf returns. Not finite, or too large for 64-bit integers once
 * scaled: written as 0. */
int iem_format_fixed(char *buf, size_t size, double x, int decimals);

#endif
