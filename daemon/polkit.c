/* SPDX-License-Identifier: MIT */
/*
 * iemstaged --system: polkit decides who may change things.
 *
 * An object callback on /org/iemstage1 runs before sd-bus's vtables. For a
 * call that changes something (the mutating Manager methods and any
 * Properties.Set, i.e. Enabled) it asks polkit, asynchronously
 * (org.freedesktop.PolicyKit1.Authority.CheckAuthorization, the subject
 * being the caller's unique bus name, never its pid), and holds the call.
 * When polkit answers, the very same message is queued for dispatch again
 * (sd_bus_enqueue_for_read); the callback finds the answer attached to
 * that message, forgets it, and either lets the call through to its
 * handler or answers org.iemstage1.Error.NotAuthorized. An answer belongs
 * to one message and is used once: nothing is cached across calls (polkit
 * keeps its own auth_admin_keep grants). Without polkit every change is
 * refused (fail closed). Read-only members never wait for polkit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iemstaged.h"

#define POLKIT_NAME	"org.freedesktop.PolicyKit1"
#define POLKIT_PATH	"/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_IFACE	"org.freedesktop.PolicyKit1.Authority"
#define POLKIT_ALLOW_USER_INTERACTION	1u
/* a person may be typing a password: polkit's agent waits that long */
#define AUTH_INTERACTIVE_TIMEOUT_USEC	(300ull * 1000000ull)
/* calls held at once, from all callers and from one (a caller whose
 * agent keeps polkit waiting must not crowd the others out) */
#define AUTH_PENDING_MAX	128
#define AUTH_PENDING_PER_SENDER	4

struct auth_query {
	struct spa_list link;
	struct daemon *daemon;
	sd_bus_message *request;	/* the held call (a reference) */
	sd_bus_slot *slot;		/* CheckAuthorization in flight */
	const char *action;
	int result;			/* 0 pending, 1 yes, -EACCES no, else polkit failed */
	bool challenge;			/* "no", but authentication would do */
	char error[256];		/* polkit's error, when it failed */
};

/* The action a call needs, NULL for those anyone may make. */
static const char *action_for(sd_bus_message *m)
{
	static const struct {
		const char *member, *action;
	} manager[] = {
		{ "ApplyProfile", IEM_ACTION_CONFIGURE },
		{ "SetParameter", IEM_ACTION_CONFIGURE },
		{ "SetBypass", IEM_ACTION_CONFIGURE },
		{ "Reload", IEM_ACTION_CONFIGURE },
		{ "SaveProfile", IEM_ACTION_MANAGE_PROFILES },
		{ "ImportEq", IEM_ACTION_MANAGE_PROFILES },
		{ "FitEq", IEM_ACTION_MANAGE_PROFILES },
	};
	const char *iface = sd_bus_message_get_interface(m);
	const char *member = sd_bus_message_get_member(m);

	if (sd_bus_message_is_method_call(m, NULL, NULL) <= 0 || member == NULL)
		return NULL;
	/* Enabled is the only writable property; any Set is a change */
	if (iface != NULL && strcmp(iface, "org.freedesktop.DBus.Properties") == 0)
		return strcmp(member, "Set") == 0 ? IEM_ACTION_CONFIGURE : NULL;
	/* no interface: the member name alone decides (sd-bus would refuse
	 * such a call anyway, but never unchecked) */
	if (iface != NULL && strcmp(iface, BUS_MANAGER) != 0)
		return NULL;
	for (size_t i = 0; i < SPA_N_ELEMENTS(manager); i++)
		if (strcmp(member, manager[i].member) == 0)
			return manager[i].action;
	return NULL;
}

static void query_free(struct auth_query *q)
{
	spa_list_remove(&q->link);
	q->daemon->n_auth_pending--;
	sd_bus_slot_unref(q->slot);
	sd_bus_message_unref(q->request);
	free(q);
}

static int on_check_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct auth_query *q = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	int authorized = 0, challenge = 0, r;
	(void)ret_error;

	q->slot = sd_bus_slot_unref(q->slot);
	if (e != NULL) {
		snprintf(q->error, sizeof(q->error), "%s: %s", e->name,
				e->message ? e->message : "no message");
		q->result = -EIO;
	} else if ((r = sd_bus_message_enter_container(reply, 'r', "bba{ss}")) < 0 ||
			(r = sd_bus_message_read(reply, "bb", &authorized, &challenge)) < 0) {
		snprintf(q->error, sizeof(q->error), "polkit's answer: %s", strerror(-r));
		q->result = -EIO;
	} else {
		q->result = authorized ? 1 : -EACCES;
		q->challenge = challenge;
	}
	/* The held call goes through dispatch again: auth_filter() finds this
	 * answer and consumes it. */
	r = sd_bus_enqueue_for_read(q->daemon->bus, q->request);
	if (r < 0) {
		log_msg("cannot dispatch a call again: %s", strerror(-r));
		sd_bus_reply_method_errorf(q->request, SD_BUS_ERROR_FAILED,
				"authorization: %s", strerror(-r));
		query_free(q);
	}
	return 0;
}

static int start_query(struct daemon *d, sd_bus_message *m, const char *action, sd_bus_error *error)
{
	sd_bus_message *call = NULL;
	struct auth_query *q;
	const char *sender = sd_bus_message_get_sender(m);
	bool interactive = sd_bus_message_get_allow_interactive_authorization(m) > 0;
	int r;

	if (sender == NULL || sender[0] != ':')
		return sd_bus_error_setf(error, IEM_ERROR_NOT_AUTHORIZED,
				"%s: the caller has no unique bus name", action);
	if (d->n_auth_pending >= AUTH_PENDING_MAX)
		return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
				"%u authorizations pending: try again", d->n_auth_pending);
	{
		uint32_t mine = 0;
		spa_list_for_each(q, &d->auth_queries, link)
			mine += strcmp(sd_bus_message_get_sender(q->request), sender) == 0;
		if (mine >= AUTH_PENDING_PER_SENDER)
			return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
					"%u of your calls are waiting for polkit already", mine);
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return -ENOMEM;
	q->daemon = d;
	q->action = action;
	q->request = sd_bus_message_ref(m);

	r = sd_bus_message_new_method_call(d->bus, &call, POLKIT_NAME, POLKIT_PATH, POLKIT_IFACE,
			"CheckAuthorization");
	if (r >= 0)
		r = sd_bus_message_append(call, "(sa{sv})sa{ss}us",
				"system-bus-name", 1, "name", "s", sender,
				action, 0,
				interactive ? POLKIT_ALLOW_USER_INTERACTION : 0u, "");
	if (r >= 0)
		r = sd_bus_call_async(d->bus, &q->slot, call, on_check_reply, q,
				interactive ? AUTH_INTERACTIVE_TIMEOUT_USEC : 0);
	sd_bus_message_unref(call);
	if (r < 0) {
		sd_bus_message_unref(q->request);
		free(q);
		return sd_bus_error_setf(error, IEM_ERROR_NOT_AUTHORIZED,
				"%s: cannot ask polkit: %s", action, strerror(-r));
	}
	spa_list_append(&d->auth_queries, &q->link);
	d->n_auth_pending++;
	return 1;	/* held: the answer comes later */
}

/* 0: go on to the vtables; > 0: held or answered here; < 0 with error set:
 * answered with that error. */
static int auth_filter(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct daemon *d = userdata;
	struct auth_query *q;
	const char *action = action_for(m);
	char why[sizeof(q->error)];
	bool challenge;
	int result;

	if (action == NULL)
		return 0;
	spa_list_for_each(q, &d->auth_queries, link) {
		if (q->request != m)
			continue;
		if (q->result == 0)
			return 1;	/* still waiting for polkit */
		result = q->result;
		challenge = q->challenge;
		snprintf(why, sizeof(why), "%s", q->error);
		query_free(q);
		if (result > 0) {
			sd_bus_message_rewind(m, true);
			return 0;
		}
		if (result == -EACCES)
			return sd_bus_error_setf(error, IEM_ERROR_NOT_AUTHORIZED,
					"not authorized for %s%s", action,
					challenge ? " (polkit would ask for a password: allow interactive"
					" authorization, with an authentication agent running)" : "");
		log_msg("polkit failed for %s: %s", action, why);
		return sd_bus_error_setf(error, IEM_ERROR_NOT_AUTHORIZED,
				"not authorized for %s: polkit did not answer (%s)", action, why);
	}
	return start_query(d, m, action, error);
}

int auth_init(struct daemon *d)
{
	spa_list_init(&d->auth_queries);
	if (!d->system)
		return 0;
	return sd_bus_add_object(d->bus, &d->auth_slot, BUS_PATH, auth_filter, d);
}

void auth_clear(struct daemon *d)
{
	struct auth_query *q, *t;

	if (d->auth_queries.next == NULL)
		return;
	spa_list_for_each_safe(q, t, &d->auth_queries, link)
		query_free(q);
	d->auth_slot = sd_bus_slot_unref(d->auth_slot);
}
