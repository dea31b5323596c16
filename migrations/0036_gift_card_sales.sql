-- 0036_gift_card_sales.sql: gift cards sold as a product, their issuance when the order is paid, the one-time
-- delivery of their codes, the refund rule of orders that issued cards, staff adjustments of a balance, and
-- removing a cart's shipping method. Decisions (README "Gift cards sold as a product"):
--   * A product with gift_card = true sells gift cards: its variants' prices are the denominations; its variants
--     never ship and never track stock (a trigger keeps requires_shipping and manage_inventory false). In a cart
--     its lines get no discounts, no tax, do not count toward promotion or shipping thresholds, and cannot be paid
--     with a gift card (core/cart.c, core/promotion.c).
--   * Issuance: when an order becomes paid (its payment is captured: at checkout, by staff, or by any later path)
--     one card per unit of each gift-card line is issued with the line's unit price as balance, in the order's
--     currency, linked to the order and the line. A deferred trigger runs it at commit of the transaction that
--     made the order paid, so it sees the order's lines; a unique (order line, unit) index makes a second
--     issuance impossible whatever races or retries (the order row is locked too).
--   * The code is hashed at rest like every card's (0021). Its clear text is kept in gift_card_deliveries only
--     until it is revealed once (POST /v1/admin/gift-cards/{id}/reveal, what the notification integration that
--     subscribed to gift_card.issued calls before mailing it) or for 7 days; the event itself never carries it.
--   * Refunds: the money that bought a card that is still active is not refundable; disabling the card frees its
--     unused balance for a refund (what was spent never is), and a card whose balance was refunded that way can
--     not be enabled again. Cancel needs an uncaptured payment, so no card was issued yet.

-- ---- the catalog: gift card products ---------------------------------------------------------------------------

ALTER TABLE products ADD COLUMN gift_card boolean NOT NULL DEFAULT false;

-- a gift card variant never ships and never tracks stock, whatever its body said
CREATE FUNCTION souq_gift_card_variant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.requires_shipping OR NEW.manage_inventory) AND EXISTS (SELECT 1 FROM products WHERE id = NEW.product_id AND gift_card) THEN
        NEW.requires_shipping := false;
        NEW.manage_inventory := false;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER product_variants_gift_card BEFORE INSERT OR UPDATE ON product_variants
    FOR EACH ROW EXECUTE FUNCTION souq_gift_card_variant();

-- The product JSON gains gift_card (the base function's text, one member added: key order and ETags stay stable).
ALTER FUNCTION souq_product_json(products) RENAME TO souq_product_json_0005;
CREATE FUNCTION souq_product_json(p products) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT (left(b::text, -1) || ', "gift_card" : ' || CASE WHEN p.gift_card THEN 'true' ELSE 'false' END || '}')::json
      FROM souq_product_json_0005(p) b
$$;

-- The product save takes gift_card: the function it wraps saves the rest (0035's wrapper, which attributes price
-- changes, around 0011's body), then the flag is set (and the variants of a product that becomes a gift card stop
-- shipping and tracking stock). Wrapped functions keep their bodies under the name of the migration that made them,
-- as 0035 does.
ALTER FUNCTION souq_product_save(text, jsonb, text, text) RENAME TO souq_product_save_0035;
CREATE FUNCTION souq_product_save(p_id text, b jsonb, p_etag text, p_actor text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    r json;
    gc boolean := (b->>'gift_card')::boolean;
BEGIN
    r := souq_product_save_0035(p_id, b - 'gift_card', p_etag, p_actor);
    IF r IS NULL OR gc IS NULL THEN
        RETURN r;
    END IF;
    UPDATE products SET gift_card = gc WHERE id = r->>'id' AND gift_card <> gc;
    IF NOT FOUND THEN
        RETURN r;
    END IF;
    IF gc THEN
        UPDATE product_variants SET requires_shipping = false, manage_inventory = false WHERE product_id = r->>'id';
    END IF;
    RETURN (SELECT souq_product_json(t) FROM products t WHERE t.id = r->>'id');
END $$;

-- ---- orders: which lines are gift cards ------------------------------------------------------------------------

-- Snapshot of the product's flag when the line is written (checkout, order edits, draft orders alike).
ALTER TABLE order_line_items ADD COLUMN gift_card boolean NOT NULL DEFAULT false;
CREATE FUNCTION souq_order_line_gift_card() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.gift_card := NEW.product_id IS NOT NULL AND EXISTS (SELECT 1 FROM products WHERE id = NEW.product_id AND gift_card);
    RETURN NEW;
END $$;
CREATE TRIGGER order_line_items_gift_card BEFORE INSERT ON order_line_items
    FOR EACH ROW EXECUTE FUNCTION souq_order_line_gift_card();

-- ---- gift cards: where a sold card comes from, the ledger's new kinds -------------------------------------------

ALTER TABLE gift_cards ADD COLUMN order_id text REFERENCES orders (id) ON DELETE SET NULL,
                       ADD COLUMN order_line_item_id text,
                       ADD COLUMN line_unit integer CHECK (line_unit >= 1);
CREATE UNIQUE INDEX gift_cards_order_line_unit_key ON gift_cards (order_line_item_id, line_unit) WHERE order_line_item_id IS NOT NULL;
CREATE INDEX gift_cards_order_idx ON gift_cards (order_id) WHERE order_id IS NOT NULL;

ALTER TABLE gift_card_transactions DROP CONSTRAINT gift_card_transactions_kind_check;
ALTER TABLE gift_card_transactions ADD CONSTRAINT gift_card_transactions_kind_check CHECK (kind IN ('issue', 'redeem', 'adjust'));
ALTER TABLE gift_card_transactions ADD COLUMN reason text CHECK (reason IN ('correction', 'goodwill', 'fraud', 'other')),
                                   ADD COLUMN note text CHECK (length(note) <= 1000);

-- The card JSON (0021's, plus where a sold card comes from, and the ledger rows' reason, note and actor).
CREATE OR REPLACE FUNCTION souq_gift_card_json(g gift_cards) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', g.id, 'object', 'gift_card', 'code_last4', g.code_last4, 'currency_code', g.currency_code,
        'initial_balance', g.initial_balance, 'balance', g.balance, 'status', g.status, 'expires_at', g.expires_at,
        'customer_id', g.customer_id, 'note', g.note, 'metadata', g.metadata, 'order_id', g.order_id,
        'order_line_item_id', g.order_line_item_id,
        'transactions', coalesce((SELECT json_agg(json_build_object('id', x.id, 'kind', x.kind, 'amount', x.amount,
                                  'balance_after', x.balance_after, 'order_id', x.order_id, 'reason', x.reason, 'note', x.note,
                                  'actor', x.actor, 'created_at', x.created_at) ORDER BY x.created_at, x.id)
                                  FROM (SELECT * FROM gift_card_transactions t WHERE t.gift_card_id = g.id ORDER BY t.created_at DESC, t.id DESC LIMIT 100) x), '[]'::json),
        'created_at', g.created_at, 'updated_at', g.updated_at)
$$;

-- A new random code: 20 characters of Crockford base32 from 100 random bits (as souq_gift_card_create makes them).
CREATE FUNCTION souq_gift_card_code() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    alphabet constant text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    raw bytea := decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex');
    gc text := '';
BEGIN
    FOR i IN 0..19 LOOP
        gc := gc || substr(alphabet, get_byte(raw, (ARRAY[0,1,2,3,4,5,7,9,10,11,12,13,14,15,16,17,18,19,20,21])[i + 1]) % 32 + 1, 1);
    END LOOP;
    RETURN gc;
END $$;

-- ---- issuance --------------------------------------------------------------------------------------------------

-- Codes waiting for their one reveal. The only place a code is in clear, for at most 7 days.
CREATE TABLE gift_card_deliveries (
    gift_card_id text PRIMARY KEY REFERENCES gift_cards (id) ON DELETE CASCADE,
    order_id     text NOT NULL,
    code         text NOT NULL,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gift_card_deliveries_expiry_idx ON gift_card_deliveries (expires_at);

-- The cards of a paid order's gift-card lines that are not issued yet: one per unit. Runs under the order's row
-- lock; the unique (line, unit) index is the backstop. A unit priced 0 (or above a card's maximum) issues nothing
-- and says so on the timeline. Answers how many cards it issued.
CREATE FUNCTION souq_gift_card_issue_order(p_order text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    o orders;
    l order_line_items;
    g gift_cards;
    gc text;
    n int := 0;
BEGIN
    -- most paid orders sell no gift card: one index probe, nothing written
    IF NOT EXISTS (SELECT 1 FROM order_line_items WHERE order_id = p_order AND gift_card) THEN
        RETURN 0;
    END IF;
    SELECT * INTO o FROM orders WHERE id = p_order FOR UPDATE;
    IF NOT FOUND OR o.payment_status <> 'paid' THEN
        RETURN 0;
    END IF;
    DELETE FROM gift_card_deliveries WHERE expires_at <= now(); -- (indexed; what the reveal did not take)
    FOR l IN SELECT * FROM order_line_items WHERE order_id = p_order AND gift_card ORDER BY position LOOP
        IF l.unit_price <= 0 OR l.unit_price > 100000000000 THEN
            IF NOT EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = o.id AND e.type = 'gift_card.not_issued' AND e.data->>'order_line_item_id' = l.id) THEN
                PERFORM souq_order_event(o.id, 'gift_card.not_issued', jsonb_build_object('order_line_item_id', l.id,
                    'reason', 'The unit price is not a valid gift card balance.'), NULL, false);
            END IF;
            CONTINUE;
        END IF;
        FOR k IN 1..l.quantity LOOP
            CONTINUE WHEN EXISTS (SELECT 1 FROM gift_cards WHERE order_line_item_id = l.id AND line_unit = k);
            gc := souq_gift_card_code();
            INSERT INTO gift_cards (code_hash, code_last4, currency_code, initial_balance, balance, customer_id, created_by,
                                    order_id, order_line_item_id, line_unit)
            VALUES (souq_gift_card_hash(gc), right(gc, 4), o.currency_code, l.unit_price, l.unit_price, o.customer_id,
                    'order:' || o.id, o.id, l.id, k)
            ON CONFLICT (order_line_item_id, line_unit) WHERE order_line_item_id IS NOT NULL DO NOTHING
            RETURNING * INTO g;
            CONTINUE WHEN g.id IS NULL;
            INSERT INTO gift_card_transactions (gift_card_id, kind, amount, balance_after, order_id, actor)
            VALUES (g.id, 'issue', g.balance, g.balance, o.id, 'order:' || o.id);
            INSERT INTO gift_card_deliveries (gift_card_id, order_id, code, expires_at)
            VALUES (g.id, o.id, substr(gc, 1, 5) || '-' || substr(gc, 6, 5) || '-' || substr(gc, 11, 5) || '-' || substr(gc, 16, 5),
                    now() + interval '7 days');
            PERFORM souq_order_event(o.id, 'gift_card.issued', jsonb_build_object('gift_card_id', g.id, 'order_line_item_id', l.id,
                'amount', g.initial_balance, 'currency_code', g.currency_code, 'code_last4', g.code_last4, 'email', o.email,
                'customer_id', o.customer_id, 'reveal_before', now() + interval '7 days'), NULL, true);
            g := NULL;
            n := n + 1;
        END LOOP;
        -- a line whose every unit has its card is fulfilled (the card is what it delivers; Shopify does the same)
        IF (SELECT count(*) FROM gift_cards WHERE order_line_item_id = l.id) >= l.quantity AND l.fulfilled_quantity < l.quantity THEN
            UPDATE order_line_items SET fulfilled_quantity = quantity WHERE id = l.id;
        END IF;
    END LOOP;
    PERFORM souq_gift_card_fulfilment_follow(o);
    RETURN n;
END $$;

-- The order's fulfilment status after gift card lines were fulfilled by issuance, moved forward through the legal
-- steps (an order of gift cards only has no parcel: it ends fulfilled). order.fulfilled is written as a parcel
-- that completes an order writes it; shipped and delivered follow silently (their events came with the parcels).
CREATE FUNCTION souq_gift_card_fulfilment_follow(o orders) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    st text := souq_order_fulfillment_derive(o.id);
    steps constant text[] := ARRAY['unfulfilled', 'partially_fulfilled', 'fulfilled', 'shipped', 'delivered'];
BEGIN
    IF st = 'delivered' AND NOT EXISTS (SELECT 1 FROM fulfillments f WHERE f.order_id = o.id) THEN
        st := 'fulfilled';
    END IF;
    IF o.status = 'canceled' OR array_position(steps, st) <= array_position(steps, o.fulfillment_status) THEN
        RETURN;
    END IF;
    IF st = 'partially_fulfilled' THEN
        PERFORM souq_order_fulfillment_move(o, st);
        RETURN;
    END IF;
    IF o.fulfillment_status IN ('unfulfilled', 'partially_fulfilled') THEN
        PERFORM souq_order_fulfillment_move(o, 'fulfilled');
        PERFORM souq_order_event(o.id, 'order.fulfilled', jsonb_build_object('number', o.number), NULL, true);
        SELECT * INTO o FROM orders WHERE id = o.id;
    END IF;
    IF st IN ('shipped', 'delivered') AND o.fulfillment_status = 'fulfilled' THEN
        PERFORM souq_order_fulfillment_move(o, 'shipped');
        SELECT * INTO o FROM orders WHERE id = o.id;
    END IF;
    IF st = 'delivered' AND o.fulfillment_status = 'shipped' THEN
        PERFORM souq_order_fulfillment_move(o, 'delivered');
    END IF;
END $$;

-- A gift card is not returned: its order line cannot go into a return (disable the card to refund its unused
-- balance: see the refund rule below).
CREATE FUNCTION souq_return_item_gift_card() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM order_line_items WHERE id = NEW.line_item_id AND gift_card) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/items/%s/line_item_id|not_returnable|A gift card cannot be returned: '
            'disable the card, then refund its unused balance.', NEW.position);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER return_items_gift_card BEFORE INSERT ON return_items FOR EACH ROW EXECUTE FUNCTION souq_return_item_gift_card();

CREATE FUNCTION souq_orders_paid_issue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM souq_gift_card_issue_order(NEW.id);
    RETURN NULL;
END $$;
-- deferred: checkout inserts the order (paid when captured at once) before its lines
CREATE CONSTRAINT TRIGGER orders_gift_cards_paid_ins AFTER INSERT ON orders DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.payment_status = 'paid') EXECUTE FUNCTION souq_orders_paid_issue();
CREATE CONSTRAINT TRIGGER orders_gift_cards_paid_upd AFTER UPDATE OF payment_status ON orders DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.payment_status = 'paid' AND OLD.payment_status <> 'paid') EXECUTE FUNCTION souq_orders_paid_issue();

-- POST /v1/admin/gift-cards/{id}/reveal: the card with its code, once. NULL: no such card (404); SQSTE (409) when
-- the code was revealed already, its delivery expired, or the card was issued by staff (their code is shown at
-- creation only).
CREATE FUNCTION souq_gift_card_reveal(p_id text, p_actor text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    g gift_cards;
    d gift_card_deliveries;
BEGIN
    SELECT * INTO g FROM gift_cards WHERE id = p_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    DELETE FROM gift_card_deliveries WHERE gift_card_id = p_id AND expires_at > now() RETURNING * INTO d;
    IF d.gift_card_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = 'The code of this card is not available: it is shown once (it was revealed already, '
            'its delivery expired after 7 days, or staff issued the card and saw it then). Disable the card and issue a new one.';
    END IF;
    PERFORM souq_order_event(d.order_id, 'gift_card.code_revealed', jsonb_build_object('gift_card_id', g.id), p_actor, false);
    RETURN (souq_gift_card_json(g)::jsonb || jsonb_build_object('code', d.code))::json;
END $$;

-- GET /v1/admin/orders/{id}/gift-cards: the cards an order issued (NULL: no such order).
CREATE FUNCTION souq_order_gift_cards(p_order text) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN EXISTS (SELECT 1 FROM orders WHERE id = p_order) THEN
        json_build_object('object', 'list', 'has_more', false, 'next_cursor', NULL,
            'data', coalesce((SELECT json_agg(souq_gift_card_json(g) ORDER BY g.order_line_item_id, g.line_unit) FROM gift_cards g
                              WHERE g.order_id = p_order), '[]'::json)) END
$$;

-- ---- refunds of orders that issued cards -----------------------------------------------------------------------

-- What an order's refunds must leave on its payments: the value of its cards, except the unused balance of the
-- disabled ones (what was spent of a card is never refundable).
CREATE FUNCTION souq_order_gift_card_held(p_order text) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(g.initial_balance - CASE WHEN g.status = 'disabled' THEN g.balance ELSE 0 END), 0)::bigint
      FROM gift_cards g WHERE g.order_id = p_order
$$;

-- A refund (souq_refund_prepare has reserved its amount under the payment's lock) may not reach into that value.
CREATE FUNCTION souq_refund_gift_card_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    held bigint := souq_order_gift_card_held(NEW.order_id);
    room bigint;
BEGIN
    IF held = 0 THEN
        RETURN NEW;
    END IF;
    SELECT coalesce(sum(captured_amount - refunded_amount - refund_pending), 0) INTO room
      FROM payments WHERE order_id = NEW.order_id AND status = 'captured';
    IF room < held THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/amount|gift_cards_issued|At most %s can be refunded: %s paid for gift '
            'cards of this order that are still usable or were spent. Disable a card to refund its unused balance.',
            greatest(room + NEW.amount - held, 0), held);
    END IF;
    RETURN NEW;
END $$;
-- Only refunds Souq asks for (pending until the provider answers): a refund made at the provider itself (a payment
-- webhook records it as succeeded, migrations/0031) already happened and is recorded as it is.
CREATE TRIGGER refunds_gift_card_check BEFORE INSERT ON refunds FOR EACH ROW WHEN (NEW.status = 'pending')
    EXECUTE FUNCTION souq_refund_gift_card_check();

-- A sold card whose unused balance was refunded stays disabled: enabling it is 409. The order's captured payments
-- are locked first, as a refund locks them, so the two cannot interleave.
CREATE FUNCTION souq_gift_card_enable_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    room bigint;
BEGIN
    PERFORM 1 FROM payments WHERE order_id = NEW.order_id AND status = 'captured' ORDER BY id FOR UPDATE;
    SELECT coalesce(sum(captured_amount - refunded_amount - refund_pending), 0) INTO room
      FROM payments WHERE order_id = NEW.order_id AND status = 'captured';
    IF room < souq_order_gift_card_held(NEW.order_id) + OLD.balance THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ409', MESSAGE = 'The unused balance of this card was refunded with its order; it cannot be enabled again.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER gift_cards_enable_check BEFORE UPDATE OF status ON gift_cards
    FOR EACH ROW WHEN (OLD.status = 'disabled' AND NEW.status = 'active' AND NEW.order_id IS NOT NULL)
    EXECUTE FUNCTION souq_gift_card_enable_check();

-- ---- staff adjustments -----------------------------------------------------------------------------------------

-- POST /v1/admin/gift-cards/{id}/adjustments {amount, reason, note}: a credit (+) or a debit (-) through the ledger,
-- under the card's row lock. A debit never takes the balance below 0; a credit at most restores what was spent (the
-- balance never exceeds the initial value: to give more, issue a new card). Only an active card moves (409).
-- NULL: no such card.
CREATE FUNCTION souq_gift_card_adjust(p_id text, p_amount bigint, p_reason text, p_note text, p_actor text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    g gift_cards;
BEGIN
    SELECT * INTO g FROM gift_cards WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF g.status <> 'active' THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = 'The card is disabled; enable it before adjusting its balance.';
    END IF;
    IF g.balance + p_amount < 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/amount|insufficient_balance|The balance is %s; a debit can take at most that.', g.balance);
    END IF;
    IF g.balance + p_amount > g.initial_balance THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/amount|exceeds_initial_balance|A credit can restore at most %s (the balance never '
            'exceeds the initial %s; issue a new card to give more).', g.initial_balance - g.balance, g.initial_balance);
    END IF;
    UPDATE gift_cards SET balance = balance + p_amount WHERE id = p_id RETURNING * INTO g;
    INSERT INTO gift_card_transactions (gift_card_id, kind, amount, balance_after, actor, reason, note)
    VALUES (g.id, 'adjust', p_amount, g.balance, p_actor, p_reason, p_note);
    RETURN souq_gift_card_json(g);
END $$;

-- ---- carts: removing the shipping method -----------------------------------------------------------------------

-- DELETE /v1/store/carts/{id}/shipping-method: 404 when the cart has none.
CREATE FUNCTION souq_cart_shipping_method_remove(p_id text, p_channel text, p_customer text, p_ttl_s int, p_version int)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c carts;
BEGIN
    c := souq_cart_lock(p_id, p_channel, p_customer, p_ttl_s, p_version);
    DELETE FROM cart_shipping_methods WHERE cart_id = c.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The cart has no shipping method.';
    END IF;
    UPDATE carts SET version = version + 1, updated_at = now() WHERE id = c.id;
    RETURN c.id;
END $$;

-- ---- automatic capture on fulfilment ---------------------------------------------------------------------------
-- Store setting payment_capture: 'manual' (default: staff capture) or 'on_fulfillment': when every line of an
-- order that ships is fulfilled (gift card lines never ship: they do not count), its open card-style payment is
-- captured by a durable job (core/auto_capture_db.c), in full. A partial fulfilment captures nothing: most gateways
-- capture an authorization once (a partial capture releases the rest, as Stripe does without multicapture), so
-- capturing at the first parcel would lose the remainder. Manual payments (bank transfer, cash on delivery) are
-- never captured automatically: only staff know the money arrived. The job is enqueued once per order (unique key)
-- in the fulfilment's transaction; a failure is written to the order's timeline and retried with backoff; the
-- fulfilment is never undone; capture itself is idempotent (an order already paid completes the job).

ALTER TABLE store_settings ADD COLUMN payment_capture text NOT NULL DEFAULT 'manual' CHECK (payment_capture IN ('manual', 'on_fulfillment'));

ALTER FUNCTION souq_store_json(store_settings) RENAME TO souq_store_json_0006;
CREATE FUNCTION souq_store_json(s store_settings) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT (left(b::text, -1) || ', "payment_capture" : ' || to_json(s.payment_capture)::text || '}')::json FROM souq_store_json_0006(s) b
$$;
ALTER FUNCTION souq_store_save(jsonb, text) RENAME TO souq_store_save_0006;
CREATE FUNCTION souq_store_save(b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    r json := souq_store_save_0006(b - 'payment_capture', p_etag);
BEGIN
    IF b ? 'payment_capture' THEN
        UPDATE store_settings SET payment_capture = b->>'payment_capture', updated_at = now();
        r := (SELECT souq_store_json(s) FROM store_settings s);
    END IF;
    RETURN r;
END $$;

CREATE FUNCTION souq_order_auto_capture_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status <> 'canceled' AND NEW.payment_status IN ('authorized', 'pending')
       AND (SELECT payment_capture FROM store_settings) = 'on_fulfillment'
       AND EXISTS (SELECT 1 FROM payments p WHERE p.order_id = NEW.id AND p.status IN ('authorized', 'pending') AND p.provider <> 'manual')
       AND NOT EXISTS (SELECT 1 FROM order_line_items l WHERE l.order_id = NEW.id AND NOT l.gift_card AND l.fulfilled_quantity < l.quantity) THEN
        INSERT INTO jobs (kind, payload, unique_key, max_attempts)
        VALUES ('order.auto_capture', jsonb_build_object('order_id', NEW.id), 'order:' || NEW.id || ':auto_capture', 8)
        ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER orders_auto_capture AFTER UPDATE OF fulfillment_status ON orders
    FOR EACH ROW WHEN (OLD.fulfillment_status IS DISTINCT FROM NEW.fulfillment_status AND NEW.fulfillment_status <> 'unfulfilled')
    EXECUTE FUNCTION souq_order_auto_capture_enqueue();

-- A failed automatic capture on the order's timeline (not in the outbox: staff act on it).
CREATE FUNCTION souq_order_auto_capture_failed(p_order text, p_attempt int, p_max int, p_error text) RETURNS void LANGUAGE sql AS $$
    SELECT souq_order_event(p_order, 'order.capture_failed', jsonb_build_object('attempt', p_attempt, 'max_attempts', p_max,
        'final', p_attempt >= p_max, 'error', left(p_error, 500)), 'system:auto_capture', false)
$$;

-- ---- refunds onto gift cards ---------------------------------------------------------------------------------
-- The part of an order paid with gift cards goes back onto those cards: POST /v1/admin/orders/{id}/gift-card-refunds
-- (staff choose, as they choose the amount of a payment refund: each refund goes back to its own tender; the
-- payment's refund endpoint can only give back what the provider captured). A canceled order gives every redeemed
-- amount back at once. Ledger rows of kind 'refund' (with the order); never more than was redeemed from a card,
-- never above a card's initial value; under the order's row lock, cards locked in id order.

ALTER TABLE gift_card_transactions DROP CONSTRAINT gift_card_transactions_kind_check;
ALTER TABLE gift_card_transactions ADD CONSTRAINT gift_card_transactions_kind_check CHECK (kind IN ('issue', 'redeem', 'adjust', 'refund'));

-- What can still go back onto each card an order redeemed: [{gift_card_id, refundable}] in id order.
CREATE FUNCTION souq_order_gift_card_refundable(p_order text) RETURNS TABLE (gift_card_id text, refundable bigint) LANGUAGE sql STABLE AS $$
    SELECT t.gift_card_id, (-sum(t.amount))::bigint
      FROM gift_card_transactions t WHERE t.order_id = p_order AND t.kind IN ('redeem', 'refund')
     GROUP BY t.gift_card_id HAVING -sum(t.amount) > 0 ORDER BY t.gift_card_id
$$;

-- Credits p_amount (NULL: everything refundable) back onto the order's redeemed cards (p_card: only that one), in id
-- order. p_move: whether the order's refunded_total and payment status follow (a refund; not a cancel). Answers
-- [{gift_card_id, amount, balance_after}].
CREATE FUNCTION souq_order_gift_card_refund(p_order text, p_amount bigint, p_card text, p_actor text, p_move boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    o orders;
    r record;
    g gift_cards;
    left_ bigint := p_amount;
    take bigint;
    given bigint := 0;
    room bigint;
    out_ jsonb := '[]';
BEGIN
    SELECT * INTO o FROM orders WHERE id = p_order FOR UPDATE;
    SELECT coalesce(sum(x.refundable), 0) INTO room FROM souq_order_gift_card_refundable(p_order) x WHERE p_card IS NULL OR x.gift_card_id = p_card;
    IF p_amount IS NOT NULL AND p_amount > room THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/amount|exceeds_refundable|At most %s can go back onto %s.', room,
            CASE WHEN p_card IS NULL THEN 'the gift cards of this order' ELSE 'this gift card' END);
    END IF;
    IF p_move AND o.refunded_total + p_amount > o.paid_total THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/amount|exceeds_refundable|At most %s of the order is left to refund.', o.paid_total - o.refunded_total);
    END IF;
    FOR r IN SELECT * FROM souq_order_gift_card_refundable(p_order) x WHERE p_card IS NULL OR x.gift_card_id = p_card LOOP
        EXIT WHEN left_ IS NOT NULL AND left_ <= 0;
        take := CASE WHEN left_ IS NULL THEN r.refundable ELSE least(left_, r.refundable) END;
        SELECT * INTO g FROM gift_cards WHERE id = r.gift_card_id FOR UPDATE;
        IF p_move AND g.status <> 'active' THEN
            RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = format('The gift card ending in %s is disabled; enable it to refund onto it.', g.code_last4);
        END IF;
        IF g.balance + take > g.initial_balance THEN
            IF p_move THEN
                RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/amount|exceeds_initial_balance|The gift card ending in %s can take at most %s '
                    '(staff credited it since); refund the rest to the payment.', g.code_last4, g.initial_balance - g.balance);
            END IF;
            take := g.initial_balance - g.balance; -- a cancel gives back what fits
        END IF;
        CONTINUE WHEN take <= 0;
        UPDATE gift_cards SET balance = balance + take WHERE id = g.id RETURNING * INTO g;
        INSERT INTO gift_card_transactions (gift_card_id, kind, amount, balance_after, order_id, actor)
        VALUES (g.id, 'refund', take, g.balance, p_order, p_actor);
        PERFORM souq_order_event(p_order, 'gift_card.refunded', jsonb_build_object('gift_card_id', g.id, 'amount', take,
                                 'currency_code', g.currency_code, 'balance_after', g.balance, 'reason', CASE WHEN p_move THEN 'refund' ELSE 'cancel' END),
                                 p_actor, true);
        out_ := out_ || jsonb_build_array(jsonb_build_object('gift_card_id', g.id, 'amount', take, 'balance_after', g.balance));
        given := given + take;
        IF left_ IS NOT NULL THEN
            left_ := left_ - take;
        END IF;
    END LOOP;
    IF p_move AND given > 0 THEN
        UPDATE orders SET refunded_total = refunded_total + given WHERE id = o.id;
        PERFORM souq_order_payment_move(o, CASE WHEN o.refunded_total + given >= o.paid_total THEN 'refunded' ELSE 'partially_refunded' END);
    END IF;
    RETURN out_;
END $$;

-- POST /v1/admin/orders/{id}/gift-card-refunds {amount, gift_card_id}: NULL for no such order. Only a paid order
-- (as payment refunds): 409 invalid-state otherwise.
CREATE FUNCTION souq_order_gift_card_refund_api(p_order text, p_amount bigint, p_card text, p_actor text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    o orders;
    moved jsonb;
BEGIN
    SELECT * INTO o FROM orders WHERE id = p_order FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF o.payment_status NOT IN ('paid', 'partially_refunded') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = format('The order''s payment is %s; only a paid order is refunded.', o.payment_status);
    END IF;
    IF p_card IS NOT NULL AND NOT EXISTS (SELECT 1 FROM gift_card_transactions WHERE order_id = p_order AND gift_card_id = p_card AND kind = 'redeem') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/gift_card_id|not_found|The order was not paid with this gift card.';
    END IF;
    moved := souq_order_gift_card_refund(p_order, p_amount, p_card, p_actor, true);
    SELECT * INTO o FROM orders WHERE id = p_order;
    RETURN json_build_object('object', 'gift_card_refund', 'order_id', o.id, 'amount', p_amount, 'gift_cards', moved,
                             'refunded_total', o.refunded_total, 'payment_status', o.payment_status);
END $$;

-- A canceled order gives back what its gift cards paid (its payment is voided; nothing else would).
CREATE FUNCTION souq_order_canceled_gift_cards() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM souq_order_gift_card_refund(NEW.id, NULL, NULL, 'system:cancel', false);
    RETURN NULL;
END $$;
CREATE TRIGGER orders_canceled_gift_cards AFTER UPDATE OF status ON orders
    FOR EACH ROW WHEN (NEW.status = 'canceled' AND OLD.status <> 'canceled' AND NEW.gift_card_total > 0)
    EXECUTE FUNCTION souq_order_canceled_gift_cards();

-- ---- shipping options for a range of cart subtotals ------------------------------------------------------------
-- min_subtotal / max_subtotal (minor units of the option's region currency, inclusive; NULL: open): an option is
-- offered, shown and charged only while the cart's items after discounts (gift card lines do not count) are in the
-- range; the check is in C (core/cart.c), which prices the cart. POST .../shipping-methods refuses an option
-- outside it (422 not_available); a cart that leaves the range loses the method from its answer and checkout asks
-- for another, as for an option that stopped serving the cart.

ALTER TABLE shipping_options ADD COLUMN min_subtotal bigint CHECK (min_subtotal BETWEEN 0 AND 1000000000000),
                             ADD COLUMN max_subtotal bigint CHECK (max_subtotal BETWEEN 0 AND 1000000000000);
ALTER TABLE shipping_options ADD CONSTRAINT shipping_options_subtotal_range_check
    CHECK (min_subtotal IS NULL OR max_subtotal IS NULL OR max_subtotal >= min_subtotal);

ALTER FUNCTION souq_shipping_option_json(shipping_options) RENAME TO souq_shipping_option_json_0020;
CREATE FUNCTION souq_shipping_option_json(o shipping_options) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT (left(b::text, -1) || ', "min_subtotal" : ' || coalesce(o.min_subtotal::text, 'null') || ', "max_subtotal" : '
            || coalesce(o.max_subtotal::text, 'null') || '}')::json FROM souq_shipping_option_json_0020(o) b
$$;
ALTER FUNCTION souq_shipping_option_save(text, jsonb, text) RENAME TO souq_shipping_option_save_0020;
CREATE FUNCTION souq_shipping_option_save(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    r json := souq_shipping_option_save_0020(p_id, b - 'min_subtotal' - 'max_subtotal', p_etag);
BEGIN
    IF r IS NULL OR NOT (b ? 'min_subtotal' OR b ? 'max_subtotal') THEN
        RETURN r;
    END IF;
    UPDATE shipping_options t SET min_subtotal = CASE WHEN b ? 'min_subtotal' THEN (b->>'min_subtotal')::bigint ELSE t.min_subtotal END,
                                  max_subtotal = CASE WHEN b ? 'max_subtotal' THEN (b->>'max_subtotal')::bigint ELSE t.max_subtotal END
     WHERE t.id = r->>'id';
    RETURN (SELECT souq_shipping_option_json(t) FROM shipping_options t WHERE t.id = r->>'id');
END $$;

-- POST .../shipping-methods with the cart's shippable subtotal as C priced it (NULL: not known, no range check).
CREATE FUNCTION souq_cart_shipping_method_set_within(p_id text, p_channel text, p_customer text, p_ttl_s int, p_version int, p_option text,
                                                     p_subtotal bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    o shipping_options;
BEGIN
    SELECT * INTO o FROM shipping_options WHERE id = p_option;
    IF p_subtotal IS NOT NULL AND ((o.min_subtotal IS NOT NULL AND p_subtotal < o.min_subtotal)
                                   OR (o.max_subtotal IS NOT NULL AND p_subtotal > o.max_subtotal)) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/option_id|not_available|The shipping option is for carts whose items come to %s%s (this cart: %s).',
            CASE WHEN o.min_subtotal IS NOT NULL THEN 'at least ' || o.min_subtotal ELSE '' END,
            CASE WHEN o.max_subtotal IS NOT NULL THEN CASE WHEN o.min_subtotal IS NOT NULL THEN ' and ' ELSE '' END || 'at most ' || o.max_subtotal ELSE '' END,
            p_subtotal);
    END IF;
    RETURN souq_cart_shipping_method_set(p_id, p_channel, p_customer, p_ttl_s, p_version, p_option);
END $$;

-- The clear codes of deliveries nobody revealed go after their 7 days: a built-in hourly job
-- (gift_cards.purge_deliveries, core/gift_sale_db.c) deletes them.
SELECT souq_schedule_upsert('gift_card_deliveries', 'gift_cards.purge_deliveries', 'every 1 hour', 3600, NULL, true, 3);
