-- 0005_products_api.sql: the admin representation of products and variants, and their save functions.
-- A product is created whole (options, variants with prices and initial stock, media, channels,
-- categories, collections) by one call, so it is never half-written.

CREATE FUNCTION souq_variant_json(v product_variants) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', v.id, 'object', 'variant', 'product_id', v.product_id, 'title', v.title, 'sku', v.sku,
        'barcode', v.barcode,
        'options', coalesce((SELECT json_object_agg(o.title, ov.value ORDER BY o.rank, o.id)
                               FROM variant_option_values vov
                               JOIN product_option_values ov ON ov.id = vov.option_value_id
                               JOIN product_options o ON o.id = ov.option_id
                              WHERE vov.variant_id = v.id), '{}'::json),
        'weight_g', v.weight_g, 'length_mm', v.length_mm, 'width_mm', v.width_mm, 'height_mm', v.height_mm,
        'requires_shipping', v.requires_shipping, 'tax_class', v.tax_class, 'manage_inventory', v.manage_inventory,
        'allow_backorder', v.allow_backorder, 'rank', v.rank,
        'inventory_items', coalesce((SELECT json_agg(json_build_object('inventory_item_id', i.inventory_item_id,
                                                                       'required_quantity', i.required_quantity) ORDER BY i.inventory_item_id)
                                       FROM variant_inventory_items i WHERE i.variant_id = v.id), '[]'::json),
        'prices', coalesce((SELECT json_agg(json_build_object('id', p.id, 'currency_code', p.currency_code, 'amount', p.amount,
                                                              'compare_at_amount', p.compare_at_amount, 'min_quantity', p.min_quantity)
                                            ORDER BY p.currency_code, p.min_quantity)
                              FROM prices p WHERE p.variant_id = v.id AND p.price_list_id IS NULL), '[]'::json),
        'metadata', v.metadata, 'created_at', v.created_at, 'updated_at', v.updated_at)
$$;

CREATE FUNCTION souq_product_json(p products) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', p.id, 'object', 'product', 'title', p.title, 'handle', p.handle, 'subtitle', p.subtitle,
        'description', p.description, 'status', p.status, 'type', p.type, 'brand', p.brand, 'tags', to_json(p.tags),
        'seo', json_build_object('title', p.seo_title, 'description', p.seo_description),
        'sales_channel_ids', coalesce((SELECT json_agg(c.sales_channel_id ORDER BY c.sales_channel_id)
                                         FROM product_sales_channels c WHERE c.product_id = p.id), '[]'::json),
        'category_ids', coalesce((SELECT json_agg(c.category_id ORDER BY c.category_id) FROM product_categories c WHERE c.product_id = p.id), '[]'::json),
        'collection_ids', coalesce((SELECT json_agg(c.collection_id ORDER BY c.collection_id) FROM collection_products c WHERE c.product_id = p.id), '[]'::json),
        'media', coalesce((SELECT json_agg(json_build_object('id', m.id, 'url', m.url, 'alt', m.alt, 'rank', m.rank) ORDER BY m.rank, m.id)
                             FROM product_media m WHERE m.product_id = p.id), '[]'::json),
        'options', coalesce((SELECT json_agg(json_build_object('id', o.id, 'title', o.title,
                                  'values', (SELECT json_agg(ov.value ORDER BY ov.rank, ov.id) FROM product_option_values ov WHERE ov.option_id = o.id))
                                  ORDER BY o.rank, o.id)
                               FROM product_options o WHERE o.product_id = p.id), '[]'::json),
        'variants', coalesce((SELECT json_agg(souq_variant_json(v) ORDER BY v.rank, v.id) FROM product_variants v WHERE v.product_id = p.id), '[]'::json),
        'metadata', p.metadata, 'created_at', p.created_at, 'updated_at', p.updated_at)
$$;

-- A handle from a title: lower-case ASCII letters and digits joined by single dashes.
CREATE FUNCTION souq_slug(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT nullif(left(trim(BOTH '-' FROM regexp_replace(lower(t), '[^a-z0-9]+', '-', 'g')), 128), '')
$$;

-- Links a variant to the option values named in opts ({"Size": "M"}); every option of the product must be
-- given a value it declares, and no other variant of the product may have the same combination.
CREATE FUNCTION souq_variant_options(p_product text, p_variant text, opts jsonb, p_pointer text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    missing text;
    bad text;
BEGIN
    DELETE FROM variant_option_values WHERE variant_id = p_variant;
    SELECT o.title INTO missing FROM product_options o WHERE o.product_id = p_product AND NOT coalesce(opts, '{}') ? o.title LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('%s needs a value for option %s.', p_pointer, missing);
    END IF;
    SELECT k.key INTO bad FROM jsonb_each_text(coalesce(opts, '{}')) k
     WHERE NOT EXISTS (SELECT 1 FROM product_options o JOIN product_option_values ov ON ov.option_id = o.id
                        WHERE o.product_id = p_product AND o.title = k.key AND ov.value = k.value) LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('%s: %s is not an option of the product, or its value is not one of the option''s values.', p_pointer, bad);
    END IF;
    INSERT INTO variant_option_values (variant_id, option_value_id)
    SELECT p_variant, ov.id FROM jsonb_each_text(coalesce(opts, '{}')) k
      JOIN product_options o ON o.product_id = p_product AND o.title = k.key
      JOIN product_option_values ov ON ov.option_id = o.id AND ov.value = k.value;
    IF EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = p_product AND v.id <> p_variant
                 AND (SELECT array_agg(option_value_id ORDER BY option_value_id) FROM variant_option_values WHERE variant_id = v.id)
                     IS NOT DISTINCT FROM (SELECT array_agg(option_value_id ORDER BY option_value_id) FROM variant_option_values WHERE variant_id = p_variant)) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ409', MESSAGE = format('%s: another variant has the same options.', p_pointer);
    END IF;
END $$;

-- Replaces the base prices of a variant.
CREATE FUNCTION souq_variant_prices(p_variant text, p_prices jsonb) RETURNS void LANGUAGE sql AS $$
    DELETE FROM prices WHERE variant_id = p_variant AND price_list_id IS NULL
       AND (currency_code, min_quantity) NOT IN (SELECT lower(x->>'currency_code'), coalesce((x->>'min_quantity')::int, 1)
                                                   FROM jsonb_array_elements(p_prices) x);
    INSERT INTO prices (variant_id, currency_code, amount, compare_at_amount, min_quantity)
    SELECT p_variant, lower(x->>'currency_code'), (x->>'amount')::bigint, (x->>'compare_at_amount')::bigint, coalesce((x->>'min_quantity')::int, 1)
      FROM jsonb_array_elements(p_prices) x
    ON CONFLICT (variant_id, coalesce(price_list_id, ''), currency_code, min_quantity)
    DO UPDATE SET amount = EXCLUDED.amount, compare_at_amount = EXCLUDED.compare_at_amount;
$$;

-- Creates or updates one variant of a product from its body; returns its id.
CREATE FUNCTION souq_variant_write(p_product text, p_variant text, b jsonb, p_pointer text, p_actor text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    vid text := p_variant;
    item text;
    s jsonb;
BEGIN
    IF vid IS NULL THEN
        INSERT INTO product_variants (product_id, title, sku, barcode, weight_g, length_mm, width_mm, height_mm, requires_shipping,
                                      tax_class, manage_inventory, allow_backorder, rank, metadata)
        VALUES (p_product,
                coalesce(b->>'title', (SELECT string_agg(k.value, ' / ' ORDER BY o.rank) FROM jsonb_each_text(b->'options') k
                                         JOIN product_options o ON o.product_id = p_product AND o.title = k.key),
                         (SELECT title FROM products WHERE id = p_product)), b->>'sku', b->>'barcode', (b->>'weight_g')::int, (b->>'length_mm')::int,
                (b->>'width_mm')::int, (b->>'height_mm')::int, coalesce((b->>'requires_shipping')::boolean, true),
                coalesce(b->>'tax_class', 'standard'), coalesce((b->>'manage_inventory')::boolean, true),
                coalesce((b->>'allow_backorder')::boolean, false),
                coalesce((b->>'rank')::int, (SELECT count(*) FROM product_variants WHERE product_id = p_product)::int),
                jsonb_strip_nulls(coalesce(b->'metadata', '{}')))
        RETURNING id INTO vid;
        -- each variant gets its own inventory item (bundles link more items later)
        INSERT INTO inventory_items (sku, title, requires_shipping, low_stock_threshold)
        VALUES (b->>'sku', coalesce(b->>'title', b->>'sku'), coalesce((b->>'requires_shipping')::boolean, true), (b->>'low_stock_threshold')::int)
        ON CONFLICT (sku) DO NOTHING RETURNING id INTO item;
        IF item IS NULL THEN
            SELECT id INTO item FROM inventory_items WHERE sku = b->>'sku';
        END IF;
        INSERT INTO variant_inventory_items (variant_id, inventory_item_id) VALUES (vid, item);
        FOR s IN SELECT * FROM jsonb_array_elements(coalesce(b->'inventory', '[]')) LOOP
            PERFORM souq_inventory_adjust(item, s->>'location_id', (s->>'quantity')::int, 'receive', vid, 'initial stock', p_actor);
        END LOOP;
        PERFORM souq_variant_options(p_product, vid, coalesce(b->'options', '{}'), p_pointer);
    ELSE
        UPDATE product_variants v SET
            title = CASE WHEN b ? 'title' THEN b->>'title' ELSE v.title END,
            sku = CASE WHEN b ? 'sku' THEN b->>'sku' ELSE v.sku END,
            barcode = CASE WHEN b ? 'barcode' THEN b->>'barcode' ELSE v.barcode END,
            weight_g = CASE WHEN b ? 'weight_g' THEN (b->>'weight_g')::int ELSE v.weight_g END,
            length_mm = CASE WHEN b ? 'length_mm' THEN (b->>'length_mm')::int ELSE v.length_mm END,
            width_mm = CASE WHEN b ? 'width_mm' THEN (b->>'width_mm')::int ELSE v.width_mm END,
            height_mm = CASE WHEN b ? 'height_mm' THEN (b->>'height_mm')::int ELSE v.height_mm END,
            requires_shipping = CASE WHEN b ? 'requires_shipping' THEN (b->>'requires_shipping')::boolean ELSE v.requires_shipping END,
            tax_class = CASE WHEN b ? 'tax_class' THEN b->>'tax_class' ELSE v.tax_class END,
            manage_inventory = CASE WHEN b ? 'manage_inventory' THEN (b->>'manage_inventory')::boolean ELSE v.manage_inventory END,
            allow_backorder = CASE WHEN b ? 'allow_backorder' THEN (b->>'allow_backorder')::boolean ELSE v.allow_backorder END,
            rank = CASE WHEN b ? 'rank' THEN (b->>'rank')::int ELSE v.rank END,
            metadata = souq_merge_metadata(v.metadata, b)
         WHERE v.id = vid AND v.product_id = p_product RETURNING v.id INTO vid;
        IF vid IS NULL THEN
            RETURN NULL;
        END IF;
        IF b ? 'options' THEN
            PERFORM souq_variant_options(p_product, vid, b->'options', p_pointer);
        END IF;
    END IF;
    IF b ? 'prices' THEN
        PERFORM souq_variant_prices(vid, b->'prices');
    END IF;
    RETURN vid;
END $$;

CREATE FUNCTION souq_product_save(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    rid text;
    cur products;
    o jsonb;
    oid text;
    i int := 0;
    bad text;
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
        VALUES (b->>'title', coalesce(b->>'handle', souq_slug(b->>'title')), b->>'subtitle', b->>'description',
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
        FOR o IN SELECT * FROM jsonb_array_elements(coalesce(b->'variants', '[]')) LOOP
            PERFORM souq_variant_write(rid, NULL, o || jsonb_build_object('rank', coalesce((o->>'rank')::int, i)), format('/variants/%s', i), NULL);
            i := i + 1;
        END LOOP;
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

-- variant endpoints answer with the variant; p_variant NULL creates
CREATE FUNCTION souq_variant_save(p_product text, p_variant text, b jsonb, p_actor text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE vid text;
BEGIN
    PERFORM 1 FROM products WHERE id = p_product FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    vid := souq_variant_write(p_product, p_variant, b, '/', p_actor);
    UPDATE products SET updated_at = now(), version = version + 1 WHERE id = p_product;
    RETURN (SELECT souq_variant_json(v) FROM product_variants v WHERE v.id = vid);
END $$;

-- The lowest base price (quantity 1) of each product per currency: what price filters and price sorting use,
-- kept current by a trigger so both can use an index.
CREATE TABLE product_price_index (
    product_id    text NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    currency_code text NOT NULL,
    amount        bigint NOT NULL,
    PRIMARY KEY (product_id, currency_code)
);
CREATE INDEX product_price_index_sort ON product_price_index (currency_code, amount, product_id);

CREATE FUNCTION souq_product_price_reindex(p_product text, p_currency text) RETURNS void LANGUAGE sql AS $$
    WITH m AS (SELECT min(pr.amount) AS amount FROM prices pr JOIN product_variants v ON v.id = pr.variant_id
                WHERE v.product_id = p_product AND pr.currency_code = p_currency AND pr.price_list_id IS NULL AND pr.min_quantity = 1),
    d AS (DELETE FROM product_price_index i WHERE i.product_id = p_product AND i.currency_code = p_currency
           AND (SELECT amount FROM m) IS NULL)
    INSERT INTO product_price_index (product_id, currency_code, amount)
    SELECT p_product, p_currency, m.amount FROM m WHERE m.amount IS NOT NULL
    ON CONFLICT (product_id, currency_code) DO UPDATE SET amount = EXCLUDED.amount
$$;

CREATE FUNCTION souq_prices_reindex() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.price_list_id IS NULL THEN
        PERFORM souq_product_price_reindex(v.product_id, OLD.currency_code) FROM product_variants v WHERE v.id = OLD.variant_id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.price_list_id IS NULL THEN
        PERFORM souq_product_price_reindex(v.product_id, NEW.currency_code) FROM product_variants v WHERE v.id = NEW.variant_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER prices_reindex AFTER INSERT OR UPDATE OR DELETE ON prices FOR EACH ROW EXECUTE FUNCTION souq_prices_reindex();

-- a deleted variant takes its prices with it (by cascade, when the variant row is already gone)
CREATE FUNCTION souq_variants_reindex() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM souq_product_price_reindex(OLD.product_id, i.currency_code) FROM product_price_index i WHERE i.product_id = OLD.product_id;
    RETURN NULL;
END $$;
CREATE TRIGGER product_variants_reindex AFTER DELETE ON product_variants FOR EACH ROW EXECUTE FUNCTION souq_variants_reindex();

-- What a sales channel can sell of a variant now: for each of its items, the available stock in the channel's
-- active locations divided by the quantity the variant needs; the smallest of those.
CREATE FUNCTION souq_variant_available(p_variant text, p_channel text) RETURNS int LANGUAGE sql STABLE AS $$
    SELECT coalesce(min(coalesce(a.avail, 0) / vii.required_quantity), 0)::int
      FROM variant_inventory_items vii
      LEFT JOIN LATERAL (SELECT sum(l.available) AS avail FROM inventory_levels l
                           JOIN sales_channel_locations scl ON scl.location_id = l.location_id AND scl.sales_channel_id = p_channel
                           JOIN stock_locations s ON s.id = l.location_id AND s.is_active
                          WHERE l.inventory_item_id = vii.inventory_item_id) a ON true
     WHERE vii.variant_id = p_variant
$$;

-- The locale a request gets: the first of its preferences the store offers, else the default.
CREATE FUNCTION souq_pick_locale(prefs text[]) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT u.l FROM unnest(prefs) WITH ORDINALITY AS u(l, o) WHERE u.l = ANY (s.locales) ORDER BY u.o LIMIT 1),
                    (SELECT u.l FROM unnest(prefs) WITH ORDINALITY AS u(l, o)
                      WHERE split_part(u.l, '-', 1) = ANY (s.locales) ORDER BY u.o LIMIT 1),
                    s.default_locale)
      FROM store_settings s
$$;

-- The currency of a storefront request: the one asked for, else the region's, else the channel's default
-- region's, else the oldest region's.
CREATE FUNCTION souq_pick_currency(p_currency text, p_region text, p_channel text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(lower(p_currency), (SELECT currency_code FROM regions WHERE id = p_region),
                    (SELECT r.currency_code FROM sales_channels c JOIN regions r ON r.id = c.default_region_id WHERE c.id = p_channel),
                    (SELECT currency_code FROM regions ORDER BY created_at, id LIMIT 1))
$$;
