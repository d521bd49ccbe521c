-- Feedback under abuse (issue 17): ratings are rate limited per key like requests, in a bucket
-- of their own, and ratings parked for a request that never appears expire.
-- feedback_tat: the GCRA state of the key's ratings (see rate_tat in 0002_api_keys.sql).
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS feedback_tat timestamptz;
-- The ledger deletes parked ratings older than PENDING_FEEDBACK_TTL_S by this column.
CREATE INDEX IF NOT EXISTS pending_feedback_received_at_idx ON pending_feedback (received_at);
