/* label_db.c: label purchases and carrier tracking (core/label.h): the SQL of migrations/0030 around the shipping
 * provider's create_label and track. */
#include <stdio.h>
#include <string.h>

#include "core/base/util.h"
#include "core/cart.h"
#include "core/db/db.h"
#include "core/hooks.h"
#include "core/label.h"

SQ_STMT(label_prepare, "SELECT souq_label_prepare($1, $2, $3::jsonb)");
SQ_STMT(label_record, "SELECT souq_label_record($1, $2, $3::jsonb, $4)::text");
SQ_STMT(track_prepare, "SELECT souq_shipment_track_prepare($1, $2, $3)");
SQ_STMT(track_record, "SELECT souq_shipment_track_record($1, $2, $3, $4, $5)::text");
SQ_STMT(tracking_apply, "SELECT souq_shipping_tracking_apply($1, $2, $3, $4::jsonb, $5, $6, $7, $8)::text");

typedef struct {
    sq_ctx_t *cx;
    const char *order_id, *fulfillment_id, *shipment_id, *actor, *provider;
    sq_json_cb cb;
    void *data;
} op_t;

/* Answers of the SQL functions carry "pointer|code|detail" messages: per-field errors. */
static void on_json(const char *json, const sq_err_t *err, void *data)
{
    op_t *o = data;
    o->cb(json, sq_cart_refine(o->cx->arena, err), o->data);
}

static void fail_provider(op_t *o, const char *code, const char *detail)
{
    sq_err_t e;
    sq_err_clear(&e);
    sq_err_set(&e, SQ_E_VALIDATION, "%s", detail);
    sq_err_field(&e, "/provider", code, "%s", detail);
    o->cb(NULL, &e, o->data);
}

static const char *str(sq_arena_t *a, json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? sq_arena_strdup(a, s) : NULL;
}

static const char *dump(sq_arena_t *a, json_t *v)
{
    size_t len;
    return v != NULL ? sq_json_dump(a, v, &len) : NULL;
}

/* ---- buying a label ------------------------------------------------------------------------------------------ */

static void on_label(const sq_ship_label_t *res, const sq_err_t *err, void *data)
{
    op_t *o = data;
    if (err != NULL) { /* the carrier failed: nothing was written */
        o->cb(NULL, err, o->data);
        return;
    }
    sq_arena_t *a = o->cx->arena;
    json_t *label =
        json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s?, s:I, s:s?}", "provider", o->provider, "carrier", res->carrier,
                  "tracking_number", res->tracking_number, "tracking_url", res->tracking_url, "label_url", res->label_url,
                  "provider_ref", res->provider_ref, "cost", (json_int_t)res->cost, "cost_currency", res->cost_currency);
    const char *body = dump(a, sq_json_own(a, label));
    sq_db_json(sq_ctx_commit_db(o->cx), a, &label_record, 4, sq_db_params(a, 4, o->order_id, o->fulfillment_id, body, o->actor),
               on_json, o);
}

static void on_label_prepared(const char *json, const sq_err_t *err, void *data)
{
    op_t *o = data;
    if (err != NULL) {
        on_json(NULL, err, o);
        return;
    }
    sq_arena_t *a = o->cx->arena;
    json_t *p = sq_json_own(a, json_loads(json, 0, NULL));
    o->provider = str(a, p, "provider");
    const sq_shipping_provider_t *prov = sq_shipping_provider(o->provider);
    if (prov == NULL) {
        fail_provider(o, "invalid_value", "No enabled shipping provider has this id.");
        return;
    }
    if (prov->create_label == NULL) {
        fail_provider(o, "no_labels", "This shipping provider sells no labels (flat_rate): add the shipment by hand.");
        return;
    }
    sq_ship_label_req_t *req = SQ_NEW(a, sq_ship_label_req_t);
    *req = (sq_ship_label_req_t){.from_json = dump(a, json_object_get(p, "from")),
                                 .to_json = dump(a, json_object_get(p, "to")),
                                 .weight_g = json_integer_value(json_object_get(p, "weight_g")),
                                 .order_id = o->order_id,
                                 .fulfillment_id = o->fulfillment_id,
                                 .service = str(a, p, "service"),
                                 .currency = str(a, p, "currency"),
                                 .idempotency_key = sq_arena_printf(a, "label_%s_%lld", o->fulfillment_id,
                                                                    (long long)json_integer_value(json_object_get(p, "attempt")))};
    prov->create_label(o->cx, req, on_label, o);
}

void sq_label_buy(sq_ctx_t *cx, const char *order_id, const char *fulfillment_id, const char *body, const char *actor,
                  sq_json_cb cb, void *data)
{
    op_t *o = SQ_NEW(cx->arena, op_t);
    *o = (op_t){.cx = cx, .order_id = order_id, .fulfillment_id = fulfillment_id, .actor = actor, .cb = cb, .data = data};
    sq_db_json(cx->db, cx->arena, &label_prepare, 3, sq_db_params(cx->arena, 3, order_id, fulfillment_id, body), on_label_prepared,
               o);
}

/* ---- asking the carrier ------------------------------------------------------------------------------------------ */

static void on_tracked(const sq_ship_track_t *res, const sq_err_t *err, void *data)
{
    op_t *o = data;
    if (err != NULL) {
        o->cb(NULL, err, o->data);
        return;
    }
    sq_arena_t *a = o->cx->arena;
    sq_db_json(sq_ctx_commit_db(o->cx), a, &track_record, 5,
               sq_db_params(a, 5, o->order_id, o->fulfillment_id, o->shipment_id, res->status, o->actor), on_json, o);
}

static void on_track_prepared(const char *json, const sq_err_t *err, void *data)
{
    op_t *o = data;
    if (err != NULL) {
        on_json(NULL, err, o);
        return;
    }
    sq_arena_t *a = o->cx->arena;
    json_t *p = sq_json_own(a, json_loads(json, 0, NULL));
    o->provider = str(a, p, "provider");
    const sq_shipping_provider_t *prov = sq_shipping_provider(o->provider);
    if (prov == NULL || prov->track == NULL) {
        fail_provider(o, "not_tracked", "The shipment's provider is not enabled or cannot track parcels.");
        return;
    }
    prov->track(o->cx, str(a, p, "ref"), on_tracked, o);
}

void sq_shipment_track(sq_ctx_t *cx, const char *order_id, const char *fulfillment_id, const char *shipment_id, const char *actor,
                       sq_json_cb cb, void *data)
{
    op_t *o = SQ_NEW(cx->arena, op_t);
    *o = (op_t){.cx = cx,
                .order_id = order_id,
                .fulfillment_id = fulfillment_id,
                .shipment_id = shipment_id,
                .actor = actor,
                .cb = cb,
                .data = data};
    sq_db_json(cx->db, cx->arena, &track_prepare, 3, sq_db_params(cx->arena, 3, order_id, fulfillment_id, shipment_id),
               on_track_prepared, o);
}

/* ---- carrier events ------------------------------------------------------------------------------------------------ */

void sq_tracking_apply(sq_ctx_t *cx, const char *plugin, const char *event_id, const char *event_type, const char *data_json,
                       const char *provider, const char *tracking_number, const char *status, sq_json_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    const char *actor = sq_arena_printf(a, "plugin:%s", plugin);
    sq_db_json(sq_ctx_commit_db(cx), a, &tracking_apply, 8,
               sq_db_params(a, 8, plugin, event_id, event_type, data_json, provider, tracking_number, status, actor), cb, data);
}
