-- 0027: inbound provider callbacks (POST /v1/hooks/<plugin>[/<topic>]). The plugin's handle_webhook verifies the
-- request (e.g. Stripe-Signature) and names the event; one row per plugin and event id makes a replayed or
-- re-delivered event apply once: the first receipt writes plugin.webhook_received to the outbox in the same
-- statement, later ones only answer duplicate.
CREATE TABLE plugin_webhook_events (
    plugin      text NOT NULL CHECK (length(plugin) BETWEEN 1 AND 48),
    event_id    text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 255),
    event_type  text CHECK (length(event_type) BETWEEN 1 AND 128),
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plugin, event_id)
);
CREATE INDEX plugin_webhook_events_received_idx ON plugin_webhook_events (received_at);
