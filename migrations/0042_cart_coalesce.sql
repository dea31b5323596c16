-- 0042_cart_coalesce.sql: creating the carts of many POST /v1/store/carts requests in one statement.
--
-- Why: a cart creation alone costs PostgreSQL about 0.4 ms of CPU (a transaction, a plpgsql call that runs a
-- dozen statements, the cart view planned again), nearly all of it per call rather than per row. core/db's
-- coalesced calls (core/db/db.h) send the creations a server thread received while the previous group was in
-- flight as one JSON array; this function checks and inserts them set-based, and the cart view of all of them
-- follows in the same transaction (core/cart_db.c cart_view_many).
--
-- The contract: a call is created here only when every check of souq_cart_create (0012, 0016) passes, with the
-- same result (currency from the body, the region, the channel's default region, else the store's first region;
-- the email given or the customer's; one line per variant with the quantities added up, in the order of first
-- appearance). A call it does not create is not returned, and core/cart_db.c runs it alone through
-- souq_cart_create, which answers its error with the field's pointer: so errors keep their exact shape and order,
-- and one bad request never fails the others. Bodies with addresses always go alone (souq_cart_addresses).
-- p: [{"id", "channel", "customer", "body"}...]; returns the 1-based positions of the carts created.
CREATE FUNCTION souq_carts_create(p jsonb) RETURNS TABLE (ord int) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM souq_cart_async_commit();
    RETURN QUERY
    WITH k AS (
        SELECT e.ordinality::int AS ord, e.value->>'id' AS id, e.value->>'channel' AS channel, e.value->>'customer' AS customer,
               e.value->'body' AS b, lower(e.value->'body'->>'currency_code') AS want, e.value->'body'->>'region_id' AS region
          FROM jsonb_array_elements(p) WITH ORDINALITY e
    ), kc AS (
        SELECT k.*, r.currency_code AS reg_cur,
               coalesce(k.want, r.currency_code,
                        (SELECT x.currency_code FROM sales_channels sc JOIN regions x ON x.id = sc.default_region_id WHERE sc.id = k.channel),
                        (SELECT x.currency_code FROM regions x ORDER BY x.created_at, x.id LIMIT 1)) AS cur
          FROM k LEFT JOIN regions r ON r.id = k.region
    ), ok AS (  -- souq_cart_currency's checks, and no addresses
        SELECT kc.* FROM kc
         WHERE EXISTS (SELECT 1 FROM currencies cu WHERE cu.code = kc.cur)
           AND (kc.region IS NULL OR (kc.reg_cur IS NOT NULL AND (kc.want IS NULL OR kc.want = kc.reg_cur)))
           AND NOT kc.b ?| ARRAY['shipping_address', 'billing_address', 'shipping_address_id', 'billing_address_id']
    ), it AS (  -- a line per variant (souq_cart_add adds a repeated variant to its line)
        SELECT o.ord, i.value->>'variant_id' AS variant, sum((i.value->>'quantity')::int) AS qty, min(i.ordinality) AS first,
               min((i.value->>'quantity')::int) AS least, count(*) - count(i.value->>'quantity') AS missing
          FROM ok o, jsonb_array_elements(coalesce(o.b->'items', '[]')) WITH ORDINALITY i
         GROUP BY o.ord, i.value->>'variant_id'
    ), chk AS MATERIALIZED (  -- souq_cart_check_variant's checks, once per variant, currency and channel of the group
                              -- (carts created together mostly add the same popular variants)
        SELECT v.variant, v.cur, v.channel,
               pr.status = 'active' AND EXISTS (SELECT 1 FROM product_sales_channels psc
                                                WHERE psc.product_id = pr.id AND psc.sales_channel_id = v.channel) AS sellable,
               souq_cart_priced(v.variant, v.cur) AS priced,
               CASE WHEN pv.manage_inventory AND NOT pv.allow_backorder THEN souq_variant_available(v.variant, v.channel) END AS avail
          FROM (SELECT DISTINCT it.variant, o.cur, o.channel FROM it JOIN ok o ON o.ord = it.ord) v
          JOIN product_variants pv ON pv.id = v.variant JOIN products pr ON pr.id = pv.product_id
    ), bad AS MATERIALIZED (  -- souq_cart_add's checks per line (a variant with no chk row does not exist); the item
                              -- rules C checks too (quantity 1..10000), so that this function is safe alone
        SELECT it.ord FROM it JOIN ok o ON o.ord = it.ord
          LEFT JOIN chk ON chk.variant = it.variant AND chk.cur = o.cur AND chk.channel = o.channel
         WHERE chk.variant IS NULL OR NOT chk.sellable OR NOT chk.priced OR chk.avail < it.qty
            OR it.qty > 10000 OR it.least < 1 OR it.missing > 0
        UNION ALL
        SELECT it.ord FROM it GROUP BY it.ord HAVING count(*) > 250
    ), good AS (
        SELECT ok.* FROM ok WHERE ok.ord NOT IN (SELECT bad.ord FROM bad)
    ), ins AS (
        INSERT INTO carts (id, sales_channel_id, customer_id, email, currency_code, region_id, note, metadata)
        SELECT g.id, g.channel, g.customer, coalesce(lower(g.b->>'email'), (SELECT cu.email FROM customers cu WHERE cu.id = g.customer)),
               g.cur, g.region, g.b->>'note', coalesce(g.b->'metadata', '{}')
          FROM good g ORDER BY g.ord
    ), lines AS (  -- (a data-modifying WITH always runs to completion; the parent rows are checked at the statement's end)
        INSERT INTO cart_line_items (cart_id, variant_id, quantity)
        SELECT g.id, it.variant, it.qty FROM good g JOIN it ON it.ord = g.ord ORDER BY g.ord, it.first
    )
    SELECT g.ord FROM good g;
END $$;

-- souq_id (0001) without its loops: one expression instead of 26 plpgsql assignments, 2x faster (10 -> 5 us a call; every
-- row of every table with an id default pays it, a checkout about ten times). Same ids: prefix, '_', 10 characters of the
-- millisecond time and 16 of random bits, in Crockford's base32.
CREATE OR REPLACE FUNCTION souq_id(prefix text) RETURNS text LANGUAGE plpgsql VOLATILE PARALLEL SAFE AS $$
DECLARE
    u bytea := uuid_send(gen_random_uuid());
    t bigint := floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint;
    r1 bigint := ('x' || encode(substring(u FROM 1 FOR 5), 'hex'))::bit(40)::bigint;
    r2 bigint := ('x' || encode(substring(u FROM 10 FOR 5), 'hex'))::bit(40)::bigint;
    a constant text := '0123456789abcdefghjkmnpqrstvwxyz';
BEGIN
    RETURN prefix || '_'
        || substr(a, ((t >> 45) & 31)::int + 1, 1) || substr(a, ((t >> 40) & 31)::int + 1, 1) || substr(a, ((t >> 35) & 31)::int + 1, 1) || substr(a, ((t >> 30) & 31)::int + 1, 1)
        || substr(a, ((t >> 25) & 31)::int + 1, 1) || substr(a, ((t >> 20) & 31)::int + 1, 1) || substr(a, ((t >> 15) & 31)::int + 1, 1) || substr(a, ((t >> 10) & 31)::int + 1, 1)
        || substr(a, ((t >> 5) & 31)::int + 1, 1) || substr(a, ((t >> 0) & 31)::int + 1, 1) || substr(a, ((r1 >> 35) & 31)::int + 1, 1) || substr(a, ((r1 >> 30) & 31)::int + 1, 1)
        || substr(a, ((r1 >> 25) & 31)::int + 1, 1) || substr(a, ((r1 >> 20) & 31)::int + 1, 1) || substr(a, ((r1 >> 15) & 31)::int + 1, 1) || substr(a, ((r1 >> 10) & 31)::int + 1, 1)
        || substr(a, ((r1 >> 5) & 31)::int + 1, 1) || substr(a, ((r1 >> 0) & 31)::int + 1, 1) || substr(a, ((r2 >> 35) & 31)::int + 1, 1) || substr(a, ((r2 >> 30) & 31)::int + 1, 1)
        || substr(a, ((r2 >> 25) & 31)::int + 1, 1) || substr(a, ((r2 >> 20) & 31)::int + 1, 1) || substr(a, ((r2 >> 15) & 31)::int + 1, 1) || substr(a, ((r2 >> 10) & 31)::int + 1, 1)
        || substr(a, ((r2 >> 5) & 31)::int + 1, 1) || substr(a, ((r2 >> 0) & 31)::int + 1, 1);
END $$;
