-- 0045_checkout_coalesce.sql: the steps of many checkouts, each in one statement (core/db/db.h coalesced calls): the
-- orders (souq_checkouts_complete), their preparation with the group's stock (souq_checkouts_prepare), the test gateway's
-- authorizations (souq_testpay_authorize_many) and the Idempotency-Key claims (souq_idem_claim_many); the order's JSON
-- set-based (souq_orders_json, which souq_order_json reads through); WHEN clauses for two order triggers.
--
-- Why, for the orders: souq_checkout_complete alone costs PostgreSQL about 1.5 ms of CPU an order on a quiet box, most of it per call
-- (a transaction and its durable commit, a plpgsql call running some twenty statements, each with its executor start)
-- rather than per row. core/checkout_db.c sends the completions a server thread receives while its previous group is
-- in flight as one JSON array (core/db/db.h, coalesced calls, as carts do since 0042); this function places them
-- set-based in one transaction, so a group of orders shares one commit and one WAL flush.
--
-- The contract: an order is placed here only in the common case, with exactly the rows souq_checkout_complete writes
-- for it: a cart not yet completed, an open payment of the cart (not nothing-due), a customer known beforehand (the
-- cart's, or the guest record of its email), no promotions, gift cards or loyalty points to redeem, and the cart's
-- stock still reserved. A call not taken gets no row, and core/checkout_db.c runs it alone through
-- souq_checkout_complete, which covers everything else (a concurrent completion, redeeming, a guest record to make,
-- stock to reserve again) and answers every error with its exact shape. Two calls for one cart in a group: the
-- first is taken, the second goes alone and answers the order (superseded).
-- Carts, then payments, are locked in id order, so two groups (or a group and a lone completion) never wait for each
-- other in a cycle.
-- p: [{"id", "channel", "customer", "payment", "status", "provider_ref", "cart", "idem": [principal, method, route,
-- key] or null}...]; returns the 1-based positions of the orders placed and their JSON.
CREATE FUNCTION souq_checkouts_complete(p jsonb) RETURNS TABLE (ord int, answer text) LANGUAGE plpgsql
-- Every join here is a handful of calls against a large table by its key: index probes in nested loops. The planner
-- guesses 100 rows for a JSON array, and against a table it believes small it prefers a scan of the table (or of a whole
-- index under a hash join), so those strategies are off for these functions (and the statements they run). Statistics
-- still matter: a session keeps a plpgsql statement's plan, and one made while a table had a few hundred rows (a new
-- cluster) scans it as it grows, until the table is analyzed again (autovacuum does within a minute; measured: a group's
-- payment update at 13 ms among 12,000 payments, orders/s halving within a minute of a fresh bench, which therefore
-- analyzes after its warm-up).
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
DECLARE
    x jsonb; -- the calls taken: [{ord, order_id, cart_id, customer_id, payment_id}]
    ids text[]; -- their orders (a variable: souq_orders_json is inlined only for arguments without subqueries)
BEGIN
    PERFORM 1 FROM carts c WHERE c.id IN (SELECT e->>'id' FROM jsonb_array_elements(p) e) ORDER BY c.id FOR UPDATE;
    PERFORM 1 FROM payments pay WHERE pay.id IN (SELECT e->>'payment' FROM jsonb_array_elements(p) e) ORDER BY pay.id FOR UPDATE;
    SELECT jsonb_agg(jsonb_build_object('ord', t.ord, 'order_id', souq_id('order'), 'cart_id', t.cart_id, 'customer_id', t.cust,
                                        'payment_id', t.payment_id))
      INTO x
      FROM (SELECT DISTINCT ON (c.id) k.ord, c.id AS cart_id, pay.id AS payment_id,
                   coalesce(c.customer_id, (SELECT cu.id FROM customers cu WHERE lower(cu.email) = lower(c.email) AND NOT cu.has_account
                                             ORDER BY cu.created_at LIMIT 1)) AS cust
              FROM jsonb_array_elements(p) WITH ORDINALITY k(v, ord)
              JOIN carts c ON c.id = k.v->>'id' AND c.sales_channel_id = k.v->>'channel'
              JOIN payments pay ON pay.id = k.v->>'payment'
             WHERE c.completed_at IS NULL AND c.email IS NOT NULL
               AND pay.status IN ('authorizing', 'requires_action', 'authorized', 'pending')
               AND k.v->>'status' IN ('authorized', 'captured', 'pending')
               AND jsonb_typeof(k.v->'cart'->'items') = 'array'
               AND coalesce(k.v->'cart'->'promotion_codes', '[]') = '[]' AND coalesce(k.v->'cart'->'promotions', '[]') = '[]'
               AND coalesce(k.v->'cart'->'gift_cards', '[]') = '[]'
               AND jsonb_typeof(k.v->'cart'->'loyalty') IS DISTINCT FROM 'object'
               AND NOT EXISTS (SELECT 1 FROM cart_loyalty cl WHERE cl.cart_id = c.id)
               AND EXISTS (SELECT 1 FROM reservations r WHERE r.reference = c.id AND r.status = 'active')
             ORDER BY c.id, k.ord) t
     WHERE t.cust IS NOT NULL;
    IF x IS NULL THEN
        RETURN;
    END IF;
    -- the stock: the cart's reservations become the order's (a cart whose reservations the sweeper released meanwhile
    -- has none to move: it goes alone, which reserves again)
    WITH m AS (
        UPDATE reservations r SET reference = t.order_id, expires_at = 'infinity'
          FROM jsonb_to_recordset(x) t(ord int, order_id text, cart_id text, customer_id text, payment_id text)
         WHERE r.reference = t.cart_id AND r.status = 'active'
        RETURNING t.ord
    )
    SELECT jsonb_agg(e) INTO x FROM jsonb_array_elements(x) e WHERE (e->>'ord')::int IN (SELECT m.ord FROM m);
    IF x IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO orders (id, cart_id, sales_channel_id, customer_id, email, currency_code, region_id, payment_status,
                        shipping_address, billing_address, shipping_methods, promotion_codes, note, metadata, tax_inclusive,
                        item_subtotal, discount_total, shipping_total, shipping_discount_total, tax_total, total,
                        gift_card_total, paid_total, snapshot)
    SELECT t.order_id, c.id, c.sales_channel_id, t.customer_id, c.email, c.currency_code, c.region_id,
           CASE v->>'status' WHEN 'captured' THEN 'paid' WHEN 'authorized' THEN 'authorized' ELSE 'pending' END,
           c.shipping_address, c.billing_address, coalesce(v->'cart'->'shipping_methods', '[]'),
           coalesce(v->'cart'->'promotion_codes', '[]'), c.note, c.metadata, coalesce((v->'cart'->>'tax_inclusive')::boolean, false),
           (v->'cart'->>'item_subtotal')::bigint, (v->'cart'->>'discount_total')::bigint, (v->'cart'->>'shipping_total')::bigint,
           coalesce((v->'cart'->>'shipping_discount_total')::bigint, 0), (v->'cart'->>'tax_total')::bigint,
           (v->'cart'->>'total')::bigint, coalesce((v->'cart'->>'gift_card_total')::bigint, 0),
           CASE WHEN v->>'status' = 'captured' THEN pay.amount ELSE 0 END + coalesce((v->'cart'->>'gift_card_total')::bigint, 0),
           v->'cart'
      FROM jsonb_to_recordset(x) t(ord int, order_id text, cart_id text, customer_id text, payment_id text)
      CROSS JOIN LATERAL (SELECT p->(t.ord - 1) AS v) k
      JOIN carts c ON c.id = t.cart_id
      JOIN payments pay ON pay.id = t.payment_id
     ORDER BY t.ord;
    INSERT INTO order_line_items (order_id, variant_id, product_id, title, variant_title, sku, requires_shipping, quantity,
                                  unit_price, compare_at_unit_price, subtotal, discount_total, tax_total, total, adjustments,
                                  tax_lines, metadata, position)
    SELECT t.order_id, i->>'variant_id', i->>'product_id', i->>'title', i->>'variant_title', i->>'sku',
           (i->>'requires_shipping')::boolean, (i->>'quantity')::int, (i->>'unit_price')::bigint,
           (i->>'compare_at_unit_price')::bigint, (i->>'subtotal')::bigint, (i->>'discount_total')::bigint,
           (i->>'tax_total')::bigint, (i->>'total')::bigint, coalesce(i->'adjustments', '[]'), coalesce(i->'tax_lines', '[]'),
           coalesce(i->'metadata', '{}'), (e.n - 1)::int
      FROM jsonb_to_recordset(x) t(ord int, order_id text, cart_id text, customer_id text, payment_id text),
           jsonb_array_elements(p->(t.ord - 1)->'cart'->'items') WITH ORDINALITY e(i, n)
     ORDER BY t.ord, e.n;
    UPDATE payments pay SET order_id = t.order_id, status = p->(t.ord - 1)->>'status',
           provider_ref = coalesce(p->(t.ord - 1)->>'provider_ref', pay.provider_ref),
           captured_amount = CASE WHEN p->(t.ord - 1)->>'status' = 'captured' THEN pay.amount ELSE 0 END, next_action = NULL
      FROM jsonb_to_recordset(x) t(ord int, order_id text, cart_id text, customer_id text, payment_id text)
     WHERE pay.id = t.payment_id;
    UPDATE carts c SET completed_at = now() FROM jsonb_to_recordset(x) t(ord int, order_id text, cart_id text, customer_id text, payment_id text)
     WHERE c.id = t.cart_id;
    -- order.placed, then order.paid for a captured payment, as souq_order_event writes them
    WITH ev AS (
        SELECT o.id AS order_id, 'order.placed' AS type, t.ord, 1 AS n, p->(t.ord - 1)->>'customer' AS actor,
               jsonb_build_object('number', o.number, 'total', o.total, 'currency_code', o.currency_code,
                                  'payment_status', o.payment_status) AS data
          FROM jsonb_to_recordset(x) t(ord int, order_id text, cart_id text, customer_id text, payment_id text) JOIN orders o ON o.id = t.order_id
        UNION ALL
        SELECT o.id, 'order.paid', t.ord, 2, NULL, jsonb_build_object('amount', o.paid_total)
          FROM jsonb_to_recordset(x) t(ord int, order_id text, cart_id text, customer_id text, payment_id text) JOIN orders o ON o.id = t.order_id
         WHERE p->(t.ord - 1)->>'status' = 'captured'
    ), oe AS (
        INSERT INTO order_events (order_id, type, data, actor) SELECT ev.order_id, ev.type, ev.data, ev.actor FROM ev ORDER BY ev.ord, ev.n
    )
    INSERT INTO outbox_events (type, payload)
    SELECT ev.type, jsonb_build_object('order_id', ev.order_id) || ev.data FROM ev ORDER BY ev.ord, ev.n;
    ids := ARRAY(SELECT e->>'order_id' FROM jsonb_array_elements(x) e);
    RETURN QUERY
    WITH a AS (
        SELECT t.ord, p->(t.ord - 1)->'idem' AS idem, o.body::text AS answer
          FROM jsonb_to_recordset(x) t(ord int, order_id text, cart_id text, customer_id text, payment_id text)
          JOIN souq_orders_json(ids, false) o ON o.id = t.order_id
    ), u AS (
        UPDATE idempotency_keys i SET state = 'done', status = 201, content_type = 'application/json', body = a.answer
          FROM a
         WHERE jsonb_typeof(a.idem) = 'array' AND i.principal = a.idem->>0 AND i.method = a.idem->>1 AND i.route = a.idem->>2
           AND i.key = a.idem->>3
    )
    SELECT a.ord, a.answer FROM a;
END $$;

-- Step 1 of many checkouts in one statement (souq_checkout_prepare, 0019), its commit asynchronous as that one's.
-- Taken only in the common case, with exactly the rows souq_checkout_prepare writes for it: the caller's cart at the
-- version that was priced, ready to become an order (lines all sellable, an email, a shipping address and a
-- shipping method that can ship it), an amount due and a payment provider, no reservations or payment left by an
-- earlier attempt, and its stock in the channel's first location by priority. The stock of the group is decided
-- together: each inventory item comes from the first location (by the call's channel's priority) with a level for it,
-- when that location has enough for this call and every call before it in the group; then sequential reservations
-- would have taken the same location, so the result is theirs, with one update per stock level for the whole group.
-- Everything else goes alone (souq_checkout_prepare: another location, backorders, 409 insufficient-stock, reuse of a
-- payment, the exact error). p: [{"id", "channel", "customer", "ttl", "version", "cart", "provider", "data",
-- "gateway_key", "reserve_ttl"}...]; returns the positions of the calls taken and what souq_checkout_prepare answers.
CREATE FUNCTION souq_checkouts_prepare(p jsonb) RETURNS TABLE (ord int, answer text) LANGUAGE plpgsql
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$  -- (as souq_checkouts_complete)
DECLARE
    x jsonb;  -- the calls taken: [{ord, cart_id}]
    nd jsonb; -- their stock: [{ord, item, location, qty}]
BEGIN
    PERFORM souq_cart_async_commit();
    PERFORM 1 FROM carts c WHERE c.id IN (SELECT e->>'id' FROM jsonb_array_elements(p) e) ORDER BY c.id FOR UPDATE;
    SELECT jsonb_agg(jsonb_build_object('ord', t.ord, 'cart_id', t.id)) INTO x
      FROM (SELECT DISTINCT ON (c.id) k.ord, c.id
              FROM jsonb_array_elements(p) WITH ORDINALITY k(v, ord)
              JOIN carts c ON c.id = k.v->>'id' AND c.sales_channel_id = k.v->>'channel'
                          AND (c.customer_id IS NULL OR c.customer_id = k.v->>'customer') AND c.completed_at IS NULL
                          AND c.updated_at > now() - make_interval(secs => (k.v->>'ttl')::int)
             WHERE c.version = (k.v->>'version')::int AND c.email IS NOT NULL
               AND k.v->>'provider' IS NOT NULL AND (k.v->'cart'->>'amount_due')::bigint > 0
               AND jsonb_typeof(k.v->'cart'->'items') = 'array' AND jsonb_array_length(k.v->'cart'->'items') > 0
               AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(k.v->'cart'->'items') i
                                WHERE (i->>'sellable')::boolean IS NOT TRUE
                                   OR NOT EXISTS (SELECT 1 FROM product_variants pv WHERE pv.id = i->>'variant_id'))
               AND (NOT EXISTS (SELECT 1 FROM jsonb_array_elements(k.v->'cart'->'items') i WHERE (i->>'requires_shipping')::boolean)
                    OR (c.shipping_address->>'address_1' IS NOT NULL AND c.shipping_address->>'city' IS NOT NULL
                        AND coalesce(k.v->'cart'->'shipping_methods', '[]') <> '[]' AND souq_cart_shipping_ready(c.id)))
               AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.reference = c.id AND r.status = 'active')
               AND NOT EXISTS (SELECT 1 FROM payments pay WHERE pay.gateway_key = k.v->>'gateway_key')
               AND NOT EXISTS (SELECT 1 FROM payments pay WHERE pay.cart_id = c.id AND pay.order_id IS NULL
                                AND pay.status IN ('authorizing', 'requires_action', 'authorized', 'pending'))
             ORDER BY c.id, k.ord) t;
    IF x IS NULL THEN
        RETURN;
    END IF;
    -- what each call needs per inventory item (bundles and shared items summed, as souq_reserve), and where from
    SELECT jsonb_agg(jsonb_build_object('ord', n.ord, 'item', n.item, 'qty', n.qty, 'location',
               (SELECT l.location_id FROM inventory_levels l
                  JOIN sales_channel_locations scl ON scl.location_id = l.location_id AND scl.sales_channel_id = p->(n.ord - 1)->>'channel'
                  JOIN stock_locations s ON s.id = l.location_id AND s.is_active
                 WHERE l.inventory_item_id = n.item ORDER BY scl.priority, l.location_id LIMIT 1)))
      INTO nd
      FROM (SELECT t.ord, vii.inventory_item_id AS item, sum(vii.required_quantity * (i->>'quantity')::int)::int AS qty
              FROM jsonb_to_recordset(x) t(ord int, cart_id text)
             CROSS JOIN LATERAL jsonb_array_elements(p->(t.ord - 1)->'cart'->'items') i
              JOIN product_variants v ON v.id = i->>'variant_id' AND v.manage_inventory
              JOIN variant_inventory_items vii ON vii.variant_id = v.id
             GROUP BY t.ord, vii.inventory_item_id) n;
    IF nd IS NOT NULL THEN
        PERFORM 1 FROM inventory_levels l
         WHERE (l.inventory_item_id, l.location_id) IN (SELECT e->>'item', e->>'location' FROM jsonb_array_elements(nd) e)
         ORDER BY l.inventory_item_id, l.location_id FOR UPDATE;
        -- the calls short anywhere (no location, or not enough there for them and the calls before them) go alone
        WITH n AS (
            SELECT e.ord, e.item, e.location, e.qty,
                   sum(e.qty) OVER (PARTITION BY e.item, e.location ORDER BY e.ord) AS upto
              FROM jsonb_to_recordset(nd) e(ord int, item text, location text, qty int)
        ), short AS (
            SELECT n.ord FROM n LEFT JOIN inventory_levels l ON l.inventory_item_id = n.item AND l.location_id = n.location
             WHERE n.location IS NULL OR l.available IS NULL OR l.available < n.upto
        )
        SELECT (SELECT jsonb_agg(e) FROM jsonb_array_elements(x) e WHERE (e->>'ord')::int NOT IN (SELECT short.ord FROM short)),
               (SELECT jsonb_agg(e) FROM jsonb_array_elements(nd) e WHERE (e->>'ord')::int NOT IN (SELECT short.ord FROM short))
          INTO x, nd;
        IF x IS NULL THEN
            RETURN;
        END IF;
    END IF;
    IF nd IS NOT NULL THEN
        UPDATE inventory_levels l SET reserved = reserved + s.qty, updated_at = now()
          FROM (SELECT e.item, e.location, sum(e.qty)::int AS qty FROM jsonb_to_recordset(nd) e(ord int, item text, location text, qty int)
                 GROUP BY e.item, e.location) s
         WHERE l.inventory_item_id = s.item AND l.location_id = s.location;
        INSERT INTO inventory_ledger (inventory_item_id, location_id, delta_reserved, reason, reference)
        SELECT e.item, e.location, e.qty, 'reservation', p->(e.ord - 1)->>'id'
          FROM jsonb_to_recordset(nd) e(ord int, item text, location text, qty int) ORDER BY e.ord, e.item;
        INSERT INTO reservations (inventory_item_id, location_id, quantity, backordered, reference, expires_at)
        SELECT e.item, e.location, e.qty, 0, p->(e.ord - 1)->>'id', now() + make_interval(secs => (p->(e.ord - 1)->>'reserve_ttl')::int)
          FROM jsonb_to_recordset(nd) e(ord int, item text, location text, qty int) ORDER BY e.ord, e.item;
    END IF;
    RETURN QUERY
    WITH pay AS (
        INSERT INTO payments (cart_id, provider, status, currency_code, amount, gateway_key, data)
        SELECT t.cart_id, v->>'provider', 'authorizing', c.currency_code, (v->'cart'->>'amount_due')::bigint, v->>'gateway_key',
               CASE WHEN jsonb_typeof(v->'data') = 'null' THEN NULL ELSE v->'data' END
          FROM jsonb_to_recordset(x) t(ord int, cart_id text)
         CROSS JOIN LATERAL (SELECT p->(t.ord - 1) AS v) k
          JOIN carts c ON c.id = t.cart_id
         ORDER BY t.ord
        RETURNING payments.id, payments.cart_id, payments.gateway_key
    )
    SELECT t.ord, json_build_object('payment_id', pay.id, 'gateway_key', pay.gateway_key, 'provider_ref', NULL, 'status', 'authorizing',
                                    'reservations', (SELECT count(*) FROM jsonb_array_elements(nd) e WHERE (e->>'ord')::int = t.ord),
                                    'stale', NULL)::text
      FROM jsonb_to_recordset(x) t(ord int, cart_id text) JOIN pay ON pay.cart_id = t.cart_id;
END $$;

-- The test gateway's authorize (souq_testpay_authorize, 0019) for many charges at once: each call's charge created on
-- first sight of its key, or the charge its key made before. A charge another transaction is creating at the same
-- moment is not seen by this statement: that call gets no row and core/payment_db.c asks again alone.
-- p: [{"key", "token", "currency", "amount"}...]; returns the positions and {id, status, decline_code}.
CREATE FUNCTION souq_testpay_authorize_many(p jsonb) RETURNS TABLE (ord int, answer text) LANGUAGE plpgsql
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$  -- (as souq_checkouts_complete)
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true); -- a simulated remote system (as souq_testpay_authorize)
    RETURN QUERY
    WITH k AS (
        SELECT e.ordinality::int AS ord, e.value->>'key' AS key, e.value->>'token' AS token, e.value->>'currency' AS cur,
               (e.value->>'amount')::bigint AS amount
          FROM jsonb_array_elements(p) WITH ORDINALITY e
    ), ins AS (
        INSERT INTO test_gateway_charges (idempotency_key, token, currency_code, amount, status, decline_code)
        SELECT DISTINCT ON (k.key) k.key, k.token, k.cur, k.amount,
               CASE k.token WHEN 'tok_declined' THEN 'declined' WHEN 'tok_insufficient_funds' THEN 'declined'
                            WHEN 'tok_3ds' THEN 'requires_action' ELSE 'authorized' END,
               CASE k.token WHEN 'tok_declined' THEN 'card_declined' WHEN 'tok_insufficient_funds' THEN 'insufficient_funds' END
          FROM k ORDER BY k.key, k.ord
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id, idempotency_key, amount, status, decline_code
    ), ops AS (
        INSERT INTO test_gateway_operations (charge_id, kind, amount, idempotency_key)
        SELECT ins.id, 'authorize', ins.amount, ins.idempotency_key FROM ins
    ), ch AS (
        SELECT ins.id, ins.idempotency_key, ins.status, ins.decline_code FROM ins
        UNION ALL
        SELECT c.id, c.idempotency_key, c.status, c.decline_code FROM test_gateway_charges c
         WHERE c.idempotency_key IN (SELECT k.key FROM k) AND c.idempotency_key NOT IN (SELECT ins.idempotency_key FROM ins)
    )
    SELECT k.ord, json_build_object('id', ch.id, 'status', ch.status, 'decline_code', ch.decline_code)::text
      FROM k JOIN ch ON ch.idempotency_key = k.key;
END $$;

-- Order triggers that do nothing for most orders no longer enter plpgsql for them (same functions, same effect: each
-- begins with this test).
CREATE OR REPLACE TRIGGER orders_tax_provider BEFORE INSERT ON orders FOR EACH ROW WHEN (NEW.snapshot ? 'tax_provider')
    EXECUTE FUNCTION souq_order_tax_provider();
CREATE OR REPLACE TRIGGER orders_tax_commit AFTER INSERT ON orders FOR EACH ROW WHEN (NEW.tax_provider <> 'table')
    EXECUTE FUNCTION souq_order_tax_commit_enqueue();

-- The Idempotency-Key claims (souq_idem_claim, 0017/0019) of many requests at once: a key seen for the first time is
-- claimed ('new'); every other call (a key already there: a replay, one in flight, an expired one, a mismatch; or a
-- second call of one key in the group) gets no row and is claimed alone, which answers it exactly.
-- p: [{"principal", "method", "route", "key", "fingerprint", "lock_ms"}...]; returns the positions claimed.
CREATE FUNCTION souq_idem_claim_many(p jsonb) RETURNS TABLE (ord int) LANGUAGE plpgsql
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$  -- (as souq_checkouts_complete)
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true); -- (as souq_idem_claim)
    RETURN QUERY
    WITH k AS (
        SELECT e.ordinality::int AS ord, e.value->>'principal' AS principal, e.value->>'method' AS method, e.value->>'route' AS route,
               e.value->>'key' AS key, e.value->>'fingerprint' AS fingerprint, (e.value->>'lock_ms')::int AS lock_ms
          FROM jsonb_array_elements(p) WITH ORDINALITY e
    ), first AS (
        SELECT DISTINCT ON (k.principal, k.method, k.route, k.key) k.* FROM k ORDER BY k.principal, k.method, k.route, k.key, k.ord
    ), ins AS (
        INSERT INTO idempotency_keys (principal, method, route, key, fingerprint, state, locked_until)
        SELECT f.principal, f.method, f.route, f.key, f.fingerprint, 'in_flight', now() + make_interval(secs => f.lock_ms / 1000.0)
          FROM first f ORDER BY f.ord
        ON CONFLICT DO NOTHING
        RETURNING idempotency_keys.principal, idempotency_keys.method, idempotency_keys.route, idempotency_keys.key
    )
    SELECT f.ord FROM first f
      JOIN ins ON ins.principal = f.principal AND ins.method = f.method AND ins.route = f.route AND ins.key = f.key;
END $$;

-- The JSON of orders, set-based: the one definition of an order as the API shows it (0019's fields with 0022's
-- outstanding_amount, fulfillments and returns, and the timeline when asked for; the same document as before).
-- souq_order_json(o) reads through it, and a group of checkouts builds its answers with one call instead of a
-- plpgsql call per order (which ran every subquery's executor start again: about twice the cost).
CREATE FUNCTION souq_orders_json(p_ids text[], p_timeline boolean) RETURNS TABLE (id text, body jsonb) LANGUAGE sql STABLE AS $$
    SELECT o.id, CASE WHEN p_timeline THEN d.j || jsonb_build_object('timeline', coalesce((SELECT jsonb_agg(jsonb_build_object(
                   'type', e.type, 'data', e.data, 'actor', e.actor, 'created_at', e.created_at) ORDER BY e.id)
                   FROM order_events e WHERE e.order_id = o.id), '[]')) ELSE d.j END
      FROM orders o
     CROSS JOIN LATERAL (SELECT jsonb_build_object(
               'id', o.id, 'object', 'order', 'number', o.number, 'display_number', '#' || o.number, 'cart_id', o.cart_id,
               'sales_channel_id', o.sales_channel_id, 'customer_id', o.customer_id, 'email', o.email,
               'currency_code', o.currency_code, 'region_id', o.region_id, 'status', o.status,
               'payment_status', o.payment_status, 'fulfillment_status', o.fulfillment_status,
               'shipping_address', o.shipping_address, 'billing_address', o.billing_address,
               'shipping_methods', o.shipping_methods, 'promotion_codes', o.promotion_codes, 'note', o.note, 'metadata', o.metadata,
               'items', coalesce((SELECT jsonb_agg(jsonb_build_object(
                   'id', l.id, 'object', 'order_line_item', 'variant_id', l.variant_id, 'product_id', l.product_id, 'title', l.title,
                   'variant_title', l.variant_title, 'sku', l.sku, 'requires_shipping', l.requires_shipping, 'quantity', l.quantity,
                   'unit_price', l.unit_price, 'compare_at_unit_price', l.compare_at_unit_price, 'subtotal', l.subtotal,
                   'discount_total', l.discount_total, 'tax_total', l.tax_total, 'total', l.total, 'adjustments', l.adjustments,
                   'tax_lines', l.tax_lines, 'fulfilled_quantity', l.fulfilled_quantity, 'returned_quantity', l.returned_quantity,
                   'metadata', l.metadata) ORDER BY l.position) FROM order_line_items l WHERE l.order_id = o.id), '[]'),
               'payments', coalesce((SELECT jsonb_agg(jsonb_build_object(
                   'id', p.id, 'object', 'payment', 'provider', p.provider, 'status', p.status, 'amount', p.amount,
                   'captured_amount', p.captured_amount, 'refunded_amount', p.refunded_amount, 'created_at', p.created_at)
                   ORDER BY p.id) FROM payments p WHERE p.order_id = o.id), '[]'),
               'refunds', coalesce((SELECT jsonb_agg(jsonb_build_object(
                   'id', r.id, 'object', 'refund', 'payment_id', r.payment_id, 'amount', r.amount, 'reason', r.reason, 'note', r.note,
                   'status', r.status, 'created_at', r.created_at) ORDER BY r.id) FROM refunds r WHERE r.order_id = o.id), '[]'),
               'tax_inclusive', o.tax_inclusive, 'item_subtotal', o.item_subtotal, 'discount_total', o.discount_total,
               'shipping_total', o.shipping_total, 'shipping_discount_total', o.shipping_discount_total, 'tax_total', o.tax_total,
               'total', o.total, 'gift_card_total', o.gift_card_total, 'paid_total', o.paid_total, 'refunded_total', o.refunded_total,
               'placed_at', o.placed_at, 'canceled_at', o.canceled_at, 'created_at', o.created_at, 'updated_at', o.updated_at,
               'outstanding_amount', o.outstanding_amount,
               'fulfillments', coalesce((SELECT jsonb_agg(souq_fulfillment_json(f) ORDER BY f.id) FROM fulfillments f WHERE f.order_id = o.id), '[]'),
               'returns', coalesce((SELECT jsonb_agg(souq_return_json(r) ORDER BY r.id) FROM returns r WHERE r.order_id = o.id), '[]')) AS j) d
     WHERE o.id = ANY (p_ids)
$$;
-- (a generic plan: a custom one would plan the whole document again on every call, 6x the cost)
CREATE OR REPLACE FUNCTION souq_order_json(o orders, p_timeline boolean) RETURNS jsonb LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN (SELECT j.body FROM souq_orders_json(ARRAY[o.id], p_timeline) j);
END $$;
DROP FUNCTION souq_order_json_base(orders, boolean);
