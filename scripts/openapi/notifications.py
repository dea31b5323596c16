# notifications.py: the contract of order notifications (core/notify*.c, api/handlers/notifications.c, migration
# 0029_notifications.sql) and of plugin event subscribers' deliveries; exec'd by generate.py after events.py, with its
# helpers and schemas in scope.

NTF_KINDS = ["order_confirmation", "order_shipped", "order_delivered", "refund_issued", "password_reset"]
NTF_STATES = ["pending", "sent", "failed", "skipped"]

# deliveries now also go to plugin subscribers and notification kinds (one dispatcher, one log)
schemas["EventDelivery"]["properties"]["target_kind"] = {"type": "string", "enum": ["webhook", "plugin", "notification"],
    "description": "What receives it: a webhook endpoint, a plugin subscriber (its on_event) or an order notification kind."}
schemas["PluginEventDelivery"] = obj({**schemas["EventDelivery"]["properties"], "plugin": S("The subscribed plugin.")},
    desc="One event's delivery to a plugin's on_event, with its attempt log (error: plugin-failed, plugin-timeout or plugin-degraded).")
schemas["PluginEventDeliveryList"] = list_of("PluginEventDelivery", "deliveries")

schemas["Notification"] = obj({"id": ID("ntf"), "object": {"const": "notification", "description": "Always notification."},
    "kind": {"type": "string", "enum": NTF_KINDS, "description": "The notification kind."},
    "event_id": ID("evt"), "order_id": IDN("order", "The order (null for password_reset, or once the order is deleted)."),
    "channel": {"type": "string", "enum": ["email", "sms"], "description": "How it is sent (email for order notifications)."},
    "recipient": SN("The order's email when the event was first delivered."), "subject": SN("The rendered subject (once rendered)."),
    "state": {"type": "string", "enum": NTF_STATES, "description": "pending (not yet sent: waiting for a retry), sent (the provider accepted it), failed (refused for good, or every attempt failed), skipped (the kind was switched off, the order has no email, or no notification provider was enabled)."},
    "provider": SN("The plugin that sent it (notify-email)."), "provider_message_id": SN("The provider's id of the message (Postmark MessageID)."),
    "attempts": {"type": "integer", "minimum": 0, "description": "Send attempts."}, "last_error": SN("Why it failed, was skipped, or the last attempt's error."),
    **ts_pair, "sent_at": TSN("When the provider accepted it.")},
    desc="One order notification: sent at most once per (event, kind), however often the event is delivered.")
schemas["NotificationList"] = list_of("Notification", "notifications")
_tpl_in = lambda d, mx: {"type": ["string", "null"], "minLength": 1, "maxLength": mx, "description": d}
_ph = " {{placeholder}} (spaces allowed inside the braces) takes a value of the order; the kind's placeholders lists the names it knows (422 unknown_placeholder at the field for others, invalid_format for a {{ without }}). null restores the built-in default."
schemas["NotificationTemplateUpdate"] = req({"enabled": B("Send this kind (default true). Off: its events create no deliveries; deliveries already queued are logged as skipped."),
    "subject": _tpl_in("Subject (one line; values are inserted as they are, line breaks become spaces)." + _ph, 500),
    "text": _tpl_in("Plain-text body (values inserted as they are)." + _ph, 20000),
    "html": _tpl_in("HTML body: values are HTML-escaped (& < > \" ') so an order's data can never inject markup; tracking links are http(s) only." + _ph, 100000)},
    [], "Changes to a notification kind: on/off and the store's templates.")
schemas["NotificationTemplate"] = obj({"object": {"const": "notification_template", "description": "Always notification_template."},
    "kind": {"type": "string", "enum": NTF_KINDS, "description": "The kind."}, "event_type": S("The event that triggers it (x-events)."),
    "description": S("When it is sent."), "enabled": B("Whether it is sent."),
    "subject": S("The effective subject template (the store's, else the built-in default)."), "text": S("The effective plain-text template."), "html": S("The effective HTML template."),
    "customized": obj({"subject": B("The store overrides the subject."), "text": B("The store overrides the text."), "html": B("The store overrides the HTML.")}, desc="Which templates the store changed."),
    "placeholders": {"type": "array", "items": {"type": "string"}, "description": "The {{names}} this kind's templates may use."},
    "updated_at": TS("Last change of the settings.")}, desc="A notification kind's settings and templates.")
schemas["NotificationTemplateList"] = obj({"object": {"const": "list", "description": "Always list."},
    "data": {"type": "array", "items": {"$ref": "#/components/schemas/NotificationTemplate"}, "description": "Every kind, in a fixed order."},
    "has_more": B("Always false."), "next_cursor": {"type": "null", "description": "Always null."}}, desc="Every notification kind.")

TAGS.append(("Admin Notifications", "Customer notifications (order confirmation, shipped, delivered, refund issued, password reset): on/off, templates, and the log of what was sent."))
TN = "Admin Notifications"
P_KIND = {"name": "kind", "in": "path", "required": True, "description": "The notification kind (404 for others).", "schema": {"type": "string", "maxLength": 64}}
op("get", "/v1/admin/notifications", "listNotifications", TN, "The notification log", "admin", [ok("200", "NotificationList", headers=H_ETAG), NOTMOD],
   params=[P_LIMIT, P_CURSOR, qp("order_id", "Only this order's notifications.", {"type": "string", "maxLength": 64}),
           qp("kind", "Only this kind.", {"type": "string", "enum": NTF_KINDS}), qp("state", "Only this state.", {"type": "string", "enum": NTF_STATES}), P_INM],
   perm="orders:read", desc="Newest first. One row per (event, kind): a notification is sent once however often its event is delivered.")
op("get", "/v1/admin/notification-templates", "listNotificationTemplates", TN, "Every notification kind with its templates", "admin", [ok("200", "NotificationTemplateList", headers=H_ETAG), NOTMOD], params=[P_INM], perm="settings:read")
op("get", "/v1/admin/notification-templates/{kind}", "getNotificationTemplate", TN, "One notification kind", "admin", [ok("200", "NotificationTemplate", headers=H_ETAG), NOTMOD], params=[P_KIND, P_INM], perm="settings:read")
op("patch", "/v1/admin/notification-templates/{kind}", "updateNotificationTemplate", TN, "Switch a kind on or off, or change its templates", "admin", [ok("200", "NotificationTemplate", "The kind's settings.")],
   body="NotificationTemplateUpdate", params=[P_KIND], perm="settings:write")
op("get", "/v1/admin/plugins/{name}/deliveries", "adminListPluginDeliveries", "Admin Plugins", "A plugin subscriber's delivery log", "admin", [ok("200", "PluginEventDeliveryList", headers=H_ETAG), NOTMOD],
   params=[P_PLUGIN, P_LIMIT, P_CURSOR, qp("state", "Only deliveries in this state.", {"type": "string", "enum": DELIVERY_STATES}), P_INM], perm="plugins:read",
   desc="Deliveries of events to the plugin's on_event (plugins whose manifest lists events), newest first: at least once, retried on the webhook schedule, discarded after webhook_max_attempts (the dead letter). 404 for a name no loaded plugin has.")
schemas["PluginReplay"] = req({"event_id": {"type": "string", "maxLength": 40, "description": "The event to deliver (422 not_found at /event_id when it does not exist); subscribed by type or not."}}, ["event_id"], "Which event to deliver to the plugin.")
op("post", "/v1/admin/plugins/{name}/deliveries", "adminReplayPluginDelivery", "Admin Plugins", "Deliver an event to a subscriber again", "admin", [ok("202", "PluginEventDelivery", "The new delivery (trigger replay), retried like any other.")],
   body="PluginReplay", params=[P_PLUGIN], perm="plugins:write",
   desc="Any event, with its original body and id, to an enabled event subscriber: a dead letter once the plugin is fixed, or an event from before it subscribed. 404 for a name no loaded plugin has; 409 invalid-state for a plugin that is disabled, unconfigured or lists no events.")
