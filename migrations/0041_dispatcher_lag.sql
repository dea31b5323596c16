-- 0041_dispatcher_lag.sql: the dispatcher's lag regression of 0029 (issue 6 follow-up).
--
-- 1. Notification targets are fanned out only while a notification provider is published. Since 0029 every
--    order.placed also became an order_confirmation delivery, which a store without an email plugin only logged as
--    skipped: twice the deliveries per order for nothing, and one node's dispatcher fell seconds behind at 500
--    orders/s. The nodes now publish their registry's notification providers with the plugin subscriptions
--    (notification_providers, souq_plugin_subscriptions_sync), and the notification rows of souq_event_targets are
--    enabled only while an enabled provider of email exists. Nothing is sent retroactively: an event matches a
--    notification target only when it occurred after the provider was enabled (since: when staff enabled or
--    configured the plugin, plugin_settings.updated_at, or when a node first published it enabled), so an order
--    placed while no provider was enabled gets no confirmation later. Exactly once per (event, kind) is unchanged
--    (the notifications table of 0029).
-- 2. Outcomes are recorded in batches: souq_deliveries_finish takes the results of many deliveries (a JSON array)
--    in one statement and one commit, instead of one statement and one durable commit per delivery. The claim
--    (souq_deliveries_claim) is plpgsql, so its plan is kept.
-- 3. An automation run killed by an attempt that then lost its job lease is not revived by the job coming back
--    (souq_automation_run_begin): only a retry by hand goes on with a dead run.

-- ---- 1. notification providers ------------------------------------------------------------------------------

CREATE TABLE notification_providers (
    plugin     text PRIMARY KEY CHECK (plugin ~ '^[a-z][a-z0-9_-]{0,47}$'),
    channels   text[] NOT NULL CHECK (cardinality(channels) BETWEEN 1 AND 2 AND channels <@ ARRAY['email', 'sms']),
    enabled    boolean NOT NULL,
    since      timestamptz, -- enabled since (events that occurred from then on are notified); NULL while disabled
    node       text NOT NULL, -- the node that published it last
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (enabled = (since IS NOT NULL))
);

-- p_subs: [{plugin, version, event_types?, notification_channels?, enabled}], a node's whole registry: entries with
-- event_types are subscriptions (0029), entries with notification_channels are providers. Rows that did not change are
-- left alone; a provider keeps its since while it stays enabled. Returns the number of subscriptions.
CREATE OR REPLACE FUNCTION souq_plugin_subscriptions_sync(p_subs jsonb, p_node text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    DELETE FROM plugin_event_subscriptions s
     WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_subs) x
                        WHERE x->>'plugin' = s.plugin AND jsonb_typeof(x->'event_types') = 'array');
    INSERT INTO plugin_event_subscriptions (plugin, version, event_types, enabled, node)
    SELECT x->>'plugin', x->>'version', souq_text_array(x->'event_types'), (x->>'enabled')::boolean, p_node
      FROM jsonb_array_elements(p_subs) x
     WHERE jsonb_typeof(x->'event_types') = 'array'
    ON CONFLICT (plugin) DO UPDATE SET version = EXCLUDED.version, event_types = EXCLUDED.event_types,
           enabled = EXCLUDED.enabled, node = EXCLUDED.node, updated_at = now()
     WHERE (plugin_event_subscriptions.version, plugin_event_subscriptions.event_types, plugin_event_subscriptions.enabled)
           IS DISTINCT FROM (EXCLUDED.version, EXCLUDED.event_types, EXCLUDED.enabled);

    DELETE FROM notification_providers p
     WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_subs) x
                        WHERE x->>'plugin' = p.plugin AND jsonb_typeof(x->'notification_channels') = 'array');
    INSERT INTO notification_providers AS p (plugin, channels, enabled, since, node)
    SELECT x->>'plugin', souq_text_array(x->'notification_channels'), (x->>'enabled')::boolean,
           -- the staff action that enabled it when there was one (least ignores a NULL), else now
           CASE WHEN (x->>'enabled')::boolean
                THEN least(now(), (SELECT s.updated_at FROM plugin_settings s WHERE s.name = x->>'plugin')) END, p_node
      FROM jsonb_array_elements(p_subs) x
     WHERE jsonb_typeof(x->'notification_channels') = 'array'
    ON CONFLICT (plugin) DO UPDATE SET channels = EXCLUDED.channels, enabled = EXCLUDED.enabled,
           since = CASE WHEN NOT EXCLUDED.enabled THEN NULL WHEN p.enabled THEN p.since ELSE EXCLUDED.since END,
           node = EXCLUDED.node, updated_at = now()
     WHERE (p.channels, p.enabled) IS DISTINCT FROM (EXCLUDED.channels, EXCLUDED.enabled);

    SELECT count(*) INTO n FROM plugin_event_subscriptions;
    RETURN n;
END $$;

-- since: a target matches only events that occurred from then on (NULL: any). The notification kinds send email;
-- they are on while an enabled provider of email is published, from the earliest such provider's since.
CREATE OR REPLACE VIEW souq_event_targets AS
    SELECT 'webhook'::text AS kind, w.id, w.event_types, w.enabled, NULL::timestamptz AS since FROM webhook_endpoints w
    UNION ALL
    SELECT 'plugin'::text, p.plugin, p.event_types, p.enabled, NULL::timestamptz FROM plugin_event_subscriptions p
    UNION ALL
    SELECT 'notification'::text, n.kind, ARRAY[n.event_type], n.enabled AND pr.since IS NOT NULL, pr.since
      FROM notification_settings n
     CROSS JOIN (SELECT min(x.since) AS since FROM notification_providers x WHERE x.enabled AND 'email' = ANY (x.channels)) pr;

-- As in 0023, with the targets' since.
CREATE OR REPLACE FUNCTION souq_events_fanout(p_limit int, p_max_attempts int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    WITH ev AS (
        SELECT e.id, e.type, e.occurred_at FROM outbox_events e
         WHERE e.state IN ('available', 'retryable') AND e.run_at <= now()
         ORDER BY e.run_at, e.id LIMIT p_limit FOR UPDATE SKIP LOCKED
    ), ins AS (
        INSERT INTO event_deliveries (event_id, target_kind, target_id, max_attempts)
        SELECT ev.id, t.kind, t.id, p_max_attempts FROM ev JOIN souq_event_targets t
            ON t.enabled AND souq_event_matches(t.event_types, ev.type) AND (t.since IS NULL OR ev.occurred_at >= t.since)
         ORDER BY ev.id, t.id
    )
    UPDATE outbox_events o SET state = 'completed', attempts = o.attempts + 1, locked_by = NULL, locked_until = NULL
      FROM ev WHERE o.id = ev.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- ---- 2. outcomes in batches ---------------------------------------------------------------------------------

-- Records the attempts of many deliveries this node holds, in one statement and one transaction: p_results is
-- [{i, id, target_kind, target_id, attempt, outcome, status, error, started_us, duration_ms, response, retry_ms}],
-- each as souq_delivery_finish takes it; answers (i, the delivery's new state or NULL when the lease was lost).
-- They are taken in (target, delivery) order, so batches of two nodes lock the webhook rows they update in the same
-- order. The commit does not wait for its WAL flush: a record lost in a crash leaves its delivery running until the
-- lease expires, and it is performed again (deliveries are at least once; notifications keep their own log).
CREATE FUNCTION souq_deliveries_finish(p_results jsonb, p_node text) RETURNS TABLE (i int, state text)
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    FOR r IN SELECT x FROM jsonb_array_elements(p_results) x
              ORDER BY x->>'target_kind', x->>'target_id', x->>'id' LOOP
        i := (r->>'i')::int;
        state := souq_delivery_finish(r->>'id', p_node, (r->>'attempt')::int, r->>'outcome', (r->>'status')::int, r->>'error',
                                      to_timestamp((r->>'started_us')::bigint / 1e6), (r->>'duration_ms')::int, r->>'response',
                                      (r->>'retry_ms')::bigint);
        RETURN NEXT;
    END LOOP;
END $$;

-- As in 0023, in plpgsql: a LANGUAGE sql function whose body updates is planned again on every call (the profile of
-- the webhook bench: 1.5 ms a claim); plpgsql keeps its plan for the session.
CREATE OR REPLACE FUNCTION souq_deliveries_claim(p_node text, p_limit int, p_lease_ms int)
RETURNS TABLE (id text, event_id text, event_type text, attempt int, max_attempts int, target_kind text, target_id text,
               trigger text, url text, enabled boolean, secret text, previous_secret text, body text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH ready AS (
        SELECT d.id FROM event_deliveries d WHERE d.state IN ('available', 'retryable') AND d.run_at <= now()
         ORDER BY d.run_at LIMIT p_limit FOR UPDATE SKIP LOCKED
    ), expired AS (
        SELECT d.id FROM event_deliveries d WHERE d.state = 'running' AND d.locked_until < now()
         ORDER BY d.locked_until LIMIT p_limit FOR UPDATE SKIP LOCKED
    ), c AS (
        SELECT expired.id FROM expired UNION ALL SELECT ready.id FROM ready
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
      LEFT JOIN webhook_endpoints w ON u.target_kind = 'webhook' AND w.id = u.target_id;
END $$;

-- ---- 3. automation runs: an expired lease is not a retry by hand ---------------------------------------------

-- As in 0032, but a dead run goes on only when its job was retried by hand (POST /v1/admin/jobs/{id}/retry), not
-- when the job came back because the lease of the attempt that killed the run expired before that attempt recorded
-- its job (souq_jobs_step then logs 'lease expired' for the previous attempt): that attempt's permanent failure
-- stands, and the action that failed is not called again. (tests/api/automation.test.mjs "call_webhook" once saw 2
-- attempts for a 410 answer in a loaded full test run: the attempt outlived its 3 s lease.)
CREATE OR REPLACE FUNCTION souq_automation_run_begin(p_run text, p_attempt int) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    x automation_runs;
    v_enabled boolean;
BEGIN
    SELECT * INTO x FROM automation_runs t WHERE t.id = p_run FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF x.state = 'dead' AND p_attempt > x.attempts
       AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.unique_key = 'automation.run:' || p_run
                          AND j.errors->-1->>'error' = 'lease expired' AND (j.errors->-1->>'attempt')::int = p_attempt - 1) THEN
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
