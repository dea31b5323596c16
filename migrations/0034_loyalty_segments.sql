-- 0034_loyalty_segments.sql: loyalty points (program, tiers, accounts, a ledger, redemption on carts and at
-- checkout, earning on payment, claw-back on refunds, expiry) and customer segments (rules, kept current,
-- materialised as a customer group, exported as CSV). Decisions in the README ("Loyalty and segments").

-- ---- the program ----------------------------------------------------------------------------------------------

-- One row. Per currency (lower-case ISO 4217 keys of currencies): earn_points points for every earn_per minor units
-- spent, and, when redeem_points is set, redeem_points points are worth redeem_value minor units off a cart.
CREATE TABLE loyalty_program (
    id                boolean PRIMARY KEY DEFAULT true CHECK (id),
    enabled           boolean NOT NULL DEFAULT false,
    currencies        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(currencies) = 'object'),
    min_redeem_points bigint NOT NULL DEFAULT 1 CHECK (min_redeem_points BETWEEN 1 AND 1000000000),
    tier_period_days  integer NOT NULL DEFAULT 365 CHECK (tier_period_days BETWEEN 1 AND 3660),
    expiry_days       integer CHECK (expiry_days BETWEEN 1 AND 3660),  -- NULL: points never expire
    updated_at        timestamptz NOT NULL DEFAULT now()
);
INSERT INTO loyalty_program DEFAULT VALUES;

CREATE TABLE loyalty_tiers (
    id            text PRIMARY KEY DEFAULT souq_id('ltier'),
    name          text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 256),
    min_points    bigint NOT NULL UNIQUE CHECK (min_points BETWEEN 0 AND 1000000000000),
    multiplier_bp integer NOT NULL DEFAULT 10000 CHECK (multiplier_bp BETWEEN 10000 AND 100000),
    metadata      jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER loyalty_tiers_touch BEFORE UPDATE ON loyalty_tiers FOR EACH ROW EXECUTE FUNCTION souq_touch();

-- One account per customer, created on first use. The balance is changed only by souq_loyalty_post, under the row
-- lock of its UPDATE, and can never go below zero (the CHECK is the backstop).
CREATE TABLE loyalty_accounts (
    customer_id      text PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    balance          bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
    lifetime_earned  bigint NOT NULL DEFAULT 0,
    tier_id          text REFERENCES loyalty_tiers (id) ON DELETE SET NULL,
    last_activity_at timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX loyalty_accounts_activity_idx ON loyalty_accounts (last_activity_at) WHERE balance > 0;
CREATE TRIGGER loyalty_accounts_touch BEFORE UPDATE ON loyalty_accounts FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE TABLE loyalty_transactions (
    id            text PRIMARY KEY DEFAULT souq_id('ltx'),
    customer_id   text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('earn', 'redeem', 'release', 'expire', 'adjust', 'clawback')),
    points        bigint NOT NULL CHECK (points <> 0),
    balance_after bigint NOT NULL CHECK (balance_after >= 0),
    order_id      text REFERENCES orders (id) ON DELETE SET NULL,
    reason        text,
    actor         text,
    data          jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX loyalty_transactions_customer_idx ON loyalty_transactions (customer_id, id DESC);
CREATE INDEX loyalty_transactions_order_idx ON loyalty_transactions (order_id) WHERE order_id IS NOT NULL;
-- an order earns once, redeems once and releases once (retried triggers and jobs are no-ops)
CREATE UNIQUE INDEX loyalty_transactions_once_idx ON loyalty_transactions (order_id, kind)
    WHERE order_id IS NOT NULL AND kind IN ('earn', 'redeem', 'release');

-- Points a cart asks to redeem (customer carts only); the cart view prices them (core/loyalty.c).
CREATE TABLE cart_loyalty (
    cart_id    text PRIMARY KEY REFERENCES carts (id) ON DELETE CASCADE,
    points     bigint NOT NULL CHECK (points BETWEEN 1 AND 1000000000000),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION souq_loyalty_tier_json(t loyalty_tiers) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', t.id, 'object', 'loyalty_tier', 'name', t.name, 'min_points', t.min_points,
                             'multiplier_bp', t.multiplier_bp, 'metadata', t.metadata, 'created_at', t.created_at,
                             'updated_at', t.updated_at)
$$;

CREATE FUNCTION souq_loyalty_program_json() RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('object', 'loyalty_program', 'enabled', p.enabled, 'currencies', p.currencies,
                             'min_redeem_points', p.min_redeem_points, 'tier_period_days', p.tier_period_days,
                             'expiry_days', p.expiry_days, 'updated_at', p.updated_at)
      FROM loyalty_program p
$$;

-- PATCH /v1/admin/loyalty/program: fields given replace the stored ones (currencies as a whole). The C side checked
-- types and ranges; here: currencies must be loaded, and each entry's fields (422 with the pointer).
CREATE FUNCTION souq_loyalty_program_save(b jsonb) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    k text;
    v jsonb;
    f text;
BEGIN
    IF b ? 'currencies' THEN
        FOR k, v IN SELECT * FROM jsonb_each(b->'currencies') LOOP
            IF NOT EXISTS (SELECT 1 FROM currencies WHERE code = k) THEN
                RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/currencies/' || k || '|not_found|The currency ' || k || ' is not loaded.';
            END IF;
            IF jsonb_typeof(v) <> 'object' THEN
                RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/currencies/' || k || '|invalid_type|Each currency is an object.';
            END IF;
            FOR f IN SELECT jsonb_object_keys(v) LOOP
                IF f NOT IN ('earn_points', 'earn_per', 'redeem_points', 'redeem_value') THEN
                    RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/currencies/' || k || '/' || f || '|unknown_field|Unknown field.';
                END IF;
            END LOOP;
            FOREACH f IN ARRAY ARRAY['earn_points', 'earn_per', 'redeem_points', 'redeem_value'] LOOP
                IF f IN ('earn_points', 'earn_per') AND NOT v ? f THEN
                    RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/currencies/' || k || '/' || f || '|required|' || f || ' is required.';
                END IF;
                IF v ? f AND jsonb_typeof(v->f) <> 'null' AND (jsonb_typeof(v->f) <> 'number' OR (v->>f)::numeric <> floor((v->>f)::numeric)
                                                               OR (v->>f)::numeric < CASE WHEN f = 'earn_points' THEN 0 ELSE 1 END
                                                               OR (v->>f)::numeric > 1000000) THEN
                    RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/currencies/' || k || '/' || f || '|out_of_range|' || f
                        || ' is a whole number from ' || CASE WHEN f = 'earn_points' THEN 0 ELSE 1 END || ' to 1000000.';
                END IF;
            END LOOP;
            IF (v ? 'redeem_points' AND jsonb_typeof(v->'redeem_points') <> 'null') <> (v ? 'redeem_value' AND jsonb_typeof(v->'redeem_value') <> 'null') THEN
                RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/currencies/' || k || '/redeem_value|required|redeem_points and redeem_value go together.';
            END IF;
        END LOOP;
    END IF;
    UPDATE loyalty_program SET
        enabled = CASE WHEN b ? 'enabled' THEN (b->>'enabled')::boolean ELSE enabled END,
        currencies = CASE WHEN b ? 'currencies' THEN jsonb_strip_nulls(b->'currencies') ELSE currencies END,
        min_redeem_points = CASE WHEN b ? 'min_redeem_points' THEN (b->>'min_redeem_points')::bigint ELSE min_redeem_points END,
        tier_period_days = CASE WHEN b ? 'tier_period_days' THEN (b->>'tier_period_days')::int ELSE tier_period_days END,
        expiry_days = CASE WHEN b ? 'expiry_days' THEN (b->>'expiry_days')::int ELSE expiry_days END,
        updated_at = now();
    RETURN souq_loyalty_program_json();
END $$;

CREATE FUNCTION souq_loyalty_tier_save(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    t loyalty_tiers;
BEGIN
    IF p_id IS NULL THEN
        INSERT INTO loyalty_tiers (name, min_points, multiplier_bp, metadata)
        VALUES (b->>'name', (b->>'min_points')::bigint, coalesce((b->>'multiplier_bp')::int, 10000), souq_merge_metadata('{}', b))
        RETURNING * INTO t;
    ELSE
        SELECT * INTO t FROM loyalty_tiers WHERE id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        PERFORM souq_check_etag(souq_loyalty_tier_json(t), p_etag);
        UPDATE loyalty_tiers SET name = coalesce(b->>'name', name), min_points = coalesce((b->>'min_points')::bigint, min_points),
               multiplier_bp = coalesce((b->>'multiplier_bp')::int, multiplier_bp), metadata = souq_merge_metadata(metadata, b)
         WHERE id = p_id RETURNING * INTO t;
    END IF;
    RETURN souq_loyalty_tier_json(t);
END $$;

-- ---- accounts and the ledger ----------------------------------------------------------------------------------

CREATE FUNCTION souq_loyalty_account_json(p_customer text, p_history int) RETURNS json LANGUAGE plpgsql STABLE AS $$
DECLARE
    a loyalty_accounts;
    p loyalty_program;
BEGIN
    SELECT * INTO p FROM loyalty_program;
    SELECT * INTO a FROM loyalty_accounts WHERE customer_id = p_customer;
    RETURN json_build_object('object', 'loyalty_account', 'customer_id', p_customer, 'program_enabled', p.enabled,
        'balance', coalesce(a.balance, 0), 'lifetime_earned', coalesce(a.lifetime_earned, 0),
        'tier', (SELECT json_build_object('id', t.id, 'name', t.name, 'multiplier_bp', t.multiplier_bp) FROM loyalty_tiers t WHERE t.id = a.tier_id),
        'tier_points', coalesce((SELECT sum(x.points) FROM loyalty_transactions x WHERE x.customer_id = p_customer
                                    AND x.kind IN ('earn', 'clawback') AND x.created_at > now() - make_interval(days => p.tier_period_days)), 0),
        'next_tier', (SELECT json_build_object('id', t.id, 'name', t.name, 'min_points', t.min_points) FROM loyalty_tiers t
                       WHERE t.min_points > coalesce((SELECT min_points FROM loyalty_tiers WHERE id = a.tier_id), -1) ORDER BY t.min_points LIMIT 1),
        'expires_at', CASE WHEN p.expiry_days IS NOT NULL AND coalesce(a.balance, 0) > 0 THEN a.last_activity_at + make_interval(days => p.expiry_days) END,
        'transactions', coalesce((SELECT json_agg(j ORDER BY j.id DESC) FROM (
            SELECT x.id, 'loyalty_transaction' AS object, x.kind, x.points, x.balance_after, x.order_id, x.reason, x.created_at
              FROM loyalty_transactions x WHERE x.customer_id = p_customer ORDER BY x.id DESC LIMIT p_history) j), '[]'));
END $$;

-- The tier a customer holds now: the highest tier whose min_points the points earned (less claw-backs) within the
-- program's tier period reach. Moves write loyalty.tier_changed.
CREATE FUNCTION souq_loyalty_retier(p_customer text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    a loyalty_accounts;
    pts bigint;
    t loyalty_tiers;
BEGIN
    SELECT * INTO a FROM loyalty_accounts WHERE customer_id = p_customer;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT coalesce(sum(x.points), 0) INTO pts FROM loyalty_transactions x
     WHERE x.customer_id = p_customer AND x.kind IN ('earn', 'clawback')
       AND x.created_at > now() - make_interval(days => (SELECT tier_period_days FROM loyalty_program));
    SELECT * INTO t FROM loyalty_tiers WHERE min_points <= pts ORDER BY min_points DESC LIMIT 1;
    IF t.id IS DISTINCT FROM a.tier_id THEN
        UPDATE loyalty_accounts SET tier_id = t.id WHERE customer_id = p_customer;
        INSERT INTO outbox_events (type, payload) VALUES ('loyalty.tier_changed', jsonb_build_object('customer_id', p_customer,
            'from_tier_id', a.tier_id, 'to_tier_id', t.id, 'to_tier_name', t.name, 'tier_points', pts));
    END IF;
END $$;

-- Every balance change: the account's row is updated under its lock (a debit only when the balance covers it: else
-- SQ422 at p_pointer with insufficient_points), a ledger row, and its event. Returns the ledger row.
CREATE FUNCTION souq_loyalty_post(p_customer text, p_kind text, p_points bigint, p_order text, p_reason text, p_actor text,
                                  p_data jsonb, p_pointer text) RETURNS loyalty_transactions LANGUAGE plpgsql AS $$
DECLARE
    bal bigint;
    x loyalty_transactions;
BEGIN
    INSERT INTO loyalty_accounts (customer_id) VALUES (p_customer) ON CONFLICT DO NOTHING;
    UPDATE loyalty_accounts SET balance = balance + p_points,
           lifetime_earned = lifetime_earned + CASE WHEN p_kind IN ('earn', 'clawback') THEN p_points ELSE 0 END,
           last_activity_at = CASE WHEN p_kind IN ('earn', 'redeem', 'adjust') THEN now() ELSE last_activity_at END
     WHERE customer_id = p_customer AND balance + p_points >= 0
    RETURNING balance INTO bal;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = p_pointer || '|insufficient_points|The balance is '
            || (SELECT balance FROM loyalty_accounts WHERE customer_id = p_customer) || ' points; ' || -p_points || ' are needed.';
    END IF;
    INSERT INTO loyalty_transactions (customer_id, kind, points, balance_after, order_id, reason, actor, data)
    VALUES (p_customer, p_kind, p_points, bal, p_order, p_reason, p_actor, coalesce(p_data, '{}')) RETURNING * INTO x;
    INSERT INTO outbox_events (type, payload)
    VALUES (CASE p_kind WHEN 'earn' THEN 'loyalty.points_earned' WHEN 'redeem' THEN 'loyalty.points_redeemed'
                        WHEN 'release' THEN 'loyalty.points_released' WHEN 'expire' THEN 'loyalty.points_expired'
                        WHEN 'adjust' THEN 'loyalty.points_adjusted' ELSE 'loyalty.points_clawed_back' END,
            jsonb_build_object('customer_id', p_customer, 'transaction_id', x.id, 'points', p_points, 'balance', bal,
                               'order_id', p_order, 'reason', p_reason));
    IF p_kind IN ('earn', 'clawback') THEN
        PERFORM souq_loyalty_retier(p_customer);
    END IF;
    RETURN x;
END $$;

-- POST /v1/admin/customers/{id}/loyalty/adjustments: staff add or remove points with a reason.
CREATE FUNCTION souq_loyalty_adjust(p_customer text, p_points bigint, p_reason text, p_actor text) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM customers WHERE id = p_customer) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The customer does not exist.';
    END IF;
    PERFORM souq_loyalty_post(p_customer, 'adjust', p_points, NULL, p_reason, p_actor, NULL, '/points');
    RETURN souq_loyalty_account_json(p_customer, 50);
END $$;

-- ---- orders: earn when paid, claw back on refunds, release redeemed points on cancel --------------------------

-- The merchandise an order paid for, in minor units: items after discounts (promotions and points), without tax and
-- shipping.
CREATE FUNCTION souq_loyalty_order_base(o orders) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT greatest(o.item_subtotal - o.discount_total
                    - CASE WHEN o.tax_inclusive THEN o.tax_total - coalesce((o.snapshot->>'shipping_tax_total')::bigint, 0) ELSE 0 END, 0)
$$;

CREATE FUNCTION souq_loyalty_on_order() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p loyalty_program;
    rate jsonb;
    earned bigint;
    clawed bigint;
    target bigint;
    pts bigint;
    mult int;
    redeemed bigint;
BEGIN
    IF NEW.customer_id IS NULL OR NOT EXISTS (SELECT 1 FROM customers WHERE id = NEW.customer_id AND has_account) THEN
        RETURN NULL;  -- guests' records earn nothing (nobody can log in to use the points)
    END IF;
    -- earn: the first time the payment is captured
    IF NEW.payment_status = 'paid' AND (TG_OP = 'INSERT' OR OLD.payment_status IN ('pending', 'authorized')) THEN
        SELECT * INTO p FROM loyalty_program;
        rate := p.currencies->NEW.currency_code;
        IF p.enabled AND rate IS NOT NULL AND (rate->>'earn_points')::bigint > 0
           AND NOT EXISTS (SELECT 1 FROM loyalty_transactions WHERE order_id = NEW.id AND kind = 'earn') THEN
            SELECT coalesce(t.multiplier_bp, 10000) INTO mult FROM loyalty_accounts a LEFT JOIN loyalty_tiers t ON t.id = a.tier_id
             WHERE a.customer_id = NEW.customer_id;
            mult := coalesce(mult, 10000);
            pts := floor(souq_loyalty_order_base(NEW)::numeric * (rate->>'earn_points')::bigint * mult / ((rate->>'earn_per')::bigint * 10000))::bigint;
            IF pts > 0 THEN
                PERFORM souq_loyalty_post(NEW.customer_id, 'earn', pts, NEW.id, NULL, NULL,
                    jsonb_build_object('base', souq_loyalty_order_base(NEW), 'multiplier_bp', mult), '/points');
            END IF;
        END IF;
    END IF;
    -- claw back: cumulatively, floor(earned x refunded_total / paid_total), so partial refunds add up to all of it; never
    -- below a zero balance (points already spent are not recovered; what is missing is tried again at the next refund)
    IF TG_OP = 'UPDATE' AND NEW.refunded_total > OLD.refunded_total AND NEW.paid_total > 0 THEN
        SELECT coalesce(sum(points) FILTER (WHERE kind = 'earn'), 0), coalesce(-sum(points) FILTER (WHERE kind = 'clawback'), 0)
          INTO earned, clawed FROM loyalty_transactions WHERE order_id = NEW.id AND kind IN ('earn', 'clawback');
        target := floor(earned::numeric * least(NEW.refunded_total, NEW.paid_total) / NEW.paid_total)::bigint;
        IF target > clawed THEN
            pts := least(target - clawed, coalesce((SELECT balance FROM loyalty_accounts WHERE customer_id = NEW.customer_id FOR UPDATE), 0));
            IF pts > 0 THEN
                PERFORM souq_loyalty_post(NEW.customer_id, 'clawback', -pts, NEW.id, 'refund', NULL,
                    jsonb_build_object('refunded_total', NEW.refunded_total, 'uncollected', target - clawed - pts), '/points');
            END IF;
        END IF;
    END IF;
    -- release: a canceled order gives back the points it redeemed
    IF TG_OP = 'UPDATE' AND NEW.status = 'canceled' AND OLD.status <> 'canceled' THEN
        SELECT -points INTO redeemed FROM loyalty_transactions WHERE order_id = NEW.id AND kind = 'redeem';
        IF redeemed > 0 AND NOT EXISTS (SELECT 1 FROM loyalty_transactions WHERE order_id = NEW.id AND kind = 'release') THEN
            PERFORM souq_loyalty_post(NEW.customer_id, 'release', redeemed, NEW.id, 'order canceled', NULL, NULL, '/points');
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER orders_loyalty AFTER INSERT ON orders FOR EACH ROW WHEN (NEW.payment_status = 'paid')
    EXECUTE FUNCTION souq_loyalty_on_order();
CREATE TRIGGER orders_loyalty_update AFTER UPDATE OF payment_status, refunded_total, status ON orders FOR EACH ROW
    WHEN (OLD.payment_status IS DISTINCT FROM NEW.payment_status OR OLD.refunded_total <> NEW.refunded_total OR OLD.status <> NEW.status)
    EXECUTE FUNCTION souq_loyalty_on_order();

-- ---- carts: points to redeem ------------------------------------------------------------------------------------

-- POST /v1/store/carts/{id}/loyalty {points}: only the customer's own cart; the program must be on, the cart's currency
-- redeemable, the points at least min_redeem_points and within the balance now (checkout debits them atomically).
CREATE FUNCTION souq_cart_loyalty_set(p_id text, p_channel text, p_customer text, p_ttl_s int, p_points bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c carts;
    p loyalty_program;
    bal bigint;
BEGIN
    c := souq_cart_lock(p_id, p_channel, p_customer, p_ttl_s, NULL);
    IF c.customer_id IS NULL OR c.customer_id <> p_customer THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/points|customer_cart_required|Points are redeemed on the customer''s own cart: attach the cart first (POST /v1/store/carts/{id}/customer).';
    END IF;
    SELECT * INTO p FROM loyalty_program;
    IF NOT p.enabled THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/points|loyalty_disabled|The store has no loyalty program running.';
    END IF;
    IF (p.currencies->c.currency_code->>'redeem_points') IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/points|loyalty_unavailable|Points cannot be redeemed in ' || c.currency_code || '.';
    END IF;
    IF p_points < p.min_redeem_points THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/points|below_minimum|At least ' || p.min_redeem_points || ' points are redeemed at a time.';
    END IF;
    SELECT balance INTO bal FROM loyalty_accounts WHERE customer_id = p_customer;
    IF coalesce(bal, 0) < p_points THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/points|insufficient_points|The balance is ' || coalesce(bal, 0) || ' points.';
    END IF;
    INSERT INTO cart_loyalty (cart_id, points) VALUES (c.id, p_points) ON CONFLICT (cart_id) DO UPDATE SET points = EXCLUDED.points;
    UPDATE carts SET version = version + 1, updated_at = now() WHERE id = c.id;
    RETURN c.id;
END $$;

CREATE FUNCTION souq_cart_loyalty_remove(p_id text, p_channel text, p_customer text, p_ttl_s int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c carts;
BEGIN
    c := souq_cart_lock(p_id, p_channel, p_customer, p_ttl_s, NULL);
    DELETE FROM cart_loyalty WHERE cart_id = c.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The cart redeems no points.';
    END IF;
    UPDATE carts SET version = version + 1, updated_at = now() WHERE id = c.id;
    RETURN c.id;
END $$;

-- Checkout (called by souq_checkout_redeem in the order's transaction): the points the priced cart used are debited
-- under the account's row lock; a balance that no longer covers them refuses the order (422 /loyalty).
CREATE FUNCTION souq_loyalty_checkout_redeem(p_order_id text, p_customer_id text, p_cart jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    pts bigint := (p_cart->'loyalty'->>'points')::bigint;
BEGIN
    IF jsonb_typeof(p_cart->'loyalty') IS DISTINCT FROM 'object' AND EXISTS (SELECT 1 FROM cart_loyalty WHERE cart_id = p_cart->>'id') THEN
        -- the buyer asked for points that the cart no longer applies (the program was switched off, or the currency's
        -- redeem rate removed, since the cart was read): never a silently higher price
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/loyalty|loyalty_unavailable|Points cannot be redeemed now; remove them from the cart (DELETE /v1/store/carts/{id}/loyalty) to check out without them.';
    END IF;
    IF pts IS NULL OR pts <= 0 THEN
        RETURN;
    END IF;
    IF p_customer_id IS NULL OR p_customer_id IS DISTINCT FROM p_cart->>'customer_id' THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/loyalty|customer_cart_required|Points are redeemed on the customer''s own cart.';
    END IF;
    PERFORM souq_loyalty_post(p_customer_id, 'redeem', -pts, p_order_id, NULL, NULL,
        jsonb_build_object('amount', (p_cart->'loyalty'->>'amount')::bigint, 'currency_code', p_cart->>'currency_code'), '/loyalty');
END $$;

-- 0021's souq_checkout_redeem, unchanged, with the points redeemed at its end (one added line).
CREATE OR REPLACE FUNCTION souq_checkout_redeem(p_order_id text, p_customer_id text, p_cart jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    e jsonb;
    p promotions;
    amt bigint;
    bal bigint;
    cur text := p_cart->>'currency_code';
    limited boolean;
    dead text;
BEGIN
    -- a code on the cart that gives nothing (used up, ended or no longer qualifying since the buyer saw the cart)
    -- refuses the order: the buyer removes it and sees the price without it, rather than being charged more
    SELECT k INTO dead FROM jsonb_array_elements_text(coalesce(p_cart->'promotion_codes', '[]')) k
     WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(p_cart->'promotions', '[]')) x WHERE lower(x->>'code') = lower(k))
     LIMIT 1;
    IF dead IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/promotion_codes|coupon_invalid|The code ' || dead
            || ' gives nothing now (used up, ended or no longer applicable); remove it to check out without it.';
    END IF;
    FOR e IN SELECT x FROM jsonb_array_elements(coalesce(p_cart->'promotions', '[]')) x ORDER BY x->>'id' LOOP
        SELECT t.usage_limit IS NOT NULL INTO limited FROM promotions t WHERE t.id = e->>'id';
        p := NULL;
        IF NOT coalesce(limited, false) THEN
            SELECT * INTO p FROM promotions t WHERE t.id = e->>'id' FOR SHARE;
        END IF;
        IF coalesce(limited, false) OR p.usage_limit IS NOT NULL THEN  -- (a limit set meanwhile: the exact path)
            UPDATE promotions t SET usage_count = usage_count + 1
             WHERE t.id = e->>'id' AND t.usage_limit IS NOT NULL AND t.usage_count < t.usage_limit
            RETURNING * INTO p;
        END IF;
        IF p.id IS NULL OR p.status <> 'active' OR (p.starts_at IS NOT NULL AND p.starts_at > now())
           OR (p.ends_at IS NOT NULL AND p.ends_at <= now()) THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/promotion_codes|coupon_invalid|The promotion '
                || coalesce(e->>'code', e->>'id') || ' is no longer available (used up, ended or disabled); remove it and check out again.';
        END IF;
        IF p.usage_limit_per_customer IS NOT NULL THEN
            IF p_customer_id IS NOT NULL THEN
                PERFORM pg_advisory_xact_lock(hashtextextended('souq_promotion_usage:' || p.id || ':' || p_customer_id, 0));
            END IF;
            IF p_customer_id IS NULL OR (SELECT count(*) FROM promotion_usages u WHERE u.promotion_id = p.id AND u.customer_id = p_customer_id)
                                         >= p.usage_limit_per_customer THEN
                RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/promotion_codes|coupon_invalid|The code '
                    || coalesce(p.code, p.id) || ' has been used up by this customer.';
            END IF;
        END IF;
        INSERT INTO promotion_usages (promotion_id, order_id, customer_id, amount)
        VALUES (p.id, p_order_id, p_customer_id, greatest(coalesce((e->>'amount')::bigint, 0), 0));
    END LOOP;
    FOR e IN SELECT x FROM jsonb_array_elements(coalesce(p_cart->'gift_cards', '[]')) x ORDER BY x->>'id' LOOP
        amt := (e->>'amount')::bigint;
        CONTINUE WHEN amt IS NULL OR amt <= 0;
        UPDATE gift_cards g SET balance = balance - amt
         WHERE g.id = e->>'id' AND g.balance >= amt AND g.status = 'active' AND (g.expires_at IS NULL OR g.expires_at > now())
           AND (cur IS NULL OR g.currency_code = cur)
        RETURNING balance INTO bal;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/gift_cards|insufficient_balance|The gift card ending in '
                || coalesce(e->>'last4', '?') || ' no longer covers ' || amt || ' (balance changed, disabled or expired); check the cart again.';
        END IF;
        INSERT INTO gift_card_transactions (gift_card_id, kind, amount, balance_after, order_id)
        VALUES (e->>'id', 'redeem', -amt, bal, p_order_id);
    END LOOP;
    PERFORM souq_loyalty_checkout_redeem(p_order_id, p_customer_id, p_cart);  -- 0034
END $$;

-- ---- expiry and tiers (the loyalty.maintain job) ----------------------------------------------------------------

-- Balances of accounts without activity (earning, redeeming, adjustments) for expiry_days expire whole (Smile.io's
-- inactivity rule); tiers are recomputed for accounts whose tier window may have moved. At most p_limit accounts
-- each; returns {"expired": n, "retiered": n}.
CREATE FUNCTION souq_loyalty_maintain(p_limit int) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    p loyalty_program;
    a loyalty_accounts;
    n_exp int := 0;
    n_tier int := 0;
    before text;
BEGIN
    SELECT * INTO p FROM loyalty_program;
    IF p.expiry_days IS NOT NULL THEN
        FOR a IN SELECT * FROM loyalty_accounts
                  WHERE balance > 0 AND last_activity_at <= now() - make_interval(days => p.expiry_days)
                  ORDER BY last_activity_at LIMIT p_limit FOR UPDATE SKIP LOCKED LOOP
            PERFORM souq_loyalty_post(a.customer_id, 'expire', -a.balance, NULL, 'inactive for ' || p.expiry_days || ' days', NULL,
                                      jsonb_build_object('last_activity_at', a.last_activity_at), '/points');
            n_exp := n_exp + 1;
        END LOOP;
    END IF;
    FOR a IN SELECT * FROM loyalty_accounts WHERE tier_id IS NOT NULL ORDER BY updated_at LIMIT p_limit FOR UPDATE SKIP LOCKED LOOP
        before := a.tier_id;
        PERFORM souq_loyalty_retier(a.customer_id);
        IF (SELECT tier_id FROM loyalty_accounts WHERE customer_id = a.customer_id) IS DISTINCT FROM before THEN
            n_tier := n_tier + 1;
        END IF;
    END LOOP;
    RETURN json_build_object('expired', n_exp, 'retiered', n_tier);
END $$;

-- ---- segments ---------------------------------------------------------------------------------------------------

-- A segment is rules over what a customer did; its members are materialised as the members of its own customer group,
-- so price lists and promotions that target groups work unchanged (decision in the README).
CREATE TABLE segments (
    id                text PRIMARY KEY DEFAULT souq_id('seg'),
    name              text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    description       text,
    rules             jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(rules) = 'object'),
    customer_group_id text NOT NULL UNIQUE REFERENCES customer_groups (id),
    refreshed_at      timestamptz,
    metadata          jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER segments_touch BEFORE UPDATE ON segments FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE FUNCTION souq_segment_json(s segments) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', s.id, 'object', 'segment', 'name', s.name, 'description', s.description, 'rules', s.rules,
                             'customer_group_id', s.customer_group_id,
                             'member_count', (SELECT count(*) FROM customer_group_members m WHERE m.group_id = s.customer_group_id),
                             'refreshed_at', s.refreshed_at, 'metadata', s.metadata, 'created_at', s.created_at, 'updated_at', s.updated_at)
$$;

-- Whether customer p_customer matches rules r (every rule given must hold; tags: the customer has any of them, 0032's
-- customers.tags). Total spent and order count are over
-- orders not canceled (spent = paid less refunded, in r.currency_code); the country is the default shipping address's,
-- else the latest order's shipping country.
CREATE FUNCTION souq_segment_match(r jsonb, p_customer text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
    spent bigint;
    cnt bigint;
    last_at timestamptz;
    ctry text;
BEGIN
    IF r ? 'has_account' AND (SELECT has_account FROM customers WHERE id = p_customer) <> (r->>'has_account')::boolean THEN
        RETURN false;
    END IF;
    IF r ? 'tags' AND NOT coalesce((SELECT c.tags && ARRAY(SELECT jsonb_array_elements_text(r->'tags')) FROM customers c WHERE c.id = p_customer), false) THEN
        RETURN false;
    END IF;
    IF r ? 'customer_group_ids' AND NOT EXISTS (SELECT 1 FROM customer_group_members m WHERE m.customer_id = p_customer
                                                   AND m.group_id IN (SELECT jsonb_array_elements_text(r->'customer_group_ids'))) THEN
        RETURN false;
    END IF;
    IF r ?| ARRAY['order_count_min', 'order_count_max', 'last_order_after', 'last_order_before', 'last_order_within_days',
                  'total_spent_min', 'total_spent_max'] THEN
        SELECT count(*), max(placed_at), coalesce(sum(paid_total - refunded_total) FILTER (WHERE currency_code = r->>'currency_code'), 0)
          INTO cnt, last_at, spent FROM orders WHERE customer_id = p_customer AND status <> 'canceled';
        IF (r ? 'order_count_min' AND cnt < (r->>'order_count_min')::bigint) OR (r ? 'order_count_max' AND cnt > (r->>'order_count_max')::bigint)
           OR (r ? 'total_spent_min' AND spent < (r->>'total_spent_min')::bigint) OR (r ? 'total_spent_max' AND spent > (r->>'total_spent_max')::bigint)
           OR (r ? 'last_order_after' AND (last_at IS NULL OR last_at < (r->>'last_order_after')::timestamptz))
           OR (r ? 'last_order_before' AND (last_at IS NULL OR last_at >= (r->>'last_order_before')::timestamptz))
           OR (r ? 'last_order_within_days' AND (last_at IS NULL OR last_at < now() - make_interval(days => (r->>'last_order_within_days')::int))) THEN
            RETURN false;
        END IF;
    END IF;
    IF r ? 'countries' THEN
        SELECT country_code INTO ctry FROM customer_addresses WHERE customer_id = p_customer AND is_default_shipping LIMIT 1;
        IF ctry IS NULL THEN
            SELECT shipping_address->>'country_code' INTO ctry FROM orders WHERE customer_id = p_customer ORDER BY placed_at DESC LIMIT 1;
        END IF;
        IF ctry IS NULL OR NOT (r->'countries') ? lower(ctry) THEN
            RETURN false;
        END IF;
    END IF;
    RETURN true;
END $$;

-- Every customer that matches rules r: souq_segment_match's rules, set-based.
CREATE FUNCTION souq_segment_members(r jsonb) RETURNS TABLE (id text) LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    WITH o AS (SELECT customer_id, count(*) AS cnt, max(placed_at) AS last_at,
                      coalesce(sum(paid_total - refunded_total) FILTER (WHERE currency_code = r->>'currency_code'), 0) AS spent
                 FROM orders WHERE status <> 'canceled' AND customer_id IS NOT NULL GROUP BY customer_id)
    SELECT c.id FROM customers c LEFT JOIN o ON o.customer_id = c.id
     WHERE (NOT r ? 'has_account' OR c.has_account = (r->>'has_account')::boolean)
       AND (NOT r ? 'tags' OR c.tags && ARRAY(SELECT jsonb_array_elements_text(r->'tags')))
       AND (NOT r ? 'customer_group_ids' OR EXISTS (SELECT 1 FROM customer_group_members m WHERE m.customer_id = c.id
                                                      AND m.group_id IN (SELECT jsonb_array_elements_text(r->'customer_group_ids'))))
       AND (NOT r ? 'order_count_min' OR coalesce(o.cnt, 0) >= (r->>'order_count_min')::bigint)
       AND (NOT r ? 'order_count_max' OR coalesce(o.cnt, 0) <= (r->>'order_count_max')::bigint)
       AND (NOT r ? 'total_spent_min' OR coalesce(o.spent, 0) >= (r->>'total_spent_min')::bigint)
       AND (NOT r ? 'total_spent_max' OR coalesce(o.spent, 0) <= (r->>'total_spent_max')::bigint)
       AND (NOT r ? 'last_order_after' OR o.last_at >= (r->>'last_order_after')::timestamptz)
       AND (NOT r ? 'last_order_before' OR o.last_at < (r->>'last_order_before')::timestamptz)
       AND (NOT r ? 'last_order_within_days' OR o.last_at >= now() - make_interval(days => (r->>'last_order_within_days')::int))
       AND (NOT r ? 'countries' OR (r->'countries') ? lower(coalesce(
                (SELECT a.country_code FROM customer_addresses a WHERE a.customer_id = c.id AND a.is_default_shipping LIMIT 1),
                (SELECT x.shipping_address->>'country_code' FROM orders x WHERE x.customer_id = c.id ORDER BY x.placed_at DESC LIMIT 1), '')));
END $$;

-- Recomputes one segment's members (its group's members) from scratch: adds who matches, removes who does not.
CREATE FUNCTION souq_segment_refresh(p_id text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    s segments;
BEGIN
    SELECT * INTO s FROM segments WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- set-based (one pass over customers and one aggregate of orders) rather than souq_segment_match per customer,
    -- so a store of many customers stays within statement_timeout; the same rules (segments.test.mjs compares them)
    DELETE FROM customer_group_members m WHERE m.group_id = s.customer_group_id
       AND m.customer_id NOT IN (SELECT x.id FROM souq_segment_members(s.rules) x);
    INSERT INTO customer_group_members (group_id, customer_id) SELECT s.customer_group_id, x.id FROM souq_segment_members(s.rules) x
        ON CONFLICT DO NOTHING;
    UPDATE segments SET refreshed_at = now() WHERE id = s.id RETURNING * INTO s;
    RETURN souq_segment_json(s);
END $$;

-- Keeps one customer's memberships current after something they did (an order, a refund, an address).
-- (Only member rows are written, in segment order, so it never waits for a segment row a refresh holds.)
CREATE FUNCTION souq_segments_refresh_customer(p_customer text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    s segments;
BEGIN
    FOR s IN SELECT * FROM segments ORDER BY id LOOP
        IF souq_segment_match(s.rules, p_customer) THEN
            INSERT INTO customer_group_members (group_id, customer_id) VALUES (s.customer_group_id, p_customer) ON CONFLICT DO NOTHING;
        ELSE
            DELETE FROM customer_group_members WHERE group_id = s.customer_group_id AND customer_id = p_customer;
        END IF;
    END LOOP;
END $$;

CREATE FUNCTION souq_segments_on_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.customer_id IS NOT NULL AND EXISTS (SELECT 1 FROM segments) THEN
        PERFORM souq_segments_refresh_customer(NEW.customer_id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER orders_segments AFTER INSERT OR UPDATE OF status, paid_total, refunded_total ON orders FOR EACH ROW
    EXECUTE FUNCTION souq_segments_on_change();
CREATE FUNCTION souq_segments_on_customer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM segments) THEN
        PERFORM souq_segments_refresh_customer(NEW.id);
    END IF;
    RETURN NULL;
END $$;
-- tags (0032: set by staff and automation rules) and whether the customer has an account
CREATE TRIGGER customers_segments AFTER UPDATE OF tags, has_account ON customers FOR EACH ROW
    WHEN (OLD.tags IS DISTINCT FROM NEW.tags OR OLD.has_account <> NEW.has_account) EXECUTE FUNCTION souq_segments_on_customer();
CREATE TRIGGER customer_addresses_segments AFTER INSERT OR UPDATE OF country_code, is_default_shipping ON customer_addresses FOR EACH ROW
    EXECUTE FUNCTION souq_segments_on_change();

-- POST/PATCH /v1/admin/segments: a new segment gets its customer group ("Segment: <name>"), and is computed at once.
CREATE FUNCTION souq_segment_save(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    s segments;
    g text;
    k text;
BEGIN
    IF b ? 'rules' THEN
        -- codes are compared lower-case
        IF (b->'rules') ? 'countries' THEN
            b := jsonb_set(b, '{rules,countries}', (SELECT jsonb_agg(lower(x)) FROM jsonb_array_elements_text(b->'rules'->'countries') x));
        END IF;
        IF (b->'rules') ? 'currency_code' THEN
            b := jsonb_set(b, '{rules,currency_code}', to_jsonb(lower(b->'rules'->>'currency_code')));
        END IF;
        IF (b->'rules') ?| ARRAY['total_spent_min', 'total_spent_max'] AND NOT (b->'rules') ? 'currency_code' THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/rules/currency_code|required|currency_code is required with total_spent_min or total_spent_max.';
        END IF;
        IF (b->'rules') ? 'currency_code' AND NOT EXISTS (SELECT 1 FROM currencies WHERE code = b->'rules'->>'currency_code') THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/rules/currency_code|not_found|The currency is not loaded.';
        END IF;
        FOR k IN SELECT jsonb_array_elements_text(coalesce(b->'rules'->'customer_group_ids', '[]')) LOOP
            IF NOT EXISTS (SELECT 1 FROM customer_groups WHERE id = k) THEN
                RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/rules/customer_group_ids|not_found|The customer group ' || k || ' does not exist.';
            END IF;
        END LOOP;
    END IF;
    IF p_id IS NULL THEN
        INSERT INTO customer_groups (name, metadata) VALUES ('Segment: ' || (b->>'name'), '{"managed_by": "segment"}') RETURNING id INTO g;
        INSERT INTO segments (name, description, rules, customer_group_id, metadata)
        VALUES (b->>'name', b->>'description', coalesce(jsonb_strip_nulls(b->'rules'), '{}'), g, souq_merge_metadata('{}', b))
        RETURNING * INTO s;
    ELSE
        SELECT * INTO s FROM segments WHERE id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        PERFORM souq_check_etag(souq_segment_json(s), p_etag);
        UPDATE segments SET name = coalesce(b->>'name', name), description = CASE WHEN b ? 'description' THEN b->>'description' ELSE description END,
               rules = CASE WHEN b ? 'rules' THEN coalesce(jsonb_strip_nulls(b->'rules'), '{}') ELSE rules END,
               metadata = souq_merge_metadata(metadata, b)
         WHERE id = p_id RETURNING * INTO s;
        IF b ? 'name' THEN
            UPDATE customer_groups SET name = 'Segment: ' || s.name WHERE id = s.customer_group_id;
        END IF;
    END IF;
    RETURN souq_segment_refresh(s.id);
END $$;

CREATE FUNCTION souq_segment_delete(p_id text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    g text;
BEGIN
    DELETE FROM segments WHERE id = p_id RETURNING customer_group_id INTO g;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    DELETE FROM customer_groups WHERE id = g;
    RETURN true;
END $$;

-- GET /v1/admin/segments/{id}/export.csv: email, first and last name of every member with an account, by email.
-- Cells as the orders export writes them (souq_csv_cell of 0022: a formula-like text gets a leading apostrophe).
CREATE FUNCTION souq_segment_export(p_id text) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    g text;
BEGIN
    SELECT customer_group_id INTO g FROM segments WHERE id = p_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The segment does not exist.';
    END IF;
    RETURN 'email,first_name,last_name,has_account' || E'\r\n' || coalesce((
        SELECT string_agg(souq_csv_cell(c.email) || ',' || souq_csv_cell(c.first_name) || ',' || souq_csv_cell(c.last_name) || ','
                          || CASE WHEN c.has_account THEN 'true' ELSE 'false' END, E'\r\n' ORDER BY lower(c.email), c.id) || E'\r\n'
          FROM customer_group_members m JOIN customers c ON c.id = m.customer_id WHERE m.group_id = g), '');
END $$;

-- ---- recurring work (core/loyalty.c registers the kinds) --------------------------------------------------------
INSERT INTO job_schedules (id, kind, spec, every_s, max_attempts, next_run_at)
VALUES ('loyalty', 'loyalty.maintain', 'every 1 hours', 3600, 3, souq_schedule_next(3600, NULL, now())),
       ('segments', 'segments.refresh', 'every 1 hours', 3600, 3, souq_schedule_next(3600, NULL, now()))
ON CONFLICT (id) DO NOTHING;

-- Refreshes every segment (the segments.refresh job): time-based rules (last_order_within_days) move without events.
CREATE FUNCTION souq_segments_refresh_all() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    s text;
    n int := 0;
BEGIN
    FOR s IN SELECT id FROM segments ORDER BY id LOOP
        PERFORM souq_segment_refresh(s);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
