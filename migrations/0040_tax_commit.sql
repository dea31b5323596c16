-- 0040_tax_commit.sql: recording an order's tax with the tax plugin that computed it (issue 5). External tax services
-- file returns from what they were told was sold (AvaTax CreateTransaction with commit, Stripe Tax transactions,
-- TaxJar order create), and what was taken back (a void, a refund transaction). Checkout's priced cart names the
-- provider of its tax ("tax_provider": "table" or "plugin:<name>") and whether that plugin records orders
-- ("tax_commit": true when it has tax_commit); the order keeps the provider (orders.tax_provider), so the recording
-- goes to the plugin that computed the tax even after another plugin took over. The calls are durable jobs
-- (core/tax_commit_db.c): tax.commit after the order is placed (same transaction as order.placed), tax.void when it
-- is canceled, tax.refund when a refund succeeds. Each failure goes on the order's timeline
-- (order.tax_record_failed); the last one also writes tax.commit_failed / tax.void_failed / tax.refund_failed to the
-- outbox, and the discarded job stays in GET /v1/admin/jobs where staff retry it.

ALTER TABLE orders ADD COLUMN tax_provider text NOT NULL DEFAULT 'table'
    CHECK (tax_provider = 'table' OR tax_provider ~ '^plugin:[a-z0-9][a-z0-9_-]{0,62}$');

CREATE FUNCTION souq_order_tax_provider() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.snapshot->>'tax_provider' ~ '^plugin:[a-z0-9][a-z0-9_-]{0,62}$' THEN
        NEW.tax_provider := NEW.snapshot->>'tax_provider';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER orders_tax_provider BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION souq_order_tax_provider();

-- How many times a recording call is tried before its job is discarded (12: about four hours with the default
-- job_retry_base_ms / job_retry_max_ms).
CREATE FUNCTION souq_tax_job_attempts() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 12';

CREATE FUNCTION souq_order_tax_commit_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tax_provider <> 'table' AND (NEW.snapshot->>'tax_commit')::boolean IS TRUE THEN
        INSERT INTO jobs (kind, payload, unique_key, max_attempts)
        VALUES ('tax.commit', jsonb_build_object('order_id', NEW.id, 'provider', NEW.tax_provider),
                'order:' || NEW.id || ':tax_commit', souq_tax_job_attempts())
        ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER orders_tax_commit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION souq_order_tax_commit_enqueue();

-- A canceled order whose commit never ran (no attempt yet) cancels the commit: nothing reached the provider. Else
-- (the commit ran, runs, or failed after trying) a void follows it; the void job waits for a running commit.
CREATE FUNCTION souq_order_tax_void_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    j jobs;
BEGIN
    SELECT * INTO j FROM jobs WHERE unique_key = 'order:' || NEW.id || ':tax_commit' FOR UPDATE;
    IF NOT FOUND OR j.state = 'canceled' THEN
        RETURN NULL;
    END IF;
    IF j.state = 'scheduled' AND j.attempts = 0 THEN
        UPDATE jobs SET state = 'canceled', last_error = 'The order was canceled before its tax was recorded.', updated_at = now(),
                        completed_at = now()
         WHERE id = j.id;
        RETURN NULL;
    END IF;
    INSERT INTO jobs (kind, payload, unique_key, max_attempts)
    VALUES ('tax.void', jsonb_build_object('order_id', NEW.id, 'provider', NEW.tax_provider), 'order:' || NEW.id || ':tax_void',
            souq_tax_job_attempts())
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER orders_tax_void AFTER UPDATE OF status ON orders
    FOR EACH ROW WHEN (NEW.status = 'canceled' AND OLD.status <> 'canceled' AND NEW.tax_provider <> 'table')
    EXECUTE FUNCTION souq_order_tax_void_enqueue();

-- A succeeded refund of an order whose tax is recorded (or being recorded) with a plugin.
CREATE FUNCTION souq_refund_tax_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    o orders;
BEGIN
    SELECT * INTO o FROM orders WHERE id = NEW.order_id;
    IF o.tax_provider <> 'table' AND EXISTS (SELECT 1 FROM jobs WHERE unique_key = 'order:' || o.id || ':tax_commit' AND state <> 'canceled') THEN
        INSERT INTO jobs (kind, payload, unique_key, max_attempts)
        VALUES ('tax.refund', jsonb_build_object('order_id', o.id, 'provider', o.tax_provider, 'refund_id', NEW.id),
                'refund:' || NEW.id || ':tax_refund', souq_tax_job_attempts())
        ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER refunds_tax_insert AFTER INSERT ON refunds FOR EACH ROW WHEN (NEW.status = 'succeeded')
    EXECUTE FUNCTION souq_refund_tax_enqueue();
CREATE TRIGGER refunds_tax_update AFTER UPDATE OF status ON refunds
    FOR EACH ROW WHEN (NEW.status = 'succeeded' AND OLD.status <> 'succeeded') EXECUTE FUNCTION souq_refund_tax_enqueue();

-- What a tax.* job sends: the order's tax document (the plugin's `order`), or NULL when the order is gone. wait: the
-- state of the order's commit job when a void or refund must wait for it (scheduled, retryable, running), else NULL.
CREATE FUNCTION souq_order_tax_doc(p_order text, p_refund text) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'order', json_build_object('id', o.id, 'number', o.number, 'status', o.status, 'currency_code', o.currency_code,
            'email', o.email, 'customer_id', o.customer_id, 'region_id', o.region_id, 'tax_provider', o.tax_provider,
            'tax_inclusive', o.tax_inclusive, 'placed_at', o.placed_at, 'canceled_at', o.canceled_at,
            'shipping_address', o.shipping_address, 'billing_address', o.billing_address,
            'items', coalesce((SELECT json_agg(json_build_object('id', l.id, 'variant_id', l.variant_id, 'product_id', l.product_id,
                    'sku', l.sku, 'title', l.title, 'quantity', l.quantity, 'unit_price', l.unit_price, 'subtotal', l.subtotal,
                    'discount_total', l.discount_total, 'tax_total', l.tax_total, 'total', l.total, 'tax_lines', l.tax_lines)
                    ORDER BY l.position) FROM order_line_items l WHERE l.order_id = o.id), '[]'),
            'shipping_methods', o.shipping_methods,
            'item_subtotal', o.item_subtotal, 'discount_total', o.discount_total, 'shipping_total', o.shipping_total,
            'shipping_discount_total', o.shipping_discount_total, 'shipping_tax_total', coalesce((o.snapshot->>'shipping_tax_total')::bigint, 0),
            'tax_total', o.tax_total, 'total', o.total),
        'refund', (SELECT json_build_object('id', r.id, 'amount', r.amount, 'currency_code', o.currency_code, 'reason', r.reason,
                                            'note', r.note, 'created_at', r.created_at)
                     FROM refunds r WHERE r.id = p_refund AND r.order_id = o.id),
        'commit_state', (SELECT j.state FROM jobs j WHERE j.unique_key = 'order:' || o.id || ':tax_commit'))
      FROM orders o WHERE o.id = p_order
$$;

-- One attempt's outcome on the order's timeline. A failure: order.tax_record_failed each time; the last attempt's also
-- an outbox event staff and integrations can subscribe to. A success: order.tax_recorded with the provider's reference.
CREATE FUNCTION souq_order_tax_recorded(p_order text, p_operation text, p_provider text, p_reference text, p_refund text) RETURNS void
LANGUAGE sql AS $$
    SELECT souq_order_event(p_order, 'order.tax_recorded', jsonb_build_object('operation', p_operation, 'provider', p_provider,
        'reference', p_reference) || CASE WHEN p_refund IS NULL THEN '{}' ELSE jsonb_build_object('refund_id', p_refund) END,
        'system:tax', false)
$$;

CREATE FUNCTION souq_order_tax_failed(p_order text, p_operation text, p_provider text, p_refund text, p_attempt int, p_max int,
                                      p_error text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d jsonb := jsonb_build_object('operation', p_operation, 'provider', p_provider, 'attempt', p_attempt, 'max_attempts', p_max,
                                  'final', p_attempt >= p_max, 'error', left(p_error, 500))
               || CASE WHEN p_refund IS NULL THEN '{}' ELSE jsonb_build_object('refund_id', p_refund) END;
BEGIN
    PERFORM souq_order_event(p_order, 'order.tax_record_failed', d, 'system:tax', false);
    IF p_attempt >= p_max THEN
        INSERT INTO outbox_events (type, payload)
        VALUES (CASE p_operation WHEN 'commit' THEN 'tax.commit_failed' WHEN 'void' THEN 'tax.void_failed' ELSE 'tax.refund_failed' END,
                jsonb_build_object('order_id', p_order) || (d - 'final'));
    END IF;
END $$;
