/* SPDX-License-Identifier: MIT */
/*
 * iem-bus-burst: N calls of org.iemstage1.Manager.SetBypass(DEVICE, false)
 * back to back on one bus connection (one sender), as a runaway script
 * would make them; prints "calls N ok K limited L other O" and exits 0
 * when every call was answered. For the daemon's rate-limit test.
 *
 *   iem-bus-burst DEVICE N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

int main(int argc, char *argv[])
{
	sd_bus *bus = NULL;
	unsigned n, ok = 0, limited = 0, other = 0;
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: %s DEVICE N\n", argv[0]);
		return 2;
	}
	n = (unsigned)strtoul(argv[2], NULL, 10);
	r = sd_bus_open_user(&bus);
	if (r < 0) {
		fprintf(stderr, "iem-bus-burst: no session bus: %s\n", strerror(-r));
		return 1;
	}
	for (unsigned i = 0; i < n; i++) {
		sd_bus_error error = SD_BUS_ERROR_NULL;
		r = sd_bus_call_method(bus, "org.iemstage1", "/org/iemstage1", "org.iemstage1.Manager",
				"SetBypass", &error, NULL, "sb", argv[1], 0);
		if (r >= 0)
			ok++;
		else if (sd_bus_error_has_name(&error, "org.iemstage1.Error.RateLimited"))
			limited++;
		else
			other++;
		sd_bus_error_free(&error);
	}
	printf("calls %u ok %u limited %u other %u\n", n, ok, limited, other);
	sd_bus_flush_close_unref(bus);
	return other == 0 ? 0 : 1;
}
