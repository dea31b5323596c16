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
-- adds "fulfillments", "returns" and "outstanding_amount", so changes to the base in 0019 keep working.
--
-- Also here: order edits by staff before fulfilment (souq_order_edit) and draft orders (souq_draft_order_*).

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

-- What the order still has to collect after edits that raised its total (Shopify's total_outstanding): the
-- payment status stays as it is; staff collect the difference separately (a manual payment, a new link).
ALTER TABLE orders ADD COLUMN outstanding_amount bigint NOT NULL DEFAULT 0 CHECK (outstanding_amount >= 0);

-- plpgsql, not sql: its plans are kept per session (about 5 us per order instead of 30; checkout answers with it).
ALTER FUNCTION souq_order_json(orders, boolean) RENAME TO souq_order_json_base;
CREATE FUNCTION souq_order_json(o orders, p_timeline boolean) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN souq_order_json_base(o, p_timeline) || jsonb_build_object(
        'outstanding_amount', o.outstanding_amount,
        'fulfillments', coalesce((SELECT jsonb_agg(souq_fulfillment_json(f) ORDER BY f.id) FROM fulfillments f WHERE f.order_id = o.id), '[]'),
        'returns', coalesce((SELECT jsonb_agg(souq_return_json(r) ORDER BY r.id) FROM returns r WHERE r.order_id = o.id), '[]'));
END $$;

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

-- ---- order edits (staff, before fulfilment) ---------------------------------------------------------------
-- The base price of a variant for a currency and quantity (the volume tier), or NULL: what staff-made lines
-- cost when staff give no price (order edits, draft orders). Price lists and promotions do not apply.
CREATE FUNCTION souq_variant_base_price(p_variant text, p_currency text, p_quantity int) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT amount FROM prices WHERE variant_id = p_variant AND price_list_id IS NULL AND currency_code = lower(p_currency)
       AND min_quantity <= greatest(p_quantity, 1) ORDER BY min_quantity DESC LIMIT 1
$$;

-- A new order line of a variant, snapshot as checkout makes them; p_unit_price NULL: the base price (SQ422 at
-- p_pointer when there is none). No tax or discount: see README (order edits).
CREATE FUNCTION souq_order_line_new(p_order text, p_variant text, p_quantity int, p_unit_price bigint, p_currency text,
                                    p_position int, p_pointer text) RETURNS order_line_items LANGUAGE plpgsql AS $$
DECLARE
    v product_variants;
    p products;
    price bigint;
    l order_line_items;
BEGIN
    SELECT * INTO v FROM product_variants WHERE id = p_variant;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = p_pointer || '/variant_id|not_found|The variant does not exist.';
    END IF;
    SELECT * INTO p FROM products WHERE id = v.product_id;
    price := coalesce(p_unit_price, souq_variant_base_price(v.id, p_currency, p_quantity));
    IF price IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = p_pointer || '/variant_id|not_priced|The variant has no price in the order''s currency; give unit_price.';
    END IF;
    INSERT INTO order_line_items (order_id, variant_id, product_id, title, variant_title, sku, requires_shipping, quantity, unit_price,
                                  subtotal, total, position)
    VALUES (p_order, v.id, p.id, p.title, v.title, v.sku, v.requires_shipping, p_quantity, price, price * p_quantity,
            price * p_quantity, p_position)
    RETURNING * INTO l;
    RETURN l;
END $$;

-- The stock an order holds, again for its current lines, all or nothing (SQSTK 409 when short).
CREATE FUNCTION souq_order_rereserve(o orders) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    lines jsonb;
BEGIN
    PERFORM souq_release(o.id);
    SELECT jsonb_agg(jsonb_build_object('variant_id', variant_id, 'quantity', quantity)) INTO lines
      FROM order_line_items WHERE order_id = o.id AND variant_id IS NOT NULL;
    IF lines IS NOT NULL THEN
        BEGIN
            PERFORM souq_reserve(lines, o.sales_channel_id, o.id, 1);
        EXCEPTION WHEN SQLSTATE 'SQ409' THEN
            RAISE EXCEPTION USING ERRCODE = 'SQSTK', MESSAGE = SQLERRM;
        END;
        UPDATE reservations SET expires_at = 'infinity' WHERE reference = o.id AND status = 'active';
    END IF;
END $$;

-- POST /v1/admin/orders/{id}/edits {add: [{variant_id, quantity, unit_price}], remove: [line_id],
-- change: [{line_id, quantity}], note}: one transaction. Changed lines keep their unit price and their
-- discount and tax (each tax line) in proportion, rounded down; added lines cost unit_price or the base price. Stock is reserved again for
-- the new lines, all or nothing. The difference of the total is settled (README): a higher total adds to
-- outstanding_amount; a lower one first lowers outstanding_amount, then the open authorization's amount (the
-- capture takes less), then is refunded from the captured payment: the caller refunds refund_amount.
-- Answers {"order": the order with its timeline, "refund_amount": n}.
CREATE FUNCTION souq_order_edit(p_order text, p_body jsonb, p_actor text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    o orders;
    l order_line_items;
    it record;
    pay payments;
    old_sub bigint; old_disc bigint; old_tax bigint; old_total bigint;
    new_sub bigint; new_disc bigint; new_tax bigint; new_total bigint;
    nq int;
    oq int;
    pos int;
    delta bigint;
    rest bigint;
    outstanding bigint;
    reduced bigint := 0;
    refund bigint := 0;
    room bigint;
BEGIN
    o := souq_order_lock(p_order, NULL);
    IF o.status = 'canceled' OR o.payment_status IN ('voided', 'refunded') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = format('The order is %s; it cannot be edited.',
            CASE WHEN o.status = 'canceled' THEN 'canceled' ELSE o.payment_status END);
    END IF;
    IF o.fulfillment_status <> 'unfulfilled' THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = format('The order is %s; only an unfulfilled order can be edited.', o.fulfillment_status);
    END IF;
    IF coalesce(jsonb_array_length(p_body->'add'), 0) + coalesce(jsonb_array_length(p_body->'remove'), 0)
       + coalesce(jsonb_array_length(p_body->'change'), 0) = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/add|required|An edit adds, removes or changes at least one line.';
    END IF;
    SELECT coalesce(sum(subtotal), 0), coalesce(sum(discount_total), 0), coalesce(sum(tax_total), 0), coalesce(sum(total), 0)
      INTO old_sub, old_disc, old_tax, old_total FROM order_line_items WHERE order_id = o.id;
    -- removals
    FOR it IN SELECT e.v, (e.n - 1)::int AS idx FROM jsonb_array_elements_text(coalesce(p_body->'remove', '[]')) WITH ORDINALITY e(v, n) LOOP
        DELETE FROM order_line_items WHERE id = it.v AND order_id = o.id RETURNING * INTO l;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/remove/%s|not_found|The order has no such line (or it is listed twice).', it.idx);
        END IF;
        PERFORM souq_order_event(o.id, 'order.line_removed', jsonb_build_object('line_item_id', l.id, 'variant_id', l.variant_id,
            'sku', l.sku, 'quantity', l.quantity, 'total', l.total), p_actor, false);
    END LOOP;
    -- quantity changes: the snapshot unit price; discount and tax in proportion
    FOR it IN SELECT e.c, (e.n - 1)::int AS idx FROM jsonb_array_elements(coalesce(p_body->'change', '[]')) WITH ORDINALITY e(c, n) LOOP
        SELECT * INTO l FROM order_line_items WHERE id = it.c->>'line_id' AND order_id = o.id;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/change/%s/line_id|not_found|The order has no such line (or it was removed).', it.idx);
        END IF;
        IF EXISTS (SELECT 1 FROM jsonb_array_elements(p_body->'change') WITH ORDINALITY x(c, n) WHERE x.c->>'line_id' = l.id AND x.n - 1 < it.idx) THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/change/%s/line_id|repeated|Each line may be changed once.', it.idx);
        END IF;
        nq := (it.c->>'quantity')::int;
        oq := l.quantity;
        CONTINUE WHEN nq = oq;
        UPDATE order_line_items SET quantity = nq, subtotal = unit_price * nq, discount_total = discount_total * nq / oq,
               tax_lines = coalesce((SELECT jsonb_agg(t || jsonb_build_object('amount', (t->>'amount')::bigint * nq / oq) ORDER BY n)
                                       FROM jsonb_array_elements(tax_lines) WITH ORDINALITY x(t, n)), '[]'),
               tax_total = CASE WHEN jsonb_array_length(tax_lines) > 0
                                THEN (SELECT sum((t->>'amount')::bigint * nq / oq) FROM jsonb_array_elements(tax_lines) t)
                                ELSE tax_total * nq / oq END
         WHERE id = l.id RETURNING * INTO l;
        UPDATE order_line_items SET total = subtotal - discount_total + CASE WHEN o.tax_inclusive THEN 0 ELSE tax_total END
         WHERE id = l.id;
        PERFORM souq_order_event(o.id, 'order.line_quantity_changed', jsonb_build_object('line_item_id', l.id, 'sku', l.sku,
            'from', oq, 'to', nq), p_actor, false);
    END LOOP;
    -- additions
    SELECT coalesce(max(position), -1) + 1 INTO pos FROM order_line_items WHERE order_id = o.id;
    FOR it IN SELECT e.a, (e.n - 1)::int AS idx FROM jsonb_array_elements(coalesce(p_body->'add', '[]')) WITH ORDINALITY e(a, n) LOOP
        l := souq_order_line_new(o.id, it.a->>'variant_id', (it.a->>'quantity')::int, (it.a->>'unit_price')::bigint, o.currency_code,
                                 pos, format('/add/%s', it.idx));
        pos := pos + 1;
        PERFORM souq_order_event(o.id, 'order.line_added', jsonb_build_object('line_item_id', l.id, 'variant_id', l.variant_id,
            'sku', l.sku, 'quantity', l.quantity, 'unit_price', l.unit_price, 'total', l.total), p_actor, false);
    END LOOP;
    IF NOT EXISTS (SELECT 1 FROM order_line_items WHERE order_id = o.id) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/remove|not_allowed|An order keeps at least one line; cancel it instead.';
    END IF;
    SELECT sum(subtotal), sum(discount_total), sum(tax_total), sum(total) INTO new_sub, new_disc, new_tax, new_total
      FROM order_line_items WHERE order_id = o.id;
    delta := new_total - old_total;
    IF o.total + delta < o.gift_card_total THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/remove|not_allowed|The new total would be less than what gift cards paid.';
    END IF;
    -- stock, all or nothing
    PERFORM souq_order_rereserve(o);
    -- settle the difference
    outstanding := o.outstanding_amount;
    IF delta > 0 THEN
        outstanding := outstanding + delta;
    ELSIF delta < 0 THEN
        rest := -delta;
        reduced := least(rest, outstanding);
        outstanding := outstanding - reduced;
        rest := rest - reduced;
        reduced := 0;
        IF rest > 0 THEN
            SELECT * INTO pay FROM payments WHERE order_id = o.id AND status IN ('authorized', 'pending') ORDER BY id LIMIT 1 FOR UPDATE;
            IF FOUND THEN
                reduced := least(rest, pay.amount);
                UPDATE payments SET amount = amount - reduced WHERE id = pay.id;
                rest := rest - reduced;
            END IF;
        END IF;
        IF rest > 0 AND o.payment_status IN ('paid', 'partially_refunded') THEN
            SELECT coalesce(max(captured_amount - refunded_amount - refund_pending), 0) INTO room FROM payments
             WHERE order_id = o.id AND status = 'captured';
            refund := least(rest, room);
        END IF;
    END IF;
    UPDATE orders SET item_subtotal = item_subtotal + new_sub - old_sub, discount_total = discount_total + new_disc - old_disc,
           tax_total = tax_total + new_tax - old_tax, total = total + delta, outstanding_amount = outstanding
     WHERE id = o.id;
    PERFORM souq_order_event(o.id, 'order.edited', jsonb_build_object('old_total', o.total, 'new_total', o.total + delta,
        'note', p_body->>'note', 'outstanding_amount', outstanding, 'authorization_reduced', reduced, 'refund_amount', refund), p_actor, true);
    SELECT * INTO o FROM orders WHERE id = o.id;
    RETURN json_build_object('order', souq_order_json(o, true), 'refund_amount', refund);
END $$;

-- ---- draft orders -----------------------------------------------------------------------------------------
-- Staff build an order for a customer (phone, B2B): lines at the base price or a price staff set, addresses, a
-- note; then complete it into an order with a manual payment (pending, or paid when staff say so).
CREATE TABLE draft_orders (
    id               text PRIMARY KEY DEFAULT souq_id('draft'),
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed')),
    sales_channel_id text NOT NULL REFERENCES sales_channels (id),
    customer_id      text REFERENCES customers (id) ON DELETE SET NULL,
    email            text,
    currency_code    text NOT NULL REFERENCES currencies (code),
    region_id        text REFERENCES regions (id) ON DELETE SET NULL,
    items            jsonb NOT NULL DEFAULT '[]', -- [{variant_id, quantity, unit_price (staff's price, or null)}]
    shipping_address jsonb,
    billing_address  jsonb,
    note             text,
    metadata         jsonb NOT NULL DEFAULT '{}',
    order_id         text REFERENCES orders (id) ON DELETE SET NULL,
    created_by       text,
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX draft_orders_customer_idx ON draft_orders (customer_id, id DESC) WHERE customer_id IS NOT NULL;
CREATE TRIGGER draft_orders_touch BEFORE UPDATE ON draft_orders FOR EACH ROW EXECUTE FUNCTION souq_touch();

-- The draft's lines priced now: the staff price, else the base price of the quantity's tier (null: no price).
CREATE FUNCTION souq_draft_order_lines(d draft_orders) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('variant_id', x.variant_id, 'product_id', v.product_id, 'title', p.title,
               'variant_title', v.title, 'sku', v.sku, 'requires_shipping', coalesce(v.requires_shipping, true), 'quantity', x.quantity,
               'unit_price', x.price, 'custom_price', x.custom, 'subtotal', x.price * x.quantity) ORDER BY x.n), '[]')
      FROM (SELECT i->>'variant_id' AS variant_id, (i->>'quantity')::int AS quantity, n, (i->>'unit_price') IS NOT NULL AS custom,
                   coalesce((i->>'unit_price')::bigint, souq_variant_base_price(i->>'variant_id', d.currency_code, (i->>'quantity')::int)) AS price
              FROM jsonb_array_elements(d.items) WITH ORDINALITY e(i, n)) x
      LEFT JOIN product_variants v ON v.id = x.variant_id
      LEFT JOIN products p ON p.id = v.product_id
$$;

CREATE FUNCTION souq_draft_order_json(d draft_orders) RETURNS json LANGUAGE plpgsql STABLE AS $$
DECLARE
    lines jsonb := souq_draft_order_lines(d);
    sub bigint := (SELECT coalesce(sum((l->>'subtotal')::bigint), 0) FROM jsonb_array_elements(lines) l);
BEGIN
    RETURN json_build_object('id', d.id, 'object', 'draft_order', 'status', d.status, 'sales_channel_id', d.sales_channel_id,
        'customer_id', d.customer_id, 'email', d.email, 'currency_code', d.currency_code, 'region_id', d.region_id, 'items', lines,
        'item_subtotal', sub, 'total', sub, 'shipping_address', d.shipping_address, 'billing_address', d.billing_address,
        'note', d.note, 'metadata', d.metadata, 'order_id', d.order_id, 'created_by', d.created_by, 'completed_at', d.completed_at,
        'created_at', d.created_at, 'updated_at', d.updated_at);
END $$;

-- Create (p_id NULL) or update a draft (resource conventions: core/resource.h). NULL: no such draft. Bad values
-- raise SQ422 with COLUMN (and HINT = the item's pointer): core/resource.c turns them into field errors.
CREATE FUNCTION souq_draft_order_save(p_id text, b jsonb, p_etag text, p_actor text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    cur draft_orders;
    d draft_orders;
    ch text;
    cust customers;
    reg regions;
    cur_code text;
    it record;
BEGIN
    IF p_id IS NOT NULL THEN
        SELECT * INTO cur FROM draft_orders WHERE id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        PERFORM souq_check_etag(souq_draft_order_json(cur), p_etag);
        IF cur.status <> 'open' THEN
            RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = 'The draft is completed: it is an order now.';
        END IF;
    END IF;
    IF b->>'customer_id' IS NOT NULL THEN
        SELECT * INTO cust FROM customers WHERE id = b->>'customer_id';
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', COLUMN = 'customer_id', MESSAGE = 'The customer does not exist.';
        END IF;
    END IF;
    IF b->>'region_id' IS NOT NULL THEN
        SELECT * INTO reg FROM regions WHERE id = b->>'region_id';
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', COLUMN = 'region_id', MESSAGE = 'The region does not exist.';
        END IF;
    END IF;
    FOR it IN SELECT e.i, (e.n - 1)::int AS idx FROM jsonb_array_elements(coalesce(b->'items', '[]')) WITH ORDINALITY e(i, n) LOOP
        IF NOT EXISTS (SELECT 1 FROM product_variants WHERE id = it.i->>'variant_id') THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', COLUMN = 'variant_id', HINT = format('/items/%s', it.idx),
                MESSAGE = 'The variant does not exist.';
        END IF;
    END LOOP;
    IF p_id IS NULL THEN
        ch := coalesce(b->>'sales_channel_id', (SELECT id FROM sales_channels WHERE is_default));
        IF NOT EXISTS (SELECT 1 FROM sales_channels WHERE id = ch) THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', COLUMN = 'sales_channel_id', MESSAGE = 'The sales channel does not exist.';
        END IF;
        cur_code := coalesce(lower(b->>'currency_code'), reg.currency_code,
                             (SELECT r.currency_code FROM sales_channels c JOIN regions r ON r.id = c.default_region_id WHERE c.id = ch));
        IF cur_code IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', COLUMN = 'currency_code', MESSAGE = 'Give currency_code or region_id.';
        END IF;
        IF reg.id IS NOT NULL AND reg.currency_code <> cur_code THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', COLUMN = 'currency_code', MESSAGE = 'The region sells in another currency.';
        END IF;
        INSERT INTO draft_orders (sales_channel_id, customer_id, email, currency_code, region_id, items, shipping_address, billing_address,
                                  note, metadata, created_by)
        VALUES (ch, cust.id, coalesce(lower(b->>'email'), cust.email), cur_code, reg.id, coalesce(b->'items', '[]'),
                souq_cart_address(b->'shipping_address'), souq_cart_address(b->'billing_address'), b->>'note',
                jsonb_strip_nulls(coalesce(b->'metadata', '{}')), p_actor)
        RETURNING * INTO d;
    ELSE
        IF reg.id IS NOT NULL AND reg.currency_code <> cur.currency_code THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', COLUMN = 'region_id', MESSAGE = 'The region sells in another currency than the draft.';
        END IF;
        UPDATE draft_orders t SET
            customer_id = CASE WHEN b ? 'customer_id' THEN cust.id ELSE t.customer_id END,
            email = CASE WHEN b ? 'email' THEN lower(b->>'email') WHEN b->>'customer_id' IS NOT NULL AND t.email IS NULL THEN cust.email ELSE t.email END,
            region_id = CASE WHEN b ? 'region_id' THEN reg.id ELSE t.region_id END,
            items = CASE WHEN b ? 'items' THEN coalesce(b->'items', '[]') ELSE t.items END,
            shipping_address = CASE WHEN b ? 'shipping_address' THEN souq_cart_address(b->'shipping_address') ELSE t.shipping_address END,
            billing_address = CASE WHEN b ? 'billing_address' THEN souq_cart_address(b->'billing_address') ELSE t.billing_address END,
            note = CASE WHEN b ? 'note' THEN b->>'note' ELSE t.note END,
            metadata = souq_merge_metadata(t.metadata, b)
         WHERE t.id = p_id RETURNING * INTO d;
    END IF;
    RETURN souq_draft_order_json(d);
END $$;

-- POST /v1/admin/draft-orders/{id}/complete {paid}: the order, as checkout would make it, with a manual payment.
CREATE FUNCTION souq_draft_order_complete(p_id text, p_body jsonb, p_actor text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    d draft_orders;
    o orders;
    lines jsonb;
    v_total bigint;
    v_paid boolean := coalesce((p_body->>'paid')::boolean, false);
    cust text;
    bad int;
BEGIN
    SELECT * INTO d FROM draft_orders WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The draft order does not exist.';
    END IF;
    IF d.status <> 'open' THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = 'The draft is already an order.';
    END IF;
    lines := souq_draft_order_lines(d);
    IF jsonb_array_length(lines) = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/items|required|The draft has no lines.';
    END IF;
    SELECT (n - 1)::int INTO bad FROM jsonb_array_elements(lines) WITH ORDINALITY e(l, n)
     WHERE l->>'unit_price' IS NULL OR l->>'sku' IS NULL ORDER BY n LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/items/%s/unit_price|not_priced|The line has no price in the draft''s currency (or its variant is gone); set unit_price.', bad);
    END IF;
    IF d.email IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/email|required|The order needs an email: set email or customer_id.';
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_array_elements(lines) l WHERE (l->>'requires_shipping')::boolean)
       AND (d.shipping_address IS NULL OR d.shipping_address->>'address_1' IS NULL OR d.shipping_address->>'city' IS NULL) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/shipping_address|required|The draft ships goods: it needs a shipping address with address_1, city and country_code.';
    END IF;
    v_total := (SELECT sum((l->>'subtotal')::bigint) FROM jsonb_array_elements(lines) l);
    v_paid := v_paid OR v_total = 0;
    cust := d.customer_id;
    IF cust IS NULL THEN -- as checkout does: a guest customer record of the email
        SELECT id INTO cust FROM customers WHERE lower(email) = lower(d.email) AND NOT has_account ORDER BY created_at LIMIT 1;
        IF cust IS NULL THEN
            INSERT INTO customers (email) VALUES (lower(d.email)) RETURNING id INTO cust;
        END IF;
    END IF;
    INSERT INTO orders (sales_channel_id, customer_id, email, currency_code, region_id, payment_status, shipping_address, billing_address,
                        note, metadata, item_subtotal, total, paid_total, snapshot)
    VALUES (d.sales_channel_id, cust, d.email, d.currency_code, d.region_id, CASE WHEN v_paid THEN 'paid' ELSE 'pending' END,
            d.shipping_address, d.billing_address, d.note, d.metadata, v_total, v_total, CASE WHEN v_paid THEN v_total ELSE 0 END,
            souq_draft_order_json(d)::jsonb)
    RETURNING * INTO o;
    INSERT INTO order_line_items (order_id, variant_id, product_id, title, variant_title, sku, requires_shipping, quantity, unit_price,
                                  subtotal, total, metadata, position)
    SELECT o.id, l->>'variant_id', l->>'product_id', l->>'title', l->>'variant_title', l->>'sku', (l->>'requires_shipping')::boolean,
           (l->>'quantity')::int, (l->>'unit_price')::bigint, (l->>'subtotal')::bigint, (l->>'subtotal')::bigint,
           CASE WHEN (l->>'custom_price')::boolean THEN '{"custom_price": true}'::jsonb ELSE '{}'::jsonb END, (n - 1)::int
      FROM jsonb_array_elements(lines) WITH ORDINALITY e(l, n);
    IF v_total > 0 THEN
        INSERT INTO payments (order_id, provider, status, currency_code, amount, captured_amount, gateway_key)
        VALUES (o.id, 'manual', CASE WHEN v_paid THEN 'captured' ELSE 'pending' END, d.currency_code, v_total,
                CASE WHEN v_paid THEN v_total ELSE 0 END, 'draft:' || d.id);
    END IF;
    PERFORM souq_order_rereserve(o);
    UPDATE draft_orders SET status = 'completed', order_id = o.id, completed_at = now() WHERE id = d.id;
    PERFORM souq_order_event(o.id, 'order.placed', jsonb_build_object('number', o.number, 'total', o.total, 'currency_code', o.currency_code,
        'payment_status', o.payment_status, 'draft_order_id', d.id), p_actor, true);
    IF v_paid THEN
        PERFORM souq_order_event(o.id, 'order.paid', jsonb_build_object('amount', o.paid_total), p_actor, true);
    END IF;
    RETURN souq_order_json(o, false);
END $$;
