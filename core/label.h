/* label.h: shipping labels bought from a carrier provider (core/hooks.h create_label, e.g. the shipping-easypost
 * plugin) for a fulfilment, and carrier tracking applied to shipments (a carrier's webhook, or staff asking the
 * carrier). Rules and state moves are SQL in migrations/0030_carrier_labels.sql: a label purchase is prepare ->
 * carrier -> record with no lock held across the carrier call, and nothing is written when the carrier fails; a
 * "delivered" status delivers the shipment's fulfilment exactly once (order.delivered when every fulfilment is). */
#ifndef SQ_LABEL_H
#define SQ_LABEL_H

#include "core/base/json.h"
#include "core/ctx.h"

/** POST /v1/admin/orders/{id}/fulfillments/{fid}/labels {provider, service}: both optional (the order's shipping
 * method's provider; the provider picks the service). */
extern const sq_field_t sq_label_fields[];

/** Buys a label from the provider (body: validated JSON text) and adds it to the fulfilment as a shipment with
 * carrier, tracking number, tracking URL, label URL and cost. Answers the fulfilment. 404 order/fulfilment, 409 a
 * fulfilment neither fulfilled nor shipped, 422 /provider for a provider without labels (flat_rate) or unknown,
 * the provider's 502/504 with nothing written. */
void sq_label_buy(sq_ctx_t *cx, const char *order_id, const char *fulfillment_id, const char *body, const char *actor,
                  sq_json_cb cb, void *data);

/** Asks the shipment's provider where the parcel is (track) and applies the answer as sq_tracking_apply does.
 * Answers the fulfilment. 404 for a shipment not of the order's fulfilment; 422 /provider for one entered by hand. */
void sq_shipment_track(sq_ctx_t *cx, const char *order_id, const char *fulfillment_id, const char *shipment_id, const char *actor,
                       sq_json_cb cb, void *data);

/** True for a tracking status of the shipping contract (unknown, pre_transit, in_transit, out_for_delivery, delivered,
 * available_for_pickup, return_to_sender, failure, cancelled). */
bool sq_tracking_status_valid(const char *s);

/** A carrier's tracking event (POST /v1/hooks/{plugin} whose plugin answered with tracking): records the event id
 * once per plugin (plugin.webhook_received the first time, as sq_plugin_webhook_record) and, only then, sets the
 * status of the shipments with that tracking number (of provider, or entered by hand; provider NULL: any) and
 * delivers the shipped fulfilments of a "delivered" one. Answers {"duplicate", "shipments", "delivered"}. */
void sq_tracking_apply(sq_ctx_t *cx, const char *plugin, const char *event_id, const char *event_type, const char *data_json,
                       const char *provider, const char *tracking_number, const char *status, sq_json_cb cb, void *data);

#endif
