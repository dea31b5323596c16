-- 0004_catalog_api.sql: the JSON representation of each admin resource (one function per resource: the
-- API, ETags and events all use it) and the save functions that apply a validated request body (jsonb).
-- Bodies are validated in C first (types, lengths, unknown fields); these functions apply them in one
-- transaction and raise SQ409/SQ412/SQ422 with client-safe messages.
-- souq_<resource>_save(id, body, etag): id NULL creates; otherwise updates the row (NULL when it does not
-- exist), after checking etag (the MD5 of the JSON the client read; NULL skips the check) under a row lock.
-- Both return the resource's JSON as it is after the change.

CREATE FUNCTION souq_check_etag(cur json, etag text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF etag IS NOT NULL AND md5(cur::text) IS DISTINCT FROM etag THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ412', MESSAGE = 'The resource changed since you read it; read it again (If-Match).';
    END IF;
END $$;

-- a text[] from a JSON array of strings (NULL for JSON null / absent)
CREATE FUNCTION souq_text_array(j jsonb) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN j IS NULL OR jsonb_typeof(j) <> 'array' THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(j)) END
$$;

-- metadata of a PATCH: merged into the stored object, keys set to null deleted; null clears it
CREATE FUNCTION souq_merge_metadata(cur jsonb, body jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN NOT body ? 'metadata' THEN cur
                WHEN jsonb_typeof(body->'metadata') = 'null' THEN '{}'::jsonb
                ELSE jsonb_strip_nulls(cur || (body->'metadata')) END
$$;

-- ---- sales channels ------------------------------------------------------------------------------------

CREATE FUNCTION souq_sales_channel_json(c sales_channels) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', c.id, 'object', 'sales_channel', 'name', c.name, 'description', c.description,
        'is_default', c.is_default, 'disabled', c.disabled_at IS NOT NULL, 'default_region_id', c.default_region_id,
        'locations', coalesce((SELECT json_agg(json_build_object('location_id', l.location_id, 'priority', l.priority)
                                               ORDER BY l.priority, l.location_id)
                                 FROM sales_channel_locations l WHERE l.sales_channel_id = c.id), '[]'::json),
        'metadata', c.metadata, 'created_at', c.created_at, 'updated_at', c.updated_at)
$$;

CREATE FUNCTION souq_sales_channel_save(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    rid text;
    cur sales_channels;
BEGIN
    IF p_id IS NOT NULL THEN
        SELECT * INTO cur FROM sales_channels t WHERE t.id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        PERFORM souq_check_etag(souq_sales_channel_json(cur), p_etag);
    END IF;
    IF p_id IS NULL THEN
        INSERT INTO sales_channels (name, description, default_region_id, metadata, disabled_at)
        VALUES (b->>'name', b->>'description', b->>'default_region_id', jsonb_strip_nulls(coalesce(b->'metadata', '{}')),
                CASE WHEN (b->>'disabled')::boolean THEN now() END)
        RETURNING sales_channels.id INTO rid;
        RETURN (SELECT souq_sales_channel_json(t) FROM sales_channels t WHERE t.id = rid);
    END IF;
    UPDATE sales_channels c SET
        name = CASE WHEN b ? 'name' THEN b->>'name' ELSE c.name END,
        description = CASE WHEN b ? 'description' THEN b->>'description' ELSE c.description END,
        default_region_id = CASE WHEN b ? 'default_region_id' THEN b->>'default_region_id' ELSE c.default_region_id END,
        disabled_at = CASE WHEN NOT b ? 'disabled' THEN c.disabled_at WHEN (b->>'disabled')::boolean THEN coalesce(c.disabled_at, now()) END,
        metadata = souq_merge_metadata(c.metadata, b)
     WHERE c.id = p_id RETURNING c.id INTO rid;
    RETURN (SELECT souq_sales_channel_json(t) FROM sales_channels t WHERE t.id = rid);
END $$;

-- ---- regions ----------------------------------------------------------------------------------------------

CREATE FUNCTION souq_region_json(r regions) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', r.id, 'object', 'region', 'name', r.name, 'currency_code', r.currency_code,
        'tax_inclusive', r.tax_inclusive,
        'countries', coalesce((SELECT json_agg(c.country_code ORDER BY c.country_code) FROM region_countries c WHERE c.region_id = r.id), '[]'::json),
        'metadata', r.metadata, 'created_at', r.created_at, 'updated_at', r.updated_at)
$$;

CREATE FUNCTION souq_region_save(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    rid text;
    cur regions;
BEGIN
    IF p_id IS NOT NULL THEN
        SELECT * INTO cur FROM regions t WHERE t.id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        PERFORM souq_check_etag(souq_region_json(cur), p_etag);
    END IF;
    IF p_id IS NULL THEN
        INSERT INTO regions (name, currency_code, tax_inclusive, metadata)
        VALUES (b->>'name', lower(b->>'currency_code'), coalesce((b->>'tax_inclusive')::boolean, false),
                jsonb_strip_nulls(coalesce(b->'metadata', '{}')))
        RETURNING regions.id INTO rid;
    ELSE
        UPDATE regions r SET
            name = CASE WHEN b ? 'name' THEN b->>'name' ELSE r.name END,
            currency_code = CASE WHEN b ? 'currency_code' THEN lower(b->>'currency_code') ELSE r.currency_code END,
            tax_inclusive = CASE WHEN b ? 'tax_inclusive' THEN (b->>'tax_inclusive')::boolean ELSE r.tax_inclusive END,
            metadata = souq_merge_metadata(r.metadata, b)
         WHERE r.id = p_id RETURNING r.id INTO rid;
        IF rid IS NULL THEN
            RETURN NULL;
        END IF;
    END IF;
    IF b ? 'countries' THEN
        DELETE FROM region_countries WHERE region_id = rid;
        INSERT INTO region_countries (country_code, region_id)
        SELECT DISTINCT lower(c), rid FROM jsonb_array_elements_text(b->'countries') c;
    END IF;
    RETURN (SELECT souq_region_json(t) FROM regions t WHERE t.id = rid);
END $$;

-- ---- stock locations ----------------------------------------------------------------------------------------

CREATE FUNCTION souq_stock_location_json(l stock_locations) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', l.id, 'object', 'stock_location', 'name', l.name, 'address_1', l.address_1, 'city', l.city,
        'postal_code', l.postal_code, 'country_code', l.country_code, 'is_active', l.is_active, 'metadata', l.metadata,
        'created_at', l.created_at, 'updated_at', l.updated_at)
$$;

CREATE FUNCTION souq_stock_location_save(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    rid text;
    cur stock_locations;
BEGIN
    IF p_id IS NOT NULL THEN
        SELECT * INTO cur FROM stock_locations t WHERE t.id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        PERFORM souq_check_etag(souq_stock_location_json(cur), p_etag);
    END IF;
    IF p_id IS NULL THEN
        INSERT INTO stock_locations (name, address_1, city, postal_code, country_code, is_active, metadata)
        VALUES (b->>'name', b->>'address_1', b->>'city', b->>'postal_code', lower(b->>'country_code'),
                coalesce((b->>'is_active')::boolean, true), jsonb_strip_nulls(coalesce(b->'metadata', '{}')))
        RETURNING stock_locations.id INTO rid;
        RETURN (SELECT souq_stock_location_json(t) FROM stock_locations t WHERE t.id = rid);
    END IF;
    UPDATE stock_locations l SET
        name = CASE WHEN b ? 'name' THEN b->>'name' ELSE l.name END,
        address_1 = CASE WHEN b ? 'address_1' THEN b->>'address_1' ELSE l.address_1 END,
        city = CASE WHEN b ? 'city' THEN b->>'city' ELSE l.city END,
        postal_code = CASE WHEN b ? 'postal_code' THEN b->>'postal_code' ELSE l.postal_code END,
        country_code = CASE WHEN b ? 'country_code' THEN lower(b->>'country_code') ELSE l.country_code END,
        is_active = CASE WHEN b ? 'is_active' THEN (b->>'is_active')::boolean ELSE l.is_active END,
        metadata = souq_merge_metadata(l.metadata, b)
     WHERE l.id = p_id RETURNING l.id INTO rid;
    RETURN (SELECT souq_stock_location_json(t) FROM stock_locations t WHERE t.id = rid);
END $$;

-- ---- customer groups ------------------------------------------------------------------------------------------

CREATE FUNCTION souq_customer_group_json(g customer_groups) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', g.id, 'object', 'customer_group', 'name', g.name,
        'customer_count', (SELECT count(*) FROM customer_group_members m WHERE m.group_id = g.id),
        'metadata', g.metadata, 'created_at', g.created_at, 'updated_at', g.updated_at)
$$;

CREATE FUNCTION souq_customer_group_save(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    rid text;
    cur customer_groups;
BEGIN
    IF p_id IS NOT NULL THEN
        SELECT * INTO cur FROM customer_groups t WHERE t.id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        PERFORM souq_check_etag(souq_customer_group_json(cur), p_etag);
    END IF;
    IF p_id IS NULL THEN
        INSERT INTO customer_groups (name, metadata) VALUES (b->>'name', jsonb_strip_nulls(coalesce(b->'metadata', '{}')))
        RETURNING customer_groups.id INTO rid;
        RETURN (SELECT souq_customer_group_json(t) FROM customer_groups t WHERE t.id = rid);
    END IF;
    UPDATE customer_groups g SET name = CASE WHEN b ? 'name' THEN b->>'name' ELSE g.name END,
           metadata = souq_merge_metadata(g.metadata, b)
     WHERE g.id = p_id RETURNING g.id INTO rid;
    RETURN (SELECT souq_customer_group_json(t) FROM customer_groups t WHERE t.id = rid);
END $$;

-- ---- categories ------------------------------------------------------------------------------------------------

CREATE FUNCTION souq_category_json(c categories) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', c.id, 'object', 'category', 'name', c.name, 'handle', c.handle, 'description', c.description,
        'parent_id', c.parent_id, 'rank', c.rank, 'is_active', c.is_active, 'metadata', c.metadata,
        'created_at', c.created_at, 'updated_at', c.updated_at)
$$;

CREATE FUNCTION souq_category_save(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    rid text;
    cur categories;
BEGIN
    IF p_id IS NOT NULL THEN
        SELECT * INTO cur FROM categories t WHERE t.id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        PERFORM souq_check_etag(souq_category_json(cur), p_etag);
    END IF;
    IF p_id IS NULL THEN
        INSERT INTO categories (name, handle, description, parent_id, rank, is_active, metadata)
        VALUES (b->>'name', b->>'handle', b->>'description', b->>'parent_id', coalesce((b->>'rank')::int, 0),
                coalesce((b->>'is_active')::boolean, true), jsonb_strip_nulls(coalesce(b->'metadata', '{}')))
        RETURNING categories.id INTO rid;
        RETURN (SELECT souq_category_json(t) FROM categories t WHERE t.id = rid);
    END IF;
    UPDATE categories c SET
        name = CASE WHEN b ? 'name' THEN b->>'name' ELSE c.name END,
        handle = CASE WHEN b ? 'handle' THEN b->>'handle' ELSE c.handle END,
        description = CASE WHEN b ? 'description' THEN b->>'description' ELSE c.description END,
        parent_id = CASE WHEN b ? 'parent_id' THEN b->>'parent_id' ELSE c.parent_id END,
        rank = CASE WHEN b ? 'rank' THEN (b->>'rank')::int ELSE c.rank END,
        is_active = CASE WHEN b ? 'is_active' THEN (b->>'is_active')::boolean ELSE c.is_active END,
        metadata = souq_merge_metadata(c.metadata, b)
     WHERE c.id = p_id RETURNING c.id INTO rid;
    RETURN (SELECT souq_category_json(t) FROM categories t WHERE t.id = rid);
END $$;

-- ---- collections ---------------------------------------------------------------------------------------------

CREATE FUNCTION souq_collection_json(c collections) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', c.id, 'object', 'collection', 'title', c.title, 'handle', c.handle, 'description', c.description,
        'kind', c.kind,
        'rules', CASE WHEN c.kind = 'rule' THEN json_build_object('tags', to_json(c.rule_tags), 'types', to_json(c.rule_types),
                      'currency_code', c.rule_currency, 'price_min', c.rule_price_min, 'price_max', c.rule_price_max) END,
        'product_count', CASE WHEN c.kind = 'manual' THEN (SELECT count(*) FROM collection_products p WHERE p.collection_id = c.id) END,
        'metadata', c.metadata, 'created_at', c.created_at, 'updated_at', c.updated_at)
$$;

CREATE FUNCTION souq_collection_save(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    rid text;
    r jsonb := b->'rules';
    cur collections;
BEGIN
    IF p_id IS NOT NULL THEN
        SELECT * INTO cur FROM collections t WHERE t.id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        PERFORM souq_check_etag(souq_collection_json(cur), p_etag);
    END IF;
    IF p_id IS NULL THEN
        INSERT INTO collections (title, handle, description, kind, rule_tags, rule_types, rule_currency, rule_price_min, rule_price_max, metadata)
        VALUES (b->>'title', b->>'handle', b->>'description', coalesce(b->>'kind', 'manual'),
                coalesce(souq_text_array(r->'tags'), '{}'), coalesce(souq_text_array(r->'types'), '{}'), lower(r->>'currency_code'),
                (r->>'price_min')::bigint, (r->>'price_max')::bigint, jsonb_strip_nulls(coalesce(b->'metadata', '{}')))
        RETURNING collections.id INTO rid;
        RETURN (SELECT souq_collection_json(t) FROM collections t WHERE t.id = rid);
    END IF;
    UPDATE collections c SET
        title = CASE WHEN b ? 'title' THEN b->>'title' ELSE c.title END,
        handle = CASE WHEN b ? 'handle' THEN b->>'handle' ELSE c.handle END,
        description = CASE WHEN b ? 'description' THEN b->>'description' ELSE c.description END,
        rule_tags = CASE WHEN b ? 'rules' THEN coalesce(souq_text_array(r->'tags'), '{}') ELSE c.rule_tags END,
        rule_types = CASE WHEN b ? 'rules' THEN coalesce(souq_text_array(r->'types'), '{}') ELSE c.rule_types END,
        rule_currency = CASE WHEN b ? 'rules' THEN lower(r->>'currency_code') ELSE c.rule_currency END,
        rule_price_min = CASE WHEN b ? 'rules' THEN (r->>'price_min')::bigint ELSE c.rule_price_min END,
        rule_price_max = CASE WHEN b ? 'rules' THEN (r->>'price_max')::bigint ELSE c.rule_price_max END,
        metadata = souq_merge_metadata(c.metadata, b)
     WHERE c.id = p_id RETURNING c.id INTO rid;
    RETURN (SELECT souq_collection_json(t) FROM collections t WHERE t.id = rid);
END $$;

-- adds and removes products of a manual collection
CREATE FUNCTION souq_collection_products(p_id text, b jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE k text;
BEGIN
    SELECT kind INTO k FROM collections WHERE id = p_id FOR UPDATE;
    IF k IS NULL THEN
        RETURN NULL;
    END IF;
    IF k <> 'manual' THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ409', MESSAGE = 'Products of a rule collection follow its rules; they cannot be added by hand.';
    END IF;
    DELETE FROM collection_products WHERE collection_id = p_id AND product_id = ANY (coalesce(souq_text_array(b->'remove'), '{}'));
    INSERT INTO collection_products (collection_id, product_id, rank)
    SELECT p_id, p, ord FROM jsonb_array_elements_text(coalesce(b->'add', '[]')) WITH ORDINALITY AS a(p, ord)
    ON CONFLICT DO NOTHING;
    RETURN p_id;
END $$;

-- ---- price lists ----------------------------------------------------------------------------------------------

CREATE FUNCTION souq_price_list_json(l price_lists) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', l.id, 'object', 'price_list', 'title', l.title, 'description', l.description, 'kind', l.kind,
        'status', l.status, 'priority', l.priority, 'starts_at', l.starts_at, 'ends_at', l.ends_at, 'percent_off_bp', l.percent_off_bp,
        'rules', coalesce((SELECT json_object_agg(a.attribute, a.vals) FROM (SELECT r.attribute, json_agg(r.value ORDER BY r.value) AS vals
                             FROM price_list_rules r WHERE r.price_list_id = l.id GROUP BY r.attribute) a), '{}'::json),
        'product_ids', coalesce((SELECT json_agg(p.product_id ORDER BY p.product_id) FROM price_list_products p WHERE p.price_list_id = l.id), '[]'::json),
        'price_count', (SELECT count(*) FROM prices p WHERE p.price_list_id = l.id),
        'metadata', l.metadata, 'created_at', l.created_at, 'updated_at', l.updated_at)
$$;

CREATE FUNCTION souq_price_list_save(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    rid text;
    cur price_lists;
BEGIN
    IF p_id IS NOT NULL THEN
        SELECT * INTO cur FROM price_lists t WHERE t.id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        PERFORM souq_check_etag(souq_price_list_json(cur), p_etag);
    END IF;
    IF p_id IS NULL THEN
        INSERT INTO price_lists (title, description, kind, status, priority, starts_at, ends_at, percent_off_bp, metadata)
        VALUES (b->>'title', b->>'description', b->>'kind', coalesce(b->>'status', 'active'), coalesce((b->>'priority')::int, 0),
                (b->>'starts_at')::timestamptz, (b->>'ends_at')::timestamptz, (b->>'percent_off_bp')::int,
                jsonb_strip_nulls(coalesce(b->'metadata', '{}')))
        RETURNING price_lists.id INTO rid;
    ELSE
        UPDATE price_lists l SET
            title = CASE WHEN b ? 'title' THEN b->>'title' ELSE l.title END,
            description = CASE WHEN b ? 'description' THEN b->>'description' ELSE l.description END,
            status = CASE WHEN b ? 'status' THEN b->>'status' ELSE l.status END,
            priority = CASE WHEN b ? 'priority' THEN (b->>'priority')::int ELSE l.priority END,
            starts_at = CASE WHEN b ? 'starts_at' THEN (b->>'starts_at')::timestamptz ELSE l.starts_at END,
            ends_at = CASE WHEN b ? 'ends_at' THEN (b->>'ends_at')::timestamptz ELSE l.ends_at END,
            percent_off_bp = CASE WHEN b ? 'percent_off_bp' THEN (b->>'percent_off_bp')::int ELSE l.percent_off_bp END,
            metadata = souq_merge_metadata(l.metadata, b)
         WHERE l.id = p_id RETURNING l.id INTO rid;
        IF rid IS NULL THEN
            RETURN NULL;
        END IF;
    END IF;
    IF b ? 'rules' THEN
        DELETE FROM price_list_rules WHERE price_list_id = rid;
        INSERT INTO price_list_rules (price_list_id, attribute, value)
        SELECT DISTINCT rid, r.key, v FROM jsonb_each(coalesce(b->'rules', '{}')) r, jsonb_array_elements_text(r.value) v;
    END IF;
    IF b ? 'product_ids' THEN
        DELETE FROM price_list_products WHERE price_list_id = rid;
        INSERT INTO price_list_products (price_list_id, product_id)
        SELECT DISTINCT rid, p FROM jsonb_array_elements_text(b->'product_ids') p;
    END IF;
    RETURN (SELECT souq_price_list_json(t) FROM price_lists t WHERE t.id = rid);
END $$;

-- upserts and removes prices of a list: {"upsert": [{variant_id, currency_code, amount, compare_at_amount, min_quantity}], "remove": [price ids]}
CREATE FUNCTION souq_price_list_prices(p_id text, b jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM price_lists WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    DELETE FROM prices WHERE price_list_id = p_id AND id = ANY (coalesce(souq_text_array(b->'remove'), '{}'));
    INSERT INTO prices (variant_id, price_list_id, currency_code, amount, compare_at_amount, min_quantity)
    SELECT p->>'variant_id', p_id, lower(p->>'currency_code'), (p->>'amount')::bigint, (p->>'compare_at_amount')::bigint,
           coalesce((p->>'min_quantity')::int, 1)
      FROM jsonb_array_elements(coalesce(b->'upsert', '[]')) p
    ON CONFLICT (variant_id, coalesce(price_list_id, ''), currency_code, min_quantity)
    DO UPDATE SET amount = EXCLUDED.amount, compare_at_amount = EXCLUDED.compare_at_amount;
    RETURN p_id;
END $$;
