-- 0017_idempotency.sql: Idempotency-Key (Stripe's semantics, the IETF draft's statuses; reliability notes A3).
-- A key is scoped to (principal, method, route template, key). The first request claims it (in_flight, locked
-- for lock_ms); its 2xx answer is stored and replayed byte for byte to every retry; an error answer releases
-- the key (our writes are transactional, so a failed request wrote nothing and may be retried with the same
-- key). A retry with another body is 422; one that arrives while the first is running is 409. A claim whose
-- holder died (lock expired without an answer) is taken over. Keys are kept 24 hours; an older one is new.
CREATE TABLE idempotency_keys (
    principal    text NOT NULL,
    method       text NOT NULL,
    route        text NOT NULL,
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint  text NOT NULL,
    state        text NOT NULL CHECK (state IN ('in_flight', 'done')),
    status       integer,
    content_type text,
    location     text,
    body         text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz NOT NULL,
    PRIMARY KEY (principal, method, route, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- {"state": "new" | "in_flight" | "mismatch" | "done", and for done: status, content_type, location, body}
CREATE FUNCTION souq_idem_claim(p_principal text, p_method text, p_route text, p_key text, p_fingerprint text,
                                p_lock_ms integer) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    k idempotency_keys;
BEGIN
    INSERT INTO idempotency_keys (principal, method, route, key, fingerprint, state, locked_until)
    VALUES (p_principal, p_method, p_route, p_key, p_fingerprint, 'in_flight', now() + make_interval(secs => p_lock_ms / 1000.0))
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN json_build_object('state', 'new');
    END IF;
    SELECT * INTO k FROM idempotency_keys
     WHERE principal = p_principal AND method = p_method AND route = p_route AND key = p_key FOR UPDATE;
    IF k.created_at < now() - interval '24 hours' OR (k.state = 'in_flight' AND k.locked_until <= now()) THEN
        -- expired, or its holder died without answering (nothing of it committed): a new request
        UPDATE idempotency_keys SET fingerprint = p_fingerprint, state = 'in_flight', status = NULL, content_type = NULL,
               location = NULL, body = NULL, created_at = now(), locked_until = now() + make_interval(secs => p_lock_ms / 1000.0)
         WHERE principal = p_principal AND method = p_method AND route = p_route AND key = p_key;
        RETURN json_build_object('state', 'new');
    END IF;
    IF k.fingerprint <> p_fingerprint THEN
        RETURN json_build_object('state', 'mismatch');
    END IF;
    IF k.state = 'in_flight' THEN
        RETURN json_build_object('state', 'in_flight');
    END IF;
    RETURN json_build_object('state', 'done', 'status', k.status, 'content_type', k.content_type, 'location', k.location,
                             'body', k.body);
END $$;

CREATE FUNCTION souq_idem_finish(p_principal text, p_method text, p_route text, p_key text, p_status integer,
                                 p_content_type text, p_location text, p_body text) RETURNS json LANGUAGE sql AS $$
    UPDATE idempotency_keys SET state = 'done', status = p_status, content_type = p_content_type, location = p_location,
           body = p_body
     WHERE principal = p_principal AND method = p_method AND route = p_route AND key = p_key
    RETURNING json_build_object('state', state);
$$;

CREATE FUNCTION souq_idem_release(p_principal text, p_method text, p_route text, p_key text) RETURNS json LANGUAGE sql AS $$
    DELETE FROM idempotency_keys
     WHERE principal = p_principal AND method = p_method AND route = p_route AND key = p_key AND state = 'in_flight'
    RETURNING json_build_object('state', 'released');
$$;
