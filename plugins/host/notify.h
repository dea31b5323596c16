/* notify.h: the plugin host's event subscribers and notification providers as api/ sees them (notify.c). The
 * notification bridge fills core's sq_notification_plugins; the dispatcher (api/dispatcher.c) publishes the
 * subscriptions and hands plugin deliveries to sq_plugin_deliver_event. */
#ifndef SQ_PLUGIN_NOTIFY_H
#define SQ_PLUGIN_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/arena.h"
#include "core/ctx.h"
#include "core/events.h"

/** The generation of the current plugin registry: when it changes, the subscriptions may have. */
uint64_t sq_plugin_registry_generation(void);

/** The subscriptions and notification providers of the current registry as a JSON array [{plugin, version, enabled,
 * event_types?, notification_channels?}] (every plugin whose manifest declares "events" or provides notification:email
 * or notification:sms; migration 0041), in the arena; *generation gets the registry generation it describes. */
char *sq_plugin_subscriptions_json(sq_arena_t *a, uint64_t *generation);

/** How a delivery to a plugin ended. */
typedef void (*sq_plugin_event_cb)(sq_delivery_outcome_t outcome, const char *error, void *data);

/** Delivers an event (body: the webhook body of the event, {id, type, created_at, data, ...}) to the plugin's
 * on_event(conf, event) under the background budgets, with cx for its I/O. Any answer is success; an error, a
 * budget, an open breaker or a plugin that is not loaded here asks for a retry; a plugin disabled by staff cancels
 * the delivery. */
void sq_plugin_deliver_event(sq_ctx_t *cx, const char *plugin, const char *body, sq_plugin_event_cb cb, void *data);

/** Whether name is a loaded plugin (-1: no), an enabled event subscriber (1) or neither (0: disabled, unconfigured, or
 * its manifest lists no events). */
int sq_plugin_subscriber_state(const char *name);

/** Sets core's notification lookup (sq_plugins_init calls it). */
void sq_notification_plugins_install(void);

#endif
