-- Streamed answers and callers who gave up (issue 16).
-- streamed: the answer went out as chunks; first_token_ms: router time to its first text;
-- answer_chars: length of the answer sent (of the partial answer when it broke off).
-- status: what happened, for operators: answered, failed, or the error kinds that mean the
-- caller's side ended it (expired, cancelled) or that the answer is partial (stream_interrupted).
ALTER TABLE routing_requests ADD COLUMN IF NOT EXISTS streamed boolean NOT NULL DEFAULT false;
ALTER TABLE routing_requests ADD COLUMN IF NOT EXISTS first_token_ms double precision;
ALTER TABLE routing_requests ADD COLUMN IF NOT EXISTS answer_chars integer NOT NULL DEFAULT 0
    CHECK (answer_chars >= 0);
ALTER TABLE routing_requests ADD COLUMN IF NOT EXISTS status text GENERATED ALWAYS AS (
    CASE
        WHEN ok THEN 'answered'
        WHEN error_kind IN ('expired', 'cancelled', 'stream_interrupted') THEN error_kind
        ELSE 'failed'
    END
) STORED;
CREATE INDEX IF NOT EXISTS routing_requests_status_idx ON routing_requests (status)
    WHERE status <> 'answered';
