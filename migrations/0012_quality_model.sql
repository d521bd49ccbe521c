-- Per-prompt routing learned from ratings (issue 15): the context vector of each request, the
-- versions of the learned quality model, the model version each request was decided with, and
-- a key's default quality target (the decision knob, docs/learning.md#in-production).

-- The quality model version that scored the candidates of a request (NULL: catalog priors).
ALTER TABLE routing_requests ADD COLUMN IF NOT EXISTS model_version integer;

-- What the router saw of a prompt when it decided (float16, little endian; never its text).
-- Kept FEATURE_RETENTION_DAYS, by created_at (the request's time), then deleted by the ledger.
-- routing_requests is partitioned (0010): a request's id alone is unique in request_ids.
CREATE TABLE IF NOT EXISTS request_features (
    request_id      uuid PRIMARY KEY REFERENCES request_ids (request_id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL,
    context_version smallint NOT NULL,
    features        bytea NOT NULL CHECK (octet_length(features) <= 2048)
);
CREATE INDEX IF NOT EXISTS request_features_created_at_idx ON request_features (created_at);

-- Every version of the learned quality model; exactly one (or none: catalog priors) is active.
-- A fit starts from its parent and adds the ratings that arrived after the parent's
-- `fitted_through`; a restore copies an older version's model under a new version number.
CREATE TABLE IF NOT EXISTS quality_models (
    version         integer PRIMARY KEY CHECK (version > 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    context_version smallint NOT NULL,
    model           bytea NOT NULL,
    rows_used       integer NOT NULL DEFAULT 0 CHECK (rows_used >= 0),
    parent_version  integer REFERENCES quality_models (version),
    restored_from   integer REFERENCES quality_models (version),
    fitted_through  timestamptz NOT NULL,
    is_active       boolean NOT NULL DEFAULT false,
    trigger         text NOT NULL,
    diff            jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE UNIQUE INDEX IF NOT EXISTS quality_models_one_active ON quality_models ((true))
    WHERE is_active;

-- A key's default for constraints.quality_target (a request's own value wins).
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS quality_target numeric(4, 3)
    CHECK (quality_target BETWEEN 0 AND 1);
