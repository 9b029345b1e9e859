-- Stays and their guests partitioned by check-in month (issue 15): a province keeps three years, over a
-- billion guest rows, and retention drops a month whole (service/privacy/retention.py) instead of
-- deleting it row by row. PostgreSQL's declarative partitioning, RANGE on check_in; one partition a
-- month (stays_2026_11, stay_guests_2026_11), made ahead by the service (service/stays/partitions.py),
-- and a DEFAULT partition for a check-in no month partition holds yet, so no registration ever fails
-- for want of one (stays_partition_month moves its rows out when their month is made).
--
-- Keys include the partition key, as PostgreSQL requires: stays (id, check_in). A lookup by id alone
-- probes each partition's index (about 40 for three years; 0.3 ms with 40 partitions and 1,000,000 stays
-- with a cached plan); every such lookup reads one stay.
-- Receipt codes are unique per month (receipt_hash, check_in): a lookup by code probes each month too.
--
-- References to a stay are kept without foreign keys. A foreign key to a partitioned table makes
-- every DETACH of one of its partitions join the referencing tables against the whole month, and
-- forbids dropping it before that; the point of a month partition is that it goes at once. Instead:
-- * stay_guests carries its stay's check_in and is partitioned alike: a month of stays and the same
--   month of guests are dropped together; deleting stays deletes their guests (stays_released, the
--   statement-level trigger below, as ON DELETE CASCADE did);
-- * alerts, verifications and certificates keep stay_id; deleting a stay does what their foreign keys
--   did (SET NULL, CASCADE for certificates). The retention purge removes them before their stays.
--
-- The statement-level triggers with transition tables of 0012 are kept on the partitioned root: since
-- PostgreSQL 10 they see the rows of every partition a statement touched, and they do not fire for a
-- statement naming a partition itself (moving rows out of the DEFAULT partition counts nothing twice).
--
-- The conversion copies month by month into the new tables (a NOTICE per month: service/db/migrate.py
-- shows them as progress), checks the counts, drops the old tables and only then builds the indexes.
-- Counters, rollups and pending stay_changes stay as they are: the same rows, the same ids.

ALTER TABLE stays RENAME TO stays_unpartitioned;
ALTER TABLE stay_guests RENAME TO stay_guests_unpartitioned;
ALTER TABLE stay_guests_unpartitioned DROP CONSTRAINT stay_guests_stay_id_fkey;
ALTER TABLE alerts DROP CONSTRAINT alerts_stay_id_fkey;
ALTER TABLE verifications DROP CONSTRAINT verifications_stay_id_fkey;
ALTER TABLE certificates DROP CONSTRAINT certificates_stay_id_fkey;
-- Takes the old row type; made again for the new table below.
DROP FUNCTION stay_change(stays_unpartitioned, integer, boolean);
CREATE INDEX stays_unpartitioned_by_check_in ON stays_unpartitioned (check_in);

-- Constraints named as PostgreSQL named those of the tables before (the old ones still hold their names).
CREATE TABLE stays (
    id                  uuid NOT NULL,
    dwelling_id         bigint NOT NULL REFERENCES dwellings (id),
    area_code           text NOT NULL REFERENCES areas (code),
    receipt_hash        bytea NOT NULL,
    check_in            date NOT NULL,
    check_out           date NOT NULL,
    -- check_out at noon in the display zone: after it (plus a grace period) the stay is overdue.
    expected_departure  timestamptz NOT NULL,
    phone_cipher        bytea NOT NULL,
    phone_index         bytea NOT NULL,
    phone_masked        text NOT NULL,
    guest_count         integer NOT NULL CONSTRAINT stays_guest_count_check CHECK (guest_count BETWEEN 1 AND 50),
    capacity_anomaly    boolean NOT NULL DEFAULT false,
    registered_by       text NOT NULL CONSTRAINT stays_registered_by_check
                            CHECK (registered_by IN ('guest', 'desk', 'remote')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    checked_out_at      timestamptz,
    checked_out_by      text CONSTRAINT stays_checked_out_by_check CHECK (checked_out_by IN ('guest', 'owner', 'police')),
    floating_count      smallint NOT NULL DEFAULT 0,
    foreign_count       smallint NOT NULL DEFAULT 0,
    -- The province (2 digits) of each floating guest, repeated per guest.
    origin_provinces    text[] NOT NULL DEFAULT '{}',
    CONSTRAINT stays_check CHECK (check_out >= check_in)
) PARTITION BY RANGE (check_in);

CREATE TABLE stay_guests (
    id                  uuid NOT NULL,
    stay_id             uuid NOT NULL,
    -- The stay's, so a guest is in the same month partition as the stay.
    check_in            date NOT NULL,
    position            smallint NOT NULL,
    full_name           text NOT NULL,
    document_type       text CONSTRAINT stay_guests_document_type_check
                            CHECK (document_type IN ('resident_id', 'passport', 'hk_macao_permit',
                                                     'taiwan_permit', 'foreign_permanent_residence')),
    document_cipher     bytea,
    document_index      bytea,
    document_masked     text,
    nationality         text,
    -- A minor without a document is registered by their relationship to the registrant.
    relationship        text,
    birth_year          smallint,
    sex                 char(1) CONSTRAINT stay_guests_sex_check CHECK (sex IN ('M', 'F')),
    origin_division     char(6),
    is_foreign          boolean NOT NULL DEFAULT false,
    name_key            text,
    CONSTRAINT stay_guests_check CHECK ((document_type IS NULL) = (document_cipher IS NULL)),
    CONSTRAINT stay_guests_check1 CHECK (document_type IS NOT NULL OR relationship IS NOT NULL)
) PARTITION BY RANGE (check_in);

CREATE TABLE stays_default PARTITION OF stays DEFAULT;
CREATE TABLE stay_guests_default PARTITION OF stay_guests DEFAULT;

-- The partitions of stays and stay_guests for the check-ins of `month`'s month, made if missing;
-- rows the DEFAULT partitions took for it move in (attaching refuses a month the default still holds).
-- Returns whether it made them. One maker at a time: instances start together.
CREATE FUNCTION stays_partition_month(month date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    next date := (date_trunc('month', month) + interval '1 month')::date;
    parent text;
    part text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('stays_partition_month'));
    IF to_regclass(format('stays_%s', to_char(first, 'YYYY_MM'))) IS NOT NULL THEN
        RETURN false;
    END IF;
    FOREACH parent IN ARRAY ARRAY['stays', 'stay_guests'] LOOP
        part := format('%s_%s', parent, to_char(first, 'YYYY_MM'));
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent);
        EXECUTE format('WITH moved AS (DELETE FROM %I WHERE check_in >= $1 AND check_in < $2 RETURNING *)
                        INSERT INTO %I SELECT * FROM moved', parent || '_default', part) USING first, next;
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', parent, part, first, next);
    END LOOP;
    RETURN true;
END $$;

-- The months of the existing stays, and this month and the three after it (the service makes more).
SELECT stays_partition_month(m::date)
  FROM generate_series(date_trunc('month', least((SELECT min(check_in) FROM stays_unpartitioned), current_date)),
                       date_trunc('month', current_date) + interval '3 months', interval '1 month') m;

DO $$
DECLARE
    months date[] := ARRAY(SELECT DISTINCT date_trunc('month', check_in)::date FROM stays_unpartitioned ORDER BY 1);
    month date;
    copied bigint;
    copied_guests bigint;
BEGIN
    RAISE NOTICE 'phase % months: copying stays and guests into month partitions', cardinality(months);
    FOREACH month IN ARRAY months LOOP
        INSERT INTO stays (id, dwelling_id, area_code, receipt_hash, check_in, check_out, expected_departure,
                           phone_cipher, phone_index, phone_masked, guest_count, capacity_anomaly, registered_by,
                           created_at, checked_out_at, checked_out_by, floating_count, foreign_count,
                           origin_provinces)
        SELECT id, dwelling_id, area_code, receipt_hash, check_in, check_out, expected_departure, phone_cipher,
               phone_index, phone_masked, guest_count, capacity_anomaly, registered_by, created_at,
               checked_out_at, checked_out_by, floating_count, foreign_count, origin_provinces
          FROM stays_unpartitioned
         WHERE check_in >= month AND check_in < month + interval '1 month';
        INSERT INTO stay_guests (id, stay_id, check_in, position, full_name, document_type, document_cipher,
                                 document_index, document_masked, nationality, relationship, birth_year, sex,
                                 origin_division, is_foreign, name_key)
        SELECT g.id, g.stay_id, s.check_in, g.position, g.full_name, g.document_type, g.document_cipher,
               g.document_index, g.document_masked, g.nationality, g.relationship, g.birth_year, g.sex,
               g.origin_division, g.is_foreign, g.name_key
          FROM stays_unpartitioned s JOIN stay_guests_unpartitioned g ON g.stay_id = s.id
         WHERE s.check_in >= month AND s.check_in < month + interval '1 month';
        RAISE NOTICE 'advance 1: %', to_char(month, 'YYYY-MM');
    END LOOP;
    SELECT (SELECT count(*) FROM stays) - (SELECT count(*) FROM stays_unpartitioned),
           (SELECT count(*) FROM stay_guests) - (SELECT count(*) FROM stay_guests_unpartitioned)
      INTO copied, copied_guests;
    IF copied <> 0 OR copied_guests <> 0 THEN
        RAISE EXCEPTION 'partitioning stays: % stays and % guests more in the copy than in the tables',
            copied, copied_guests;
    END IF;
END $$;

DROP TABLE stay_guests_unpartitioned, stays_unpartitioned;

DO $$ BEGIN RAISE NOTICE 'phase 13 indexes: indexing the month partitions'; END $$;
ALTER TABLE stays ADD PRIMARY KEY (id, check_in);
DO $$ BEGIN RAISE NOTICE 'advance 1'; END $$;
-- A receipt code is random (50 bits); unique per month, as a key must hold the partition key.
CREATE UNIQUE INDEX stays_receipt_hash_key ON stays (receipt_hash, check_in);
DO $$ BEGIN RAISE NOTICE 'advance 1'; END $$;
-- The current stays are what every landlord page and police count reads.
CREATE INDEX stays_current_by_dwelling ON stays (dwelling_id) WHERE checked_out_at IS NULL;
DO $$ BEGIN RAISE NOTICE 'advance 1'; END $$;
CREATE INDEX stays_current_by_area ON stays (area_code text_pattern_ops) WHERE checked_out_at IS NULL;
DO $$ BEGIN RAISE NOTICE 'advance 1'; END $$;
CREATE INDEX stays_by_dwelling ON stays (dwelling_id, created_at);
DO $$ BEGIN RAISE NOTICE 'advance 1'; END $$;
CREATE INDEX stays_arrivals ON stays (area_code text_pattern_ops, created_at);
DO $$ BEGIN RAISE NOTICE 'advance 1'; END $$;
CREATE INDEX stays_departures ON stays (area_code text_pattern_ops, checked_out_at) WHERE checked_out_at IS NOT NULL;
DO $$ BEGIN RAISE NOTICE 'advance 1'; END $$;
ALTER TABLE stay_guests ADD PRIMARY KEY (id, check_in);
DO $$ BEGIN RAISE NOTICE 'advance 1'; END $$;
CREATE UNIQUE INDEX stay_guests_stay_id_position_key ON stay_guests (stay_id, position, check_in);
DO $$ BEGIN RAISE NOTICE 'advance 1'; END $$;
CREATE INDEX stay_guests_document ON stay_guests (document_index) WHERE document_index IS NOT NULL;
DO $$ BEGIN RAISE NOTICE 'advance 1'; END $$;
-- Police search by name (exact, within a jurisdiction).
CREATE INDEX stay_guests_name ON stay_guests (full_name);
DO $$ BEGIN RAISE NOTICE 'advance 1'; END $$;
CREATE INDEX stay_guests_name_key ON stay_guests (name_key);
DO $$ BEGIN RAISE NOTICE 'advance 1'; END $$;
CREATE INDEX stay_guests_name_key_missing ON stay_guests (id) WHERE name_key IS NULL;
DO $$ BEGIN RAISE NOTICE 'advance 1'; END $$;

-- As in 0012, for the new row type.
CREATE FUNCTION stay_change(s stays, sign integer, statistics boolean) RETURNS stay_changes
LANGUAGE sql IMMUTABLE AS $$
    SELECT s.id, sign, statistics, s.dwelling_id, s.area_code, s.check_in, s.created_at, s.expected_departure,
           s.checked_out_at, s.guest_count, s.floating_count, s.foreign_count, s.capacity_anomaly, s.origin_provinces
$$;

CREATE TRIGGER stays_changed_insert AFTER INSERT ON stays REFERENCING NEW TABLE AS new_stays
    FOR EACH STATEMENT EXECUTE FUNCTION stays_changed();
CREATE TRIGGER stays_changed_update AFTER UPDATE ON stays REFERENCING OLD TABLE AS old_stays NEW TABLE AS new_stays
    FOR EACH STATEMENT EXECUTE FUNCTION stays_changed();
CREATE TRIGGER stays_changed_delete AFTER DELETE ON stays REFERENCING OLD TABLE AS old_stays
    FOR EACH STATEMENT EXECUTE FUNCTION stays_changed();

-- What the foreign keys to stays did when a stay was deleted.
CREATE FUNCTION stays_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stay_guests g USING old_stays o WHERE g.stay_id = o.id AND g.check_in = o.check_in;
    DELETE FROM certificates c USING old_stays o WHERE c.stay_id = o.id;
    UPDATE alerts a SET stay_id = NULL FROM old_stays o WHERE a.stay_id = o.id;
    UPDATE verifications v SET stay_id = NULL FROM old_stays o WHERE v.stay_id = o.id;
    RETURN NULL;
END $$;

CREATE TRIGGER stays_released AFTER DELETE ON stays REFERENCING OLD TABLE AS old_stays
    FOR EACH STATEMENT EXECUTE FUNCTION stays_released();

-- A month partition dropped whole by the retention purge, its stays all ended: what deleting them row by
-- row would have done to the counters and to the rows that name them, without a row per stay. Its
-- current (never checked out, overdue) stays are deleted through the root, so stay_changes takes them
-- away as any deletion; the others count only in the arrivals and departures of their days, taken away
-- here as counters_apply (0012) takes away a deleted checked-out stay. Then both partitions go.
CREATE FUNCTION stays_drop_month(month date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    stays_part text := format('stays_%s', to_char(first, 'YYYY_MM'));
    zone text := (SELECT s.zone FROM stats_state s);
BEGIN
    DELETE FROM stays WHERE check_in >= first AND check_in < first + interval '1 month' AND checked_out_at IS NULL;
    EXECUTE format($sql$
        INSERT INTO area_daily_counts AS d (area_code, day, slot, arrivals, departures)
        SELECT x.area_code, x.day, x.slot, -sum(x.arrivals), -sum(x.departures)
          FROM (SELECT s.area_code, (s.created_at AT TIME ZONE $1)::date AS day, count_slot(s.dwelling_id) AS slot,
                       s.guest_count AS arrivals, 0 AS departures FROM %1$I s
                UNION ALL
                SELECT s.area_code, (s.checked_out_at AT TIME ZONE $1)::date, count_slot(s.dwelling_id), 0,
                       s.guest_count FROM %1$I s) x
         GROUP BY 1, 2, 3
        ON CONFLICT (area_code, day, slot) DO UPDATE SET
            arrivals = d.arrivals + EXCLUDED.arrivals, departures = d.departures + EXCLUDED.departures$sql$,
        stays_part) USING zone;
    EXECUTE format('DELETE FROM certificates WHERE stay_id IN (SELECT id FROM %I)', stays_part);
    EXECUTE format('UPDATE alerts SET stay_id = NULL WHERE stay_id IN (SELECT id FROM %I)', stays_part);
    EXECUTE format('UPDATE verifications SET stay_id = NULL WHERE stay_id IN (SELECT id FROM %I)', stays_part);
    EXECUTE format('DROP TABLE %I, %I', format('stay_guests_%s', to_char(first, 'YYYY_MM')), stays_part);
END $$;

-- The planner's figures for the partitioned roots (autovacuum analyses partitions, never their root).
ANALYZE stays, stay_guests;

-- As in 0013, with the guests' check_in (their month partition), and each duplicate's stay looked up in
-- its own month: a lateral lookup per guest found, so the guest's check_in prunes the other partitions
-- (a join lets a cached generic plan hash every current stay of every month instead).
CREATE OR REPLACE FUNCTION store_stay(
    p_dwelling_id bigint, p_stay_id uuid, p_receipt_hash bytea, p_check_in date, p_check_out date,
    p_expected_departure timestamptz, p_phone_cipher bytea, p_phone_index bytea, p_phone_masked text,
    p_registered_by text,
    g_ids uuid[], g_full_names text[], g_document_types text[], g_document_ciphers bytea[],
    g_document_indexes bytea[], g_document_masked text[], g_nationalities text[], g_relationships text[],
    g_birth_years smallint[], g_sexes char(1)[], g_origin_divisions char(6)[], g_foreign boolean[],
    g_name_keys text[],
    p_receipt jsonb,
    OUT body jsonb, OUT alert_ids bigint[])
LANGUAGE plpgsql AS $$
DECLARE
    d dwellings;
    guests integer := cardinality(g_ids);
    county text;
    present integer;
    duplicate_ids bigint[];
BEGIN
    SELECT * INTO STRICT d FROM dwellings WHERE id = p_dwelling_id FOR UPDATE;
    county := left(d.area_code, 6);
    -- Counted from the dwelling's current stays (its row lock keeps this exact): no counter needed.
    SELECT coalesce(sum(s.guest_count), 0) INTO present
      FROM stays s WHERE s.dwelling_id = d.id AND s.checked_out_at IS NULL;
    INSERT INTO stays (id, dwelling_id, area_code, receipt_hash, check_in, check_out, expected_departure,
                       phone_cipher, phone_index, phone_masked, guest_count, registered_by, capacity_anomaly,
                       floating_count, foreign_count, origin_provinces)
    SELECT p_stay_id, d.id, d.area_code, p_receipt_hash, p_check_in, p_check_out, p_expected_departure,
           p_phone_cipher, p_phone_index, p_phone_masked, guests, p_registered_by,
           present + guests > d.capacity,
           count(*) FILTER (WHERE o <> county), count(*) FILTER (WHERE f),
           coalesce(array_agg(left(o, 2)) FILTER (WHERE o <> county), '{}')
      FROM unnest(g_origin_divisions, g_foreign) AS g (o, f);
    -- Before this stay's guests are stored, so only other stays can match. From each number to its
    -- guests by the number's index, then to their stays: a plan starting from the current stays
    -- (which a cached generic plan may choose) reads every one of them for every registration.
    WITH duplicates AS (
        INSERT INTO alerts (kind, dwelling_id, area_code, stay_id, details)
        SELECT DISTINCT ON (o.id) 'duplicate_presence', d.id, d.area_code, p_stay_id,
               jsonb_build_object('other_stay_id', o.id, 'other_dwelling_id', o.dwelling_id)
          FROM unnest(g_document_indexes) AS number (document_index)
               CROSS JOIN LATERAL (SELECT og.stay_id, og.check_in FROM stay_guests og
                                    WHERE og.document_index = number.document_index
                                      AND og.document_index IS NOT NULL OFFSET 0) og
               CROSS JOIN LATERAL (SELECT o.id, o.dwelling_id FROM stays o
                                    WHERE o.id = og.stay_id AND o.check_in = og.check_in
                                      AND o.checked_out_at IS NULL OFFSET 0) o
        RETURNING id)
    SELECT coalesce(array_agg(id), '{}') INTO duplicate_ids FROM duplicates;
    WITH hits AS (
        INSERT INTO alerts (watchlist_id, dwelling_id, area_code, stay_id)
        SELECT w.id, d.id, d.area_code, p_stay_id FROM watchlist w
         WHERE watchlist_in_force(w) AND w.document_index = ANY (g_document_indexes)
           AND d.area_code LIKE w.area_code || '%'
        RETURNING id)
    SELECT coalesce(array_agg(id), '{}') || duplicate_ids INTO alert_ids FROM hits;
    INSERT INTO stay_guests (id, stay_id, check_in, position, full_name, document_type, document_cipher, document_index,
                             document_masked, nationality, relationship, birth_year, sex, origin_division,
                             is_foreign, name_key)
    SELECT g.id, p_stay_id, p_check_in, g.n - 1, g.full_name, g.document_type, g.document_cipher, g.document_index,
           g.document_masked, g.nationality, g.relationship, g.birth_year, g.sex, g.origin_division,
           g.is_foreign, g.name_key
      FROM unnest(g_ids, g_full_names, g_document_types, g_document_ciphers, g_document_indexes,
                  g_document_masked, g_nationalities, g_relationships, g_birth_years, g_sexes,
                  g_origin_divisions, g_foreign, g_name_keys) WITH ORDINALITY
           AS g (id, full_name, document_type, document_cipher, document_index, document_masked, nationality,
                 relationship, birth_year, sex, origin_division, is_foreign, name_key, n);
    body := p_receipt || jsonb_build_object(
        'dwelling', jsonb_build_object('name', d.name, 'address', d.address),
        'capacity_anomaly', present + guests > d.capacity,
        'notices', CASE WHEN duplicate_ids = '{}' THEN '[]'::jsonb
                        ELSE '[{"code": "already_present"}]'::jsonb END);
END $$;
