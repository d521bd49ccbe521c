-- API keys, their per-day spend and the budget reserved by requests in flight (docs/api.md).
-- A key is stored as the sha256 of the key: the key itself is shown once, at creation.

CREATE TABLE IF NOT EXISTS api_keys (
    id               text PRIMARY KEY,
    name             text NOT NULL DEFAULT '',
    key_hash         text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    scope            text NOT NULL CHECK (scope IN ('client', 'admin')),
    rpm_limit        integer CHECK (rpm_limit > 0),
    daily_budget_usd numeric(16, 6) CHECK (daily_budget_usd > 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at       timestamptz,
    -- Rate limit state (GCRA): when the key's request allowance is next back to full.
    rate_tat         timestamptz
);

-- Real cost per key and UTC day, added when a request's RouteCompleted is recorded.
CREATE TABLE IF NOT EXISTS api_key_daily_spend (
    api_key_id text NOT NULL,
    day        date NOT NULL,
    spent_usd  numeric(16, 10) NOT NULL DEFAULT 0,
    requests   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (api_key_id, day)
);

-- An upper bound of the cost of each admitted request still in flight. Deleted in the
-- transaction that records the request's real cost; stops counting after expires_at when the
-- request is lost.
CREATE TABLE IF NOT EXISTS budget_reservations (
    request_id uuid PRIMARY KEY,
    api_key_id text NOT NULL,
    amount_usd numeric(16, 10) NOT NULL CHECK (amount_usd >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS budget_reservations_key_idx
    ON budget_reservations (api_key_id, expires_at);
