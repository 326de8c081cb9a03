/* SPDX-License-Identifier: MIT */
/*
 * The 10-band correction used wherever a "typical" EQ is timed or checked
 * (iemstage-bench eq, the cascade precision test): an AutoEq-style bass
 * shelf, low and narrow bands where float32 direct form I loses precision,
 * and a treble shelf.
 */
#ifndef IEM_EXAMPLE_EQ_H
#define IEM_EXAMPLE_EQ_H

#include "iem-dsp.h"

static const struct iem_band iem_example_eq10[10] = {
	{ IEM_FILTER_LOWSHELF, 105, 0.70, 6.5, IEM_CHANNELS_BOTH },
	{ IEM_FILTER_PEAKING, 22, 1.2, -4.0, IEM_CHANNELS_BOTH },
	{ IEM_FILTER_PEAKING, 48, 2.5, 3.2, IEM_CHANNELS_BOTH },
	{ IEM_FILTER_PEAKING, 180, 0.9, -2.1, IEM_CHANNELS_BOTH },
	{ IEM_FILTER_PEAKING, 650, 1.5, 1.4, IEM_CHANNELS_BOTH },
	{ IEM_FILTER_PEAKING, 1900, 2.0, -3.3, IEM_CHANNELS_BOTH },
	{ IEM_FILTER_PEAKING, 3200, 3.0, 2.6, IEM_CHANNELS_BOTH },
	{ IEM_FILTER_PEAKING, 5400, 4.0, -5.0, IEM_CHANNELS_BOTH },
	{ IEM_FILTER_PEAKING, 8100, 2.0, 3.0, IEM_CHANNELS_BOTH },
	{ IEM_FILTER_HIGHSHELF, 10000, 0.70, -2.0, IEM_CHANNELS_BOTH },
};

#endif
