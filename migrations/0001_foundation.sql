-- 0001_foundation.sql: ids, currencies, sales channels, staff, customers and addresses, sessions and
-- refresh tokens, API keys, rate limits, password resets and the outbox.
-- Conventions: ids are text "<prefix>_<26 base32 chars>" (time-ordered), money is bigint minor units,
-- codes (country, currency) are lower case, every table has created_at/updated_at in UTC.

-- A time-ordered id: 48-bit millisecond timestamp + 80 random bits, Crockford base32 in lower case.
CREATE FUNCTION souq_id(prefix text) RETURNS text LANGUAGE plpgsql VOLATILE PARALLEL SAFE AS $$
DECLARE
    u bytea := uuid_send(gen_random_uuid());
    t bigint := floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint;
    r1 bigint := ('x' || encode(substring(u FROM 1 FOR 5), 'hex'))::bit(40)::bigint;
    r2 bigint := ('x' || encode(substring(u FROM 10 FOR 5), 'hex'))::bit(40)::bigint;
    a constant text := '0123456789abcdefghjkmnpqrstvwxyz';
    s text := prefix || '_';
BEGIN
    FOR i IN REVERSE 9..0 LOOP s := s || substr(a, ((t >> (i * 5)) & 31)::int + 1, 1); END LOOP;
    FOR i IN REVERSE 7..0 LOOP s := s || substr(a, ((r1 >> (i * 5)) & 31)::int + 1, 1); END LOOP;
    FOR i IN REVERSE 7..0 LOOP s := s || substr(a, ((r2 >> (i * 5)) & 31)::int + 1, 1); END LOOP;
    RETURN s;
END $$;

CREATE FUNCTION souq_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TABLE currencies (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z]{3}$'),
    name        text NOT NULL,
    minor_units smallint NOT NULL CHECK (minor_units BETWEEN 0 AND 4)
);

CREATE TABLE sales_channels (
    id          text PRIMARY KEY DEFAULT souq_id('sc'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    description text,
    is_default  boolean NOT NULL DEFAULT false,
    disabled_at timestamptz,
    metadata    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX sales_channels_one_default ON sales_channels (is_default) WHERE is_default;
CREATE TRIGGER sales_channels_touch BEFORE UPDATE ON sales_channels FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE TABLE staff_users (
    id            text PRIMARY KEY DEFAULT souq_id('usr'),
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('owner', 'admin', 'catalog_manager', 'order_manager', 'support', 'read_only')),
    first_name    text,
    last_name     text,
    disabled_at   timestamptz,
    metadata      jsonb NOT NULL DEFAULT '{}',
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX staff_users_email_key ON staff_users (lower(email));
CREATE TRIGGER staff_users_touch BEFORE UPDATE ON staff_users FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE TABLE customers (
    id            text PRIMARY KEY DEFAULT souq_id('cus'),
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash text,            -- NULL for guest customers (created by checkout)
    has_account   boolean NOT NULL DEFAULT false,
    first_name    text,
    last_name     text,
    phone         text,
    metadata      jsonb NOT NULL DEFAULT '{}',
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (has_account = (password_hash IS NOT NULL))
);
CREATE UNIQUE INDEX customers_email_key ON customers (lower(email)) WHERE has_account;
CREATE INDEX customers_email_idx ON customers (lower(email));
CREATE TRIGGER customers_touch BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION souq_touch();

CREATE TABLE customer_addresses (
    id                  text PRIMARY KEY DEFAULT souq_id('addr'),
    customer_id         text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    first_name          text,
    last_name           text,
    company             text,
    address_1           text NOT NULL,
    address_2           text,
    city                text NOT NULL,
    province            text,
    postal_code         text,
    country_code        text NOT NULL CHECK (country_code ~ '^[a-z]{2}$'),
    phone               text,
    is_default_shipping boolean NOT NULL DEFAULT false,
    is_default_billing  boolean NOT NULL DEFAULT false,
    metadata            jsonb NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_addresses_customer_idx ON customer_addresses (customer_id, id);
CREATE UNIQUE INDEX customer_addresses_one_shipping ON customer_addresses (customer_id) WHERE is_default_shipping;
CREATE UNIQUE INDEX customer_addresses_one_billing ON customer_addresses (customer_id) WHERE is_default_billing;
CREATE TRIGGER customer_addresses_touch BEFORE UPDATE ON customer_addresses FOR EACH ROW EXECUTE FUNCTION souq_touch();

-- A login session: the family of rotated refresh tokens. Revoking it ends every token of the family.
CREATE TABLE auth_sessions (
    id                text PRIMARY KEY DEFAULT souq_id('ses'),
    subject_type      text NOT NULL CHECK (subject_type IN ('customer', 'staff')),
    subject_id        text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    last_refreshed_at timestamptz,
    revoked_at        timestamptz,
    revoke_reason     text,
    ip                text,
    user_agent        text
);
CREATE INDEX auth_sessions_subject_idx ON auth_sessions (subject_type, subject_id) WHERE revoked_at IS NULL;

-- Refresh tokens are opaque; only their SHA-256 is stored.
CREATE TABLE refresh_tokens (
    token_hash text PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    session_id text NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE api_keys (
    id               text PRIMARY KEY DEFAULT souq_id('key'),
    type             text NOT NULL CHECK (type IN ('publishable', 'secret')),
    title            text NOT NULL CHECK (length(title) BETWEEN 1 AND 256),
    token            text,        -- publishable keys only: they are public by design
    token_hash       text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    redacted         text NOT NULL, -- "sk_...wxyz", for lists
    scopes           text[] NOT NULL DEFAULT '{}',
    sales_channel_id text REFERENCES sales_channels (id),
    created_by       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_used_at     timestamptz,
    revoked_at       timestamptz,
    revoked_by       text,
    CHECK ((type = 'publishable') = (token IS NOT NULL)),
    CHECK ((type = 'publishable') = (sales_channel_id IS NOT NULL)),
    CHECK (type = 'secret' OR scopes = '{}')
);

-- Fixed-window counters for login and password-reset throttling, shared by every node.
CREATE TABLE rate_limits (
    key          text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL
);

-- Seconds until the first of the keys that reached its limit frees up; 0 when every key is under it.
CREATE FUNCTION souq_rate_check(p_keys text[], p_limits int[], p_window_s int) RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT coalesce(max(ceil(extract(epoch FROM r.window_start + make_interval(secs => p_window_s) - now())))::int, 0)
      FROM unnest(p_keys, p_limits) AS k(key, lim)
      JOIN rate_limits r ON r.key = k.key
     WHERE r.hits >= k.lim AND r.window_start > now() - make_interval(secs => p_window_s)
$$;

-- Counts one hit on each key (a new window starts when the old one is over).
CREATE FUNCTION souq_rate_hit(p_keys text[], p_window_s int) RETURNS void LANGUAGE sql AS $$
    INSERT INTO rate_limits AS r (key, window_start, hits)
    SELECT k, now(), 1 FROM unnest(p_keys) AS k
    ON CONFLICT (key) DO UPDATE
       SET hits = CASE WHEN r.window_start <= now() - make_interval(secs => p_window_s) THEN 1 ELSE r.hits + 1 END,
           window_start = CASE WHEN r.window_start <= now() - make_interval(secs => p_window_s) THEN now() ELSE r.window_start END
$$;

CREATE TABLE password_reset_tokens (
    token_hash  text PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    customer_id text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX password_reset_tokens_customer_idx ON password_reset_tokens (customer_id);

-- Domain events, written in the same transaction as the change that caused them. The dispatcher
-- (events issue) claims rows with FOR UPDATE SKIP LOCKED and delivers them at least once.
CREATE TABLE outbox_events (
    id           text PRIMARY KEY DEFAULT souq_id('evt'),
    type         text NOT NULL,
    payload      jsonb NOT NULL,
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    state        text NOT NULL DEFAULT 'available' CHECK (state IN ('available', 'running', 'retryable', 'completed', 'discarded')),
    attempts     integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL DEFAULT 25,
    run_at       timestamptz NOT NULL DEFAULT now(),
    locked_by    text,
    locked_until timestamptz,
    last_error   text
);
CREATE INDEX outbox_events_ready_idx ON outbox_events (run_at) WHERE state IN ('available', 'retryable');
CREATE INDEX outbox_events_type_idx ON outbox_events (type, occurred_at);

-- Rotates a refresh token: marks the presented one used and stores its successor. A token presented
-- twice means it leaked: the whole session is revoked (OAuth 2.0 Security BCP, refresh token reuse).
-- Returns no row when the token is unknown, used, expired, its session revoked, or its subject disabled.
CREATE FUNCTION souq_refresh_session(p_hash text, p_new_hash text, p_subject_type text, p_ttl_s int)
RETURNS TABLE (session_id text, subject_id text) LANGUAGE plpgsql AS $$
DECLARE
    t refresh_tokens;
    s auth_sessions;
BEGIN
    UPDATE refresh_tokens SET used_at = now() WHERE token_hash = p_hash AND used_at IS NULL RETURNING * INTO t;
    IF NOT FOUND THEN
        UPDATE auth_sessions SET revoked_at = now(), revoke_reason = 'refresh_token_reuse'
         WHERE id = (SELECT r.session_id FROM refresh_tokens r WHERE r.token_hash = p_hash) AND revoked_at IS NULL;
        RETURN;
    END IF;
    SELECT * INTO s FROM auth_sessions a
     WHERE a.id = t.session_id AND a.subject_type = p_subject_type AND a.revoked_at IS NULL AND a.expires_at > now();
    IF NOT FOUND OR t.expires_at <= now() THEN
        RETURN;
    END IF;
    IF p_subject_type = 'staff' AND NOT EXISTS (SELECT 1 FROM staff_users u WHERE u.id = s.subject_id AND u.disabled_at IS NULL) THEN
        RETURN;
    END IF;
    IF p_subject_type = 'customer' AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = s.subject_id AND c.has_account) THEN
        RETURN;
    END IF;
    INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
    VALUES (p_new_hash, s.id, least(s.expires_at, now() + make_interval(secs => p_ttl_s)));
    UPDATE auth_sessions SET last_refreshed_at = now() WHERE id = s.id;
    RETURN QUERY SELECT s.id, s.subject_id;
END $$;

-- Raises a client-safe error with one of Souq's own SQLSTATEs (SQ404, SQ409, SQ422; see core/db/sqlstate.c).
-- Used by guard statements at the head of a batch, so a refused batch changes nothing.
CREATE FUNCTION souq_raise(code text, msg text) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = msg;
END $$;
