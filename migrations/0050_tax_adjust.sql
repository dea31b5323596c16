-- 0050_tax_adjust.sql: an order edit reaches the tax service that recorded the order (the gap 0040 left: "order
-- edits are not sent yet"). An edit by staff (souq_order_edit, 0022) changes the order's lines, tax and total after
-- tax.commit told the service what was sold, so the service's return would file the old amounts. Now each edit (its
-- order.edited timeline entry) enqueues a tax.adjust job for an order whose tax a plugin records: the plugin's
-- optional tax_adjust(conf, order) gets the order as it is now (AvaTax: createoradjust with the same code, the
-- fixture's way; AdjustTransaction otherwise). Like a void or refund it waits while the commit has not run, and a
-- commit still to run sends the edited order itself (the document is read when the job runs), so the adjust then
-- repeats what the service already has. Failures go on the timeline, the last one to the outbox as tax.adjust_failed.
CREATE FUNCTION souq_order_tax_adjust_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    o orders;
BEGIN
    SELECT * INTO o FROM orders WHERE id = NEW.order_id;
    IF o.tax_provider <> 'table'
       AND EXISTS (SELECT 1 FROM jobs WHERE unique_key = 'order:' || o.id || ':tax_commit' AND state <> 'canceled') THEN
        INSERT INTO jobs (kind, payload, unique_key, max_attempts)
        VALUES ('tax.adjust', jsonb_build_object('order_id', o.id, 'provider', o.tax_provider, 'edit_event_id', NEW.id),
                'order_event:' || NEW.id || ':tax_adjust', souq_tax_job_attempts())
        ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
-- (a WHEN clause: checkout's timeline inserts never enter plpgsql for it)
CREATE TRIGGER order_events_tax_adjust AFTER INSERT ON order_events FOR EACH ROW WHEN (NEW.type = 'order.edited')
    EXECUTE FUNCTION souq_order_tax_adjust_enqueue();

-- The last failure's outbox event, now also tax.adjust_failed (0040's function otherwise unchanged; the names are
-- written out so that tests/api/events.test.mjs finds every type the code writes).
CREATE OR REPLACE FUNCTION souq_order_tax_failed(p_order text, p_operation text, p_provider text, p_refund text, p_attempt int,
                                                 p_max int, p_error text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d jsonb := jsonb_build_object('operation', p_operation, 'provider', p_provider, 'attempt', p_attempt, 'max_attempts', p_max,
                                  'final', p_attempt >= p_max, 'error', left(p_error, 500))
               || CASE WHEN p_refund IS NULL THEN '{}' ELSE jsonb_build_object('refund_id', p_refund) END;
BEGIN
    PERFORM souq_order_event(p_order, 'order.tax_record_failed', d, 'system:tax', false);
    IF p_attempt >= p_max THEN
        INSERT INTO outbox_events (type, payload)
        VALUES (CASE p_operation WHEN 'commit' THEN 'tax.commit_failed' WHEN 'void' THEN 'tax.void_failed'
                                 WHEN 'refund' THEN 'tax.refund_failed' ELSE 'tax.adjust_failed' END,
                jsonb_build_object('order_id', p_order) || (d - 'final'));
    END IF;
END $$;
