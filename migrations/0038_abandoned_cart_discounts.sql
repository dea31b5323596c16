-- 0038: abandoned-cart reminders may carry a one-time discount code (issue 6). From reminder
-- abandoned_cart_discount_from on (default 2: the first reminder is a plain nudge), when abandoned_cart_discount_bp
-- is set, each reminder creates a promotion of its own: a code (BACK-<12 random hex>), percentage off the order,
-- usage_limit 1 (redeemed exactly once, also under concurrency: 0021's usage count), ending after
-- abandoned_cart_discount_ttl_s. The code is in the cart.abandoned event (webhooks and the notification plugin mail
-- it: a discount code is meant to be shared with the buyer, unlike a gift card code) and the reminder row keeps the
-- promotion, so the recovery report can tell recoveries with a discount.
ALTER TABLE abandoned_cart_reminders ADD COLUMN promotion_id text;

DROP FUNCTION souq_abandoned_carts_run(int, int, int, int);
CREATE FUNCTION souq_abandoned_carts_run(p_after_s int, p_max int, p_spacing_s int, p_limit int,
                                         p_discount_bp int, p_discount_from int, p_discount_ttl_s int) RETURNS int
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
        SELECT priced.*, souq_id('evt') AS event_id,
               CASE WHEN p_discount_bp > 0 AND priced.num >= p_discount_from THEN souq_id('promo') END AS promo_id,
               'BACK-' || upper(substr(replace(gen_random_uuid()::text, '-', ''), 1, 12)) AS code
          FROM priced
    ), rem AS (
        INSERT INTO abandoned_cart_reminders (cart_id, reminder, email, total, currency_code, event_id, promotion_id)
        SELECT ev.id, ev.num, ev.email, ev.total, ev.currency_code, ev.event_id, ev.promo_id FROM ev
        ON CONFLICT DO NOTHING
        RETURNING abandoned_cart_reminders.event_id
    ), promo AS ( -- only for reminders this node wrote (another node's conflicting row made none)
        INSERT INTO promotions (id, code, description, type, percent_bp, target, usage_limit, ends_at, status, metadata)
        SELECT ev.promo_id, ev.code, 'Abandoned cart reminder ' || ev.num, 'percentage', p_discount_bp, 'order', 1,
               now() + p_discount_ttl_s * interval '1 second', 'active',
               jsonb_build_object('abandoned_cart_id', ev.id, 'reminder', ev.num)
          FROM ev JOIN rem ON rem.event_id = ev.event_id WHERE ev.promo_id IS NOT NULL
        RETURNING promotions.id, promotions.code, promotions.percent_bp, promotions.ends_at
    )
    INSERT INTO outbox_events (id, type, payload)
    SELECT ev.event_id, 'cart.abandoned', jsonb_build_object('cart_id', ev.id, 'email', ev.email, 'reminder', ev.num,
               'max_reminders', p_max, 'items', ev.list, 'item_count', jsonb_array_length(ev.list), 'total', ev.total,
               'currency', ev.currency_code)
               || CASE WHEN promo.id IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('discount', jsonb_build_object(
                      'code', promo.code, 'percent_bp', promo.percent_bp, 'promotion_id', promo.id, 'expires_at', promo.ends_at)) END
      FROM ev JOIN rem ON rem.event_id = ev.event_id LEFT JOIN promo ON promo.id = ev.promo_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Recovery, also with a discount: recovered carts whose order used a reminder's code.
CREATE OR REPLACE FUNCTION souq_abandoned_carts_report(p_since timestamptz) RETURNS json LANGUAGE sql STABLE AS $$
    WITH r AS (
        SELECT x.cart_id, min(x.sent_at) AS first_at, count(*) AS n, max(x.currency_code) AS currency_code,
               array_remove(array_agg(x.promotion_id), NULL) AS promos
          FROM abandoned_cart_reminders x GROUP BY x.cart_id HAVING p_since IS NULL OR min(x.sent_at) >= p_since
    ), k AS (
        SELECT r.*, c.completed_at IS NOT NULL AND c.completed_at >= r.first_at AS recovered,
               EXISTS (SELECT 1 FROM promotion_usages u JOIN orders o ON o.id = u.order_id
                        WHERE u.promotion_id = ANY (r.promos) AND o.cart_id = r.cart_id) AS with_discount
          FROM r LEFT JOIN carts c ON c.id = r.cart_id
    )
    SELECT json_build_object('object', 'abandoned_cart_report', 'since', p_since,
        'reminded_carts', count(*), 'reminders_sent', coalesce(sum(k.n), 0),
        'recovered_carts', count(*) FILTER (WHERE k.recovered),
        'recovered_with_discount', count(*) FILTER (WHERE k.recovered AND k.with_discount),
        'recovery_rate', CASE WHEN count(*) = 0 THEN 0 ELSE round(count(*) FILTER (WHERE k.recovered)::numeric / count(*), 4) END)
      FROM k
$$;
