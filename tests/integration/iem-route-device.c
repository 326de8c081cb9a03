/* SPDX-License-Identifier: MIT */
/*
 * iem-route-device: a built-in sound card as PipeWire shows one, for the
 * daemon's jack test. It exports a Device (device.api = alsa, device.bus =
 * pci) whose active output Route is the headphones port or the speaker,
 * and a sink node of that device (device.id, card.profile.device = 0).
 * Plugging IEMs into a jack changes the active Route, not the node: that
 * is what this program lets a test do, by lines on stdin:
 *
 *   headphones   the active route is analog-output-headphones, available
 *   speaker      the active route is analog-output-speaker
 *   unplugged    the headphones route stays active but unavailable
 *
 * It prints "ready DEVICE-ID" once both objects exist and "route NAME" after
 * each change, and runs until stdin closes.
 *
 *   iem-route-device NODE-NAME
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spa/monitor/device.h>
#include <spa/param/param.h>
#include <spa/param/route.h>
#include <spa/pod/builder.h>
#include <spa/utils/hook.h>
#include <spa/utils/result.h>

#include <pipewire/pipewire.h>

struct card {
	struct pw_main_loop *loop;
	struct pw_context *context;
	struct pw_core *core;
	struct spa_device device;
	struct spa_hook_list hooks;
	struct spa_param_info params[1];
	struct pw_proxy *device_proxy, *node_proxy;
	struct spa_hook device_proxy_listener;
	const char *node_name;
	const char *route;
	uint32_t available;
	uint32_t route_index;
};

static void emit_info(struct card *c, bool full)
{
	struct spa_dict_item items[] = {
		{ "device.api", "alsa" },
		{ "device.bus", "pci" },
		{ "device.description", "Built-in Audio" },
		{ "device.name", "alsa_card.pci-0000_00_1f.3" },
		{ "media.class", "Audio/Device" },
	};
	struct spa_dict props = SPA_DICT_INIT_ARRAY(items);
	struct spa_device_info info = SPA_DEVICE_INFO_INIT();

	info.change_mask = SPA_DEVICE_CHANGE_MASK_PARAMS | (full ? SPA_DEVICE_CHANGE_MASK_PROPS : 0);
	info.props = full ? &props : NULL;
	info.params = c->params;
	info.n_params = 1;
	spa_hook_list_call(&c->hooks, struct spa_device_events, info, 0, &info);
}

static int device_add_listener(void *object, struct spa_hook *listener,
		const struct spa_device_events *events, void *data)
{
	struct card *c = object;
	struct spa_hook_list save;

	spa_hook_list_isolate(&c->hooks, &save, listener, events, data);
	emit_info(c, true);
	spa_hook_list_join(&c->hooks, &save);
	return 0;
}

static int device_sync(void *object, int seq)
{
	struct card *c = object;
	spa_hook_list_call(&c->hooks, struct spa_device_events, result, 0, seq, 0, 0, NULL);
	return 0;
}

static int device_enum_params(void *object, int seq, uint32_t id, uint32_t start, uint32_t num,
		const struct spa_pod *filter)
{
	struct card *c = object;
	uint8_t buffer[1024];
	struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buffer, sizeof(buffer));
	struct spa_result_device_params result;
	(void)num;
	(void)filter;

	if (id != SPA_PARAM_Route || start > 0)
		return 0;
	result.id = id;
	result.index = 0;
	result.next = 1;
	result.param = spa_pod_builder_add_object(&b,
			SPA_TYPE_OBJECT_ParamRoute, SPA_PARAM_Route,
			SPA_PARAM_ROUTE_index, SPA_POD_Int(c->route_index),
			SPA_PARAM_ROUTE_direction, SPA_POD_Id(SPA_DIRECTION_OUTPUT),
			SPA_PARAM_ROUTE_device, SPA_POD_Int(0),
			SPA_PARAM_ROUTE_name, SPA_POD_String(c->route),
			SPA_PARAM_ROUTE_description, SPA_POD_String(c->route),
			SPA_PARAM_ROUTE_priority, SPA_POD_Int(100),
			SPA_PARAM_ROUTE_available, SPA_POD_Id(c->available));
	spa_hook_list_call(&c->hooks, struct spa_device_events, result, 0, seq, 0,
			SPA_RESULT_TYPE_DEVICE_PARAMS, &result);
	return 0;
}

static int device_set_param(void *object, uint32_t id, uint32_t flags, const struct spa_pod *param)
{
	(void)object;
	(void)id;
	(void)flags;
	(void)param;
	return -ENOTSUP;
}

static const struct spa_device_methods device_methods = {
	SPA_VERSION_DEVICE_METHODS,
	.add_listener = device_add_listener,
	.sync = device_sync,
	.enum_params = device_enum_params,
	.set_param = device_set_param,
};

static void set_route(struct card *c, const char *name, uint32_t index, uint32_t available)
{
	c->route = name;
	c->route_index = index;
	c->available = available;
	/* a changed param: flipping the serial bit is what crosses the wire
	 * (as ALSA's ACP devices do); subscribers then get it again */
	c->params[0].flags ^= SPA_PARAM_INFO_SERIAL;
	c->params[0].user++;
	emit_info(c, false);
	printf("route %s %s\n", name, available == SPA_PARAM_AVAILABILITY_no ? "unavailable" : "available");
	fflush(stdout);
}

static void on_stdin(void *data, int fd, uint32_t mask)
{
	struct card *c = data;
	char line[64];
	ssize_t n = read(fd, line, sizeof(line) - 1);

	if (n <= 0 || (mask & (SPA_IO_HUP | SPA_IO_ERR))) {
		pw_main_loop_quit(c->loop);
		return;
	}
	line[n] = '\0';
	if (strncmp(line, "headphones", 10) == 0)
		set_route(c, "analog-output-headphones", 1, SPA_PARAM_AVAILABILITY_yes);
	else if (strncmp(line, "speaker", 7) == 0)
		set_route(c, "analog-output-speaker", 0, SPA_PARAM_AVAILABILITY_unknown);
	else if (strncmp(line, "unplugged", 9) == 0)
		set_route(c, "analog-output-headphones", 1, SPA_PARAM_AVAILABILITY_no);
	else if (strncmp(line, "quit", 4) == 0)
		pw_main_loop_quit(c->loop);
}

static void device_bound(void *data, uint32_t global_id)
{
	struct card *c = data;
	char id[16];

	if (c->node_proxy != NULL)
		return;
	snprintf(id, sizeof(id), "%u", global_id);
	struct spa_dict_item items[] = {
		{ "factory.name", "support.null-audio-sink" },
		{ "node.name", c->node_name },
		{ "node.description", "Built-in Audio Analog Stereo" },
		{ "media.class", "Audio/Sink" },
		{ "audio.position", "[ FL FR ]" },
		{ "device.id", id },
		{ "card.profile.device", "0" },
		{ "device.api", "alsa" },
	};
	c->node_proxy = pw_core_create_object(c->core, "adapter", PW_TYPE_INTERFACE_Node,
			PW_VERSION_NODE, &SPA_DICT_INIT_ARRAY(items), 0);
	printf("ready %u\n", global_id);
	fflush(stdout);
}

static const struct pw_proxy_events device_proxy_events = {
	PW_VERSION_PROXY_EVENTS,
	.bound = device_bound,
};

int main(int argc, char *argv[])
{
	struct card c = { .route = "analog-output-speaker", .available = SPA_PARAM_AVAILABILITY_unknown };
	struct spa_dict_item items[] = {
		{ "device.api", "alsa" },
		{ "device.bus", "pci" },
		{ "device.description", "Built-in Audio" },
		{ "media.class", "Audio/Device" },
	};
	int status = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: %s NODE-NAME\n", argv[0]);
		return 2;
	}
	c.node_name = argv[1];
	pw_init(&argc, &argv);
	spa_hook_list_init(&c.hooks);
	c.device.iface = SPA_INTERFACE_INIT(SPA_TYPE_INTERFACE_Device, SPA_VERSION_DEVICE,
			&device_methods, &c);
	c.params[0] = SPA_PARAM_INFO(SPA_PARAM_Route, SPA_PARAM_INFO_READ);

	c.loop = pw_main_loop_new(NULL);
	c.context = c.loop ? pw_context_new(pw_main_loop_get_loop(c.loop), NULL, 0) : NULL;
	c.core = c.context ? pw_context_connect(c.context, NULL, 0) : NULL;
	if (c.core == NULL) {
		fprintf(stderr, "iem-route-device: cannot connect to PipeWire: %s\n", strerror(errno));
		goto done;
	}
	c.device_proxy = pw_core_export(c.core, SPA_TYPE_INTERFACE_Device,
			&SPA_DICT_INIT_ARRAY(items), &c.device, 0);
	if (c.device_proxy == NULL) {
		fprintf(stderr, "iem-route-device: cannot export the device: %s\n", strerror(errno));
		goto done;
	}
	pw_proxy_add_listener(c.device_proxy, &c.device_proxy_listener, &device_proxy_events, &c);
	pw_loop_add_io(pw_main_loop_get_loop(c.loop), STDIN_FILENO,
			SPA_IO_IN | SPA_IO_HUP | SPA_IO_ERR, false, on_stdin, &c);
	pw_main_loop_run(c.loop);
	status = 0;
done:
	if (c.context)
		pw_context_destroy(c.context);
	if (c.loop)
		pw_main_loop_destroy(c.loop);
	pw_deinit();
	return status;
}
