-- 0011_catalog_fixes.sql: fixes to the catalog found by the API tests (tests/api/products.test.mjs and
-- storefront.test.mjs). Functions of 0005/0006 are replaced here; earlier files stay as they were.

-- A handle derived from a title that another product has gets the first free suffix (-2, -3, ...); a handle the
-- client gives is taken as it is (409 already-exists when it is taken). NULL stays NULL (a title without letters
-- or digits: the client must give a handle, 422 at /handle).
CREATE FUNCTION souq_free_handle(base text) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    n int := 2;
    h text := base;
BEGIN
    IF base IS NULL THEN
        RETURN NULL;
    END IF;
    WHILE EXISTS (SELECT 1 FROM products WHERE handle = h) LOOP
        h := trim(BOTH '-' FROM left(base, 128 - length(n::text) - 1)) || '-' || n;
        n := n + 1;
    END LOOP;
    RETURN h;
END $$;

-- A violation in a nested variant names the variant: the error is re-raised with HINT = its JSON pointer. The
-- caller (p_actor) is recorded in the stock ledger entries of the initial stock.
CREATE FUNCTION souq_product_save(p_id text, b jsonb, p_etag text, p_actor text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    rid text;
    cur products;
    o jsonb;
    oid text;
    i int := 0;
    bad text;
    e_state text;
    e_msg text;
    e_detail text;
    e_constraint text;
    e_column text;
    e_table text;
BEGIN
    IF p_id IS NOT NULL THEN
        SELECT * INTO cur FROM products t WHERE t.id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        PERFORM souq_check_etag(souq_product_json(cur), p_etag);
        UPDATE products p SET
            title = CASE WHEN b ? 'title' THEN b->>'title' ELSE p.title END,
            handle = CASE WHEN b ? 'handle' THEN b->>'handle' ELSE p.handle END,
            subtitle = CASE WHEN b ? 'subtitle' THEN b->>'subtitle' ELSE p.subtitle END,
            description = CASE WHEN b ? 'description' THEN b->>'description' ELSE p.description END,
            status = CASE WHEN b ? 'status' THEN b->>'status' ELSE p.status END,
            type = CASE WHEN b ? 'type' THEN b->>'type' ELSE p.type END,
            brand = CASE WHEN b ? 'brand' THEN b->>'brand' ELSE p.brand END,
            tags = CASE WHEN b ? 'tags' THEN coalesce(souq_text_array(b->'tags'), '{}') ELSE p.tags END,
            seo_title = CASE WHEN b->'seo' ? 'title' THEN b->'seo'->>'title' ELSE p.seo_title END,
            seo_description = CASE WHEN b->'seo' ? 'description' THEN b->'seo'->>'description' ELSE p.seo_description END,
            metadata = souq_merge_metadata(p.metadata, b),
            version = p.version + 1
         WHERE p.id = p_id RETURNING p.id INTO rid;
    ELSE
        INSERT INTO products (title, handle, subtitle, description, status, type, brand, tags, seo_title, seo_description, metadata)
        VALUES (b->>'title', coalesce(b->>'handle', souq_free_handle(souq_slug(b->>'title'))), b->>'subtitle', b->>'description',
                coalesce(b->>'status', 'draft'), b->>'type', b->>'brand', coalesce(souq_text_array(b->'tags'), '{}'),
                b->'seo'->>'title', b->'seo'->>'description', jsonb_strip_nulls(coalesce(b->'metadata', '{}')))
        RETURNING id INTO rid;
        FOR o IN SELECT * FROM jsonb_array_elements(coalesce(b->'options', '[]')) LOOP
            INSERT INTO product_options (product_id, title, rank) VALUES (rid, o->>'title', i) RETURNING id INTO oid;
            INSERT INTO product_option_values (option_id, value, rank)
            SELECT oid, v, ord - 1 FROM jsonb_array_elements_text(o->'values') WITH ORDINALITY AS x(v, ord);
            i := i + 1;
        END LOOP;
        i := 0;
        BEGIN
            FOR o IN SELECT * FROM jsonb_array_elements(coalesce(b->'variants', '[]')) LOOP
                PERFORM souq_variant_write(rid, NULL, o || jsonb_build_object('rank', coalesce((o->>'rank')::int, i)), format('/variants/%s', i), p_actor);
                i := i + 1;
            END LOOP;
        EXCEPTION WHEN integrity_constraint_violation THEN
            -- the same error, saying which variant of the body broke the rule (core/db reads the hint)
            GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT, e_detail = PG_EXCEPTION_DETAIL,
                                    e_constraint = CONSTRAINT_NAME, e_column = COLUMN_NAME, e_table = TABLE_NAME;
            RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_msg, DETAIL = e_detail, CONSTRAINT = e_constraint,
                                  COLUMN = e_column, TABLE = e_table, HINT = format('/variants/%s', i);
        END;
        IF NOT b ? 'sales_channel_ids' THEN
            INSERT INTO product_sales_channels (product_id, sales_channel_id) SELECT rid, id FROM sales_channels WHERE is_default;
        END IF;
    END IF;
    IF b ? 'sales_channel_ids' THEN
        DELETE FROM product_sales_channels WHERE product_id = rid;
        INSERT INTO product_sales_channels (product_id, sales_channel_id) SELECT DISTINCT rid, x FROM jsonb_array_elements_text(b->'sales_channel_ids') x;
    END IF;
    IF b ? 'category_ids' THEN
        DELETE FROM product_categories WHERE product_id = rid;
        INSERT INTO product_categories (product_id, category_id) SELECT DISTINCT rid, x FROM jsonb_array_elements_text(b->'category_ids') x;
    END IF;
    IF b ? 'collection_ids' THEN
        SELECT x INTO bad FROM jsonb_array_elements_text(b->'collection_ids') x JOIN collections c ON c.id = x WHERE c.kind <> 'manual' LIMIT 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ409', MESSAGE = format('Collection %s follows its rules; products cannot be added to it by hand.', bad);
        END IF;
        DELETE FROM collection_products WHERE product_id = rid;
        INSERT INTO collection_products (collection_id, product_id) SELECT DISTINCT x, rid FROM jsonb_array_elements_text(b->'collection_ids') x;
    END IF;
    IF b ? 'media' THEN
        DELETE FROM product_media WHERE product_id = rid;
        INSERT INTO product_media (product_id, url, alt, rank)
        SELECT rid, m->>'url', m->>'alt', ord - 1 FROM jsonb_array_elements(b->'media') WITH ORDINALITY AS x(m, ord);
    END IF;
    RETURN (SELECT souq_product_json(t) FROM products t WHERE t.id = rid);
END $$;

CREATE OR REPLACE FUNCTION souq_product_save(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE sql AS $$
    SELECT souq_product_save(p_id, b, p_etag, NULL)
$$;

-- Admin search (q) also finds a product by the SKU of one of its variants, case-insensitively.
CREATE INDEX product_variants_sku_lower_idx ON product_variants (lower(sku));

-- A variant id that is not the product's is a 404 that changes nothing (the product's version and updated_at
-- were bumped before the 404 was known).
CREATE OR REPLACE FUNCTION souq_variant_save(p_product text, p_variant text, b jsonb, p_actor text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE vid text;
BEGIN
    PERFORM 1 FROM products WHERE id = p_product FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    vid := souq_variant_write(p_product, p_variant, b, '/', p_actor);
    IF vid IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE products SET updated_at = now(), version = version + 1 WHERE id = p_product;
    RETURN (SELECT souq_variant_json(v) FROM product_variants v WHERE v.id = vid);
END $$;

-- Deletes a variant of a product; refused (SQ409) while stock of one of its inventory items is reserved: the
-- reservation would lose the variant it was made for. Returns the rows deleted (0: no such variant).
CREATE FUNCTION souq_variant_delete(p_product text, p_variant text) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM products WHERE id = p_product FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    PERFORM 1 FROM product_variants WHERE id = p_variant AND product_id = p_product FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    IF EXISTS (SELECT 1 FROM variant_inventory_items vii JOIN reservations r ON r.inventory_item_id = vii.inventory_item_id
                WHERE vii.variant_id = p_variant AND r.status = 'active') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ409',
            MESSAGE = 'The variant has active stock reservations (carts or orders); release them, or wait until they expire, first.';
    END IF;
    DELETE FROM product_variants WHERE id = p_variant;
    UPDATE products SET updated_at = now(), version = version + 1 WHERE id = p_product;
    RETURN 1;
END $$;

-- The locale a request gets: its preferences in order (the API sorts them by quality), each matched exactly, else
-- by its language (de-AT gets de), else by another region of its language the store offers (de gets de-CH);
-- the default when none matches. The store's own spelling of the locale is returned.
CREATE OR REPLACE FUNCTION souq_pick_locale(prefs text[]) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT m.l FROM unnest(prefs) WITH ORDINALITY AS u(l, o)
                       CROSS JOIN LATERAL (SELECT x.l, CASE WHEN x.l = u.l THEN 0 WHEN x.l = split_part(u.l, '-', 1) THEN 1 ELSE 2 END AS k
                                             FROM unnest(s.locales) WITH ORDINALITY AS x(l, xo)
                                            WHERE split_part(x.l, '-', 1) = split_part(u.l, '-', 1)
                                            ORDER BY 2, x.xo LIMIT 1) m
                      ORDER BY u.o LIMIT 1),
                    s.default_locale)
      FROM store_settings s
$$;

-- A translation's search vector falls back to the product's text for what it does not translate (and always
-- takes brand, type and tags from the product), so it is recomputed when that text changes.
CREATE FUNCTION souq_product_translations_reindex() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE product_translations SET search_vector = NULL WHERE product_id = NEW.id; -- the BEFORE trigger recomputes
    RETURN NULL;
END $$;
CREATE TRIGGER products_translations_reindex AFTER UPDATE OF title, subtitle, description, brand, type, tags ON products
    FOR EACH ROW WHEN (ROW(OLD.title, OLD.subtitle, OLD.description, OLD.brand, OLD.type, OLD.tags)
                   IS DISTINCT FROM ROW(NEW.title, NEW.subtitle, NEW.description, NEW.brand, NEW.type, NEW.tags))
    EXECUTE FUNCTION souq_product_translations_reindex();

-- What storefronts see of the category tree: a category is visible when it and all its ancestors are active
-- (the tree of /v1/store/categories). Products show only visible categories; a filter by a category (id or
-- handle) takes it and its visible descendants, and a hidden or unknown category has no products.
CREATE FUNCTION souq_category_visible(p_id text) RETURNS boolean LANGUAGE sql STABLE AS $$
    WITH RECURSIVE up(id, parent_id, is_active, depth) AS (
        SELECT c.id, c.parent_id, c.is_active, 0 FROM categories c WHERE c.id = p_id
        UNION ALL
        SELECT c.id, c.parent_id, c.is_active, up.depth + 1 FROM categories c JOIN up ON c.id = up.parent_id WHERE up.depth < 32)
    SELECT EXISTS (SELECT 1 FROM up) AND bool_and(up.is_active) FROM up
$$;

CREATE FUNCTION souq_category_subtree(p_key text) RETURNS SETOF text LANGUAGE sql STABLE AS $$
    WITH RECURSIVE d(id, depth) AS (
        SELECT c.id, 0 FROM categories c WHERE (c.id = p_key OR c.handle = p_key) AND souq_category_visible(c.id)
        UNION
        SELECT c.id, d.depth + 1 FROM categories c JOIN d ON c.parent_id = d.id WHERE c.is_active AND d.depth < 32)
    SELECT id FROM d
$$;

-- Publishable keys are cached per server thread; disabling or enabling a sales channel flushes those caches
-- (as revoking a key does), so a disabled channel's keys stop browsing at once.
CREATE FUNCTION souq_sales_channels_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('souq', 'api_keys');
    RETURN NULL;
END $$;
CREATE TRIGGER sales_channels_notify AFTER UPDATE OF disabled_at ON sales_channels
    FOR EACH ROW WHEN ((OLD.disabled_at IS NULL) <> (NEW.disabled_at IS NULL)) EXECUTE FUNCTION souq_sales_channels_notify();
