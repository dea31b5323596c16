-- 0012_carts.sql: storefront carts and their line items. A cart stores what the buyer chose (variants and
-- quantities, currency, region, email, note, metadata); prices and totals are never stored here: every answer
-- resolves them with the one price resolver (core/pricing.c) from the price rows the cart view returns.
-- Stock is not reserved by a cart (checkout reserves, core/inventory.h); adding a line only checks it.
--
-- The mutation functions lock the cart row, raise Souq's SQLSTATEs with client-safe messages and change
-- nothing when they refuse. Messages that concern one field are "<json pointer>|<code>|<detail>" and become
-- a per-field error in core/cart_db.c. SQ404: no such cart for this caller (missing, another channel,
-- another customer's, expired); SQ412: the version changed (If-Match); SQ422: invalid; SQSTK: not enough
-- stock (409 insufficient-stock).

-- Speed: a LANGUAGE sql function whose body has a FROM clause is never inlined, and PostgreSQL 15 plans its
-- body again in every statement that calls it (about 0.2 ms each here); a plpgsql function keeps its plans for
-- the session. So the helpers below are plpgsql, and the two shared SQL functions a cart change calls are
-- replaced by plpgsql versions with the same bodies and results (the storefront's availability and currency
-- lookups get faster too). Measured with pgbench, one client: creating a cart with one line 1.69 -> 0.44 ms;
-- souq_variant_available of 20 variants in one statement 1.09 -> 0.43 ms; souq_pick_currency 0.12 -> 0.04 ms.
CREATE OR REPLACE FUNCTION souq_variant_available(p_variant text, p_channel text) RETURNS int LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(min(coalesce(a.avail, 0) / vii.required_quantity), 0)::int
              FROM variant_inventory_items vii
              LEFT JOIN LATERAL (SELECT sum(l.available) AS avail FROM inventory_levels l
                                   JOIN sales_channel_locations scl ON scl.location_id = l.location_id AND scl.sales_channel_id = p_channel
                                   JOIN stock_locations s ON s.id = l.location_id AND s.is_active
                                  WHERE l.inventory_item_id = vii.inventory_item_id) a ON true
             WHERE vii.variant_id = p_variant);
END $$;

CREATE OR REPLACE FUNCTION souq_pick_currency(p_currency text, p_region text, p_channel text) RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN coalesce(lower(p_currency), (SELECT currency_code FROM regions WHERE id = p_region),
                    (SELECT r.currency_code FROM sales_channels c JOIN regions r ON r.id = c.default_region_id WHERE c.id = p_channel),
                    (SELECT currency_code FROM regions ORDER BY created_at, id LIMIT 1));
END $$;

CREATE TABLE carts (
    id               text PRIMARY KEY CHECK (id ~ '^cart_[A-Za-z0-9_-]{43}$'),
    sales_channel_id text NOT NULL REFERENCES sales_channels (id),
    customer_id      text REFERENCES customers (id) ON DELETE CASCADE,
    email            text CHECK (length(email) <= 254),
    currency_code    text NOT NULL REFERENCES currencies (code),
    region_id        text REFERENCES regions (id) ON DELETE SET NULL,
    note             text CHECK (length(note) <= 1000),
    metadata         jsonb NOT NULL DEFAULT '{}',
    -- for the next slices: addresses, a company (B2B), completion by checkout
    shipping_address jsonb,
    billing_address  jsonb,
    company_id       text,
    completed_at     timestamptz,
    version          integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX carts_customer_idx ON carts (customer_id, updated_at DESC) WHERE customer_id IS NOT NULL;
-- a sweeper deletes expired carts by updated_at
CREATE INDEX carts_updated_idx ON carts (updated_at);

CREATE TABLE cart_line_items (
    id         text PRIMARY KEY DEFAULT souq_id('cali'),
    cart_id    text NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    variant_id text NOT NULL REFERENCES product_variants (id) ON DELETE CASCADE,
    quantity   integer NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
    metadata   jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cart_id, variant_id)
);
CREATE INDEX cart_line_items_variant_idx ON cart_line_items (variant_id);

-- Cart changes commit without waiting for the WAL flush (synchronous_commit off for their transaction only):
-- a crash can lose the last few hundred milliseconds of cart edits (the buyer sees the cart as it was), never
-- an order, a payment or stock, which commit durably. Measured with `make bench-carts` (2 threads, so 2
-- connections, each waiting for its fsync at every commit): add-to-cart 249 -> 845 req/s, p50 242 -> 72 ms.
CREATE FUNCTION souq_cart_async_commit() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
END $$;

-- The cart of a caller, locked: the id, the channel of the publishable key, and the customer of the token
-- (NULL for anonymous callers) must all fit; a customer's cart is only the customer's; an expired cart
-- (untouched for p_ttl_s seconds) or a completed one does not exist. p_version (NULL: no check) is the
-- version the caller's If-Match was computed from.
CREATE FUNCTION souq_cart_lock(p_id text, p_channel text, p_customer text, p_ttl_s int, p_version int) RETURNS carts
LANGUAGE plpgsql AS $$
DECLARE
    c carts;
BEGIN
    PERFORM souq_cart_async_commit();
    SELECT * INTO c FROM carts
     WHERE id = p_id AND sales_channel_id = p_channel AND (customer_id IS NULL OR customer_id = p_customer)
       AND completed_at IS NULL AND updated_at > now() - make_interval(secs => p_ttl_s)
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The cart does not exist.';
    END IF;
    IF p_version IS NOT NULL AND c.version <> p_version THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ412', MESSAGE = 'The cart changed since you read it; read it again (If-Match).';
    END IF;
    RETURN c;
END $$;

-- Whether a variant has a price the resolver can start from in a currency: a base price, or a price of an
-- active list that is open now.
CREATE FUNCTION souq_cart_priced(p_variant text, p_currency text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM prices pr LEFT JOIN price_lists pl ON pl.id = pr.price_list_id
                    WHERE pr.variant_id = p_variant AND pr.currency_code = p_currency
                      AND (pr.price_list_id IS NULL OR (pl.status = 'active' AND (pl.starts_at IS NULL OR pl.starts_at <= now())
                                                       AND (pl.ends_at IS NULL OR pl.ends_at > now()))));
END $$;

-- Whether a variant may be sold to this cart in p_qty units; raises with p_pointer otherwise. Sellable: the
-- product is active and in the cart's channel, and the variant has a base price in the cart's currency or
-- a price in an active list that is open now (the resolver decides the amount; a list whose rules exclude
-- the cart leaves the line unpriced and it shows as not sellable). Stock: the channel's available stock
-- unless inventory is not managed or backorders are allowed.
CREATE FUNCTION souq_cart_check_variant(c carts, p_variant text, p_qty int, p_pointer text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v record;
    avail int;
BEGIN
    SELECT pv.id, pv.sku, pv.manage_inventory, pv.allow_backorder, p.status,
           EXISTS (SELECT 1 FROM product_sales_channels psc WHERE psc.product_id = p.id AND psc.sales_channel_id = c.sales_channel_id) AS in_channel
      INTO v FROM product_variants pv JOIN products p ON p.id = pv.product_id WHERE pv.id = p_variant;
    IF NOT FOUND OR v.status <> 'active' OR NOT v.in_channel THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = p_pointer || '/variant_id|not_found|The variant does not exist or is not sold in this sales channel.';
    END IF;
    IF NOT souq_cart_priced(p_variant, c.currency_code) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = p_pointer || '/variant_id|not_priced|The variant has no price in ' || c.currency_code || '.';
    END IF;
    IF v.manage_inventory AND NOT v.allow_backorder THEN
        avail := souq_variant_available(p_variant, c.sales_channel_id);
        IF avail < p_qty THEN
            RAISE EXCEPTION USING ERRCODE = 'SQSTK', MESSAGE = p_pointer || '/quantity|insufficient_stock|Only ' || avail || ' of ' || v.sku || ' can be bought now.';
        END IF;
    END IF;
END $$;

-- Adds p_qty of a variant: to its line when the cart has one (quantities add up), else as a new line.
CREATE FUNCTION souq_cart_add(c carts, p_variant text, p_qty int, p_pointer text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    cur int;
BEGIN
    SELECT quantity INTO cur FROM cart_line_items WHERE cart_id = c.id AND variant_id = p_variant;
    IF coalesce(cur, 0) + p_qty > 10000 THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = p_pointer || '/quantity|out_of_range|A line holds at most 10000 units (the cart has ' || coalesce(cur, 0) || ').';
    END IF;
    IF cur IS NULL AND (SELECT count(*) FROM cart_line_items WHERE cart_id = c.id) >= 250 THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = p_pointer || '/variant_id|too_many|A cart holds at most 250 lines.';
    END IF;
    PERFORM souq_cart_check_variant(c, p_variant, coalesce(cur, 0) + p_qty, p_pointer);
    IF cur IS NULL THEN
        INSERT INTO cart_line_items (cart_id, variant_id, quantity) VALUES (c.id, p_variant, p_qty);
    ELSE
        UPDATE cart_line_items SET quantity = cur + p_qty, updated_at = now() WHERE cart_id = c.id AND variant_id = p_variant;
    END IF;
END $$;

-- The currency of a new or changed cart: the one given, else the region's, else the channel's default region's.
CREATE FUNCTION souq_cart_currency(p_currency text, p_region text, p_channel text, p_pointer text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    cur text;
    reg_cur text;
BEGIN
    IF p_region IS NOT NULL THEN
        SELECT currency_code INTO reg_cur FROM regions WHERE id = p_region;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/region_id|not_found|The region does not exist.';
        END IF;
        IF p_currency IS NOT NULL AND lower(p_currency) <> reg_cur THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/currency_code|invalid_value|The region sells in ' || reg_cur || '.';
        END IF;
    END IF;
    cur := souq_pick_currency(p_currency, p_region, p_channel);
    IF cur IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = p_pointer || '|required|No currency: give currency_code or region_id (the store has no region).';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM currencies WHERE code = cur) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/currency_code|invalid_value|The currency is not loaded.';
    END IF;
    RETURN cur;
END $$;

-- POST /v1/store/carts: body {currency_code, region_id, email, note, metadata, items: [{variant_id, quantity}]}
-- (validated in C). Returns the new id.
CREATE FUNCTION souq_cart_create(p_id text, p_channel text, p_customer text, b jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c carts;
    it record;
BEGIN
    PERFORM souq_cart_async_commit();
    INSERT INTO carts (id, sales_channel_id, customer_id, email, currency_code, region_id, note, metadata)
    VALUES (p_id, p_channel, p_customer,
            coalesce(lower(b->>'email'), (SELECT email FROM customers WHERE id = p_customer)),
            souq_cart_currency(b->>'currency_code', b->>'region_id', p_channel, '/currency_code'),
            b->>'region_id', b->>'note', coalesce(b->'metadata', '{}'))
    RETURNING * INTO c;
    FOR it IN SELECT e.value, e.ordinality - 1 AS i FROM jsonb_array_elements(coalesce(b->'items', '[]')) WITH ORDINALITY e LOOP
        PERFORM souq_cart_add(c, it.value->>'variant_id', (it.value->>'quantity')::int, '/items/' || it.i);
    END LOOP;
    RETURN c.id;
END $$;

-- PATCH /v1/store/carts/{id}: email, note, metadata, currency_code / region_id. A new currency reprices every
-- line; a line with no price in it refuses the change (/currency_code).
CREATE FUNCTION souq_cart_update(p_id text, p_channel text, p_customer text, p_ttl_s int, p_version int, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    c carts;
    cur text;
    reg text;
    l record;
BEGIN
    c := souq_cart_lock(p_id, p_channel, p_customer, p_ttl_s, p_version);
    IF b ? 'currency_code' OR b ? 'region_id' THEN
        -- a new currency alone keeps the region only when the region sells in it
        reg := CASE WHEN b ? 'region_id' THEN b->>'region_id'
                    WHEN (SELECT currency_code FROM regions WHERE id = c.region_id) = lower(b->>'currency_code') THEN c.region_id END;
        cur := souq_cart_currency(coalesce(b->>'currency_code', CASE WHEN reg IS NULL THEN c.currency_code END), reg, p_channel, '/currency_code');
        c.currency_code := cur;
        c.region_id := reg;
        FOR l IN SELECT variant_id FROM cart_line_items WHERE cart_id = c.id LOOP
            IF NOT souq_cart_priced(l.variant_id, cur) THEN
                RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/currency_code|not_priced|A line of the cart has no price in ' || cur || '; remove it first.';
            END IF;
        END LOOP;
    END IF;
    UPDATE carts SET currency_code = c.currency_code, region_id = c.region_id,
                     email = CASE WHEN b ? 'email' THEN lower(b->>'email') ELSE email END,
                     note = CASE WHEN b ? 'note' THEN b->>'note' ELSE note END,
                     metadata = souq_merge_metadata(metadata, b),
                     version = version + 1, updated_at = now()
     WHERE id = c.id;
    RETURN c.id;
END $$;

-- POST /v1/store/carts/{id}/line-items
CREATE FUNCTION souq_cart_line_add(p_id text, p_channel text, p_customer text, p_ttl_s int, p_version int, p_variant text, p_qty int)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c carts;
BEGIN
    c := souq_cart_lock(p_id, p_channel, p_customer, p_ttl_s, p_version);
    PERFORM souq_cart_add(c, p_variant, p_qty, '');
    UPDATE carts SET version = version + 1, updated_at = now() WHERE id = c.id;
    RETURN c.id;
END $$;

-- PATCH (p_qty >= 0; 0 removes) and DELETE (p_qty NULL) of one line.
CREATE FUNCTION souq_cart_line_set(p_id text, p_channel text, p_customer text, p_ttl_s int, p_version int, p_line text, p_qty int)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c carts;
    l cart_line_items;
BEGIN
    c := souq_cart_lock(p_id, p_channel, p_customer, p_ttl_s, p_version);
    SELECT * INTO l FROM cart_line_items WHERE id = p_line AND cart_id = c.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The line item does not exist.';
    END IF;
    IF coalesce(p_qty, 0) = 0 THEN
        DELETE FROM cart_line_items WHERE id = l.id;
    ELSE
        -- lowering a quantity is always allowed (the buyer gives units back); raising it checks stock again
        IF p_qty > l.quantity THEN
            PERFORM souq_cart_check_variant(c, l.variant_id, p_qty, '');
        END IF;
        UPDATE cart_line_items SET quantity = p_qty, updated_at = now() WHERE id = l.id;
    END IF;
    UPDATE carts SET version = version + 1, updated_at = now() WHERE id = c.id;
    RETURN c.id;
END $$;
