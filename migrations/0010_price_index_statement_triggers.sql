-- 0010_price_index_statement_triggers.sql: product_price_index is kept current once per statement, not once per row.
-- The row triggers of 0005 recomputed a (product, currency) for every price row written, so a bulk insert of many
-- prices of one product recomputed it again and again over a growing set (quadratic: 100k prices took hours).
-- These statement triggers read the changed rows from transition tables and recompute each affected
-- (product, currency) once, set-based. PostgreSQL allows transition tables only on single-event triggers, so
-- each event has its own trigger.

DROP TRIGGER IF EXISTS prices_reindex ON prices;
DROP TRIGGER IF EXISTS product_variants_reindex ON product_variants;
DROP FUNCTION IF EXISTS souq_prices_reindex();
DROP FUNCTION IF EXISTS souq_variants_reindex();

-- Recomputes the index rows of the given (product, currency) pairs (parallel arrays, duplicates allowed) from the
-- prices: the lowest base price of quantity 1 over the product's variants, or no row when there is none.
-- Rows are written in key order so concurrent statements lock them in the same order.
CREATE FUNCTION souq_product_prices_reindex(p_products text[], p_currencies text[]) RETURNS void LANGUAGE sql AS $$
    WITH k AS (SELECT DISTINCT u.product_id, u.currency_code FROM unnest(p_products, p_currencies) AS u(product_id, currency_code)
                WHERE u.product_id IS NOT NULL),
    m AS (SELECT k.product_id, k.currency_code, min(pr.amount) AS amount
            FROM k LEFT JOIN product_variants v ON v.product_id = k.product_id
            LEFT JOIN prices pr ON pr.variant_id = v.id AND pr.currency_code = k.currency_code
                               AND pr.price_list_id IS NULL AND pr.min_quantity = 1
           GROUP BY k.product_id, k.currency_code),
    d AS (DELETE FROM product_price_index i USING m
           WHERE i.product_id = m.product_id AND i.currency_code = m.currency_code AND m.amount IS NULL)
    INSERT INTO product_price_index (product_id, currency_code, amount)
    SELECT m.product_id, m.currency_code, m.amount FROM m
     WHERE m.amount IS NOT NULL AND EXISTS (SELECT 1 FROM products p WHERE p.id = m.product_id)
     ORDER BY m.product_id, m.currency_code
    ON CONFLICT (product_id, currency_code) DO UPDATE SET amount = EXCLUDED.amount
     WHERE product_price_index.amount <> EXCLUDED.amount
$$;

-- the pairs of base prices of quantity 1 among changed rows; a price whose variant is gone (deleted with it by
-- cascade) is handled by the variant trigger below
CREATE FUNCTION souq_prices_reindex_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM souq_product_prices_reindex(array_agg(v.product_id), array_agg(n.currency_code))
       FROM new_prices n JOIN product_variants v ON v.id = n.variant_id
      WHERE n.price_list_id IS NULL AND n.min_quantity = 1;
    RETURN NULL;
END $$;

CREATE FUNCTION souq_prices_reindex_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM souq_product_prices_reindex(array_agg(v.product_id), array_agg(x.currency_code))
       FROM (SELECT variant_id, currency_code, price_list_id, min_quantity FROM old_prices
             UNION SELECT variant_id, currency_code, price_list_id, min_quantity FROM new_prices) x
       JOIN product_variants v ON v.id = x.variant_id
      WHERE x.price_list_id IS NULL AND x.min_quantity = 1;
    RETURN NULL;
END $$;

CREATE FUNCTION souq_prices_reindex_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM souq_product_prices_reindex(array_agg(v.product_id), array_agg(o.currency_code))
       FROM old_prices o JOIN product_variants v ON v.id = o.variant_id
      WHERE o.price_list_id IS NULL AND o.min_quantity = 1;
    RETURN NULL;
END $$;

CREATE TRIGGER prices_reindex_ins AFTER INSERT ON prices REFERENCING NEW TABLE AS new_prices
    FOR EACH STATEMENT EXECUTE FUNCTION souq_prices_reindex_ins();
CREATE TRIGGER prices_reindex_upd AFTER UPDATE ON prices REFERENCING OLD TABLE AS old_prices NEW TABLE AS new_prices
    FOR EACH STATEMENT EXECUTE FUNCTION souq_prices_reindex_upd();
CREATE TRIGGER prices_reindex_del AFTER DELETE ON prices REFERENCING OLD TABLE AS old_prices
    FOR EACH STATEMENT EXECUTE FUNCTION souq_prices_reindex_del();

-- A deleted variant takes its prices with it (by cascade, when the variant row is already gone, so the price
-- triggers cannot name its product): recompute every indexed currency of the variants' products. A variant moved
-- to another product (not done by the API, but possible in SQL) changes both products.
CREATE FUNCTION souq_variants_reindex_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM souq_product_prices_reindex(array_agg(i.product_id), array_agg(i.currency_code))
       FROM product_price_index i WHERE i.product_id IN (SELECT product_id FROM old_variants);
    RETURN NULL;
END $$;

CREATE FUNCTION souq_variants_reindex_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM souq_product_prices_reindex(array_agg(x.product_id), array_agg(x.currency_code))
       FROM (SELECT o.product_id, pr.currency_code FROM old_variants o JOIN new_variants n ON n.id = o.id
               JOIN prices pr ON pr.variant_id = o.id AND pr.price_list_id IS NULL AND pr.min_quantity = 1
              WHERE o.product_id <> n.product_id
             UNION SELECT n.product_id, pr.currency_code FROM old_variants o JOIN new_variants n ON n.id = o.id
               JOIN prices pr ON pr.variant_id = n.id AND pr.price_list_id IS NULL AND pr.min_quantity = 1
              WHERE o.product_id <> n.product_id) x;
    RETURN NULL;
END $$;

CREATE TRIGGER product_variants_reindex_del AFTER DELETE ON product_variants REFERENCING OLD TABLE AS old_variants
    FOR EACH STATEMENT EXECUTE FUNCTION souq_variants_reindex_del();
CREATE TRIGGER product_variants_reindex_upd AFTER UPDATE ON product_variants
    REFERENCING OLD TABLE AS old_variants NEW TABLE AS new_variants
    FOR EACH STATEMENT EXECUTE FUNCTION souq_variants_reindex_upd();

-- The old single-pair function stays (other SQL may call it); it is the same computation.
