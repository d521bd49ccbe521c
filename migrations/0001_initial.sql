-- Initial schema: requests, feedback, learned overrides and learning runs.
-- Column names used by the deployment guide's queries are fixed: see README.

CREATE TABLE IF NOT EXISTS routing_requests (
    request_id        uuid PRIMARY KEY,
    created_at        timestamptz NOT NULL DEFAULT now(),
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    ok                boolean NOT NULL,
    provider          text,
    model             text,
    pattern           text NOT NULL,
    complexity        text NOT NULL,
    tokens_in         integer NOT NULL DEFAULT 0 CHECK (tokens_in >= 0),
    tokens_out        integer NOT NULL DEFAULT 0 CHECK (tokens_out >= 0),
    cost_usd          numeric(16, 10) NOT NULL DEFAULT 0,
    baseline_cost_usd numeric(16, 10) NOT NULL DEFAULT 0,
    savings_usd       numeric(16, 10) NOT NULL DEFAULT 0,
    latency_ms        double precision NOT NULL DEFAULT 0,
    attempts          integer NOT NULL DEFAULT 0,
    fallback_path     jsonb NOT NULL DEFAULT '[]'::jsonb,
    explored          boolean NOT NULL DEFAULT false,
    override_version  integer,
    decision_reason   text,
    finish_reason     text,
    error_kind        text,
    error_message     text,
    prompt_hash       text NOT NULL,
    prompt_preview    text,
    api_key_id        text
);
CREATE INDEX IF NOT EXISTS routing_requests_created_at_idx ON routing_requests (created_at);
CREATE INDEX IF NOT EXISTS routing_requests_pattern_model_idx ON routing_requests (pattern, model);

CREATE TABLE IF NOT EXISTS production_feedback (
    request_id    uuid PRIMARY KEY REFERENCES routing_requests (request_id) ON DELETE CASCADE,
    quality_score smallint NOT NULL CHECK (quality_score BETWEEN 1 AND 5),
    is_correct    boolean,
    comment       text,
    api_key_id    text,
    revision      integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS production_feedback_created_at_idx ON production_feedback (created_at);

-- Feedback whose request row is not stored (yet): parked here, never dropped, and moved into
-- production_feedback by the recorder in the same transaction that stores the request.
CREATE TABLE IF NOT EXISTS pending_feedback (
    request_id    uuid PRIMARY KEY,
    quality_score smallint NOT NULL CHECK (quality_score BETWEEN 1 AND 5),
    is_correct    boolean,
    comment       text,
    api_key_id    text,
    received_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS learning_overrides (
    id               bigserial PRIMARY KEY,
    version          integer NOT NULL,
    pattern          text NOT NULL,
    model            text NOT NULL,
    provider         text NOT NULL,
    confidence_level text NOT NULL CHECK (confidence_level IN ('high', 'medium', 'low')),
    confidence_bound double precision NOT NULL,
    sample_count     integer NOT NULL,
    avg_quality      double precision,
    correct_rate     double precision,
    is_active        boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (version, pattern)
);
CREATE INDEX IF NOT EXISTS learning_overrides_active_idx
    ON learning_overrides (pattern) WHERE is_active;

CREATE TABLE IF NOT EXISTS learning_runs (
    id             bigserial PRIMARY KEY,
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    trigger        text NOT NULL,
    dry_run        boolean NOT NULL,
    status         text NOT NULL,
    version        integer,
    params         jsonb NOT NULL DEFAULT '{}'::jsonb,
    diff           jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- A cron slot claimed by exactly one learner replica ('2026-11-28T03:00:00+00:00').
    schedule_slot  text UNIQUE,
    error          text
);
CREATE INDEX IF NOT EXISTS learning_runs_started_at_idx ON learning_runs (started_at);
