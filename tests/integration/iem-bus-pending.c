/* SPDX-License-Identifier: MIT */
/*
 * iem-bus-pending: N calls of org.iemstage1.Manager.SetBypass(DEVICE, false)
 * sent at once on one system bus connection (one sender), without waiting
 * for each answer; prints "sent" when they are out, then, once every call
 * is answered, one line per outcome, "NAME COUNT" sorted by name ("ok" for
 * a method return). For the system-mode test: how many calls of one
 * sender iemstaged holds while polkit thinks.
 *
 *   iem-bus-pending DEVICE N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

#define MAX_CALLS	64

struct outcome {
	char name[128];
	unsigned count;
};

static struct outcome outcomes[MAX_CALLS];
static unsigned n_outcomes, n_answered;

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	const sd_bus_error *e = sd_bus_message_get_error(m);
	const char *name = e ? e->name : "ok";
	unsigned i;
	(void)userdata;
	(void)ret_error;

	for (i = 0; i < n_outcomes; i++)
		if (strcmp(outcomes[i].name, name) == 0)
			break;
	if (i == n_outcomes)
		snprintf(outcomes[n_outcomes++].name, sizeof(outcomes[0].name), "%s", name);
	outcomes[i].count++;
	n_answered++;
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(((const struct outcome *)a)->name, ((const struct outcome *)b)->name);
}

int main(int argc, char *argv[])
{
	sd_bus *bus = NULL;
	unsigned n;
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: %s DEVICE N\n", argv[0]);
		return 2;
	}
	n = (unsigned)strtoul(argv[2], NULL, 10);
	if (n == 0 || n > MAX_CALLS) {
		fprintf(stderr, "iem-bus-pending: N is 1 … %d\n", MAX_CALLS);
		return 2;
	}
	r = sd_bus_open_system(&bus);
	if (r < 0) {
		fprintf(stderr, "iem-bus-pending: no system bus: %s\n", strerror(-r));
		return 1;
	}
	for (unsigned i = 0; i < n; i++) {
		r = sd_bus_call_method_async(bus, NULL, "org.iemstage1", "/org/iemstage1",
				"org.iemstage1.Manager", "SetBypass", on_reply, NULL, "sb", argv[1], 0);
		if (r < 0) {
			fprintf(stderr, "iem-bus-pending: sending: %s\n", strerror(-r));
			return 1;
		}
	}
	r = sd_bus_flush(bus);
	if (r < 0) {
		fprintf(stderr, "iem-bus-pending: sending: %s\n", strerror(-r));
		return 1;
	}
	printf("sent\n");
	fflush(stdout);
	while (n_answered < n) {
		r = sd_bus_process(bus, NULL);
		if (r < 0) {
			fprintf(stderr, "iem-bus-pending: %s\n", strerror(-r));
			return 1;
		}
		if (r == 0 && (r = sd_bus_wait(bus, UINT64_MAX)) < 0) {
			fprintf(stderr, "iem-bus-pending: %s\n", strerror(-r));
			return 1;
		}
	}
	qsort(outcomes, n_outcomes, sizeof(outcomes[0]), cmp);
	for (unsigned i = 0; i < n_outcomes; i++)
		printf("%s %u\n", outcomes[i].name, outcomes[i].count);
	sd_bus_flush_close_unref(bus);
	return 0;
}
