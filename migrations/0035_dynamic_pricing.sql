-- 0035_dynamic_pricing.sql: dynamic pricing. A price ledger (price_changes) written with every price.changed event
-- by one set of statement triggers on prices, attributed to who or what changed the price; scheduled price changes
-- (price_schedules) applied and reverted by durable jobs exactly once; pricing rules (pricing_rules) that adjust base
-- prices from stock level or a UTC time window within floor and ceiling bounds, evaluated by a recurring job, by a
-- job the stock trigger enqueues when a level crosses a rule's threshold, and at the next window boundary.

-- ---- attribution --------------------------------------------------------------------------------------------------
-- Who changed a price is a transaction-local setting the writer sets before it writes (souq_price_attribute); the
-- ledger trigger reads it. The first writer of a transaction wins (an import's product save stays an import).
-- Kinds: staff (usr_), api_key (key_), import, schedule (psch_), rule (prule_), system (nobody said: SQL by hand,
-- cascades of deleted lists or variants), seed (writes no ledger rows and no events: the seed is data, not news).
CREATE FUNCTION souq_price_attribute(p_source text, p_source_id text, p_actor text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('souq.price_source', true), '') = '' THEN
        PERFORM set_config('souq.price_source', p_source, true);
        PERFORM set_config('souq.price_source_id', coalesce(p_source_id, ''), true);
        PERFORM set_config('souq.price_actor', coalesce(p_actor, ''), true);
    END IF;
END $$;

-- An admin caller's id (usr_... or key_...) as a source.
CREATE FUNCTION souq_price_attribute_actor(p_actor text) RETURNS void LANGUAGE sql AS $$
    SELECT souq_price_attribute(CASE WHEN p_actor LIKE 'key\_%' THEN 'api_key' WHEN p_actor LIKE 'usr\_%' THEN 'staff' ELSE 'system' END,
                                p_actor, p_actor)
     WHERE p_actor IS NOT NULL
$$;

-- ---- the ledger -------------------------------------------------------------------------------------------------
CREATE TABLE price_changes (
    id            text PRIMARY KEY DEFAULT souq_id('pchg'),
    price_id      text NOT NULL, -- no foreign keys: the ledger outlives removed prices, variants and lists
    variant_id    text NOT NULL,
    product_id    text,
    price_list_id text,
    currency_code text NOT NULL,
    min_quantity  integer NOT NULL,
    old_amount    bigint,
    new_amount    bigint,
    source        text NOT NULL CHECK (source IN ('staff', 'api_key', 'import', 'schedule', 'rule', 'system')),
    source_id     text,
    actor         text,
    event_id      text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (old_amount IS NOT NULL OR new_amount IS NOT NULL)
);
CREATE INDEX price_changes_variant_idx ON price_changes (variant_id, id);
CREATE INDEX price_changes_product_idx ON price_changes (product_id, id);
CREATE INDEX price_changes_list_idx ON price_changes (price_list_id, id) WHERE price_list_id IS NOT NULL;
CREATE INDEX price_changes_source_idx ON price_changes (source, source_id, id);

CREATE FUNCTION souq_price_change_json(c price_changes) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', c.id, 'object', 'price_change', 'price_id', c.price_id, 'variant_id', c.variant_id,
        'product_id', c.product_id, 'price_list_id', c.price_list_id, 'currency_code', c.currency_code,
        'min_quantity', c.min_quantity, 'old_amount', c.old_amount, 'new_amount', c.new_amount,
        'source', c.source, 'source_id', c.source_id, 'actor', c.actor, 'event_id', c.event_id, 'created_at', c.created_at)
$$;

-- price.changed carries what it carried before (0002) plus the ledger entry and its source.
CREATE FUNCTION souq_price_change_payload(c price_changes) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('price_id', c.price_id, 'variant_id', c.variant_id, 'product_id', c.product_id,
        'price_list_id', c.price_list_id, 'currency_code', c.currency_code, 'min_quantity', c.min_quantity,
        'old_amount', c.old_amount, 'new_amount', c.new_amount, 'change_id', c.id, 'source', c.source,
        'source_id', c.source_id, 'actor', c.actor)
$$;

-- One statement trigger per operation (transition tables need single-event triggers): one ledger row and one
-- price.changed event per changed price, set-based. Replaces the row trigger of 0002.
CREATE FUNCTION souq_prices_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    src text := nullif(current_setting('souq.price_source', true), '');
    sid text := nullif(current_setting('souq.price_source_id', true), '');
    act text := nullif(current_setting('souq.price_actor', true), '');
BEGIN
    IF src = 'seed' THEN
        RETURN NULL;
    END IF;
    src := coalesce(src, 'system');
    IF TG_OP = 'INSERT' THEN
        WITH led AS (
            INSERT INTO price_changes (price_id, variant_id, product_id, price_list_id, currency_code, min_quantity, old_amount,
                                       new_amount, source, source_id, actor, event_id)
            SELECT n.id, n.variant_id, v.product_id, n.price_list_id, n.currency_code, n.min_quantity, NULL, n.amount,
                   src, sid, act, souq_id('evt')
              FROM new_rows n LEFT JOIN product_variants v ON v.id = n.variant_id
            RETURNING *)
        INSERT INTO outbox_events (id, type, payload) SELECT led.event_id, 'price.changed', souq_price_change_payload(led) FROM led;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH led AS (
            INSERT INTO price_changes (price_id, variant_id, product_id, price_list_id, currency_code, min_quantity, old_amount,
                                       new_amount, source, source_id, actor, event_id)
            SELECT n.id, n.variant_id, v.product_id, n.price_list_id, n.currency_code, n.min_quantity, o.amount, n.amount,
                   src, sid, act, souq_id('evt')
              FROM new_rows n JOIN old_rows o ON o.id = n.id LEFT JOIN product_variants v ON v.id = n.variant_id
             WHERE o.amount <> n.amount
            RETURNING *)
        INSERT INTO outbox_events (id, type, payload) SELECT led.event_id, 'price.changed', souq_price_change_payload(led) FROM led;
    ELSE
        WITH led AS (
            INSERT INTO price_changes (price_id, variant_id, product_id, price_list_id, currency_code, min_quantity, old_amount,
                                       new_amount, source, source_id, actor, event_id)
            SELECT o.id, o.variant_id, v.product_id, o.price_list_id, o.currency_code, o.min_quantity, o.amount, NULL,
                   src, sid, act, souq_id('evt')
              FROM old_rows o LEFT JOIN product_variants v ON v.id = o.variant_id
            RETURNING *)
        INSERT INTO outbox_events (id, type, payload) SELECT led.event_id, 'price.changed', souq_price_change_payload(led) FROM led;
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER prices_changed ON prices;
DROP FUNCTION souq_prices_changed();
CREATE TRIGGER prices_ledger_ins AFTER INSERT ON prices REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION souq_prices_ledger();
CREATE TRIGGER prices_ledger_upd AFTER UPDATE ON prices REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION souq_prices_ledger();
CREATE TRIGGER prices_ledger_del AFTER DELETE ON prices REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION souq_prices_ledger();

-- The admin writers of prices say who they are. The functions of 0004/0005/0009/0011 keep their bodies under a new
-- name; a wrapper with the old name and signature attributes the change, then calls them.
ALTER FUNCTION souq_product_save(text, jsonb, text, text) RENAME TO souq_product_save_0011;
CREATE FUNCTION souq_product_save(p_id text, b jsonb, p_etag text, p_actor text) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    PERFORM souq_price_attribute_actor(p_actor);
    RETURN souq_product_save_0011(p_id, b, p_etag, p_actor);
END $$;

ALTER FUNCTION souq_variant_save(text, text, jsonb, text) RENAME TO souq_variant_save_0011;
CREATE FUNCTION souq_variant_save(p_product text, p_variant text, b jsonb, p_actor text) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    PERFORM souq_price_attribute_actor(p_actor);
    RETURN souq_variant_save_0011(p_product, p_variant, b, p_actor);
END $$;

ALTER FUNCTION souq_import_product(jsonb, text) RENAME TO souq_import_product_0009;
CREATE FUNCTION souq_import_product(b jsonb, p_actor text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM souq_price_attribute('import', NULL, p_actor);
    RETURN souq_import_product_0009(b, p_actor);
END $$;

-- An import step picks its import first (the same choice as 0009's, whose FOR UPDATE SKIP LOCKED then finds the row
-- this transaction already holds), so its price changes name the import.
ALTER FUNCTION souq_import_step(text, int, int) RENAME TO souq_import_step_0009;
CREATE FUNCTION souq_import_step(p_import text, p_limit int, p_max_ms int) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    imp imports;
BEGIN
    SELECT * INTO imp FROM imports
     WHERE status IN ('queued', 'running') AND (p_import IS NULL OR id = p_import)
     ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM souq_price_attribute('import', imp.id, imp.created_by);
    RETURN souq_import_step_0009(imp.id, p_limit, p_max_ms);
END $$;

CREATE FUNCTION souq_price_list_prices_as(p_id text, b jsonb, p_actor text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM souq_price_attribute_actor(p_actor);
    RETURN souq_price_list_prices(p_id, b);
END $$;

-- Deleting a variant or a price list removes its prices by cascade; the admin routes say who did.
CREATE FUNCTION souq_variant_delete_as(p_product text, p_variant text, p_actor text) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    PERFORM souq_price_attribute_actor(p_actor);
    RETURN souq_variant_delete(p_product, p_variant);
END $$;

CREATE FUNCTION souq_price_list_delete_as(p_id text, p_actor text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    PERFORM souq_price_attribute_actor(p_actor);
    DELETE FROM price_lists WHERE id = p_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- ---- money rules (the same arithmetic as core/dynprice.c, unit-tested there) ------------------------------------
-- A percentage of basis points (bp) or a fixed minor-unit amount added to p_amount, rounded half away from zero,
-- never moved past the bound in the adjustment's direction (floor for decreases, ceiling for increases), never
-- moved the other way by a bound, never below zero.
CREATE FUNCTION souq_price_adjust(p_amount bigint, p_type text, p_value bigint, p_floor bigint, p_ceiling bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT greatest(0, CASE WHEN t.adj < p_amount THEN least(p_amount, greatest(t.adj, p_floor))
                            WHEN t.adj > p_amount THEN greatest(p_amount, least(t.adj, p_ceiling))
                            ELSE p_amount END)
      FROM (SELECT CASE WHEN p_type = 'percent' THEN round(p_amount::numeric * (10000 + p_value) / 10000)::bigint
                        ELSE p_amount + p_value END AS adj) t
$$;

-- ---- scheduled price changes --------------------------------------------------------------------------------------
CREATE TABLE price_schedules (
    id            text PRIMARY KEY DEFAULT souq_id('psch'),
    title         text CHECK (length(title) BETWEEN 1 AND 256),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'applied', 'reverted', 'canceled')),
    price_list_id text REFERENCES price_lists (id) ON DELETE CASCADE, -- NULL: base prices
    -- what to set: [{variant_id, currency_code, amount, min_quantity}]
    items         jsonb NOT NULL CHECK (jsonb_typeof(items) = 'array'),
    -- what applying did, for the revert: [{price_id, variant_id, currency_code, min_quantity, old_amount, new_amount}]
    applied       jsonb,
    -- what reverting did: [{price_id, restored (bool), reason}]
    reverted      jsonb,
    apply_at      timestamptz NOT NULL,
    revert_at     timestamptz,
    applied_at    timestamptz,
    reverted_at   timestamptz,
    canceled_at   timestamptz,
    created_by    text,
    metadata      jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT price_schedules_revert_after_apply CHECK (revert_at IS NULL OR revert_at > apply_at)
);
CREATE INDEX price_schedules_status_idx ON price_schedules (status, id);
CREATE TRIGGER price_schedules_touch BEFORE UPDATE ON price_schedules FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE FUNCTION souq_price_schedule_json(s price_schedules) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', s.id, 'object', 'price_schedule', 'title', s.title, 'status', s.status,
        'price_list_id', s.price_list_id, 'items', s.items, 'apply_at', s.apply_at, 'revert_at', s.revert_at,
        'applied', s.applied, 'reverted', s.reverted, 'applied_at', s.applied_at, 'reverted_at', s.reverted_at,
        'canceled_at', s.canceled_at, 'created_by', s.created_by, 'metadata', s.metadata,
        'created_at', s.created_at, 'updated_at', s.updated_at)
$$;

-- The job that runs one phase of a schedule (created in the transaction that makes the phase due).
CREATE FUNCTION souq_price_schedule_enqueue(p_id text, p_phase text, p_at timestamptz) RETURNS void LANGUAGE sql AS $$
    INSERT INTO jobs (kind, payload, run_at, max_attempts, unique_key)
    VALUES ('price_schedule.run', jsonb_build_object('schedule_id', p_id, 'phase', p_phase), p_at, 10,
            'price_schedule:' || p_id || ':' || p_phase)
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING
$$;

-- Creates a schedule from a validated body ({title, price_list_id, items, apply_at, revert_at, metadata}) and its job.
CREATE FUNCTION souq_price_schedule_create(b jsonb, p_actor text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    s price_schedules;
    bad int;
BEGIN
    IF b->>'price_list_id' IS NOT NULL AND NOT EXISTS (SELECT 1 FROM price_lists WHERE id = b->>'price_list_id') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/price_list_id|not_found|The price list does not exist.';
    END IF;
    SELECT i.ord - 1 INTO bad FROM jsonb_array_elements(b->'items') WITH ORDINALITY AS i(x, ord)
     WHERE NOT EXISTS (SELECT 1 FROM product_variants v WHERE v.id = i.x->>'variant_id') ORDER BY i.ord LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/items/%s/variant_id|not_found|The variant does not exist.', bad);
    END IF;
    SELECT i.ord - 1 INTO bad FROM jsonb_array_elements(b->'items') WITH ORDINALITY AS i(x, ord)
     WHERE NOT EXISTS (SELECT 1 FROM currencies c WHERE c.code = lower(i.x->>'currency_code')) ORDER BY i.ord LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/items/%s/currency_code|invalid_value|The currency is not known.', bad);
    END IF;
    SELECT d.ord - 1 INTO bad FROM (
        SELECT i.ord, row_number() OVER (PARTITION BY i.x->>'variant_id', lower(i.x->>'currency_code'),
                                                      coalesce((i.x->>'min_quantity')::int, 1) ORDER BY i.ord) AS n
          FROM jsonb_array_elements(b->'items') WITH ORDINALITY AS i(x, ord)) d
     WHERE d.n > 1 ORDER BY d.ord LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/items/%s|duplicate|Another item sets the same price (variant, currency, min_quantity).', bad);
    END IF;
    INSERT INTO price_schedules (title, price_list_id, items, apply_at, revert_at, created_by, metadata)
    VALUES (b->>'title', b->>'price_list_id',
            (SELECT jsonb_agg(jsonb_build_object('variant_id', x->>'variant_id', 'currency_code', lower(x->>'currency_code'),
                                                 'amount', (x->>'amount')::bigint, 'min_quantity', coalesce((x->>'min_quantity')::int, 1))
                              ORDER BY ord)
               FROM jsonb_array_elements(b->'items') WITH ORDINALITY AS i(x, ord)),
            (b->>'apply_at')::timestamptz, (b->>'revert_at')::timestamptz, p_actor, coalesce(b->'metadata', '{}'))
    RETURNING * INTO s;
    PERFORM souq_price_schedule_enqueue(s.id, 'apply', s.apply_at);
    RETURN souq_price_schedule_json(s);
END $$;

-- Cancels a pending schedule and its job. NULL: no such schedule; SQSTE when it is no longer pending.
CREATE FUNCTION souq_price_schedule_cancel(p_id text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    s price_schedules;
BEGIN
    SELECT * INTO s FROM price_schedules WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF s.status <> 'pending' THEN
        RAISE EXCEPTION USING ERRCODE = 'SQSTE', MESSAGE = format('The schedule is %s; only a pending schedule can be canceled.', s.status);
    END IF;
    UPDATE price_schedules SET status = 'canceled', canceled_at = now() WHERE id = p_id RETURNING * INTO s;
    UPDATE jobs SET state = 'canceled', completed_at = now(), updated_at = now(), locked_by = NULL, locked_until = NULL
     WHERE unique_key = 'price_schedule:' || p_id || ':apply' AND state IN ('scheduled', 'retryable');
    RETURN souq_price_schedule_json(s);
END $$;

-- Runs one phase of a schedule: the price writes and the status change commit together, so a second run of the same
-- job (a lease that expired while the first run committed, two nodes) finds the phase done and changes nothing.
-- Returns what happened: 'applied', 'reverted', or 'skipped:<status>'.
CREATE FUNCTION souq_price_schedule_run(p_id text, p_phase text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    s price_schedules;
    done jsonb := '[]';
    it jsonb;
    pid text;
    cur bigint;
    r jsonb;
BEGIN
    SELECT * INTO s FROM price_schedules WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'skipped:missing';
    END IF;
    PERFORM souq_price_attribute('schedule', s.id, s.created_by);
    IF p_phase = 'apply' THEN
        IF s.status <> 'pending' THEN
            RETURN 'skipped:' || s.status;
        END IF;
        FOR it IN SELECT * FROM jsonb_array_elements(s.items) LOOP
            pid := NULL; cur := NULL;
            SELECT p.id, p.amount INTO pid, cur FROM prices p
             WHERE p.variant_id = it->>'variant_id' AND p.price_list_id IS NOT DISTINCT FROM s.price_list_id
               AND p.currency_code = it->>'currency_code' AND p.min_quantity = (it->>'min_quantity')::int FOR UPDATE;
            IF pid IS NULL THEN
                -- the variant may be gone since the schedule was made: nothing to price
                CONTINUE WHEN NOT EXISTS (SELECT 1 FROM product_variants WHERE id = it->>'variant_id');
                INSERT INTO prices (variant_id, price_list_id, currency_code, amount, min_quantity)
                VALUES (it->>'variant_id', s.price_list_id, it->>'currency_code', (it->>'amount')::bigint, (it->>'min_quantity')::int)
                RETURNING id INTO pid;
            ELSIF cur <> (it->>'amount')::bigint THEN
                UPDATE prices SET amount = (it->>'amount')::bigint WHERE id = pid;
            END IF;
            done := done || jsonb_build_object('price_id', pid, 'variant_id', it->>'variant_id', 'currency_code', it->>'currency_code',
                                               'min_quantity', (it->>'min_quantity')::int, 'old_amount', cur,
                                               'new_amount', (it->>'amount')::bigint);
        END LOOP;
        UPDATE price_schedules SET status = 'applied', applied_at = now(), applied = done WHERE id = p_id;
        IF s.revert_at IS NOT NULL THEN
            PERFORM souq_price_schedule_enqueue(s.id, 'revert', s.revert_at);
        END IF;
        RETURN 'applied';
    ELSIF p_phase = 'revert' THEN
        IF s.status <> 'applied' OR s.revert_at IS NULL THEN
            RETURN 'skipped:' || s.status;
        END IF;
        -- a price changed by anyone since the schedule set it is left as it is: the later change wins
        FOR it IN SELECT * FROM jsonb_array_elements(coalesce(s.applied, '[]')) LOOP
            cur := NULL;
            SELECT p.amount INTO cur FROM prices p WHERE p.id = it->>'price_id' FOR UPDATE;
            IF cur IS NULL THEN
                r := jsonb_build_object('price_id', it->>'price_id', 'restored', false, 'reason', 'removed');
            ELSIF cur <> (it->>'new_amount')::bigint THEN
                r := jsonb_build_object('price_id', it->>'price_id', 'restored', false, 'reason', 'changed_since');
            ELSIF it->'old_amount' = 'null'::jsonb THEN
                DELETE FROM prices WHERE id = it->>'price_id';
                r := jsonb_build_object('price_id', it->>'price_id', 'restored', true, 'reason', 'removed_new_price');
            ELSE
                UPDATE prices SET amount = (it->>'old_amount')::bigint WHERE id = it->>'price_id';
                r := jsonb_build_object('price_id', it->>'price_id', 'restored', true, 'reason', 'restored');
            END IF;
            done := done || r;
        END LOOP;
        UPDATE price_schedules SET status = 'reverted', reverted_at = now(), reverted = done WHERE id = p_id;
        RETURN 'reverted';
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = 'unknown phase';
END $$;

-- ---- pricing rules ----------------------------------------------------------------------------------------------
CREATE TABLE pricing_rules (
    id               text PRIMARY KEY DEFAULT souq_id('prule'),
    title            text NOT NULL CHECK (length(title) BETWEEN 1 AND 256),
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    priority         integer NOT NULL DEFAULT 0,
    currency_code    text NOT NULL REFERENCES currencies (code),
    condition_type   text NOT NULL CHECK (condition_type IN ('stock_below', 'time_window')),
    stock_threshold  integer CHECK (stock_threshold BETWEEN 1 AND 1000000000),
    window_days      integer CHECK (window_days BETWEEN 1 AND 127), -- bit 0 = Monday .. bit 6 = Sunday
    window_start_min integer CHECK (window_start_min BETWEEN 0 AND 1439),
    window_end_min   integer CHECK (window_end_min BETWEEN 0 AND 1439),
    adjustment_type  text NOT NULL CHECK (adjustment_type IN ('percent', 'fixed')),
    adjustment_value bigint NOT NULL,
    floor_amount     bigint NOT NULL CHECK (floor_amount >= 0),
    ceiling_amount   bigint NOT NULL,
    metadata         jsonb NOT NULL DEFAULT '{}',
    last_evaluated_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pricing_rules_bounds CHECK (ceiling_amount >= floor_amount),
    CHECK ((condition_type = 'stock_below') = (stock_threshold IS NOT NULL)),
    CHECK ((condition_type = 'time_window') = (window_days IS NOT NULL AND window_start_min IS NOT NULL AND window_end_min IS NOT NULL)),
    CHECK (window_start_min IS NULL OR window_start_min <> window_end_min),
    CHECK (adjustment_type <> 'percent' OR adjustment_value BETWEEN -10000 AND 100000)
);
CREATE INDEX pricing_rules_stock_idx ON pricing_rules (id) WHERE status = 'active' AND condition_type = 'stock_below';
CREATE TRIGGER pricing_rules_touch BEFORE UPDATE ON pricing_rules FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE TABLE pricing_rule_variants (
    rule_id    text NOT NULL REFERENCES pricing_rules (id) ON DELETE CASCADE,
    variant_id text NOT NULL REFERENCES product_variants (id) ON DELETE CASCADE,
    PRIMARY KEY (rule_id, variant_id)
);
CREATE INDEX pricing_rule_variants_variant_idx ON pricing_rule_variants (variant_id);

-- A base price a rule holds adjusted: what it was before (the merchant's price) and what the rule set. One rule
-- holds a price at a time. A rule is removed only after its prices were restored (souq_pricing_rule_delete).
CREATE TABLE pricing_rule_applications (
    price_id        text PRIMARY KEY REFERENCES prices (id) ON DELETE CASCADE,
    rule_id         text NOT NULL REFERENCES pricing_rules (id),
    original_amount bigint NOT NULL,
    applied_amount  bigint NOT NULL,
    applied_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pricing_rule_applications_rule_idx ON pricing_rule_applications (rule_id);

CREATE FUNCTION souq_pricing_rule_json(r pricing_rules) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', r.id, 'object', 'pricing_rule', 'title', r.title, 'status', r.status, 'priority', r.priority,
        'currency_code', r.currency_code,
        'condition', CASE r.condition_type
            WHEN 'stock_below' THEN json_build_object('type', 'stock_below', 'threshold', r.stock_threshold)
            ELSE json_build_object('type', 'time_window',
                'days', (SELECT json_agg(d.name ORDER BY d.i) FROM unnest(ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])
                         WITH ORDINALITY AS d(name, i) WHERE r.window_days & (1 << (d.i::int - 1)) <> 0),
                'start', to_char(make_time(r.window_start_min / 60, r.window_start_min % 60, 0), 'HH24:MI'),
                'end', to_char(make_time(r.window_end_min / 60, r.window_end_min % 60, 0), 'HH24:MI')) END,
        'adjustment', json_build_object('type', r.adjustment_type, 'value', r.adjustment_value),
        'floor_amount', r.floor_amount, 'ceiling_amount', r.ceiling_amount,
        'variant_ids', coalesce((SELECT json_agg(rv.variant_id ORDER BY rv.variant_id) FROM pricing_rule_variants rv WHERE rv.rule_id = r.id), '[]'),
        'applied_prices', (SELECT count(*) FROM pricing_rule_applications a WHERE a.rule_id = r.id),
        'metadata', r.metadata, 'last_evaluated_at', r.last_evaluated_at, 'created_at', r.created_at, 'updated_at', r.updated_at)
$$;

-- Whether a time-window rule's window holds at t (UTC). A window whose end is before its start runs past midnight
-- and belongs to the day it starts on.
CREATE FUNCTION souq_pricing_window_holds(p_days int, p_start int, p_end int, t timestamptz) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_start < p_end THEN (p_days & (1 << (x.dow - 1))) <> 0 AND x.m >= p_start AND x.m < p_end
                ELSE ((p_days & (1 << (x.dow - 1))) <> 0 AND x.m >= p_start)
                  OR ((p_days & (1 << ((x.dow + 5) % 7))) <> 0 AND x.m < p_end) END
      FROM (SELECT extract(isodow FROM t AT TIME ZONE 'UTC')::int AS dow,
                   (extract(hour FROM t AT TIME ZONE 'UTC') * 60 + extract(minute FROM t AT TIME ZONE 'UTC'))::int AS m) x
$$;

-- A variant's stock for stock rules: what all locations have available of its scarcest inventory item (in units of
-- the variant); NULL when it tracks no inventory (such variants never match a stock rule).
CREATE FUNCTION souq_pricing_variant_stock(p_variant text) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT min(t.avail / vi.required_quantity)
      FROM variant_inventory_items vi JOIN product_variants v ON v.id = vi.variant_id AND v.manage_inventory
      CROSS JOIN LATERAL (SELECT coalesce(sum(l.available), 0)::bigint AS avail FROM inventory_levels l
                           WHERE l.inventory_item_id = vi.inventory_item_id) t
     WHERE vi.variant_id = p_variant
$$;

-- Evaluates rules (all, or p_rule) now: every base price a rule covers gets the rule's adjustment while its condition
-- holds, and its original amount back when it stops holding, the rule is disabled, or the price leaves its scope.
-- A price someone changed while a rule held it keeps that change as its new original amount. With p_dry_run nothing
-- is written (p_force_active evaluates a disabled rule as if it were active: the preview of a draft). Returns the
-- changes: [{rule_id, price_id, variant_id, currency_code, min_quantity, old_amount, new_amount, action}].
CREATE FUNCTION souq_pricing_rules_evaluate(p_rule text, p_dry_run boolean, p_force_active boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r pricing_rules;
    p record;
    out jsonb := '[]';
    holds boolean;
    orig bigint;
    target bigint;
    now_ timestamptz := now();
BEGIN
    IF NOT p_dry_run THEN
        -- one evaluation at a time across nodes: two would both read "not applied" and both apply
        PERFORM pg_advisory_xact_lock(hashtext('souq.pricing_rules'));
    END IF;
    FOR r IN SELECT * FROM pricing_rules x WHERE p_rule IS NULL OR x.id = p_rule ORDER BY x.priority DESC, x.id LOOP
        IF NOT p_dry_run THEN
            PERFORM set_config('souq.price_source', 'rule', true);
            PERFORM set_config('souq.price_source_id', r.id, true);
            PERFORM set_config('souq.price_actor', '', true);
        END IF;
        FOR p IN
            SELECT pr.id, pr.variant_id, pr.currency_code, pr.min_quantity, pr.amount, a.rule_id AS held_by, a.original_amount,
                   a.applied_amount, (rv.variant_id IS NOT NULL AND pr.currency_code = r.currency_code) AS in_scope
              FROM prices pr
              LEFT JOIN pricing_rule_variants rv ON rv.rule_id = r.id AND rv.variant_id = pr.variant_id
              LEFT JOIN pricing_rule_applications a ON a.price_id = pr.id
             WHERE pr.price_list_id IS NULL
               AND ((rv.variant_id IS NOT NULL AND pr.currency_code = r.currency_code) OR a.rule_id = r.id)
             ORDER BY pr.id
        LOOP
            CONTINUE WHEN p.held_by IS NOT NULL AND p.held_by <> r.id; -- another rule holds it
            holds := p.in_scope AND (r.status = 'active' OR p_force_active) AND CASE r.condition_type
                WHEN 'stock_below' THEN coalesce(souq_pricing_variant_stock(p.variant_id) < r.stock_threshold, false)
                ELSE souq_pricing_window_holds(r.window_days, r.window_start_min, r.window_end_min, now_) END;
            IF holds THEN
                orig := CASE WHEN p.held_by IS NULL OR p.amount <> p.applied_amount THEN p.amount ELSE p.original_amount END;
                target := souq_pricing_adjust_rule(orig, r);
                IF target <> p.amount THEN
                    out := out || jsonb_build_object('rule_id', r.id, 'price_id', p.id, 'variant_id', p.variant_id,
                        'currency_code', p.currency_code, 'min_quantity', p.min_quantity, 'old_amount', p.amount, 'new_amount', target,
                        'action', 'apply');
                END IF;
                IF NOT p_dry_run THEN
                    IF target <> p.amount THEN
                        UPDATE prices SET amount = target WHERE id = p.id;
                    END IF;
                    IF target <> orig THEN
                        INSERT INTO pricing_rule_applications (price_id, rule_id, original_amount, applied_amount)
                        VALUES (p.id, r.id, orig, target)
                        ON CONFLICT (price_id) DO UPDATE SET original_amount = EXCLUDED.original_amount,
                            applied_amount = EXCLUDED.applied_amount;
                    ELSE
                        DELETE FROM pricing_rule_applications WHERE price_id = p.id;
                    END IF;
                END IF;
            ELSIF p.held_by = r.id THEN
                IF p.amount = p.applied_amount AND p.amount <> p.original_amount THEN
                    out := out || jsonb_build_object('rule_id', r.id, 'price_id', p.id, 'variant_id', p.variant_id,
                        'currency_code', p.currency_code, 'min_quantity', p.min_quantity, 'old_amount', p.amount,
                        'new_amount', p.original_amount, 'action', 'restore');
                    IF NOT p_dry_run THEN
                        UPDATE prices SET amount = p.original_amount WHERE id = p.id;
                    END IF;
                END IF;
                IF NOT p_dry_run THEN
                    DELETE FROM pricing_rule_applications WHERE price_id = p.id;
                END IF;
            END IF;
        END LOOP;
        IF NOT p_dry_run THEN
            UPDATE pricing_rules SET last_evaluated_at = now_ WHERE id = r.id AND last_evaluated_at IS DISTINCT FROM now_;
        END IF;
    END LOOP;
    IF NOT p_dry_run THEN
        PERFORM souq_pricing_rules_enqueue_boundary();
    END IF;
    RETURN out;
END $$;

CREATE FUNCTION souq_pricing_adjust_rule(p_amount bigint, r pricing_rules) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT souq_price_adjust(p_amount, r.adjustment_type, r.adjustment_value, r.floor_amount, r.ceiling_amount)
$$;

-- The next minute at which some active time-window rule starts or ends (within 8 days), as a job: windows turn on and
-- off on time instead of waiting for the recurring evaluation.
CREATE FUNCTION souq_pricing_rules_enqueue_boundary() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    nxt timestamptz;
    day0 timestamptz := date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
BEGIN
    SELECT min(b) INTO nxt FROM pricing_rules r,
           LATERAL (SELECT day0 + d * interval '1 day' + m * interval '1 minute' AS b
                      FROM generate_series(0, 8) d, unnest(ARRAY[r.window_start_min, r.window_end_min]) m) x
     WHERE r.status = 'active' AND r.condition_type = 'time_window' AND x.b > now();
    IF nxt IS NOT NULL THEN
        INSERT INTO jobs (kind, payload, run_at, max_attempts, unique_key)
        VALUES ('pricing_rules.evaluate', jsonb_build_object('reason', 'window'), nxt, 3,
                'pricing_rules:window:' || floor(extract(epoch FROM nxt))::bigint)
        ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING;
    END IF;
END $$;

-- Saves a rule from a validated body (the C side turned condition and adjustment into columns: see core/dynprice.c),
-- then evaluates it at once so it takes effect (or its prices come back) in the same transaction.
-- NULL: no such rule.
CREATE FUNCTION souq_hhmm(s text) RETURNS int LANGUAGE sql IMMUTABLE AS $$
    SELECT split_part(s, ':', 1)::int * 60 + split_part(s, ':', 2)::int
$$;

CREATE FUNCTION souq_pricing_rule_save(p_id text, body jsonb) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    rid text := p_id;
    bad int;
    b jsonb := body - 'condition' - 'adjustment';
    c jsonb := body->'condition';
BEGIN
    -- the API's condition and adjustment objects (checked by core/dynprice.c) become columns
    IF body ? 'condition' THEN
        b := b || jsonb_build_object('condition_type', c->>'type', 'stock_threshold', c->'threshold',
            'window_days', CASE WHEN c->>'type' = 'time_window' THEN
                (SELECT sum(DISTINCT 1 << (array_position(ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], d) - 1))
                   FROM jsonb_array_elements_text(coalesce(c->'days', '["mon", "tue", "wed", "thu", "fri", "sat", "sun"]')) d) END,
            'window_start_min', souq_hhmm(c->>'start'), 'window_end_min', souq_hhmm(c->>'end'));
    END IF;
    IF body ? 'adjustment' THEN
        b := b || jsonb_build_object('adjustment_type', body->'adjustment'->>'type', 'adjustment_value', body->'adjustment'->'value');
    END IF;
    IF b ? 'variant_ids' THEN
        SELECT i.ord - 1 INTO bad FROM jsonb_array_elements_text(b->'variant_ids') WITH ORDINALITY AS i(v, ord)
         WHERE NOT EXISTS (SELECT 1 FROM product_variants pv WHERE pv.id = i.v) ORDER BY i.ord LIMIT 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = format('/variant_ids/%s|not_found|The variant does not exist.', bad);
        END IF;
    END IF;
    IF b ? 'currency_code' AND NOT EXISTS (SELECT 1 FROM currencies WHERE code = b->>'currency_code') THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ422', MESSAGE = '/currency_code|invalid_value|The currency is not known.';
    END IF;
    IF rid IS NULL THEN
        INSERT INTO pricing_rules (title, status, priority, currency_code, condition_type, stock_threshold, window_days,
                                   window_start_min, window_end_min, adjustment_type, adjustment_value, floor_amount,
                                   ceiling_amount, metadata)
        VALUES (b->>'title', coalesce(b->>'status', 'active'), coalesce((b->>'priority')::int, 0), b->>'currency_code',
                b->>'condition_type', (b->>'stock_threshold')::int, (b->>'window_days')::int, (b->>'window_start_min')::int,
                (b->>'window_end_min')::int, b->>'adjustment_type', (b->>'adjustment_value')::bigint,
                (b->>'floor_amount')::bigint, (b->>'ceiling_amount')::bigint, coalesce(jsonb_strip_nulls(b->'metadata'), '{}'))
        RETURNING id INTO rid;
    ELSE
        UPDATE pricing_rules SET
            title = coalesce(b->>'title', title), status = coalesce(b->>'status', status),
            priority = coalesce((b->>'priority')::int, priority), currency_code = coalesce(b->>'currency_code', currency_code),
            condition_type = CASE WHEN b ? 'condition_type' THEN b->>'condition_type' ELSE condition_type END,
            stock_threshold = CASE WHEN b ? 'condition_type' THEN (b->>'stock_threshold')::int ELSE stock_threshold END,
            window_days = CASE WHEN b ? 'condition_type' THEN (b->>'window_days')::int ELSE window_days END,
            window_start_min = CASE WHEN b ? 'condition_type' THEN (b->>'window_start_min')::int ELSE window_start_min END,
            window_end_min = CASE WHEN b ? 'condition_type' THEN (b->>'window_end_min')::int ELSE window_end_min END,
            adjustment_type = coalesce(b->>'adjustment_type', adjustment_type),
            adjustment_value = coalesce((b->>'adjustment_value')::bigint, adjustment_value),
            floor_amount = coalesce((b->>'floor_amount')::bigint, floor_amount),
            ceiling_amount = coalesce((b->>'ceiling_amount')::bigint, ceiling_amount),
            metadata = souq_merge_metadata(metadata, b)
         WHERE id = rid;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
    END IF;
    IF b ? 'variant_ids' THEN
        DELETE FROM pricing_rule_variants WHERE rule_id = rid;
        INSERT INTO pricing_rule_variants (rule_id, variant_id)
        SELECT DISTINCT rid, v FROM jsonb_array_elements_text(b->'variant_ids') v;
    END IF;
    PERFORM souq_pricing_rules_evaluate(rid, false, false);
    RETURN (SELECT souq_pricing_rule_json(r) FROM pricing_rules r WHERE r.id = rid);
END $$;

-- Deletes a rule after giving its prices back. 0 rows: no such rule.
CREATE FUNCTION souq_pricing_rule_delete(p_id text) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM pricing_rules WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    UPDATE pricing_rules SET status = 'disabled' WHERE id = p_id;
    PERFORM souq_pricing_rules_evaluate(p_id, false, false);
    DELETE FROM pricing_rule_applications WHERE rule_id = p_id;
    DELETE FROM pricing_rules WHERE id = p_id;
    RETURN 1;
END $$;

-- Stock changes wake the evaluation when a level's change moves a covered variant across a rule's threshold. The
-- check costs one probe of a partial index while no stock rule is active, so checkout pays nothing measurable; the
-- job is enqueued (after checking none is already due) only on a crossing, which is rare.
CREATE FUNCTION souq_pricing_stock_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pricing_rules WHERE status = 'active' AND condition_type = 'stock_below') THEN
        RETURN NULL;
    END IF;
    delta := coalesce(NEW.available, 0) - coalesce(OLD.available, 0);
    IF EXISTS (
        SELECT 1 FROM variant_inventory_items vi
          JOIN pricing_rule_variants rv ON rv.variant_id = vi.variant_id
          JOIN pricing_rules r ON r.id = rv.rule_id AND r.status = 'active' AND r.condition_type = 'stock_below'
          CROSS JOIN LATERAL (SELECT coalesce(sum(l.available), 0)::bigint AS now_ FROM inventory_levels l
                               WHERE l.inventory_item_id = vi.inventory_item_id) t
         WHERE vi.inventory_item_id = coalesce(NEW.inventory_item_id, OLD.inventory_item_id)
           AND (t.now_ / vi.required_quantity < r.stock_threshold) <> ((t.now_ - delta) / vi.required_quantity < r.stock_threshold))
       AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.kind = 'pricing_rules.evaluate' AND j.state = 'scheduled' AND j.run_at <= now()) THEN
        INSERT INTO jobs (kind, payload, max_attempts) VALUES ('pricing_rules.evaluate', '{"reason": "stock"}', 3);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER inventory_levels_pricing_rules AFTER UPDATE ON inventory_levels FOR EACH ROW
    WHEN (OLD.available IS DISTINCT FROM NEW.available) EXECUTE FUNCTION souq_pricing_stock_changed();
CREATE TRIGGER inventory_levels_pricing_rules_insdel AFTER INSERT OR DELETE ON inventory_levels FOR EACH ROW
    EXECUTE FUNCTION souq_pricing_stock_changed();

-- The recurring evaluation (a safety net for what the triggers above miss: several levels of one item changed in one
-- statement, variants added to an inventory item, a lost wake-up).
INSERT INTO job_schedules (id, kind, spec, every_s, daily_min, max_attempts, next_run_at)
VALUES ('pricing_rules', 'pricing_rules.evaluate', 'every 1 minute', 60, NULL, 1, souq_schedule_next(60, NULL, now()))
ON CONFLICT (id) DO NOTHING;
