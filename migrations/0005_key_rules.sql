-- Per-key model rules (issue 18): which models and providers a key may use, its default
-- quality target and its cost ceiling per request. NULL means no rule. The ledger hands them
-- to the ingress with the key's record; the routing policy enforces them.
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS allowed_models text[];
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS allowed_providers text[];
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS min_quality numeric(4, 3)
    CHECK (min_quality BETWEEN 0 AND 1);
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS max_cost_per_request_usd numeric(16, 6)
    CHECK (max_cost_per_request_usd > 0);
