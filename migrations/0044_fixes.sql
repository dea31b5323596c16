-- 0044_fixes.sql: known defects from the last closing notes (README "Loyalty points and customer segments" and
-- "Payment-failure monitor and purging" say the decisions).
--
-- 1. Gift cards sold as products (0036) earn no loyalty points. A gift card is a cash equivalent: points are earned
--    when the card is spent on goods (what gift cards paid counts as spending, 0034), so earning on its purchase too
--    would pay points twice for the same money (Shopify's and Smile.io's rule). The earn base leaves out the order's
--    gift-card lines, and the claw-back on refunds is a share of the money that could earn (paid less gift-card
--    lines), so refunding every other item claws back every point. The earn trigger of an order inserted as paid
--    (a draft completed as paid) now runs at commit, like 0036's issuance, so it sees the order's lines.
-- 2. Retention for order notifications (0029) and the price ledger (0035), rows nothing deleted: two more kinds of
--    the purge job (0033's souq_purge_batch), same small batches with SKIP LOCKED. notifications: finished rows
--    (sent, failed, skipped) created more than p_age_s ago; a pending one is a delivery still to be decided and
--    stays. price_changes: entries older than p_age_s (the configuration keeps at least 31 days: the EU's rule on
--    announcing a price reduction needs the lowest price of the 30 days before it).

-- ---- 1. loyalty: no points on gift-card lines ------------------------------------------------------------------

-- What an order's gift-card lines cost (never discounted nor taxed: core/cart.c), in minor units.
CREATE FUNCTION souq_loyalty_gift_card_sales(p_order text) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(l.subtotal - l.discount_total), 0)::bigint FROM order_line_items l WHERE l.order_id = p_order AND l.gift_card
$$;

-- The merchandise an order paid for, in minor units: items after discounts (promotions and points), without tax,
-- shipping and gift cards sold (0034's base less the gift-card lines).
CREATE OR REPLACE FUNCTION souq_loyalty_order_base(o orders) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT greatest(o.item_subtotal - o.discount_total
                    - CASE WHEN o.tax_inclusive THEN o.tax_total - coalesce((o.snapshot->>'shipping_tax_total')::bigint, 0) ELSE 0 END
                    - souq_loyalty_gift_card_sales(o.id), 0)
$$;

-- 0034's trigger function; only the claw-back changed: its share is of the money that could earn.
CREATE OR REPLACE FUNCTION souq_loyalty_on_order() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p loyalty_program;
    rate jsonb;
    earned bigint;
    clawed bigint;
    target bigint;
    pts bigint;
    mult int;
    redeemed bigint;
    earnable bigint;
BEGIN
    IF NEW.customer_id IS NULL OR NOT EXISTS (SELECT 1 FROM customers WHERE id = NEW.customer_id AND has_account) THEN
        RETURN NULL;  -- guests' records earn nothing (nobody can log in to use the points)
    END IF;
    -- earn: the first time the payment is captured
    IF NEW.payment_status = 'paid' AND (TG_OP = 'INSERT' OR OLD.payment_status IN ('pending', 'authorized')) THEN
        SELECT * INTO p FROM loyalty_program;
        rate := p.currencies->NEW.currency_code;
        IF p.enabled AND rate IS NOT NULL AND (rate->>'earn_points')::bigint > 0
           AND NOT EXISTS (SELECT 1 FROM loyalty_transactions WHERE order_id = NEW.id AND kind = 'earn') THEN
            SELECT coalesce(t.multiplier_bp, 10000) INTO mult FROM loyalty_accounts a LEFT JOIN loyalty_tiers t ON t.id = a.tier_id
             WHERE a.customer_id = NEW.customer_id;
            mult := coalesce(mult, 10000);
            pts := floor(souq_loyalty_order_base(NEW)::numeric * (rate->>'earn_points')::bigint * mult / ((rate->>'earn_per')::bigint * 10000))::bigint;
            IF pts > 0 THEN
                PERFORM souq_loyalty_post(NEW.customer_id, 'earn', pts, NEW.id, NULL, NULL,
                    jsonb_build_object('base', souq_loyalty_order_base(NEW), 'multiplier_bp', mult), '/points');
            END IF;
        END IF;
    END IF;
    -- claw back: cumulatively, floor(earned x refunded_total / earnable), earnable being what was paid less the gift
    -- cards sold (they earned nothing), so refunding everything else claws back every point; never below a zero
    -- balance (points already spent are not recovered; what is missing is tried again at the next refund)
    IF TG_OP = 'UPDATE' AND NEW.refunded_total > OLD.refunded_total AND NEW.paid_total > 0 THEN
        SELECT coalesce(sum(points) FILTER (WHERE kind = 'earn'), 0), coalesce(-sum(points) FILTER (WHERE kind = 'clawback'), 0)
          INTO earned, clawed FROM loyalty_transactions WHERE order_id = NEW.id AND kind IN ('earn', 'clawback');
        earnable := NEW.paid_total - souq_loyalty_gift_card_sales(NEW.id);
        target := CASE WHEN earnable > 0 THEN floor(earned::numeric * least(NEW.refunded_total, earnable) / earnable)::bigint ELSE earned END;
        IF target > clawed THEN
            pts := least(target - clawed, coalesce((SELECT balance FROM loyalty_accounts WHERE customer_id = NEW.customer_id FOR UPDATE), 0));
            IF pts > 0 THEN
                PERFORM souq_loyalty_post(NEW.customer_id, 'clawback', -pts, NEW.id, 'refund', NULL,
                    jsonb_build_object('refunded_total', NEW.refunded_total, 'uncollected', target - clawed - pts), '/points');
            END IF;
        END IF;
    END IF;
    -- release: a canceled order gives back the points it redeemed
    IF TG_OP = 'UPDATE' AND NEW.status = 'canceled' AND OLD.status <> 'canceled' THEN
        SELECT -points INTO redeemed FROM loyalty_transactions WHERE order_id = NEW.id AND kind = 'redeem';
        IF redeemed > 0 AND NOT EXISTS (SELECT 1 FROM loyalty_transactions WHERE order_id = NEW.id AND kind = 'release') THEN
            PERFORM souq_loyalty_post(NEW.customer_id, 'release', redeemed, NEW.id, 'order canceled', NULL, NULL, '/points');
        END IF;
    END IF;
    RETURN NULL;
END $$;

-- An order inserted as paid (a draft completed as paid) earns at commit, when its lines are there to be left out.
DROP TRIGGER orders_loyalty ON orders;
CREATE CONSTRAINT TRIGGER orders_loyalty AFTER INSERT ON orders DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.payment_status = 'paid') EXECUTE FUNCTION souq_loyalty_on_order();

-- ---- 2. purge: notifications and the price ledger -----------------------------------------------------------------

CREATE INDEX notifications_finished_idx ON notifications (created_at) WHERE state IN ('sent', 'failed', 'skipped');
CREATE INDEX price_changes_created_idx ON price_changes (created_at);

-- 0033's function with two more kinds: 'notifications' and 'price_changes' (the others unchanged).
CREATE OR REPLACE FUNCTION souq_purge_batch(p_kind text, p_age_s int, p_limit int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    IF p_kind = 'events' THEN
        DELETE FROM outbox_events e WHERE e.id IN (
            SELECT x.id FROM outbox_events x
             WHERE x.state = 'completed' AND x.occurred_at < now() - p_age_s * interval '1 second'
               AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_id = x.id AND d.state IN ('available', 'running', 'retryable'))
             ORDER BY x.occurred_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
    ELSIF p_kind = 'attempts' THEN
        DELETE FROM event_delivery_attempts a WHERE (a.delivery_id, a.attempt) IN (
            SELECT x.delivery_id, x.attempt FROM event_delivery_attempts x
             WHERE x.started_at < now() - p_age_s * interval '1 second'
             ORDER BY x.started_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
    ELSIF p_kind = 'jobs' THEN
        DELETE FROM jobs j WHERE j.id IN (
            SELECT x.id FROM jobs x WHERE x.state IN ('completed', 'canceled') AND x.completed_at < now() - p_age_s * interval '1 second'
             ORDER BY x.completed_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
    ELSIF p_kind = 'notifications' THEN
        DELETE FROM notifications t WHERE t.id IN (
            SELECT x.id FROM notifications x
             WHERE x.state IN ('sent', 'failed', 'skipped') AND x.created_at < now() - p_age_s * interval '1 second'
             ORDER BY x.created_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
    ELSIF p_kind = 'price_changes' THEN
        DELETE FROM price_changes c WHERE c.id IN (
            SELECT x.id FROM price_changes x WHERE x.created_at < now() - p_age_s * interval '1 second'
             ORDER BY x.created_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
    ELSE
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = 'unknown purge kind';
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
