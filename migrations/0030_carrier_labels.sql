-- 0030_carrier_labels.sql: shipping labels bought from a carrier provider (a plugin providing shipping:<id> with
-- shipping_create_label, e.g. plugins/shipping-easypost) and carrier tracking applied to shipments. C:
-- core/label*.c; HTTP: api/handlers/labels.c and the tracking part of POST /v1/hooks/{plugin}.
--
-- Buying a label is prepare -> carrier -> record (ARCHITECTURE.md decision 2: no lock is held across the carrier
-- call): souq_label_prepare checks the fulfilment and gathers what the carrier needs; the provider buys the label;
-- souq_label_record adds the shipment (souq_fulfillment_ship: fulfilled -> shipped, shipment.created, order.shipped
-- when every fulfilment is) with the label's URL and the carrier's reference, in one transaction. A carrier failure
-- writes nothing.
--
-- Tracking (souq_shipping_tracking_apply) comes from a carrier's webhook (one event id applies once, in the same
-- statement as its plugin_webhook_events row and plugin.webhook_received, as 0027 does) or from staff asking the
-- carrier (POST .../shipments/{id}/track). It records the shipment's tracking status; "delivered" delivers its
-- fulfilment (souq_fulfillment_deliver: fulfillment.delivered, and order.delivered when every fulfilment is) under
-- the order's lock, only while the fulfilment is shipped: so a delivery is applied exactly once whatever number of
-- events, replays and refreshes say so.

ALTER TABLE shipments
    ADD COLUMN provider        text CHECK (provider ~ '^[a-z0-9_]{1,32}$'),
    ADD COLUMN provider_ref    text CHECK (length(provider_ref) BETWEEN 1 AND 255),
    ADD COLUMN label_url       text CHECK (length(label_url) BETWEEN 1 AND 2048),
    ADD COLUMN label_cost      bigint CHECK (label_cost >= 0),
    ADD COLUMN label_currency  text CHECK (label_currency ~ '^[a-z]{3}$'),
    ADD COLUMN tracking_status text CHECK (tracking_status IN ('unknown', 'pre_transit', 'in_transit', 'out_for_delivery', 'delivered',
                                                               'available_for_pickup', 'return_to_sender', 'failure', 'cancelled')),
    ADD COLUMN tracked_at      timestamptz;
CREATE INDEX shipments_tracking_idx ON shipments (tracking_number);

-- The fulfilment as the API shows it, its shipments with their label and tracking (0022's shape plus fields).
CREATE OR REPLACE FUNCTION souq_fulfillment_json(f fulfillments) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', f.id, 'object', 'fulfillment', 'order_id', f.order_id, 'location_id', f.location_id,
        'status', f.status, 'notify', f.notify,
        'items', coalesce((SELECT jsonb_agg(jsonb_build_object('line_item_id', i.line_item_id, 'quantity', i.quantity)
                                            ORDER BY l.position) FROM fulfillment_items i JOIN order_line_items l ON l.id = i.line_item_id
                            WHERE i.fulfillment_id = f.id), '[]'),
        'shipments', coalesce((SELECT jsonb_agg(jsonb_build_object('id', s.id, 'object', 'shipment', 'carrier', s.carrier,
                                   'tracking_number', s.tracking_number, 'tracking_url', s.tracking_url, 'created_at', s.created_at,
                                   'provider', s.provider, 'label_url', s.label_url, 'label_cost', s.label_cost,
                                   'label_currency', s.label_currency, 'tracking_status', s.tracking_status, 'tracked_at', s.tracked_at)
                                   ORDER BY s.id) FROM shipments s WHERE s.fulfillment_id = f.id), '[]'),
        'shipped_at', f.shipped_at, 'delivered_at', f.delivered_at, 'created_at', f.created_at, 'updated_at', f.updated_at)
$$;

-- What a label purchase needs, read without locks. p_body: {provider, service} (both optional; provider defaults to
-- the order's shipping method's). 404 for a fulfilment not of the order; 409 unless it is fulfilled or shipped;
-- 422 /provider when the order has no shipping method and none is given; 422 /shipping_address when the order has
-- none. Answers {provider, service, currency, weight_g, to, from} (from: the fulfilment's stock location).
CREATE FUNCTION souq_label_prepare(p_order text, p_fulfillment text, p_body jsonb) RETURNS json LANGUAGE plpgsql STABLE AS $$
DECLARE
    o orders;
    f fulfillments;
    loc stock_locations;
    prov text;
    grams bigint;
BEGIN
    SELECT * INTO o FROM orders WHERE id = p_order;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The order does not exist.';
    END IF;
    SELECT * INTO f FROM fulfillments WHERE id = p_fulfillment AND order_id = o.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The fulfilment does not exist.';
    END IF;
    IF f.status NOT IN ('fulfilled', 'shipped') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = format('The fulfilment is %s; no label can be bought for it.', f.status);
    END IF;
    prov := coalesce(p_body->>'provider', o.shipping_methods->0->>'provider');
    IF prov IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/provider|required|The order has no shipping method: name the shipping provider that sells the label.';
    END IF;
    IF o.shipping_address IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/shipping_address|required|The order has no shipping address.';
    END IF;
    SELECT * INTO loc FROM stock_locations WHERE id = f.location_id;
    SELECT coalesce(sum(i.quantity::bigint * coalesce(v.weight_g, 0)), 0) INTO grams
      FROM fulfillment_items i JOIN order_line_items l ON l.id = i.line_item_id LEFT JOIN product_variants v ON v.id = l.variant_id
     WHERE i.fulfillment_id = f.id;
    RETURN json_build_object('provider', prov, 'service', p_body->>'service', 'currency', o.currency_code, 'weight_g', grams,
        'attempt', (SELECT count(*) FROM shipments WHERE fulfillment_id = f.id),
        'to', o.shipping_address || jsonb_build_object('email', o.email),
        'from', jsonb_strip_nulls(jsonb_build_object('company', loc.name, 'address_1', loc.address_1, 'city', loc.city,
                                                     'postal_code', loc.postal_code, 'country_code', loc.country_code)));
END $$;

-- The bought label becomes a shipment of the fulfilment. p_label: {provider, carrier, tracking_number, tracking_url,
-- label_url, provider_ref, cost, cost_currency}. Answers the fulfilment.
CREATE FUNCTION souq_label_record(p_order text, p_fulfillment text, p_label jsonb, p_actor text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    sid text;
BEGIN
    PERFORM souq_fulfillment_ship(p_order, p_fulfillment, jsonb_build_object('carrier', p_label->>'carrier',
        'tracking_number', p_label->>'tracking_number', 'tracking_url', p_label->>'tracking_url'), p_actor);
    SELECT s.id INTO sid FROM shipments s
     WHERE s.fulfillment_id = p_fulfillment AND s.tracking_number = p_label->>'tracking_number' AND s.label_url IS NULL
     ORDER BY s.created_at DESC LIMIT 1;
    UPDATE shipments SET provider = p_label->>'provider', provider_ref = p_label->>'provider_ref', label_url = p_label->>'label_url',
           label_cost = (p_label->>'cost')::bigint, label_currency = p_label->>'cost_currency', tracking_status = 'pre_transit',
           tracked_at = now()
     WHERE id = sid;
    RETURN (SELECT souq_fulfillment_json(f) FROM fulfillments f WHERE f.id = p_fulfillment);
END $$;

-- A shipment to refresh from its carrier: {provider, ref (provider_ref or tracking number)}; 404 when the shipment is
-- not of the order's fulfilment; 422 /provider when it was not bought through a provider.
CREATE FUNCTION souq_shipment_track_prepare(p_order text, p_fulfillment text, p_shipment text) RETURNS json LANGUAGE plpgsql STABLE AS $$
DECLARE
    s shipments;
BEGIN
    SELECT s1.* INTO s FROM shipments s1 JOIN fulfillments f ON f.id = s1.fulfillment_id
     WHERE s1.id = p_shipment AND f.id = p_fulfillment AND f.order_id = p_order;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The shipment does not exist.';
    END IF;
    IF s.provider IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/provider|not_tracked|The shipment was entered by hand, not bought through a shipping provider: no carrier can be asked.';
    END IF;
    RETURN json_build_object('provider', s.provider, 'ref', coalesce(s.provider_ref, s.tracking_number), 'tracking_number', s.tracking_number);
END $$;

-- Applies a tracking status to the shipments with that tracking number (of that provider, or entered by hand).
-- p_event_id: a carrier event (NULL for a refresh staff asked for): applied once per (plugin, event id), with
-- plugin.webhook_received written only the first time. Answers {duplicate, shipments, delivered} (delivered: the
-- fulfilments this call delivered).
CREATE FUNCTION souq_shipping_tracking_apply(p_plugin text, p_event_id text, p_event_type text, p_data jsonb, p_provider text,
                                             p_tracking_number text, p_status text, p_actor text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    s record;
    o orders;
    fst text;
    n int := 0;
    delivered jsonb := '[]';
BEGIN
    IF p_event_id IS NOT NULL THEN
        INSERT INTO plugin_webhook_events (plugin, event_id, event_type) VALUES (p_plugin, p_event_id, p_event_type)
        ON CONFLICT (plugin, event_id) DO NOTHING;
        IF NOT FOUND THEN
            RETURN jsonb_build_object('duplicate', true, 'shipments', 0, 'delivered', '[]'::jsonb);
        END IF;
        INSERT INTO outbox_events (type, payload) VALUES ('plugin.webhook_received', jsonb_build_object('plugin', p_plugin,
            'event_id', p_event_id, 'event_type', p_event_type, 'data', coalesce(p_data, '{}'::jsonb)));
    END IF;
    FOR s IN SELECT sh.id, sh.fulfillment_id, f.order_id FROM shipments sh JOIN fulfillments f ON f.id = sh.fulfillment_id
              WHERE sh.tracking_number = p_tracking_number AND (sh.provider = p_provider OR sh.provider IS NULL OR p_provider IS NULL)
              ORDER BY f.order_id, sh.id LOOP
        o := souq_order_lock(s.order_id, NULL); -- the order's lock first (as every fulfilment change), then the check
        UPDATE shipments SET tracking_status = p_status, tracked_at = now() WHERE id = s.id;
        n := n + 1;
        SELECT status INTO fst FROM fulfillments WHERE id = s.fulfillment_id;
        IF p_status = 'delivered' AND fst = 'shipped' THEN
            PERFORM souq_fulfillment_deliver(o.id, s.fulfillment_id, p_actor);
            delivered := delivered || to_jsonb(s.fulfillment_id);
        END IF;
    END LOOP;
    RETURN jsonb_build_object('duplicate', false, 'shipments', n, 'delivered', delivered);
END $$;

-- A refresh staff asked for (POST .../shipments/{id}/track): the carrier's status applied; answers the fulfilment.
CREATE FUNCTION souq_shipment_track_record(p_order text, p_fulfillment text, p_shipment text, p_status text, p_actor text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    s shipments;
BEGIN
    SELECT s1.* INTO s FROM shipments s1 JOIN fulfillments f ON f.id = s1.fulfillment_id
     WHERE s1.id = p_shipment AND f.id = p_fulfillment AND f.order_id = p_order;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The shipment does not exist.';
    END IF;
    PERFORM souq_shipping_tracking_apply(NULL, NULL, NULL, NULL, s.provider, s.tracking_number, p_status, p_actor);
    RETURN (SELECT souq_fulfillment_json(f) FROM fulfillments f WHERE f.id = p_fulfillment);
END $$;
