-- 0021_promotions_gift_cards.sql: promotions (discount codes and automatic promotions), gift cards with a
-- balance and a ledger, what a cart has applied, and the redemption that checkout calls in its transaction.
--
-- What is decided here and what in C: SQL answers "which promotions may apply to this cart now" (status, dates,
-- usage limits, customer groups, the cart's currency, which lines a promotion targets) as JSON for the cart view
-- (souq_cart_promotions; the view in core/cart_db.c reads the codes and gift cards itself); the amounts
-- (percentages, allocation to lines, stacking, buy X get Y, thresholds on the priced subtotal) are computed by
-- the pure engine in core/promotion.c on every answer.
-- Checkout (the lead's order transaction) calls souq_checkout_redeem with the cart JSON that engine produced: it
-- counts the usages and debits the gift cards with conditional updates, so limits hold under concurrency.
--
-- Errors: SQ422 with "<pointer>|<code>|<detail>" (core/cart.c sq_cart_refine makes it a per-field 422);
-- SQ404 for a code that is not on the cart (DELETE).

CREATE TABLE promotions (
    id                       text PRIMARY KEY DEFAULT souq_id('promo'),
    code                     text CHECK (code ~ '^[A-Za-z0-9_-]{3,64}$'),  -- NULL: automatic; compared case-insensitively
    description              text CHECK (length(description) <= 256),
    type                     text NOT NULL CHECK (type IN ('percentage', 'fixed', 'free_shipping', 'buy_x_get_y')),
    percent_bp               integer CHECK (percent_bp BETWEEN 1 AND 10000),  -- percentage; buy_x_get_y: off the "get" units
    amounts                  jsonb,   -- fixed: {"eur": 500, ...} minor units per currency
    target                   text NOT NULL DEFAULT 'order' CHECK (target IN ('order', 'items')),
    product_ids              text[] NOT NULL DEFAULT '{}',
    category_ids             text[] NOT NULL DEFAULT '{}',
    collection_ids           text[] NOT NULL DEFAULT '{}',
    customer_group_ids       text[] NOT NULL DEFAULT '{}', -- empty: everybody; else the cart's customer is in one of them
    min_subtotal             jsonb,   -- {"eur": 5000}: the item subtotal (before discounts) must reach it; other currencies do not qualify
    buy_quantity             integer CHECK (buy_quantity BETWEEN 1 AND 1000),
    get_quantity             integer CHECK (get_quantity BETWEEN 1 AND 1000),
    starts_at                timestamptz,
    ends_at                  timestamptz,
    status                   text NOT NULL DEFAULT 'active' CHECK (status IN ('draft', 'active', 'disabled')),
    usage_limit              integer CHECK (usage_limit >= 1),          -- 1: a one-time code
    usage_limit_per_customer integer CHECK (usage_limit_per_customer >= 1),
    usage_count              integer NOT NULL DEFAULT 0,
    priority                 integer NOT NULL DEFAULT 0,
    combinable               boolean NOT NULL DEFAULT false,
    metadata                 jsonb NOT NULL DEFAULT '{}',
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at),
    CHECK (usage_limit IS NULL OR usage_count <= usage_limit),
    CHECK (usage_count >= 0),
    CHECK ((type IN ('percentage', 'buy_x_get_y')) = (percent_bp IS NOT NULL)),
    CHECK ((type = 'fixed') = (amounts IS NOT NULL)),
    CHECK ((type = 'buy_x_get_y') = (buy_quantity IS NOT NULL AND get_quantity IS NOT NULL)),
    CHECK (type <> 'buy_x_get_y' OR target = 'items')
);
CREATE UNIQUE INDEX promotions_code_key ON promotions (lower(code)) WHERE code IS NOT NULL;
CREATE INDEX promotions_automatic_idx ON promotions (priority DESC) WHERE code IS NULL AND status = 'active';
CREATE TRIGGER promotions_touch BEFORE UPDATE ON promotions FOR EACH ROW EXECUTE FUNCTION souq_touch();

-- One row per order a promotion was applied to (checkout writes it through souq_checkout_redeem).
CREATE TABLE promotion_usages (
    promotion_id text NOT NULL REFERENCES promotions (id) ON DELETE CASCADE,
    order_id     text NOT NULL,
    customer_id  text,
    amount       bigint NOT NULL CHECK (amount >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (promotion_id, order_id)
);
CREATE INDEX promotion_usages_customer_idx ON promotion_usages (promotion_id, customer_id) WHERE customer_id IS NOT NULL;

CREATE TABLE cart_promotions (
    cart_id      text NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    promotion_id text NOT NULL REFERENCES promotions (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cart_id, promotion_id)
);
CREATE INDEX cart_promotions_promotion_idx ON cart_promotions (promotion_id);

-- Gift cards. The code is shown once (the create answer); only its SHA-256 and last four characters are kept.
CREATE TABLE gift_cards (
    id              text PRIMARY KEY DEFAULT souq_id('gcard'),
    code_hash       text NOT NULL UNIQUE CHECK (code_hash ~ '^[0-9a-f]{64}$'),
    code_last4      text NOT NULL CHECK (length(code_last4) = 4),
    currency_code   text NOT NULL REFERENCES currencies (code),
    initial_balance bigint NOT NULL CHECK (initial_balance > 0 AND initial_balance <= 100000000000),
    balance         bigint NOT NULL CHECK (balance >= 0),
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    expires_at      timestamptz,
    customer_id     text REFERENCES customers (id) ON DELETE SET NULL,  -- informational (who it was issued to)
    note            text CHECK (length(note) <= 1000),
    metadata        jsonb NOT NULL DEFAULT '{}',
    created_by      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (balance <= initial_balance)
);
CREATE TRIGGER gift_cards_touch BEFORE UPDATE ON gift_cards FOR EACH ROW EXECUTE FUNCTION souq_touch();

-- The ledger: every change of a balance, with the balance after it.
CREATE TABLE gift_card_transactions (
    id            text PRIMARY KEY DEFAULT souq_id('gctx'),
    gift_card_id  text NOT NULL REFERENCES gift_cards (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('issue', 'redeem')),
    amount        bigint NOT NULL,            -- + credit, - debit
    balance_after bigint NOT NULL CHECK (balance_after >= 0),
    order_id      text,
    actor         text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gift_card_transactions_card_idx ON gift_card_transactions (gift_card_id, created_at);

CREATE TABLE cart_gift_cards (
    cart_id      text NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    gift_card_id text NOT NULL REFERENCES gift_cards (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cart_id, gift_card_id)
);
CREATE INDEX cart_gift_cards_card_idx ON cart_gift_cards (gift_card_id);

-- ---- admin: promotions ---------------------------------------------------------------------------------------

CREATE FUNCTION souq_promotion_json(p promotions) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', p.id, 'object', 'promotion', 'code', p.code, 'description', p.description, 'type', p.type,
        'percent_bp', p.percent_bp, 'amounts', p.amounts, 'target', p.target, 'product_ids', to_json(p.product_ids),
        'category_ids', to_json(p.category_ids), 'collection_ids', to_json(p.collection_ids),
        'customer_group_ids', to_json(p.customer_group_ids), 'min_subtotal', p.min_subtotal,
        'buy_quantity', p.buy_quantity, 'get_quantity', p.get_quantity, 'starts_at', p.starts_at, 'ends_at', p.ends_at,
        'status', p.status, 'usage_limit', p.usage_limit, 'usage_limit_per_customer', p.usage_limit_per_customer,
        'usage_count', CASE WHEN p.usage_limit IS NULL THEN (SELECT count(*) FROM promotion_usages u WHERE u.promotion_id = p.id)
                            ELSE p.usage_count END, 'priority', p.priority, 'combinable', p.combinable, 'metadata', p.metadata,
        'created_at', p.created_at, 'updated_at', p.updated_at)
$$;

-- Ids of a body's array that do not exist in a table; raises 422 at the pointer when any is missing.
CREATE FUNCTION souq_promotion_check_ids(b jsonb, k text, tbl regclass) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    ids text[] := coalesce(ARRAY(SELECT DISTINCT x FROM jsonb_array_elements_text(b->k) x ORDER BY x), '{}');
    missing text;
BEGIN
    EXECUTE format('SELECT x FROM unnest($1) x WHERE NOT EXISTS (SELECT 1 FROM %s t WHERE t.id = x) LIMIT 1', tbl) INTO missing USING ids;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/' || k || '|not_found|' || missing || ' does not exist.';
    END IF;
    RETURN ids;
END $$;

CREATE FUNCTION souq_promotion_save(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    cur promotions;
    n promotions;
BEGIN
    IF p_id IS NOT NULL THEN
        SELECT * INTO cur FROM promotions t WHERE t.id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        PERFORM souq_check_etag(souq_promotion_json(cur), p_etag);
        n := cur;
    ELSE
        n.id := souq_id('promo');
        n.type := b->>'type';
        n.target := 'order';
        n.status := 'active';
        n.priority := 0;
        n.combinable := false;
        n.usage_count := 0;
        n.product_ids := '{}';
        n.category_ids := '{}';
        n.collection_ids := '{}';
        n.customer_group_ids := '{}';
        n.metadata := '{}';
        n.created_at := now();
        n.updated_at := now();
    END IF;
    IF b ? 'code' THEN n.code := b->>'code'; END IF;
    IF b ? 'description' THEN n.description := b->>'description'; END IF;
    IF b ? 'percent_bp' THEN n.percent_bp := (b->>'percent_bp')::int; END IF;
    IF b ? 'amounts' THEN n.amounts := CASE WHEN jsonb_typeof(b->'amounts') = 'object' THEN b->'amounts' END; END IF;
    IF b ? 'target' THEN n.target := b->>'target'; END IF;
    IF b ? 'product_ids' THEN n.product_ids := souq_promotion_check_ids(b, 'product_ids', 'products'); END IF;
    IF b ? 'category_ids' THEN n.category_ids := souq_promotion_check_ids(b, 'category_ids', 'categories'); END IF;
    IF b ? 'collection_ids' THEN n.collection_ids := souq_promotion_check_ids(b, 'collection_ids', 'collections'); END IF;
    IF b ? 'customer_group_ids' THEN n.customer_group_ids := souq_promotion_check_ids(b, 'customer_group_ids', 'customer_groups'); END IF;
    IF b ? 'min_subtotal' THEN n.min_subtotal := CASE WHEN jsonb_typeof(b->'min_subtotal') = 'object' THEN b->'min_subtotal' END; END IF;
    IF b ? 'buy_quantity' THEN n.buy_quantity := (b->>'buy_quantity')::int; END IF;
    IF b ? 'get_quantity' THEN n.get_quantity := (b->>'get_quantity')::int; END IF;
    IF b ? 'starts_at' THEN n.starts_at := (b->>'starts_at')::timestamptz; END IF;
    IF b ? 'ends_at' THEN n.ends_at := (b->>'ends_at')::timestamptz; END IF;
    IF b ? 'status' THEN n.status := b->>'status'; END IF;
    IF b ? 'usage_limit' THEN
        IF n.usage_limit IS NULL AND b->>'usage_limit' IS NOT NULL AND p_id IS NOT NULL THEN
            -- unlimited promotions count only usage rows (souq_checkout_redeem); the row lock held here waited for
            -- the checkouts that use it, so the count is exact
            n.usage_count := (SELECT count(*) FROM promotion_usages u WHERE u.promotion_id = p_id);
        END IF;
        n.usage_limit := (b->>'usage_limit')::int;
    END IF;
    IF b ? 'usage_limit_per_customer' THEN n.usage_limit_per_customer := (b->>'usage_limit_per_customer')::int; END IF;
    IF b ? 'priority' THEN n.priority := (b->>'priority')::int; END IF;
    IF b ? 'combinable' THEN n.combinable := (b->>'combinable')::boolean; END IF;
    n.metadata := souq_merge_metadata(n.metadata, b);
    -- rules across fields, with the field to blame (the table's CHECKs are the backstop)
    IF n.type IN ('percentage', 'buy_x_get_y') AND n.percent_bp IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/percent_bp|required|percent_bp is required for type ' || n.type || '.';
    ELSIF n.type NOT IN ('percentage', 'buy_x_get_y') AND n.percent_bp IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/percent_bp|not_allowed|percent_bp is only for percentage and buy_x_get_y.';
    END IF;
    IF n.type = 'fixed' AND n.amounts IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/amounts|required|amounts is required for type fixed.';
    ELSIF n.type <> 'fixed' AND n.amounts IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/amounts|not_allowed|amounts is only for type fixed.';
    END IF;
    IF n.type = 'buy_x_get_y' AND (n.buy_quantity IS NULL OR n.get_quantity IS NULL) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/buy_quantity|required|buy_quantity and get_quantity are required for buy_x_get_y.';
    ELSIF n.type <> 'buy_x_get_y' AND (n.buy_quantity IS NOT NULL OR n.get_quantity IS NOT NULL) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/buy_quantity|not_allowed|buy_quantity and get_quantity are only for buy_x_get_y.';
    END IF;
    IF n.type = 'buy_x_get_y' AND n.target <> 'items' THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/target|invalid_value|buy_x_get_y needs target items (the products it counts).';
    END IF;
    IF n.target = 'items' AND n.product_ids = '{}' AND n.category_ids = '{}' AND n.collection_ids = '{}' THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/target|invalid_value|target items needs product_ids, category_ids or collection_ids.';
    END IF;
    IF n.ends_at IS NOT NULL AND n.starts_at IS NOT NULL AND n.ends_at <= n.starts_at THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/ends_at|out_of_range|ends_at must be after starts_at.';
    END IF;
    IF n.usage_limit IS NOT NULL AND n.usage_limit < n.usage_count THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/usage_limit|out_of_range|usage_limit is below the ' || n.usage_count || ' uses so far.';
    END IF;
    IF p_id IS NULL THEN
        INSERT INTO promotions SELECT n.*;
    ELSE
        UPDATE promotions t SET code = n.code, description = n.description, percent_bp = n.percent_bp, amounts = n.amounts,
               target = n.target, product_ids = n.product_ids, category_ids = n.category_ids, collection_ids = n.collection_ids,
               customer_group_ids = n.customer_group_ids, min_subtotal = n.min_subtotal, buy_quantity = n.buy_quantity,
               get_quantity = n.get_quantity, starts_at = n.starts_at, ends_at = n.ends_at, status = n.status,
               usage_limit = n.usage_limit, usage_limit_per_customer = n.usage_limit_per_customer, priority = n.priority,
               combinable = n.combinable, metadata = n.metadata, usage_count = n.usage_count
         WHERE t.id = p_id;
    END IF;
    RETURN (SELECT souq_promotion_json(t) FROM promotions t WHERE t.id = n.id);
END $$;

-- DELETE /v1/admin/promotions/{id}: false when there is none; a promotion that was used stays (its usages are
-- part of the orders' history): 409, disable it instead.
CREATE FUNCTION souq_promotion_delete(p_id text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    used int;
BEGIN
    SELECT usage_count INTO used FROM promotions WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF used > 0 OR EXISTS (SELECT 1 FROM promotion_usages WHERE promotion_id = p_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ409', MESSAGE = 'The promotion was used by ' || used || ' orders; set its status to disabled instead.';
    END IF;
    DELETE FROM promotions WHERE id = p_id;
    RETURN true;
END $$;

-- ---- admin: gift cards ---------------------------------------------------------------------------------------

-- A gift card code's canonical form: upper-case, without blanks and dashes (what the hash is taken of).
CREATE FUNCTION souq_gift_card_norm(p_code text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT upper(translate(p_code, E'- \t', ''))
$$;
CREATE FUNCTION souq_gift_card_hash(p_code text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(souq_gift_card_norm(p_code), 'UTF8')), 'hex')
$$;

CREATE FUNCTION souq_gift_card_json(g gift_cards) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', g.id, 'object', 'gift_card', 'code_last4', g.code_last4, 'currency_code', g.currency_code,
        'initial_balance', g.initial_balance, 'balance', g.balance, 'status', g.status, 'expires_at', g.expires_at,
        'customer_id', g.customer_id, 'note', g.note, 'metadata', g.metadata,
        'transactions', coalesce((SELECT json_agg(json_build_object('id', x.id, 'kind', x.kind, 'amount', x.amount,
                                  'balance_after', x.balance_after, 'order_id', x.order_id, 'created_at', x.created_at) ORDER BY x.created_at, x.id)
                                  FROM (SELECT * FROM gift_card_transactions t WHERE t.gift_card_id = g.id ORDER BY t.created_at DESC, t.id DESC LIMIT 100) x), '[]'::json),
        'created_at', g.created_at, 'updated_at', g.updated_at)
$$;

-- POST /v1/admin/gift-cards: a new card with a random code (20 characters of Crockford base32 from 100 random
-- bits), answered once with the code in full. p_actor: who issued it (the ledger's issue row).
CREATE FUNCTION souq_gift_card_create(b jsonb, p_actor text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    alphabet constant text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    raw bytea := decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex');
    gc text := '';
    bits int;
    g gift_cards;
BEGIN
    -- 20 symbols x 5 bits from the random bytes of two v4 UUIDs (bytes 6 and 8 hold version/variant bits: skipped)
    FOR i IN 0..19 LOOP
        bits := get_byte(raw, (ARRAY[0,1,2,3,4,5,7,9,10,11,12,13,14,15,16,17,18,19,20,21])[i + 1]) % 32;
        gc := gc || substr(alphabet, bits + 1, 1);
    END LOOP;
    IF b ? 'customer_id' AND b->>'customer_id' IS NOT NULL AND NOT EXISTS (SELECT 1 FROM customers WHERE id = b->>'customer_id') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/customer_id|not_found|The customer does not exist.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM currencies WHERE currencies.code = lower(b->>'currency_code')) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/currency_code|invalid_value|The currency is not loaded.';
    END IF;
    IF (b->>'expires_at')::timestamptz <= now() THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/expires_at|out_of_range|expires_at must be in the future.';
    END IF;
    INSERT INTO gift_cards (code_hash, code_last4, currency_code, initial_balance, balance, status, expires_at, customer_id, note, metadata, created_by)
    VALUES (souq_gift_card_hash(gc), right(gc, 4), lower(b->>'currency_code'), (b->>'initial_balance')::bigint,
            (b->>'initial_balance')::bigint, coalesce(b->>'status', 'active'), (b->>'expires_at')::timestamptz, b->>'customer_id',
            b->>'note', jsonb_strip_nulls(coalesce(b->'metadata', '{}')), p_actor)
    RETURNING * INTO g;
    INSERT INTO gift_card_transactions (gift_card_id, kind, amount, balance_after, actor) VALUES (g.id, 'issue', g.balance, g.balance, p_actor);
    RETURN (souq_gift_card_json(g)::jsonb || jsonb_build_object('code', substr(gc, 1, 5) || '-' || substr(gc, 6, 5) || '-'
            || substr(gc, 11, 5) || '-' || substr(gc, 16, 5)))::json;
END $$;

-- PATCH /v1/admin/gift-cards/{id}: status (disable / enable), expires_at, note, metadata. The balance only moves
-- through the ledger (issue, redeem).
CREATE FUNCTION souq_gift_card_update(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    g gift_cards;
BEGIN
    SELECT * INTO g FROM gift_cards WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM souq_check_etag(souq_gift_card_json(g), p_etag);
    UPDATE gift_cards t SET status = CASE WHEN b ? 'status' THEN b->>'status' ELSE t.status END,
           expires_at = CASE WHEN b ? 'expires_at' THEN (b->>'expires_at')::timestamptz ELSE t.expires_at END,
           note = CASE WHEN b ? 'note' THEN b->>'note' ELSE t.note END,
           metadata = souq_merge_metadata(t.metadata, b)
     WHERE t.id = p_id RETURNING * INTO g;
    RETURN souq_gift_card_json(g);
END $$;

-- ---- carts: what applies -------------------------------------------------------------------------------------

-- Why a promotion cannot be used by a cart now, as "<code>|<detail>", or NULL when it can (the engine in C then
-- decides whether it gives anything: thresholds on the priced subtotal, matching lines).
CREATE FUNCTION souq_promotion_unusable(p promotions, c carts) RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p.status <> 'active' THEN
        RETURN 'coupon_invalid|The code is not active.';
    ELSIF p.starts_at IS NOT NULL AND p.starts_at > now() THEN
        RETURN 'coupon_not_started|The code is not valid yet.';
    ELSIF p.ends_at IS NOT NULL AND p.ends_at <= now() THEN
        RETURN 'coupon_expired|The code has expired.';
    ELSIF p.usage_limit IS NOT NULL AND p.usage_count >= p.usage_limit THEN
        RETURN 'coupon_exhausted|The code has been used up.';
    ELSIF p.type = 'fixed' AND NOT (p.amounts ? c.currency_code) THEN
        RETURN 'coupon_wrong_currency|The code does not apply to carts in ' || c.currency_code || '.';
    ELSIF p.min_subtotal IS NOT NULL AND NOT (p.min_subtotal ? c.currency_code) THEN
        RETURN 'coupon_wrong_currency|The code does not apply to carts in ' || c.currency_code || '.';
    ELSIF p.customer_group_ids <> '{}' AND NOT EXISTS (SELECT 1 FROM customer_group_members m
                                                        WHERE m.customer_id = c.customer_id AND m.group_id = ANY (p.customer_group_ids)) THEN
        RETURN 'coupon_not_eligible|The code is for certain customers only (log in).';
    ELSIF p.usage_limit_per_customer IS NOT NULL AND c.customer_id IS NULL THEN
        RETURN 'coupon_not_eligible|Log in to use this code (it is limited per customer).';
    ELSIF p.usage_limit_per_customer IS NOT NULL
          AND (SELECT count(*) FROM promotion_usages u WHERE u.promotion_id = p.id AND u.customer_id = c.customer_id) >= p.usage_limit_per_customer THEN
        RETURN 'coupon_exhausted|You have used this code already.';
    END IF;
    RETURN NULL;
END $$;

-- One promotion as the engine reads it: amounts in the cart's currency, and the indexes of the lines it targets
-- (lines in the cart view's order: created_at, id).
CREATE FUNCTION souq_promotion_engine_json(p promotions, c carts, p_trial boolean) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object('id', p.id, 'code', p.code, 'type', p.type, 'percent_bp', p.percent_bp,
        'amount', (p.amounts->>c.currency_code)::bigint, 'min_subtotal', (p.min_subtotal->>c.currency_code)::bigint,
        'target', p.target, 'buy', p.buy_quantity, 'get', p.get_quantity, 'priority', p.priority, 'combinable', p.combinable,
        'description', coalesce(p.description, p.code, p.type), 'trial', p_trial,
        'lines', CASE WHEN p.target = 'order' THEN NULL ELSE
            (SELECT coalesce(jsonb_agg(x.idx ORDER BY x.idx), '[]') FROM (
                SELECT (row_number() OVER (ORDER BY l.seq) - 1) AS idx, v.product_id
                  FROM cart_line_items l JOIN product_variants v ON v.id = l.variant_id WHERE l.cart_id = c.id) x
             WHERE x.product_id = ANY (p.product_ids)
                OR (p.category_ids <> '{}' AND EXISTS (SELECT 1 FROM product_categories pc WHERE pc.product_id = x.product_id AND pc.category_id = ANY (p.category_ids)))
                OR (p.collection_ids <> '{}' AND EXISTS (SELECT 1 FROM collection_products cp WHERE cp.product_id = x.product_id AND cp.collection_id = ANY (p.collection_ids))))
        END);
END $$;

-- The promotions the engine considers for a cart (JSON array text): the active automatic promotions and the
-- codes on the cart that are usable now, plus p_trial (a code being applied: POST /promotions checks it first).
CREATE FUNCTION souq_cart_promotions(p_cart text, p_trial text) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    c carts;
    r jsonb := '[]';
    p promotions;
BEGIN
    SELECT * INTO c FROM carts WHERE id = p_cart;
    FOR p IN SELECT * FROM promotions t WHERE t.code IS NULL AND t.status = 'active'
             UNION ALL SELECT t.* FROM promotions t JOIN cart_promotions cp ON cp.promotion_id = t.id AND cp.cart_id = p_cart
                        WHERE t.code IS NOT NULL  -- a code made automatic since is in the first part already
             ORDER BY id LOOP
        IF souq_promotion_unusable(p, c) IS NULL THEN
            r := r || jsonb_build_array(souq_promotion_engine_json(p, c, false));
        END IF;
    END LOOP;
    IF p_trial IS NOT NULL THEN
        SELECT * INTO p FROM promotions t WHERE lower(t.code) = lower(p_trial)
           AND NOT EXISTS (SELECT 1 FROM cart_promotions cp WHERE cp.cart_id = p_cart AND cp.promotion_id = t.id);
        IF FOUND THEN
            r := r || jsonb_build_array(souq_promotion_engine_json(p, c, true));
        END IF;
    END IF;
    RETURN r::text;
END $$;

-- (The cart view, core/cart_db.c, reads the cart's codes and gift cards itself: plpgsql calls cost more there.)

-- Raises why a code cannot go on a cart now (a GET of the cart with p_trial runs it before pricing).
CREATE FUNCTION souq_cart_promotion_check(p_cart text, p_code text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
    c carts;
    p promotions;
    why text;
BEGIN
    SELECT * INTO c FROM carts WHERE id = p_cart;
    SELECT * INTO p FROM promotions t WHERE lower(t.code) = lower(p_code);
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/code|coupon_invalid|The code does not exist.';
    END IF;
    why := souq_promotion_unusable(p, c);
    IF why IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/code|' || why;
    END IF;
    RETURN true;
END $$;

-- POST /v1/store/carts/{id}/promotions (after the engine showed that the code gives something): puts the code on
-- the cart under the cart's lock, checking it again. Applying a code twice is a no-op.
CREATE FUNCTION souq_cart_promotion_add(p_id text, p_channel text, p_customer text, p_ttl_s int, p_version int, p_code text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c carts;
BEGIN
    c := souq_cart_lock(p_id, p_channel, p_customer, p_ttl_s, p_version);
    PERFORM souq_cart_promotion_check(c.id, p_code);
    INSERT INTO cart_promotions (cart_id, promotion_id)
    SELECT c.id, t.id FROM promotions t WHERE lower(t.code) = lower(p_code) ON CONFLICT DO NOTHING;
    UPDATE carts SET version = version + 1, updated_at = now() WHERE id = c.id;
    RETURN c.id;
END $$;

-- DELETE /v1/store/carts/{id}/promotions/{code}: 404 when the code is not on the cart.
CREATE FUNCTION souq_cart_promotion_remove(p_id text, p_channel text, p_customer text, p_ttl_s int, p_version int, p_code text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c carts;
BEGIN
    c := souq_cart_lock(p_id, p_channel, p_customer, p_ttl_s, p_version);
    DELETE FROM cart_promotions cp USING promotions t
     WHERE cp.cart_id = c.id AND cp.promotion_id = t.id AND lower(t.code) = lower(p_code);
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The code is not on the cart.';
    END IF;
    UPDATE carts SET version = version + 1, updated_at = now() WHERE id = c.id;
    RETURN c.id;
END $$;

-- POST /v1/store/carts/{id}/gift-cards {code}. Unknown, disabled, expired, empty and other-currency cards are
-- one answer (coupon_invalid-style: nothing tells a guesser which codes exist, except the currency of a real
-- one, which needs the code). The caller rate-limits attempts before this runs (core/promotion_db.c).
CREATE FUNCTION souq_cart_gift_card_add(p_id text, p_channel text, p_customer text, p_ttl_s int, p_version int, p_code text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c carts;
    g gift_cards;
BEGIN
    c := souq_cart_lock(p_id, p_channel, p_customer, p_ttl_s, p_version);
    SELECT * INTO g FROM gift_cards WHERE code_hash = souq_gift_card_hash(p_code);
    IF NOT FOUND OR g.status <> 'active' OR (g.expires_at IS NOT NULL AND g.expires_at <= now()) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/code|gift_card_invalid|The gift card code is not valid.';
    ELSIF g.currency_code <> c.currency_code THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/code|gift_card_wrong_currency|The gift card is in ' || g.currency_code || ', the cart in ' || c.currency_code || '.';
    ELSIF g.balance = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/code|gift_card_empty|The gift card has no balance left.';
    ELSIF (SELECT count(*) FROM cart_gift_cards WHERE cart_id = c.id) >= 5 THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/code|too_many|A cart holds at most 5 gift cards.';
    END IF;
    INSERT INTO cart_gift_cards (cart_id, gift_card_id) VALUES (c.id, g.id) ON CONFLICT DO NOTHING;
    UPDATE carts SET version = version + 1, updated_at = now() WHERE id = c.id;
    RETURN c.id;
END $$;

-- DELETE /v1/store/carts/{id}/gift-cards/{gift_card_id}
CREATE FUNCTION souq_cart_gift_card_remove(p_id text, p_channel text, p_customer text, p_ttl_s int, p_version int, p_card text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c carts;
BEGIN
    c := souq_cart_lock(p_id, p_channel, p_customer, p_ttl_s, p_version);
    DELETE FROM cart_gift_cards WHERE cart_id = c.id AND gift_card_id = p_card;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The gift card is not on the cart.';
    END IF;
    UPDATE carts SET version = version + 1, updated_at = now() WHERE id = c.id;
    RETURN c.id;
END $$;

-- ---- checkout: redemption ------------------------------------------------------------------------------------

-- Called by checkout's order transaction after inserting the order, with the cart JSON the pricing pipeline
-- produced (core/cart.c): p_cart->'promotions' [{id, code, amount}] are the promotions that gave something,
-- p_cart->'gift_cards' [{id, amount}] the gift-card payments. A code of p_cart->'promotion_codes' that is not
-- among the promotions refuses the order (it stopped giving anything since the buyer saw the cart).
--   Promotions with a usage_limit: a conditional UPDATE (usage_count < usage_limit) takes the row lock, so a
--   one-time code is redeemed exactly once however many checkouts race. Promotions without one only take a
--   FOR SHARE lock (checkouts using the same automatic promotion do not queue behind each other; a PATCH that
--   sets a limit waits for them and then counts the usages); their usage count is the number of usage rows.
--   A per-customer limit is counted under a transaction advisory lock of (promotion, customer).
--   Gift cards: a conditional UPDATE (balance >= amount; CHECK (balance >= 0) is the backstop) and a ledger row.
-- Anything exhausted raises SQ422 "/promotion_codes|coupon_invalid|..." or "/gift_cards|insufficient_balance|...":
-- the whole order transaction rolls back and checkout answers 422. Rows are taken in id order (no deadlocks).
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
END $$;
