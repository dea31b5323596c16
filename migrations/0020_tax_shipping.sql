-- 0020_tax_shipping.sql: tax rates and shipping options (admin resources through core/resource.h), the shipping
-- method a cart chose, and souq_cart_shipping_ready for checkout. Nothing here computes money: every cart answer
-- computes shipping (core/shipping.c, the flat-rate provider) and tax (core/tax.c, the table provider) in C from
-- the rows the cart view returns, as it prices the lines (README, "Tax and shipping").

-- ---- the region a cart is taxed and shipped in ------------------------------------------------------------------

-- The cart's region_id; else the region of its shipping country; else its channel's default region; each only
-- when that region sells in the cart's currency (a cart created without region_id still gets the region's tax
-- treatment, default rates and shipping options). NULL when none fits.
CREATE FUNCTION souq_cart_region(p_region text, p_country text, p_currency text, p_channel text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r text;
BEGIN
    IF p_region IS NOT NULL THEN
        RETURN p_region;
    END IF;
    SELECT g.id INTO r FROM region_countries rc JOIN regions g ON g.id = rc.region_id
     WHERE rc.country_code = p_country AND g.currency_code = p_currency;
    IF r IS NOT NULL THEN
        RETURN r;
    END IF;
    SELECT g.id INTO r FROM sales_channels sc JOIN regions g ON g.id = sc.default_region_id
     WHERE sc.id = p_channel AND g.currency_code = p_currency;
    RETURN r;
END $$;

-- ---- tax rates ------------------------------------------------------------------------------------------------

-- A rate belongs to a region (its default) or to a country, optionally narrowed to a province (the shipping
-- address's province, compared case-insensitively: use the ISO 3166-2 subdivision code without the country,
-- e.g. "ca" for California). For a line the most specific place with a rate of the line's tax class wins
-- (province, then country, then region); a class without any rate there is taxed as 'standard'. All rates of the
-- winning place and class apply, each on the same base (no compound rates). Shipping is class 'shipping'.
CREATE TABLE tax_rates (
    id            text PRIMARY KEY DEFAULT souq_id('txr'),
    region_id     text REFERENCES regions (id) ON DELETE CASCADE,
    country_code  text CHECK (country_code ~ '^[a-z]{2}$'),
    province_code text CHECK (province_code ~ '^[a-z0-9-]{1,16}$'),
    tax_class     text NOT NULL DEFAULT 'standard' CHECK (tax_class ~ '^[a-z0-9_]{1,32}$'),
    rate_bp       integer NOT NULL CHECK (rate_bp BETWEEN 0 AND 10000),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    code          text NOT NULL CHECK (length(code) BETWEEN 1 AND 64),
    metadata      jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tax_rates_place_check CHECK ((region_id IS NULL) <> (country_code IS NULL)),
    CONSTRAINT tax_rates_province_check CHECK (province_code IS NULL OR country_code IS NOT NULL),
    CONSTRAINT tax_rates_code_key UNIQUE NULLS NOT DISTINCT (region_id, country_code, province_code, tax_class, code)
);
CREATE INDEX tax_rates_region_idx ON tax_rates (region_id) WHERE region_id IS NOT NULL;
CREATE INDEX tax_rates_country_idx ON tax_rates (country_code) WHERE country_code IS NOT NULL;
CREATE TRIGGER tax_rates_touch BEFORE UPDATE ON tax_rates FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE FUNCTION souq_tax_rate_json(t tax_rates) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', t.id, 'object', 'tax_rate', 'region_id', t.region_id, 'country_code', t.country_code,
        'province_code', t.province_code, 'tax_class', t.tax_class, 'rate_bp', t.rate_bp, 'name', t.name, 'code', t.code,
        'metadata', t.metadata, 'created_at', t.created_at, 'updated_at', t.updated_at)
$$;

CREATE FUNCTION souq_tax_rate_save(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    cur tax_rates;
    rid text;
BEGIN
    IF p_id IS NULL THEN
        INSERT INTO tax_rates (region_id, country_code, province_code, tax_class, rate_bp, name, code, metadata)
        VALUES (b->>'region_id', lower(b->>'country_code'), lower(b->>'province_code'), coalesce(b->>'tax_class', 'standard'),
                (b->>'rate_bp')::int, b->>'name', b->>'code', jsonb_strip_nulls(coalesce(b->'metadata', '{}')))
        RETURNING id INTO rid;
    ELSE
        SELECT * INTO cur FROM tax_rates t WHERE t.id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        PERFORM souq_check_etag(souq_tax_rate_json(cur), p_etag);
        UPDATE tax_rates t SET
            region_id = CASE WHEN b ? 'region_id' THEN b->>'region_id' ELSE t.region_id END,
            country_code = CASE WHEN b ? 'country_code' THEN lower(b->>'country_code') ELSE t.country_code END,
            province_code = CASE WHEN b ? 'province_code' THEN lower(b->>'province_code') ELSE t.province_code END,
            tax_class = CASE WHEN b ? 'tax_class' THEN b->>'tax_class' ELSE t.tax_class END,
            rate_bp = CASE WHEN b ? 'rate_bp' THEN (b->>'rate_bp')::int ELSE t.rate_bp END,
            name = CASE WHEN b ? 'name' THEN b->>'name' ELSE t.name END,
            code = CASE WHEN b ? 'code' THEN b->>'code' ELSE t.code END,
            metadata = souq_merge_metadata(t.metadata, b)
         WHERE t.id = p_id RETURNING t.id INTO rid;
    END IF;
    RETURN (SELECT souq_tax_rate_json(t) FROM tax_rates t WHERE t.id = rid);
END $$;

-- ---- shipping options -----------------------------------------------------------------------------------------

-- An option of a region (its amounts are in the region's currency), optionally only for some of its countries
-- (the zone; empty: the whole region). provider names the shipping provider of core/hooks.h that rates it;
-- flat_rate charges amount, or nothing once the cart's items (after discounts) reach free_over.
CREATE TABLE shipping_options (
    id         text PRIMARY KEY DEFAULT souq_id('so'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    region_id  text NOT NULL REFERENCES regions (id) ON DELETE CASCADE,
    countries  text[] NOT NULL DEFAULT '{}',
    provider   text NOT NULL DEFAULT 'flat_rate' CHECK (provider ~ '^[a-z0-9_]{1,32}$'),
    amount     bigint NOT NULL CHECK (amount BETWEEN 0 AND 1000000000000),
    free_over  bigint CHECK (free_over BETWEEN 0 AND 1000000000000),
    is_active  boolean NOT NULL DEFAULT true,
    metadata   jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shipping_options_region_idx ON shipping_options (region_id);
CREATE TRIGGER shipping_options_touch BEFORE UPDATE ON shipping_options FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE FUNCTION souq_shipping_option_json(o shipping_options) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', o.id, 'object', 'shipping_option', 'name', o.name, 'region_id', o.region_id,
        'countries', to_json(o.countries), 'provider', o.provider, 'amount', o.amount, 'free_over', o.free_over,
        'is_active', o.is_active, 'metadata', o.metadata, 'created_at', o.created_at, 'updated_at', o.updated_at)
$$;

CREATE FUNCTION souq_shipping_option_save(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    cur shipping_options;
    o shipping_options;
BEGIN
    IF p_id IS NULL THEN
        INSERT INTO shipping_options (name, region_id, countries, provider, amount, free_over, is_active, metadata)
        VALUES (b->>'name', b->>'region_id', coalesce(ARRAY(SELECT DISTINCT lower(x) FROM jsonb_array_elements_text(b->'countries') x ORDER BY 1), '{}'),
                coalesce(b->>'provider', 'flat_rate'), (b->>'amount')::bigint, (b->>'free_over')::bigint,
                coalesce((b->>'is_active')::boolean, true), jsonb_strip_nulls(coalesce(b->'metadata', '{}')))
        RETURNING * INTO o;
    ELSE
        SELECT * INTO cur FROM shipping_options t WHERE t.id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        PERFORM souq_check_etag(souq_shipping_option_json(cur), p_etag);
        UPDATE shipping_options t SET
            name = CASE WHEN b ? 'name' THEN b->>'name' ELSE t.name END,
            region_id = CASE WHEN b ? 'region_id' THEN b->>'region_id' ELSE t.region_id END,
            countries = CASE WHEN b ? 'countries'
                             THEN coalesce(ARRAY(SELECT DISTINCT lower(x) FROM jsonb_array_elements_text(b->'countries') x ORDER BY 1), '{}')
                             ELSE t.countries END,
            provider = CASE WHEN b ? 'provider' THEN b->>'provider' ELSE t.provider END,
            amount = CASE WHEN b ? 'amount' THEN (b->>'amount')::bigint ELSE t.amount END,
            free_over = CASE WHEN b ? 'free_over' THEN (b->>'free_over')::bigint ELSE t.free_over END,
            is_active = CASE WHEN b ? 'is_active' THEN (b->>'is_active')::boolean ELSE t.is_active END,
            metadata = souq_merge_metadata(t.metadata, b)
         WHERE t.id = p_id RETURNING * INTO o;
    END IF;
    -- the zone is part of the region (checked again when the region loses a country: the option then simply
    -- does not serve that country)
    IF EXISTS (SELECT 1 FROM unnest(o.countries) x
                WHERE NOT EXISTS (SELECT 1 FROM region_countries rc WHERE rc.region_id = o.region_id AND rc.country_code = x)) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', CONSTRAINT = 'shipping_options_countries_check',
            MESSAGE = 'Every country of the option must be a country of its region.';
    END IF;
    RETURN souq_shipping_option_json(o);
END $$;

-- Whether option o can ship a cart whose region (souq_cart_region) is p_region and shipping country p_country:
-- active, of that region, and when it has a zone, the cart has a shipping address in it. An expression without a
-- FROM, so LANGUAGE sql: PostgreSQL inlines it into the statements that call it.
CREATE FUNCTION souq_shipping_option_valid(o shipping_options, p_region text, p_country text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(o.is_active AND o.region_id = p_region AND (cardinality(o.countries) = 0 OR p_country = ANY (o.countries)), false)
$$;

-- ---- the cart's shipping method -------------------------------------------------------------------------------

-- One method per cart (choosing another replaces it). Its amount is never stored: every answer rates it again,
-- like the lines' prices; checkout snapshots it into the order.
CREATE TABLE cart_shipping_methods (
    cart_id            text PRIMARY KEY REFERENCES carts (id) ON DELETE CASCADE,
    shipping_option_id text NOT NULL REFERENCES shipping_options (id) ON DELETE CASCADE,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cart_shipping_methods_option_idx ON cart_shipping_methods (shipping_option_id);

-- POST /v1/store/carts/{id}/shipping-methods {option_id}: replaces the cart's method.
CREATE FUNCTION souq_cart_shipping_method_set(p_id text, p_channel text, p_customer text, p_ttl_s int, p_version int, p_option text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c carts;
    o shipping_options;
BEGIN
    c := souq_cart_lock(p_id, p_channel, p_customer, p_ttl_s, p_version);
    SELECT * INTO o FROM shipping_options WHERE id = p_option;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/option_id|not_found|The shipping option does not exist.';
    END IF;
    IF NOT souq_shipping_option_valid(o, souq_cart_region(c.region_id, c.shipping_address->>'country_code', c.currency_code, c.sales_channel_id),
                                      c.shipping_address->>'country_code') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/option_id|not_available|The shipping option is not available for this cart (its region, shipping country or status).';
    END IF;
    INSERT INTO cart_shipping_methods (cart_id, shipping_option_id) VALUES (c.id, o.id)
    ON CONFLICT (cart_id) DO UPDATE SET shipping_option_id = EXCLUDED.shipping_option_id, created_at = now();
    UPDATE carts SET version = version + 1, updated_at = now() WHERE id = c.id;
    RETURN c.id;
END $$;

-- A change of the cart's region, currency or shipping address drops a method that no longer fits (the buyer
-- chooses again from GET .../shipping-options; checkout refuses a cart that needs shipping and has none). A
-- method whose option staff deactivate or move is not shown, not charged and not accepted by checkout, but kept
-- (it comes back if the option does).
CREATE FUNCTION souq_cart_shipping_revalidate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM cart_shipping_methods m USING shipping_options o
     WHERE m.cart_id = NEW.id AND o.id = m.shipping_option_id
       AND NOT souq_shipping_option_valid(o, souq_cart_region(NEW.region_id, NEW.shipping_address->>'country_code', NEW.currency_code,
                                                              NEW.sales_channel_id),
                                          NEW.shipping_address->>'country_code');
    RETURN NULL;
END $$;
CREATE TRIGGER carts_shipping_revalidate AFTER UPDATE OF region_id, currency_code, shipping_address ON carts FOR EACH ROW
    WHEN (OLD.region_id IS DISTINCT FROM NEW.region_id OR OLD.currency_code IS DISTINCT FROM NEW.currency_code
          OR OLD.shipping_address IS DISTINCT FROM NEW.shipping_address)
    EXECUTE FUNCTION souq_cart_shipping_revalidate();

-- For checkout: true when no line of the cart requires shipping, or the cart has a method that is valid now.
CREATE FUNCTION souq_cart_shipping_ready(p_cart text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN NOT EXISTS (SELECT 1 FROM cart_line_items l JOIN product_variants v ON v.id = l.variant_id
                        WHERE l.cart_id = p_cart AND v.requires_shipping)
        OR EXISTS (SELECT 1 FROM cart_shipping_methods m JOIN shipping_options o ON o.id = m.shipping_option_id
                     JOIN carts c ON c.id = m.cart_id
                    WHERE m.cart_id = p_cart
                      AND souq_shipping_option_valid(o, souq_cart_region(c.region_id, c.shipping_address->>'country_code', c.currency_code,
                                                                         c.sales_channel_id),
                                                     c.shipping_address->>'country_code'));
END $$;
