-- Statistics: arrivals and guest-nights per day, area, origin and dwelling kind (docs/statistics.md).
--
-- Two layers, so the commit path adds one small upsert and no hot row:
-- * stats_ledger: arrivals and departures per (day, dwelling, origin), written by triggers in the
--   registration's or check-out's transaction. A departure is booked on the night the guest first
--   is not there (the local date of the actual check-out), so an open or overdue stay keeps counting
--   until it is checked out. Keyed by dwelling, whose row a registration already holds locked:
--   concurrent registrations never meet on one ledger row.
-- * closed days: stats_close(through) moves the ledger's rows up to a closed day into per-day
--   rollups of every area of the tree (a village's row and each ancestor's), with the guests present
--   that night, the beds and the occupied dwellings. A row that reaches a day already closed (a
--   back-dated check-in, a corrected check-out) corrects every closed night it touches.
-- A query sums closed rollup rows of the area asked for, plus the few ledger rows not yet closed.
-- Rollups are derived data written in bulk: no foreign keys (a check per row, and one more per
-- registration on the commit path); they outlive the retention purge of the stays they count.

CREATE FUNCTION stats_origin(document_type text, document_number_masked text, origin_division text,
                             nationality text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN document_type = 'resident_id' THEN left(origin_division, 2)
        WHEN document_type = 'hk_macao_permit' THEN CASE WHEN upper(left(document_number_masked, 1)) = 'M'
                                                         THEN 'MO' ELSE 'HK' END
        WHEN document_type = 'taiwan_permit' THEN 'TW'
        ELSE nationality
    END
$$;

CREATE TABLE stats_ledger (
    day         date NOT NULL,
    dwelling_id bigint NOT NULL,
    origin      text NOT NULL,
    arrivals    integer NOT NULL DEFAULT 0,
    departures  integer NOT NULL DEFAULT 0,
    PRIMARY KEY (dwelling_id, day, origin)
);
CREATE INDEX stats_ledger_day ON stats_ledger (day);

-- Guests present on the night of stats_state.closed_through, per dwelling and origin.
CREATE TABLE stats_present (
    dwelling_id bigint NOT NULL,
    origin      text NOT NULL,
    guests      integer NOT NULL,
    PRIMARY KEY (dwelling_id, origin)
);

-- Guests per dwelling on closed nights: occupied dwellings, and corrections of closed nights.
CREATE TABLE stats_dwelling_nights (
    day         date NOT NULL,
    dwelling_id bigint NOT NULL,
    guests      integer NOT NULL,
    PRIMARY KEY (dwelling_id, day)
);

-- Closed days per area (every area: a row sums its subtree), origin and kind.
-- `dwellings`: how many dwellings contribute to the cell that day (the dominance rule).
CREATE TABLE stats_days (
    day          date NOT NULL,
    area_code    text NOT NULL,
    origin       text NOT NULL,
    kind         text NOT NULL,
    arrivals     integer NOT NULL DEFAULT 0,
    departures   integer NOT NULL DEFAULT 0,
    guest_nights integer NOT NULL DEFAULT 0,
    dwellings    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (area_code, day, origin, kind)
);

-- Closed days per area (a row sums its subtree): the totals, beds and occupied dwellings.
CREATE TABLE stats_area_days (
    day                date NOT NULL,
    area_code          text NOT NULL,
    arrivals           integer NOT NULL DEFAULT 0,
    guest_nights       integer NOT NULL DEFAULT 0,
    dwellings          integer NOT NULL DEFAULT 0,
    beds               integer NOT NULL DEFAULT 0,
    occupied_dwellings integer NOT NULL DEFAULT 0,
    PRIMARY KEY (area_code, day)
);

CREATE TABLE stats_state (
    only_row       boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    closed_through date,
    -- The display zone (VH_TIMEZONE, set at start-up): a check-out's night is its local date.
    zone           text NOT NULL DEFAULT 'Asia/Shanghai'
);
INSERT INTO stats_state DEFAULT VALUES;

-- The night a checked-out stay first is not there: the local date of its check-out, never before
-- its check-in (checked out on the day of arrival: no night).
CREATE FUNCTION stats_departure_day(check_in date, checked_out_at timestamptz) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT greatest(check_in, (checked_out_at AT TIME ZONE (SELECT zone FROM stats_state))::date)
$$;

-- Each guest's origin, of the stays `stay_ids` (NULL: all), only the guests `guest_ids` if given;
-- a guest without a document (a minor) counts with the registrant's origin.
CREATE FUNCTION stats_guest_origins(stay_ids uuid[], guest_ids uuid[] DEFAULT NULL)
RETURNS TABLE (stay_id uuid, origin text) LANGUAGE sql STABLE AS $$
    SELECT stay_id, origin FROM (
        SELECT g.id, g.stay_id,
               coalesce(o.origin, first_value(o.origin) OVER (PARTITION BY g.stay_id ORDER BY g.position), '--') AS origin
          FROM stay_guests g,
               LATERAL (SELECT stats_origin(g.document_type, g.document_masked, g.origin_division, g.nationality)
                            AS origin) o
         WHERE stay_ids IS NULL OR g.stay_id = ANY (stay_ids)) x
     WHERE guest_ids IS NULL OR x.id = ANY (guest_ids)
$$;

-- What guests add to the ledger: an arrival each on the check-in day, and for a stay already
-- checked out (history loaded in bulk) a departure. NULLs: every stay.
CREATE FUNCTION stats_bookings(stay_ids uuid[], guest_ids uuid[])
RETURNS TABLE (day date, dwelling_id bigint, origin text, arrivals bigint, departures bigint)
LANGUAGE sql STABLE AS $$
    SELECT b.day, s.dwelling_id, g.origin, sum(b.arrivals), sum(b.departures)
      FROM stats_guest_origins(stay_ids, guest_ids) g JOIN stays s ON s.id = g.stay_id,
           LATERAL (VALUES (s.check_in, 1, 0), (stats_departure_day(s.check_in, s.checked_out_at), 0, 1))
               b (day, arrivals, departures)
     WHERE b.arrivals = 1 OR s.checked_out_at IS NOT NULL
     GROUP BY 1, 2, 3
$$;

CREATE FUNCTION stats_book_guests() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_ledger AS l (day, dwelling_id, origin, arrivals, departures)
    SELECT * FROM stats_bookings(ARRAY(SELECT DISTINCT stay_id FROM new_guests), ARRAY(SELECT id FROM new_guests))
    ON CONFLICT (dwelling_id, day, origin) DO UPDATE
        SET arrivals = l.arrivals + EXCLUDED.arrivals, departures = l.departures + EXCLUDED.departures;
    RETURN NULL;
END $$;

CREATE TRIGGER stats_book_guests AFTER INSERT ON stay_guests
    REFERENCING NEW TABLE AS new_guests FOR EACH STATEMENT EXECUTE FUNCTION stats_book_guests();

-- A check-out books the departure; a changed check-out time moves it.
CREATE FUNCTION stats_book_checkout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_ledger AS l (day, dwelling_id, origin, arrivals, departures)
    SELECT b.day, NEW.dwelling_id, g.origin, 0, sum(b.departures)
      FROM stats_guest_origins(ARRAY[NEW.id]) g,
           LATERAL (SELECT stats_departure_day(OLD.check_in, OLD.checked_out_at), -1 WHERE OLD.checked_out_at IS NOT NULL
                    UNION ALL
                    SELECT stats_departure_day(NEW.check_in, NEW.checked_out_at), 1 WHERE NEW.checked_out_at IS NOT NULL)
               b (day, departures)
     GROUP BY 1, 2, 3
    ON CONFLICT (dwelling_id, day, origin) DO UPDATE SET departures = l.departures + EXCLUDED.departures;
    RETURN NULL;
END $$;

-- Named to fire after stays_count (triggers of one event fire in name order): a check-out then locks
-- the dwelling before the ledger row, in the order a registration takes them, and cannot deadlock with one.
CREATE TRIGGER stays_statistics AFTER UPDATE OF checked_out_at ON stays FOR EACH ROW
    WHEN (OLD.checked_out_at IS DISTINCT FROM NEW.checked_out_at) EXECUTE FUNCTION stats_book_checkout();

-- Close the nights `first` .. `last` (first: the night after the last closed one), all at once:
-- one night in the service's loop, a year for a bulk-loaded history. Call under stats_close's lock.
CREATE FUNCTION stats_close_nights(first date, last date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    closed date := first - 1;
BEGIN
    CREATE TEMP TABLE stats_moved ON COMMIT DROP AS
    WITH moved AS (DELETE FROM stats_ledger l WHERE l.day <= last RETURNING l.*)
    SELECT * FROM moved;

    -- Guests per (night, dwelling, origin) to add. A late booking (a row of a closed day) adds to the
    -- closed nights from its day. The nights closed now are a running sum per dwelling and origin
    -- of last night's guests and the moved rows, each from its day (a late one from the first night).
    CREATE TEMP TABLE stats_nights ON COMMIT DROP AS
    SELECT n.at::date AS night, m.dwelling_id, m.origin, sum(m.arrivals - m.departures)::int AS guests
      FROM stats_moved m, generate_series(m.day, closed, interval '1 day') AS n (at)
     WHERE m.day <= closed GROUP BY 1, 2, 3
    UNION ALL
    SELECT n.at::date, r.dwelling_id, r.origin, r.guests
      FROM (SELECT dwelling_id, origin, since,
                   sum(net) OVER (PARTITION BY dwelling_id, origin ORDER BY since)::int AS guests,
                   coalesce(lead(since) OVER (PARTITION BY dwelling_id, origin ORDER BY since) - 1, last) AS until
              FROM (SELECT dwelling_id, origin, greatest(day, first) AS since, sum(net) AS net
                      FROM (SELECT dwelling_id, origin, first AS day, guests AS net FROM stats_present
                            UNION ALL
                            SELECT dwelling_id, origin, day, arrivals - departures FROM stats_moved) e
                     GROUP BY 1, 2, 3) e) r,
           generate_series(r.since, r.until, interval '1 day') AS n (at)
     WHERE r.guests <> 0;

    DELETE FROM stats_present;
    INSERT INTO stats_present (dwelling_id, origin, guests)
    SELECT dwelling_id, origin, guests FROM stats_nights WHERE night = last AND guests <> 0;

    -- Occupied dwellings change where a dwelling's guests of a night go from none to some or back.
    CREATE TEMP TABLE stats_occupied ON COMMIT DROP AS
    WITH delta AS (
        SELECT night, dwelling_id, sum(guests)::int AS guests FROM stats_nights GROUP BY 1, 2 HAVING sum(guests) <> 0
    ), written AS (
        INSERT INTO stats_dwelling_nights AS w (day, dwelling_id, guests)
        SELECT night, dwelling_id, guests FROM delta
        ON CONFLICT (dwelling_id, day) DO UPDATE SET guests = w.guests + EXCLUDED.guests
        RETURNING w.day, w.dwelling_id, w.guests
    )
    SELECT w.day, w.dwelling_id, w.guests, (w.guests > 0)::int - (w.guests - d.guests > 0)::int AS occupied
      FROM written w JOIN delta d ON d.night = w.day AND d.dwelling_id = w.dwelling_id;
    DELETE FROM stats_dwelling_nights w USING stats_occupied o
     WHERE o.guests = 0 AND w.dwelling_id = o.dwelling_id AND w.day = o.day;

    -- Per leaf area, origin and kind; then added to the area and each of its ancestors.
    CREATE TEMP TABLE stats_cells ON COMMIT DROP AS
    SELECT c.day, d.area_code, c.origin, d.kind, sum(c.arrivals)::int AS arrivals,
           sum(c.departures)::int AS departures, sum(c.guests)::int AS guest_nights,
           count(DISTINCT c.dwelling_id) FILTER (WHERE c.day >= first AND (c.guests > 0 OR c.arrivals > 0))::int
               AS dwellings
      FROM (SELECT day, dwelling_id, origin, arrivals, departures, 0 AS guests FROM stats_moved
            UNION ALL
            SELECT night, dwelling_id, origin, 0, 0, guests FROM stats_nights) c
      JOIN dwellings d ON d.id = c.dwelling_id
     GROUP BY 1, 2, 3, 4;

    -- Each area with itself and its ancestors, so rows are added up by an equality join.
    CREATE TEMP TABLE stats_ancestors ON COMMIT DROP AS
    SELECT l.code AS leaf, a.code FROM areas l JOIN areas a ON l.code LIKE a.code || '%';

    INSERT INTO stats_days AS s (day, area_code, origin, kind, arrivals, departures, guest_nights, dwellings)
    SELECT c.day, a.code, c.origin, c.kind, sum(c.arrivals), sum(c.departures), sum(c.guest_nights), sum(c.dwellings)
      FROM stats_cells c JOIN stats_ancestors a ON a.leaf = c.area_code
     GROUP BY 1, 2, 3, 4
    ON CONFLICT (area_code, day, origin, kind) DO UPDATE SET
        arrivals = s.arrivals + EXCLUDED.arrivals, departures = s.departures + EXCLUDED.departures,
        guest_nights = s.guest_nights + EXCLUDED.guest_nights, dwellings = s.dwellings + EXCLUDED.dwellings;

    -- Beds and dwellings of each night closed now: the active dwellings as they are when it closes,
    -- from the night they were created.
    INSERT INTO stats_area_days AS s (day, area_code, arrivals, guest_nights, dwellings, beds, occupied_dwellings)
    SELECT t.day, a.code, sum(t.arrivals), sum(t.guest_nights), sum(t.dwellings), sum(t.beds), sum(t.occupied)
      FROM (SELECT day, area_code, arrivals, guest_nights, 0 AS dwellings, 0 AS beds, 0 AS occupied FROM stats_cells
            UNION ALL
            SELECT n.at::date, d.area_code, 0, 0, d.dwellings, d.beds, 0
              FROM (SELECT area_code, (created_at AT TIME ZONE (SELECT zone FROM stats_state))::date AS since,
                           count(*) AS dwellings, sum(capacity) AS beds
                      FROM dwellings WHERE active GROUP BY 1, 2) d,
                   generate_series(greatest(d.since, first), last, interval '1 day') AS n (at)
            UNION ALL
            SELECT o.day, d.area_code, 0, 0, 0, 0, o.occupied FROM stats_occupied o JOIN dwellings d ON d.id = o.dwelling_id)
           t JOIN stats_ancestors a ON a.leaf = t.area_code
     GROUP BY 1, 2
    ON CONFLICT (area_code, day) DO UPDATE SET
        arrivals = s.arrivals + EXCLUDED.arrivals, guest_nights = s.guest_nights + EXCLUDED.guest_nights,
        dwellings = s.dwellings + EXCLUDED.dwellings, beds = s.beds + EXCLUDED.beds,
        occupied_dwellings = s.occupied_dwellings + EXCLUDED.occupied_dwellings;

    UPDATE stats_state SET closed_through = last;
    DROP TABLE stats_moved, stats_nights, stats_occupied, stats_cells, stats_ancestors;
END $$;

-- Close every night up to `through` (yesterday, in the display zone); one closer at a time.
-- Returns how many nights it closed.
CREATE FUNCTION stats_close(through date) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    first date;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('stats_close')) THEN
        RETURN 0;
    END IF;
    SELECT coalesce(closed_through + 1, (SELECT min(day) FROM stats_ledger)) INTO first FROM stats_state;
    IF first IS NULL OR first > through THEN
        RETURN 0;
    END IF;
    PERFORM stats_close_nights(first, through);
    RETURN through - first + 1;
END $$;

-- Every statistics request: who asked what, when (aggregates; persons are audited in audit_log).
CREATE TABLE stats_access_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    bigint REFERENCES accounts (id),
    actor       text NOT NULL,
    role        text NOT NULL,
    area_code   text NOT NULL,
    query       jsonb NOT NULL,
    suppressed  integer NOT NULL DEFAULT 0
);
CREATE INDEX stats_access_log_at ON stats_access_log (at);

-- Capacity warnings: thresholds on bed occupancy per area (absent: the defaults).
CREATE TABLE stats_thresholds (
    area_code  text PRIMARY KEY REFERENCES areas (code),
    yellow     numeric(5, 3) NOT NULL CHECK (yellow > 0),
    red        numeric(5, 3) NOT NULL CHECK (red >= yellow),
    updated_by bigint REFERENCES accounts (id),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The warning level each area is at now (capacity: yellow/red; unusual arrivals: raised), so a
-- warning is raised once and cleared once.
CREATE TABLE stats_warnings (
    area_code  text NOT NULL REFERENCES areas (code),
    kind       text NOT NULL CHECK (kind IN ('capacity', 'unusual_arrivals')),
    level      text NOT NULL,
    details    jsonb NOT NULL DEFAULT '{}',
    alert_id   bigint REFERENCES alerts (id),
    since      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (area_code, kind)
);

-- Rollups from scratch: book every stay again and let the next stats_close close every night
-- (the migration, the demo's and the benchmark's bulk-loaded history). Beds count from the day a
-- dwelling was created.
CREATE FUNCTION stats_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('stats_close'));
    TRUNCATE stats_ledger, stats_present, stats_dwelling_nights, stats_days, stats_area_days;
    UPDATE stats_state SET closed_through = NULL;
    INSERT INTO stats_ledger (day, dwelling_id, origin, arrivals, departures) SELECT * FROM stats_bookings(NULL, NULL);
END $$;

SELECT stats_rebuild();
