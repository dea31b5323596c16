-- 0028_jobs.sql: durable jobs (delayed and scheduled work) and the first automation on them, abandoned carts.
-- Thread 0 of every node (api/jobs_runner.c) materializes due schedules into jobs and claims due jobs of the kinds
-- it has handlers for under a lease (souq_jobs_step: SKIP LOCKED, one transaction), runs them outside any
-- transaction, and records the outcome (souq_job_finish): completed, retryable (run_at = now + backoff) or
-- discarded after max_attempts. A node that dies holding a lease loses it when locked_until passes; another node (or
-- itself, restarted) claims the job again: at-least-once, so handlers are idempotent.

CREATE TABLE jobs (
    id           text PRIMARY KEY DEFAULT souq_id('job'),
    kind         text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]{0,63}$'),
    payload      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
    state        text NOT NULL DEFAULT 'scheduled'
                 CHECK (state IN ('scheduled', 'running', 'retryable', 'completed', 'discarded', 'canceled')),
    run_at       timestamptz NOT NULL DEFAULT now(),
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 100),
    locked_by    text,
    locked_until timestamptz,
    last_error   text,
    -- one entry per failed attempt: {attempt, at, error, next_run_at}
    errors       jsonb NOT NULL DEFAULT '[]',
    -- one logical job is enqueued once while its row exists (a schedule's period, "cart:<id>:reminder:2", ...)
    unique_key   text CHECK (length(unique_key) <= 200),
    schedule_id  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);
CREATE UNIQUE INDEX jobs_unique_key_idx ON jobs (unique_key) WHERE unique_key IS NOT NULL;
CREATE INDEX jobs_due_idx ON jobs (run_at) WHERE state IN ('scheduled', 'retryable');
CREATE INDEX jobs_running_idx ON jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_kind_idx ON jobs (kind, id);
CREATE INDEX jobs_state_idx ON jobs (state, id);
CREATE INDEX jobs_finished_idx ON jobs (completed_at) WHERE state IN ('completed', 'canceled');

-- Recurring work. spec is "every N seconds|minutes|hours" (periods aligned to the Unix epoch) or "daily at HH:MM"
-- (UTC); the server parses it (core/jobs.c) into every_s or daily_min. A due schedule becomes one job per period
-- (unique_key schedule:<id>:<period start>); periods missed while no node ran collapse into one run.
CREATE TABLE job_schedules (
    id           text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9_.]{0,63}$'),
    kind         text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]{0,63}$'),
    payload      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
    spec         text NOT NULL CHECK (length(spec) <= 64),
    every_s      integer CHECK (every_s BETWEEN 1 AND 31622400),
    daily_min    integer CHECK (daily_min BETWEEN 0 AND 1439),
    max_attempts integer NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 100),
    enabled      boolean NOT NULL DEFAULT true,
    next_run_at  timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((every_s IS NULL) <> (daily_min IS NULL))
);

-- The first period start after t.
CREATE FUNCTION souq_schedule_next(p_every_s int, p_daily_min int, t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_every_s IS NOT NULL
                THEN to_timestamp((floor(extract(epoch FROM t) / p_every_s) + 1) * p_every_s)
                ELSE (SELECT CASE WHEN d > t THEN d ELSE d + interval '1 day' END
                        FROM (SELECT (date_trunc('day', t AT TIME ZONE 'UTC') + p_daily_min * interval '1 minute')
                                     AT TIME ZONE 'UTC' AS d) x) END
$$;

-- Creates or updates a built-in schedule (each node does at start, from its configuration). A changed spec starts
-- from the next period of the new spec.
CREATE FUNCTION souq_schedule_upsert(p_id text, p_kind text, p_spec text, p_every_s int, p_daily_min int, p_enabled boolean,
                                     p_max_attempts int) RETURNS void LANGUAGE sql AS $$
    INSERT INTO job_schedules AS s (id, kind, spec, every_s, daily_min, enabled, max_attempts, next_run_at)
    VALUES (p_id, p_kind, p_spec, p_every_s, p_daily_min, p_enabled, p_max_attempts, souq_schedule_next(p_every_s, p_daily_min, now()))
    ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, spec = EXCLUDED.spec, every_s = EXCLUDED.every_s,
        daily_min = EXCLUDED.daily_min, enabled = EXCLUDED.enabled, max_attempts = EXCLUDED.max_attempts,
        next_run_at = CASE WHEN s.every_s IS DISTINCT FROM EXCLUDED.every_s OR s.daily_min IS DISTINCT FROM EXCLUDED.daily_min
                           THEN EXCLUDED.next_run_at ELSE s.next_run_at END,
        updated_at = now()
    WHERE (s.kind, s.spec, s.enabled, s.max_attempts) IS DISTINCT FROM (EXCLUDED.kind, EXCLUDED.spec, EXCLUDED.enabled, EXCLUDED.max_attempts)
$$;

-- New due jobs wake the runners (NOTIFY souq 'jobs'); later ones are found by polling.
CREATE FUNCTION souq_notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows WHERE new_rows.state = 'scheduled' AND new_rows.run_at <= now()) THEN
        PERFORM pg_notify('souq', 'jobs');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_notify AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION souq_notify_jobs();

-- Materializes due schedules into jobs (one per period; a schedule another node holds is skipped, and the period's
-- unique key makes a second materialization a no-op), discards expired leases of jobs out of attempts, then claims
-- up to p_limit due jobs of the kinds p_kinds (ready ones, and running ones whose lease expired) for node p_node.
-- One transaction.
CREATE FUNCTION souq_jobs_step(p_node text, p_kinds text[], p_limit int, p_lease_ms int)
RETURNS TABLE (id text, kind text, payload text, attempt int, max_attempts int) LANGUAGE plpgsql AS $$
BEGIN
    WITH due AS (
        SELECT s.* FROM job_schedules s WHERE s.enabled AND s.next_run_at <= now()
         ORDER BY s.next_run_at FOR UPDATE SKIP LOCKED
    ), ins AS (
        INSERT INTO jobs (kind, payload, run_at, max_attempts, unique_key, schedule_id)
        SELECT due.kind, due.payload, due.next_run_at, due.max_attempts,
               'schedule:' || due.id || ':' || floor(extract(epoch FROM due.next_run_at))::bigint, due.id
          FROM due
        ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING
    )
    UPDATE job_schedules s SET next_run_at = souq_schedule_next(s.every_s, s.daily_min, greatest(s.next_run_at, now()))
      FROM due WHERE s.id = due.id;

    -- retention: completed and canceled jobs go after 7 days, a few per step (discarded ones stay for inspection)
    DELETE FROM jobs j WHERE j.id IN (SELECT x.id FROM jobs x WHERE x.state IN ('completed', 'canceled')
                                        AND x.completed_at < now() - interval '7 days'
                                      ORDER BY x.completed_at LIMIT 100 FOR UPDATE SKIP LOCKED);

    -- a lease that expired on the last attempt: the job is given up (it may have run; it is not run again)
    WITH gone AS (
        SELECT j.id FROM jobs j WHERE j.state = 'running' AND j.locked_until < now() AND j.attempts >= j.max_attempts
         FOR UPDATE SKIP LOCKED
    )
    UPDATE jobs j SET state = 'discarded', locked_by = NULL, locked_until = NULL, last_error = 'lease expired',
           errors = j.errors || jsonb_build_object('attempt', j.attempts, 'at', now(), 'error', 'lease expired', 'node', j.locked_by),
           completed_at = now(), updated_at = now()
      FROM gone WHERE j.id = gone.id;

    RETURN QUERY
    WITH ready AS (
        SELECT j.id FROM jobs j WHERE j.state IN ('scheduled', 'retryable') AND j.run_at <= now() AND j.kind = ANY (p_kinds)
         ORDER BY j.run_at LIMIT p_limit FOR UPDATE SKIP LOCKED
    ), expired AS (
        SELECT j.id FROM jobs j WHERE j.state = 'running' AND j.locked_until < now() AND j.kind = ANY (p_kinds)
         ORDER BY j.locked_until LIMIT p_limit FOR UPDATE SKIP LOCKED
    ), c AS (
        SELECT expired.id, true AS lost FROM expired UNION ALL SELECT ready.id, false FROM ready
    ), u AS (
        UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, locked_by = p_node,
               locked_until = now() + p_lease_ms * interval '1 millisecond', updated_at = now(),
               errors = CASE WHEN c.lost THEN j.errors || jsonb_build_object('attempt', j.attempts, 'at', now(),
                                 'error', 'lease expired', 'node', j.locked_by) ELSE j.errors END
          FROM (SELECT * FROM c LIMIT p_limit) c WHERE j.id = c.id
        RETURNING j.*
    )
    SELECT u.id, u.kind, u.payload::text, u.attempts, u.max_attempts FROM u ORDER BY u.run_at;
END $$;

-- Records the outcome of an attempt this node holds (p_attempt is the claim's attempt number: a node whose lease
-- passed to another, or whose job was canceled meanwhile, records nothing). p_error NULL: completed; else retryable
-- in p_retry_ms, or discarded when the attempts are used up or p_discard. Returns the new state, or NULL.
CREATE FUNCTION souq_job_finish(p_id text, p_node text, p_attempt int, p_error text, p_retry_ms bigint, p_discard boolean)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
BEGIN
    UPDATE jobs j SET
        state = CASE WHEN p_error IS NULL THEN 'completed'
                     WHEN p_discard OR j.attempts >= j.max_attempts THEN 'discarded' ELSE 'retryable' END,
        run_at = CASE WHEN p_error IS NOT NULL AND NOT p_discard AND j.attempts < j.max_attempts
                      THEN now() + p_retry_ms * interval '1 millisecond' ELSE j.run_at END,
        last_error = CASE WHEN p_error IS NULL THEN j.last_error ELSE left(p_error, 1000) END,
        errors = CASE WHEN p_error IS NULL THEN j.errors
                      ELSE j.errors || jsonb_build_object('attempt', p_attempt, 'at', now(), 'error', left(p_error, 1000),
                           'node', p_node, 'next_run_at', CASE WHEN NOT p_discard AND j.attempts < j.max_attempts
                                                               THEN now() + p_retry_ms * interval '1 millisecond' END) END,
        locked_by = NULL, locked_until = NULL, updated_at = now(),
        completed_at = CASE WHEN p_error IS NULL OR p_discard OR j.attempts >= j.max_attempts THEN now() END
     WHERE j.id = p_id AND j.state = 'running' AND j.locked_by = p_node AND j.attempts = p_attempt
    RETURNING j.state INTO v_state;
    RETURN v_state;
END $$;

CREATE FUNCTION souq_job_json(j jobs) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', j.id, 'object', 'job', 'kind', j.kind, 'payload', j.payload, 'state', j.state,
        'run_at', j.run_at, 'attempts', j.attempts, 'max_attempts', j.max_attempts, 'locked_by', j.locked_by,
        'locked_until', j.locked_until, 'last_error', j.last_error, 'errors', j.errors, 'unique_key', j.unique_key,
        'schedule_id', j.schedule_id, 'created_at', j.created_at, 'updated_at', j.updated_at, 'completed_at', j.completed_at)
$$;

-- Admin moves. retry: a discarded, retryable or canceled job runs again now (with one more attempt allowed when it
-- had used them up); cancel: a scheduled, retryable or running job will not run (again): a running handler's
-- result is dropped. NULL when the job does not exist; SQSTE when its state does not allow the move.
CREATE FUNCTION souq_job_move(p_id text, p_move text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    j jobs;
BEGIN
    SELECT * INTO j FROM jobs t WHERE t.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p_move = 'retry' THEN
        IF j.state NOT IN ('discarded', 'retryable', 'canceled') THEN
            RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = 'Only a discarded, retryable or canceled job can be retried; this one is ' || j.state || '.';
        END IF;
        UPDATE jobs t SET state = 'scheduled', run_at = now(), max_attempts = greatest(t.max_attempts, least(t.attempts + 1, 100)),
               completed_at = NULL, updated_at = now()
         WHERE t.id = p_id RETURNING * INTO j;
        PERFORM pg_notify('souq', 'jobs');
    ELSE
        IF j.state NOT IN ('scheduled', 'retryable', 'running') THEN
            RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = 'Only a scheduled, retryable or running job can be canceled; this one is ' || j.state || '.';
        END IF;
        UPDATE jobs t SET state = 'canceled', locked_by = NULL, locked_until = NULL, completed_at = now(), updated_at = now()
         WHERE t.id = p_id RETURNING * INTO j;
    END IF;
    RETURN souq_job_json(j);
END $$;

-- ---- abandoned carts -------------------------------------------------------------------------------------------

-- One row per reminder sent: the primary key makes a reminder unique per cart and number, also with two nodes.
-- No foreign key: the history outlives swept carts (the recovery report counts what it can still see).
CREATE TABLE abandoned_cart_reminders (
    cart_id       text NOT NULL,
    reminder      integer NOT NULL CHECK (reminder BETWEEN 1 AND 100),
    email         text NOT NULL,
    total         bigint NOT NULL,
    currency_code text NOT NULL,
    event_id      text NOT NULL,
    sent_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cart_id, reminder)
);
CREATE INDEX abandoned_cart_reminders_sent_idx ON abandoned_cart_reminders (sent_at);
-- the scan: idle open carts with an email
CREATE INDEX carts_abandoned_idx ON carts (updated_at) WHERE email IS NOT NULL AND completed_at IS NULL AND merged_into IS NULL;

-- A line's unit price for the reminder: the base price of the variant in the cart's currency for the largest
-- quantity tier the line reaches (price lists, promotions, tax and shipping are the checkout's business).
CREATE FUNCTION souq_abandoned_unit_amount(p_variant text, p_currency text, p_qty int) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT pr.amount FROM prices pr
     WHERE pr.variant_id = p_variant AND pr.currency_code = p_currency AND pr.price_list_id IS NULL AND pr.min_quantity <= p_qty
     ORDER BY pr.min_quantity DESC LIMIT 1
$$;

-- Sends the due reminders: carts with an email and at least one line, not completed or merged, unchanged for
-- p_after_s seconds, with fewer than p_max reminders, the last one at least p_spacing_s seconds ago. Each reminder
-- is a cart.abandoned event in the outbox (webhooks deliver it) and a row of abandoned_cart_reminders, in one
-- transaction. Returns the number of reminders sent.
CREATE FUNCTION souq_abandoned_carts_run(p_after_s int, p_max int, p_spacing_s int, p_limit int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    WITH cand AS (
        SELECT c.id, c.email, c.currency_code, coalesce(r.n, 0) + 1 AS num
          FROM carts c
          LEFT JOIN LATERAL (SELECT count(*) AS n, max(x.sent_at) AS last FROM abandoned_cart_reminders x WHERE x.cart_id = c.id) r ON true
         WHERE c.email IS NOT NULL AND c.completed_at IS NULL AND c.merged_into IS NULL
           AND c.updated_at <= now() - p_after_s * interval '1 second'
           AND coalesce(r.n, 0) < p_max
           AND (r.last IS NULL OR r.last <= now() - p_spacing_s * interval '1 second')
           AND EXISTS (SELECT 1 FROM cart_line_items l WHERE l.cart_id = c.id)
         ORDER BY c.updated_at LIMIT p_limit
    ), priced AS (
        SELECT cand.*, items.list, items.total FROM cand, LATERAL (
            SELECT jsonb_agg(jsonb_build_object('variant_id', l.variant_id, 'sku', v.sku, 'title', v.title,
                       'product_title', p.title, 'quantity', l.quantity, 'unit_amount', u.amount) ORDER BY l.created_at, l.id) AS list,
                   coalesce(sum(u.amount * l.quantity), 0)::bigint AS total
              FROM cart_line_items l JOIN product_variants v ON v.id = l.variant_id JOIN products p ON p.id = v.product_id
              LEFT JOIN LATERAL (SELECT souq_abandoned_unit_amount(l.variant_id, cand.currency_code, l.quantity) AS amount) u ON true
             WHERE l.cart_id = cand.id) items
    ), ev AS (
        SELECT priced.*, souq_id('evt') AS event_id FROM priced
    ), rem AS (
        INSERT INTO abandoned_cart_reminders (cart_id, reminder, email, total, currency_code, event_id)
        SELECT ev.id, ev.num, ev.email, ev.total, ev.currency_code, ev.event_id FROM ev
        ON CONFLICT DO NOTHING
        RETURNING abandoned_cart_reminders.event_id
    )
    INSERT INTO outbox_events (id, type, payload)
    SELECT ev.event_id, 'cart.abandoned', jsonb_build_object('cart_id', ev.id, 'email', ev.email, 'reminder', ev.num,
               'max_reminders', p_max, 'items', ev.list, 'item_count', jsonb_array_length(ev.list), 'total', ev.total,
               'currency', ev.currency_code)
      FROM ev JOIN rem ON rem.event_id = ev.event_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Recovery: reminded carts, and of those the ones completed after their first reminder.
CREATE FUNCTION souq_abandoned_carts_report(p_since timestamptz) RETURNS json LANGUAGE sql STABLE AS $$
    WITH r AS (
        SELECT x.cart_id, min(x.sent_at) AS first_at, count(*) AS n, max(x.currency_code) AS currency_code
          FROM abandoned_cart_reminders x GROUP BY x.cart_id HAVING p_since IS NULL OR min(x.sent_at) >= p_since
    ), k AS (
        SELECT r.*, c.completed_at IS NOT NULL AND c.completed_at >= r.first_at AS recovered FROM r LEFT JOIN carts c ON c.id = r.cart_id
    )
    SELECT json_build_object('object', 'abandoned_cart_report', 'since', p_since,
        'reminded_carts', count(*), 'reminders_sent', coalesce(sum(k.n), 0),
        'recovered_carts', count(*) FILTER (WHERE k.recovered),
        'recovery_rate', CASE WHEN count(*) = 0 THEN 0 ELSE round(count(*) FILTER (WHERE k.recovered)::numeric / count(*), 4) END)
      FROM k
$$;
