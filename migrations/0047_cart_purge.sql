-- 0047_cart_purge.sql: carts never completed are deleted after a retention (a sixth kind of 0033's purge, same small
-- batches with SKIP LOCKED). An abandoned cart expires after cart_ttl (30 days: its buyer can no longer use it) and
-- a merged guest cart is dead at once, but both rows, their lines, shipping methods, codes, gift cards and points
-- stayed forever; carts_updated_idx (0012) was written by every cart and read by nothing. Now the purge deletes
-- carts whose completed_at is NULL and whose last change is older than cart_retention_s (90 days by default; the
-- configuration refuses less than cart_ttl), oldest first; their rows go with them (ON DELETE CASCADE). The index
-- becomes one of the carts the purge looks for (never completed): completed carts pile up with the orders, and a
-- batch must not walk past all of them to find the abandoned ones. Completed carts stay: an order names its cart,
-- and a replayed checkout finds the order through it. Reservations and payments name a cart by id without a foreign
-- key: a cart's reservations ended with its expiry (the sweeper), and payments are records of money that stay.
CREATE OR REPLACE FUNCTION souq_purge_batch(p_kind text, p_age_s int, p_limit int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    IF p_kind = 'events' THEN
        DELETE FROM outbox_events e WHERE e.id IN (
            SELECT x.id FROM outbox_events x
             WHERE x.state = 'completed' AND x.occurred_at < now() - p_age_s * interval '1 second'
               AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_id = x.id AND d.state IN ('available', 'running', 'retryable'))
             ORDER BY x.occurred_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
    ELSIF p_kind = 'attempts' THEN
        DELETE FROM event_delivery_attempts a WHERE (a.delivery_id, a.attempt) IN (
            SELECT x.delivery_id, x.attempt FROM event_delivery_attempts x
             WHERE x.started_at < now() - p_age_s * interval '1 second'
             ORDER BY x.started_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
    ELSIF p_kind = 'jobs' THEN
        DELETE FROM jobs j WHERE j.id IN (
            SELECT x.id FROM jobs x WHERE x.state IN ('completed', 'canceled') AND x.completed_at < now() - p_age_s * interval '1 second'
             ORDER BY x.completed_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
    ELSIF p_kind = 'notifications' THEN
        DELETE FROM notifications t WHERE t.id IN (
            SELECT x.id FROM notifications x
             WHERE x.state IN ('sent', 'failed', 'skipped') AND x.created_at < now() - p_age_s * interval '1 second'
             ORDER BY x.created_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
    ELSIF p_kind = 'price_changes' THEN
        DELETE FROM price_changes c WHERE c.id IN (
            SELECT x.id FROM price_changes x WHERE x.created_at < now() - p_age_s * interval '1 second'
             ORDER BY x.created_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
    ELSIF p_kind = 'carts' THEN
        DELETE FROM carts c WHERE c.id IN (
            SELECT x.id FROM carts x WHERE x.updated_at < now() - p_age_s * interval '1 second' AND x.completed_at IS NULL
             ORDER BY x.updated_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
    ELSE
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = 'unknown purge kind';
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

DROP INDEX carts_updated_idx;
CREATE INDEX carts_purge_idx ON carts (updated_at) WHERE completed_at IS NULL;
