/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the ParametricEQ.txt parser. Besides crashes and
 * sanitizer findings it checks the parser's promises: a success gives only
 * in-range bands packed from the first one, a failure leaves the
 * parameters exactly as they were and names a place and a reason.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iem-dsp.h"
#include "iem-test-params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define require(cond) do { if (!(cond)) abort(); } while (0)


static bool has_gain(enum iem_filter_type t)
{
	return t == IEM_FILTER_PEAKING || t == IEM_FILTER_LOWSHELF || t == IEM_FILTER_HIGHSHELF;
}

static void check_success(const struct iem_params *p)
{
	bool off_seen = false;
	int i;

	require(p->bypass && p->output_gain == -3.25);
	if (p->preamp_auto)
		require(p->preamp == 0.0);
	else
		require(p->preamp >= IEM_PREAMP_MIN && p->preamp <= IEM_PREAMP_MAX);

	for (i = 0; i < IEM_MAX_BANDS; i++) {
		const struct iem_band *b = &p->band[i];
		if (b->type == IEM_FILTER_OFF) {
			off_seen = true;
			require(b->freq == 1000.0 && b->q == 0.7071 && b->gain == 0.0 &&
					b->channels == IEM_CHANNELS_BOTH);
			continue;
		}
		/* active bands come first, in file order */
		require(!off_seen);
		require(b->type > IEM_FILTER_OFF && b->type < IEM_FILTER_TYPE_COUNT);
		require(b->freq >= IEM_FREQ_MIN && b->freq <= IEM_FREQ_MAX);
		require(b->q >= IEM_Q_MIN && b->q <= IEM_Q_MAX);
		require(b->gain >= IEM_GAIN_MIN && b->gain <= IEM_GAIN_MAX);
		require(has_gain(b->type) || b->gain == 0.0);
		require(b->channels == IEM_CHANNELS_LEFT || b->channels == IEM_CHANNELS_RIGHT ||
				b->channels == IEM_CHANNELS_BOTH);
	}
}

static void check_error(const struct iem_parse_error *err)
{
	const char *m = err->message;
	size_t n = strnlen(m, sizeof(err->message)), i;

	require(n > 0 && n < sizeof(err->message));
	require(err->line >= 1 && err->column >= 1);
	require(m[n - 1] != '.');
	/* printable ASCII, and "…" as the only other thing: input bytes are
	 * always escaped */
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)m[i];
		if (c == 0xe2) {
			require(i + 2 < n && (unsigned char)m[i + 1] == 0x80 &&
					(unsigned char)m[i + 2] == 0xa6);
			i += 2;
			continue;
		}
		require(c >= 0x20 && c < 0x7f);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct iem_params p, ref, q;
	struct iem_parse_error err;
	int res;

	test_params_nondefault(&ref);
	p = ref;
	res = iem_apo_parse((const char *)data, size, &p, &err);
	if (res == 0) {
		check_success(&p);
	} else {
		require(res == -EINVAL);
		require(memcmp(&p, &ref, sizeof(p)) == 0);
		check_error(&err);
	}

	/* err is optional and must not change the outcome */
	q = ref;
	require(iem_apo_parse((const char *)data, size, &q, NULL) == res);
	require(memcmp(&q, &p, sizeof(q)) == 0);
	return 0;
}
