-- The counter applier found its stays' guests by reading every guest of every month (issue 15's scale
-- benchmark: 0.35 s a batch at 1,000,000 stays, seconds at 10,000,000, so the applier fell behind and
-- took a core from the registrations it was applying).
--
-- stats_guest_origins(stay_ids) was planned once for both of its uses, a few stays and every stay
-- (NULL): "stay_ids IS NULL OR stay_id = ANY (stay_ids)" can use no index, so each batch read every
-- stay_guests partition. Now the few stays are looked up by (stay_id, check_in), the partition key
-- among them, one index probe in one month each; every stay (NULLs, stats_rebuild) is the other arm,
-- which a batch never runs. A stay's check_in never changes once stored, so a change's is its guests'.

DROP FUNCTION stats_bookings(uuid[], uuid[]);
DROP FUNCTION stats_guest_origins(uuid[], uuid[]);

-- The origin each guest of these stays is counted under: its own, else its stay's first guest's, else
-- '--'. NULLs: every stay.
CREATE FUNCTION stats_guest_origins(stay_ids uuid[], check_ins date[])
RETURNS TABLE (stay_id uuid, origin text) LANGUAGE sql STABLE AS $$
    SELECT g.stay_id,
           coalesce(o.origin, first_value(o.origin) OVER (PARTITION BY g.stay_id ORDER BY g.position), '--')
      FROM (SELECT a.stay_id, a.position, a.document_type, a.document_masked, a.origin_division, a.nationality
              FROM stay_guests a WHERE stay_ids IS NULL
            UNION ALL
            SELECT b.stay_id, b.position, b.document_type, b.document_masked, b.origin_division, b.nationality
              FROM (SELECT DISTINCT * FROM unnest(stay_ids, check_ins)) s (id, check_in)
                   -- each stay looked up on its own: a plan joining the other way reads every guest
                   CROSS JOIN LATERAL (SELECT * FROM stay_guests b WHERE b.stay_id = s.id AND b.check_in = s.check_in
                                       OFFSET 0) b) g,
           LATERAL (SELECT stats_origin(g.document_type, g.document_masked, g.origin_division, g.nationality)
                        AS origin) o
$$;

-- What guests add to the ledger (as in 0011): an arrival each on the check-in day, and for a stay
-- already checked out (history loaded in bulk) a departure. NULLs: every stay.
CREATE FUNCTION stats_bookings(stay_ids uuid[], check_ins date[])
RETURNS TABLE (day date, dwelling_id bigint, origin text, arrivals bigint, departures bigint)
LANGUAGE sql STABLE AS $$
    SELECT b.day, s.dwelling_id, g.origin, sum(b.arrivals), sum(b.departures)
      FROM stats_guest_origins(stay_ids, check_ins) g JOIN stays s ON s.id = g.stay_id,
           LATERAL (VALUES (s.check_in, 1, 0), (stats_departure_day(s.check_in, s.checked_out_at), 0, 1))
               b (day, arrivals, departures)
     WHERE b.arrivals = 1 OR s.checked_out_at IS NOT NULL
     GROUP BY 1, 2, 3
$$;

-- As in 0012, but for how the ledger's statement finds the guests of the batch's stays.
CREATE OR REPLACE FUNCTION counters_apply(batch integer, OUT applied integer, OUT areas text[]) LANGUAGE plpgsql AS $$
DECLARE
    changes stay_changes[];
    booked_ids uuid[];
    booked_check_ins date[];
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
    SELECT array_agg(c.stay_id), array_agg(c.check_in) INTO booked_ids, booked_check_ins
      FROM unnest(changes) c WHERE c.statistics;
    INSERT INTO stats_ledger AS l (day, dwelling_id, origin, arrivals, departures)
    SELECT b.day, c.dwelling_id, g.origin, sum(c.sign * b.arrivals), sum(c.sign * b.departures)
      FROM unnest(changes) c
      JOIN stats_guest_origins(coalesce(booked_ids, '{}'), coalesce(booked_check_ins, '{}')) g
        ON g.stay_id = c.stay_id,
           LATERAL (VALUES (c.check_in, 1, 0), (stats_departure_day(c.check_in, c.checked_out_at), 0, 1))
               b (day, arrivals, departures)
     WHERE c.statistics AND (b.arrivals = 1 OR c.checked_out_at IS NOT NULL)
     GROUP BY 1, 2, 3 HAVING sum(c.sign * b.arrivals) <> 0 OR sum(c.sign * b.departures) <> 0
    ON CONFLICT (dwelling_id, day, origin) DO UPDATE
        SET arrivals = l.arrivals + EXCLUDED.arrivals, departures = l.departures + EXCLUDED.departures;
END $$;
