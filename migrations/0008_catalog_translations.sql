-- 0008_catalog_translations.sql: translations of categories and collections as API resources (products: 0006).

-- A locale a translation may be written in: one the store offers, other than the default (the base rows).
CREATE FUNCTION souq_check_translation_locale(p_locale text) RETURNS void LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM store_settings WHERE p_locale = ANY (locales)) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('The store does not offer locale %s; add it to the store''s locales first.', p_locale);
    END IF;
    IF (SELECT default_locale FROM store_settings) = p_locale THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = 'The default locale is the resource itself; change it instead.';
    END IF;
END $$;

CREATE FUNCTION souq_category_translation_json(p_id text, p_locale text) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('object', 'category_translation', 'category_id', c.id, 'locale', p_locale,
                             'name', t.name, 'description', t.description)
      FROM categories c LEFT JOIN category_translations t ON t.category_id = c.id AND t.locale = p_locale
     WHERE c.id = p_id
$$;

CREATE FUNCTION souq_category_translation_save(p_id text, p_locale text, b jsonb) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM categories WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM souq_check_translation_locale(p_locale);
    INSERT INTO category_translations (category_id, locale, name, description) VALUES (p_id, p_locale, b->>'name', b->>'description')
    ON CONFLICT (category_id, locale) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description;
    UPDATE categories SET updated_at = now() WHERE id = p_id;
    RETURN souq_category_translation_json(p_id, p_locale);
END $$;

CREATE FUNCTION souq_collection_translation_json(p_id text, p_locale text) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('object', 'collection_translation', 'collection_id', c.id, 'locale', p_locale,
                             'title', t.title, 'description', t.description)
      FROM collections c LEFT JOIN collection_translations t ON t.collection_id = c.id AND t.locale = p_locale
     WHERE c.id = p_id
$$;

CREATE FUNCTION souq_collection_translation_save(p_id text, p_locale text, b jsonb) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM collections WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM souq_check_translation_locale(p_locale);
    INSERT INTO collection_translations (collection_id, locale, title, description) VALUES (p_id, p_locale, b->>'title', b->>'description')
    ON CONFLICT (collection_id, locale) DO UPDATE SET title = EXCLUDED.title, description = EXCLUDED.description;
    UPDATE collections SET updated_at = now() WHERE id = p_id;
    RETURN souq_collection_translation_json(p_id, p_locale);
END $$;
