-- 0022_fulfilment_returns.sql: fulfilments, shipments, deliveries and returns (RMA) of orders, and the orders CSV
-- export. C: core/fulfillment*.c; HTTP: api/handlers/fulfillment.c.
--
-- Stock. An order holds its stock as reservations (reference = the order id, expires 'infinity', one per
-- inventory item, at the location checkout picked). A fulfilment from location L takes, per inventory item:
--   1. the order's reservation at L: on_hand and reserved go down together (ledger 'sale'); its backordered
--      units come from what L has on hand now;
--   2. then reservations at other locations: released there (ledger 'release') and sold from L's on hand;
--   3. then, if the order reserved less than it fulfils (variants that did not manage inventory at checkout),
--      L's on hand.
-- What L does not have is 409 insufficient-stock and nothing changes. A consumed part of a reservation becomes
-- a row of its own ('committed' at L, 'released' elsewhere), so reservations keep adding up to the ledger.
-- Everything locks the order row first, then inventory levels per item in location order (as 0003 does).
--
-- State machines (409 invalid-state, SQSTE):
--   fulfilment:   fulfilled -> shipped (a shipment; more parcels may follow) -> delivered
--   order's fulfillment_status, derived from its lines and fulfilments after every change and moved through
--   souq_order_fulfillment_move:
--     unfulfilled -> partially_fulfilled | fulfilled;  partially_fulfilled -> fulfilled;
--     fulfilled -> shipped (every fulfilment shipped);  shipped -> delivered (every fulfilment delivered)
--   return:       requested -> approved | rejected;  approved -> received
--
-- This migration wraps souq_order_json (0019): the old function is renamed souq_order_json_base and the new one
-- adds "fulfillments" and "returns", so changes to the base in 0019 keep working.

-- ---- fulfilments ------------------------------------------------------------------------------------------
CREATE TABLE fulfillments (
    id           text PRIMARY KEY DEFAULT souq_id('ful'),
    order_id     text NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    location_id  text NOT NULL REFERENCES stock_locations (id),
    status       text NOT NULL DEFAULT 'fulfilled' CHECK (status IN ('fulfilled', 'shipped', 'delivered')),
    notify       boolean NOT NULL DEFAULT false,
    actor        text,
    shipped_at   timestamptz,
    delivered_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fulfillments_order_idx ON fulfillments (order_id, id);
CREATE TRIGGER fulfillments_touch BEFORE UPDATE ON fulfillments FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE TABLE fulfillment_items (
    fulfillment_id text NOT NULL REFERENCES fulfillments (id) ON DELETE CASCADE,
    line_item_id   text NOT NULL REFERENCES order_line_items (id) ON DELETE CASCADE,
    quantity       integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (fulfillment_id, line_item_id)
);
CREATE INDEX fulfillment_items_line_idx ON fulfillment_items (line_item_id);

CREATE TABLE shipments (
    id              text PRIMARY KEY DEFAULT souq_id('shp'),
    fulfillment_id  text NOT NULL REFERENCES fulfillments (id) ON DELETE CASCADE,
    carrier         text NOT NULL CHECK (length(carrier) BETWEEN 1 AND 64),
    tracking_number text NOT NULL CHECK (length(tracking_number) BETWEEN 1 AND 128),
    tracking_url    text CHECK (length(tracking_url) <= 2048),
    actor           text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shipments_fulfillment_idx ON shipments (fulfillment_id, id);

-- ---- returns ----------------------------------------------------------------------------------------------
CREATE TABLE returns (
    id            text PRIMARY KEY DEFAULT souq_id('ret'),
    order_id      text NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    status        text NOT NULL CHECK (status IN ('requested', 'approved', 'rejected', 'received')),
    reason        text NOT NULL CHECK (reason IN ('damaged', 'defective', 'wrong_item', 'not_as_described', 'size_or_fit',
                                                  'no_longer_needed', 'other')),
    note          text CHECK (length(note) <= 1000),
    requested_by  text NOT NULL CHECK (requested_by IN ('customer', 'staff')),
    actor         text,
    decision_note text CHECK (length(decision_note) <= 1000),
    refund_amount bigint NOT NULL DEFAULT 0 CHECK (refund_amount >= 0),
    refund_id     text REFERENCES refunds (id),
    refund_status text CHECK (refund_status IN ('succeeded', 'failed')),
    approved_at   timestamptz,
    rejected_at   timestamptz,
    received_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX returns_order_idx ON returns (order_id, id);
CREATE TRIGGER returns_touch BEFORE UPDATE ON returns FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE TABLE return_items (
    return_id    text NOT NULL REFERENCES returns (id) ON DELETE CASCADE,
    line_item_id text NOT NULL REFERENCES order_line_items (id) ON DELETE CASCADE,
    quantity     integer NOT NULL CHECK (quantity > 0),
    restock      boolean,          -- decided at receipt
    location_id  text REFERENCES stock_locations (id), -- where it was restocked
    position     integer NOT NULL,
    PRIMARY KEY (return_id, line_item_id)
);
CREATE INDEX return_items_line_idx ON return_items (line_item_id);

-- ---- JSON -------------------------------------------------------------------------------------------------
CREATE FUNCTION souq_fulfillment_json(f fulfillments) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', f.id, 'object', 'fulfillment', 'order_id', f.order_id, 'location_id', f.location_id,
        'status', f.status, 'notify', f.notify,
        'items', coalesce((SELECT jsonb_agg(jsonb_build_object('line_item_id', i.line_item_id, 'quantity', i.quantity)
                                            ORDER BY l.position) FROM fulfillment_items i JOIN order_line_items l ON l.id = i.line_item_id
                            WHERE i.fulfillment_id = f.id), '[]'),
        'shipments', coalesce((SELECT jsonb_agg(jsonb_build_object('id', s.id, 'object', 'shipment', 'carrier', s.carrier,
                                   'tracking_number', s.tracking_number, 'tracking_url', s.tracking_url, 'created_at', s.created_at)
                                   ORDER BY s.id) FROM shipments s WHERE s.fulfillment_id = f.id), '[]'),
        'shipped_at', f.shipped_at, 'delivered_at', f.delivered_at, 'created_at', f.created_at, 'updated_at', f.updated_at)
$$;

CREATE FUNCTION souq_return_json(r returns) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', r.id, 'object', 'return', 'order_id', r.order_id, 'status', r.status, 'reason', r.reason,
        'note', r.note, 'requested_by', r.requested_by, 'decision_note', r.decision_note,
        'items', coalesce((SELECT jsonb_agg(jsonb_build_object('line_item_id', i.line_item_id, 'quantity', i.quantity,
                                            'restock', i.restock, 'location_id', i.location_id) ORDER BY i.position)
                            FROM return_items i WHERE i.return_id = r.id), '[]'),
        'refund_amount', r.refund_amount, 'refund_id', r.refund_id, 'refund_status', r.refund_status,
        'approved_at', r.approved_at, 'rejected_at', r.rejected_at, 'received_at', r.received_at,
        'created_at', r.created_at, 'updated_at', r.updated_at)
$$;

ALTER FUNCTION souq_order_json(orders, boolean) RENAME TO souq_order_json_base;
CREATE FUNCTION souq_order_json(o orders, p_timeline boolean) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT souq_order_json_base(o, p_timeline) || jsonb_build_object(
        'fulfillments', coalesce((SELECT jsonb_agg(souq_fulfillment_json(f) ORDER BY f.id) FROM fulfillments f WHERE f.order_id = o.id), '[]'),
        'returns', coalesce((SELECT jsonb_agg(souq_return_json(r) ORDER BY r.id) FROM returns r WHERE r.order_id = o.id), '[]'))
$$;

-- ---- the order's fulfilment status ------------------------------------------------------------------------

-- What the order's lines and fulfilments say the status is.
CREATE FUNCTION souq_order_fulfillment_derive(p_order text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN NOT EXISTS (SELECT 1 FROM order_line_items WHERE order_id = p_order AND fulfilled_quantity > 0) THEN 'unfulfilled'
        WHEN EXISTS (SELECT 1 FROM order_line_items WHERE order_id = p_order AND fulfilled_quantity < quantity) THEN 'partially_fulfilled'
        WHEN EXISTS (SELECT 1 FROM fulfillments WHERE order_id = p_order AND status = 'fulfilled') THEN 'fulfilled'
        WHEN EXISTS (SELECT 1 FROM fulfillments WHERE order_id = p_order AND status = 'shipped') THEN 'shipped'
        ELSE 'delivered' END
$$;

-- The fulfilment status machine of an order (see the top of this file); staying put is no move.
CREATE FUNCTION souq_order_fulfillment_move(o orders, p_to text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF o.fulfillment_status = p_to THEN
        RETURN;
    END IF;
    IF NOT ((o.fulfillment_status = 'unfulfilled' AND p_to IN ('partially_fulfilled', 'fulfilled'))
            OR (o.fulfillment_status = 'partially_fulfilled' AND p_to = 'fulfilled')
            OR (o.fulfillment_status = 'fulfilled' AND p_to = 'shipped')
            OR (o.fulfillment_status = 'shipped' AND p_to = 'delivered')) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE',
            MESSAGE = format('The order is %s; it cannot become %s.', o.fulfillment_status, p_to);
    END IF;
    UPDATE orders SET fulfillment_status = p_to WHERE id = o.id;
END $$;

-- The order row, locked; 404 when it does not exist (or is not p_customer's, when given).
CREATE FUNCTION souq_order_lock(p_order text, p_customer text) RETURNS orders LANGUAGE plpgsql AS $$
DECLARE
    o orders;
BEGIN
    SELECT * INTO o FROM orders WHERE id = p_order AND (p_customer IS NULL OR customer_id = p_customer) FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The order does not exist.';
    END IF;
    RETURN o;
END $$;

-- ---- stock of a fulfilment --------------------------------------------------------------------------------

-- Sells p_qty of an item from a location's on hand (its level is locked by the caller).
CREATE FUNCTION souq_fulfillment_sell(p_item text, p_loc text, p_qty int, p_order text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    avail int;
BEGIN
    SELECT available INTO avail FROM inventory_levels WHERE inventory_item_id = p_item AND location_id = p_loc;
    IF coalesce(avail, 0) < p_qty THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTK', MESSAGE = format('The location has %s of %s available; the fulfilment needs %s.',
            coalesce(avail, 0), coalesce((SELECT sku FROM inventory_items WHERE id = p_item), p_item), p_qty);
    END IF;
    UPDATE inventory_levels SET on_hand = on_hand - p_qty, updated_at = now() WHERE inventory_item_id = p_item AND location_id = p_loc;
    INSERT INTO inventory_ledger (inventory_item_id, location_id, delta_on_hand, reason, reference)
    VALUES (p_item, p_loc, -p_qty, 'sale', p_order);
END $$;

-- Ends p_qty reserved + p_back backordered units of a reservation as p_status: the whole row, or a split-off part.
CREATE FUNCTION souq_reservation_consume(r reservations, p_qty int, p_back int, p_status text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_qty + p_back = 0 THEN
        RETURN;
    END IF;
    IF p_qty = r.quantity AND p_back = r.backordered THEN
        UPDATE reservations SET status = p_status WHERE id = r.id;
    ELSE
        UPDATE reservations SET quantity = quantity - p_qty, backordered = backordered - p_back WHERE id = r.id;
        INSERT INTO reservations (inventory_item_id, location_id, quantity, backordered, reference, status, expires_at)
        VALUES (r.inventory_item_id, r.location_id, p_qty, p_back, r.reference, p_status, r.expires_at);
    END IF;
END $$;

-- Takes p_qty units of an item for an order from location p_loc (the rules at the top of this file).
CREATE FUNCTION souq_fulfillment_take(p_order text, p_item text, p_loc text, p_qty int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    n int := p_qty;
    r reservations;
    t int;
    b int;
BEGIN
    INSERT INTO inventory_levels (inventory_item_id, location_id) VALUES (p_item, p_loc) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM inventory_levels WHERE inventory_item_id = p_item ORDER BY location_id FOR UPDATE;
    FOR r IN SELECT * FROM reservations WHERE reference = p_order AND status = 'active' AND inventory_item_id = p_item
              ORDER BY (location_id = p_loc) DESC, id FOR UPDATE
    LOOP
        EXIT WHEN n = 0;
        t := least(n, r.quantity);
        b := least(n - t, r.backordered);
        IF r.location_id = p_loc THEN
            IF t > 0 THEN
                UPDATE inventory_levels SET on_hand = on_hand - t, reserved = reserved - t, updated_at = now()
                 WHERE inventory_item_id = p_item AND location_id = p_loc;
                INSERT INTO inventory_ledger (inventory_item_id, location_id, delta_on_hand, delta_reserved, reason, reference)
                VALUES (p_item, p_loc, -t, -t, 'sale', p_order);
            END IF;
            IF b > 0 THEN
                PERFORM souq_fulfillment_sell(p_item, p_loc, b, p_order);
            END IF;
            PERFORM souq_reservation_consume(r, t, b, 'committed');
        ELSE
            IF t > 0 THEN
                UPDATE inventory_levels SET reserved = reserved - t, updated_at = now()
                 WHERE inventory_item_id = p_item AND location_id = r.location_id;
                INSERT INTO inventory_ledger (inventory_item_id, location_id, delta_reserved, reason, reference)
                VALUES (p_item, r.location_id, -t, 'release', p_order);
            END IF;
            PERFORM souq_fulfillment_sell(p_item, p_loc, t + b, p_order);
            PERFORM souq_reservation_consume(r, t, b, 'released');
        END IF;
        n := n - t - b;
    END LOOP;
    IF n > 0 THEN
        PERFORM souq_fulfillment_sell(p_item, p_loc, n, p_order);
    END IF;
END $$;

-- ---- creating a fulfilment --------------------------------------------------------------------------------

-- Checks a fulfilment request against the order: open, the location exists, each line is the order's, once,
-- and at most what is left to fulfil. p_body: {location_id, items: [{line_item_id, quantity}], notify, capture}.
CREATE FUNCTION souq_fulfillment_check(o orders, p_body jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    it record;
    l order_line_items;
BEGIN
    IF o.status = 'canceled' THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = 'The order is canceled; it cannot be fulfilled.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM stock_locations WHERE id = p_body->>'location_id') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/location_id|not_found|The stock location does not exist.';
    END IF;
    FOR it IN SELECT e.i, (e.n - 1)::int AS idx FROM jsonb_array_elements(p_body->'items') WITH ORDINALITY e(i, n) LOOP
        SELECT * INTO l FROM order_line_items WHERE id = it.i->>'line_item_id' AND order_id = o.id;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/items/%s/line_item_id|not_found|The order has no such line.', it.idx);
        END IF;
        IF EXISTS (SELECT 1 FROM jsonb_array_elements(p_body->'items') WITH ORDINALITY x(i, n) WHERE x.i->>'line_item_id' = l.id AND x.n - 1 < it.idx) THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/items/%s/line_item_id|repeated|Each line may appear once.', it.idx);
        END IF;
        IF (it.i->>'quantity')::int > l.quantity - l.fulfilled_quantity THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/items/%s/quantity|exceeds_unfulfilled|At most %s of this line can still be fulfilled.',
                it.idx, l.quantity - l.fulfilled_quantity);
        END IF;
    END LOOP;
END $$;

-- Step 1 (no lock): checks the request; answers whether the payment is to be captured before fulfilling.
CREATE FUNCTION souq_fulfillment_prepare(p_order text, p_body jsonb) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    o orders;
BEGIN
    SELECT * INTO o FROM orders WHERE id = p_order;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The order does not exist.';
    END IF;
    PERFORM souq_fulfillment_check(o, p_body);
    RETURN json_build_object('capture', coalesce((p_body->>'capture')::boolean, false) AND o.payment_status IN ('pending', 'authorized'));
END $$;

-- Step 2: the fulfilment, its stock, the lines, the order's status and events, in one transaction.
CREATE FUNCTION souq_fulfillment_create(p_order text, p_body jsonb, p_actor text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    o orders;
    f fulfillments;
    need record;
    st text;
BEGIN
    o := souq_order_lock(p_order, NULL);
    PERFORM souq_fulfillment_check(o, p_body);
    INSERT INTO fulfillments (order_id, location_id, notify, actor)
    VALUES (o.id, p_body->>'location_id', coalesce((p_body->>'notify')::boolean, false), p_actor) RETURNING * INTO f;
    INSERT INTO fulfillment_items (fulfillment_id, line_item_id, quantity)
    SELECT f.id, i->>'line_item_id', (i->>'quantity')::int FROM jsonb_array_elements(p_body->'items') i;
    -- the stock, per inventory item in id order (bundles and shared items summed)
    FOR need IN
        SELECT vii.inventory_item_id AS item, sum(vii.required_quantity * fi.quantity)::int AS qty
          FROM fulfillment_items fi
          JOIN order_line_items l ON l.id = fi.line_item_id
          JOIN product_variants v ON v.id = l.variant_id AND v.manage_inventory
          JOIN variant_inventory_items vii ON vii.variant_id = v.id
         WHERE fi.fulfillment_id = f.id
         GROUP BY vii.inventory_item_id ORDER BY vii.inventory_item_id
    LOOP
        PERFORM souq_fulfillment_take(o.id, need.item, f.location_id, need.qty);
    END LOOP;
    UPDATE order_line_items l SET fulfilled_quantity = l.fulfilled_quantity + fi.quantity
      FROM fulfillment_items fi WHERE fi.fulfillment_id = f.id AND l.id = fi.line_item_id;
    st := souq_order_fulfillment_derive(o.id);
    PERFORM souq_order_fulfillment_move(o, st);
    IF st = 'fulfilled' THEN -- nothing is left to ship: what the order still holds goes back
        PERFORM souq_release(o.id);
    END IF;
    PERFORM souq_order_event(o.id, 'fulfillment.created', jsonb_build_object('fulfillment_id', f.id, 'location_id', f.location_id,
        'notify', f.notify, 'items', (SELECT jsonb_agg(jsonb_build_object('line_item_id', line_item_id, 'quantity', quantity))
                                        FROM fulfillment_items WHERE fulfillment_id = f.id)), p_actor, true);
    IF st = 'fulfilled' THEN
        PERFORM souq_order_event(o.id, 'order.fulfilled', jsonb_build_object('number', o.number), p_actor, true);
    END IF;
    RETURN souq_fulfillment_json(f);
END $$;

-- A fulfilment of an order, locked (lock the order first). 404 when missing.
CREATE FUNCTION souq_fulfillment_lock(p_order text, p_fulfillment text) RETURNS fulfillments LANGUAGE plpgsql AS $$
DECLARE
    f fulfillments;
BEGIN
    SELECT * INTO f FROM fulfillments WHERE id = p_fulfillment AND order_id = p_order FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The fulfilment does not exist.';
    END IF;
    RETURN f;
END $$;

-- A shipment (a parcel with tracking) of a fulfilment: fulfilled -> shipped; more parcels while shipped.
-- p_body: {carrier, tracking_number, tracking_url}.
CREATE FUNCTION souq_fulfillment_ship(p_order text, p_fulfillment text, p_body jsonb, p_actor text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    o orders;
    f fulfillments;
    s shipments;
    st text;
BEGIN
    o := souq_order_lock(p_order, NULL);
    f := souq_fulfillment_lock(o.id, p_fulfillment);
    IF f.status NOT IN ('fulfilled', 'shipped') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = format('The fulfilment is %s; it cannot be shipped.', f.status);
    END IF;
    INSERT INTO shipments (fulfillment_id, carrier, tracking_number, tracking_url, actor)
    VALUES (f.id, p_body->>'carrier', p_body->>'tracking_number', p_body->>'tracking_url', p_actor) RETURNING * INTO s;
    UPDATE fulfillments SET status = 'shipped', shipped_at = coalesce(shipped_at, now()) WHERE id = f.id RETURNING * INTO f;
    PERFORM souq_order_event(o.id, 'shipment.created', jsonb_build_object('fulfillment_id', f.id, 'shipment_id', s.id,
        'carrier', s.carrier, 'tracking_number', s.tracking_number, 'tracking_url', s.tracking_url), p_actor, true);
    st := souq_order_fulfillment_derive(o.id);
    IF st = 'shipped' AND o.fulfillment_status <> 'shipped' THEN
        PERFORM souq_order_fulfillment_move(o, st);
        PERFORM souq_order_event(o.id, 'order.shipped', jsonb_build_object('number', o.number, 'tracking',
            (SELECT jsonb_agg(jsonb_build_object('fulfillment_id', x.fulfillment_id, 'carrier', x.carrier, 'tracking_number', x.tracking_number,
                                                 'tracking_url', x.tracking_url) ORDER BY x.id)
               FROM shipments x JOIN fulfillments y ON y.id = x.fulfillment_id WHERE y.order_id = o.id)), p_actor, true);
    END IF;
    RETURN souq_fulfillment_json(f);
END $$;

-- Delivery confirmation: shipped -> delivered; the order is delivered when every fulfilment is.
CREATE FUNCTION souq_fulfillment_deliver(p_order text, p_fulfillment text, p_actor text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    o orders;
    f fulfillments;
    st text;
BEGIN
    o := souq_order_lock(p_order, NULL);
    f := souq_fulfillment_lock(o.id, p_fulfillment);
    IF f.status <> 'shipped' THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = format('The fulfilment is %s; only a shipped fulfilment can be delivered.', f.status);
    END IF;
    UPDATE fulfillments SET status = 'delivered', delivered_at = now() WHERE id = f.id RETURNING * INTO f;
    PERFORM souq_order_event(o.id, 'fulfillment.delivered', jsonb_build_object('fulfillment_id', f.id), p_actor, true);
    st := souq_order_fulfillment_derive(o.id);
    IF st = 'delivered' THEN
        PERFORM souq_order_fulfillment_move(o, st);
        PERFORM souq_order_event(o.id, 'order.delivered', jsonb_build_object('number', o.number), p_actor, true);
    END IF;
    RETURN souq_fulfillment_json(f);
END $$;

-- ---- returns ----------------------------------------------------------------------------------------------

-- A return request: by the customer (p_customer: only their order, 'requested') or by staff (p_customer NULL:
-- 'approved' at once). p_body: {items: [{line_item_id, quantity}], reason, note}. A line can be returned up to
-- what was fulfilled, less what other returns that are not rejected hold.
CREATE FUNCTION souq_return_create(p_order text, p_customer text, p_body jsonb, p_actor text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    o orders;
    r returns;
    it record;
    l order_line_items;
    held int;
BEGIN
    o := souq_order_lock(p_order, p_customer);
    IF o.status = 'canceled' THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = 'The order is canceled; nothing can be returned.';
    END IF;
    FOR it IN SELECT e.i, (e.n - 1)::int AS idx FROM jsonb_array_elements(p_body->'items') WITH ORDINALITY e(i, n) LOOP
        SELECT * INTO l FROM order_line_items WHERE id = it.i->>'line_item_id' AND order_id = o.id;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/items/%s/line_item_id|not_found|The order has no such line.', it.idx);
        END IF;
        IF EXISTS (SELECT 1 FROM jsonb_array_elements(p_body->'items') WITH ORDINALITY x(i, n) WHERE x.i->>'line_item_id' = l.id AND x.n - 1 < it.idx) THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/items/%s/line_item_id|repeated|Each line may appear once.', it.idx);
        END IF;
        SELECT coalesce(sum(ri.quantity), 0) INTO held FROM return_items ri JOIN returns x ON x.id = ri.return_id
         WHERE ri.line_item_id = l.id AND x.status <> 'rejected';
        IF (it.i->>'quantity')::int > l.fulfilled_quantity - held THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/items/%s/quantity|exceeds_returnable|At most %s of this line can be returned (fulfilled and not yet in a return).',
                it.idx, greatest(l.fulfilled_quantity - held, 0));
        END IF;
    END LOOP;
    INSERT INTO returns (order_id, status, reason, note, requested_by, actor, approved_at)
    VALUES (o.id, CASE WHEN p_customer IS NULL THEN 'approved' ELSE 'requested' END, p_body->>'reason', p_body->>'note',
            CASE WHEN p_customer IS NULL THEN 'staff' ELSE 'customer' END, p_actor,
            CASE WHEN p_customer IS NULL THEN now() END)
    RETURNING * INTO r;
    INSERT INTO return_items (return_id, line_item_id, quantity, position)
    SELECT r.id, e.i->>'line_item_id', (e.i->>'quantity')::int, (e.n - 1)::int
      FROM jsonb_array_elements(p_body->'items') WITH ORDINALITY e(i, n);
    PERFORM souq_order_event(o.id, 'return.requested', jsonb_build_object('return_id', r.id, 'reason', r.reason,
        'requested_by', r.requested_by, 'items', p_body->'items'), p_actor, true);
    IF r.status = 'approved' THEN
        PERFORM souq_order_event(o.id, 'return.approved', jsonb_build_object('return_id', r.id), p_actor, true);
    END IF;
    RETURN souq_return_json(r);
END $$;

-- A return of an order, locked (lock the order first). 404 when missing.
CREATE FUNCTION souq_return_lock(p_order text, p_return text) RETURNS returns LANGUAGE plpgsql AS $$
DECLARE
    r returns;
BEGIN
    SELECT * INTO r FROM returns WHERE id = p_return AND order_id = p_order FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The return does not exist.';
    END IF;
    RETURN r;
END $$;

-- requested -> approved | rejected. p_body: {note}.
CREATE FUNCTION souq_return_decide(p_order text, p_return text, p_approve boolean, p_body jsonb, p_actor text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    o orders;
    r returns;
BEGIN
    o := souq_order_lock(p_order, NULL);
    r := souq_return_lock(o.id, p_return);
    IF r.status <> 'requested' THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = format('The return is %s; only a requested return can be %s.', r.status,
            CASE WHEN p_approve THEN 'approved' ELSE 'rejected' END);
    END IF;
    UPDATE returns SET status = CASE WHEN p_approve THEN 'approved' ELSE 'rejected' END, decision_note = p_body->>'note',
           approved_at = CASE WHEN p_approve THEN now() END, rejected_at = CASE WHEN p_approve THEN NULL ELSE now() END
     WHERE id = r.id RETURNING * INTO r;
    PERFORM souq_order_event(o.id, CASE WHEN p_approve THEN 'return.approved' ELSE 'return.rejected' END,
        jsonb_build_object('return_id', r.id, 'note', r.decision_note), p_actor, true);
    RETURN souq_return_json(r);
END $$;

-- approved -> received: the goods are back. p_body: {restock (default true), location_id, items: [{line_item_id,
-- restock}], refund (default true)}. Restocked units go back on hand (ledger 'return') at location_id, or where
-- the line was last fulfilled from. returned_quantity rises. The refund amount is the returned units' share of
-- their lines' totals (the cumulative share, so returning a line in parts adds up to its total exactly), at most
-- what the order's captured payment still has; the caller refunds it through the refund flow (core/order.h).
-- Answers {"return": ..., "refund_amount": n}.
CREATE FUNCTION souq_return_receive(p_order text, p_return text, p_body jsonb, p_actor text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    o orders;
    r returns;
    it record;
    ri return_items;
    l order_line_items;
    loc text;
    v_restock boolean;
    vii record;
    v_amount bigint := 0;
    room bigint;
BEGIN
    o := souq_order_lock(p_order, NULL);
    r := souq_return_lock(o.id, p_return);
    IF r.status <> 'approved' THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = format('The return is %s; only an approved return can be received.', r.status);
    END IF;
    IF p_body->>'location_id' IS NOT NULL AND NOT EXISTS (SELECT 1 FROM stock_locations WHERE id = p_body->>'location_id') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/location_id|not_found|The stock location does not exist.';
    END IF;
    FOR it IN SELECT e.i, (e.n - 1)::int AS idx FROM jsonb_array_elements(coalesce(p_body->'items', '[]')) WITH ORDINALITY e(i, n) LOOP
        IF NOT EXISTS (SELECT 1 FROM return_items WHERE return_id = r.id AND line_item_id = it.i->>'line_item_id') THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/items/%s/line_item_id|not_found|The return has no such line.', it.idx);
        END IF;
    END LOOP;
    FOR ri IN SELECT * FROM return_items WHERE return_id = r.id ORDER BY position LOOP
        SELECT * INTO l FROM order_line_items WHERE id = ri.line_item_id FOR UPDATE;
        v_restock := coalesce((SELECT (i->>'restock')::boolean FROM jsonb_array_elements(coalesce(p_body->'items', '[]')) i
                              WHERE i->>'line_item_id' = ri.line_item_id LIMIT 1), (p_body->>'restock')::boolean, true);
        loc := NULL;
        IF v_restock THEN
            loc := coalesce(p_body->>'location_id', (SELECT f.location_id FROM fulfillments f JOIN fulfillment_items fi ON fi.fulfillment_id = f.id
                                                     WHERE fi.line_item_id = l.id ORDER BY f.id DESC LIMIT 1));
            FOR vii IN SELECT x.inventory_item_id, x.required_quantity FROM variant_inventory_items x
                         JOIN product_variants v ON v.id = x.variant_id AND v.manage_inventory
                        WHERE x.variant_id = l.variant_id ORDER BY x.inventory_item_id LOOP
                PERFORM souq_inventory_adjust(vii.inventory_item_id, loc, vii.required_quantity * ri.quantity, 'return', o.id,
                                              'return ' || r.id, p_actor);
            END LOOP;
        END IF;
        UPDATE return_items SET restock = v_restock, location_id = loc WHERE return_id = r.id AND line_item_id = ri.line_item_id;
        v_amount := v_amount + (l.total * (l.returned_quantity + ri.quantity)) / l.quantity - (l.total * l.returned_quantity) / l.quantity;
        UPDATE order_line_items SET returned_quantity = returned_quantity + ri.quantity WHERE id = l.id;
    END LOOP;
    IF NOT coalesce((p_body->>'refund')::boolean, true) OR o.payment_status NOT IN ('paid', 'partially_refunded') THEN
        v_amount := 0;
    END IF;
    SELECT coalesce(max(captured_amount - refunded_amount - refund_pending), 0) INTO room FROM payments WHERE order_id = o.id AND status = 'captured';
    v_amount := greatest(least(v_amount, room), 0);
    UPDATE returns SET status = 'received', received_at = now(), refund_amount = v_amount WHERE id = r.id RETURNING * INTO r;
    PERFORM souq_order_event(o.id, 'return.received', jsonb_build_object('return_id', r.id, 'refund_amount', v_amount,
        'items', (SELECT jsonb_agg(jsonb_build_object('line_item_id', line_item_id, 'quantity', quantity, 'restock', return_items.restock,
                                                      'location_id', location_id) ORDER BY position)
                    FROM return_items WHERE return_id = r.id)), p_actor, true);
    RETURN json_build_object('return', souq_return_json(r), 'refund_amount', v_amount);
END $$;

-- The refund flow's outcome for a received return. Answers the return.
CREATE FUNCTION souq_return_refunded(p_return text, p_refund text, p_succeeded boolean) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r returns;
BEGIN
    UPDATE returns SET refund_id = p_refund, refund_status = CASE WHEN p_succeeded THEN 'succeeded' ELSE 'failed' END
     WHERE id = p_return RETURNING * INTO r;
    RETURN souq_return_json(r);
END $$;

-- ---- the orders CSV export --------------------------------------------------------------------------------

-- A CSV cell of text that a spreadsheet shows as text: quoted when needed, and a cell that would start a formula
-- (=, +, -, @, tab, carriage return) gets a leading apostrophe (OWASP's CSV injection advice).
CREATE FUNCTION souq_csv_cell(v text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT souq_csv_field(CASE WHEN v ~ '^[=+\-@\t\r]' THEN '''' || v ELSE v END)
$$;

-- The orders that GET /v1/admin/orders would list with these filters (same parameters, same meaning), all of
-- them, newest first, as CSV lines (header first, no line ends). Amounts are minor units.
CREATE FUNCTION souq_export_orders_csv(f_status text, f_payment text, f_fulfillment text, f_customer text, f_channel text,
                                       f_currency text, f_after text, f_before text, f_min text, f_max text, f_q text)
RETURNS SETOF text LANGUAGE sql STABLE AS $$
    SELECT 'number,id,placed_at,status,payment_status,fulfillment_status,email,customer_id,sales_channel_id,currency_code,'
           'item_subtotal,discount_total,shipping_total,tax_total,total,paid_total,refunded_total,items,units,'
           'shipping_name,shipping_city,shipping_country,note'
    UNION ALL
    (SELECT concat_ws(',', o.number, o.id, to_char(o.placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), o.status,
                o.payment_status, o.fulfillment_status, souq_csv_cell(o.email), o.customer_id, o.sales_channel_id, o.currency_code,
                o.item_subtotal, o.discount_total, o.shipping_total, o.tax_total, o.total, o.paid_total, o.refunded_total,
                (SELECT count(*) FROM order_line_items l WHERE l.order_id = o.id),
                (SELECT coalesce(sum(l.quantity), 0) FROM order_line_items l WHERE l.order_id = o.id),
                souq_csv_cell(nullif(concat_ws(' ', o.shipping_address->>'first_name', o.shipping_address->>'last_name'), '')),
                souq_csv_cell(o.shipping_address->>'city'), souq_csv_cell(o.shipping_address->>'country_code'), souq_csv_cell(o.note))
       FROM orders o
      WHERE (f_status IS NULL OR o.status = f_status) AND (f_payment IS NULL OR o.payment_status = f_payment)
        AND (f_fulfillment IS NULL OR o.fulfillment_status = f_fulfillment) AND (f_customer IS NULL OR o.customer_id = f_customer)
        AND (f_channel IS NULL OR o.sales_channel_id = f_channel) AND (f_currency IS NULL OR o.currency_code = lower(f_currency))
        AND (f_after IS NULL OR o.placed_at >= f_after::timestamptz) AND (f_before IS NULL OR o.placed_at < f_before::timestamptz)
        AND (f_min IS NULL OR o.total >= f_min::bigint) AND (f_max IS NULL OR o.total <= f_max::bigint)
        AND (f_q IS NULL OR lower(o.email) = lower(f_q) OR o.number::text = ltrim(f_q, '#'))
      ORDER BY o.id DESC)
$$;

-- GET /v1/admin/orders/{id}/returns: (json, id) newest first; 404 for a missing order.
CREATE FUNCTION souq_order_returns(p_order text, p_after text, p_limit int) RETURNS TABLE (json text, id text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = p_order) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The order does not exist.';
    END IF;
    RETURN QUERY SELECT souq_return_json(r)::text, r.id FROM returns r
                  WHERE r.order_id = p_order AND (p_after IS NULL OR r.id < p_after) ORDER BY r.id DESC LIMIT p_limit;
END $$;
