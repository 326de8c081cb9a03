/* SPDX-License-Identifier: MIT */
#ifndef IEM_TEST_PARAMS_H
#define IEM_TEST_PARAMS_H

#include <string.h>

#include "iem-dsp.h"

/* Parameters that differ from the defaults everywhere, to see exactly what
 * a parser touches and what it leaves alone. */
static inline void test_params_nondefault(struct iem_params *p)
{
	memset(p, 0, sizeof(*p));
	p->bypass = true;
	p->preamp_auto = false;
	p->preamp = -7.5;
	p->output_gain = -3.25;
	for (int i = 0; i < IEM_MAX_BANDS; i++) {
		p->band[i].type = IEM_FILTER_NOTCH;
		p->band[i].freq = 123.0 + i;
		p->band[i].q = 3.5;
		p->band[i].gain = -9.0;
		p->band[i].channels = IEM_CHANNELS_RIGHT;
	}
}

#endif
