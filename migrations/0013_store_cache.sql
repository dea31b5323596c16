-- 0013_store_cache.sql: storefront reads are cached in each server thread (core/storefront.h). Any change to
-- what a storefront sees, by any writer (the API, imports, the reservation sweeper, SQL by hand, another node),
-- tells every server through NOTIFY souq 'catalog' when it commits; the servers then drop what they cached.
-- One notification per statement (and PostgreSQL folds repeats within a transaction).
CREATE FUNCTION souq_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('souq', 'catalog');
    RETURN NULL;
END $$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['products', 'product_variants', 'product_options', 'product_option_values',
        'variant_option_values', 'product_media', 'product_translations', 'variant_translations', 'option_translations',
        'option_value_translations', 'product_sales_channels', 'product_categories', 'categories',
        'category_translations', 'collections', 'collection_products', 'collection_translations', 'prices',
        'price_lists', 'price_list_rules', 'price_list_products', 'product_price_index', 'inventory_items',
        'variant_inventory_items', 'inventory_levels', 'stock_locations', 'sales_channel_locations', 'sales_channels',
        'regions', 'region_countries', 'currencies', 'store_settings']
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION souq_catalog_changed()', t || '_catalog_changed', t);
    END LOOP;
END $$;
