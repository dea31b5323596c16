# events.py: the contract of webhooks, events and deliveries (core/events*.c, api/handlers/events.c,
# migrations/0023_events_webhooks.sql) and the versioned event catalogue (x-events, components/schemas/Event_*);
# exec'd by generate.py with its helpers and schemas in scope.

EVENTS_VERSION = "1"
_oid = {"type": "string", "pattern": "^order_[0-9a-hjkmnp-tv-z]{26}$", "description": "The order."}
_s = lambda d: {"type": "string", "description": d}
_sn = lambda d: {"type": ["string", "null"], "description": d}
_i = lambda d: {"type": "integer", "description": d}
_in = lambda d: {"type": ["integer", "null"], "description": d}
_b = lambda d: {"type": "boolean", "description": d}
_ts = lambda d: {"type": "string", "format": "date-time", "description": d}
_items = lambda d, props: {"type": ["array", "null"], "description": d, "items": {"type": "object", "properties": props}}

def _payload(desc, props, required=None, sensitive=False):
    return {"description": desc, "sensitive": sensitive,
            "schema": {"type": "object", "additionalProperties": True, "properties": props,
                       "required": list(props.keys()) if required is None else required}}

_customer = {"id": {"type": "string", "description": "The customer."}, "object": {"const": "customer", "description": "Always customer."},
             "email": _s("Email."), "first_name": _sn("First name."), "last_name": _sn("Last name."), "phone": _sn("Phone."),
             "has_account": _b("Registered (true) or a guest of checkout."), "metadata": {"type": "object", "description": "Metadata."},
             "created_at": _ts("Created."), "updated_at": _ts("Last changed.")}

# Every event type the code writes (tests/api/events.test.mjs checks the sources and a test run against this list).
EVENTS = {
 "order.placed": _payload("An order was placed (checkout or a completed draft order).", {"order_id": _oid, "number": _i("Order number."), "total": _i("Total, minor units."),
     "currency_code": _s("Currency (lower-case ISO 4217)."), "payment_status": _s("Payment status at placement."), "draft_order_id": _s("The draft it came from (draft orders only).")},
     ["order_id", "number", "total", "currency_code", "payment_status"]),
 "order.paid": _payload("An order's payment was captured.", {"order_id": _oid, "amount": _i("Captured amount, minor units."), "payment_id": _s("The payment (captures through the API).")}, ["order_id", "amount"]),
 "order.canceled": _payload("An order was canceled.", {"order_id": _oid, "reason": _sn("Why.")}, ["order_id"]),
 "order.fulfilled": _payload("Every line of an order is fulfilled.", {"order_id": _oid, "number": _i("Order number.")}),
 "order.shipped": _payload("Every fulfilment of an order has shipped.", {"order_id": _oid, "number": _i("Order number."),
     "tracking": _items("Shipments with their tracking.", {"fulfillment_id": _s("Fulfilment."), "carrier": _sn("Carrier."), "tracking_number": _sn("Tracking number."), "tracking_url": _sn("Tracking link.")})}),
 "order.delivered": _payload("Every fulfilment of an order was delivered.", {"order_id": _oid, "number": _i("Order number.")}),
 "order.edited": _payload("An order's lines were edited after placement.", {"order_id": _oid, "old_total": _i("Total before."), "new_total": _i("Total after."),
     "note": _sn("Staff note."), "outstanding_amount": _i("What the customer still owes."), "authorization_reduced": {"description": "Amount by which the authorization was lowered.", "type": ["integer", "boolean", "null"]},
     "refund_amount": _in("Refunded because of the edit.")}, ["order_id", "old_total", "new_total"]),
 "order.line_added": _payload("Order timeline only (not in the outbox): a line added by an edit.", {"order_id": _oid, "line_item_id": _s("Line."), "variant_id": _sn("Variant."), "sku": _sn("SKU."), "quantity": _i("Quantity."), "unit_price": _i("Unit price."), "total": _i("Line total.")}, ["order_id", "line_item_id"]),
 "order.line_removed": _payload("Order timeline only (not in the outbox): a line removed by an edit.", {"order_id": _oid, "line_item_id": _s("Line."), "variant_id": _sn("Variant."), "sku": _sn("SKU."), "quantity": _i("Quantity."), "total": _i("Line total.")}, ["order_id", "line_item_id"]),
 "order.line_quantity_changed": _payload("Order timeline only (not in the outbox): a line's quantity changed by an edit.", {"order_id": _oid, "line_item_id": _s("Line."), "sku": _sn("SKU."), "from": _i("Old quantity."), "to": _i("New quantity.")}, ["order_id", "line_item_id"]),
 "order.tax_recorded": _payload("Order timeline only (not in the outbox): the tax plugin that computed the order's tax recorded it (migrations/0040): commit after placement, void after a cancel, refund after a refund.",
     {"order_id": _oid, "operation": {"type": "string", "enum": ["commit", "void", "refund"], "description": "What was recorded."}, "provider": _s("plugin:<name>."),
      "reference": _sn("The tax service's id of the transaction, when the plugin gave one."), "refund_id": _s("The refund (refund only).")}, ["order_id", "operation", "provider"]),
 "order.tax_record_failed": _payload("Order timeline only (not in the outbox): an attempt to record the order's tax with its tax plugin failed; the job retries with backoff (final: it was the last attempt).",
     {"order_id": _oid, "operation": {"type": "string", "enum": ["commit", "void", "refund"], "description": "What was being recorded."}, "provider": _s("plugin:<name>."),
      "attempt": _i("Which attempt failed (1-based)."), "max_attempts": _i("Attempts before the job is discarded."), "final": _b("The last attempt: the job is discarded (staff retry it with POST /v1/admin/jobs/{id}/retry)."),
      "error": _sn("Why, as the plugin host reports it (never plugin text)."), "refund_id": _s("The refund (refund only).")}, ["order_id", "operation", "provider", "attempt", "max_attempts", "final"]),
 "tax.commit_failed": _payload("The tax plugin that computed an order's tax could not record its placed order's tax after every attempt (the job is discarded; staff retry it with POST /v1/admin/jobs/{id}/retry once the cause is fixed).",
     {"order_id": _oid, "operation": {"const": "commit", "description": "What was being recorded."}, "provider": _s("plugin:<name>."), "attempt": _i("The last attempt."),
      "max_attempts": _i("Attempts made."), "error": _sn("The last error, as the plugin host reports it."), "refund_id": _s("The refund (refund only).")}, ["order_id", "operation", "provider", "attempt", "max_attempts"]),
 "tax.void_failed": _payload("The tax plugin that computed an order's tax could not record the void of its canceled order's tax after every attempt (the job is discarded; staff retry it with POST /v1/admin/jobs/{id}/retry once the cause is fixed).",
     {"order_id": _oid, "operation": {"const": "void", "description": "What was being recorded."}, "provider": _s("plugin:<name>."), "attempt": _i("The last attempt."),
      "max_attempts": _i("Attempts made."), "error": _sn("The last error, as the plugin host reports it."), "refund_id": _s("The refund (refund only).")}, ["order_id", "operation", "provider", "attempt", "max_attempts"]),
 "tax.refund_failed": _payload("The tax plugin that computed an order's tax could not record a refund of its order's tax after every attempt (the job is discarded; staff retry it with POST /v1/admin/jobs/{id}/retry once the cause is fixed).",
     {"order_id": _oid, "operation": {"const": "refund", "description": "What was being recorded."}, "provider": _s("plugin:<name>."), "attempt": _i("The last attempt."),
      "max_attempts": _i("Attempts made."), "error": _sn("The last error, as the plugin host reports it."), "refund_id": _s("The refund (refund only).")}, ["order_id", "operation", "provider", "attempt", "max_attempts"]),
 "refund.created": _payload("A refund was issued.", {"order_id": _oid, "refund_id": _s("The refund."), "amount": _i("Amount, minor units."), "reason": _sn("Why.")}, ["order_id", "refund_id", "amount"]),
 "refund.failed": _payload("Order timeline only (not in the outbox): the refund an edit called for failed at the payment provider.", {"order_id": _oid, "amount": _i("Amount."), "reason": _s("order_edit."), "error": _sn("Provider error.")}, ["order_id", "amount"]),
 "fulfillment.created": _payload("A fulfilment (a parcel of order lines from one location) was created.", {"order_id": _oid, "fulfillment_id": _s("Fulfilment."), "location_id": _s("Stock location."), "notify": _b("Notify the customer."),
     "items": _items("Lines and quantities.", {"line_item_id": _s("Line."), "quantity": _i("Quantity.")})}, ["order_id", "fulfillment_id"]),
 "fulfillment.delivered": _payload("A fulfilment was delivered.", {"order_id": _oid, "fulfillment_id": _s("Fulfilment.")}),
 "shipment.created": _payload("A fulfilment shipped.", {"order_id": _oid, "fulfillment_id": _s("Fulfilment."), "shipment_id": _s("Shipment."), "carrier": _sn("Carrier."), "tracking_number": _sn("Tracking number."), "tracking_url": _sn("Tracking link.")}, ["order_id", "fulfillment_id", "shipment_id"]),
 "return.requested": _payload("A return was requested.", {"order_id": _oid, "return_id": _s("Return."), "reason": _sn("Why."), "requested_by": _sn("customer or staff."), "items": {"description": "Lines to return.", "type": ["array", "null"]}}, ["order_id", "return_id"]),
 "return.approved": _payload("A return was approved.", {"order_id": _oid, "return_id": _s("Return."), "note": _sn("Decision note.")}, ["order_id", "return_id"]),
 "return.rejected": _payload("A return was rejected.", {"order_id": _oid, "return_id": _s("Return."), "note": _sn("Decision note.")}, ["order_id", "return_id"]),
 "return.received": _payload("Returned goods were received (restocked as asked, refund issued).", {"order_id": _oid, "return_id": _s("Return."), "refund_amount": _in("Refunded."),
     "items": _items("Received lines.", {"line_item_id": _s("Line."), "quantity": _i("Quantity."), "restock": _b("Put back into stock."), "location_id": _sn("Where.")})}, ["order_id", "return_id"]),
 "customer.created": _payload("A customer registered (the customer as the API shows it).", _customer, ["id", "email"]),
 "customer.updated": _payload("A customer changed their profile.", _customer, ["id", "email"]),
 "customer.password_changed": _payload("A customer's password changed (changed or reset).", {"customer_id": _s("Customer."), "email": _s("Email.")}),
 "customer.password_reset_requested": _payload("A customer asked for a password reset. Carries the one-hour reset token for the notification provider, so webhooks get it only when subscribed by its exact name (never through * or customer.*).",
     {"customer_id": _s("Customer."), "email": _s("Email."), "token": _s("Single-use reset token (secret)."), "expires_at": _ts("Token expiry.")}, sensitive=True),
 "inventory.low": _payload("An item's available stock (all locations) fell to or below its low-stock threshold.", {"inventory_item_id": _s("Inventory item."), "sku": _sn("SKU."), "available": _i("Available now."), "threshold": _i("The threshold."), "location_id": _s("Where the change happened.")}),
 "inventory.out_of_stock": _payload("An item's available stock (all locations) reached zero.", {"inventory_item_id": _s("Inventory item."), "sku": _sn("SKU."), "location_id": _s("Where the change happened.")}),
 "price.changed": _payload("A price was created, changed or removed (admin edits, imports, scheduled changes, pricing rules). Written with its price ledger entry (GET /v1/admin/price-changes/{change_id}) in the same transaction.",
     {"price_id": _s("Price."), "variant_id": _s("Variant."), "product_id": _sn("The variant's product (null when the variant is gone)."), "price_list_id": _sn("Price list (null: base price)."), "currency_code": _s("Currency."),
     "min_quantity": _i("Volume tier."), "old_amount": _in("Before (null: new price)."), "new_amount": _in("After (null: removed)."),
     "change_id": _s("The price ledger entry (pchg_)."), "source": {"type": "string", "enum": ["staff", "api_key", "import", "schedule", "rule", "system"], "description": "What changed it."},
     "source_id": _sn("The staff user, API key, schedule or rule."), "actor": _sn("The staff user or API key responsible (null for rules and system changes).")}),
 "webhook_endpoint.disabled": _payload("A webhook endpoint was disabled after its deliveries kept failing through the whole retry schedule.", {"webhook_id": _s("Endpoint."), "url": _s("Its URL."), "reason": {"const": "persistent_failure", "description": "Why."},
     "failing_since": _ts("First failure since the last success."), "delivery_id": _s("The delivery that exhausted its retries."), "last_status": _in("Last HTTP status (null: network error)."), "last_error": _sn("Last error kind.")}, ["webhook_id", "url", "reason"]),
 "cart.abandoned": _payload("A cart with an email and items was left unchanged for abandoned_cart_after_s (reminder 1), or another abandoned_cart_spacing_s passed (reminder 2, ...; at most abandoned_cart_max_reminders per cart). Never for a completed or merged cart. Written by the abandoned_carts.scan job.",
     {"cart_id": _s("The cart."), "email": _s("The cart's email."), "reminder": _i("Which reminder this is (1 for the first); unique per cart."),
      "max_reminders": _i("How many reminders a cart gets at most (the server's setting)."),
      "items": _items("The cart's lines.", {"variant_id": _s("Variant."), "sku": _s("SKU."), "title": _s("Variant title."), "product_title": _s("Product title."), "quantity": _i("Quantity."), "unit_amount": _in("Base unit price in the cart's currency for the line's quantity tier (null: no base price).")}),
      "item_count": _i("Number of lines."), "total": _i("Sum of the lines at base prices, minor units (price lists, promotions, tax and shipping are left to the checkout)."),
      "currency": _s("The cart's currency (lower-case ISO 4217)."),
      "discount": {"type": "object", "additionalProperties": False, "description": "Only when abandoned_cart_discount_bp is set and this is reminder abandoned_cart_discount_from or later: a one-time discount code made for this reminder (mail it to the buyer).",
          "required": ["code", "percent_bp", "promotion_id", "expires_at"],
          "properties": {"code": _s("The code (BACK-...), usable once."), "percent_bp": _i("Off the order, basis points."), "promotion_id": _s("The promotion behind it."), "expires_at": _ts("When the code stops working.")}}},
     ["cart_id", "email", "reminder", "max_reminders", "items", "item_count", "total", "currency"]),
 "plugin.webhook_received": _payload("A plugin verified an inbound provider callback (POST /v1/hooks/{plugin}) whose event id it had not seen: written once per plugin and event id.",
     {"plugin": _s("The plugin (payment-stripe)."), "event_id": _s("The provider's event id."), "event_type": _sn("The provider's event type (payment_intent.succeeded)."),
      "data": {"type": "object", "description": "The plugin's summary of the event (payment-stripe: object_id, object_status, livemode)."}}, ["plugin", "event_id", "data"]),
 "webhook_endpoint.test": _payload("Sent by POST /v1/admin/webhooks/{id}/test to that endpoint only.", {"webhook_id": _s("Endpoint."), "message": _s("A fixed text.")}),
}
for t, e in EVENTS.items():
    schemas["Event_" + t.replace(".", "_")] = {**e["schema"], "description": f"Payload (data) of {t} events, version {EVENTS_VERSION}: {e['description']}"}
X_EVENTS = {"version": EVENTS_VERSION,
            "description": "The event catalogue. Webhook bodies are {id, object: event, type, api_version, created_at, data}; data follows the schema named here. Within a version, fields are only added: consumers must ignore fields they do not know. Delivery is at least once and unordered: deduplicate on the event id (Souq-Event-Id).",
            "types": {t: {"description": e["description"], "sensitive": e["sensitive"], "payload": {"$ref": f"#/components/schemas/Event_{t.replace('.', '_')}"}} for t, e in EVENTS.items()}}

# ---- webhooks ------------------------------------------------------------------------------------------------------
WHK = P_ID("whk", "webhook endpoint")
EVT = P_ID("evt", "event")
_evtype = {"type": "string", "minLength": 1, "maxLength": 256, "pattern": "^(\\*|[a-z][a-z0-9_-]*(\\.[a-z0-9_-]+)*(\\.\\*)?)$", "description": "An event type (order.placed), a prefix pattern (order.*) or * (everything except sensitive types, which must be named)."}
_wh_props = {
    "url": {"type": "string", "minLength": 1, "maxLength": 2048, "format": "uri", "description": "Where deliveries are POSTed: http or https only. Its host must resolve to public addresses (422 at /url for private, loopback, link-local, multicast or reserved ones unless the server's outbound_allow_cidrs allows them); checked again at every delivery."},
    "event_types": {"type": "array", "minItems": 1, "maxItems": 100, "items": _evtype, "description": "Event types to receive (see x-events)."},
    "description": {"type": ["string", "null"], "maxLength": 500, "description": "Shown in the back office."},
    "enabled": B("Deliveries are made only to enabled endpoints (default true). Re-enabling clears disabled_reason and failing_since."),
    "metadata": metadata_in}
schemas["WebhookEndpointCreate"] = req(_wh_props, ["url", "event_types"], "A new webhook endpoint. The signing secret is generated by the server.")
schemas["WebhookEndpointUpdate"] = req(_wh_props, [], "Fields to change.")
_wh_out = {"id": ID("whk"), "object": {"const": "webhook_endpoint", "description": "Always webhook_endpoint."},
    "url": S("Delivery URL."), "event_types": {"type": "array", "items": {"type": "string"}, "description": "Subscribed types and patterns."},
    "description": SN("Description."), "enabled": B("Whether deliveries are made."),
    "disabled_reason": SN("Why the server disabled it (persistent failure), or null."),
    "failing_since": TSN("First failed delivery since the last successful one, or null."),
    "secret_rotated_at": TSN("Last rotation."), "previous_secret_expires_at": TSN("Until when the previous secret still signs (a second v1), or null."),
    "metadata": metadata_out, **ts_pair}
schemas["WebhookEndpoint"] = obj(_wh_out, desc="A webhook endpoint. Deliveries are POSTs of the event body with Content-Type application/json and headers Souq-Event-Id, Souq-Event-Type, Souq-Delivery-Id, Souq-Delivery-Attempt and Souq-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\" keyed with the secret>[,v1=<the same with the previous secret during a rotation>]. Verify with a constant-time comparison and a tolerance on t (300 s).")
schemas["WebhookEndpointWithSecret"] = obj({**_wh_out, "secret": S("The signing secret (whsec_...). Shown only in this answer; store it.")}, desc="A webhook endpoint with its new signing secret (Cache-Control: no-store).")
schemas["WebhookEndpointList"] = list_of("WebhookEndpoint", "webhook endpoints")
_attempt = obj({"attempt": {"type": "integer", "minimum": 1, "description": "1 for the first."}, "started_at": TS("When it started."),
    "duration_ms": {"type": "integer", "minimum": 0, "description": "How long it took."}, "response_status": {"type": ["integer", "null"], "description": "HTTP status, or null for a network error."},
    "error": SN("null on success; else http_<status> or a network error kind: timeout, refused, dns, tls, protocol, too_large, ssrf_blocked, invalid_url."),
    "response_body": SN("The first 1 KiB of the answer.")}, desc="One attempt.")
DELIVERY_STATES = ["available", "running", "retryable", "completed", "discarded", "canceled"]
schemas["EventDelivery"] = obj({"id": ID("dlv"), "object": {"const": "event_delivery", "description": "Always event_delivery."}, "event_id": ID("evt"),
    "event_type": S("The event's type."), "target_kind": {"type": "string", "enum": ["webhook"], "description": "What receives it."},
    "webhook_id": IDN("whk", "The endpoint (webhook targets)."), "trigger": {"type": "string", "enum": ["event", "replay", "test"], "description": "event: a subscription matched; replay and test: asked through the API."},
    "state": {"type": "string", "enum": DELIVERY_STATES, "description": "available (due), running (leased by a node), retryable (waiting for next_attempt_at), completed (2xx), discarded (a non-retryable answer, or retries exhausted), canceled (endpoint deleted or disabled)."},
    "attempts": {"type": "integer", "minimum": 0, "description": "Attempts made (a node that died mid-attempt counts one)."}, "max_attempts": {"type": "integer", "description": "Attempts allowed."},
    "next_attempt_at": TSN("When it is due (available, retryable)."), "last_status": {"type": ["integer", "null"], "description": "Last HTTP status."}, "last_error": SN("Last error."),
    "created_at": TS("Created."), "completed_at": TSN("When it reached a final state."),
    "attempt_log": {"type": "array", "items": _attempt, "description": "Every attempt, oldest first."}}, desc="One event's delivery to one target, with its attempt log.")
schemas["EventDeliveryList"] = list_of("EventDelivery", "deliveries")
_event_props = {"id": ID("evt"), "object": {"const": "event", "description": "Always event."}, "type": S("Event type (x-events)."),
    "data": {"type": "object", "description": "The payload (the schema Event_<type> of the type)."}, "created_at": TS("When it happened (its transaction)."),
    "dispatch_state": {"type": "string", "enum": ["pending", "dispatched", "discarded"], "description": "pending until the dispatcher fanned it out into deliveries."}}
schemas["Event"] = obj(_event_props, desc="A domain event from the outbox.")
schemas["EventWithDeliveries"] = obj({**_event_props, "deliveries": {"type": "array", "items": {"$ref": "#/components/schemas/EventDelivery"}, "description": "Its deliveries."}}, desc="An event with its deliveries.")
schemas["EventList"] = list_of("Event", "events")
schemas["EventReplay"] = req({"webhook_id": {"type": "string", "maxLength": 40, "description": "The endpoint to send the event to (422 not_found at /webhook_id when it does not exist); subscribed or not, enabled or not."}}, ["webhook_id"], "Where to replay an event.")

TAGS.append(("Admin Webhooks", "Webhook endpoints, their signing secrets, deliveries, and the event log."))
TW = "Admin Webhooks"
H_NS = {"Cache-Control": {"description": "no-store: the answer holds a secret.", "schema": {"type": "string"}}}
op("get", "/v1/admin/webhooks", "listWebhookEndpoints", TW, "List webhook endpoints", "admin", [ok("200", "WebhookEndpointList", headers=H_ETAG), NOTMOD],
   params=[P_LIMIT, P_CURSOR, qp("enabled", "Only enabled (true) or disabled (false) endpoints.", {"type": "string", "enum": ["true", "false"]}), P_INM], perm="webhooks:read")
op("post", "/v1/admin/webhooks", "createWebhookEndpoint", TW, "Create a webhook endpoint", "admin", [ok("201", "WebhookEndpointWithSecret", "The endpoint with its signing secret, shown this once.", headers=H_NS)],
   body="WebhookEndpointCreate", perm="webhooks:write", desc="The URL's host is resolved and checked against the egress policy (422 at /url: not_allowed for private, loopback, link-local, multicast and reserved addresses and for schemes other than http(s); not_found when the name does not resolve).")
op("get", "/v1/admin/webhooks/{id}", "getWebhookEndpoint", TW, "One webhook endpoint", "admin", [ok("200", "WebhookEndpoint", headers=H_ETAG), NOTMOD], params=[WHK, P_INM], perm="webhooks:read")
op("patch", "/v1/admin/webhooks/{id}", "updateWebhookEndpoint", TW, "Update a webhook endpoint", "admin", [ok("200", "WebhookEndpoint", "The endpoint.")], body="WebhookEndpointUpdate",
   params=[WHK, {**P_IFMATCH, "description": "ETag the change is based on; 412 when the endpoint changed since."}], perm="webhooks:write", desc="A new URL is checked as on creation.")
op("delete", "/v1/admin/webhooks/{id}", "deleteWebhookEndpoint", TW, "Delete a webhook endpoint", "admin", [ok("204", desc="Deleted; its pending deliveries are canceled (their log stays).")], params=[WHK], perm="webhooks:write")
op("post", "/v1/admin/webhooks/{id}/rotate-secret", "rotateWebhookSecret", TW, "Rotate the signing secret", "admin", [ok("200", "WebhookEndpointWithSecret", "The endpoint with its new secret, shown this once.", headers=H_NS)],
   params=[WHK], perm="webhooks:write", desc="The previous secret keeps signing for 24 hours: deliveries then carry two v1 signatures, so a receiver can switch secrets without losing events. No request body (an empty one or {}; fields are 422 unknown-field).")
op("post", "/v1/admin/webhooks/{id}/test", "testWebhookEndpoint", TW, "Send a test event", "admin", [ok("202", "EventDelivery", "The delivery of a new webhook_endpoint.test event to this endpoint (also when disabled); follow it in the delivery log.")],
   params=[WHK], perm="webhooks:write", desc="No request body (an empty one or {}; fields are 422 unknown-field).")
op("get", "/v1/admin/webhooks/{id}/deliveries", "listWebhookDeliveries", TW, "An endpoint's delivery log", "admin", [ok("200", "EventDeliveryList", headers=H_ETAG), NOTMOD],
   params=[WHK, P_LIMIT, P_CURSOR, qp("state", "Only deliveries in this state.", {"type": "string", "enum": DELIVERY_STATES}), P_INM], perm="webhooks:read")
op("get", "/v1/admin/events", "listEvents", TW, "List events", "admin", [ok("200", "EventList", headers=H_ETAG), NOTMOD],
   params=[P_LIMIT, P_CURSOR, qp("type", "Only events of this type.", {"type": "string", "maxLength": 100, "pattern": "^[a-z0-9._]+$"}), P_INM], perm="events:read")
op("get", "/v1/admin/events/{id}", "getEvent", TW, "One event with its deliveries", "admin", [ok("200", "EventWithDeliveries", headers=H_ETAG), NOTMOD], params=[EVT, P_INM], perm="events:read")
op("post", "/v1/admin/events/{id}/replay", "replayEvent", TW, "Send an event to an endpoint again", "admin", [ok("202", "EventDelivery", "The new delivery (trigger replay).")],
   body="EventReplay", params=[EVT], perm="webhooks:write", desc="Any event, to any endpoint (subscribed or not, enabled or not), with the original body and event id.")

# ---- durable jobs (core/jobs*.c, api/handlers/jobs.c, migrations/0028_jobs.sql) --------------------------------------
JOB_STATES = ["scheduled", "running", "retryable", "completed", "discarded", "canceled"]
_job_error = obj({"attempt": {"type": "integer", "minimum": 0, "description": "The failed attempt."}, "at": TS("When it was recorded."),
    "error": S("What went wrong (lease expired: the node running it died or took longer than its lease)."), "node": SN("The node that ran it."),
    "next_run_at": TSN("When the retry was due (null: none)."), }, desc="A failed attempt.")
_job_error["required"] = ["attempt", "at", "error"]
schemas["Job"] = obj({"id": ID("job"), "object": {"const": "job", "description": "Always job."},
    "kind": S("What it does: the handler registered for this kind runs it (abandoned_carts.scan, ...)."), "payload": {"type": "object", "description": "The handler's input."},
    "state": {"type": "string", "enum": JOB_STATES, "description": "scheduled (waiting for run_at), running (leased by a node), retryable (failed; due again at run_at), completed, discarded (failed max_attempts times: the dead letter), canceled."},
    "run_at": TS("When it is (or was) due."), "attempts": {"type": "integer", "minimum": 0, "description": "Attempts started (a node that died mid-run counts one)."},
    "max_attempts": {"type": "integer", "minimum": 1, "description": "Attempts allowed."}, "locked_by": SN("The node running it (running jobs)."),
    "locked_until": TSN("When its lease expires (running jobs)."), "last_error": SN("The last failure."),
    "errors": {"type": "array", "items": _job_error, "description": "Every failed attempt, oldest first."},
    "unique_key": SN("The logical job: a second enqueue with the same key is a no-op (schedules use schedule:<id>:<period start>)."),
    "schedule_id": SN("The recurring schedule it was made from."), "created_at": TS("Created."), "updated_at": TS("Last changed."),
    "completed_at": TSN("When it reached completed, discarded or canceled.")},
    desc="A durable job: delayed or scheduled work run at least once by some node, with retries (exponential backoff with jitter) and a dead-letter state.")
schemas["JobList"] = list_of("Job", "jobs")
schemas["AbandonedCartReport"] = obj({"object": {"const": "abandoned_cart_report", "description": "Always abandoned_cart_report."},
    "since": TSN("Start of the period (null: all time)."), "reminded_carts": {"type": "integer", "minimum": 0, "description": "Carts that got at least one cart.abandoned reminder."},
    "reminders_sent": {"type": "integer", "minimum": 0, "description": "Reminders sent."},
    "recovered_carts": {"type": "integer", "minimum": 0, "description": "Reminded carts completed (checked out) after their first reminder."},
    "recovered_with_discount": {"type": "integer", "minimum": 0, "description": "Recovered carts whose order used a reminder's discount code."},
    "recovery_rate": {"type": "number", "minimum": 0, "maximum": 1, "description": "recovered_carts / reminded_carts (0 when none), 4 decimals."}},
    desc="How many abandoned carts came back after a reminder.")

TAGS.append(("Admin Jobs", "Durable jobs (delayed and scheduled work) and the automations built on them."))
TJ = "Admin Jobs"
JOB = P_ID("job", "job")
op("get", "/v1/admin/jobs", "listJobs", TJ, "List jobs", "admin", [ok("200", "JobList", headers=H_ETAG), NOTMOD],
   params=[P_LIMIT, P_CURSOR, qp("state", "Only jobs in this state.", {"type": "string", "enum": JOB_STATES}),
           qp("kind", "Only jobs of this kind.", {"type": "string", "maxLength": 64, "pattern": "^[a-z][a-z0-9_.]*$"}), P_INM], perm="events:read", desc="Newest first.")
op("get", "/v1/admin/jobs/{id}", "getJob", TJ, "One job", "admin", [ok("200", "Job", headers=H_ETAG), NOTMOD], params=[JOB, P_INM], perm="events:read")
op("post", "/v1/admin/jobs/{id}/retry", "retryJob", TJ, "Run a job again now", "admin", [ok("200", "Job", "The job, scheduled now.")], params=[JOB], perm="settings:write",
   desc="A discarded, retryable or canceled job is scheduled to run now (allowed one more attempt when it had used them up); other states are 409 invalid-state. No request body (an empty one or {}; fields are 422 unknown-field).")
op("post", "/v1/admin/jobs/{id}/cancel", "cancelJob", TJ, "Cancel a job", "admin", [ok("200", "Job", "The job, canceled.")], params=[JOB], perm="settings:write",
   desc="A scheduled, retryable or running job will not run (again); a running handler is not interrupted, but its outcome is dropped. Completed, discarded and canceled jobs are 409 invalid-state. No request body (an empty one or {}; fields are 422 unknown-field).")
op("get", "/v1/admin/reports/abandoned-carts", "abandonedCartReport", TJ, "Abandoned-cart recovery", "admin", [ok("200", "AbandonedCartReport", headers=H_ETAG), NOTMOD], params=[P_INM], perm="orders:read",
   desc="Reminded carts, those of them completed after their first reminder, and the rate. Carts deleted since (expired) count as not recovered.")
