/* SPDX-License-Identifier: MIT */
/*
 * Writing an Equalizer APO / AutoEq ParametricEQ.txt: what apo.c reads.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "iem-dsp.h"
#include "number.h"

#define MAX_DECIMALS	6

struct out {
	char *buf;
	size_t size, len;
	bool full;
};

static void __attribute__((format(printf, 2, 3))) put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->size - o->len) {
		o->full = true;
		return;
	}
	o->len += (size_t)n;
}

/* The fewest decimals that give back v: k decimals read back as
 * round(v * 10^k) / 10^k, the correctly rounded quotient. */
static const char *number(char *buf, size_t size, double v)
{
	double scale = 1.0;
	int d;

	for (d = 0; d < MAX_DECIMALS; d++, scale *= 10.0) {
		if (round(v * scale) / scale == v)
			break;
	}
	iem_format_fixed(buf, size, v, d);
	return buf;
}

static const char *type_code(enum iem_filter_type t, bool *gain)
{
	*gain = false;
	switch (t) {
	case IEM_FILTER_PEAKING:
		*gain = true;
		return "PK";
	case IEM_FILTER_LOWSHELF:
		*gain = true;
		return "LSC";
	case IEM_FILTER_HIGHSHELF:
		*gain = true;
		return "HSC";
	case IEM_FILTER_LOWPASS:
		return "LPQ";
	case IEM_FILTER_HIGHPASS:
		return "HPQ";
	case IEM_FILTER_BANDPASS:
		return "BP";
	case IEM_FILTER_NOTCH:
		return "NO";
	case IEM_FILTER_ALLPASS:
		return "AP";
	default:
		return NULL;
	}
}

int iem_apo_write(const struct iem_params *p, char *buf, size_t size)
{
	static const char *const channel_name[] = {
		[IEM_CHANNELS_LEFT] = "L", [IEM_CHANNELS_RIGHT] = "R", [IEM_CHANNELS_BOTH] = "ALL",
	};
	struct out o = { buf, size, 0, false };
	enum iem_channels ch = IEM_CHANNELS_BOTH;
	char f[32], g[32], q[32];
	int n = 0;

	if (p == NULL || buf == NULL || size == 0)
		return -EINVAL;
	buf[0] = '\0';
	if (!p->preamp_auto)
		put(&o, "Preamp: %s dB\n", number(f, sizeof(f), p->preamp));
	for (int i = 0; i < IEM_MAX_BANDS; i++) {
		const struct iem_band *b = &p->band[i];
		bool gain;
		const char *code = type_code(b->type, &gain);

		if (code == NULL)
			continue;
		if (b->channels != ch && b->channels >= IEM_CHANNELS_LEFT &&
		    b->channels <= IEM_CHANNELS_BOTH) {
			ch = b->channels;
			put(&o, "Channel: %s\n", channel_name[ch]);
		}
		number(f, sizeof(f), b->freq);
		number(g, sizeof(g), b->gain);
		number(q, sizeof(q), b->q);
		if (gain)
			put(&o, "Filter %d: ON %s Fc %s Hz Gain %s dB Q %s\n", ++n, code, f, g, q);
		else
			put(&o, "Filter %d: ON %s Fc %s Hz Q %s\n", ++n, code, f, q);
	}
	if (o.full) {
		buf[0] = '\0';
		return -ENOSPC;
	}
	return (int)o.len;
}
