-- The request ledger partitioned by month (issue 17, "data that grows for years").
--
-- routing_requests becomes a table partitioned by range of created_at, one partition per UTC
-- calendar month, named routing_requests_yYYYYmMM. Old months are dropped whole when
-- DATA_RETENTION_DAYS is set; queries on a time window read only the months it covers.
--
-- The primary key of a partitioned table must contain the partition key, so it becomes
-- (request_id, created_at). The uniqueness of request_id alone, on which the ledger's
-- idempotency rests (a redelivered RouteCompleted is stored once), moves to request_ids: one
-- small row per request, claimed by the statement that stores the request. Tables that
-- reference a request by its id alone reference request_ids.
--
-- Existing rows are copied into their months inside this migration's transaction and counted:
-- the migration fails (and changes nothing) rather than lose a row.

-- The partitions of a range-partitioned table and their bounds, read from the catalog.
CREATE OR REPLACE FUNCTION optimizer_partitions(parent regclass)
RETURNS TABLE (partition regclass, range_start timestamptz, range_end timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT c.oid::regclass,
           substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \(''([^'']+)''\)')::timestamptz,
           substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = parent
    ORDER BY 2
$$;

-- Make the partition of `parent` holding the UTC month of `during`, unless it exists.
-- Returns true when it made one. Month arithmetic is done in UTC whatever the session's
-- TimeZone (adding a month to a timestamptz would follow the session's zone).
CREATE OR REPLACE FUNCTION optimizer_ensure_partition(parent regclass, during timestamptz)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamp := date_trunc('month', during AT TIME ZONE 'UTC');
    child text := format('%s_y%sm%s', (SELECT relname FROM pg_class WHERE oid = parent),
                         to_char(month_start, 'YYYY'), to_char(month_start, 'MM'));
BEGIN
    -- Replicas make partitions at the same moments; one at a time, the others then see it.
    PERFORM pg_advisory_xact_lock(hashtext('optimizer_partitions'));
    IF EXISTS (SELECT 1 FROM optimizer_partitions(parent)
               WHERE range_start = month_start AT TIME ZONE 'UTC') THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                   child, parent, month_start AT TIME ZONE 'UTC',
                   (month_start + interval '1 month') AT TIME ZONE 'UTC');
    RETURN true;
END
$$;

-- Detach and drop the partitions of `parent` that end at or before `keep_from`; their names.
CREATE OR REPLACE FUNCTION optimizer_drop_partitions(parent regclass, keep_from timestamptz)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    old record;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('optimizer_partitions'));
    FOR old IN SELECT partition::text AS name
               FROM optimizer_partitions(parent) WHERE range_end <= keep_from
    LOOP
        -- A partition that a foreign key references cannot be dropped while attached.
        EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', parent, old.name);
        EXECUTE format('DROP TABLE %s', old.name);
        RETURN NEXT old.name;
    END LOOP;
END
$$;

CREATE TABLE request_ids (
    request_id uuid PRIMARY KEY,
    created_at timestamptz NOT NULL
);
-- Retention deletes the ids of the months it drops by this column.
CREATE INDEX request_ids_created_at_idx ON request_ids (created_at);

DO $$
DECLARE
    fk record;
    ix record;
    columns text;
    copied bigint;
    expected bigint;
BEGIN
    -- Foreign keys to routing_requests(request_id): production_feedback's is rebuilt by 0011
    -- on the new key; any other table's (request_features, when 0012 ran before this) points
    -- at request_ids once it is filled, below.
    CREATE TEMP TABLE old_foreign_keys ON COMMIT DROP AS
        SELECT conname AS name, conrelid::regclass AS tbl, pg_get_constraintdef(oid) AS def
        FROM pg_constraint WHERE contype = 'f' AND confrelid = 'routing_requests'::regclass;
    FOR fk IN SELECT * FROM old_foreign_keys LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.name);
        IF fk.tbl <> 'production_feedback'::regclass
           AND fk.def !~ 'REFERENCES routing_requests\(request_id\)' THEN
            RAISE EXCEPTION 'cannot move foreign key % of %: %', fk.name, fk.tbl, fk.def;
        END IF;
    END LOOP;

    -- Secondary indexes (whatever earlier migrations made) are rebuilt on the new table after
    -- the copy, which is faster than filling indexed partitions row by row.
    CREATE TEMP TABLE old_indexes ON COMMIT DROP AS
        SELECT pg_get_indexdef(i.indexrelid) AS def
        FROM pg_index i
        WHERE i.indrelid = 'routing_requests'::regclass AND NOT i.indisprimary;

    ALTER TABLE routing_requests RENAME TO routing_requests_unpartitioned;
    CREATE TABLE routing_requests (
        LIKE routing_requests_unpartitioned
        INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE
        INCLUDING COMMENTS
    ) PARTITION BY RANGE (created_at);

    PERFORM optimizer_ensure_partition('routing_requests', month)
    FROM (SELECT DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
              AS month
          FROM routing_requests_unpartitioned) AS months;
    PERFORM optimizer_ensure_partition('routing_requests', now() + make_interval(months => n))
    FROM generate_series(0, 2) AS n;

    -- Generated columns (status) are computed again, not copied.
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO columns
    FROM pg_attribute
    WHERE attrelid = 'routing_requests_unpartitioned'::regclass AND attnum > 0
      AND NOT attisdropped AND attgenerated = '';
    EXECUTE format('INSERT INTO routing_requests (%s) SELECT %s FROM routing_requests_unpartitioned',
                   columns, columns);
    GET DIAGNOSTICS copied = ROW_COUNT;
    SELECT count(*) INTO expected FROM routing_requests_unpartitioned;
    IF copied <> expected THEN
        RAISE EXCEPTION 'routing_requests: copied % of % rows', copied, expected;
    END IF;
    INSERT INTO request_ids (request_id, created_at)
    SELECT request_id, created_at FROM routing_requests_unpartitioned;
    FOR fk IN SELECT * FROM old_foreign_keys WHERE tbl <> 'production_feedback'::regclass LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.tbl, fk.name,
                       replace(fk.def, 'REFERENCES routing_requests(request_id)',
                               'REFERENCES request_ids(request_id)'));
    END LOOP;

    DROP TABLE routing_requests_unpartitioned;
    ALTER TABLE routing_requests ADD PRIMARY KEY (request_id, created_at);
    FOR ix IN SELECT def FROM old_indexes LOOP
        EXECUTE ix.def;  -- read before the rename: it names routing_requests
    END LOOP;
END
$$;

ANALYZE routing_requests;
ANALYZE request_ids;
