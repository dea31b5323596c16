-- 0016_cart_addresses_merge.sql: shipping and billing addresses on carts, and attaching a guest cart to the
-- logged-in customer, merging the customer's previous active cart into it. The input rules of an address are
-- the customer address book's (core/customer.c, validated in C before the body reaches SQL); here an address
-- is normalised (all ten keys, country lower-case) and checked against the cart's region.

ALTER TABLE carts
    ADD COLUMN merged_into text,         -- the cart this one was merged into (no FK: the target may be swept first)
    ADD COLUMN merged_at   timestamptz,  -- a merged cart is 404, like a completed one
    ADD COLUMN last_merge  jsonb;        -- the report of the merge into this cart (shown as last_merge)
-- a customer's active carts, latest first: the attach finds the cart to merge with one index probe
CREATE INDEX carts_customer_active_idx ON carts (customer_id, sales_channel_id, updated_at DESC)
    WHERE customer_id IS NOT NULL AND completed_at IS NULL AND merged_at IS NULL;

-- The cart of a caller, locked (0012's function, now also refusing merged carts).
CREATE OR REPLACE FUNCTION souq_cart_lock(p_id text, p_channel text, p_customer text, p_ttl_s int, p_version int) RETURNS carts
LANGUAGE plpgsql AS $$
DECLARE
    c carts;
BEGIN
    PERFORM souq_cart_async_commit();
    SELECT * INTO c FROM carts
     WHERE id = p_id AND sales_channel_id = p_channel AND (customer_id IS NULL OR customer_id = p_customer)
       AND completed_at IS NULL AND merged_at IS NULL AND updated_at > now() - make_interval(secs => p_ttl_s)
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The cart does not exist.';
    END IF;
    IF p_version IS NOT NULL AND c.version <> p_version THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ412', MESSAGE = 'The cart changed since you read it; read it again (If-Match).';
    END IF;
    RETURN c;
END $$;

-- An address of a request body (validated in C) as stored: the ten keys always present, the country lower-case.
CREATE FUNCTION souq_cart_address(a jsonb) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF a IS NULL OR jsonb_typeof(a) <> 'object' THEN
        RETURN NULL;
    END IF;
    RETURN jsonb_build_object('first_name', a->>'first_name', 'last_name', a->>'last_name', 'company', a->>'company',
                              'address_1', a->>'address_1', 'address_2', a->>'address_2', 'city', a->>'city',
                              'province', a->>'province', 'postal_code', a->>'postal_code',
                              'country_code', lower(a->>'country_code'), 'phone', a->>'phone');
END $$;

-- Applies shipping_address / billing_address (an object, or null to clear) and shipping_address_id /
-- billing_address_id (a copy of an address of the customer's address book; only on the customer's own cart) of
-- a body to c, then checks that the shipping country is one of the cart's region's countries (when it has a
-- region). Returns c changed; the caller stores it.
CREATE FUNCTION souq_cart_addresses(c carts, p_customer text, b jsonb) RETURNS carts LANGUAGE plpgsql AS $$
DECLARE
    k text;
    a jsonb;
BEGIN
    FOREACH k IN ARRAY ARRAY['shipping', 'billing'] LOOP
        IF b ? (k || '_address_id') THEN
            IF b ? (k || '_address') THEN
                RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/' || k || '_address_id|not_allowed|Give ' || k || '_address or ' || k || '_address_id, not both.';
            END IF;
            SELECT souq_cart_address(to_jsonb(ca)) INTO a FROM customer_addresses ca
             WHERE ca.id = b->>(k || '_address_id') AND ca.customer_id = p_customer AND c.customer_id = p_customer;
            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/' || k || '_address_id|not_found|No such address in the address book of this cart''s customer.';
            END IF;
        ELSIF b ? (k || '_address') THEN
            a := souq_cart_address(b->(k || '_address'));
        ELSE
            CONTINUE;
        END IF;
        IF k = 'shipping' THEN
            c.shipping_address := a;
        ELSE
            c.billing_address := a;
        END IF;
    END LOOP;
    IF c.region_id IS NOT NULL AND c.shipping_address IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM region_countries rc WHERE rc.region_id = c.region_id AND rc.country_code = c.shipping_address->>'country_code') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE =
            CASE WHEN b ? 'shipping_address_id' THEN '/shipping_address_id' WHEN b ? 'shipping_address' THEN '/shipping_address/country_code' ELSE '/region_id' END
            || '|not_in_region|The cart''s region does not include the shipping country ' || (c.shipping_address->>'country_code') || '.';
    END IF;
    RETURN c;
END $$;

-- POST /v1/store/carts (0012's function with addresses).
CREATE OR REPLACE FUNCTION souq_cart_create(p_id text, p_channel text, p_customer text, b jsonb) RETURNS text LANGUAGE plpgsql AS $$
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
    IF b ?| ARRAY['shipping_address', 'billing_address', 'shipping_address_id', 'billing_address_id'] THEN
        c := souq_cart_addresses(c, p_customer, b);
        UPDATE carts SET shipping_address = c.shipping_address, billing_address = c.billing_address WHERE id = c.id;
    END IF;
    FOR it IN SELECT e.value, e.ordinality - 1 AS i FROM jsonb_array_elements(coalesce(b->'items', '[]')) WITH ORDINALITY e LOOP
        PERFORM souq_cart_add(c, it.value->>'variant_id', (it.value->>'quantity')::int, '/items/' || it.i);
    END LOOP;
    RETURN c.id;
END $$;

-- PATCH /v1/store/carts/{id} (0012's function with addresses). A new region must include the stored shipping
-- country (422 /region_id otherwise), as a new currency must price every line: a cart never silently drops
-- what the buyer gave it.
CREATE OR REPLACE FUNCTION souq_cart_update(p_id text, p_channel text, p_customer text, p_ttl_s int, p_version int, b jsonb) RETURNS text
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
    IF b ?| ARRAY['region_id', 'shipping_address', 'billing_address', 'shipping_address_id', 'billing_address_id'] THEN
        c := souq_cart_addresses(c, p_customer, b);
    END IF;
    UPDATE carts SET currency_code = c.currency_code, region_id = c.region_id,
                     shipping_address = c.shipping_address, billing_address = c.billing_address,
                     email = CASE WHEN b ? 'email' THEN lower(b->>'email') ELSE email END,
                     note = CASE WHEN b ? 'note' THEN b->>'note' ELSE note END,
                     metadata = souq_merge_metadata(metadata, b),
                     version = version + 1, updated_at = now()
     WHERE id = c.id;
    RETURN c.id;
END $$;

-- POST /v1/store/carts/{id}/customer: the guest cart becomes the caller's, and the customer's most recently
-- changed other active cart of the channel (if any) is merged into it, then 404 for ever (merged_at):
-- its lines are added to this cart (quantities of the same variant add up), each capped by the 10000-unit
-- line limit, the 250-line limit and the channel's stock (never below what this cart already holds); lines
-- that cannot be sold here (inactive, not in the channel, no price in this cart's currency) are dropped.
-- What was not moved is reported in last_merge.dropped ({variant_id, quantity, reason}). Only lines move:
-- this cart keeps its currency, region, addresses, note and metadata; its email becomes the account's.
-- A cart that already is the caller's changes nothing (a retried attach is harmless). The customer row is
-- locked first, so attaches of one customer run one after another and each sees the previous one's result.
CREATE FUNCTION souq_cart_attach(p_id text, p_channel text, p_customer text, p_ttl_s int, p_version int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    c carts;
    o carts;
    l record;
    cur int;
    want int;
    cap int;
    avail int;
    nlines int;
    moved int := 0;
    dropped jsonb := '[]';
    why text;
BEGIN
    PERFORM souq_cart_async_commit();
    PERFORM 1 FROM customers WHERE id = p_customer FOR NO KEY UPDATE;
    c := souq_cart_lock(p_id, p_channel, p_customer, p_ttl_s, p_version);
    IF c.customer_id IS NOT NULL THEN
        RETURN c.id;
    END IF;
    SELECT * INTO o FROM carts
     WHERE customer_id = p_customer AND sales_channel_id = p_channel AND id <> c.id AND completed_at IS NULL AND merged_at IS NULL
       AND updated_at > now() - make_interval(secs => p_ttl_s)
     ORDER BY updated_at DESC, id LIMIT 1 FOR UPDATE;
    IF FOUND THEN
        SELECT count(*) INTO nlines FROM cart_line_items WHERE cart_id = c.id;
        FOR l IN SELECT ol.variant_id, ol.quantity, ol.metadata, pv.manage_inventory, pv.allow_backorder,
                        (p.status = 'active' AND EXISTS (SELECT 1 FROM product_sales_channels psc
                                                          WHERE psc.product_id = p.id AND psc.sales_channel_id = c.sales_channel_id)) AS listed
                   FROM cart_line_items ol JOIN product_variants pv ON pv.id = ol.variant_id JOIN products p ON p.id = pv.product_id
                  WHERE ol.cart_id = o.id ORDER BY ol.created_at, ol.id LOOP
            why := NULL;
            cur := (SELECT quantity FROM cart_line_items WHERE cart_id = c.id AND variant_id = l.variant_id);
            want := least(coalesce(cur, 0) + l.quantity, 10000);
            IF NOT l.listed THEN
                why := 'not_sellable';
                want := coalesce(cur, 0);
            ELSIF NOT souq_cart_priced(l.variant_id, c.currency_code) THEN
                why := 'not_priced';
                want := coalesce(cur, 0);
            ELSIF cur IS NULL AND nlines >= 250 THEN
                why := 'too_many_lines';
                want := 0;
            ELSE
                IF want < coalesce(cur, 0) + l.quantity THEN
                    why := 'quantity_limit';
                END IF;
                IF l.manage_inventory AND NOT l.allow_backorder THEN
                    avail := souq_variant_available(l.variant_id, c.sales_channel_id);
                    cap := greatest(avail, coalesce(cur, 0));
                    IF cap < want THEN
                        want := cap;
                        why := 'insufficient_stock';
                    END IF;
                END IF;
            END IF;
            IF want > coalesce(cur, 0) THEN
                IF cur IS NULL THEN
                    INSERT INTO cart_line_items (cart_id, variant_id, quantity, metadata) VALUES (c.id, l.variant_id, want, l.metadata);
                    nlines := nlines + 1;
                ELSE
                    UPDATE cart_line_items SET quantity = want, updated_at = now() WHERE cart_id = c.id AND variant_id = l.variant_id;
                END IF;
                moved := moved + 1;
            END IF;
            IF why IS NOT NULL THEN
                dropped := dropped || jsonb_build_object('variant_id', l.variant_id, 'quantity', coalesce(cur, 0) + l.quantity - want, 'reason', why);
            END IF;
        END LOOP;
        UPDATE carts SET merged_into = c.id, merged_at = now(), version = version + 1, updated_at = now() WHERE id = o.id;
    END IF;
    UPDATE carts SET customer_id = p_customer, email = coalesce((SELECT email FROM customers WHERE id = p_customer), email),
                     last_merge = CASE WHEN o.id IS NOT NULL
                                       THEN jsonb_build_object('merged_at', now(), 'lines_merged', moved, 'dropped', dropped) END,
                     version = version + 1, updated_at = now()
     WHERE id = c.id;
    RETURN c.id;
END $$;
