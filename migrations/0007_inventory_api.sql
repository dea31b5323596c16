-- 0007_inventory_api.sql: inventory items with their levels, stock changes (adjustments, counts, transfers)
-- and the ledger as API resources. Every change goes through souq_inventory_adjust (0003), so each one has its
-- ledger row and the level constraints (on_hand >= reserved >= 0) hold whatever the caller sends.

CREATE FUNCTION souq_inventory_item_json(i inventory_items) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', i.id, 'object', 'inventory_item', 'sku', i.sku, 'title', i.title,
        'requires_shipping', i.requires_shipping, 'low_stock_threshold', i.low_stock_threshold,
        'variant_ids', coalesce((SELECT json_agg(v.variant_id ORDER BY v.variant_id) FROM variant_inventory_items v
                                  WHERE v.inventory_item_id = i.id), '[]'::json),
        'levels', coalesce((SELECT json_agg(json_build_object('location_id', l.location_id, 'on_hand', l.on_hand,
                                'reserved', l.reserved, 'available', l.available, 'incoming', l.incoming,
                                'updated_at', l.updated_at) ORDER BY l.location_id)
                              FROM inventory_levels l WHERE l.inventory_item_id = i.id), '[]'::json),
        'on_hand', t.on_hand, 'reserved', t.reserved, 'available', t.available, 'incoming', t.incoming,
        'metadata', i.metadata, 'created_at', i.created_at, 'updated_at', i.updated_at)
      FROM (SELECT coalesce(sum(on_hand), 0)::int AS on_hand, coalesce(sum(reserved), 0)::int AS reserved,
                   coalesce(sum(available), 0)::int AS available, coalesce(sum(incoming), 0)::int AS incoming
              FROM inventory_levels WHERE inventory_item_id = i.id) t
$$;

-- Items are created with their variants; the API changes their settings only.
CREATE FUNCTION souq_inventory_item_save(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE cur inventory_items;
BEGIN
    SELECT * INTO cur FROM inventory_items WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM souq_check_etag(souq_inventory_item_json(cur), p_etag);
    UPDATE inventory_items i SET
        title = CASE WHEN b ? 'title' THEN b->>'title' ELSE i.title END,
        requires_shipping = CASE WHEN b ? 'requires_shipping' THEN (b->>'requires_shipping')::boolean ELSE i.requires_shipping END,
        low_stock_threshold = CASE WHEN b ? 'low_stock_threshold' THEN (b->>'low_stock_threshold')::int ELSE i.low_stock_threshold END,
        metadata = souq_merge_metadata(i.metadata, b)
     WHERE i.id = p_id;
    RETURN (SELECT souq_inventory_item_json(t) FROM inventory_items t WHERE t.id = p_id);
END $$;

-- One stock change of an item, described by b; returns the item (NULL when it does not exist).
--   adjustment: {location_id, delta, incoming_delta, reason (adjustment | receive | return), reference, note}
--               a receive also lowers incoming by what arrived (never below zero)
--   count:      {location_id, quantity, note}: on_hand becomes the counted quantity
--   transfer:   {from_location_id, to_location_id, quantity, note}
CREATE FUNCTION souq_inventory_change(p_item text, p_kind text, b jsonb, p_actor text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    loc text := b->>'location_id';
    delta int := coalesce((b->>'delta')::int, 0);
    incoming_delta int := coalesce((b->>'incoming_delta')::int, 0);
    reason text := coalesce(b->>'reason', 'adjustment');
    lvl inventory_levels;
BEGIN
    PERFORM 1 FROM inventory_items WHERE id = p_item;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p_kind = 'adjustment' THEN
        IF delta <> 0 THEN
            lvl := souq_inventory_adjust(p_item, loc, delta, reason, b->>'reference', b->>'note', p_actor);
        END IF;
        IF reason = 'receive' AND delta > 0 THEN
            incoming_delta := incoming_delta - delta;
        END IF;
        IF incoming_delta <> 0 THEN
            INSERT INTO inventory_levels (inventory_item_id, location_id) VALUES (p_item, loc) ON CONFLICT DO NOTHING;
            UPDATE inventory_levels SET incoming = greatest(incoming + incoming_delta, 0), updated_at = now()
             WHERE inventory_item_id = p_item AND location_id = loc;
        END IF;
    ELSIF p_kind = 'count' THEN
        PERFORM souq_inventory_count(p_item, loc, (b->>'quantity')::int, b->>'note', p_actor);
    ELSE
        -- named like constraints, so the API reports them on the right field
        IF NOT EXISTS (SELECT 1 FROM stock_locations WHERE id = b->>'from_location_id') THEN
            RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'inventory_transfer_from_fkey',
                                  MESSAGE = 'unknown from_location_id';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM stock_locations WHERE id = b->>'to_location_id') THEN
            RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'inventory_transfer_to_fkey',
                                  MESSAGE = 'unknown to_location_id';
        END IF;
        PERFORM souq_inventory_transfer(p_item, b->>'from_location_id', b->>'to_location_id', (b->>'quantity')::int,
                                        b->>'note', p_actor);
    END IF;
    RETURN (SELECT souq_inventory_item_json(t) FROM inventory_items t WHERE t.id = p_item);
END $$;

CREATE FUNCTION souq_ledger_json(l inventory_ledger) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', l.id, 'object', 'inventory_ledger_entry', 'inventory_item_id', l.inventory_item_id,
        'location_id', l.location_id, 'delta_on_hand', l.delta_on_hand, 'delta_reserved', l.delta_reserved,
        'reason', l.reason, 'reference', l.reference, 'note', l.note, 'actor', l.actor, 'created_at', l.created_at)
$$;

CREATE INDEX inventory_ledger_reference_idx ON inventory_ledger (reference, id) WHERE reference IS NOT NULL;
CREATE INDEX inventory_ledger_location_idx ON inventory_ledger (location_id, id);

-- Reserves lines for a reference as the C API returns them. The reference's earlier active reservations are
-- released first, in the same transaction: reserving a cart again replaces what it held.
CREATE FUNCTION souq_reserve_json(p_lines jsonb, p_channel text, p_reference text, p_ttl_s int) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    -- lock every level the release and the reservation can touch first, in the one global order
    -- (item, location), so this never deadlocks with other carts
    PERFORM 1 FROM inventory_levels l
     WHERE l.inventory_item_id IN (SELECT inventory_item_id FROM reservations WHERE reference = p_reference AND status = 'active'
                                   UNION SELECT vii.inventory_item_id FROM jsonb_array_elements(p_lines) x
                                           JOIN variant_inventory_items vii ON vii.variant_id = x->>'variant_id')
     ORDER BY l.inventory_item_id, l.location_id FOR UPDATE;
    PERFORM souq_release(p_reference);
    RETURN (SELECT coalesce(json_agg(json_build_object('id', r.id, 'inventory_item_id', r.inventory_item_id,
                                'location_id', r.location_id, 'quantity', r.quantity, 'backordered', r.backordered,
                                'expires_at', r.expires_at) ORDER BY r.inventory_item_id), '[]'::json)
              FROM souq_reserve(p_lines, p_channel, p_reference, p_ttl_s) r);
END $$;
