-- 0026_stock_notify.sql: a checkout no longer empties every storefront cache. 0013 notified 'catalog' after every
-- statement on inventory_levels, so each order's reservation (an UPDATE of reserved) flushed the read cache of
-- every server, and NOTIFY serializes the commits of the transactions that send it (PostgreSQL takes a global
-- lock for the notification queue at commit), which undid checkout's group commit.
-- Now a level notifies when what a shopper decides by changes at once: on_hand (staff adjustments, counts,
-- receipts, fulfilments) or a level selling out or coming back (available crossing zero). Reservations that
-- leave stock on both sides of zero do not; the quantities the storefront shows from its cache may then lag by
-- at most store_cache_max_age_s (5 s): thread 0 starts a new cache generation that often (api/server.c). Carts
-- and checkout always check the stock in the database.
DROP TRIGGER inventory_levels_catalog_changed ON inventory_levels;
CREATE TRIGGER inventory_levels_catalog_changed AFTER INSERT OR DELETE OR TRUNCATE ON inventory_levels
    FOR EACH STATEMENT EXECUTE FUNCTION souq_catalog_changed();
CREATE TRIGGER inventory_levels_stock_changed AFTER UPDATE ON inventory_levels FOR EACH ROW
    WHEN (OLD.on_hand IS DISTINCT FROM NEW.on_hand OR (OLD.available > 0) IS DISTINCT FROM (NEW.available > 0))
    EXECUTE FUNCTION souq_catalog_changed();
