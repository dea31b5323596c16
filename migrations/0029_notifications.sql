-- 0029_notifications.sql: plugin event subscribers and order notifications, as two more target kinds of the
-- dispatcher of 0023 (one queue, one lease, one retry schedule, one dead letter and one delivery log for every
-- consumer of the outbox):
--   plugin        a loaded plugin that declares "events" in its manifest; the dispatcher calls its on_event
--                 (target_id = the plugin's name). The set is published by the nodes from their plugin registry
--                 (souq_plugin_subscriptions_sync) because the manifests live in files, not in the database.
--   notification  a built-in order notification kind (target_id = order_confirmation, ...): the dispatcher
--                 renders its template and sends it through the notification provider (core/notify.c).
-- Whoever adds a further target kind keeps these rows of souq_event_targets and these values of the CHECK.

ALTER TABLE event_deliveries DROP CONSTRAINT IF EXISTS event_deliveries_target_kind_check;
ALTER TABLE event_deliveries ADD CONSTRAINT event_deliveries_target_kind_check
    CHECK (target_kind IN ('webhook', 'plugin', 'notification'));

-- ---- plugin subscribers -------------------------------------------------------------------------------------

CREATE TABLE plugin_event_subscriptions (
    plugin      text PRIMARY KEY CHECK (plugin ~ '^[a-z][a-z0-9_-]{0,47}$'),
    version     text NOT NULL,
    event_types text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 100),
    enabled     boolean NOT NULL,
    node        text NOT NULL, -- the node that published it last
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Replaces the published set with p_subs ([{plugin, version, event_types, enabled}], a node's whole registry), in
-- one statement; rows that did not change are left alone. Nodes are expected to run the same plugin folders; when
-- they do not, the last to load wins (documented). Returns the number of subscriptions.
CREATE FUNCTION souq_plugin_subscriptions_sync(p_subs jsonb, p_node text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    DELETE FROM plugin_event_subscriptions s
     WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_subs) x WHERE x->>'plugin' = s.plugin);
    INSERT INTO plugin_event_subscriptions (plugin, version, event_types, enabled, node)
    SELECT x->>'plugin', x->>'version', souq_text_array(x->'event_types'), (x->>'enabled')::boolean, p_node
      FROM jsonb_array_elements(p_subs) x
    ON CONFLICT (plugin) DO UPDATE SET version = EXCLUDED.version, event_types = EXCLUDED.event_types,
           enabled = EXCLUDED.enabled, node = EXCLUDED.node, updated_at = now()
     WHERE (plugin_event_subscriptions.version, plugin_event_subscriptions.event_types, plugin_event_subscriptions.enabled)
           IS DISTINCT FROM (EXCLUDED.version, EXCLUDED.event_types, EXCLUDED.enabled);
    SELECT count(*) INTO n FROM plugin_event_subscriptions;
    RETURN n;
END $$;

-- A delivery of an existing event to a plugin subscriber asked for through the admin API (trigger replay): a dead
-- letter sent again, or an event from before the plugin subscribed. SQ422 at /event_id when the event does not exist.
CREATE FUNCTION souq_plugin_delivery_create(p_event_id text, p_plugin text, p_max_attempts int) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    d event_deliveries;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM outbox_events e WHERE e.id = p_event_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/event_id|not_found|The event does not exist.';
    END IF;
    INSERT INTO event_deliveries (event_id, target_kind, target_id, trigger, max_attempts)
    VALUES (p_event_id, 'plugin', p_plugin, 'replay', p_max_attempts) RETURNING * INTO d;
    RETURN (souq_delivery_json(d)::jsonb || jsonb_build_object('plugin', d.target_id))::json;
END $$;

-- ---- order notifications --------------------------------------------------------------------------------------

-- One row per notification kind: on/off and the store's overrides of the built-in templates (NULL: the default,
-- which lives in core/notify.c). The kinds and their events are fixed by the code.
CREATE TABLE notification_settings (
    kind       text PRIMARY KEY,
    event_type text NOT NULL UNIQUE,
    enabled    boolean NOT NULL DEFAULT true,
    subject    text CHECK (length(subject) BETWEEN 1 AND 500),
    text_body  text CHECK (length(text_body) BETWEEN 1 AND 20000),
    html_body  text CHECK (length(html_body) BETWEEN 1 AND 100000),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO notification_settings (kind, event_type) VALUES
    ('order_confirmation', 'order.placed'), ('order_shipped', 'order.shipped'),
    ('order_delivered', 'order.delivered'), ('refund_issued', 'refund.created'),
    ('password_reset', 'customer.password_reset_requested'); -- a sensitive type: matched by its exact name only

-- The notification log: one row per (event, kind), so an event delivered twice (a lost lease, a replay) is sent
-- once: a row already 'sent' (or given up) is not sent again, and a row being sent (sending_until in the future) makes
-- a concurrent delivery wait and retry. A row still 'pending' after a crash between the provider's answer and this
-- table is sent again, with the same idempotency key, once its claim has expired.
CREATE TABLE notifications (
    id                  text PRIMARY KEY DEFAULT souq_id('ntf'),
    kind                text NOT NULL REFERENCES notification_settings (kind),
    event_id            text NOT NULL,
    order_id            text REFERENCES orders (id) ON DELETE CASCADE,
    channel             text NOT NULL DEFAULT 'email' CHECK (channel IN ('email', 'sms')),
    recipient           text,
    subject             text,
    state               text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
    provider            text,
    provider_message_id text,
    attempts            integer NOT NULL DEFAULT 0,
    last_error          text,
    idempotency_key     text NOT NULL,
    sending_until       timestamptz, -- claimed by a delivery that is sending it (a concurrent delivery waits)
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    UNIQUE (event_id, kind)
);
CREATE INDEX notifications_order_idx ON notifications (order_id, id DESC);
CREATE INDEX notifications_sent_idx ON notifications (sent_at) WHERE sent_at IS NOT NULL;

CREATE OR REPLACE VIEW souq_event_targets AS
    SELECT 'webhook'::text AS kind, w.id, w.event_types, w.enabled FROM webhook_endpoints w
    UNION ALL
    SELECT 'plugin'::text, p.plugin, p.event_types, p.enabled FROM plugin_event_subscriptions p
    UNION ALL
    SELECT 'notification'::text, n.kind, ARRAY[n.event_type], n.enabled FROM notification_settings n;

-- What a notification delivery needs, in one statement: the log row (created on the first delivery, locked), the
-- recipient and the data of the template, the store's template overrides and whether the kind is still on.
-- Returns {notification_id, state, ..., data} where state is the row's state before this attempt: a state other than
-- pending means there is nothing to send. A row that cannot be sent (no order, no email, kind switched off) is
-- created as skipped with the reason. p_max_per_hour > 0 caps the notifications sent per hour (a spending cap on the
-- provider): over it the row stays pending with the reason and state 'capped' is answered (the delivery retries).
CREATE FUNCTION souq_notification_prepare(p_event_id text, p_kind text, p_max_per_hour int) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    e outbox_events;
    s notification_settings;
    o orders;
    cu customers;
    n notifications;
    v_skip text;
    v_first jsonb;
    v_recipient text;
    v_data jsonb;
BEGIN
    SELECT * INTO s FROM notification_settings WHERE kind = p_kind;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('state', 'skipped', 'error', 'unknown notification kind');
    END IF;
    SELECT * INTO e FROM outbox_events WHERE id = p_event_id;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('state', 'skipped', 'error', 'event not found');
    END IF;
    IF p_kind = 'password_reset' THEN -- to the customer who asked, with the token of the event (never stored here)
        v_recipient := e.payload->>'email';
        SELECT * INTO cu FROM customers WHERE id = e.payload->>'customer_id';
        v_skip := CASE WHEN NOT s.enabled THEN 'notification kind disabled'
                       WHEN v_recipient IS NULL OR v_recipient = '' THEN 'the event has no email' END;
    ELSE
        SELECT * INTO o FROM orders WHERE id = e.payload->>'order_id';
        v_recipient := o.email;
        v_skip := CASE WHEN NOT s.enabled THEN 'notification kind disabled'
                       WHEN o.id IS NULL THEN 'order not found'
                       WHEN o.email IS NULL OR o.email = '' THEN 'the order has no email' END;
    END IF;
    INSERT INTO notifications (kind, event_id, order_id, recipient, idempotency_key, state, last_error)
    VALUES (p_kind, e.id, o.id, v_recipient, 'souq-' || e.id || '-' || p_kind,
            CASE WHEN v_skip IS NULL THEN 'pending' ELSE 'skipped' END, v_skip)
    ON CONFLICT (event_id, kind) DO NOTHING;
    SELECT * INTO n FROM notifications x WHERE x.event_id = e.id AND x.kind = p_kind FOR UPDATE;
    IF n.state <> 'pending' THEN
        RETURN jsonb_build_object('notification_id', n.id, 'state', n.state, 'error', n.last_error);
    END IF;
    IF NOT s.enabled THEN -- switched off after the event was fanned out
        UPDATE notifications SET state = 'skipped', last_error = 'notification kind disabled', updated_at = now() WHERE id = n.id;
        RETURN jsonb_build_object('notification_id', n.id, 'state', 'skipped', 'error', 'notification kind disabled');
    END IF;
    IF p_max_per_hour > 0 AND (SELECT count(*) FROM (SELECT 1 FROM notifications x WHERE x.sent_at > now() - interval '1 hour'
                                                    LIMIT p_max_per_hour) c) >= p_max_per_hour THEN
        RETURN jsonb_build_object('notification_id', n.id, 'state', 'capped',
                                  'error', format('hourly cap of %s notifications reached (notification_max_per_hour)', p_max_per_hour));
    END IF;
    IF n.sending_until > now() THEN -- another delivery of the same event is sending it right now
        RETURN jsonb_build_object('notification_id', n.id, 'state', 'busy');
    END IF;
    -- claimed for longer than a plugin call may last (the background deadline, 60 s by default)
    UPDATE notifications SET attempts = attempts + 1, sending_until = now() + interval '2 minutes', updated_at = now()
     WHERE id = n.id;
    IF p_kind = 'password_reset' THEN
        v_data := jsonb_build_object('email', v_recipient, 'first_name', cu.first_name, 'last_name', cu.last_name,
                                     'token', e.payload->>'token', 'expires_at', e.payload->>'expires_at');
    END IF;
    v_first := CASE WHEN jsonb_typeof(e.payload->'tracking') = 'array' THEN e.payload->'tracking'->0 END;
    RETURN jsonb_build_object('notification_id', n.id, 'state', 'pending', 'recipient', n.recipient, 'channel', n.channel,
        'idempotency_key', n.idempotency_key, 'sales_channel_id', o.sales_channel_id,
        'subject', s.subject, 'text', s.text_body, 'html', s.html_body,
        'data', coalesce(v_data, jsonb_build_object(
            'order_id', o.id, 'order_number', o.number, 'email', o.email, 'currency', o.currency_code,
            'minor_units', (SELECT c.minor_units FROM currencies c WHERE c.code = o.currency_code),
            'total', o.total, 'first_name', o.shipping_address->>'first_name', 'last_name', o.shipping_address->>'last_name',
            'items', (SELECT coalesce(jsonb_agg(jsonb_build_object('title', l.title, 'variant_title', l.variant_title,
                                                               'quantity', l.quantity, 'total', l.total) ORDER BY l.id), '[]')
                        FROM order_line_items l WHERE l.order_id = o.id),
            'carrier', v_first->>'carrier', 'tracking_number', v_first->>'tracking_number', 'tracking_url', v_first->>'tracking_url',
            'tracking', CASE WHEN jsonb_typeof(e.payload->'tracking') = 'array' THEN e.payload->'tracking' END,
            'refund_amount', e.payload->'amount', 'refund_reason', e.payload->>'reason')));
END $$;

-- Records how an attempt ended: sent (with the provider's message id), failed (refused for good, or retries
-- exhausted), or still pending (a retry follows: the error is kept).
CREATE FUNCTION souq_notification_finish(p_id text, p_state text, p_provider text, p_message_id text, p_error text,
                                         p_subject text) RETURNS void LANGUAGE sql AS $$
    UPDATE notifications SET state = p_state, provider = coalesce(p_provider, provider),
           provider_message_id = coalesce(p_message_id, provider_message_id), last_error = p_error,
           subject = coalesce(left(p_subject, 500), subject), updated_at = now(), sending_until = NULL,
           sent_at = CASE WHEN p_state = 'sent' THEN now() ELSE sent_at END
     WHERE id = p_id AND state = 'pending'
$$;

CREATE FUNCTION souq_notification_json(n notifications) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', n.id, 'object', 'notification', 'kind', n.kind, 'event_id', n.event_id,
        'order_id', n.order_id, 'channel', n.channel, 'recipient', n.recipient, 'subject', n.subject, 'state', n.state,
        'provider', n.provider, 'provider_message_id', n.provider_message_id, 'attempts', n.attempts,
        'last_error', n.last_error, 'created_at', n.created_at, 'updated_at', n.updated_at, 'sent_at', n.sent_at)
$$;

-- Saves a kind's settings: b holds enabled, subject, text, html (each optional; null resets a template to the
-- built-in default). NULL when the kind does not exist.
CREATE FUNCTION souq_notification_settings_save(p_kind text, b jsonb) RETURNS notification_settings LANGUAGE plpgsql AS $$
DECLARE
    s notification_settings;
BEGIN
    UPDATE notification_settings t SET
        enabled = CASE WHEN b ? 'enabled' THEN (b->>'enabled')::boolean ELSE t.enabled END,
        subject = CASE WHEN b ? 'subject' THEN b->>'subject' ELSE t.subject END,
        text_body = CASE WHEN b ? 'text' THEN b->>'text' ELSE t.text_body END,
        html_body = CASE WHEN b ? 'html' THEN b->>'html' ELSE t.html_body END,
        updated_at = now()
     WHERE t.kind = p_kind RETURNING * INTO s;
    RETURN s;
END $$;
