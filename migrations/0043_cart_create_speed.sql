-- 0043_cart_create_speed.sql: add-to-cart (POST /v1/store/carts with one line) costs PostgreSQL less.
--
-- Measured with a pgbench script that sends what a server thread sends for a group of 16 creations (the creation
-- statement and cart_view_many in one transaction, one client, PostgreSQL's CPU and pg_stat_statements means), the
-- variants alternated on the shared 2-core box; see README "Speed" for the server's figures.
--
-- 1. souq_carts_create (0042) becomes the statement cart_create_many of core/cart_db.c, with the same body: the
--    plpgsql call around the query (its own executor, the RETURN QUERY tuplestore, the nested
--    souq_cart_async_commit) cost about 0.1 ms a group, 7 us a cart at 16 a group (create 78-84 -> 70-76 us a cart).
--    The function is dropped so that the body has one definition.
-- 2. cart_line_items_cart_seq_idx (0019) goes: every query that reads a cart's lines finds them by cart_id through the
--    unique (cart_id, variant_id) index and sorts its few lines (at most 250) by seq; the index was one more random
--    B-tree insert per line and no plan needed it. (About 1-2 us a cart: within the noise of the box, but a write
--    that buys nothing.)
--
-- Measured and left as they are: carts_updated_idx (no gain measured: it appends at the right edge of the tree; it
-- is the index of the cart sweeper the jobs issue plans); the foreign keys of carts to sales_channels and
-- currencies (dropping both gained nothing measurable; rows Souq never deletes, but the guarantee is kept).
DROP FUNCTION souq_carts_create(jsonb);
DROP INDEX cart_line_items_cart_seq_idx;
