-- 0003_inventory.sql: stock locations, inventory items (shared by variants for bundles), levels per location,
-- the ledger every change goes through, and reservations with a TTL.
-- Invariants are constraints: on_hand >= 0, reserved >= 0, available = on_hand - reserved >= 0.
-- Every multi-row change locks levels in (inventory_item_id, location_id) order, so concurrent carts cannot
-- deadlock, and no lock is ever held across a plugin call (these functions are one statement each).

CREATE TABLE stock_locations (
    id           text PRIMARY KEY DEFAULT souq_id('sloc'),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    address_1    text,
    city         text,
    postal_code  text,
    country_code text CHECK (country_code ~ '^[a-z]{2}$'),
    is_active    boolean NOT NULL DEFAULT true,
    seller_id    text,
    metadata     jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER stock_locations_touch BEFORE UPDATE ON stock_locations FOR EACH ROW EXECUTE FUNCTION souq_touch();

-- where a sales channel sells from, in order of preference
CREATE TABLE sales_channel_locations (
    sales_channel_id text NOT NULL REFERENCES sales_channels (id) ON DELETE CASCADE,
    location_id      text NOT NULL REFERENCES stock_locations (id) ON DELETE CASCADE,
    priority         integer NOT NULL DEFAULT 0,
    PRIMARY KEY (sales_channel_id, location_id)
);

CREATE TABLE inventory_items (
    id                  text PRIMARY KEY DEFAULT souq_id('iitem'),
    sku                 text UNIQUE CHECK (length(sku) BETWEEN 1 AND 64),
    title               text,
    requires_shipping   boolean NOT NULL DEFAULT true,
    low_stock_threshold integer CHECK (low_stock_threshold >= 0),
    metadata            jsonb NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER inventory_items_touch BEFORE UPDATE ON inventory_items FOR EACH ROW EXECUTE FUNCTION souq_touch();

-- A variant consumes required_quantity of each of its items (one item per variant by default; bundles share).
CREATE TABLE variant_inventory_items (
    variant_id        text NOT NULL REFERENCES product_variants (id) ON DELETE CASCADE,
    inventory_item_id text NOT NULL REFERENCES inventory_items (id) ON DELETE RESTRICT,
    required_quantity integer NOT NULL DEFAULT 1 CHECK (required_quantity >= 1),
    PRIMARY KEY (variant_id, inventory_item_id)
);
CREATE INDEX variant_inventory_items_item_idx ON variant_inventory_items (inventory_item_id);

CREATE TABLE inventory_levels (
    inventory_item_id text NOT NULL REFERENCES inventory_items (id) ON DELETE CASCADE,
    location_id       text NOT NULL REFERENCES stock_locations (id) ON DELETE RESTRICT,
    on_hand           integer NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved          integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    incoming          integer NOT NULL DEFAULT 0 CHECK (incoming >= 0),
    available         integer GENERATED ALWAYS AS (on_hand - reserved) STORED CONSTRAINT inventory_levels_available_check CHECK (available >= 0),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (inventory_item_id, location_id)
);
CREATE INDEX inventory_levels_location_idx ON inventory_levels (location_id);

CREATE TABLE inventory_ledger (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inventory_item_id text NOT NULL REFERENCES inventory_items (id) ON DELETE CASCADE,
    location_id       text NOT NULL REFERENCES stock_locations (id),
    delta_on_hand     integer NOT NULL DEFAULT 0,
    delta_reserved    integer NOT NULL DEFAULT 0,
    reason            text NOT NULL CHECK (reason IN ('adjustment', 'receive', 'sale', 'return', 'transfer_in', 'transfer_out',
                                                      'count', 'reservation', 'release', 'expiry')),
    reference         text,
    note              text,
    actor             text,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inventory_ledger_item_idx ON inventory_ledger (inventory_item_id, location_id, id);

CREATE TABLE reservations (
    id                text PRIMARY KEY DEFAULT souq_id('resv'),
    inventory_item_id text NOT NULL REFERENCES inventory_items (id),
    location_id       text NOT NULL REFERENCES stock_locations (id),
    quantity          integer NOT NULL CHECK (quantity >= 0),
    backordered       integer NOT NULL DEFAULT 0 CHECK (backordered >= 0),
    reference         text NOT NULL,
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'released', 'committed')),
    expires_at        timestamptz NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (quantity + backordered > 0)
);
CREATE INDEX reservations_reference_idx ON reservations (reference) WHERE status = 'active';
CREATE INDEX reservations_expiry_idx ON reservations (expires_at) WHERE status = 'active';
CREATE TRIGGER reservations_touch BEFORE UPDATE ON reservations FOR EACH ROW EXECUTE FUNCTION souq_touch();

-- inventory.low / inventory.out_of_stock when an item's total available crosses its threshold or zero,
-- written in the transaction that changed the stock.
CREATE FUNCTION souq_inventory_crossing() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    after_total bigint;
    before_total bigint;
    item inventory_items;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.available = OLD.available THEN
        RETURN NULL;
    END IF;
    SELECT sum(available) INTO after_total FROM inventory_levels WHERE inventory_item_id = NEW.inventory_item_id;
    before_total := after_total - NEW.available + CASE WHEN TG_OP = 'UPDATE' THEN OLD.available ELSE 0 END;
    SELECT * INTO item FROM inventory_items WHERE id = NEW.inventory_item_id;
    IF item.low_stock_threshold IS NOT NULL AND before_total > item.low_stock_threshold AND after_total <= item.low_stock_threshold THEN
        INSERT INTO outbox_events (type, payload) VALUES ('inventory.low', jsonb_build_object('inventory_item_id', item.id,
            'sku', item.sku, 'available', after_total, 'threshold', item.low_stock_threshold, 'location_id', NEW.location_id));
    END IF;
    IF before_total > 0 AND after_total <= 0 THEN
        INSERT INTO outbox_events (type, payload) VALUES ('inventory.out_of_stock', jsonb_build_object('inventory_item_id', item.id,
            'sku', item.sku, 'location_id', NEW.location_id));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER inventory_levels_crossing AFTER INSERT OR UPDATE OF on_hand, reserved ON inventory_levels
    FOR EACH ROW EXECUTE FUNCTION souq_inventory_crossing();

-- Changes on_hand of one level by delta (creating the level at 0 first), with its ledger row.
-- A change below zero or below what is reserved is refused (SQ409).
CREATE FUNCTION souq_inventory_adjust(p_item text, p_location text, p_delta int, p_reason text, p_reference text,
                                      p_note text, p_actor text) RETURNS inventory_levels LANGUAGE plpgsql AS $$
DECLARE lvl inventory_levels;
BEGIN
    INSERT INTO inventory_levels (inventory_item_id, location_id) VALUES (p_item, p_location) ON CONFLICT DO NOTHING;
    SELECT * INTO lvl FROM inventory_levels WHERE inventory_item_id = p_item AND location_id = p_location FOR UPDATE;
    IF lvl.on_hand + p_delta < lvl.reserved THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ409', MESSAGE = format('Stock would fall below zero or below what is reserved (on hand %s, reserved %s, change %s).', lvl.on_hand, lvl.reserved, p_delta);
    END IF;
    UPDATE inventory_levels SET on_hand = on_hand + p_delta, updated_at = now()
     WHERE inventory_item_id = p_item AND location_id = p_location RETURNING * INTO lvl;
    INSERT INTO inventory_ledger (inventory_item_id, location_id, delta_on_hand, reason, reference, note, actor)
    VALUES (p_item, p_location, p_delta, p_reason, p_reference, p_note, p_actor);
    RETURN lvl;
END $$;

-- Sets on_hand to a counted quantity (a stock count), recording the difference.
CREATE FUNCTION souq_inventory_count(p_item text, p_location text, p_counted int, p_note text, p_actor text)
RETURNS inventory_levels LANGUAGE plpgsql AS $$
DECLARE cur int;
BEGIN
    INSERT INTO inventory_levels (inventory_item_id, location_id) VALUES (p_item, p_location) ON CONFLICT DO NOTHING;
    SELECT on_hand INTO cur FROM inventory_levels WHERE inventory_item_id = p_item AND location_id = p_location FOR UPDATE;
    RETURN souq_inventory_adjust(p_item, p_location, p_counted - cur, 'count', NULL, p_note, p_actor);
END $$;

-- Moves stock between two locations, locking both levels in a fixed order.
CREATE FUNCTION souq_inventory_transfer(p_item text, p_from text, p_to text, p_quantity int, p_note text, p_actor text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE ref text := souq_id('xfer');
BEGIN
    IF p_from = p_to THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = 'A transfer needs two different locations.';
    END IF;
    INSERT INTO inventory_levels (inventory_item_id, location_id) VALUES (p_item, p_from), (p_item, p_to) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM inventory_levels WHERE inventory_item_id = p_item AND location_id IN (p_from, p_to) ORDER BY location_id FOR UPDATE;
    PERFORM souq_inventory_adjust(p_item, p_from, -p_quantity, 'transfer_out', ref, p_note, p_actor);
    PERFORM souq_inventory_adjust(p_item, p_to, p_quantity, 'transfer_in', ref, p_note, p_actor);
END $$;

-- Reserves stock for lines [{"variant_id", "quantity"}] of a reference (a cart, an order) in the sales
-- channel's locations. Lines are summed per inventory item (two variants sharing an item, or a bundle,
-- cannot oversell it); items are taken in id order (no deadlocks); each item comes from the first location,
-- by the channel's priority, that has all of it. Variants allowing backorders reserve what there is and
-- record the rest as backordered. Anything short raises SQ409 and nothing is reserved.
CREATE FUNCTION souq_reserve(p_lines jsonb, p_channel text, p_reference text, p_ttl_s int) RETURNS SETOF reservations
LANGUAGE plpgsql AS $$
DECLARE
    need record;
    loc text;
    avail int;
    take int;
    r reservations;
    unknown text;
BEGIN
    SELECT l->>'variant_id' INTO unknown FROM jsonb_array_elements(p_lines) l
     WHERE NOT EXISTS (SELECT 1 FROM product_variants v WHERE v.id = l->>'variant_id') LIMIT 1;
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('Unknown variant %s.', unknown);
    END IF;
    FOR need IN
        SELECT vii.inventory_item_id AS item, sum(vii.required_quantity * (l->>'quantity')::int)::int AS qty,
               bool_and(v.allow_backorder) AS backorder, min(v.sku) AS sku
          FROM jsonb_array_elements(p_lines) l
          JOIN product_variants v ON v.id = l->>'variant_id' AND v.manage_inventory
          JOIN variant_inventory_items vii ON vii.variant_id = v.id
         GROUP BY vii.inventory_item_id
         ORDER BY vii.inventory_item_id
    LOOP
        loc := NULL;
        SELECT l.location_id INTO loc FROM inventory_levels l
          JOIN sales_channel_locations scl ON scl.location_id = l.location_id AND scl.sales_channel_id = p_channel
          JOIN stock_locations s ON s.id = l.location_id AND s.is_active
         WHERE l.inventory_item_id = need.item AND l.available >= need.qty
         ORDER BY scl.priority, l.location_id LIMIT 1
           FOR UPDATE OF l;
        IF loc IS NOT NULL THEN
            take := need.qty;
        ELSIF need.backorder THEN
            SELECT l.location_id, l.available INTO loc, avail FROM inventory_levels l
              JOIN sales_channel_locations scl ON scl.location_id = l.location_id AND scl.sales_channel_id = p_channel
             WHERE l.inventory_item_id = need.item ORDER BY l.available DESC, scl.priority, l.location_id LIMIT 1
               FOR UPDATE OF l;
            IF loc IS NULL THEN
                SELECT location_id INTO loc FROM sales_channel_locations WHERE sales_channel_id = p_channel ORDER BY priority, location_id LIMIT 1;
                avail := 0;
            END IF;
            IF loc IS NULL THEN
                RAISE EXCEPTION USING ERRCODE = 'SQ409', MESSAGE = 'The sales channel has no stock location.';
            END IF;
            take := least(need.qty, greatest(avail, 0));
        ELSE
            RAISE EXCEPTION USING ERRCODE = 'SQ409', MESSAGE = format('Insufficient stock for %s.', need.sku);
        END IF;
        IF take > 0 THEN
            UPDATE inventory_levels SET reserved = reserved + take, updated_at = now()
             WHERE inventory_item_id = need.item AND location_id = loc;
            INSERT INTO inventory_ledger (inventory_item_id, location_id, delta_reserved, reason, reference)
            VALUES (need.item, loc, take, 'reservation', p_reference);
        END IF;
        INSERT INTO reservations (inventory_item_id, location_id, quantity, backordered, reference, expires_at)
        VALUES (need.item, loc, take, need.qty - take, p_reference, now() + make_interval(secs => p_ttl_s)) RETURNING * INTO r;
        RETURN NEXT r;
    END LOOP;
END $$;

-- Ends active reservations (of a reference, or expired ones): releases them, or commits them as sold.
CREATE FUNCTION souq_reservations_end(p_ids text[], p_commit boolean, p_reason text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    r reservations;
    n int := 0;
BEGIN
    FOR r IN SELECT * FROM reservations WHERE id = ANY (p_ids) AND status = 'active'
             ORDER BY inventory_item_id, location_id, id FOR UPDATE
    LOOP
        IF r.quantity > 0 THEN
            UPDATE inventory_levels SET reserved = reserved - r.quantity,
                   on_hand = on_hand - CASE WHEN p_commit THEN r.quantity ELSE 0 END, updated_at = now()
             WHERE inventory_item_id = r.inventory_item_id AND location_id = r.location_id;
            INSERT INTO inventory_ledger (inventory_item_id, location_id, delta_on_hand, delta_reserved, reason, reference)
            VALUES (r.inventory_item_id, r.location_id, CASE WHEN p_commit THEN -r.quantity ELSE 0 END, -r.quantity, p_reason, r.reference);
        END IF;
        UPDATE reservations SET status = CASE WHEN p_commit THEN 'committed' ELSE 'released' END WHERE id = r.id;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

CREATE FUNCTION souq_release(p_reference text) RETURNS int LANGUAGE sql AS $$
    SELECT souq_reservations_end(ARRAY(SELECT id FROM reservations WHERE reference = p_reference AND status = 'active'), false, 'release')
$$;

CREATE FUNCTION souq_commit(p_reference text) RETURNS int LANGUAGE sql AS $$
    SELECT souq_reservations_end(ARRAY(SELECT id FROM reservations WHERE reference = p_reference AND status = 'active'), true, 'sale')
$$;

-- The sweeper: releases up to p_limit expired reservations; rows another node is handling are skipped.
CREATE FUNCTION souq_release_expired(p_limit int) RETURNS int LANGUAGE sql AS $$
    SELECT souq_reservations_end(ARRAY(SELECT id FROM reservations WHERE status = 'active' AND expires_at <= now()
                                        ORDER BY expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED), false, 'expiry')
$$;
