-- 0019_orders_checkout.sql: payments, checkout and orders.
--
-- Checkout (core/checkout.c) runs in three steps and never holds a row lock across the payment provider:
--   1. souq_checkout_prepare: locks the cart, checks it is still the version that was priced, reserves its
--      stock for the cart (all or nothing), and opens (or reuses) the cart's payment. Commits.
--   2. the payment provider authorizes (core/hooks.h), with no lock held.
--   3. souq_checkout_complete: creates the order from the priced cart (an immutable snapshot of lines,
--      prices, adjustments, taxes, addresses), moves the reservations to the order, completes the cart,
--      redeems promotions and gift cards, stores the Idempotency-Key's answer and writes order.placed to the
--      outbox: one transaction. Or souq_checkout_fail undoes step 1 (releases the stock, closes the payment).
-- One order per cart (orders.cart_id is unique): completing a cart that is already an order answers that
-- order, so a retry after a crash can never place a second one.
--
-- State machines (souq_order_payment_move, souq_order_fulfillment_move) refuse illegal moves with SQSTE
-- (409 invalid-state). SQ402: payment declined; SQSTK: stock short (409 insufficient-stock).

-- Cart lines keep the order they were added in: lines added by one statement share created_at, and ids made in
-- the same millisecond are in random order, so the view sorts by this insertion sequence.
ALTER TABLE cart_line_items ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX cart_line_items_cart_seq_idx ON cart_line_items (cart_id, seq);

-- ---- the test gateway's own books ------------------------------------------------------------------------
-- The built-in `test` provider (core/payment_builtin.c) behaves like a card gateway kept outside Souq's
-- tables: one charge per idempotency key (a retried authorize answers the same charge), and an operations
-- ledger. The crash test reads it to prove no key was charged twice.
CREATE TABLE test_gateway_charges (
    id              text PRIMARY KEY DEFAULT souq_id('ch'),
    idempotency_key text NOT NULL UNIQUE,
    token           text NOT NULL,
    currency_code   text NOT NULL,
    amount          bigint NOT NULL CHECK (amount > 0),
    status          text NOT NULL CHECK (status IN ('requires_action', 'authorized', 'declined', 'captured', 'voided')),
    decline_code    text,
    captured        bigint NOT NULL DEFAULT 0 CHECK (captured >= 0 AND captured <= amount),
    refunded        bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= captured),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE test_gateway_operations (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    charge_id       text NOT NULL REFERENCES test_gateway_charges (id),
    kind            text NOT NULL CHECK (kind IN ('authorize', 'capture', 'void', 'refund')),
    amount          bigint NOT NULL,
    idempotency_key text UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- The gateway's authorize: the charge of this idempotency key, created on first sight. Tokens decide the
-- outcome (core/hooks.h). Answers {id, status, decline_code}.
CREATE FUNCTION souq_testpay_authorize(p_key text, p_token text, p_currency text, p_amount bigint) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    ch test_gateway_charges;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true); -- a simulated remote system: its durability is not ours to test
    INSERT INTO test_gateway_charges (idempotency_key, token, currency_code, amount, status, decline_code)
    VALUES (p_key, p_token, p_currency, p_amount,
            CASE p_token WHEN 'tok_declined' THEN 'declined' WHEN 'tok_insufficient_funds' THEN 'declined'
                         WHEN 'tok_3ds' THEN 'requires_action' ELSE 'authorized' END,
            CASE p_token WHEN 'tok_declined' THEN 'card_declined' WHEN 'tok_insufficient_funds' THEN 'insufficient_funds' END)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING * INTO ch;
    IF FOUND THEN
        INSERT INTO test_gateway_operations (charge_id, kind, amount, idempotency_key) VALUES (ch.id, 'authorize', p_amount, p_key);
    ELSE
        SELECT * INTO ch FROM test_gateway_charges WHERE idempotency_key = p_key;
    END IF;
    RETURN json_build_object('id', ch.id, 'status', ch.status, 'decline_code', ch.decline_code);
END $$;

-- capture / void / refund of a charge; p_key makes a refund idempotent. Answers {id, status} or raises SQ409.
CREATE FUNCTION souq_testpay_operate(p_charge text, p_kind text, p_amount bigint, p_key text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    ch test_gateway_charges;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT * INTO ch FROM test_gateway_charges WHERE id = p_charge FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ409', MESSAGE = 'The gateway does not know the charge.';
    END IF;
    IF p_key IS NOT NULL AND EXISTS (SELECT 1 FROM test_gateway_operations WHERE idempotency_key = p_key) THEN
        RETURN json_build_object('id', ch.id, 'status', ch.status); -- a retry of a refund already made
    END IF;
    IF p_kind = 'capture' AND ch.status = 'authorized' AND p_amount <= ch.amount THEN
        UPDATE test_gateway_charges SET status = 'captured', captured = p_amount, updated_at = now() WHERE id = ch.id;
    ELSIF p_kind = 'capture' AND ch.status = 'captured' THEN
        RETURN json_build_object('id', ch.id, 'status', ch.status);
    ELSIF p_kind = 'void' AND ch.status IN ('authorized', 'requires_action', 'voided') THEN
        UPDATE test_gateway_charges SET status = 'voided', updated_at = now() WHERE id = ch.id;
    ELSIF p_kind = 'refund' AND ch.status = 'captured' AND ch.refunded + p_amount <= ch.captured THEN
        UPDATE test_gateway_charges SET refunded = refunded + p_amount, updated_at = now() WHERE id = ch.id;
    ELSE
        RAISE EXCEPTION USING ERRCODE = 'SQ409', MESSAGE = format('The gateway refused to %s a %s charge.', p_kind, ch.status);
    END IF;
    INSERT INTO test_gateway_operations (charge_id, kind, amount, idempotency_key) VALUES (ch.id, p_kind, p_amount, p_key);
    SELECT * INTO ch FROM test_gateway_charges WHERE id = p_charge;
    RETURN json_build_object('id', ch.id, 'status', ch.status);
END $$;

-- The buyer passed (or failed) 3-D Secure on the gateway's page: POST /v1/hooks/test/charges/{id}/authenticate.
CREATE FUNCTION souq_testpay_authenticate(p_charge text, p_succeed boolean) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    ch test_gateway_charges;
BEGIN
    UPDATE test_gateway_charges SET status = CASE WHEN p_succeed THEN 'authorized' ELSE 'declined' END,
           decline_code = CASE WHEN p_succeed THEN NULL ELSE 'authentication_failed' END, updated_at = now()
     WHERE id = p_charge AND status = 'requires_action' RETURNING * INTO ch;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'No charge is waiting for authentication.';
    END IF;
    RETURN json_build_object('id', ch.id, 'status', ch.status);
END $$;

-- ---- orders ---------------------------------------------------------------------------------------------
CREATE SEQUENCE order_number_seq START 1001;

CREATE TABLE orders (
    id                      text PRIMARY KEY DEFAULT souq_id('order'),
    number                  bigint NOT NULL UNIQUE DEFAULT nextval('order_number_seq'),
    cart_id                 text UNIQUE,
    sales_channel_id        text NOT NULL REFERENCES sales_channels (id),
    customer_id             text REFERENCES customers (id) ON DELETE SET NULL,
    email                   text,
    currency_code           text NOT NULL REFERENCES currencies (code),
    region_id               text REFERENCES regions (id) ON DELETE SET NULL,
    status                  text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed', 'canceled')),
    payment_status          text NOT NULL CHECK (payment_status IN ('pending', 'authorized', 'paid', 'partially_refunded',
                                                                    'refunded', 'voided')),
    fulfillment_status      text NOT NULL DEFAULT 'unfulfilled'
                            CHECK (fulfillment_status IN ('unfulfilled', 'partially_fulfilled', 'fulfilled', 'shipped', 'delivered')),
    shipping_address        jsonb,
    billing_address         jsonb,
    shipping_methods        jsonb NOT NULL DEFAULT '[]',
    promotion_codes         jsonb NOT NULL DEFAULT '[]',
    note                    text,
    metadata                jsonb NOT NULL DEFAULT '{}',
    tax_inclusive           boolean NOT NULL DEFAULT false,
    item_subtotal           bigint NOT NULL,
    discount_total          bigint NOT NULL DEFAULT 0,
    shipping_total          bigint NOT NULL DEFAULT 0,
    shipping_discount_total bigint NOT NULL DEFAULT 0,
    tax_total               bigint NOT NULL DEFAULT 0,
    total                   bigint NOT NULL CHECK (total >= 0),
    gift_card_total         bigint NOT NULL DEFAULT 0,
    paid_total              bigint NOT NULL DEFAULT 0 CHECK (paid_total >= 0),
    refunded_total          bigint NOT NULL DEFAULT 0 CHECK (refunded_total >= 0 AND refunded_total <= paid_total),
    snapshot                jsonb NOT NULL,  -- the priced cart as the buyer confirmed it
    placed_at               timestamptz NOT NULL DEFAULT now(),
    canceled_at             timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer_idx ON orders (customer_id, id DESC) WHERE customer_id IS NOT NULL;
CREATE INDEX orders_channel_idx ON orders (sales_channel_id, id DESC);
CREATE INDEX orders_placed_idx ON orders (placed_at DESC);
CREATE INDEX orders_email_idx ON orders (lower(email));
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE TABLE order_line_items (
    id                 text PRIMARY KEY DEFAULT souq_id('oli'),
    order_id           text NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    variant_id         text REFERENCES product_variants (id) ON DELETE SET NULL,
    product_id         text,
    title              text NOT NULL,
    variant_title      text,
    sku                text,
    requires_shipping  boolean NOT NULL DEFAULT true,
    quantity           integer NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
    unit_price         bigint NOT NULL CHECK (unit_price >= 0),
    compare_at_unit_price bigint,
    subtotal           bigint NOT NULL,
    discount_total     bigint NOT NULL DEFAULT 0,
    tax_total          bigint NOT NULL DEFAULT 0,
    total              bigint NOT NULL,
    adjustments        jsonb NOT NULL DEFAULT '[]',
    tax_lines          jsonb NOT NULL DEFAULT '[]',
    fulfilled_quantity integer NOT NULL DEFAULT 0 CHECK (fulfilled_quantity >= 0 AND fulfilled_quantity <= quantity),
    returned_quantity  integer NOT NULL DEFAULT 0 CHECK (returned_quantity >= 0 AND returned_quantity <= fulfilled_quantity),
    metadata           jsonb NOT NULL DEFAULT '{}',
    position           integer NOT NULL
);
CREATE INDEX order_line_items_order_idx ON order_line_items (order_id, position);

-- A payment of a cart, then of its order. status: where it stands at its provider.
CREATE TABLE payments (
    id              text PRIMARY KEY DEFAULT souq_id('pay'),
    cart_id         text,
    order_id        text REFERENCES orders (id) ON DELETE CASCADE,
    provider        text NOT NULL,
    status          text NOT NULL CHECK (status IN ('authorizing', 'requires_action', 'pending', 'authorized', 'captured',
                                                    'declined', 'voided', 'canceled', 'error')),
    currency_code   text NOT NULL,
    amount          bigint NOT NULL CHECK (amount >= 0),
    captured_amount bigint NOT NULL DEFAULT 0 CHECK (captured_amount >= 0 AND captured_amount <= amount),
    refunded_amount bigint NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0),
    refund_pending  bigint NOT NULL DEFAULT 0 CHECK (refund_pending >= 0),
    gateway_key     text NOT NULL UNIQUE, -- the idempotency key the provider gets for authorize
    provider_ref    text,
    next_action     jsonb,
    decline_code    text,
    data            jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (refunded_amount + refund_pending <= captured_amount)
);
CREATE INDEX payments_cart_idx ON payments (cart_id) WHERE cart_id IS NOT NULL;
CREATE INDEX payments_order_idx ON payments (order_id) WHERE order_id IS NOT NULL;
CREATE TRIGGER payments_touch BEFORE UPDATE ON payments FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE TABLE refunds (
    id           text PRIMARY KEY DEFAULT souq_id('ref'),
    order_id     text NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    payment_id   text NOT NULL REFERENCES payments (id),
    amount       bigint NOT NULL CHECK (amount > 0),
    reason       text CHECK (reason IN ('requested_by_customer', 'duplicate', 'fraudulent', 'return', 'other')),
    note         text CHECK (length(note) <= 1000),
    status       text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    provider_ref text,
    actor        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_order_idx ON refunds (order_id, id);
CREATE TRIGGER refunds_touch BEFORE UPDATE ON refunds FOR EACH ROW EXECUTE FUNCTION souq_touch();

-- The order's timeline: every change, who made it and when.
CREATE TABLE order_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id   text NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    type       text NOT NULL,
    data       jsonb NOT NULL DEFAULT '{}',
    actor      text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_events_order_idx ON order_events (order_id, id);

-- A timeline entry, and the domain event of the same name in the outbox, in the caller's transaction.
CREATE FUNCTION souq_order_event(p_order text, p_type text, p_data jsonb, p_actor text, p_outbox boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO order_events (order_id, type, data, actor) VALUES (p_order, p_type, coalesce(p_data, '{}'), p_actor);
    IF p_outbox THEN
        INSERT INTO outbox_events (type, payload) VALUES (p_type, jsonb_build_object('order_id', p_order) || coalesce(p_data, '{}'));
    END IF;
END $$;

-- The payment status machine of an order. Legal moves:
--   pending            -> paid, voided
--   authorized         -> paid, voided
--   paid               -> partially_refunded, refunded
--   partially_refunded -> partially_refunded, refunded
CREATE FUNCTION souq_order_payment_move(o orders, p_to text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT ((o.payment_status IN ('pending', 'authorized') AND p_to IN ('paid', 'voided'))
            OR (o.payment_status IN ('paid', 'partially_refunded') AND p_to IN ('partially_refunded', 'refunded'))) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE',
            MESSAGE = format('The order''s payment is %s; it cannot become %s.', o.payment_status, p_to);
    END IF;
    UPDATE orders SET payment_status = p_to WHERE id = o.id;
END $$;

-- The JSON of an order: the order, its lines, payments, refunds (and, with p_timeline, its timeline).
CREATE FUNCTION souq_order_json(o orders, p_timeline boolean) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object(
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
        'placed_at', o.placed_at, 'canceled_at', o.canceled_at, 'created_at', o.created_at, 'updated_at', o.updated_at)
        || CASE WHEN p_timeline THEN jsonb_build_object('timeline', coalesce((SELECT jsonb_agg(jsonb_build_object(
               'type', e.type, 'data', e.data, 'actor', e.actor, 'created_at', e.created_at) ORDER BY e.id)
               FROM order_events e WHERE e.order_id = o.id), '[]')) ELSE '{}'::jsonb END;
END $$;

-- ---- checkout -------------------------------------------------------------------------------------------

-- Promotions and gift cards redeemed by an order (0021 replaces this): raises SQ422 to refuse the order.
CREATE FUNCTION souq_checkout_redeem(p_order_id text, p_customer_id text, p_cart jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RETURN; -- nothing to redeem until promotions and gift cards exist
END $$;

-- The order of a cart, for its caller (channel, and customer when the cart had one), or NULL.
CREATE FUNCTION souq_cart_order(p_cart text, p_channel text, p_customer text) RETURNS orders LANGUAGE plpgsql STABLE AS $$
DECLARE
    o orders;
BEGIN
    SELECT * INTO o FROM orders WHERE cart_id = p_cart AND sales_channel_id = p_channel
       AND (customer_id IS NULL OR customer_id = p_customer
            OR NOT EXISTS (SELECT 1 FROM carts c WHERE c.id = p_cart AND c.customer_id IS NOT NULL));
    RETURN o;
END $$;

-- Step 1. p_cart is the priced cart JSON of version p_version. Answers {payment_id, gateway_key, provider_ref,
-- status, reservations} where status is the payment's: 'authorizing' (call authorize), or the state of a
-- payment an earlier attempt left (requires_action, authorized, pending: call authorize again with the same
-- key, which answers the current state).
CREATE FUNCTION souq_checkout_prepare(p_id text, p_channel text, p_customer text, p_ttl_s int, p_version int, p_cart jsonb,
                                      p_provider text, p_data jsonb, p_gateway_key text, p_reserve_ttl_s int)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    c carts;
    pay payments;
    lines jsonb;
    amount bigint := (p_cart->>'amount_due')::bigint;
    nres int;
    stale json; -- an earlier attempt to void at its provider
BEGIN
    c := souq_cart_lock(p_id, p_channel, p_customer, p_ttl_s, NULL);
    -- commits without waiting for the WAL flush (souq_cart_lock set it): the order's own commit is durable and
    -- flushes this one too; a crash before it loses the attempt, whose payment the order step then misses (SQ409)
    IF c.version <> p_version THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ409', MESSAGE = 'The cart changed during checkout; read it and try again.';
    END IF;
    -- the cart's rules for becoming an order
    IF jsonb_array_length(p_cart->'items') = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/items|required|The cart has no lines.';
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_array_elements(p_cart->'items') i WHERE NOT (i->>'sellable')::boolean) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/items|not_sellable|A line of the cart can no longer be bought; remove it first.';
    END IF;
    IF c.email IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/email|required|The cart needs an email for the order.';
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_array_elements(p_cart->'items') i WHERE (i->>'requires_shipping')::boolean) THEN
        IF c.shipping_address IS NULL OR c.shipping_address->>'address_1' IS NULL OR c.shipping_address->>'city' IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/shipping_address|required|The cart ships goods: it needs a shipping address with address_1, city and country_code.';
        END IF;
        -- a shipping method that can ship this cart now (souq_cart_shipping_ready: migrations/0020, run before serving)
        -- and the priced cart must show it with its amount: a provider that could not rate it leaves it out
        IF NOT souq_cart_shipping_ready(c.id) OR jsonb_array_length(coalesce(p_cart->'shipping_methods', '[]')) = 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/shipping_methods|required|The cart ships goods: choose a shipping method (GET /v1/store/carts/{id}/shipping-options).';
        END IF;
    END IF;
    -- stock: the cart's earlier reservations (an attempt that needed action) are replaced, all or nothing
    IF EXISTS (SELECT 1 FROM reservations WHERE reference = p_id AND status = 'active') THEN
        PERFORM souq_release(p_id);
    END IF;
    SELECT jsonb_agg(jsonb_build_object('variant_id', i->>'variant_id', 'quantity', (i->>'quantity')::int))
      INTO lines FROM jsonb_array_elements(p_cart->'items') i;
    BEGIN
        SELECT count(*) INTO nres FROM souq_reserve(lines, p_channel, p_id, p_reserve_ttl_s);
    EXCEPTION WHEN SQLSTATE 'SQ409' THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTK', MESSAGE = SQLERRM;
    END;
    IF amount = 0 THEN -- nothing due (gift cards, discounts): no payment to open
        RETURN json_build_object('payment_id', NULL, 'status', 'captured', 'reservations', nres);
    END IF;
    IF p_provider IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/payment|required|The cart has an amount due: give a payment.';
    END IF;
    -- the payment: the one of this key (a retry: the gateway answers its charge again, declined or not), else
    -- the cart's attempt still open at the provider (after requires_action: its key answers its state)
    SELECT * INTO pay FROM payments WHERE gateway_key = p_gateway_key FOR UPDATE;
    IF NOT FOUND THEN
        SELECT * INTO pay FROM payments
         WHERE cart_id = p_id AND order_id IS NULL AND status IN ('authorizing', 'requires_action', 'authorized', 'pending')
         ORDER BY created_at DESC LIMIT 1 FOR UPDATE;
    END IF;
    IF pay.id IS NOT NULL AND (pay.cart_id <> p_id OR pay.provider <> p_provider OR pay.amount <> amount
                               OR pay.currency_code <> c.currency_code) THEN
        IF pay.gateway_key = p_gateway_key THEN -- the gateway would answer the old charge
            RAISE EXCEPTION USING ERRCODE = 'SQ409', MESSAGE = 'This Idempotency-Key was used for another version of the cart; use a new key.';
        END IF;
        -- the cart changed after an attempt the provider may still hold: close it; C voids it at the provider
        UPDATE payments SET status = 'canceled' WHERE id = pay.id;
        IF pay.status IN ('authorized', 'requires_action', 'error') AND pay.provider_ref IS NOT NULL THEN
            stale := json_build_object('payment_id', pay.id, 'provider', pay.provider, 'provider_ref', pay.provider_ref,
                                       'amount', pay.amount, 'currency_code', pay.currency_code);
        END IF;
        pay := NULL;
    END IF;
    IF pay.id IS NULL THEN
        INSERT INTO payments (cart_id, provider, status, currency_code, amount, gateway_key, data)
        VALUES (p_id, p_provider, 'authorizing', c.currency_code, amount, p_gateway_key, p_data) RETURNING * INTO pay;
    ELSIF pay.status IN ('declined', 'error', 'voided', 'canceled') THEN -- this key's earlier attempt: ask again
        UPDATE payments SET status = 'authorizing', decline_code = NULL WHERE id = pay.id RETURNING * INTO pay;
    END IF;
    RETURN json_build_object('payment_id', pay.id, 'gateway_key', pay.gateway_key, 'provider_ref', pay.provider_ref,
                             'status', pay.status, 'reservations', nres, 'stale', stale);
END $$;

-- An attempt that did not become an order: the stock goes back, the payment records why.
CREATE FUNCTION souq_checkout_fail(p_cart text, p_payment text, p_status text, p_provider_ref text, p_decline text,
                                   p_next_action jsonb) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true); -- lost in a crash: the reservations expire by themselves
    UPDATE payments SET status = p_status, provider_ref = coalesce(p_provider_ref, provider_ref), decline_code = p_decline,
           next_action = p_next_action
     WHERE id = p_payment AND order_id IS NULL;
    IF p_status <> 'requires_action' THEN
        PERFORM souq_release(p_cart);
    END IF;
    RETURN json_build_object('payment_id', p_payment, 'status', p_status);
END $$;

-- Step 3: the order. p_status is the payment's state at its provider (authorized, captured, pending).
-- p_idem_*: the request's Idempotency-Key record (principal, method, route, key): its answer is stored here,
-- in the order's transaction. p_payment NULL: nothing was due. Answers the order JSON; when the cart became an order meanwhile (a concurrent
-- completion), answers that order with "superseded": true and whether p_payment is the order's (a concurrent
-- request with another key reused the same open payment); the caller voids its payment when it is not.
CREATE FUNCTION souq_checkout_complete(p_id text, p_channel text, p_customer text, p_payment text, p_status text,
                                       p_provider_ref text, p_cart jsonb, p_idem_principal text, p_idem_method text,
                                       p_idem_route text, p_idem_key text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c carts;
    o orders;
    pay payments;
    cust text;
    lines jsonb;
    moved int;
    answer jsonb;
BEGIN
    SELECT * INTO c FROM carts WHERE id = p_id AND sales_channel_id = p_channel FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The cart does not exist.';
    END IF;
    IF c.completed_at IS NOT NULL THEN
        o := souq_cart_order(p_id, p_channel, p_customer);
        RETURN souq_order_json(o, false) || jsonb_build_object('superseded', true,
            'payment_used', EXISTS (SELECT 1 FROM payments WHERE id = p_payment AND order_id = o.id));
    END IF;
    SELECT * INTO pay FROM payments WHERE id = p_payment FOR UPDATE;
    IF p_payment IS NOT NULL AND pay.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ409', MESSAGE = 'The checkout was interrupted; try again.';
    END IF;
    IF p_payment IS NOT NULL AND pay.status NOT IN ('authorizing', 'requires_action', 'authorized', 'pending') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ409', MESSAGE = 'The cart changed during checkout; read it and try again.';
    END IF;
    -- a guest's order belongs to a guest customer record of its email (admin search by customer, later claims)
    cust := c.customer_id;
    IF cust IS NULL THEN
        SELECT id INTO cust FROM customers WHERE lower(email) = lower(c.email) AND NOT has_account ORDER BY created_at LIMIT 1;
        IF cust IS NULL THEN
            INSERT INTO customers (email) VALUES (lower(c.email)) RETURNING id INTO cust;
        END IF;
    END IF;
    INSERT INTO orders (cart_id, sales_channel_id, customer_id, email, currency_code, region_id, payment_status,
                        shipping_address, billing_address, shipping_methods, promotion_codes, note, metadata, tax_inclusive,
                        item_subtotal, discount_total, shipping_total, shipping_discount_total, tax_total, total,
                        gift_card_total, paid_total, snapshot)
    VALUES (c.id, c.sales_channel_id, cust, c.email, c.currency_code, c.region_id,
            CASE p_status WHEN 'captured' THEN 'paid' WHEN 'authorized' THEN 'authorized' ELSE 'pending' END,
            c.shipping_address, c.billing_address, coalesce(p_cart->'shipping_methods', '[]'),
            coalesce(p_cart->'promotion_codes', '[]'), c.note, c.metadata, coalesce((p_cart->>'tax_inclusive')::boolean, false),
            (p_cart->>'item_subtotal')::bigint, (p_cart->>'discount_total')::bigint, (p_cart->>'shipping_total')::bigint,
            coalesce((p_cart->>'shipping_discount_total')::bigint, 0), (p_cart->>'tax_total')::bigint, (p_cart->>'total')::bigint,
            coalesce((p_cart->>'gift_card_total')::bigint, 0),
            CASE WHEN p_status = 'captured' THEN coalesce(pay.amount, 0) ELSE 0 END + coalesce((p_cart->>'gift_card_total')::bigint, 0),
            p_cart)
    RETURNING * INTO o;
    INSERT INTO order_line_items (order_id, variant_id, product_id, title, variant_title, sku, requires_shipping, quantity,
                                  unit_price, compare_at_unit_price, subtotal, discount_total, tax_total, total, adjustments,
                                  tax_lines, metadata, position)
    SELECT o.id, i->>'variant_id', i->>'product_id', i->>'title', i->>'variant_title', i->>'sku',
           (i->>'requires_shipping')::boolean, (i->>'quantity')::int, (i->>'unit_price')::bigint,
           (i->>'compare_at_unit_price')::bigint, (i->>'subtotal')::bigint, (i->>'discount_total')::bigint,
           (i->>'tax_total')::bigint, (i->>'total')::bigint, coalesce(i->'adjustments', '[]'), coalesce(i->'tax_lines', '[]'),
           coalesce(i->'metadata', '{}'), (e.n - 1)::int
      FROM jsonb_array_elements(p_cart->'items') WITH ORDINALITY e(i, n);
    UPDATE payments SET order_id = o.id, status = p_status, provider_ref = coalesce(p_provider_ref, provider_ref),
           captured_amount = CASE WHEN p_status = 'captured' THEN amount ELSE 0 END, next_action = NULL
     WHERE id = p_payment;
    -- the stock: the cart's reservations become the order's until fulfilment or cancel; if the sweeper released
    -- them meanwhile (a long 3-D Secure), reserve again now, all or nothing
    UPDATE reservations SET reference = o.id, expires_at = 'infinity' WHERE reference = p_id AND status = 'active';
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved = 0 THEN
        SELECT jsonb_agg(jsonb_build_object('variant_id', i->>'variant_id', 'quantity', (i->>'quantity')::int))
          INTO lines FROM jsonb_array_elements(p_cart->'items') i;
        BEGIN
            PERFORM souq_reserve(lines, p_channel, o.id, 1);
        EXCEPTION WHEN SQLSTATE 'SQ409' THEN
            RAISE EXCEPTION USING ERRCODE = 'SQSTK', MESSAGE = SQLERRM;
        END;
        UPDATE reservations SET expires_at = 'infinity' WHERE reference = o.id AND status = 'active';
    END IF;
    UPDATE carts SET completed_at = now() WHERE id = c.id;
    PERFORM souq_checkout_redeem(o.id, cust, p_cart);
    PERFORM souq_order_event(o.id, 'order.placed', jsonb_build_object('number', o.number, 'total', o.total,
                             'currency_code', o.currency_code, 'payment_status', o.payment_status), p_customer, true);
    IF p_status = 'captured' THEN
        PERFORM souq_order_event(o.id, 'order.paid', jsonb_build_object('amount', o.paid_total), NULL, true);
    END IF;
    answer := souq_order_json(o, false);
    IF p_idem_key IS NOT NULL THEN
        UPDATE idempotency_keys SET state = 'done', status = 201, content_type = 'application/json', body = answer::text
         WHERE principal = p_idem_principal AND method = p_idem_method AND route = p_idem_route AND key = p_idem_key;
    END IF;
    RETURN answer;
END $$;

-- ---- orders after checkout --------------------------------------------------------------------------------

-- Capture (staff): the order's open payment. Step 1 answers what to ask the provider; step 2 records it.
CREATE FUNCTION souq_order_capture_prepare(p_order text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    o orders;
    pay payments;
BEGIN
    SELECT * INTO o FROM orders WHERE id = p_order;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The order does not exist.';
    END IF;
    IF o.status = 'canceled' OR o.payment_status NOT IN ('pending', 'authorized') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = format('The order''s payment is %s; only a pending or authorized payment can be captured.', o.payment_status);
    END IF;
    SELECT * INTO pay FROM payments WHERE order_id = o.id AND status IN ('authorized', 'pending') ORDER BY id LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = 'The order has no payment to capture.';
    END IF;
    RETURN json_build_object('payment_id', pay.id, 'provider', pay.provider, 'provider_ref', pay.provider_ref,
                             'amount', pay.amount, 'currency_code', pay.currency_code, 'gateway_key', pay.gateway_key);
END $$;

CREATE FUNCTION souq_order_capture_done(p_order text, p_payment text, p_actor text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    o orders;
    pay payments;
BEGIN
    SELECT * INTO o FROM orders WHERE id = p_order FOR UPDATE;
    UPDATE payments SET status = 'captured', captured_amount = amount WHERE id = p_payment AND status IN ('authorized', 'pending')
    RETURNING * INTO pay;
    IF NOT FOUND THEN -- a concurrent capture won: answer the order as it is
        RETURN souq_order_json(o, false);
    END IF;
    PERFORM souq_order_payment_move(o, 'paid');
    UPDATE orders SET paid_total = paid_total + pay.amount WHERE id = o.id;
    PERFORM souq_order_event(o.id, 'order.paid', jsonb_build_object('amount', pay.amount, 'payment_id', pay.id), p_actor, true);
    SELECT * INTO o FROM orders WHERE id = p_order;
    RETURN souq_order_json(o, false);
END $$;

-- Cancel (staff, or the customer while nothing is paid or fulfilled): step 1 checks and answers the payments to
-- void; step 2 releases the stock, voids the payments and cancels, in one transaction.
CREATE FUNCTION souq_order_cancel_prepare(p_order text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    o orders;
BEGIN
    SELECT * INTO o FROM orders WHERE id = p_order;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The order does not exist.';
    END IF;
    IF o.status = 'canceled' THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = 'The order is already canceled.';
    END IF;
    IF o.fulfillment_status <> 'unfulfilled' THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = format('The order is %s; only an unfulfilled order can be canceled.', o.fulfillment_status);
    END IF;
    IF o.payment_status NOT IN ('pending', 'authorized') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = format('The order''s payment is %s: refund it before canceling.', o.payment_status);
    END IF;
    RETURN json_build_object('payments', coalesce((SELECT json_agg(json_build_object('payment_id', p.id, 'provider', p.provider,
        'provider_ref', p.provider_ref, 'amount', p.amount, 'currency_code', p.currency_code))
        FROM payments p WHERE p.order_id = o.id AND p.status IN ('authorized', 'pending')), '[]'));
END $$;

CREATE FUNCTION souq_order_cancel_done(p_order text, p_actor text, p_reason text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    o orders;
BEGIN
    SELECT * INTO o FROM orders WHERE id = p_order FOR UPDATE;
    IF o.status = 'canceled' THEN
        RETURN souq_order_json(o, false);
    END IF;
    IF o.fulfillment_status <> 'unfulfilled' OR o.payment_status NOT IN ('pending', 'authorized') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = 'The order changed while it was being canceled.';
    END IF;
    PERFORM souq_release(o.id);
    UPDATE payments SET status = 'voided' WHERE order_id = o.id AND status IN ('authorized', 'pending');
    PERFORM souq_order_payment_move(o, 'voided');
    UPDATE orders SET status = 'canceled', canceled_at = now() WHERE id = o.id;
    PERFORM souq_order_event(o.id, 'order.canceled', jsonb_build_object('reason', p_reason), p_actor, true);
    SELECT * INTO o FROM orders WHERE id = p_order;
    RETURN souq_order_json(o, false);
END $$;

-- Refund, step 1: reserves the amount on the captured payment (refund_pending) under its row lock, so
-- concurrent refunds can never add up to more than was captured; answers what to ask the provider.
CREATE FUNCTION souq_refund_prepare(p_order text, p_amount bigint, p_reason text, p_note text, p_actor text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    o orders;
    pay payments;
    r refunds;
BEGIN
    SELECT * INTO o FROM orders WHERE id = p_order;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The order does not exist.';
    END IF;
    IF o.payment_status NOT IN ('paid', 'partially_refunded') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = format('The order''s payment is %s; only a captured payment can be refunded.', o.payment_status);
    END IF;
    -- the captured payment with room for the amount
    SELECT * INTO pay FROM payments
     WHERE order_id = o.id AND status = 'captured' AND captured_amount - refunded_amount - refund_pending >= p_amount
     ORDER BY id LIMIT 1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/amount|exceeds_refundable|At most %s can be refunded.',
            coalesce((SELECT max(captured_amount - refunded_amount - refund_pending) FROM payments WHERE order_id = o.id AND status = 'captured'), 0));
    END IF;
    UPDATE payments SET refund_pending = refund_pending + p_amount WHERE id = pay.id;
    INSERT INTO refunds (order_id, payment_id, amount, reason, note, status, actor)
    VALUES (o.id, pay.id, p_amount, p_reason, p_note, 'pending', p_actor) RETURNING * INTO r;
    RETURN json_build_object('refund_id', r.id, 'payment_id', pay.id, 'provider', pay.provider, 'provider_ref', pay.provider_ref,
                             'currency_code', pay.currency_code, 'amount', p_amount);
END $$;

-- Refund, step 2: the provider's answer. Succeeded: the payment and order add it up; failed: the amount is free again.
CREATE FUNCTION souq_refund_done(p_refund text, p_succeeded boolean, p_provider_ref text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r refunds;
    o orders;
BEGIN
    UPDATE refunds SET status = CASE WHEN p_succeeded THEN 'succeeded' ELSE 'failed' END, provider_ref = p_provider_ref
     WHERE id = p_refund AND status = 'pending' RETURNING * INTO r;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The refund does not exist or is no longer pending.';
    END IF;
    SELECT * INTO o FROM orders WHERE id = r.order_id FOR UPDATE;
    UPDATE payments SET refund_pending = refund_pending - r.amount,
           refunded_amount = refunded_amount + CASE WHEN p_succeeded THEN r.amount ELSE 0 END
     WHERE id = r.payment_id;
    IF p_succeeded THEN
        UPDATE orders SET refunded_total = refunded_total + r.amount WHERE id = o.id;
        PERFORM souq_order_payment_move(o, CASE WHEN o.refunded_total + r.amount >= o.paid_total THEN 'refunded' ELSE 'partially_refunded' END);
        PERFORM souq_order_event(o.id, 'refund.created', jsonb_build_object('refund_id', r.id, 'amount', r.amount, 'reason', r.reason),
                                 r.actor, true);
    END IF;
    RETURN jsonb_build_object('id', r.id, 'object', 'refund', 'order_id', r.order_id, 'payment_id', r.payment_id, 'amount', r.amount,
                              'reason', r.reason, 'note', r.note, 'status', r.status, 'created_at', r.created_at);
END $$;

-- ---- Idempotency-Key records commit without waiting for the WAL flush ---------------------------------------
-- A claim or a release lost to a PostgreSQL crash only means a retry claims the key again (the work it guards
-- either committed durably, with its answer, or not at all), so neither waits for fsync: with synchronous
-- commits a checkout waited for three flushes instead of one. Stored answers (souq_idem_finish, and checkout's
-- answer written in the order's own transaction) stay durable. Bodies as in 0017, plus the set_config.
CREATE OR REPLACE FUNCTION souq_idem_claim(p_principal text, p_method text, p_route text, p_key text, p_fingerprint text,
                                p_lock_ms integer) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    k idempotency_keys;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO idempotency_keys (principal, method, route, key, fingerprint, state, locked_until)
    VALUES (p_principal, p_method, p_route, p_key, p_fingerprint, 'in_flight', now() + make_interval(secs => p_lock_ms / 1000.0))
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN json_build_object('state', 'new');
    END IF;
    SELECT * INTO k FROM idempotency_keys
     WHERE principal = p_principal AND method = p_method AND route = p_route AND key = p_key FOR UPDATE;
    IF k.created_at < now() - interval '24 hours' OR (k.state = 'in_flight' AND k.locked_until <= now()) THEN
        -- expired, or its holder died without answering (nothing of it committed): a new request
        UPDATE idempotency_keys SET fingerprint = p_fingerprint, state = 'in_flight', status = NULL, content_type = NULL,
               location = NULL, body = NULL, created_at = now(), locked_until = now() + make_interval(secs => p_lock_ms / 1000.0)
         WHERE principal = p_principal AND method = p_method AND route = p_route AND key = p_key;
        RETURN json_build_object('state', 'new');
    END IF;
    IF k.fingerprint <> p_fingerprint THEN
        RETURN json_build_object('state', 'mismatch');
    END IF;
    IF k.state = 'in_flight' THEN
        RETURN json_build_object('state', 'in_flight');
    END IF;
    RETURN json_build_object('state', 'done', 'status', k.status, 'content_type', k.content_type, 'location', k.location,
                             'body', k.body);
END $$;

DROP FUNCTION souq_idem_release(text, text, text, text);
CREATE FUNCTION souq_idem_release(p_principal text, p_method text, p_route text, p_key text) RETURNS SETOF json
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    RETURN QUERY DELETE FROM idempotency_keys
                  WHERE principal = p_principal AND method = p_method AND route = p_route AND key = p_key AND state = 'in_flight'
                 RETURNING json_build_object('state', 'released');
END $$;
