-- 0018_idempotency_purge.sql: Idempotency-Keys are kept 24 hours. Thread 0 of each node deletes older ones in
-- batches (SKIP LOCKED: nodes do not collide), once a minute.
CREATE FUNCTION souq_idem_purge(p_limit integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    DELETE FROM idempotency_keys k
     USING (SELECT principal, method, route, key FROM idempotency_keys
             WHERE created_at < now() - interval '24 hours' ORDER BY created_at LIMIT p_limit FOR UPDATE SKIP LOCKED) old
     WHERE (k.principal, k.method, k.route, k.key) = (old.principal, old.method, old.route, old.key);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
