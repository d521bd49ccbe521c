-- Trials: per routing key, the cheaper models the learner still wants explored (successive
-- elimination, see docs/learning.md). Kept with the run that computed them.
ALTER TABLE learning_runs ADD COLUMN IF NOT EXISTS trials jsonb NOT NULL DEFAULT '{}'::jsonb;
