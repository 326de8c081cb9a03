/* SPDX-License-Identifier: MIT */
/* iemstaged's shared state: the bus side (iemstaged.c) and the PipeWire
 * side (devices.c). */
#ifndef IEMSTAGED_H
#define IEMSTAGED_H

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <pipewire/pipewire.h>
#include <pipewire/extensions/metadata.h>

#include "iem-dsp.h"
#include "iem-profile.h"

#define BUS_NAME	"org.iemstage1"
#define BUS_PATH	"/org/iemstage1"
#define BUS_MANAGER	"org.iemstage1.Manager"
#define BUS_DEVICE	"org.iemstage1.Device"
#define BUS_DEVICE_PREFIX "/org/iemstage1/device"
#define MODULE_NAME	"libpipewire-module-iemstage"

#define DEVICE_ID_MAX	128

/* iemstaged --system: the polkit actions (config/polkit/org.iemstage1.policy)
 * and the answer to a caller without them. */
#define IEM_ACTION_CONFIGURE		"org.iemstage1.configure"
#define IEM_ACTION_MANAGE_PROFILES	"org.iemstage1.manage-profiles"
#define IEM_ERROR_NOT_AUTHORIZED	"org.iemstage1.Error.NotAuthorized"

struct daemon;

/* One PipeWire sink the daemon watches (not its own virtual sinks). */
struct device {
	struct spa_list link;
	struct daemon *daemon;
	uint32_t node_id;		/* the sink node's global id */
	uint32_t device_global;		/* its device's global id (device.id) or SPA_ID_INVALID */
	char id[DEVICE_ID_MAX];		/* stable: see device_make_id() */
	char path[DEVICE_ID_MAX + 64];	/* its D-Bus object */
	struct pw_properties *props;	/* the node's properties */
	struct pw_proxy *proxy;
	struct spa_hook proxy_listener, node_listener;
	bool have_info, announced;

	char profile[IEM_PROFILE_ID_MAX + 1];	/* applied profile, "" = none */
	bool pinned;				/* chosen by ApplyProfile: kept until the device goes */
	struct iem_params params;		/* what the module instance has */
	struct iem_params applied;		/* what the profile said when last applied */
	struct pw_impl_module *module;
	struct spa_hook module_listener;
	char sink_name[256];			/* the virtual sink's node.name */
	uint64_t appeared_usec;			/* CLOCK_MONOTONIC, for the apply latency */
};

/* A PipeWire device object: its properties serve matching (USB ids,
 * Bluetooth address live there, not on the node). */
struct pw_route {
	int32_t device;			/* the card profile's device index */
	char name[64];			/* e.g. analog-output-headphones */
	uint32_t available;		/* SPA_PARAM_AVAILABILITY_* */
};

#define PW_DEV_ROUTES	8

struct pw_dev {
	struct spa_list link;
	uint32_t id;
	struct daemon *daemon;
	struct pw_route routes[PW_DEV_ROUTES];	/* the active output routes */
	uint32_t n_routes;
	uint32_t route_flags;			/* the Route param's flags when last read */
	bool route_seen;
	struct pw_properties *props;
	struct pw_proxy *proxy;
	struct spa_hook proxy_listener, device_listener;
	bool have_info;
};

struct daemon {
	sd_event *event;
	sd_bus *bus;
	bool system;				/* --system: system bus, polkit */
	char **profile_dirs;			/* the search path; [0] is where saves go */

	struct spa_list auth_queries;		/* polkit.c: calls waiting for polkit */
	uint32_t n_auth_pending;
	sd_bus_slot *auth_slot;

	struct iem_profile_store *store;
	int inotify_fd;
	sd_event_source *inotify_source, *reload_timer;

	struct pw_loop *loop;
	sd_event_source *pw_source, *reconnect_timer;
	struct pw_context *context;
	struct pw_core *core;
	struct spa_hook core_listener;
	struct pw_registry *registry;
	struct spa_hook registry_listener;
	struct pw_metadata *metadata;		/* the "default" metadata */
	struct pw_proxy *metadata_proxy;
	struct spa_hook metadata_listener, metadata_proxy_listener;
	uint32_t metadata_id;
	char configured_sink[512];		/* default.configured.audio.sink as we found it */
	bool have_configured_sink;		/* it was set (else we remove ours) */
	char our_default[256];			/* the sink we made the default, "" = none */
	unsigned reconnect_attempt;

	struct spa_list devices;
	struct spa_list pw_devs;
	bool enabled;
};

uint64_t now_usec(void);
/* One line on stderr (the journal, under systemd), "iemstaged: " first. */
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* polkit.c: in system mode, the check in front of every change */
int auth_init(struct daemon *d);
void auth_clear(struct daemon *d);

/* devices.c */
int pw_connect(struct daemon *d);
void pw_disconnect(struct daemon *d);
void pw_schedule_reconnect(struct daemon *d);
struct device *device_find(struct daemon *d, const char *id);
void device_evaluate(struct device *dev, bool force);
int device_apply(struct device *dev, const struct iem_profile *p, char *err, size_t size);
void device_unapply(struct device *dev);
const char *device_prop(struct device *dev, const char *key);
int device_set_params(struct device *dev, const struct iem_params *next, char *err, size_t size);

/* iemstaged.c: signals */
void bus_emit_device_added(struct daemon *d, struct device *dev);
void bus_emit_device_removed(struct daemon *d, struct device *dev);
void bus_emit_profile_applied(struct daemon *d, struct device *dev);
void bus_emit_active_changed(struct daemon *d);

#endif
