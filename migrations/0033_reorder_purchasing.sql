-- 0033_reorder_purchasing.sql: suppliers, reorder rules (per inventory item and location: supplier, reorder point,
-- reorder quantity), purchase orders with an explicit state machine and receipts that go through the inventory
-- ledger, the payment-failure monitor's state, and the indexes the purge job needs.
--
-- Nothing of 0003/0007 is replaced: the reorder crossing is a trigger of its own on inventory_levels (next to
-- 0003's inventory.low trigger), and receipts call souq_inventory_adjust (0003), so every unit received has its
-- ledger row like any other stock change.

-- ---- suppliers -------------------------------------------------------------------------------------------------

CREATE TABLE suppliers (
    id             text PRIMARY KEY DEFAULT souq_id('sup'),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    email          text CHECK (length(email) <= 254),
    phone          text CHECK (length(phone) <= 32),
    currency_code  text NOT NULL CONSTRAINT suppliers_currency_code_fkey REFERENCES currencies (code),
    lead_time_days integer NOT NULL DEFAULT 0 CHECK (lead_time_days BETWEEN 0 AND 365),
    seller_id      text,  -- the marketplace seller whose supplier it is (NULL: the store's own), as stock_locations
    metadata       jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER suppliers_touch BEFORE UPDATE ON suppliers FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE FUNCTION souq_supplier_json(s suppliers) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', s.id, 'object', 'supplier', 'name', s.name, 'email', s.email, 'phone', s.phone,
        'currency_code', s.currency_code, 'lead_time_days', s.lead_time_days, 'metadata', s.metadata,
        'created_at', s.created_at, 'updated_at', s.updated_at)
$$;

CREATE FUNCTION souq_supplier_save(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    cur suppliers;
    rid text;
BEGIN
    IF p_id IS NULL THEN
        INSERT INTO suppliers (name, email, phone, currency_code, lead_time_days, metadata)
        VALUES (b->>'name', lower(b->>'email'), b->>'phone', lower(b->>'currency_code'), coalesce((b->>'lead_time_days')::int, 0),
                jsonb_strip_nulls(coalesce(b->'metadata', '{}')))
        RETURNING id INTO rid;
    ELSE
        SELECT * INTO cur FROM suppliers WHERE id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        PERFORM souq_check_etag(souq_supplier_json(cur), p_etag);
        -- rule costs and open orders are amounts in the supplier's currency: it cannot change under them
        IF b ? 'currency_code' AND lower(b->>'currency_code') <> cur.currency_code
           AND (EXISTS (SELECT 1 FROM reorder_rules r WHERE r.supplier_id = p_id AND r.unit_cost > 0)
                OR EXISTS (SELECT 1 FROM purchase_orders o WHERE o.supplier_id = p_id AND o.status IN ('draft', 'sent', 'partially_received'))) THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ409',
                MESSAGE = 'The supplier has reorder rules with costs or open purchase orders in its currency; close or change those first.';
        END IF;
        UPDATE suppliers s SET
            name = CASE WHEN b ? 'name' THEN b->>'name' ELSE s.name END,
            email = CASE WHEN b ? 'email' THEN lower(b->>'email') ELSE s.email END,
            phone = CASE WHEN b ? 'phone' THEN b->>'phone' ELSE s.phone END,
            currency_code = CASE WHEN b ? 'currency_code' THEN lower(b->>'currency_code') ELSE s.currency_code END,
            lead_time_days = CASE WHEN b ? 'lead_time_days' THEN (b->>'lead_time_days')::int ELSE s.lead_time_days END,
            metadata = souq_merge_metadata(s.metadata, b)
         WHERE s.id = p_id RETURNING s.id INTO rid;
    END IF;
    RETURN (SELECT souq_supplier_json(t) FROM suppliers t WHERE t.id = rid);
END $$;

-- ---- reorder rules ---------------------------------------------------------------------------------------------
-- One per inventory item and location: when the level's available stock falls to or below reorder_point, a line
-- of reorder_quantity (at unit_cost, in the supplier's currency) goes on the open draft purchase order to the
-- supplier for that location.

CREATE TABLE reorder_rules (
    id                text PRIMARY KEY DEFAULT souq_id('rrule'),
    inventory_item_id text NOT NULL CONSTRAINT reorder_rules_item_fkey REFERENCES inventory_items (id) ON DELETE CASCADE,
    location_id       text NOT NULL CONSTRAINT reorder_rules_location_fkey REFERENCES stock_locations (id) ON DELETE CASCADE,
    supplier_id       text NOT NULL CONSTRAINT reorder_rules_supplier_fkey REFERENCES suppliers (id) ON DELETE RESTRICT,
    reorder_point     integer NOT NULL CHECK (reorder_point BETWEEN 0 AND 1000000),
    reorder_quantity  integer NOT NULL CHECK (reorder_quantity BETWEEN 1 AND 1000000),
    unit_cost         bigint NOT NULL DEFAULT 0 CHECK (unit_cost BETWEEN 0 AND 10000000000),
    supplier_sku      text CHECK (length(supplier_sku) <= 64),
    enabled           boolean NOT NULL DEFAULT true,
    metadata          jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reorder_rules_item_location_key UNIQUE (inventory_item_id, location_id)
);
CREATE INDEX reorder_rules_supplier_idx ON reorder_rules (supplier_id);
CREATE TRIGGER reorder_rules_touch BEFORE UPDATE ON reorder_rules FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE FUNCTION souq_reorder_rule_json(r reorder_rules) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', r.id, 'object', 'reorder_rule', 'inventory_item_id', r.inventory_item_id,
        'sku', (SELECT i.sku FROM inventory_items i WHERE i.id = r.inventory_item_id), 'location_id', r.location_id,
        'supplier_id', r.supplier_id, 'reorder_point', r.reorder_point, 'reorder_quantity', r.reorder_quantity,
        'unit_cost', r.unit_cost, 'currency_code', (SELECT s.currency_code FROM suppliers s WHERE s.id = r.supplier_id),
        'supplier_sku', r.supplier_sku, 'enabled', r.enabled,
        'available', (SELECT l.available FROM inventory_levels l WHERE l.inventory_item_id = r.inventory_item_id AND l.location_id = r.location_id),
        'metadata', r.metadata, 'created_at', r.created_at, 'updated_at', r.updated_at)
$$;

CREATE FUNCTION souq_reorder_rule_save(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    cur reorder_rules;
    rid text;
BEGIN
    IF p_id IS NULL THEN
        INSERT INTO reorder_rules (inventory_item_id, location_id, supplier_id, reorder_point, reorder_quantity, unit_cost,
                                   supplier_sku, enabled, metadata)
        VALUES (b->>'inventory_item_id', b->>'location_id', b->>'supplier_id', (b->>'reorder_point')::int,
                (b->>'reorder_quantity')::int, coalesce((b->>'unit_cost')::bigint, 0), b->>'supplier_sku',
                coalesce((b->>'enabled')::boolean, true), jsonb_strip_nulls(coalesce(b->'metadata', '{}')))
        RETURNING id INTO rid;
    ELSE
        SELECT * INTO cur FROM reorder_rules WHERE id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        PERFORM souq_check_etag(souq_reorder_rule_json(cur), p_etag);
        UPDATE reorder_rules r SET
            supplier_id = CASE WHEN b ? 'supplier_id' THEN b->>'supplier_id' ELSE r.supplier_id END,
            reorder_point = CASE WHEN b ? 'reorder_point' THEN (b->>'reorder_point')::int ELSE r.reorder_point END,
            reorder_quantity = CASE WHEN b ? 'reorder_quantity' THEN (b->>'reorder_quantity')::int ELSE r.reorder_quantity END,
            unit_cost = CASE WHEN b ? 'unit_cost' THEN coalesce((b->>'unit_cost')::bigint, 0) ELSE r.unit_cost END,
            supplier_sku = CASE WHEN b ? 'supplier_sku' THEN b->>'supplier_sku' ELSE r.supplier_sku END,
            enabled = CASE WHEN b ? 'enabled' THEN (b->>'enabled')::boolean ELSE r.enabled END,
            metadata = souq_merge_metadata(r.metadata, b)
         WHERE r.id = p_id RETURNING r.id INTO rid;
    END IF;
    RETURN (SELECT souq_reorder_rule_json(t) FROM reorder_rules t WHERE t.id = rid);
END $$;

-- ---- purchase orders -------------------------------------------------------------------------------------------

CREATE SEQUENCE purchase_order_number_seq START 1001;

CREATE TABLE purchase_orders (
    id            text PRIMARY KEY DEFAULT souq_id('po'),
    number        bigint NOT NULL UNIQUE DEFAULT nextval('purchase_order_number_seq'),
    supplier_id   text NOT NULL CONSTRAINT purchase_orders_supplier_fkey REFERENCES suppliers (id) ON DELETE RESTRICT,
    location_id   text NOT NULL CONSTRAINT purchase_orders_location_fkey REFERENCES stock_locations (id) ON DELETE RESTRICT,
    currency_code text NOT NULL,
    status        text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'sent', 'partially_received', 'received', 'canceled')),
    source        text NOT NULL DEFAULT 'manual' CHECK (source IN ('manual', 'reorder')),
    note          text CHECK (length(note) <= 1000),
    metadata      jsonb NOT NULL DEFAULT '{}',
    expected_at   timestamptz,
    created_by    text,
    sent_at       timestamptz,
    received_at   timestamptz,
    canceled_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- one open draft per supplier and location: the reorder automation extends it, staff edit it
CREATE UNIQUE INDEX purchase_orders_one_draft ON purchase_orders (supplier_id, location_id) WHERE status = 'draft';
CREATE INDEX purchase_orders_status_idx ON purchase_orders (status, id);
CREATE INDEX purchase_orders_supplier_idx ON purchase_orders (supplier_id, id);
CREATE TRIGGER purchase_orders_touch BEFORE UPDATE ON purchase_orders FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE TABLE purchase_order_lines (
    id                text PRIMARY KEY DEFAULT souq_id('poli'),
    purchase_order_id text NOT NULL REFERENCES purchase_orders (id) ON DELETE CASCADE,
    inventory_item_id text NOT NULL CONSTRAINT purchase_order_lines_item_fkey REFERENCES inventory_items (id),
    supplier_sku      text,
    quantity          integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000000),
    received_quantity integer NOT NULL DEFAULT 0 CHECK (received_quantity BETWEEN 0 AND 2000000),
    unit_cost         bigint NOT NULL DEFAULT 0 CHECK (unit_cost BETWEEN 0 AND 10000000000),
    seq               integer NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- the same item is never twice on one purchase order (the reorder trigger relies on it under concurrency)
    CONSTRAINT purchase_order_lines_item_key UNIQUE (purchase_order_id, inventory_item_id)
);
CREATE INDEX purchase_order_lines_item_idx ON purchase_order_lines (inventory_item_id);

-- A receipt: quantities of some lines that arrived at a location. Its Idempotency-Key is stored with it in the
-- receipt's transaction, so the same receipt is applied exactly once even when the answer was lost.
CREATE TABLE purchase_order_receipts (
    id                text PRIMARY KEY DEFAULT souq_id('porc'),
    purchase_order_id text NOT NULL REFERENCES purchase_orders (id) ON DELETE CASCADE,
    idempotency_key   text NOT NULL,
    location_id       text NOT NULL REFERENCES stock_locations (id),
    items             jsonb NOT NULL,
    note              text,
    actor             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (purchase_order_id, idempotency_key)
);

CREATE FUNCTION souq_purchase_order_json(p purchase_orders) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', p.id, 'object', 'purchase_order', 'number', p.number, 'display_number', 'PO-' || p.number,
        'status', p.status, 'source', p.source, 'supplier_id', p.supplier_id,
        'supplier', (SELECT json_build_object('id', s.id, 'name', s.name, 'email', s.email, 'phone', s.phone,
                                              'lead_time_days', s.lead_time_days) FROM suppliers s WHERE s.id = p.supplier_id),
        'location_id', p.location_id, 'currency_code', p.currency_code,
        'lines', coalesce((SELECT json_agg(json_build_object('id', l.id, 'inventory_item_id', l.inventory_item_id,
                                'sku', i.sku, 'title', i.title, 'supplier_sku', l.supplier_sku, 'quantity', l.quantity,
                                'received_quantity', l.received_quantity, 'unit_cost', l.unit_cost,
                                'subtotal', (l.quantity::bigint * l.unit_cost)) ORDER BY l.seq, l.id)
                             FROM purchase_order_lines l JOIN inventory_items i ON i.id = l.inventory_item_id
                            WHERE l.purchase_order_id = p.id), '[]'::json),
        'total', coalesce((SELECT sum(l.quantity::bigint * l.unit_cost) FROM purchase_order_lines l WHERE l.purchase_order_id = p.id), 0)::bigint,
        'receipts', coalesce((SELECT json_agg(json_build_object('id', r.id, 'location_id', r.location_id, 'items', r.items,
                                   'note', r.note, 'actor', r.actor, 'created_at', r.created_at) ORDER BY r.created_at, r.id)
                                FROM purchase_order_receipts r WHERE r.purchase_order_id = p.id), '[]'::json),
        'note', p.note, 'metadata', p.metadata, 'expected_at', p.expected_at, 'created_by', p.created_by,
        'sent_at', p.sent_at, 'received_at', p.received_at, 'canceled_at', p.canceled_at,
        'created_at', p.created_at, 'updated_at', p.updated_at)
$$;

-- The state machine: draft -> sent -> partially_received -> received; draft, sent and partially_received -> canceled.
-- Any other move raises SQSTE (409 invalid-state). Callers hold the purchase order's row lock.
CREATE FUNCTION souq_purchase_order_move(p purchase_orders, p_to text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT ((p.status = 'draft' AND p_to IN ('sent', 'canceled'))
         OR (p.status = 'sent' AND p_to IN ('partially_received', 'received', 'canceled'))
         OR (p.status = 'partially_received' AND p_to IN ('partially_received', 'received', 'canceled'))) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE',
            MESSAGE = format('A purchase order that is %s cannot be %s.', replace(p.status, '_', ' '),
                             CASE p_to WHEN 'sent' THEN 'sent' WHEN 'canceled' THEN 'canceled' ELSE 'received' END);
    END IF;
    UPDATE purchase_orders SET status = p_to,
        sent_at = CASE WHEN p_to = 'sent' THEN now() ELSE sent_at END,
        expected_at = CASE WHEN p_to = 'sent' AND expected_at IS NULL
                           THEN now() + (SELECT s.lead_time_days FROM suppliers s WHERE s.id = p.supplier_id) * interval '1 day'
                           ELSE expected_at END,
        received_at = CASE WHEN p_to = 'received' THEN now() ELSE received_at END,
        canceled_at = CASE WHEN p_to = 'canceled' THEN now() ELSE canceled_at END
     WHERE id = p.id;
END $$;

-- Replaces a draft's lines with b->'lines' [{inventory_item_id, quantity, unit_cost, supplier_sku}]. A missing
-- unit_cost or supplier_sku comes from the item's reorder rule for this supplier and location (else 0 / null).
CREATE FUNCTION souq_purchase_order_set_lines(p purchase_orders, p_lines jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    it record;
BEGIN
    DELETE FROM purchase_order_lines WHERE purchase_order_id = p.id;
    FOR it IN SELECT e.x, (e.n - 1)::int AS idx FROM jsonb_array_elements(p_lines) WITH ORDINALITY e(x, n) LOOP
        IF NOT EXISTS (SELECT 1 FROM inventory_items WHERE id = it.x->>'inventory_item_id') THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/lines/%s/inventory_item_id|not_found|The inventory item does not exist.', it.idx);
        END IF;
        IF EXISTS (SELECT 1 FROM purchase_order_lines WHERE purchase_order_id = p.id AND inventory_item_id = it.x->>'inventory_item_id') THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/lines/%s/inventory_item_id|repeated|The item is already a line of this purchase order.', it.idx);
        END IF;
        INSERT INTO purchase_order_lines (purchase_order_id, inventory_item_id, supplier_sku, quantity, unit_cost, seq)
        SELECT p.id, it.x->>'inventory_item_id', coalesce(it.x->>'supplier_sku', r.supplier_sku), (it.x->>'quantity')::int,
               coalesce((it.x->>'unit_cost')::bigint, r.unit_cost, 0), it.idx
          FROM (SELECT 1) one
          LEFT JOIN reorder_rules r ON r.inventory_item_id = it.x->>'inventory_item_id' AND r.location_id = p.location_id
                                   AND r.supplier_id = p.supplier_id;
    END LOOP;
END $$;

-- Create (p_id NULL) or update a draft. Only drafts change (SQSTE otherwise); supplier and location are fixed at
-- creation (a draft is the draft of one supplier and location), the currency is the supplier's.
CREATE FUNCTION souq_purchase_order_save(p_id text, b jsonb, p_etag text, p_actor text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    cur purchase_orders;
    sup suppliers;
BEGIN
    IF p_id IS NULL THEN
        SELECT * INTO sup FROM suppliers WHERE id = b->>'supplier_id';
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/supplier_id|not_found|The supplier does not exist.';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM stock_locations WHERE id = b->>'location_id') THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/location_id|not_found|The stock location does not exist.';
        END IF;
        INSERT INTO purchase_orders (supplier_id, location_id, currency_code, note, metadata, expected_at, created_by)
        VALUES (sup.id, b->>'location_id', sup.currency_code, b->>'note', jsonb_strip_nulls(coalesce(b->'metadata', '{}')),
                (b->>'expected_at')::timestamptz, p_actor)
        RETURNING * INTO cur;
    ELSE
        SELECT * INTO cur FROM purchase_orders WHERE id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        PERFORM souq_check_etag(souq_purchase_order_json(cur), p_etag);
        IF cur.status <> 'draft' THEN
            RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = format('Only drafts can be edited; this purchase order is %s.', replace(cur.status, '_', ' '));
        END IF;
        UPDATE purchase_orders o SET
            note = CASE WHEN b ? 'note' THEN b->>'note' ELSE o.note END,
            expected_at = CASE WHEN b ? 'expected_at' THEN (b->>'expected_at')::timestamptz ELSE o.expected_at END,
            metadata = souq_merge_metadata(o.metadata, b)
         WHERE o.id = p_id RETURNING * INTO cur;
    END IF;
    IF b ? 'lines' THEN
        PERFORM souq_purchase_order_set_lines(cur, b->'lines');
    END IF;
    RETURN (SELECT souq_purchase_order_json(t) FROM purchase_orders t WHERE t.id = cur.id);
END $$;

-- draft -> sent: the lines' quantities become incoming at the location, and purchase_order.sent carries the whole
-- purchase order (with the supplier's contact) for the webhook or notification that delivers it.
-- The levels are locked before the purchase order: the reorder trigger holds a level when it takes the draft's lock.
CREATE FUNCTION souq_purchase_order_send(p_id text, p_actor text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    cur purchase_orders;
    po json;
BEGIN
    SELECT * INTO cur FROM purchase_orders WHERE id = p_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO inventory_levels (inventory_item_id, location_id)
    SELECT l.inventory_item_id, cur.location_id FROM purchase_order_lines l WHERE l.purchase_order_id = p_id ORDER BY 1
    ON CONFLICT DO NOTHING;
    PERFORM 1 FROM inventory_levels v WHERE v.location_id = cur.location_id
       AND v.inventory_item_id IN (SELECT l.inventory_item_id FROM purchase_order_lines l WHERE l.purchase_order_id = p_id)
     ORDER BY v.inventory_item_id FOR UPDATE;
    SELECT * INTO cur FROM purchase_orders WHERE id = p_id FOR UPDATE;
    PERFORM souq_purchase_order_move(cur, 'sent');
    IF NOT EXISTS (SELECT 1 FROM purchase_order_lines WHERE purchase_order_id = p_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/lines|required|A purchase order needs at least one line to be sent.';
    END IF;
    INSERT INTO inventory_levels (inventory_item_id, location_id)
    SELECT l.inventory_item_id, cur.location_id FROM purchase_order_lines l WHERE l.purchase_order_id = p_id ORDER BY 1
    ON CONFLICT DO NOTHING;
    UPDATE inventory_levels v SET incoming = v.incoming + l.quantity, updated_at = now()
      FROM purchase_order_lines l
     WHERE l.purchase_order_id = p_id AND v.inventory_item_id = l.inventory_item_id AND v.location_id = cur.location_id;
    po := (SELECT souq_purchase_order_json(t) FROM purchase_orders t WHERE t.id = p_id);
    INSERT INTO outbox_events (type, payload) VALUES ('purchase_order.sent', jsonb_build_object('purchase_order', po::jsonb, 'sent_by', p_actor));
    RETURN po;
END $$;

-- -> canceled: what was still expected leaves incoming.
CREATE FUNCTION souq_purchase_order_cancel(p_id text, p_actor text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    cur purchase_orders;
BEGIN
    SELECT * INTO cur FROM purchase_orders WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM souq_purchase_order_move(cur, 'canceled');
    IF cur.status IN ('sent', 'partially_received') THEN
        UPDATE inventory_levels v SET incoming = greatest(v.incoming - greatest(l.quantity - l.received_quantity, 0), 0), updated_at = now()
          FROM purchase_order_lines l
         WHERE l.purchase_order_id = p_id AND v.inventory_item_id = l.inventory_item_id AND v.location_id = cur.location_id;
    END IF;
    RETURN (SELECT souq_purchase_order_json(t) FROM purchase_orders t WHERE t.id = p_id);
END $$;

-- A receipt b = {location_id, lines: [{line_id, quantity}], allow_over_receipt, note} under an Idempotency-Key:
-- on hand rises at the receipt's location through souq_inventory_adjust (ledger reason receive, reference the
-- purchase order), incoming falls at the order's location by what was outstanding, the lines' received quantities
-- rise, and the order becomes partially_received or received. A key already used for this order answers the order
-- as it is (the receipt was applied once). More than ordered is 422 unless allow_over_receipt.
CREATE FUNCTION souq_purchase_order_receive(p_id text, b jsonb, p_key text, p_actor text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    cur purchase_orders;
    loc text;
    it record;
    ln purchase_order_lines;
    items jsonb := '[]';
    done boolean;
BEGIN
    SELECT * INTO cur FROM purchase_orders WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM purchase_order_receipts WHERE purchase_order_id = p_id AND idempotency_key = p_key) THEN
        RETURN (SELECT souq_purchase_order_json(t) FROM purchase_orders t WHERE t.id = p_id);
    END IF;
    IF cur.status NOT IN ('sent', 'partially_received') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = format('A purchase order that is %s cannot receive goods.', replace(cur.status, '_', ' '));
    END IF;
    loc := coalesce(b->>'location_id', cur.location_id);
    IF NOT EXISTS (SELECT 1 FROM stock_locations WHERE id = loc) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/location_id|not_found|The stock location does not exist.';
    END IF;
    -- lines in item order: the levels are locked in the one global order (item, location)
    FOR it IN SELECT e.x, (e.n - 1)::int AS idx, l.inventory_item_id AS item
                FROM jsonb_array_elements(b->'lines') WITH ORDINALITY e(x, n)
                LEFT JOIN purchase_order_lines l ON l.id = e.x->>'line_id' AND l.purchase_order_id = p_id
               ORDER BY l.inventory_item_id NULLS FIRST, e.n LOOP
        SELECT * INTO ln FROM purchase_order_lines WHERE id = it.x->>'line_id' AND purchase_order_id = p_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/lines/%s/line_id|not_found|The line is not a line of this purchase order.', it.idx);
        END IF;
        IF ln.received_quantity + (it.x->>'quantity')::int > ln.quantity AND NOT coalesce((b->>'allow_over_receipt')::boolean, false) THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/lines/%s/quantity|exceeds_outstanding|%s of %s ordered units are outstanding; send allow_over_receipt to receive more.',
                it.idx, greatest(ln.quantity - ln.received_quantity, 0), ln.quantity);
        END IF;
        PERFORM souq_inventory_adjust(ln.inventory_item_id, loc, (it.x->>'quantity')::int, 'receive', cur.id, b->>'note', p_actor);
        UPDATE inventory_levels SET incoming = greatest(incoming - least((it.x->>'quantity')::int, greatest(ln.quantity - ln.received_quantity, 0)), 0),
               updated_at = now()
         WHERE inventory_item_id = ln.inventory_item_id AND location_id = cur.location_id;
        UPDATE purchase_order_lines SET received_quantity = received_quantity + (it.x->>'quantity')::int WHERE id = ln.id;
        items := items || jsonb_build_object('line_id', ln.id, 'inventory_item_id', ln.inventory_item_id, 'quantity', (it.x->>'quantity')::int);
    END LOOP;
    INSERT INTO purchase_order_receipts (purchase_order_id, idempotency_key, location_id, items, note, actor)
    VALUES (p_id, p_key, loc, items, b->>'note', p_actor);
    done := NOT EXISTS (SELECT 1 FROM purchase_order_lines WHERE purchase_order_id = p_id AND received_quantity < quantity);
    PERFORM souq_purchase_order_move(cur, CASE WHEN done THEN 'received' ELSE 'partially_received' END);
    IF done THEN
        INSERT INTO outbox_events (type, payload) VALUES ('purchase_order.received', jsonb_build_object('purchase_order_id', p_id,
            'number', cur.number, 'supplier_id', cur.supplier_id, 'location_id', cur.location_id));
    END IF;
    RETURN (SELECT souq_purchase_order_json(t) FROM purchase_orders t WHERE t.id = p_id);
END $$;

-- ---- the reorder crossing ----------------------------------------------------------------------------------------
-- When a level's available stock falls from above its rule's reorder point to or below it (an order's reservation,
-- an adjustment, a count, a transfer, a fulfilment selling backordered units), the item is reordered: unless it
-- is already on order at that location (a line of a draft, or an outstanding line of a sent or partially received
-- order), a line of reorder_quantity goes on the open draft of the rule's supplier and location, created when
-- there is none, and inventory.reorder_needed is written. All in the transaction that moved the stock. The
-- partial unique index (one draft per supplier and location) and the line key (one line per item and order) keep
-- concurrent crossings from creating two drafts or adding an item twice.
CREATE FUNCTION souq_reorder_crossing() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r reorder_rules;
    sup suppliers;
    po_id text;
    line_id text;
    tries int := 0;
BEGIN
    SELECT * INTO r FROM reorder_rules WHERE inventory_item_id = NEW.inventory_item_id AND location_id = NEW.location_id AND enabled;
    IF NOT FOUND OR NOT ((OLD.on_hand - OLD.reserved) > r.reorder_point AND (NEW.on_hand - NEW.reserved) <= r.reorder_point) THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM purchase_order_lines l JOIN purchase_orders p ON p.id = l.purchase_order_id
                WHERE l.inventory_item_id = r.inventory_item_id AND p.location_id = r.location_id
                  AND (p.status = 'draft' OR (p.status IN ('sent', 'partially_received') AND l.received_quantity < l.quantity))) THEN
        RETURN NULL;
    END IF;
    SELECT * INTO sup FROM suppliers WHERE id = r.supplier_id;
    LOOP
        tries := tries + 1;
        INSERT INTO purchase_orders (supplier_id, location_id, currency_code, source, created_by)
        VALUES (r.supplier_id, r.location_id, sup.currency_code, 'reorder', 'reorder')
        ON CONFLICT (supplier_id, location_id) WHERE status = 'draft' DO NOTHING;
        SELECT id INTO po_id FROM purchase_orders WHERE supplier_id = r.supplier_id AND location_id = r.location_id AND status = 'draft'
           FOR UPDATE;
        EXIT WHEN po_id IS NOT NULL OR tries >= 3; -- the draft was sent between the two statements: make another
    END LOOP;
    IF po_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = 'reorder: the draft purchase order kept changing';
    END IF;
    INSERT INTO purchase_order_lines (purchase_order_id, inventory_item_id, supplier_sku, quantity, unit_cost, seq)
    VALUES (po_id, r.inventory_item_id, r.supplier_sku, r.reorder_quantity, r.unit_cost,
            (SELECT coalesce(max(seq) + 1, 0) FROM purchase_order_lines WHERE purchase_order_id = po_id))
    ON CONFLICT (purchase_order_id, inventory_item_id) DO NOTHING
    RETURNING id INTO line_id;
    IF line_id IS NOT NULL THEN
        UPDATE purchase_orders SET updated_at = now() WHERE id = po_id;
        INSERT INTO outbox_events (type, payload) VALUES ('inventory.reorder_needed', jsonb_build_object(
            'inventory_item_id', r.inventory_item_id, 'sku', (SELECT i.sku FROM inventory_items i WHERE i.id = r.inventory_item_id),
            'location_id', r.location_id, 'available', NEW.on_hand - NEW.reserved, 'reorder_point', r.reorder_point,
            'reorder_quantity', r.reorder_quantity, 'supplier_id', r.supplier_id, 'purchase_order_id', po_id,
            'purchase_order_line_id', line_id, 'reorder_rule_id', r.id));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER inventory_levels_reorder AFTER UPDATE OF on_hand, reserved ON inventory_levels
    FOR EACH ROW WHEN (NEW.on_hand - NEW.reserved < OLD.on_hand - OLD.reserved)
    EXECUTE FUNCTION souq_reorder_crossing();

-- ---- the payment-failure monitor -----------------------------------------------------------------------------------
-- One row per payment provider seen: the last computed window and whether an alert is open (hysteresis: one
-- payment.failure_rate_high per spike, then nothing until payment.failure_rate_recovered).

CREATE TABLE payment_provider_health (
    provider    text PRIMARY KEY,
    alerting    boolean NOT NULL DEFAULT false,
    since       timestamptz,             -- when the open alert started
    attempts    integer NOT NULL DEFAULT 0,
    failures    integer NOT NULL DEFAULT 0,
    declined    integer NOT NULL DEFAULT 0,
    errors      integer NOT NULL DEFAULT 0,
    checked_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_created_idx ON payments (created_at);

-- An attempt is a payment whose authorization finished (not authorizing); a failure is declined or error.
-- Alert: rate >= p_alert_bp (basis points) with at least p_min attempts; recover: rate < p_recover_bp (also with
-- fewer attempts: a quiet window has no failures to speak of). Returns the providers' figures as JSON.
CREATE FUNCTION souq_payment_monitor_run(p_window_s int, p_min int, p_alert_bp int, p_recover_bp int) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    w record;
    h payment_provider_health;
    rate_bp int;
BEGIN
    -- one monitor at a time across nodes (a second run waits, then sees the first's state)
    PERFORM pg_advisory_xact_lock(hashtext('souq_payment_monitor'));
    FOR w IN SELECT p.provider, count(*)::int AS attempts,
                    count(*) FILTER (WHERE p.status IN ('declined', 'error'))::int AS failures,
                    count(*) FILTER (WHERE p.status = 'declined')::int AS declined,
                    count(*) FILTER (WHERE p.status = 'error')::int AS errors
               FROM payments p WHERE p.created_at > now() - p_window_s * interval '1 second' AND p.status <> 'authorizing'
              GROUP BY p.provider
             UNION ALL
             SELECT x.provider, 0, 0, 0, 0 FROM payment_provider_health x
              WHERE NOT EXISTS (SELECT 1 FROM payments p WHERE p.provider = x.provider AND p.status <> 'authorizing'
                                   AND p.created_at > now() - p_window_s * interval '1 second')
    LOOP
        INSERT INTO payment_provider_health (provider) VALUES (w.provider) ON CONFLICT DO NOTHING;
        SELECT * INTO h FROM payment_provider_health WHERE provider = w.provider FOR UPDATE;
        rate_bp := CASE WHEN w.attempts = 0 THEN 0 ELSE (w.failures * 10000 / w.attempts) END;
        IF NOT h.alerting AND w.attempts >= p_min AND rate_bp >= p_alert_bp THEN
            INSERT INTO outbox_events (type, payload) VALUES ('payment.failure_rate_high', jsonb_build_object('provider', w.provider,
                'attempts', w.attempts, 'failures', w.failures, 'declined', w.declined, 'errors', w.errors,
                'failure_rate', round(w.failures::numeric / w.attempts, 4), 'threshold', round(p_alert_bp / 10000.0, 4),
                'window_s', p_window_s));
            h.alerting := true;
            h.since := now();
        ELSIF h.alerting AND rate_bp < p_recover_bp THEN
            INSERT INTO outbox_events (type, payload) VALUES ('payment.failure_rate_recovered', jsonb_build_object('provider', w.provider,
                'attempts', w.attempts, 'failures', w.failures, 'failure_rate', CASE WHEN w.attempts = 0 THEN 0 ELSE round(w.failures::numeric / w.attempts, 4) END,
                'threshold', round(p_recover_bp / 10000.0, 4), 'window_s', p_window_s, 'alerting_since', h.since));
            h.alerting := false;
            h.since := NULL;
        END IF;
        UPDATE payment_provider_health SET alerting = h.alerting, since = h.since, attempts = w.attempts, failures = w.failures,
               declined = w.declined, errors = w.errors, checked_at = now()
         WHERE provider = w.provider;
    END LOOP;
    RETURN souq_payment_health_json();
END $$;

CREATE FUNCTION souq_payment_health_json() RETURNS json LANGUAGE sql STABLE AS $$
    SELECT coalesce(json_agg(json_build_object('provider', h.provider, 'alerting', h.alerting, 'attempts', h.attempts,
                        'failures', h.failures, 'checked_at', h.checked_at) ORDER BY h.provider), '[]'::json)
      FROM payment_provider_health h
$$;

-- ---- purging -------------------------------------------------------------------------------------------------------
-- Small batches, each its own short transaction, rows others hold skipped: the purge never holds long locks.

CREATE INDEX outbox_events_completed_idx ON outbox_events (occurred_at) WHERE state = 'completed';
CREATE INDEX event_delivery_attempts_started_idx ON event_delivery_attempts (started_at);

-- One batch of one kind: 'events' (fanned-out events older than p_age_s whose deliveries are all final; their
-- deliveries and attempts go with them), 'attempts' (delivery attempts older than p_age_s), 'jobs' (completed and
-- canceled jobs finished more than p_age_s ago). Returns the rows deleted (of the kind itself).
CREATE FUNCTION souq_purge_batch(p_kind text, p_age_s int, p_limit int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    IF p_kind = 'events' THEN
        DELETE FROM outbox_events e WHERE e.id IN (
            SELECT x.id FROM outbox_events x
             WHERE x.state = 'completed' AND x.occurred_at < now() - p_age_s * interval '1 second'
               AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_id = x.id AND d.state IN ('available', 'running', 'retryable'))
             ORDER BY x.occurred_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
    ELSIF p_kind = 'attempts' THEN
        DELETE FROM event_delivery_attempts a WHERE (a.delivery_id, a.attempt) IN (
            SELECT x.delivery_id, x.attempt FROM event_delivery_attempts x
             WHERE x.started_at < now() - p_age_s * interval '1 second'
             ORDER BY x.started_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
    ELSIF p_kind = 'jobs' THEN
        DELETE FROM jobs j WHERE j.id IN (
            SELECT x.id FROM jobs x WHERE x.state IN ('completed', 'canceled') AND x.completed_at < now() - p_age_s * interval '1 second'
             ORDER BY x.completed_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
    ELSE
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = 'unknown purge kind';
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- ---- list filter and CSV export of purchase orders ------------------------------------------------------------------

-- q: the number (1001, PO-1001) or the SKU (or supplier SKU) of one of its lines, case-insensitively
CREATE FUNCTION souq_purchase_order_matches(p purchase_orders, f_status text, f_supplier text, f_location text, f_q text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT (f_status IS NULL OR p.status = f_status) AND (f_supplier IS NULL OR p.supplier_id = f_supplier)
       AND (f_location IS NULL OR p.location_id = f_location)
       AND (f_q IS NULL OR p.number::text = regexp_replace(f_q, '^[Pp][Oo]-', '')
            OR EXISTS (SELECT 1 FROM purchase_order_lines l JOIN inventory_items i ON i.id = l.inventory_item_id
                        WHERE l.purchase_order_id = p.id AND (lower(i.sku) = lower(f_q) OR lower(l.supplier_sku) = lower(f_q))))
$$;

-- One row per line of every matching purchase order, newest order first (header first, no line ends).
CREATE FUNCTION souq_export_purchase_orders_csv(f_status text, f_supplier text, f_location text, f_q text) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT 'number,purchase_order_id,status,supplier_id,supplier_name,location_id,currency_code,sku,supplier_sku,quantity,'
           'received_quantity,unit_cost,subtotal,created_at,sent_at,expected_at'
    UNION ALL
    (SELECT concat_ws(',', p.number, p.id, p.status, p.supplier_id, souq_csv_cell(s.name), p.location_id, p.currency_code,
                souq_csv_cell(i.sku), souq_csv_cell(l.supplier_sku), l.quantity, l.received_quantity, l.unit_cost,
                l.quantity::bigint * l.unit_cost, to_char(p.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                coalesce(to_char(p.sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), ''),
                coalesce(to_char(p.expected_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), ''))
       FROM purchase_orders p JOIN suppliers s ON s.id = p.supplier_id
       JOIN purchase_order_lines l ON l.purchase_order_id = p.id JOIN inventory_items i ON i.id = l.inventory_item_id
      WHERE souq_purchase_order_matches(p, f_status, f_supplier, f_location, f_q)
      ORDER BY p.id DESC, l.seq, l.id)
$$;
