-- 0023_events_webhooks.sql: the consumers of outbox_events. The dispatcher (api/dispatcher.c, thread 0 of every
-- node) fans each due event out into one delivery per matching target in one transaction (souq_events_fanout),
-- then claims deliveries under a lease (souq_deliveries_claim), performs them outside any transaction (HTTP for
-- webhooks) and records each attempt (souq_delivery_finish). A node that dies holding a lease loses it when
-- locked_until passes; another node (or itself, restarted) claims the delivery again: at-least-once.
--
-- Targets are polymorphic (target_kind, target_id): webhooks now; plugin subscribers and automation rules are
-- further kinds, added to the souq_event_targets view and to the dispatcher's table of target handlers.

CREATE TABLE webhook_endpoints (
    id                         text PRIMARY KEY DEFAULT souq_id('whk'),
    url                        text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    event_types                text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 100),
    description                text CHECK (length(description) <= 500),
    enabled                    boolean NOT NULL DEFAULT true,
    secret                     text NOT NULL,   -- the signing key (needed in clear to sign; shown once at creation)
    previous_secret            text,            -- still signs (second v1) until previous_secret_expires_at
    previous_secret_expires_at timestamptz,
    secret_rotated_at          timestamptz,
    disabled_reason            text,
    failing_since              timestamptz,     -- first failed delivery since the last success
    metadata                   jsonb NOT NULL DEFAULT '{}',
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE event_deliveries (
    id           text PRIMARY KEY DEFAULT souq_id('dlv'),
    event_id     text NOT NULL REFERENCES outbox_events (id) ON DELETE CASCADE,
    target_kind  text NOT NULL CHECK (target_kind IN ('webhook')),
    target_id    text NOT NULL,
    trigger      text NOT NULL DEFAULT 'event' CHECK (trigger IN ('event', 'replay', 'test')),
    state        text NOT NULL DEFAULT 'available'
                 CHECK (state IN ('available', 'running', 'retryable', 'completed', 'discarded', 'canceled')),
    attempts     integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL DEFAULT 9 CHECK (max_attempts BETWEEN 1 AND 100),
    run_at       timestamptz NOT NULL DEFAULT now(),
    locked_by    text,
    locked_until timestamptz,
    last_status  integer,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);
CREATE INDEX event_deliveries_ready_idx ON event_deliveries (run_at) WHERE state IN ('available', 'retryable');
CREATE INDEX event_deliveries_lease_idx ON event_deliveries (locked_until) WHERE state = 'running';
CREATE INDEX event_deliveries_target_idx ON event_deliveries (target_kind, target_id, id DESC);
CREATE INDEX event_deliveries_event_idx ON event_deliveries (event_id, id);

-- One row per attempt: the delivery log (request time, duration, response status, error kind, answer excerpt).
CREATE TABLE event_delivery_attempts (
    delivery_id     text NOT NULL REFERENCES event_deliveries (id) ON DELETE CASCADE,
    attempt         integer NOT NULL,
    node            text NOT NULL,
    started_at      timestamptz NOT NULL,
    duration_ms     integer NOT NULL,
    response_status integer,
    error           text,
    response_body   text CHECK (length(response_body) <= 1024),
    PRIMARY KEY (delivery_id, attempt)
);

-- A new event, or a delivery asked for through the API (replay, test), wakes the dispatchers of every node.
-- NOTIFY is costly on a busy system: PostgreSQL serializes the commits of notifying transactions (a lock held
-- through the commit's WAL flush), which would undo the group commit checkouts rely on. So an insert notifies
-- only when its rows are the only events waiting: the first event after an idle spell wakes the dispatcher at
-- once, and while events keep coming the dispatcher is awake anyway (it steps again at once while a step finds
-- work; polling is the fallback). A statement trigger fires for zero rows too, hence the transition tables.
CREATE FUNCTION souq_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    k bigint;
BEGIN
    SELECT count(*) INTO k FROM new_rows;
    IF k > 0 AND (SELECT count(*) FROM (SELECT 1 FROM outbox_events e WHERE e.state IN ('available', 'retryable')
                                           AND e.run_at <= now() LIMIT k + 1) x) <= k THEN
        PERFORM pg_notify('souq', 'events');
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION souq_notify_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows WHERE new_rows.trigger <> 'event') THEN
        PERFORM pg_notify('souq', 'events');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION souq_notify_events();
CREATE TRIGGER event_deliveries_notify AFTER INSERT ON event_deliveries REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION souq_notify_deliveries();

-- Who subscribes to what. Plugin subscribers and automation rules join this view with their own kind.
CREATE VIEW souq_event_targets AS
    SELECT 'webhook'::text AS kind, w.id, w.event_types, w.enabled FROM webhook_endpoints w;

-- An event type matches a subscription pattern: exactly, '*', or a prefix ending in '.*' ('order.*'). Events that
-- carry a secret (a password-reset token, for the notification provider) match only when named exactly.
CREATE FUNCTION souq_event_matches(p_patterns text[], p_type text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT EXISTS (SELECT 1 FROM unnest(p_patterns) p
                    WHERE p = p_type OR (p_type NOT IN ('customer.password_reset_requested')
                          AND (p = '*' OR (right(p, 2) = '.*' AND starts_with(p_type, left(p, -1))))))
$$;

-- Claims up to p_limit due events, creates their deliveries and marks them completed, in one transaction: a crash
-- either fans an event out whole or not at all. Returns the number of events fanned out.
CREATE FUNCTION souq_events_fanout(p_limit int, p_max_attempts int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    WITH ev AS (
        SELECT e.id, e.type FROM outbox_events e
         WHERE e.state IN ('available', 'retryable') AND e.run_at <= now()
         ORDER BY e.run_at, e.id LIMIT p_limit FOR UPDATE SKIP LOCKED
    ), ins AS (
        INSERT INTO event_deliveries (event_id, target_kind, target_id, max_attempts)
        SELECT ev.id, t.kind, t.id, p_max_attempts FROM ev JOIN souq_event_targets t
            ON t.enabled AND souq_event_matches(t.event_types, ev.type)
         ORDER BY ev.id, t.id
    )
    UPDATE outbox_events o SET state = 'completed', attempts = o.attempts + 1, locked_by = NULL, locked_until = NULL
      FROM ev WHERE o.id = ev.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- The body every webhook of an event receives (the same bytes on every attempt).
CREATE FUNCTION souq_event_body(e outbox_events) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', e.id, 'object', 'event', 'type', e.type, 'api_version', '1',
                             'created_at', e.occurred_at, 'data', e.payload)::text
$$;

-- Claims up to p_limit due deliveries (ready ones, and running ones whose lease expired) for node p_node.
CREATE FUNCTION souq_deliveries_claim(p_node text, p_limit int, p_lease_ms int)
RETURNS TABLE (id text, event_id text, event_type text, attempt int, max_attempts int, target_kind text, target_id text,
               trigger text, url text, enabled boolean, secret text, previous_secret text, body text)
LANGUAGE sql AS $$
    WITH ready AS (
        SELECT d.id FROM event_deliveries d WHERE d.state IN ('available', 'retryable') AND d.run_at <= now()
         ORDER BY d.run_at LIMIT p_limit FOR UPDATE SKIP LOCKED
    ), expired AS (
        SELECT d.id FROM event_deliveries d WHERE d.state = 'running' AND d.locked_until < now()
         ORDER BY d.locked_until LIMIT p_limit FOR UPDATE SKIP LOCKED
    ), c AS (
        SELECT id FROM expired UNION ALL SELECT id FROM ready
    ), u AS (
        UPDATE event_deliveries d SET state = 'running', attempts = d.attempts + 1, locked_by = p_node,
               locked_until = now() + p_lease_ms * interval '1 millisecond', updated_at = now()
          FROM (SELECT c.id FROM c LIMIT p_limit) c WHERE d.id = c.id
        RETURNING d.*
    )
    SELECT u.id, u.event_id, e.type, u.attempts, u.max_attempts, u.target_kind, u.target_id, u.trigger, w.url,
           coalesce(w.enabled, false), w.secret,
           CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret END, souq_event_body(e)
      FROM u JOIN outbox_events e ON e.id = u.event_id
      LEFT JOIN webhook_endpoints w ON u.target_kind = 'webhook' AND w.id = u.target_id
$$;

-- Records one attempt of a delivery this node holds (p_attempt is the claim's attempt number: a node whose lease
-- passed to another records nothing). p_outcome: ok, retry (network error, 408, 429, 5xx), fail (other answers),
-- cancel (the target is gone or disabled). A retry past max_attempts discards the delivery, and a webhook
-- delivery that exhausted its retries disables its endpoint (persistent failure) with a webhook_endpoint.disabled
-- event. Returns the delivery's new state, or NULL when the lease was lost.
CREATE FUNCTION souq_delivery_finish(p_id text, p_node text, p_attempt int, p_outcome text, p_status int, p_error text,
                                     p_started_at timestamptz, p_duration_ms int, p_response text, p_retry_ms bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    d event_deliveries;
    w webhook_endpoints;
    v_state text;
BEGIN
    SELECT * INTO d FROM event_deliveries t WHERE t.id = p_id AND t.state = 'running' AND t.locked_by = p_node
       AND t.attempts = p_attempt FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p_outcome <> 'cancel' THEN
        INSERT INTO event_delivery_attempts (delivery_id, attempt, node, started_at, duration_ms, response_status, error, response_body)
        VALUES (p_id, p_attempt, p_node, p_started_at, greatest(p_duration_ms, 0), p_status, p_error, left(p_response, 1024))
        ON CONFLICT DO NOTHING;
    END IF;
    v_state := CASE p_outcome WHEN 'ok' THEN 'completed' WHEN 'cancel' THEN 'canceled' WHEN 'fail' THEN 'discarded'
                              ELSE CASE WHEN d.attempts >= d.max_attempts THEN 'discarded' ELSE 'retryable' END END;
    UPDATE event_deliveries t SET state = v_state, locked_by = NULL, locked_until = NULL, last_status = p_status,
           last_error = p_error, updated_at = now(),
           run_at = CASE WHEN v_state = 'retryable' THEN now() + p_retry_ms * interval '1 millisecond' ELSE t.run_at END,
           completed_at = CASE WHEN v_state IN ('completed', 'discarded', 'canceled') THEN now() END
     WHERE t.id = p_id;
    IF d.target_kind = 'webhook' AND d.trigger = 'event' THEN
        IF v_state = 'completed' THEN
            UPDATE webhook_endpoints SET failing_since = NULL WHERE webhook_endpoints.id = d.target_id AND failing_since IS NOT NULL;
        ELSIF p_outcome = 'retry' THEN
            UPDATE webhook_endpoints SET failing_since = now()
             WHERE webhook_endpoints.id = d.target_id AND failing_since IS NULL;
            IF v_state = 'discarded' THEN
                UPDATE webhook_endpoints x SET enabled = false, updated_at = now(),
                       disabled_reason = 'Deliveries failed for ' || d.max_attempts || ' attempts in a row.'
                 WHERE x.id = d.target_id AND x.enabled RETURNING * INTO w;
                IF FOUND THEN
                    INSERT INTO outbox_events (type, payload)
                    VALUES ('webhook_endpoint.disabled', jsonb_build_object('webhook_id', w.id, 'url', w.url,
                            'reason', 'persistent_failure', 'failing_since', w.failing_since, 'delivery_id', p_id,
                            'last_status', p_status, 'last_error', p_error));
                END IF;
            END IF;
        END IF;
    END IF;
    RETURN v_state;
END $$;

-- ---- admin JSON ----------------------------------------------------------------------------------------------

CREATE FUNCTION souq_webhook_json(w webhook_endpoints) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', w.id, 'object', 'webhook_endpoint', 'url', w.url, 'event_types', to_json(w.event_types),
        'description', w.description, 'enabled', w.enabled, 'disabled_reason', w.disabled_reason,
        'failing_since', w.failing_since, 'secret_rotated_at', w.secret_rotated_at,
        'previous_secret_expires_at', CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret_expires_at END,
        'metadata', w.metadata, 'created_at', w.created_at, 'updated_at', w.updated_at)
$$;

CREATE FUNCTION souq_webhook_save(p_id text, b jsonb, p_etag text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    cur webhook_endpoints;
BEGIN
    IF p_id IS NULL THEN
        INSERT INTO webhook_endpoints (url, event_types, description, enabled, secret, metadata)
        VALUES (b->>'url', souq_text_array(b->'event_types'), b->>'description', coalesce((b->>'enabled')::boolean, true),
                b->>'secret', jsonb_strip_nulls(coalesce(b->'metadata', '{}')))
        RETURNING * INTO cur;
        RETURN (souq_webhook_json(cur)::jsonb || jsonb_build_object('secret', cur.secret))::json;
    END IF;
    SELECT * INTO cur FROM webhook_endpoints t WHERE t.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM souq_check_etag(souq_webhook_json(cur), p_etag);
    UPDATE webhook_endpoints w SET
        url = CASE WHEN b ? 'url' THEN b->>'url' ELSE w.url END,
        event_types = CASE WHEN b ? 'event_types' THEN souq_text_array(b->'event_types') ELSE w.event_types END,
        description = CASE WHEN b ? 'description' THEN b->>'description' ELSE w.description END,
        enabled = CASE WHEN b ? 'enabled' THEN (b->>'enabled')::boolean ELSE w.enabled END,
        -- re-enabling starts a clean record
        disabled_reason = CASE WHEN (b->>'enabled')::boolean THEN NULL ELSE w.disabled_reason END,
        failing_since = CASE WHEN (b->>'enabled')::boolean AND NOT w.enabled THEN NULL ELSE w.failing_since END,
        metadata = souq_merge_metadata(w.metadata, b), updated_at = now()
     WHERE w.id = p_id RETURNING * INTO cur;
    RETURN souq_webhook_json(cur);
END $$;

-- A new secret; the current one keeps signing (a second v1) for p_overlap_s seconds. Shown once.
CREATE FUNCTION souq_webhook_rotate(p_id text, p_secret text, p_overlap_s int) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    cur webhook_endpoints;
BEGIN
    UPDATE webhook_endpoints w SET previous_secret = w.secret, secret = p_secret,
           previous_secret_expires_at = now() + p_overlap_s * interval '1 second', secret_rotated_at = now(), updated_at = now()
     WHERE w.id = p_id RETURNING * INTO cur;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN (souq_webhook_json(cur)::jsonb || jsonb_build_object('secret', cur.secret))::json;
END $$;

CREATE FUNCTION souq_delivery_json(d event_deliveries) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', d.id, 'object', 'event_delivery', 'event_id', d.event_id,
        'event_type', (SELECT e.type FROM outbox_events e WHERE e.id = d.event_id),
        'target_kind', d.target_kind, 'webhook_id', CASE WHEN d.target_kind = 'webhook' THEN d.target_id END,
        'trigger', d.trigger, 'state', d.state, 'attempts', d.attempts, 'max_attempts', d.max_attempts,
        'next_attempt_at', CASE WHEN d.state IN ('available', 'retryable') THEN d.run_at END,
        'last_status', d.last_status, 'last_error', d.last_error, 'created_at', d.created_at, 'completed_at', d.completed_at,
        'attempt_log', coalesce((SELECT json_agg(json_build_object('attempt', a.attempt, 'started_at', a.started_at,
                'duration_ms', a.duration_ms, 'response_status', a.response_status, 'error', a.error,
                'response_body', a.response_body) ORDER BY a.attempt)
            FROM event_delivery_attempts a WHERE a.delivery_id = d.id), '[]'::json))
$$;

CREATE FUNCTION souq_event_json(e outbox_events, p_deliveries boolean) RETURNS json LANGUAGE sql STABLE AS $$
    -- the reset token is for the merchant's mail system (a webhook subscribed by the exact name), never for API reads
    SELECT (json_build_object('id', e.id, 'object', 'event', 'type', e.type,
        'data', CASE WHEN e.type = 'customer.password_reset_requested' THEN e.payload - 'token' ELSE e.payload END,
        'created_at', e.occurred_at,
        'dispatch_state', CASE WHEN e.state = 'completed' THEN 'dispatched' WHEN e.state = 'discarded' THEN 'discarded' ELSE 'pending' END)::jsonb
        || CASE WHEN p_deliveries THEN jsonb_build_object('deliveries', coalesce((SELECT jsonb_agg(souq_delivery_json(d)::jsonb ORDER BY d.id)
                FROM event_deliveries d WHERE d.event_id = e.id), '[]'::jsonb)) ELSE '{}'::jsonb END)::json
$$;

-- A delivery of an event to one webhook outside the subscriptions: a replay of an existing event (NULL when the
-- event does not exist; SQ422 at /webhook_id when the webhook does not), or a new webhook_endpoint.test event (NULL
-- when the webhook does not exist). The test event is born completed: it goes to this webhook only.
CREATE FUNCTION souq_delivery_create(p_event_id text, p_webhook_id text, p_trigger text, p_max_attempts int) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    w webhook_endpoints;
    v_event text := p_event_id;
    d event_deliveries;
BEGIN
    IF p_trigger = 'replay' AND NOT EXISTS (SELECT 1 FROM outbox_events e WHERE e.id = v_event) THEN
        RETURN NULL;
    END IF;
    SELECT * INTO w FROM webhook_endpoints t WHERE t.id = p_webhook_id;
    IF NOT FOUND THEN
        IF p_trigger = 'test' THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/webhook_id|not_found|The webhook endpoint does not exist.';
    END IF;
    IF p_trigger = 'test' THEN
        INSERT INTO outbox_events (type, payload, state)
        VALUES ('webhook_endpoint.test', jsonb_build_object('webhook_id', w.id, 'message', 'A test event sent from the admin API.'),
                'completed')
        RETURNING id INTO v_event;
    END IF;
    INSERT INTO event_deliveries (event_id, target_kind, target_id, trigger, max_attempts)
    VALUES (v_event, 'webhook', w.id, p_trigger, p_max_attempts) RETURNING * INTO d;
    RETURN souq_delivery_json(d);
END $$;
