-- Counters and statistics rollups off the registration's commit path (issue 14).
--
-- Until now per-row triggers kept the occupancy counters (0005) and the statistics ledger (0011) in
-- the registration's own transaction. Now a statement-level trigger appends what changed to
-- stay_changes (one INSERT per statement, whatever the number of rows), and one applier at a time
-- (service/police/counters.py, under an advisory lock) drains it in batches with counters_apply():
-- the batch's rows are deleted and the counters updated in one transaction, so a crash of the
-- applier loses nothing and counts nothing twice. Every count is additive, so batches may be applied
-- in any order and a count is exact once stay_changes is empty: equal to a count from scratch.
--
-- Overdue stays are counted too: current stays per area and expected departure (area_departures),
-- so "overdue now" is a sum over the departures already past the grace period, not a scan of stays.

DROP TRIGGER stays_count ON stays;
DROP TRIGGER stays_statistics ON stays;
DROP TRIGGER stats_book_guests ON stay_guests;
DROP FUNCTION stays_count(), count_stay(stays, integer), count_day(text, bigint, integer, integer),
              stats_book_checkout(), stats_book_guests();
-- Read only by the overdue count that area_departures replaces.
DROP INDEX stays_overdue;

-- A stay as it counts: `sign` 1 adds it as it is now, -1 takes it away as it was. An update is a
-- pair (-1 the old row, 1 the new one), a deletion a -1. `statistics`: booked in stats_ledger too
-- (not a deletion: rollups outlive the retention purge; nor a change pending when stats_rebuild ran).
CREATE TABLE stay_changes (
    stay_id            uuid NOT NULL,
    sign               smallint NOT NULL,
    statistics         boolean NOT NULL,
    dwelling_id        bigint NOT NULL,
    area_code          text NOT NULL,
    check_in           date NOT NULL,
    created_at         timestamptz NOT NULL,
    expected_departure timestamptz NOT NULL,
    checked_out_at     timestamptz,
    guest_count        integer NOT NULL,
    floating_count     smallint NOT NULL,
    foreign_count      smallint NOT NULL,
    capacity_anomaly   boolean NOT NULL,
    origin_provinces   text[] NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000);

CREATE FUNCTION stay_change(s stays, sign integer, statistics boolean) RETURNS stay_changes
LANGUAGE sql IMMUTABLE AS $$
    SELECT s.id, sign, statistics, s.dwelling_id, s.area_code, s.check_in, s.created_at, s.expected_departure,
           s.checked_out_at, s.guest_count, s.floating_count, s.foreign_count, s.capacity_anomaly, s.origin_provinces
$$;

CREATE FUNCTION stays_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stay_changes SELECT c.* FROM new_stays n, stay_change(n, 1, true) c;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO stay_changes SELECT c.* FROM old_stays o, stay_change(o, -1, false) c;
    ELSE  -- only the rows whose counted columns changed (a check-out, a corrected departure)
        INSERT INTO stay_changes
        SELECT c.* FROM old_stays o JOIN new_stays n ON n.id = o.id,
               LATERAL (SELECT * FROM stay_change(o, -1, true) UNION ALL SELECT * FROM stay_change(n, 1, true)) c
         WHERE stay_change(o, 0, true) IS DISTINCT FROM stay_change(n, 0, true);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER stays_changed_insert AFTER INSERT ON stays REFERENCING NEW TABLE AS new_stays
    FOR EACH STATEMENT EXECUTE FUNCTION stays_changed();
CREATE TRIGGER stays_changed_update AFTER UPDATE ON stays REFERENCING OLD TABLE AS old_stays NEW TABLE AS new_stays
    FOR EACH STATEMENT EXECUTE FUNCTION stays_changed();
CREATE TRIGGER stays_changed_delete AFTER DELETE ON stays REFERENCING OLD TABLE AS old_stays
    FOR EACH STATEMENT EXECUTE FUNCTION stays_changed();

-- Current stays per area and expected departure (to the second: nearly all are at noon, so a few
-- rows per area and day). Written only by the applier; a row that reaches zero is deleted.
CREATE TABLE area_departures (
    area_code          text NOT NULL,
    expected_departure timestamptz NOT NULL,
    stays              bigint NOT NULL,
    PRIMARY KEY (area_code, expected_departure)
);
CREATE INDEX area_departures_prefix ON area_departures (area_code text_pattern_ops, expected_departure) INCLUDE (stays);
INSERT INTO area_departures (area_code, expected_departure, stays)
SELECT area_code, expected_departure, count(*) FROM stays WHERE checked_out_at IS NULL GROUP BY 1, 2;

-- Apply up to `batch` pending changes in the caller's transaction: current guests per dwelling (its
-- occupied_dwellings follow through dwellings_count), the area counters, arrivals and departures per
-- local day, origin provinces, departures for the overdue count, and the statistics ledger.
-- Returns how many changes it applied and the areas they touched (for the live view).
CREATE FUNCTION counters_apply(batch integer, OUT applied integer, OUT areas text[]) LANGUAGE plpgsql AS $$
DECLARE
    changes stay_changes[];
    zone text := (SELECT s.zone FROM stats_state s);
BEGIN
    WITH drained AS (
        DELETE FROM stay_changes WHERE ctid = ANY (ARRAY(SELECT ctid FROM stay_changes LIMIT batch)) RETURNING *
    )
    SELECT coalesce(array_agg(d), '{}') INTO changes FROM drained d;
    applied := cardinality(changes);
    areas := ARRAY(SELECT DISTINCT c.area_code FROM unnest(changes) c);
    IF applied = 0 THEN
        RETURN;
    END IF;

    -- Dwellings first and in id order, as any other writer of one locks a dwelling before its area's
    -- counters: no deadlock.
    PERFORM 1 FROM dwellings d WHERE d.id IN (SELECT c.dwelling_id FROM unnest(changes) c) ORDER BY d.id
        FOR NO KEY UPDATE;
    UPDATE dwellings d SET current_guests = d.current_guests + n.guests
      FROM (SELECT c.dwelling_id, sum(c.sign * c.guest_count)::int AS guests FROM unnest(changes) c
             WHERE c.checked_out_at IS NULL GROUP BY 1) n
     WHERE d.id = n.dwelling_id AND n.guests <> 0;

    INSERT INTO area_counts AS a (area_code, slot, current_stays, current_guests, floating_population,
                                  foreign_guests, capacity_anomalies)
    SELECT c.area_code, count_slot(c.dwelling_id), sum(c.sign), sum(c.sign * c.guest_count),
           sum(c.sign * c.floating_count), sum(c.sign * c.foreign_count), sum(c.sign * c.capacity_anomaly::int)
      FROM unnest(changes) c WHERE c.checked_out_at IS NULL GROUP BY 1, 2
    ON CONFLICT (area_code, slot) DO UPDATE SET
        current_stays = a.current_stays + EXCLUDED.current_stays,
        current_guests = a.current_guests + EXCLUDED.current_guests,
        floating_population = a.floating_population + EXCLUDED.floating_population,
        foreign_guests = a.foreign_guests + EXCLUDED.foreign_guests,
        capacity_anomalies = a.capacity_anomalies + EXCLUDED.capacity_anomalies;

    INSERT INTO area_origin_counts AS o (area_code, province, slot, guests)
    SELECT c.area_code, p, count_slot(c.dwelling_id), sum(c.sign)
      FROM unnest(changes) c, unnest(c.origin_provinces) p WHERE c.checked_out_at IS NULL GROUP BY 1, 2, 3
    ON CONFLICT (area_code, province, slot) DO UPDATE SET guests = o.guests + EXCLUDED.guests;

    -- A stay arrives on the local day it was registered and leaves on the local day it checked out.
    INSERT INTO area_daily_counts AS d (area_code, day, slot, arrivals, departures)
    SELECT x.area_code, x.day, x.slot, sum(x.arrivals), sum(x.departures)
      FROM (SELECT c.area_code, (c.created_at AT TIME ZONE zone)::date AS day, count_slot(c.dwelling_id) AS slot,
                   c.sign * c.guest_count AS arrivals, 0 AS departures
              FROM unnest(changes) c
            UNION ALL
            SELECT c.area_code, (c.checked_out_at AT TIME ZONE zone)::date, count_slot(c.dwelling_id), 0,
                   c.sign * c.guest_count
              FROM unnest(changes) c WHERE c.checked_out_at IS NOT NULL) x
     GROUP BY 1, 2, 3 HAVING sum(x.arrivals) <> 0 OR sum(x.departures) <> 0
    ON CONFLICT (area_code, day, slot) DO UPDATE SET
        arrivals = d.arrivals + EXCLUDED.arrivals, departures = d.departures + EXCLUDED.departures;

    INSERT INTO area_departures AS a (area_code, expected_departure, stays)
    SELECT c.area_code, c.expected_departure, sum(c.sign)
      FROM unnest(changes) c WHERE c.checked_out_at IS NULL GROUP BY 1, 2 HAVING sum(c.sign) <> 0
    ON CONFLICT (area_code, expected_departure) DO UPDATE SET stays = a.stays + EXCLUDED.stays;
    DELETE FROM area_departures a
     WHERE a.stays = 0 AND (a.area_code, a.expected_departure) IN
           (SELECT c.area_code, c.expected_departure FROM unnest(changes) c WHERE c.checked_out_at IS NULL);

    -- The ledger as 0011's triggers booked it: an arrival per guest on the check-in day, a departure
    -- per guest on the night the stay first is not there.
    INSERT INTO stats_ledger AS l (day, dwelling_id, origin, arrivals, departures)
    SELECT b.day, c.dwelling_id, g.origin, sum(c.sign * b.arrivals), sum(c.sign * b.departures)
      FROM unnest(changes) c
      JOIN stats_guest_origins(ARRAY(SELECT s.stay_id FROM unnest(changes) s WHERE s.statistics)) g
        ON g.stay_id = c.stay_id,
           LATERAL (VALUES (c.check_in, 1, 0), (stats_departure_day(c.check_in, c.checked_out_at), 0, 1))
               b (day, arrivals, departures)
     WHERE c.statistics AND (b.arrivals = 1 OR c.checked_out_at IS NOT NULL)
     GROUP BY 1, 2, 3 HAVING sum(c.sign * b.arrivals) <> 0 OR sum(c.sign * b.departures) <> 0
    ON CONFLICT (dwelling_id, day, origin) DO UPDATE
        SET arrivals = l.arrivals + EXCLUDED.arrivals, departures = l.departures + EXCLUDED.departures;
END $$;

-- Rollups from scratch as in 0011; the changes still pending are in the stays booked here already.
CREATE OR REPLACE FUNCTION stats_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('stats_close'));
    LOCK TABLE stay_changes IN EXCLUSIVE MODE;
    UPDATE stay_changes SET statistics = false WHERE statistics;
    TRUNCATE stats_ledger, stats_present, stats_dwelling_nights, stats_days, stats_area_days;
    UPDATE stats_state SET closed_through = NULL;
    INSERT INTO stats_ledger (day, dwelling_id, origin, arrivals, departures) SELECT * FROM stats_bookings(NULL, NULL);
END $$;
