-- 0006_translations.sql: the store's locales and product translations as API resources.

CREATE FUNCTION souq_store_json(s store_settings) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('object', 'store', 'default_locale', s.default_locale, 'locales', to_json(s.locales), 'updated_at', s.updated_at)
$$;

CREATE FUNCTION souq_store_save(b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    cur store_settings;
    v_locales text[];
    v_default text;
BEGIN
    SELECT * INTO cur FROM store_settings FOR UPDATE;
    PERFORM souq_check_etag(souq_store_json(cur), p_etag);
    v_locales := CASE WHEN b ? 'locales' THEN ARRAY(SELECT DISTINCT x FROM jsonb_array_elements_text(b->'locales') x ORDER BY 1)
                      ELSE cur.locales END;
    v_default := coalesce(b->>'default_locale', cur.default_locale);
    IF v_default <> ALL (v_locales) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('default_locale %s must be one of locales.', v_default);
    END IF;
    UPDATE store_settings SET locales = v_locales, default_locale = v_default, updated_at = now();
    RETURN (SELECT souq_store_json(s) FROM store_settings s);
END $$;

CREATE FUNCTION souq_product_translation_json(p_product text, p_locale text) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('object', 'product_translation', 'product_id', p_product, 'locale', p_locale,
        'title', t.title, 'subtitle', t.subtitle, 'description', t.description,
        'seo', json_build_object('title', t.seo_title, 'description', t.seo_description),
        'variants', coalesce((SELECT json_object_agg(vt.variant_id, vt.title ORDER BY vt.variant_id) FROM variant_translations vt
                                JOIN product_variants v ON v.id = vt.variant_id WHERE v.product_id = p_product AND vt.locale = p_locale), '{}'::json),
        'options', coalesce((SELECT json_object_agg(o.id, json_build_object('title', ot.title,
                               'values', coalesce((SELECT json_object_agg(ov.value, ovt.value ORDER BY ov.rank, ov.id) FROM product_option_values ov
                                  JOIN option_value_translations ovt ON ovt.option_value_id = ov.id AND ovt.locale = p_locale
                                  WHERE ov.option_id = o.id), '{}'::json)) ORDER BY o.rank, o.id)
                              FROM product_options o LEFT JOIN option_translations ot ON ot.option_id = o.id AND ot.locale = p_locale
                             WHERE o.product_id = p_product), '{}'::json))
      FROM (SELECT 1) one LEFT JOIN product_translations t ON t.product_id = p_product AND t.locale = p_locale
     WHERE EXISTS (SELECT 1 FROM products WHERE id = p_product)
$$;

-- Replaces the translation of a product into a locale the store offers. Variant and option keys are ids of
-- the product's own variants and options; option values are keyed by their default-locale value.
CREATE FUNCTION souq_product_translation_save(p_product text, p_locale text, b jsonb) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    k record;
    bad text;
BEGIN
    PERFORM 1 FROM products WHERE id = p_product FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM store_settings WHERE p_locale = ANY (locales)) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('The store does not offer locale %s; add it to the store''s locales first.', p_locale);
    END IF;
    IF (SELECT default_locale FROM store_settings) = p_locale THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = 'The default locale is the product itself; change the product instead.';
    END IF;
    SELECT x.key INTO bad FROM jsonb_each(coalesce(b->'variants', '{}')) x
     WHERE NOT EXISTS (SELECT 1 FROM product_variants v WHERE v.id = x.key AND v.product_id = p_product) LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('%s is not a variant of the product.', bad);
    END IF;
    SELECT x.key INTO bad FROM jsonb_each(coalesce(b->'options', '{}')) x
     WHERE NOT EXISTS (SELECT 1 FROM product_options o WHERE o.id = x.key AND o.product_id = p_product) LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('%s is not an option of the product.', bad);
    END IF;
    INSERT INTO product_translations (product_id, locale, title, subtitle, description, seo_title, seo_description)
    VALUES (p_product, p_locale, b->>'title', b->>'subtitle', b->>'description', b->'seo'->>'title', b->'seo'->>'description')
    ON CONFLICT (product_id, locale) DO UPDATE SET title = EXCLUDED.title, subtitle = EXCLUDED.subtitle,
        description = EXCLUDED.description, seo_title = EXCLUDED.seo_title, seo_description = EXCLUDED.seo_description;
    DELETE FROM variant_translations vt USING product_variants v WHERE vt.variant_id = v.id AND v.product_id = p_product AND vt.locale = p_locale;
    INSERT INTO variant_translations (variant_id, locale, title) SELECT x.key, p_locale, x.value FROM jsonb_each_text(coalesce(b->'variants', '{}')) x;
    DELETE FROM option_translations ot USING product_options o WHERE ot.option_id = o.id AND o.product_id = p_product AND ot.locale = p_locale;
    DELETE FROM option_value_translations ovt USING product_option_values ov, product_options o
     WHERE ovt.option_value_id = ov.id AND ov.option_id = o.id AND o.product_id = p_product AND ovt.locale = p_locale;
    FOR k IN SELECT x.key, x.value FROM jsonb_each(coalesce(b->'options', '{}')) x LOOP
        IF k.value ? 'title' AND jsonb_typeof(k.value->'title') = 'string' THEN
            INSERT INTO option_translations (option_id, locale, title) VALUES (k.key, p_locale, k.value->>'title');
        END IF;
        INSERT INTO option_value_translations (option_value_id, locale, value)
        SELECT ov.id, p_locale, v.value FROM jsonb_each_text(coalesce(k.value->'values', '{}')) v
          JOIN product_option_values ov ON ov.option_id = k.key AND ov.value = v.key;
    END LOOP;
    RETURN souq_product_translation_json(p_product, p_locale);
END $$;
