-- Ratings partitioned with their requests (issue 17, see 0010_partitioned_requests.sql).
--
-- production_feedback is partitioned by request_created_at, the created_at of the rated
-- request, into the same UTC months as routing_requests. A rating therefore lives and is
-- dropped with its request, its key (request_id, request_created_at) is still one rating per
-- request (a re-submission updates it), and the foreign key to routing_requests holds. The
-- learner and the reports join the two tables month by month.
--
-- Existing ratings are copied and counted, as in 0010.

DO $$
DECLARE
    ix record;
    columns text;
    sources text;
    copied bigint;
    expected bigint;
BEGIN
    CREATE TEMP TABLE old_feedback_indexes ON COMMIT DROP AS
        SELECT pg_get_indexdef(i.indexrelid) AS def
        FROM pg_index i
        WHERE i.indrelid = 'production_feedback'::regclass AND NOT i.indisprimary;

    ALTER TABLE production_feedback RENAME TO production_feedback_unpartitioned;
    CREATE TABLE production_feedback (
        LIKE production_feedback_unpartitioned
        INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE
        INCLUDING COMMENTS,
        request_created_at timestamptz NOT NULL
    ) PARTITION BY RANGE (request_created_at);

    -- The same months as routing_requests, so that every rated request's month has a place.
    PERFORM optimizer_ensure_partition('production_feedback', range_start)
    FROM optimizer_partitions('routing_requests');

    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum),
           string_agg('f.' || quote_ident(attname), ', ' ORDER BY attnum)
    INTO columns, sources
    FROM pg_attribute
    WHERE attrelid = 'production_feedback_unpartitioned'::regclass AND attnum > 0
      AND NOT attisdropped AND attgenerated = '';
    EXECUTE format(
        'INSERT INTO production_feedback (%s, request_created_at) '
        'SELECT %s, i.created_at FROM production_feedback_unpartitioned f '
        'JOIN request_ids i USING (request_id)',
        columns, sources);
    GET DIAGNOSTICS copied = ROW_COUNT;
    SELECT count(*) INTO expected FROM production_feedback_unpartitioned;
    IF copied <> expected THEN
        RAISE EXCEPTION 'production_feedback: copied % of % rows', copied, expected;
    END IF;

    DROP TABLE production_feedback_unpartitioned;
    ALTER TABLE production_feedback ADD PRIMARY KEY (request_id, request_created_at);
    ALTER TABLE production_feedback ADD CONSTRAINT production_feedback_request_id_fkey
        FOREIGN KEY (request_id, request_created_at)
        REFERENCES routing_requests (request_id, created_at) ON DELETE CASCADE;
    FOR ix IN SELECT def FROM old_feedback_indexes LOOP
        EXECUTE ix.def;  -- read before the rename: it names production_feedback
    END LOOP;
END
$$;

-- The learner's window is on updated_at (a rating counts from when it was last given).
CREATE INDEX production_feedback_updated_at_idx ON production_feedback (updated_at);
ANALYZE production_feedback;
