-- 0031_plugin_sdk.sql: the rest of the plugin SDK (plugins/host/kv.c, events.c, actions.c; core/plugin_sdk_db.c).
--   souq.kv           a key-value store per plugin, with TTLs; expired keys are invisible at once and deleted by the
--                     recurring job plugin_kv.purge (every 5 minutes, in batches).
--   souq.events.emit  custom events plugin.<plugin>.<type> through the outbox (souq_plugin_emit).
--   payment webhooks  a verified provider event may move a payment (captured, failed, refunded outside Souq); the
--                     move is applied in the statement that records the event id, so once per event id.
--   sales channels    plugin_settings.sales_channels restricts a plugin to some channels (NULL: every channel).

-- ---- souq.kv --------------------------------------------------------------------------------------------------------
-- Values are bytes (Lua strings); incr keeps the decimal text of an integer. A key is visible while expires_at is NULL
-- or in the future; an expired row is overwritten by the next set or incr of its key, or deleted by the purge job.
CREATE TABLE plugin_kv (
    plugin     text NOT NULL CHECK (plugin ~ '^[a-z][a-z0-9_-]{0,47}$'),
    key        text NOT NULL CHECK (octet_length(key) BETWEEN 1 AND 256),
    value      bytea NOT NULL CHECK (octet_length(value) <= 65536),
    expires_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plugin, key)
);
CREATE INDEX plugin_kv_expires_idx ON plugin_kv (expires_at) WHERE expires_at IS NOT NULL;

-- The live keys of a plugin are counted under a per-plugin advisory lock before a new key is written, so the cap
-- holds under concurrent writers; rewriting an existing key takes no lock.
CREATE FUNCTION souq_kv_room(p_plugin text, p_key text, p_max integer) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM plugin_kv WHERE plugin = p_plugin AND key = p_key AND (expires_at IS NULL OR expires_at > now())) THEN
        RETURN; -- a live key is rewritten: no new key (an expired one comes back to life: it counts)
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('souq_kv'), hashtext(p_plugin));
    IF (SELECT count(*) FROM plugin_kv WHERE plugin = p_plugin AND (expires_at IS NULL OR expires_at > now())) >= p_max THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('the plugin already has %s keys (the limit)', p_max);
    END IF;
END $$;

-- set: p_ttl_ms NULL keeps the key until deleted.
CREATE FUNCTION souq_kv_set(p_plugin text, p_key text, p_value bytea, p_ttl_ms bigint, p_max integer) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM souq_kv_room(p_plugin, p_key, p_max);
    INSERT INTO plugin_kv AS k (plugin, key, value, expires_at)
    VALUES (p_plugin, p_key, p_value, now() + make_interval(secs => p_ttl_ms / 1000.0))
    ON CONFLICT (plugin, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, updated_at = now();
    RETURN jsonb_build_object('ok', true);
END $$;

-- incr: adds p_by to the integer at the key (a missing or expired key counts as 0 and gets p_ttl_ms, if any; a
-- live key keeps its expiry, so a counter with a TTL is a fixed window). A value that is not an integer is an error.
CREATE FUNCTION souq_kv_incr(p_plugin text, p_key text, p_by bigint, p_ttl_ms bigint, p_max integer) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    cur  bytea;
    live boolean;
    n    bigint;
BEGIN
    PERFORM souq_kv_room(p_plugin, p_key, p_max);
    SELECT value, expires_at IS NULL OR expires_at > now() INTO cur, live FROM plugin_kv
     WHERE plugin = p_plugin AND key = p_key FOR UPDATE;
    IF FOUND AND live THEN
        IF encode(cur, 'escape') !~ '^-?[0-9]{1,19}$' THEN -- bytes that are not UTF-8 never match
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = 'the value at this key is not an integer';
        END IF;
        n := convert_from(cur, 'UTF8')::bigint + p_by; -- 22003 on overflow
        UPDATE plugin_kv SET value = convert_to(n::text, 'UTF8'), updated_at = now() WHERE plugin = p_plugin AND key = p_key;
    ELSE
        n := p_by;
        INSERT INTO plugin_kv AS k (plugin, key, value, expires_at)
        VALUES (p_plugin, p_key, convert_to(n::text, 'UTF8'), now() + make_interval(secs => p_ttl_ms / 1000.0))
        ON CONFLICT (plugin, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, updated_at = now();
    END IF;
    RETURN jsonb_build_object('value', n);
END $$;

-- The purge job: expired keys, oldest first, at most p_limit per run (SKIP LOCKED: nodes never wait on each other).
CREATE FUNCTION souq_kv_purge(p_limit integer) RETURNS jsonb LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM plugin_kv k USING (
            SELECT plugin, key FROM plugin_kv WHERE expires_at <= now() ORDER BY expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED
        ) x WHERE k.plugin = x.plugin AND k.key = x.key AND k.expires_at <= now() RETURNING 1)
    SELECT jsonb_build_object('deleted', (SELECT count(*) FROM gone));
$$;

SELECT souq_schedule_upsert('plugin_kv.purge', 'plugin_kv.purge', 'every 5 minutes', 300, NULL, true, 3);

-- ---- sales channels -------------------------------------------------------------------------------------------------
ALTER TABLE plugin_settings ADD COLUMN sales_channels text[]
    CHECK (sales_channels IS NULL OR cardinality(sales_channels) BETWEEN 1 AND 100);

-- ---- payment moves from provider webhooks ---------------------------------------------------------------------------
-- What core did with a verified event (NULL: the plugin asked for nothing): {"action", "result", "payment_id",
-- "order_id", "detail"}; result is applied, already (nothing left to do), or ignored (an illegal move, an unknown
-- payment: logged, answered 200 so the provider stops retrying).
ALTER TABLE plugin_webhook_events ADD COLUMN outcome jsonb;

-- Applies p_action (captured, failed, refunded) to the payment of one of the plugin's providers (p_providers) whose
-- provider_ref is p_ref. p_amount: captured: the amount taken (NULL: the payment's); refunded: the total refunded at
-- the provider so far (Stripe's amount_refunded), so refunds Souq made itself, and replays, add nothing.
CREATE FUNCTION souq_payment_webhook_apply(p_plugin text, p_event text, p_providers text[], p_action text, p_ref text,
                                           p_amount bigint, p_currency text, p_decline text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    pay   payments;
    o     orders;
    actor text := 'plugin:' || p_plugin;
    extra bigint;
    r     refunds;
    res   jsonb;
BEGIN
    SELECT * INTO pay FROM payments WHERE provider = ANY (p_providers) AND provider_ref = p_ref ORDER BY id LIMIT 1 FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('action', p_action, 'result', 'ignored', 'detail', 'no payment of this plugin has this provider_ref');
    END IF;
    res := jsonb_build_object('action', p_action, 'payment_id', pay.id, 'order_id', pay.order_id);
    IF p_currency IS NOT NULL AND p_currency <> pay.currency_code THEN
        RETURN res || jsonb_build_object('result', 'ignored', 'detail', 'the currency is not the payment''s');
    END IF;
    IF pay.order_id IS NULL THEN -- still a checkout: the buyer's return (or a retry of complete) settles it
        RETURN res || jsonb_build_object('result', 'ignored', 'detail', 'the payment has no order yet');
    END IF;
    SELECT * INTO o FROM orders WHERE id = pay.order_id FOR UPDATE;
    IF p_action = 'captured' THEN
        IF pay.status = 'captured' THEN
            RETURN res || jsonb_build_object('result', 'already', 'detail', 'the payment is captured');
        END IF;
        IF pay.status NOT IN ('authorized', 'pending') OR o.status = 'canceled' OR o.payment_status NOT IN ('pending', 'authorized') THEN
            RETURN res || jsonb_build_object('result', 'ignored',
                'detail', format('the payment is %s and the order''s payment %s: it cannot become captured', pay.status, o.payment_status));
        END IF;
        IF p_amount IS NOT NULL AND (p_amount <= 0 OR p_amount > pay.amount) THEN
            RETURN res || jsonb_build_object('result', 'ignored', 'detail', 'the captured amount does not fit the payment');
        END IF;
        UPDATE payments SET status = 'captured', captured_amount = coalesce(p_amount, amount) WHERE id = pay.id;
        PERFORM souq_order_payment_move(o, 'paid');
        UPDATE orders SET paid_total = paid_total + coalesce(p_amount, pay.amount) WHERE id = o.id;
        PERFORM souq_order_event(o.id, 'order.paid', jsonb_build_object('amount', coalesce(p_amount, pay.amount), 'payment_id', pay.id,
                                 'source', 'provider', 'provider_event_id', p_event), actor, true);
        RETURN res || jsonb_build_object('result', 'applied');
    ELSIF p_action = 'failed' THEN
        IF pay.status IN ('declined', 'voided', 'canceled', 'error') THEN
            RETURN res || jsonb_build_object('result', 'already', 'detail', format('the payment is %s', pay.status));
        END IF;
        IF pay.status NOT IN ('authorized', 'pending', 'requires_action') OR o.payment_status NOT IN ('pending', 'authorized') THEN
            RETURN res || jsonb_build_object('result', 'ignored',
                'detail', format('the payment is %s and the order''s payment %s: it cannot fail now', pay.status, o.payment_status));
        END IF;
        UPDATE payments SET status = 'declined', decline_code = coalesce(p_decline, decline_code) WHERE id = pay.id;
        PERFORM souq_order_payment_move(o, 'voided');
        PERFORM souq_order_event(o.id, 'order.payment_failed', jsonb_build_object('payment_id', pay.id, 'decline_code', p_decline,
                                 'provider_event_id', p_event), actor, true);
        RETURN res || jsonb_build_object('result', 'applied');
    ELSIF p_action = 'refunded' THEN
        IF p_amount IS NULL OR p_amount <= 0 THEN
            RETURN res || jsonb_build_object('result', 'ignored', 'detail', 'a refund needs the total refunded amount');
        END IF;
        IF pay.status <> 'captured' OR o.payment_status NOT IN ('paid', 'partially_refunded') THEN
            RETURN res || jsonb_build_object('result', 'ignored',
                'detail', format('the payment is %s and the order''s payment %s: nothing to refund', pay.status, o.payment_status));
        END IF;
        extra := p_amount - pay.refunded_amount - pay.refund_pending;
        IF extra <= 0 THEN
            RETURN res || jsonb_build_object('result', 'already', 'detail', 'Souq has recorded this much already');
        END IF;
        IF pay.refunded_amount + pay.refund_pending + extra > pay.captured_amount THEN
            RETURN res || jsonb_build_object('result', 'ignored', 'detail', 'the refunded total exceeds what was captured');
        END IF;
        INSERT INTO refunds (order_id, payment_id, amount, reason, note, status, provider_ref, actor)
        VALUES (o.id, pay.id, extra, 'other', 'Refunded at the payment provider.', 'succeeded', p_event, actor) RETURNING * INTO r;
        UPDATE payments SET refunded_amount = refunded_amount + extra WHERE id = pay.id;
        UPDATE orders SET refunded_total = refunded_total + extra WHERE id = o.id;
        PERFORM souq_order_payment_move(o, CASE WHEN o.refunded_total + extra >= o.paid_total THEN 'refunded' ELSE 'partially_refunded' END);
        PERFORM souq_order_event(o.id, 'refund.created', jsonb_build_object('refund_id', r.id, 'amount', r.amount, 'reason', r.reason),
                                 actor, true);
        RETURN res || jsonb_build_object('result', 'applied', 'refund_id', r.id);
    END IF;
    RETURN res || jsonb_build_object('result', 'ignored', 'detail', 'unknown action');
END $$;

-- plugin_webhook_events' record (0027) with a payment move: the first receipt of (plugin, event id) applies the move,
-- keeps its outcome on the row and writes plugin.webhook_received (with the outcome); a replay changes nothing.
CREATE FUNCTION souq_plugin_webhook_payment(p_plugin text, p_event text, p_type text, p_data jsonb, p_providers text[],
                                            p_action text, p_ref text, p_amount bigint, p_currency text, p_decline text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    res jsonb;
BEGIN
    INSERT INTO plugin_webhook_events (plugin, event_id, event_type) VALUES (p_plugin, p_event, p_type)
    ON CONFLICT (plugin, event_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('duplicate', true, 'events', 0, 'outcome', NULL);
    END IF;
    res := souq_payment_webhook_apply(p_plugin, p_event, p_providers, p_action, p_ref, p_amount, p_currency, p_decline);
    UPDATE plugin_webhook_events SET outcome = res WHERE plugin = p_plugin AND event_id = p_event;
    INSERT INTO outbox_events (type, payload) VALUES ('plugin.webhook_received', jsonb_build_object('plugin', p_plugin,
        'event_id', p_event, 'event_type', p_type, 'data', coalesce(p_data, '{}'::jsonb), 'payment', res));
    RETURN jsonb_build_object('duplicate', false, 'events', 1, 'outcome', res);
END $$;

-- plugin_settings_put (core/plugin_db.c) with the sales channels: p_channels NULL keeps them, JSON null serves every
-- channel, an array of channel ids restricts the plugin to them (each must exist: 422 at /sales_channels/<i>).
CREATE FUNCTION souq_plugin_settings_put(p_name text, p_enabled boolean, p_set jsonb, p_unset jsonb, p_channels jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    s   plugin_settings;
    chs text[];
    i   integer;
BEGIN
    IF p_channels IS NOT NULL AND jsonb_typeof(p_channels) = 'array' THEN
        chs := ARRAY(SELECT jsonb_array_elements_text(p_channels));
        FOR i IN 1 .. coalesce(cardinality(chs), 0) LOOP
            IF NOT EXISTS (SELECT 1 FROM sales_channels WHERE id = chs[i]) THEN
                RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/sales_channels/%s|not_found|No sales channel has this id.', i - 1);
            END IF;
        END LOOP;
    END IF;
    INSERT INTO plugin_settings AS t (name, enabled, config, sales_channels)
    VALUES (p_name, coalesce(p_enabled, true), p_set - ARRAY(SELECT jsonb_array_elements_text(p_unset)), chs)
    ON CONFLICT (name) DO UPDATE SET enabled = coalesce(p_enabled, t.enabled),
        config = (t.config || p_set) - ARRAY(SELECT jsonb_array_elements_text(p_unset)),
        sales_channels = CASE WHEN p_channels IS NULL THEN t.sales_channels ELSE chs END,
        updated_at = greatest(now(), t.updated_at + interval '1 microsecond')
    RETURNING * INTO s;
    RETURN jsonb_build_object('enabled', s.enabled, 'config', s.config, 'sales_channels', to_jsonb(s.sales_channels),
                              'updated_at', (extract(epoch FROM s.updated_at) * 1000000)::bigint);
END $$;
