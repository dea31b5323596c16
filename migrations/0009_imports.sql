-- 0009_imports.sql: bulk product imports (CSV or NDJSON, processed in the background in small batches, one
-- savepoint per product so a bad product is reported and skipped, never half-written) and the CSV export.
-- The upload is parsed and validated by the API (core/import.c) into one item per product; an item is deleted
-- once processed, so an import that was interrupted (restart, crash) resumes with what is left.

CREATE TABLE imports (
    id                 text PRIMARY KEY DEFAULT souq_id('imp'),
    format             text NOT NULL CHECK (format IN ('csv', 'ndjson')),
    filename           text,
    status             text NOT NULL DEFAULT 'queued'
                       CHECK (status IN ('queued', 'running', 'succeeded', 'partially_succeeded', 'failed')),
    rows_total         integer NOT NULL DEFAULT 0,
    rows_done          integer NOT NULL DEFAULT 0,
    products_total     integer NOT NULL DEFAULT 0,
    products_created   integer NOT NULL DEFAULT 0,
    products_updated   integer NOT NULL DEFAULT 0,
    products_unchanged integer NOT NULL DEFAULT 0,
    products_failed    integer NOT NULL DEFAULT 0,
    errors             jsonb NOT NULL DEFAULT '[]',  -- [{row, column | pointer, code, message}], at most 1000
    errors_total       integer NOT NULL DEFAULT 0,   -- also those past the first 1000
    created_by         text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz,
    finished_at        timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX imports_pending ON imports (created_at, id) WHERE status IN ('queued', 'running');
CREATE TRIGGER imports_touch BEFORE UPDATE ON imports FOR EACH ROW EXECUTE FUNCTION souq_touch();

-- One product of an import, validated; deleted when processed.
CREATE TABLE import_items (
    import_id    text NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    seq          integer NOT NULL,
    first_row    integer NOT NULL,      -- CSV record (the header is row 1) or NDJSON line of the product
    rows         integer NOT NULL,      -- how many rows of the file it spans (progress)
    variant_rows jsonb,                 -- CSV: the row of each variant (errors point at it)
    body         jsonb NOT NULL,        -- the product in the admin create shape
    PRIMARY KEY (import_id, seq)
);

CREATE FUNCTION souq_import_json(i imports) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', i.id, 'object', 'import', 'format', i.format, 'filename', i.filename, 'status', i.status,
        'rows_total', i.rows_total, 'rows_done', i.rows_done, 'products_total', i.products_total,
        'products_created', i.products_created, 'products_updated', i.products_updated,
        'products_unchanged', i.products_unchanged, 'products_failed', i.products_failed,
        'errors', i.errors, 'errors_total', i.errors_total, 'created_by', i.created_by,
        'created_at', i.created_at, 'started_at', i.started_at, 'finished_at', i.finished_at)
$$;

-- A new import: items are the validated products ([{first_row, rows, variant_rows, body}]), errors those rows
-- that failed validation (their products are skipped), rows_failed how many rows those were.
CREATE FUNCTION souq_import_create(p_format text, p_filename text, p_actor text, p_rows_total int, p_rows_failed int,
                                   p_products_failed int, p_errors jsonb, p_items jsonb) RETURNS json LANGUAGE plpgsql AS $$
DECLARE imp imports;
BEGIN
    INSERT INTO imports (format, filename, created_by, rows_total, rows_done, products_total, products_failed, errors, errors_total)
    VALUES (p_format, p_filename, p_actor, p_rows_total, p_rows_failed, jsonb_array_length(p_items) + p_products_failed,
            p_products_failed, (SELECT coalesce(jsonb_agg(e ORDER BY o), '[]') FROM jsonb_array_elements(p_errors) WITH ORDINALITY x(e, o) WHERE o <= 1000),
            jsonb_array_length(p_errors))
    RETURNING * INTO imp;
    INSERT INTO import_items (import_id, seq, first_row, rows, variant_rows, body)
    SELECT imp.id, o::int, (x->>'first_row')::int, (x->>'rows')::int, nullif(x->'variant_rows', 'null'), x->'body'
      FROM jsonb_array_elements(p_items) WITH ORDINALITY t(x, o);
    PERFORM pg_notify('souq', 'imports'); -- wakes the worker (thread 0 of each node) at once
    IF jsonb_array_length(p_items) = 0 THEN
        UPDATE imports SET status = 'failed', rows_done = rows_total, started_at = now(), finished_at = now() WHERE id = imp.id
        RETURNING * INTO imp;
    END IF;
    RETURN souq_import_json(imp);
END $$;

-- What a product is, for "did this import change anything": its JSON without timestamps, plus its stock.
CREATE FUNCTION souq_import_fingerprint(p_product text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT regexp_replace(souq_product_json(p)::text, '"(updated_at|created_at)" *: *"[^"]*"', '', 'g')
           || coalesce((SELECT string_agg(l.inventory_item_id || '@' || l.location_id || '=' || l.on_hand, ','
                                          ORDER BY l.inventory_item_id, l.location_id)
                          FROM product_variants v JOIN variant_inventory_items vi ON vi.variant_id = v.id
                          JOIN inventory_levels l ON l.inventory_item_id = vi.inventory_item_id
                         WHERE v.product_id = p.id), '')
      FROM products p WHERE p.id = p_product
$$;

-- Upserts one product by handle (variants by SKU): creates what is missing, changes what is given, never
-- deletes (variants, prices and stock levels not in the body stay). Prices are set per currency and
-- min_quantity; stock (inventory) sets on_hand at a location (a count; a receipt for a new variant).
-- Returns 'created', 'updated', or raises SQNOP when nothing changed (the caller rolls the savepoint back).
CREATE FUNCTION souq_import_product(b jsonb, p_actor text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    p_handle text := coalesce(b->>'handle', souq_slug(b->>'title'));
    pid text;
    before text;
    o jsonb;
    v jsonb;
    s jsonb;
    val text;
    oid text;
    vid text;
    owner text;
    item text;
    cur int;
    i int := 0;
    saved boolean;
BEGIN
    IF p_handle IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/handle: a product needs a handle or a title.';
    END IF;
    SELECT id INTO pid FROM products WHERE products.handle = p_handle FOR UPDATE;
    IF pid IS NULL THEN
        IF NOT b ? 'title' THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/title: %s is a new product, so it needs a title.', p_handle);
        END IF;
        FOR v IN SELECT * FROM jsonb_array_elements(coalesce(b->'variants', '[]')) LOOP
            SELECT p.handle INTO owner FROM product_variants pv JOIN products p ON p.id = pv.product_id WHERE pv.sku = v->>'sku';
            IF owner IS NOT NULL THEN
                RAISE EXCEPTION USING ERRCODE = 'SQ409', MESSAGE = format('/variants/%s/sku: SKU %s belongs to product %s.', i, v->>'sku', owner);
            END IF;
            i := i + 1;
        END LOOP;
        PERFORM souq_product_save(NULL, b || jsonb_build_object('handle', p_handle), NULL);
        RETURN 'created';
    END IF;
    before := souq_import_fingerprint(pid);
    saved := EXISTS (SELECT 1 FROM jsonb_object_keys(b - 'options' - 'variants' - 'handle') LIMIT 1);
    IF saved THEN
        PERFORM souq_product_save(pid, b - 'options' - 'variants' - 'handle', NULL);
    END IF;
    -- options and values that are new to the product are appended
    FOR o IN SELECT * FROM jsonb_array_elements(coalesce(b->'options', '[]')) LOOP
        SELECT id INTO oid FROM product_options WHERE product_id = pid AND title = o->>'title';
        IF oid IS NULL THEN
            INSERT INTO product_options (product_id, title, rank)
            VALUES (pid, o->>'title', (SELECT coalesce(max(rank) + 1, 0) FROM product_options WHERE product_id = pid)) RETURNING id INTO oid;
        END IF;
        FOR val IN SELECT * FROM jsonb_array_elements_text(o->'values') LOOP
            INSERT INTO product_option_values (option_id, value, rank)
            SELECT oid, val, (SELECT coalesce(max(rank) + 1, 0) FROM product_option_values WHERE option_id = oid)
             WHERE NOT EXISTS (SELECT 1 FROM product_option_values WHERE option_id = oid AND value = val);
        END LOOP;
    END LOOP;
    i := 0;
    FOR v IN SELECT * FROM jsonb_array_elements(coalesce(b->'variants', '[]')) LOOP
        SELECT pv.id, p.handle INTO vid, owner FROM product_variants pv JOIN products p ON p.id = pv.product_id WHERE pv.sku = v->>'sku';
        IF vid IS NOT NULL AND owner <> p_handle THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ409', MESSAGE = format('/variants/%s/sku: SKU %s belongs to product %s.', i, v->>'sku', owner);
        END IF;
        IF vid IS NULL THEN
            PERFORM souq_variant_write(pid, NULL, (v - 'prices' - 'rank')
                || jsonb_build_object('rank', (SELECT count(*) FROM product_variants WHERE product_id = pid)), format('/variants/%s', i), p_actor);
            SELECT id INTO vid FROM product_variants WHERE sku = v->>'sku';
        ELSE
            IF EXISTS (SELECT 1 FROM jsonb_object_keys(v - 'prices' - 'inventory' - 'low_stock_threshold' - 'sku') LIMIT 1) THEN
                PERFORM souq_variant_write(pid, vid, v - 'prices' - 'inventory' - 'low_stock_threshold' - 'sku', format('/variants/%s', i), p_actor);
            END IF;
            SELECT inventory_item_id INTO item FROM variant_inventory_items WHERE variant_id = vid ORDER BY inventory_item_id LIMIT 1;
            FOR s IN SELECT * FROM jsonb_array_elements(coalesce(v->'inventory', '[]')) LOOP
                SELECT on_hand INTO cur FROM inventory_levels WHERE inventory_item_id = item AND location_id = s->>'location_id';
                IF cur IS DISTINCT FROM (s->>'quantity')::int THEN
                    PERFORM souq_inventory_count(item, s->>'location_id', (s->>'quantity')::int, 'import', p_actor);
                END IF;
            END LOOP;
        END IF;
        -- prices: set what is given, keep the rest (other currencies, volume tiers, a compare_at not given)
        FOR s IN SELECT * FROM jsonb_array_elements(coalesce(v->'prices', '[]')) LOOP
            UPDATE prices pr SET amount = (s->>'amount')::bigint,
                   compare_at_amount = CASE WHEN s ? 'compare_at_amount' THEN (s->>'compare_at_amount')::bigint ELSE pr.compare_at_amount END
             WHERE pr.variant_id = vid AND pr.price_list_id IS NULL AND pr.currency_code = lower(s->>'currency_code')
               AND pr.min_quantity = coalesce((s->>'min_quantity')::int, 1)
               AND (pr.amount, pr.compare_at_amount) IS DISTINCT FROM
                   ((s->>'amount')::bigint, CASE WHEN s ? 'compare_at_amount' THEN (s->>'compare_at_amount')::bigint ELSE pr.compare_at_amount END);
            INSERT INTO prices (variant_id, currency_code, amount, compare_at_amount, min_quantity)
            SELECT vid, lower(s->>'currency_code'), (s->>'amount')::bigint, (s->>'compare_at_amount')::bigint, coalesce((s->>'min_quantity')::int, 1)
            ON CONFLICT (variant_id, coalesce(price_list_id, ''), currency_code, min_quantity) DO NOTHING;
        END LOOP;
        i := i + 1;
    END LOOP;
    IF souq_import_fingerprint(pid) = before THEN
        RAISE EXCEPTION USING ERRCODE = 'SQNOP', MESSAGE = 'unchanged';
    END IF;
    IF NOT saved THEN -- only variants changed: the product moves on as with the variant endpoints
        UPDATE products SET updated_at = now(), version = version + 1 WHERE id = pid;
    END IF;
    RETURN 'updated';
END $$;

-- A client-safe message for an error raised while importing one product.
CREATE FUNCTION souq_import_message(p_state text, p_constraint text, p_message text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_state LIKE 'SQ%' THEN p_message
        WHEN p_constraint = 'products_handle_key' THEN 'A product with this handle exists.'
        WHEN p_constraint = 'product_variants_sku_key' THEN 'A variant with this SKU exists.'
        WHEN p_constraint = 'prices_currency_code_fkey' THEN 'A currency is not loaded (run souq seed).'
        WHEN p_constraint = 'inventory_levels_location_id_fkey' THEN 'A stock location does not exist.'
        WHEN p_constraint = 'product_sales_channels_sales_channel_id_fkey' THEN 'A sales channel does not exist.'
        WHEN p_constraint = 'product_categories_category_id_fkey' THEN 'A category does not exist.'
        WHEN p_constraint = 'collection_products_collection_id_fkey' THEN 'A collection does not exist.'
        WHEN p_constraint = 'product_variants_tax_class_check' THEN 'tax_class must be lower-case letters, digits and underscores.'
        WHEN p_constraint IS NOT NULL AND p_constraint <> '' THEN 'The product breaks a rule of the catalog (' || p_constraint || ').'
        ELSE 'The product could not be saved.' END
$$;

-- Processes up to p_limit products of one import (p_import, or the oldest pending one nobody else is working
-- on), each in its own subtransaction, stopping early once p_max_ms have passed (the connection serves
-- requests too). Returns the import's JSON plus "more" (products left), or NULL when there is nothing to do.
CREATE FUNCTION souq_import_step(p_import text, p_limit int, p_max_ms int) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    imp imports;
    it import_items;
    res text;
    st text;
    cons text;
    msg text;
    ptr text;
    vrow int;
    errs jsonb := '[]';
    c int := 0; u int := 0; n int := 0; f int := 0; done int := 0;
    left_ bigint;
    t0 timestamptz := clock_timestamp();
BEGIN
    SELECT * INTO imp FROM imports
     WHERE status IN ('queued', 'running') AND (p_import IS NULL OR id = p_import)
     ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    FOR it IN SELECT * FROM import_items WHERE import_id = imp.id ORDER BY seq LIMIT p_limit LOOP
        EXIT WHEN clock_timestamp() - t0 > make_interval(secs => p_max_ms / 1000.0);
        BEGIN
            res := souq_import_product(it.body, imp.created_by);
            IF res = 'created' THEN c := c + 1; ELSE u := u + 1; END IF;
        EXCEPTION
            WHEN SQLSTATE 'SQNOP' THEN
                n := n + 1;
            WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, cons = CONSTRAINT_NAME, msg = MESSAGE_TEXT;
                f := f + 1;
                msg := souq_import_message(st, cons, msg);
                ptr := substring(msg FROM '^(/[^: ]*)');
                vrow := (it.variant_rows->>(substring(ptr FROM '^/variants/(\d+)')::int))::int;
                errs := errs || (jsonb_build_object('row', coalesce(vrow, it.first_row), 'code', CASE st WHEN 'SQ422' THEN 'invalid_value' WHEN 'SQ409' THEN 'conflict' WHEN '23505' THEN 'taken' ELSE 'rejected' END,
                                                   'message', msg) || CASE WHEN ptr IS NOT NULL THEN jsonb_build_object('pointer', ptr) ELSE '{}' END
                                   -- CSV: the column of the few fields a pointer names one for
                                   || CASE WHEN it.variant_rows IS NOT NULL AND ptr ~ '^(/variants/\d+)?/(sku|barcode|weight_g|handle|title|status)$'
                                           THEN jsonb_build_object('column', substring(ptr FROM '([a-z_]+)$')) ELSE '{}' END);
        END;
        done := done + it.rows;
        DELETE FROM import_items WHERE import_id = it.import_id AND seq = it.seq;
    END LOOP;
    SELECT count(*) INTO left_ FROM import_items WHERE import_id = imp.id;
    UPDATE imports SET
        rows_done = rows_done + done,
        products_created = products_created + c, products_updated = products_updated + u,
        products_unchanged = products_unchanged + n, products_failed = products_failed + f,
        errors = CASE WHEN jsonb_array_length(errors) >= 1000 THEN errors
                      ELSE errors || (SELECT coalesce(jsonb_agg(e ORDER BY o), '[]') FROM jsonb_array_elements(errs) WITH ORDINALITY x(e, o)
                                        WHERE o <= 1000 - jsonb_array_length(imports.errors)) END,
        errors_total = errors_total + jsonb_array_length(errs),
        started_at = coalesce(started_at, now()),
        status = CASE WHEN left_ > 0 THEN 'running'
                      WHEN products_failed + f = 0 THEN 'succeeded'
                      WHEN products_created + c + products_updated + u + products_unchanged + n = 0 THEN 'failed'
                      ELSE 'partially_succeeded' END,
        finished_at = CASE WHEN left_ > 0 THEN NULL ELSE now() END
     WHERE id = imp.id RETURNING * INTO imp;
    RETURN (souq_import_json(imp)::jsonb || jsonb_build_object('more', left_ > 0))::json;
END $$;

-- ---- export ------------------------------------------------------------------------------------------------

-- One CSV field (RFC 4180): quoted when it holds a comma, a quote, a line break or edge spaces.
CREATE FUNCTION souq_csv_field(v text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN v IS NULL THEN ''
                WHEN v ~ '[",\r\n]' OR v ~ '^\s' OR v ~ '\s$' THEN '"' || replace(v, '"', '""') || '"'
                ELSE v END
$$;

-- The catalog as CSV lines (without line ends), header first: the format imports read. One row per variant
-- (a product without variants has one row); product columns on the first row of a handle only. Prices are
-- the base prices for quantity 1; stock is on_hand per location.
CREATE FUNCTION souq_export_products_csv() RETURNS SETOF text LANGUAGE plpgsql STABLE AS $$
DECLARE
    curs text[] := ARRAY(SELECT DISTINCT currency_code FROM prices WHERE price_list_id IS NULL AND min_quantity = 1 ORDER BY 1);
    locs text[] := ARRAY(SELECT id FROM stock_locations ORDER BY created_at, id);
    cols text := 'handle,title,subtitle,description,status,type,brand,tags,seo_title,seo_description,'
                 'option1_name,option1_value,option2_name,option2_value,option3_name,option3_value,sku,barcode,weight_g';
    x text;
BEGIN
    FOREACH x IN ARRAY curs LOOP cols := cols || ',price.' || x; END LOOP;
    FOREACH x IN ARRAY curs LOOP cols := cols || ',compare_at.' || x; END LOOP;
    FOREACH x IN ARRAY locs LOOP cols := cols || ',stock.' || x; END LOOP;
    RETURN NEXT cols;
    RETURN QUERY
    SELECT concat_ws(',', souq_csv_field(p.handle),
               CASE WHEN r.first THEN concat_ws(',', souq_csv_field(p.title), souq_csv_field(p.subtitle), souq_csv_field(p.description),
                   souq_csv_field(p.status), souq_csv_field(p.type), souq_csv_field(p.brand), souq_csv_field(array_to_string(p.tags, ', ')),
                   souq_csv_field(p.seo_title), souq_csv_field(p.seo_description)) ELSE ',,,,,,,,' END,
               (SELECT string_agg(souq_csv_field(o.title) || ',' || souq_csv_field(ov.value), ',' ORDER BY g.k)
                  FROM generate_series(1, 3) g(k)
                  LEFT JOIN LATERAL (SELECT po.id, po.title FROM product_options po WHERE po.product_id = p.id
                                      ORDER BY po.rank, po.id OFFSET g.k - 1 LIMIT 1) o ON true
                  LEFT JOIN LATERAL (SELECT pov.value FROM variant_option_values vov JOIN product_option_values pov ON pov.id = vov.option_value_id
                                      WHERE vov.variant_id = r.vid AND pov.option_id = o.id) ov ON true),
               souq_csv_field(v.sku), souq_csv_field(v.barcode), souq_csv_field(v.weight_g::text))
           || coalesce((SELECT string_agg(',' || coalesce((SELECT pr.amount::text FROM prices pr WHERE pr.variant_id = r.vid AND pr.price_list_id IS NULL
                                                             AND pr.min_quantity = 1 AND pr.currency_code = c.c), ''), '' ORDER BY c.o)
                          FROM unnest(curs) WITH ORDINALITY c(c, o)), '')
           || coalesce((SELECT string_agg(',' || coalesce((SELECT pr.compare_at_amount::text FROM prices pr WHERE pr.variant_id = r.vid AND pr.price_list_id IS NULL
                                                             AND pr.min_quantity = 1 AND pr.currency_code = c.c), ''), '' ORDER BY c.o)
                          FROM unnest(curs) WITH ORDINALITY c(c, o)), '')
           || coalesce((SELECT string_agg(',' || coalesce((SELECT l.on_hand::text FROM variant_inventory_items vi JOIN inventory_levels l
                                                             ON l.inventory_item_id = vi.inventory_item_id AND l.location_id = s.id
                                                           WHERE vi.variant_id = r.vid ORDER BY vi.inventory_item_id LIMIT 1), ''), '' ORDER BY s.o)
                          FROM unnest(locs) WITH ORDINALITY s(id, o)), '')
      FROM products p
      CROSS JOIN LATERAL (SELECT x.id AS vid, x.n = 1 AS first
                            FROM (SELECT pv.id, row_number() OVER (ORDER BY pv.rank, pv.id) AS n FROM product_variants pv WHERE pv.product_id = p.id
                                  UNION ALL SELECT NULL, 1 WHERE NOT EXISTS (SELECT 1 FROM product_variants WHERE product_id = p.id)) x
                           ORDER BY x.n) r
      LEFT JOIN product_variants v ON v.id = r.vid
     ORDER BY p.created_at, p.id, v.rank, v.id;
END $$;
