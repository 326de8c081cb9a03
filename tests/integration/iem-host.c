/* SPDX-License-Identifier: MIT */
/*
 * iem-host: loads libpipewire-module-iemstage into this process's own
 * pw_context, the way the daemon hosts it, and runs until SIGTERM or
 * SIGINT. For the integration tests, and for running the module under a
 * sanitizer (a stock pipewire is not built with one).
 *
 *   iem-host [MODULE-ARGS]
 *
 * MODULE-ARGS is the module's args object in SPA-JSON, e.g.
 * '{ target.object = iem-test-sink params = { eq.1.type = peaking } }'.
 * The module connects to the server itself (PIPEWIRE_REMOTE, default
 * pipewire-0); PIPEWIRE_MODULE_DIR says where to find it. Exits 0 after a
 * signal; 1 with a message when the module refuses to load (its own
 * message, naming what it refused, comes first) or unloads itself (the
 * server went away, a stream failed).
 *
 * Built with -DIEM_ALLOC_COUNT (iem-alloc-host, with iem-alloc-count.c)
 * it also counts allocations on the context's data thread, where the
 * module's process callbacks run: SIGUSR1 starts counting, SIGUSR2 stops
 * and prints "iem-alloc: allocations=N frees=M" (and the first ones seen)
 * on stdout; SIGHUP makes the data thread allocate and free 64 bytes once
 * (through a loop invoke), to show that it is seen.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pipewire/impl.h>
#include <pipewire/pipewire.h>

#ifdef IEM_ALLOC_COUNT
#include "iem-alloc-count.h"
#endif

#define MODULE_NAME "libpipewire-module-iemstage"

struct host {
	struct pw_main_loop *loop;
	struct pw_context *context;
	struct pw_impl_module *module;
	struct spa_hook module_listener;
};

static void do_quit(void *data, int signal_number)
{
	struct host *host = data;
	pw_main_loop_quit(host->loop);
}

static void module_destroy(void *data)
{
	struct host *host = data;
	spa_hook_remove(&host->module_listener);
	host->module = NULL;
	pw_main_loop_quit(host->loop);
}

static const struct pw_impl_module_events module_events = {
	PW_VERSION_IMPL_MODULE_EVENTS,
	.destroy = module_destroy,
};

static int do_note_thread(struct spa_loop *loop, bool async, uint32_t seq,
		const void *data, size_t size, void *user_data)
{
	pthread_t *thread = user_data;
	*thread = pthread_self();
	return 0;
}

#ifdef IEM_ALLOC_COUNT
static void do_arm(void *data, int signal_number)
{
	struct host *host = data;
	pthread_t thread = pthread_self();

	pw_data_loop_invoke(pw_context_get_data_loop(host->context), do_note_thread, 0, NULL, 0,
			true, &thread);
	if (pthread_equal(thread, pthread_self())) {
		printf("iem-alloc: the data thread is not running\n");
		fflush(stdout);
		return;
	}
	iem_alloc_arm(thread);
	printf("iem-alloc: counting on the data thread\n");
	fflush(stdout);
}

static void do_report(void *data, int signal_number)
{
	iem_alloc_report(stdout);
}

static int do_allocate(struct spa_loop *loop, bool async, uint32_t seq,
		const void *data, size_t size, void *user_data)
{
	void *volatile p = malloc(64);
	free(p);
	return 0;
}

static void do_inject(void *data, int signal_number)
{
	struct host *host = data;
	pw_data_loop_invoke(pw_context_get_data_loop(host->context), do_allocate, 0, NULL, 0,
			true, NULL);
	printf("iem-alloc: the data thread allocated once\n");
	fflush(stdout);
}
#endif

/* Returns once the context's data thread runs its loop (2 s at most).
 * PipeWire 0.3.65 stops that thread with a loop invoke that sets its
 * running flag; until the thread has entered its loop, the invoke runs in
 * the caller's thread and wakes nothing. A thread that enters just then
 * sees the flag still set and sleeps in its poll for good, and
 * pw_context_destroy() waits for it. A context destroyed right after it
 * was made (a module refused at once) is the case: once in ~40 test runs,
 * iem-host hung there, SIGTERM (blocked) included. A blocking invoke runs
 * on the data thread once it is in its loop. */
static void wait_data_thread(struct pw_context *context)
{
	struct pw_data_loop *data_loop = pw_context_get_data_loop(context);

	for (int i = 0; i < 2000; i++) {
		pthread_t thread = pthread_self();
		pw_data_loop_invoke(data_loop, do_note_thread, 0, NULL, 0, true, &thread);
		if (!pthread_equal(thread, pthread_self()))
			return;
		usleep(1000);
	}
}

int main(int argc, char *argv[])
{
	struct host host = { 0 };
	struct pw_context *context = NULL;
	const char *args = argc > 1 ? argv[1] : NULL;
	int status = 1;

	if (argc > 2 || (argc == 2 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0))) {
		fprintf(stderr, "usage: %s [MODULE-ARGS]\n", argv[0]);
		return 2;
	}

	pw_init(&argc, &argv);

	host.loop = pw_main_loop_new(NULL);
	if (host.loop == NULL) {
		fprintf(stderr, "iem-host: cannot make a main loop: %s\n", strerror(errno));
		goto done;
	}
	/* before the context starts its data thread: the signals are blocked
	 * in the threads made after this, and read from a signalfd here */
	pw_loop_add_signal(pw_main_loop_get_loop(host.loop), SIGINT, do_quit, &host);
	pw_loop_add_signal(pw_main_loop_get_loop(host.loop), SIGTERM, do_quit, &host);
#ifdef IEM_ALLOC_COUNT
	pw_loop_add_signal(pw_main_loop_get_loop(host.loop), SIGUSR1, do_arm, &host);
	pw_loop_add_signal(pw_main_loop_get_loop(host.loop), SIGUSR2, do_report, &host);
	pw_loop_add_signal(pw_main_loop_get_loop(host.loop), SIGHUP, do_inject, &host);
#endif

	/* client-rt.conf: module-rt makes the data thread real-time, as for
	 * pw-play; with client.conf it is not, and misses cycles at small
	 * quanta on a loaded machine */
	context = pw_context_new(pw_main_loop_get_loop(host.loop),
			pw_properties_new(PW_KEY_CONFIG_NAME, "client-rt.conf", NULL), 0);
	if (context == NULL) {
		fprintf(stderr, "iem-host: cannot make a context: %s\n", strerror(errno));
		goto done;
	}
	host.context = context;
	/* client.conf sets log.level = 0; the module's warnings and errors
	 * (a refused parameter, naming it) are what the tests read. */
	if (getenv("PIPEWIRE_DEBUG") == NULL && pw_log_level < SPA_LOG_LEVEL_WARN)
		pw_log_set_level(SPA_LOG_LEVEL_WARN);

	host.module = pw_context_load_module(context, MODULE_NAME, args, NULL);
	if (host.module == NULL) {
		fprintf(stderr, "iem-host: cannot load %s: %s\n", MODULE_NAME, strerror(errno));
		goto done;
	}
	pw_impl_module_add_listener(host.module, &host.module_listener, &module_events, &host);

	pw_main_loop_run(host.loop);
	if (host.module == NULL) {
		fprintf(stderr, "iem-host: %s unloaded itself\n", MODULE_NAME);
		goto done;
	}
	spa_hook_remove(&host.module_listener);
	status = 0;
done:
	/* destroys the module with the context */
	if (context != NULL) {
		wait_data_thread(context);
		pw_context_destroy(context);
	}
	if (host.loop != NULL)
		pw_main_loop_destroy(host.loop);
	pw_deinit();
	return status;
}
