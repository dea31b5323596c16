-- 0037: more automation actions (core/automation_actions.c): create_purchase_order. The reorder trigger of 0033 and
-- the action add a line to a supplier's open draft purchase order the same way, so that part is one function now.

-- Adds p_qty of the rule's item to the open draft of the rule's supplier and location (created when there is none;
-- the partial unique index of 0033 keeps concurrent callers on one draft). Returns the draft's id and the new
-- line's id, or a NULL line when the item is already on the draft (one line per item and order).
CREATE FUNCTION souq_reorder_draft_line(r reorder_rules, p_qty int, p_source text, OUT po_id text, OUT line_id text)
LANGUAGE plpgsql AS $$
DECLARE
    sup suppliers;
    tries int := 0;
BEGIN
    SELECT * INTO sup FROM suppliers WHERE id = r.supplier_id;
    LOOP
        tries := tries + 1;
        INSERT INTO purchase_orders (supplier_id, location_id, currency_code, source, created_by)
        VALUES (r.supplier_id, r.location_id, sup.currency_code, p_source, p_source)
        ON CONFLICT (supplier_id, location_id) WHERE status = 'draft' DO NOTHING;
        SELECT id INTO po_id FROM purchase_orders WHERE supplier_id = r.supplier_id AND location_id = r.location_id AND status = 'draft'
           FOR UPDATE;
        EXIT WHEN po_id IS NOT NULL OR tries >= 3; -- the draft was sent between the two statements: make another
    END LOOP;
    IF po_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = 'reorder: the draft purchase order kept changing';
    END IF;
    INSERT INTO purchase_order_lines (purchase_order_id, inventory_item_id, supplier_sku, quantity, unit_cost, seq)
    VALUES (po_id, r.inventory_item_id, r.supplier_sku, p_qty, r.unit_cost,
            (SELECT coalesce(max(seq) + 1, 0) FROM purchase_order_lines WHERE purchase_order_id = po_id))
    ON CONFLICT (purchase_order_id, inventory_item_id) DO NOTHING
    RETURNING id INTO line_id;
    IF line_id IS NOT NULL THEN
        UPDATE purchase_orders SET updated_at = now() WHERE id = po_id;
    END IF;
END $$;

-- 0033's trigger, its draft handling now souq_reorder_draft_line (behaviour unchanged).
CREATE OR REPLACE FUNCTION souq_reorder_crossing() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r reorder_rules;
    d record;
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
    d := souq_reorder_draft_line(r, r.reorder_quantity, 'reorder');
    IF d.line_id IS NOT NULL THEN
        INSERT INTO outbox_events (type, payload) VALUES ('inventory.reorder_needed', jsonb_build_object(
            'inventory_item_id', r.inventory_item_id, 'sku', (SELECT i.sku FROM inventory_items i WHERE i.id = r.inventory_item_id),
            'location_id', r.location_id, 'available', NEW.on_hand - NEW.reserved, 'reorder_point', r.reorder_point,
            'reorder_quantity', r.reorder_quantity, 'supplier_id', r.supplier_id, 'purchase_order_id', d.po_id,
            'purchase_order_line_id', d.line_id, 'reorder_rule_id', r.id));
    END IF;
    RETURN NULL;
END $$;

-- create_purchase_order: puts an inventory item on its supplier's draft purchase order through the item's reorder
-- rule (supplier, unit cost, supplier SKU, and reorder_quantity unless p_qty is given) at a location (NULL: the
-- item's only enabled rule). No rule (or several without a location) fails the run for good: 422. An item already on
-- the draft is left as it is ("added": false). The effect and the step are one transaction (exactly once per run).
CREATE FUNCTION souq_automation_create_purchase_order(p_run text, p_step int, p_target jsonb, p_qty int) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r reorder_rules;
    n int;
    d record;
    v_item text := p_target->>'inventory_item_id';
    v_loc text := p_target->>'location_id';
BEGIN
    IF NOT souq_automation_step_claim(p_run, p_step) THEN
        RETURN jsonb_build_object('outcome', 'already_done');
    END IF;
    SELECT count(*) INTO n FROM reorder_rules WHERE inventory_item_id = v_item AND (v_loc IS NULL OR location_id = v_loc) AND enabled;
    IF n <> 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = CASE WHEN n = 0
            THEN 'The inventory item ' || coalesce(v_item, '') || ' has no enabled reorder rule' || CASE WHEN v_loc IS NULL THEN '' ELSE ' at ' || v_loc END || '.'
            ELSE 'The inventory item has reorder rules at several locations: give params.location_id.' END;
    END IF;
    SELECT * INTO r FROM reorder_rules WHERE inventory_item_id = v_item AND (v_loc IS NULL OR location_id = v_loc) AND enabled;
    d := souq_reorder_draft_line(r, coalesce(p_qty, r.reorder_quantity), 'automation');
    RETURN souq_automation_step_done(p_run, p_step, 'create_purchase_order', jsonb_build_object(
        'purchase_order_id', d.po_id, 'purchase_order_line_id', d.line_id, 'added', d.line_id IS NOT NULL,
        'inventory_item_id', r.inventory_item_id, 'location_id', r.location_id, 'supplier_id', r.supplier_id,
        'quantity', CASE WHEN d.line_id IS NOT NULL THEN coalesce(p_qty, r.reorder_quantity) END));
END $$;

-- a draft an automation rule started says so
ALTER TABLE purchase_orders DROP CONSTRAINT purchase_orders_source_check,
    ADD CONSTRAINT purchase_orders_source_check CHECK (source IN ('manual', 'reorder', 'automation'));

-- start_price_list: activates a price list now (status active, starts_at now), for p_duration_s seconds when given
-- (ends_at; otherwise its end stays as it was). A sale started by a rule ("flash sale when stock is high"); the
-- storefront caches follow through 0013's statement triggers. A missing list fails the run for good (404).
CREATE FUNCTION souq_automation_start_price_list(p_run text, p_step int, p_list text, p_duration_s int) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    l price_lists;
BEGIN
    IF NOT souq_automation_step_claim(p_run, p_step) THEN
        RETURN jsonb_build_object('outcome', 'already_done');
    END IF;
    UPDATE price_lists SET status = 'active', starts_at = now(),
           ends_at = CASE WHEN p_duration_s IS NOT NULL THEN now() + p_duration_s * interval '1 second'
                          WHEN ends_at > now() THEN ends_at END
     WHERE id = p_list RETURNING * INTO l;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The price list ' || coalesce(p_list, '') || ' does not exist.';
    END IF;
    RETURN souq_automation_step_done(p_run, p_step, 'start_price_list', jsonb_build_object('price_list_id', l.id,
        'status', l.status, 'starts_at', l.starts_at, 'ends_at', l.ends_at));
END $$;
