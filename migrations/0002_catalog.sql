-- 0002_catalog.sql: regions, store settings, customer groups, products (options, variants, media),
-- categories, collections, translations, price lists and prices.
-- Rows that a marketplace seller will own later carry a nullable seller_id now.

CREATE TABLE store_settings (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    default_locale text NOT NULL DEFAULT 'en' CHECK (default_locale ~ '^[a-z]{2}(-[A-Z]{2})?$'),
    locales        text[] NOT NULL DEFAULT '{en}',
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (default_locale = ANY (locales))
);
INSERT INTO store_settings DEFAULT VALUES;

CREATE TABLE regions (
    id             text PRIMARY KEY DEFAULT souq_id('reg'),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    currency_code  text NOT NULL REFERENCES currencies (code),
    tax_inclusive  boolean NOT NULL DEFAULT false,
    metadata       jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER regions_touch BEFORE UPDATE ON regions FOR EACH ROW EXECUTE FUNCTION souq_touch();

-- a country belongs to at most one region
CREATE TABLE region_countries (
    country_code text PRIMARY KEY CHECK (country_code ~ '^[a-z]{2}$'),
    region_id    text NOT NULL REFERENCES regions (id) ON DELETE CASCADE
);
CREATE INDEX region_countries_region_idx ON region_countries (region_id);

ALTER TABLE sales_channels ADD COLUMN default_region_id text REFERENCES regions (id) ON DELETE SET NULL;

CREATE TABLE customer_groups (
    id         text PRIMARY KEY DEFAULT souq_id('cgrp'),
    name       text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 256),
    metadata   jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER customer_groups_touch BEFORE UPDATE ON customer_groups FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE TABLE customer_group_members (
    group_id    text NOT NULL REFERENCES customer_groups (id) ON DELETE CASCADE,
    customer_id text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, customer_id)
);
CREATE INDEX customer_group_members_customer_idx ON customer_group_members (customer_id);

-- ---- catalog ------------------------------------------------------------------------------------------

CREATE TABLE products (
    id              text PRIMARY KEY DEFAULT souq_id('prod'),
    title           text NOT NULL CHECK (length(title) BETWEEN 1 AND 256),
    handle          text NOT NULL UNIQUE CHECK (handle ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(handle) <= 128),
    subtitle        text,
    description     text CHECK (length(description) <= 65536),
    status          text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'archived')),
    type            text,
    brand           text,
    tags            text[] NOT NULL DEFAULT '{}',
    seo_title       text,
    seo_description text,
    seller_id       text,
    metadata        jsonb NOT NULL DEFAULT '{}',
    search_vector   tsvector,
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_status_idx ON products (status, id);
CREATE INDEX products_created_idx ON products (created_at, id);
CREATE INDEX products_title_idx ON products (lower(title) COLLATE "C", id);
CREATE INDEX products_tags_idx ON products USING gin (tags);
CREATE INDEX products_search_idx ON products USING gin (search_vector);
CREATE TRIGGER products_touch BEFORE UPDATE ON products FOR EACH ROW EXECUTE FUNCTION souq_touch();

-- Text-search configuration per locale: the language's stemmer where PostgreSQL has one, else 'simple'.
CREATE FUNCTION souq_ts_config(locale text) RETURNS regconfig LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE split_part(locale, '-', 1)
        WHEN 'en' THEN 'english' WHEN 'de' THEN 'german' WHEN 'fr' THEN 'french' WHEN 'es' THEN 'spanish'
        WHEN 'it' THEN 'italian' WHEN 'nl' THEN 'dutch' WHEN 'pt' THEN 'portuguese' WHEN 'sv' THEN 'swedish'
        WHEN 'da' THEN 'danish' WHEN 'fi' THEN 'finnish' WHEN 'no' THEN 'norwegian' WHEN 'ru' THEN 'russian'
        WHEN 'tr' THEN 'turkish' WHEN 'hu' THEN 'hungarian' WHEN 'ro' THEN 'romanian' WHEN 'ar' THEN 'arabic'
        ELSE 'simple' END::regconfig
$$;

-- Weighted document: title A, brand/type/tags B, subtitle C, description D. Each part is indexed stemmed in
-- the locale's language (whole words match their forms) and unstemmed ('simple', so prefixes match too).
CREATE FUNCTION souq_weighted(cfg regconfig, txt text, w "char") RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector(cfg, coalesce(txt, '')) || to_tsvector('simple', coalesce(txt, '')), w)
$$;

CREATE FUNCTION souq_product_vector(cfg regconfig, title text, subtitle text, description text, brand text, type text, tags text[])
RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT souq_weighted(cfg, title, 'A')
        || souq_weighted(cfg, coalesce(brand, '') || ' ' || coalesce(type, '') || ' ' || array_to_string(tags, ' '), 'B')
        || souq_weighted(cfg, subtitle, 'C')
        || souq_weighted(cfg, left(coalesce(description, ''), 16384), 'D')
$$;

-- The query for search text q: its words stemmed in the locale's language, or any word prefix-matched.
CREATE FUNCTION souq_search_query(cfg regconfig, q text) RETURNS tsquery LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT plainto_tsquery(cfg, q) || coalesce((
        SELECT to_tsquery('simple', string_agg(w || ':*', ' & '))
          FROM regexp_split_to_table(trim(regexp_replace(lower(left(q, 256)), '[^[:alnum:]]+', ' ', 'g')), ' ') AS w
         WHERE w <> ''), plainto_tsquery(cfg, q))
$$;

CREATE FUNCTION souq_products_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector := souq_product_vector(souq_ts_config((SELECT default_locale FROM store_settings)),
                                             NEW.title, NEW.subtitle, NEW.description, NEW.brand, NEW.type, NEW.tags);
    RETURN NEW;
END $$;
CREATE TRIGGER products_search BEFORE INSERT OR UPDATE OF title, subtitle, description, brand, type, tags ON products
    FOR EACH ROW EXECUTE FUNCTION souq_products_search();

CREATE TABLE product_sales_channels (
    product_id       text NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    sales_channel_id text NOT NULL REFERENCES sales_channels (id) ON DELETE CASCADE,
    PRIMARY KEY (sales_channel_id, product_id)
);
CREATE INDEX product_sales_channels_product_idx ON product_sales_channels (product_id);

CREATE TABLE product_media (
    id         text PRIMARY KEY DEFAULT souq_id('med'),
    product_id text NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    url        text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2048),
    alt        text,
    rank       integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX product_media_product_idx ON product_media (product_id, rank);

CREATE TABLE product_options (
    id         text PRIMARY KEY DEFAULT souq_id('opt'),
    product_id text NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    rank       integer NOT NULL DEFAULT 0,
    UNIQUE (product_id, title)
);

CREATE TABLE product_option_values (
    id        text PRIMARY KEY DEFAULT souq_id('optval'),
    option_id text NOT NULL REFERENCES product_options (id) ON DELETE CASCADE,
    value     text NOT NULL CHECK (length(value) BETWEEN 1 AND 100),
    rank      integer NOT NULL DEFAULT 0,
    UNIQUE (option_id, value)
);

CREATE TABLE product_variants (
    id                text PRIMARY KEY DEFAULT souq_id('var'),
    product_id        text NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    title             text NOT NULL CHECK (length(title) BETWEEN 1 AND 256),
    sku               text NOT NULL UNIQUE CHECK (length(sku) BETWEEN 1 AND 64),
    barcode           text CHECK (length(barcode) <= 64),
    weight_g          integer CHECK (weight_g >= 0),
    length_mm         integer CHECK (length_mm >= 0),
    width_mm          integer CHECK (width_mm >= 0),
    height_mm         integer CHECK (height_mm >= 0),
    requires_shipping boolean NOT NULL DEFAULT true,
    tax_class         text NOT NULL DEFAULT 'standard' CHECK (tax_class ~ '^[a-z0-9_]{1,32}$'),
    manage_inventory  boolean NOT NULL DEFAULT true,
    allow_backorder   boolean NOT NULL DEFAULT false,
    rank              integer NOT NULL DEFAULT 0,
    metadata          jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX product_variants_product_idx ON product_variants (product_id, rank, id);
CREATE TRIGGER product_variants_touch BEFORE UPDATE ON product_variants FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE TABLE variant_option_values (
    variant_id      text NOT NULL REFERENCES product_variants (id) ON DELETE CASCADE,
    option_value_id text NOT NULL REFERENCES product_option_values (id) ON DELETE CASCADE,
    PRIMARY KEY (variant_id, option_value_id)
);
CREATE INDEX variant_option_values_value_idx ON variant_option_values (option_value_id);

CREATE TABLE categories (
    id          text PRIMARY KEY DEFAULT souq_id('pcat'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    handle      text NOT NULL UNIQUE CHECK (handle ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(handle) <= 128),
    description text,
    parent_id   text REFERENCES categories (id) ON DELETE RESTRICT,
    rank        integer NOT NULL DEFAULT 0,
    is_active   boolean NOT NULL DEFAULT true,
    metadata    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS DISTINCT FROM id)
);
CREATE INDEX categories_parent_idx ON categories (parent_id, rank);
CREATE TRIGGER categories_touch BEFORE UPDATE ON categories FOR EACH ROW EXECUTE FUNCTION souq_touch();

-- A category cannot become its own ancestor.
CREATE FUNCTION souq_categories_no_cycle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.parent_id IS NOT NULL AND EXISTS (
        WITH RECURSIVE up(id) AS (SELECT NEW.parent_id UNION SELECT c.parent_id FROM categories c JOIN up ON c.id = up.id WHERE c.parent_id IS NOT NULL)
        SELECT 1 FROM up WHERE id = NEW.id) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = 'A category cannot be moved under itself or one of its descendants.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER categories_no_cycle BEFORE INSERT OR UPDATE OF parent_id ON categories FOR EACH ROW EXECUTE FUNCTION souq_categories_no_cycle();

CREATE TABLE product_categories (
    product_id  text NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    category_id text NOT NULL REFERENCES categories (id) ON DELETE CASCADE,
    PRIMARY KEY (category_id, product_id)
);
CREATE INDEX product_categories_product_idx ON product_categories (product_id);

-- Manual collections list their products; rule collections match tags, types and a base-price range.
CREATE TABLE collections (
    id          text PRIMARY KEY DEFAULT souq_id('pcol'),
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 256),
    handle      text NOT NULL UNIQUE CHECK (handle ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(handle) <= 128),
    description text,
    kind        text NOT NULL DEFAULT 'manual' CHECK (kind IN ('manual', 'rule')),
    rule_tags   text[] NOT NULL DEFAULT '{}',
    rule_types  text[] NOT NULL DEFAULT '{}',
    rule_currency text REFERENCES currencies (code),
    rule_price_min bigint CHECK (rule_price_min >= 0),
    rule_price_max bigint CHECK (rule_price_max >= 0),
    metadata    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (kind = 'rule' OR (rule_tags = '{}' AND rule_types = '{}' AND rule_price_min IS NULL AND rule_price_max IS NULL)),
    CHECK ((rule_price_min IS NULL AND rule_price_max IS NULL) OR rule_currency IS NOT NULL)
);
CREATE TRIGGER collections_touch BEFORE UPDATE ON collections FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE TABLE collection_products (
    collection_id text NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    product_id    text NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    rank          integer NOT NULL DEFAULT 0,
    PRIMARY KEY (collection_id, product_id)
);
CREATE INDEX collection_products_product_idx ON collection_products (product_id);

-- ---- translations (customer-visible text per locale; the default locale lives in the base rows) ----------

CREATE DOMAIN souq_locale AS text CHECK (VALUE ~ '^[a-z]{2}(-[A-Z]{2})?$');

CREATE TABLE product_translations (
    product_id      text NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    locale          souq_locale NOT NULL,
    title           text CHECK (length(title) BETWEEN 1 AND 256),
    subtitle        text,
    description     text CHECK (length(description) <= 65536),
    seo_title       text,
    seo_description text,
    search_vector   tsvector,
    PRIMARY KEY (product_id, locale)
);
CREATE INDEX product_translations_search_idx ON product_translations USING gin (search_vector);

CREATE FUNCTION souq_product_translations_search() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE p products;
BEGIN
    SELECT * INTO p FROM products WHERE id = NEW.product_id;
    NEW.search_vector := souq_product_vector(souq_ts_config(NEW.locale), coalesce(NEW.title, p.title), coalesce(NEW.subtitle, p.subtitle),
                                             coalesce(NEW.description, p.description), p.brand, p.type, p.tags);
    RETURN NEW;
END $$;
CREATE TRIGGER product_translations_search BEFORE INSERT OR UPDATE ON product_translations
    FOR EACH ROW EXECUTE FUNCTION souq_product_translations_search();

CREATE TABLE variant_translations (
    variant_id text NOT NULL REFERENCES product_variants (id) ON DELETE CASCADE,
    locale     souq_locale NOT NULL,
    title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 256),
    PRIMARY KEY (variant_id, locale)
);

CREATE TABLE option_translations (
    option_id text NOT NULL REFERENCES product_options (id) ON DELETE CASCADE,
    locale    souq_locale NOT NULL,
    title     text NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    PRIMARY KEY (option_id, locale)
);

CREATE TABLE option_value_translations (
    option_value_id text NOT NULL REFERENCES product_option_values (id) ON DELETE CASCADE,
    locale          souq_locale NOT NULL,
    value           text NOT NULL CHECK (length(value) BETWEEN 1 AND 100),
    PRIMARY KEY (option_value_id, locale)
);

CREATE TABLE category_translations (
    category_id text NOT NULL REFERENCES categories (id) ON DELETE CASCADE,
    locale      souq_locale NOT NULL,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    description text,
    PRIMARY KEY (category_id, locale)
);

CREATE TABLE collection_translations (
    collection_id text NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    locale        souq_locale NOT NULL,
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 256),
    description   text,
    PRIMARY KEY (collection_id, locale)
);

-- ---- prices ---------------------------------------------------------------------------------------------

-- sale lists apply when lower than the base price; override lists (negotiated, group, channel, company prices)
-- always win. percent_off_bp lists take a percentage off the base price of the products in their scope
-- (price_list_products; all products when empty) instead of listing prices.
CREATE TABLE price_lists (
    id             text PRIMARY KEY DEFAULT souq_id('plist'),
    title          text NOT NULL CHECK (length(title) BETWEEN 1 AND 256),
    description    text,
    kind           text NOT NULL CHECK (kind IN ('sale', 'override')),
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('draft', 'active')),
    priority       integer NOT NULL DEFAULT 0,
    starts_at      timestamptz,
    ends_at        timestamptz,
    percent_off_bp integer CHECK (percent_off_bp BETWEEN 1 AND 10000),
    metadata       jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at)
);
CREATE TRIGGER price_lists_touch BEFORE UPDATE ON price_lists FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE TABLE price_list_rules (
    price_list_id text NOT NULL REFERENCES price_lists (id) ON DELETE CASCADE,
    attribute     text NOT NULL CHECK (attribute IN ('sales_channel', 'region', 'customer_group', 'company')),
    value         text NOT NULL,
    PRIMARY KEY (price_list_id, attribute, value)
);

CREATE TABLE price_list_products (
    price_list_id text NOT NULL REFERENCES price_lists (id) ON DELETE CASCADE,
    product_id    text NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    PRIMARY KEY (price_list_id, product_id)
);
CREATE INDEX price_list_products_product_idx ON price_list_products (product_id);

-- A base price (price_list_id NULL) or a list price of a variant, per currency and quantity tier.
CREATE TABLE prices (
    id                text PRIMARY KEY DEFAULT souq_id('price'),
    variant_id        text NOT NULL REFERENCES product_variants (id) ON DELETE CASCADE,
    price_list_id     text REFERENCES price_lists (id) ON DELETE CASCADE,
    currency_code     text NOT NULL REFERENCES currencies (code),
    amount            bigint NOT NULL CHECK (amount >= 0),
    compare_at_amount bigint CHECK (compare_at_amount >= 0),
    min_quantity      integer NOT NULL DEFAULT 1 CHECK (min_quantity >= 1),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX prices_unique ON prices (variant_id, coalesce(price_list_id, ''), currency_code, min_quantity);
CREATE INDEX prices_list_idx ON prices (price_list_id) WHERE price_list_id IS NOT NULL;
-- the lowest base price per product and currency, for price filters and sorting
CREATE INDEX prices_base_idx ON prices (currency_code, amount) WHERE price_list_id IS NULL AND min_quantity = 1;
CREATE TRIGGER prices_touch BEFORE UPDATE ON prices FOR EACH ROW EXECUTE FUNCTION souq_touch();

-- price.changed: every change of a base or list price, in the same transaction
CREATE FUNCTION souq_prices_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.amount = NEW.amount THEN
        RETURN NULL;
    END IF;
    INSERT INTO outbox_events (type, payload)
    SELECT 'price.changed', jsonb_build_object('price_id', coalesce(NEW.id, OLD.id), 'variant_id', coalesce(NEW.variant_id, OLD.variant_id),
        'price_list_id', coalesce(NEW.price_list_id, OLD.price_list_id), 'currency_code', coalesce(NEW.currency_code, OLD.currency_code),
        'min_quantity', coalesce(NEW.min_quantity, OLD.min_quantity),
        'old_amount', CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.amount END,
        'new_amount', CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE NEW.amount END);
    RETURN NULL;
END $$;
CREATE TRIGGER prices_changed AFTER INSERT OR DELETE OR UPDATE OF amount ON prices FOR EACH ROW
    EXECUTE FUNCTION souq_prices_changed();
