-- 0032_automation_rules.sql: automation rules as data (trigger -> conditions -> ordered actions), their runs, and the
-- tags rules put on customers and orders. The rules of the expression language and the action registry are in C
-- (core/automation*.c); this file holds what must be transactional:
--   * a rule with an event trigger gets one run per matching event, created by a statement trigger on outbox_events
--     in the transaction that writes the event (so no event can be missed), with one durable job (kind
--     automation.run) that executes it: at least once, retried with the jobs' backoff, then dead;
--   * a rule with a schedule trigger owns a job schedule (automation.<rule id>, kind automation.schedule); each period's
--     job creates the period's run (the job id is its key);
--   * a run is unique per (rule, event) and snapshots the rule's conditions and actions when it is created, so an edit
--     never changes a run already under way;
--   * each action of a run is a step: database actions apply their effect and advance the run's step counter in one
--     transaction (souq_automation_step_claim + souq_automation_step_done, guarded by the step number), so a replayed
--     run never applies an effect twice; external actions (HTTP) carry an idempotency key (<run id>.<step>) and are
--     recorded the same way after they answered.

-- ---- tags ------------------------------------------------------------------------------------------------------
ALTER TABLE customers ADD COLUMN tags text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 100);
ALTER TABLE orders ADD COLUMN tags text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 100);
CREATE INDEX customers_tags_idx ON customers USING gin (tags);
CREATE INDEX orders_tags_idx ON orders USING gin (tags);

-- tags plus the new ones that are not there yet, in order
CREATE FUNCTION souq_tags_add(cur text[], add text[]) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT cur || ARRAY(SELECT y.t FROM (SELECT DISTINCT ON (x.t) x.t, x.i FROM unnest(add) WITH ORDINALITY x(t, i)
                                          WHERE x.t <> ALL (cur) ORDER BY x.t, x.i) y ORDER BY y.i)
$$;

-- ---- rules -----------------------------------------------------------------------------------------------------
CREATE TABLE automation_rules (
    id            text PRIMARY KEY DEFAULT souq_id('arule'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description   text CHECK (length(description) <= 1000),
    enabled       boolean NOT NULL DEFAULT true,
    trigger_event text CHECK (trigger_event ~ '^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+$' AND length(trigger_event) <= 128),
    schedule      text CHECK (length(schedule) <= 64),
    conditions    jsonb,
    actions       jsonb NOT NULL CHECK (jsonb_typeof(actions) = 'array' AND jsonb_array_length(actions) BETWEEN 1 AND 20),
    max_attempts  integer NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 20),
    version       integer NOT NULL DEFAULT 1,
    metadata      jsonb NOT NULL DEFAULT '{}',
    created_by    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((trigger_event IS NULL) <> (schedule IS NULL))
);
CREATE INDEX automation_rules_event_idx ON automation_rules (trigger_event) WHERE enabled AND trigger_event IS NOT NULL;

-- ---- runs ------------------------------------------------------------------------------------------------------
CREATE TABLE automation_runs (
    id             text PRIMARY KEY DEFAULT souq_id('arun'),
    rule_id        text NOT NULL REFERENCES automation_rules (id) ON DELETE CASCADE,
    trigger        text NOT NULL CHECK (trigger IN ('event', 'schedule')),
    -- the event (trigger event), or the schedule's job for the period (trigger schedule): one run per rule and key
    trigger_key    text NOT NULL,
    event_type     text NOT NULL,
    payload        jsonb NOT NULL,
    rule_version   integer NOT NULL,
    conditions     jsonb,
    actions        jsonb NOT NULL,
    max_attempts   integer NOT NULL,
    depth          integer NOT NULL DEFAULT 0, -- 0 for domain events; n for an event emitted by a run of depth n-1
    state          text NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'running', 'retrying', 'succeeded', 'skipped', 'dead', 'canceled')),
    matched        boolean,                    -- the conditions' verdict (evaluated once, on the first attempt)
    condition_results jsonb,
    step           integer NOT NULL DEFAULT 0, -- actions done so far
    action_results jsonb NOT NULL DEFAULT '[]',
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text,
    errors         jsonb NOT NULL DEFAULT '[]',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz,
    UNIQUE (rule_id, trigger_key)
);
CREATE INDEX automation_runs_rule_idx ON automation_runs (rule_id, id DESC);

-- events written by emit_event actions, with the depth of the chain that wrote them (a rule chain stops at depth 3);
-- a row lives only inside the transaction that writes its event
CREATE TABLE automation_emitted (
    event_id text PRIMARY KEY,
    run_id   text NOT NULL,
    depth    integer NOT NULL
);

-- One run (and its job) per enabled rule whose trigger event is one of the new events, in the writer's transaction.
CREATE FUNCTION souq_automation_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM automation_rules r WHERE r.enabled AND r.trigger_event IS NOT NULL) THEN
        RETURN NULL;
    END IF;
    WITH runs AS (
        INSERT INTO automation_runs (rule_id, trigger, trigger_key, event_type, payload, rule_version, conditions, actions,
                                     max_attempts, depth)
        SELECT r.id, 'event', n.id, n.type, n.payload, r.version, r.conditions, r.actions, r.max_attempts, coalesce(em.depth, 0)
          FROM new_rows n JOIN automation_rules r ON r.enabled AND r.trigger_event = n.type
          LEFT JOIN automation_emitted em ON em.event_id = n.id
         ORDER BY n.id, r.id
        ON CONFLICT (rule_id, trigger_key) DO NOTHING
        RETURNING automation_runs.id, automation_runs.max_attempts
    )
    INSERT INTO jobs (kind, payload, max_attempts, unique_key)
    SELECT 'automation.run', jsonb_build_object('run_id', runs.id), runs.max_attempts, 'automation.run:' || runs.id FROM runs
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_events_automation AFTER INSERT ON outbox_events REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION souq_automation_enqueue();

-- The period's run of a scheduled rule (p_job is the schedule's job for the period): created once, with its job.
-- NULL when the rule is gone or disabled or no longer scheduled.
CREATE FUNCTION souq_automation_schedule_fire(p_rule text, p_job text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r automation_rules;
    v_run text;
BEGIN
    SELECT * INTO r FROM automation_rules t WHERE t.id = p_rule AND t.enabled AND t.schedule IS NOT NULL;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO automation_runs (rule_id, trigger, trigger_key, event_type, payload, rule_version, conditions, actions, max_attempts)
    VALUES (r.id, 'schedule', p_job, 'automation.schedule', jsonb_build_object('rule_id', r.id, 'schedule', r.schedule, 'fired_at', now()),
            r.version, r.conditions, r.actions, r.max_attempts)
    ON CONFLICT (rule_id, trigger_key) DO NOTHING RETURNING id INTO v_run;
    IF v_run IS NULL THEN
        SELECT t.id INTO v_run FROM automation_runs t WHERE t.rule_id = r.id AND t.trigger_key = p_job;
    END IF;
    INSERT INTO jobs (kind, payload, max_attempts, unique_key)
    VALUES ('automation.run', jsonb_build_object('run_id', v_run), r.max_attempts, 'automation.run:' || v_run)
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING;
    RETURN v_run;
END $$;

-- ---- executing a run -------------------------------------------------------------------------------------------

-- Starts attempt p_attempt of a run: the run as the runner needs it, or NULL when it is gone. A finished run comes
-- back as it is (the runner does nothing); a run whose rule was disabled meanwhile is canceled.
CREATE FUNCTION souq_automation_run_begin(p_run text, p_attempt int) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    x automation_runs;
    v_enabled boolean;
BEGIN
    SELECT * INTO x FROM automation_runs t WHERE t.id = p_run FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- a dead run whose job was retried by hand (POST /v1/admin/jobs/{id}/retry: a new attempt) goes on from its failed step
    IF x.state = 'dead' AND p_attempt > x.attempts THEN
        UPDATE automation_runs t SET state = 'retrying', completed_at = NULL, max_attempts = greatest(t.max_attempts, p_attempt), updated_at = now()
         WHERE t.id = p_run RETURNING * INTO x;
    END IF;
    IF x.state IN ('pending', 'running', 'retrying') THEN
        SELECT r.enabled INTO v_enabled FROM automation_rules r WHERE r.id = x.rule_id;
        IF NOT coalesce(v_enabled, false) THEN
            UPDATE automation_runs t SET state = 'canceled', last_error = 'rule disabled', completed_at = now(), updated_at = now()
             WHERE t.id = p_run RETURNING * INTO x;
        ELSE
            UPDATE automation_runs t SET state = 'running', attempts = greatest(t.attempts, p_attempt), updated_at = now()
             WHERE t.id = p_run RETURNING * INTO x;
        END IF;
    END IF;
    RETURN json_build_object('id', x.id, 'rule_id', x.rule_id, 'state', x.state, 'trigger', x.trigger, 'trigger_key', x.trigger_key,
        'event_type', x.event_type, 'payload', x.payload, 'conditions', x.conditions, 'actions', x.actions, 'matched', x.matched,
        'step', x.step, 'depth', x.depth, 'max_attempts', x.max_attempts);
END $$;

-- Records the conditions' verdict (first attempt only); a run whose conditions do not hold is skipped.
CREATE FUNCTION souq_automation_run_match(p_run text, p_matched boolean, p_results jsonb) RETURNS text LANGUAGE sql AS $$
    UPDATE automation_runs t SET matched = p_matched, condition_results = p_results,
           state = CASE WHEN p_matched THEN t.state ELSE 'skipped' END,
           completed_at = CASE WHEN p_matched THEN NULL ELSE now() END, updated_at = now()
     WHERE t.id = p_run AND t.matched IS NULL
    RETURNING t.state
$$;

-- Step p_step of a run may apply its effect: true (the run row is locked until the transaction ends) when it is the
-- run's next step; false when it was done already (a replay: the effect is not applied again).
CREATE FUNCTION souq_automation_step_claim(p_run text, p_step int) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_step int;
BEGIN
    SELECT t.step INTO v_step FROM automation_runs t WHERE t.id = p_run AND t.state IN ('running', 'retrying', 'pending') FOR UPDATE;
    RETURN FOUND AND v_step = p_step;
END $$;

-- Records step p_step's outcome and advances the run (the caller claimed the step in the same transaction, or
-- performs an external action before recording it). Returns the result as recorded.
CREATE FUNCTION souq_automation_step_done(p_run text, p_step int, p_type text, p_result jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v jsonb := jsonb_build_object('index', p_step, 'type', p_type, 'outcome', 'succeeded', 'result', p_result, 'at', now());
BEGIN
    UPDATE automation_runs t SET step = t.step + 1, action_results = t.action_results || v, updated_at = now()
     WHERE t.id = p_run AND t.step = p_step;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('index', p_step, 'type', p_type, 'outcome', 'already_done');
    END IF;
    RETURN v;
END $$;

-- A failed attempt: the run retries (the job's backoff) or, when permanent or out of attempts, is dead. The failing
-- action's outcome is in the run's errors (the action results hold only the steps that succeeded).
CREATE FUNCTION souq_automation_run_fail(p_run text, p_attempt int, p_step int, p_type text, p_error text, p_permanent boolean)
RETURNS text LANGUAGE sql AS $$
    UPDATE automation_runs t SET
        state = CASE WHEN p_permanent OR p_attempt >= t.max_attempts THEN 'dead' ELSE 'retrying' END,
        last_error = left(p_error, 1000),
        errors = t.errors || jsonb_build_object('attempt', p_attempt, 'at', now(), 'index', p_step, 'type', p_type,
                                                'error', left(p_error, 1000), 'permanent', p_permanent),
        completed_at = CASE WHEN p_permanent OR p_attempt >= t.max_attempts THEN now() END, updated_at = now()
     WHERE t.id = p_run AND t.state IN ('running', 'retrying', 'pending')
    RETURNING t.state
$$;

CREATE FUNCTION souq_automation_run_finish(p_run text) RETURNS text LANGUAGE sql AS $$
    UPDATE automation_runs t SET state = 'succeeded', last_error = NULL, completed_at = now(), updated_at = now()
     WHERE t.id = p_run AND t.state IN ('running', 'retrying', 'pending')
    RETURNING t.state
$$;

-- ---- the database actions (one SQL function each; the C registry names them) ----------------------------------

-- tag_customer: p_target is {"customer_id": ...} or {"order_id": ...} (the order's customer).
CREATE FUNCTION souq_automation_tag_customer(p_run text, p_step int, p_target jsonb, p_tags jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_cus text := p_target->>'customer_id';
    v_before text[];
    v_after text[];
BEGIN
    IF NOT souq_automation_step_claim(p_run, p_step) THEN
        RETURN jsonb_build_object('outcome', 'already_done');
    END IF;
    IF v_cus IS NULL AND p_target ? 'order_id' THEN
        SELECT o.customer_id INTO v_cus FROM orders o WHERE o.id = p_target->>'order_id';
        IF v_cus IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The order ' || (p_target->>'order_id') || ' has no customer.';
        END IF;
    END IF;
    SELECT c.tags INTO v_before FROM customers c WHERE c.id = v_cus FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The customer ' || coalesce(v_cus, '') || ' does not exist.';
    END IF;
    UPDATE customers c SET tags = souq_tags_add(c.tags, souq_text_array(p_tags)) WHERE c.id = v_cus RETURNING c.tags INTO v_after;
    RETURN souq_automation_step_done(p_run, p_step, 'tag_customer', jsonb_build_object('customer_id', v_cus,
        'added', to_jsonb(ARRAY(SELECT t FROM unnest(v_after) t WHERE t <> ALL (v_before))), 'tags', to_jsonb(v_after)));
END $$;

CREATE FUNCTION souq_automation_tag_order(p_run text, p_step int, p_order text, p_tags jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_before text[];
    v_after text[];
BEGIN
    IF NOT souq_automation_step_claim(p_run, p_step) THEN
        RETURN jsonb_build_object('outcome', 'already_done');
    END IF;
    SELECT o.tags INTO v_before FROM orders o WHERE o.id = p_order FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The order ' || coalesce(p_order, '') || ' does not exist.';
    END IF;
    UPDATE orders o SET tags = souq_tags_add(o.tags, souq_text_array(p_tags)) WHERE o.id = p_order RETURNING o.tags INTO v_after;
    RETURN souq_automation_step_done(p_run, p_step, 'tag_order', jsonb_build_object('order_id', p_order,
        'added', to_jsonb(ARRAY(SELECT t FROM unnest(v_after) t WHERE t <> ALL (v_before))), 'tags', to_jsonb(v_after)));
END $$;

-- emit_event: an automation.custom_event in the outbox (webhooks and rules receive it). A chain of rules emitting
-- events that trigger rules stops at depth 3 (a permanent failure of the emitting action).
CREATE FUNCTION souq_automation_emit(p_run text, p_step int, p_name text, p_data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    x automation_runs;
    v_event text := souq_id('evt');
BEGIN
    IF NOT souq_automation_step_claim(p_run, p_step) THEN
        RETURN jsonb_build_object('outcome', 'already_done');
    END IF;
    SELECT * INTO x FROM automation_runs t WHERE t.id = p_run;
    IF x.depth >= 3 THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = 'Rules emitting events that trigger rules stop at a depth of 3.';
    END IF;
    INSERT INTO automation_emitted (event_id, run_id, depth) VALUES (v_event, p_run, x.depth + 1);
    INSERT INTO outbox_events (id, type, payload)
    VALUES (v_event, 'automation.custom_event', jsonb_build_object('name', p_name, 'data', coalesce(p_data, '{}'::jsonb),
            'rule_id', x.rule_id, 'run_id', x.id, 'source_event_id', CASE WHEN x.trigger = 'event' THEN x.trigger_key END,
            'source_event_type', x.event_type));
    -- the depth was needed only by the runs the insert just created (the statement trigger has run)
    DELETE FROM automation_emitted WHERE event_id = v_event;
    RETURN souq_automation_step_done(p_run, p_step, 'emit_event', jsonb_build_object('event_id', v_event, 'name', p_name));
END $$;

-- adjust_price: the new amount of a price from its current one: set, delta or percent (basis points, rounded half
-- away from zero like core/base/money.c), then held within floor and ceiling. Used by the action and its dry run.
CREATE FUNCTION souq_automation_price_new(p_old bigint, p jsonb) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT greatest(coalesce((p->>'floor')::bigint, 0), least(coalesce((p->>'ceiling')::bigint, 9223372036854775807),
        greatest(0, CASE WHEN p ? 'set' THEN (p->>'set')::bigint
                         WHEN p ? 'delta' THEN p_old + (p->>'delta')::bigint
                         ELSE p_old + round(p_old::numeric * (p->>'percent')::numeric / 10000)::bigint END)))
$$;

-- The price an adjust_price action changes and what it would become (dry runs; reads only).
CREATE FUNCTION souq_automation_price_preview(p jsonb) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('variant_id', p->>'variant_id', 'price_list_id', p->>'price_list_id', 'currency_code', p->>'currency_code',
        'variant_exists', EXISTS (SELECT 1 FROM product_variants v WHERE v.id = p->>'variant_id'),
        'old_amount', (SELECT pr.amount FROM prices pr WHERE pr.variant_id = p->>'variant_id'
                         AND coalesce(pr.price_list_id, '') = coalesce(p->>'price_list_id', '') AND pr.currency_code = p->>'currency_code'
                         AND pr.min_quantity = 1),
        'new_amount', (SELECT souq_automation_price_new(pr.amount, p) FROM prices pr WHERE pr.variant_id = p->>'variant_id'
                         AND coalesce(pr.price_list_id, '') = coalesce(p->>'price_list_id', '') AND pr.currency_code = p->>'currency_code'
                         AND pr.min_quantity = 1
                       UNION ALL SELECT souq_automation_price_new(0, p) WHERE p ? 'set' LIMIT 1))
$$;

-- adjust_price: changes the price (min_quantity 1) of a variant in the base prices (price_list_id null) or a list;
-- the prices trigger writes price.changed. set creates the price when there is none; delta and percent need one.
CREATE FUNCTION souq_automation_adjust_price(p_run text, p_step int, p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_old bigint;
    v_new bigint;
    v_id text;
BEGIN
    IF NOT souq_automation_step_claim(p_run, p_step) THEN
        RETURN jsonb_build_object('outcome', 'already_done');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM product_variants v WHERE v.id = p->>'variant_id') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The variant ' || coalesce(p->>'variant_id', '') || ' does not exist.';
    END IF;
    SELECT pr.id, pr.amount INTO v_id, v_old FROM prices pr
     WHERE pr.variant_id = p->>'variant_id' AND coalesce(pr.price_list_id, '') = coalesce(p->>'price_list_id', '')
       AND pr.currency_code = p->>'currency_code' AND pr.min_quantity = 1 FOR UPDATE;
    IF NOT FOUND THEN
        IF NOT p ? 'set' THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ404', MESSAGE = 'The variant has no such price to adjust.';
        END IF;
        v_new := souq_automation_price_new(0, p);
        INSERT INTO prices (variant_id, price_list_id, currency_code, amount) VALUES (p->>'variant_id', p->>'price_list_id', p->>'currency_code', v_new)
        RETURNING id INTO v_id;
    ELSE
        v_new := souq_automation_price_new(v_old, p);
        UPDATE prices SET amount = v_new WHERE id = v_id;
    END IF;
    RETURN souq_automation_step_done(p_run, p_step, 'adjust_price', jsonb_build_object('price_id', v_id, 'variant_id', p->>'variant_id',
        'price_list_id', p->>'price_list_id', 'currency_code', p->>'currency_code', 'old_amount', v_old, 'new_amount', v_new,
        'bounded', v_new IS DISTINCT FROM souq_automation_price_new(coalesce(v_old, 0), p - 'floor' - 'ceiling')));
END $$;

-- ---- admin JSON --------------------------------------------------------------------------------------------------

CREATE FUNCTION souq_automation_rule_json(r automation_rules) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', r.id, 'object', 'automation_rule', 'name', r.name, 'description', r.description, 'enabled', r.enabled,
        'trigger', CASE WHEN r.trigger_event IS NOT NULL THEN json_build_object('type', 'event', 'event', r.trigger_event)
                        ELSE json_build_object('type', 'schedule', 'schedule', r.schedule,
                             'next_run_at', (SELECT s.next_run_at FROM job_schedules s WHERE s.id = 'automation.' || r.id AND s.enabled)) END,
        'conditions', r.conditions, 'actions', r.actions, 'max_attempts', r.max_attempts, 'version', r.version,
        'metadata', r.metadata, 'created_by', r.created_by, 'created_at', r.created_at, 'updated_at', r.updated_at)
$$;

-- A run as the history shows it. A run whose job was given up while it held a lease (the node died on the last
-- attempt) shows as dead; retrying its job (execution_job_id) by hand continues it from the failed step.
CREATE FUNCTION souq_automation_run_json(x automation_runs) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', x.id, 'object', 'automation_run', 'rule_id', x.rule_id, 'rule_version', x.rule_version,
        'trigger', x.trigger, 'event_id', CASE WHEN x.trigger = 'event' THEN x.trigger_key END,
        'job_id', CASE WHEN x.trigger = 'schedule' THEN x.trigger_key END, 'event_type', x.event_type, 'execution_job_id', j.id,
        'state', CASE WHEN x.state IN ('pending', 'running', 'retrying') AND j.state = 'discarded' THEN 'dead' ELSE x.state END,
        'matched', x.matched, 'conditions', coalesce(x.condition_results, '[]'::jsonb),
        'actions', (SELECT coalesce(jsonb_agg(CASE WHEN r.value IS NOT NULL THEN r.value
                                             WHEN e.value IS NOT NULL THEN jsonb_build_object('index', a.i - 1, 'type', a.v->>'type',
                                                  'outcome', 'failed', 'error', e.value->>'error', 'at', e.value->'at')
                                             ELSE jsonb_build_object('index', a.i - 1, 'type', a.v->>'type', 'outcome',
                                                  CASE WHEN x.state = 'skipped' OR x.matched IS FALSE THEN 'not_run' ELSE 'pending' END) END
                                        ORDER BY a.i), '[]'::jsonb)
                      FROM jsonb_array_elements(x.actions) WITH ORDINALITY a(v, i)
                      LEFT JOIN LATERAL (SELECT rr.value FROM jsonb_array_elements(x.action_results) rr
                                          WHERE (rr.value->>'index')::int = a.i - 1 LIMIT 1) r ON true
                      LEFT JOIN LATERAL (SELECT ee.value FROM jsonb_array_elements(x.errors) WITH ORDINALITY ee(value, k)
                                          WHERE (ee.value->>'index')::int = a.i - 1 AND a.i - 1 = x.step
                                          ORDER BY ee.k DESC LIMIT 1) e ON true),
        'attempts', x.attempts, 'max_attempts', x.max_attempts, 'last_error', x.last_error, 'errors', x.errors,
        'next_attempt_at', CASE WHEN j.state IN ('scheduled', 'retryable') THEN j.run_at END,
        'created_at', x.created_at, 'updated_at', x.updated_at, 'completed_at', x.completed_at)
      FROM (SELECT 1) one LEFT JOIN jobs j ON j.unique_key = 'automation.run:' || x.id
$$;

-- Creates (p_id NULL) or updates a rule. b is the validated body; the server adds _every_s/_daily_min for a
-- schedule trigger. References are checked here: a webhook (call_webhook), a variant or price list (adjust_price).
CREATE FUNCTION souq_automation_rule_save(p_id text, b jsonb, p_etag text, p_actor text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    cur automation_rules;
    a jsonb;
    i int := 0;
    v_changed boolean;
BEGIN
    IF b ? 'actions' THEN
        FOR a IN SELECT value FROM jsonb_array_elements(b->'actions') LOOP
            IF a->>'type' = 'call_webhook' AND NOT EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.id = a->'params'->>'webhook_id') THEN
                RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/actions/' || i || '/params/webhook_id|not_found|The webhook endpoint does not exist.';
            END IF;
            IF a->>'type' = 'adjust_price' AND a->'params' ? 'variant_id'
               AND NOT EXISTS (SELECT 1 FROM product_variants v WHERE v.id = a->'params'->>'variant_id') THEN
                RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/actions/' || i || '/params/variant_id|not_found|The variant does not exist.';
            END IF;
            IF a->>'type' = 'adjust_price' AND a->'params'->>'price_list_id' IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM price_lists l WHERE l.id = a->'params'->>'price_list_id') THEN
                RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/actions/' || i || '/params/price_list_id|not_found|The price list does not exist.';
            END IF;
            i := i + 1;
        END LOOP;
    END IF;
    IF p_id IS NULL THEN
        INSERT INTO automation_rules (name, description, enabled, trigger_event, schedule, conditions, actions, max_attempts, metadata, created_by)
        VALUES (b->>'name', b->>'description', coalesce((b->>'enabled')::boolean, true), b->'trigger'->>'event', b->'trigger'->>'schedule',
                CASE WHEN jsonb_typeof(b->'conditions') = 'object' THEN b->'conditions' END, b->'actions',
                coalesce((b->>'max_attempts')::int, 5), jsonb_strip_nulls(coalesce(b->'metadata', '{}')), p_actor)
        RETURNING * INTO cur;
    ELSE
        SELECT * INTO cur FROM automation_rules t WHERE t.id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        PERFORM souq_check_etag(souq_automation_rule_json(cur), p_etag);
        v_changed := b ? 'trigger' OR b ? 'conditions' OR b ? 'actions' OR b ? 'max_attempts';
        UPDATE automation_rules r SET
            name = coalesce(b->>'name', r.name),
            description = CASE WHEN b ? 'description' THEN b->>'description' ELSE r.description END,
            enabled = coalesce((b->>'enabled')::boolean, r.enabled),
            trigger_event = CASE WHEN b ? 'trigger' THEN b->'trigger'->>'event' ELSE r.trigger_event END,
            schedule = CASE WHEN b ? 'trigger' THEN b->'trigger'->>'schedule' ELSE r.schedule END,
            conditions = CASE WHEN b ? 'conditions' THEN CASE WHEN jsonb_typeof(b->'conditions') = 'object' THEN b->'conditions' END
                              ELSE r.conditions END,
            actions = coalesce(b->'actions', r.actions),
            max_attempts = coalesce((b->>'max_attempts')::int, r.max_attempts),
            version = r.version + CASE WHEN v_changed THEN 1 ELSE 0 END,
            metadata = souq_merge_metadata(r.metadata, b), updated_at = now()
         WHERE r.id = p_id RETURNING * INTO cur;
    END IF;
    IF cur.schedule IS NOT NULL THEN
        IF b ? 'trigger' THEN
            PERFORM souq_schedule_upsert('automation.' || cur.id, 'automation.schedule', cur.schedule, (b->>'_every_s')::int,
                                         (b->>'_daily_min')::int, cur.enabled, cur.max_attempts);
            UPDATE job_schedules s SET payload = jsonb_build_object('rule_id', cur.id) WHERE s.id = 'automation.' || cur.id;
        ELSE
            UPDATE job_schedules s SET enabled = cur.enabled, max_attempts = cur.max_attempts, updated_at = now()
             WHERE s.id = 'automation.' || cur.id;
        END IF;
    ELSE
        DELETE FROM job_schedules s WHERE s.id = 'automation.' || cur.id;
    END IF;
    RETURN souq_automation_rule_json(cur);
END $$;

-- ---- retention -------------------------------------------------------------------------------------------------

-- Finished runs (succeeded, skipped, dead, canceled) go 90 days after they finished, up to 10 000 per call: the
-- automation.retention job (a built-in daily schedule) calls it. Returns how many went.
CREATE FUNCTION souq_automation_retention(p_days int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    DELETE FROM automation_runs x WHERE x.id IN (
        SELECT y.id FROM automation_runs y WHERE y.state IN ('succeeded', 'skipped', 'dead', 'canceled')
           AND y.completed_at < now() - p_days * interval '1 day' ORDER BY y.completed_at LIMIT 10000 FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
CREATE INDEX automation_runs_finished_idx ON automation_runs (completed_at) WHERE state IN ('succeeded', 'skipped', 'dead', 'canceled');
INSERT INTO job_schedules (id, kind, spec, daily_min, next_run_at)
VALUES ('automation.retention', 'automation.retention', 'daily at 04:30', 270, souq_schedule_next(NULL, 270, now()));
