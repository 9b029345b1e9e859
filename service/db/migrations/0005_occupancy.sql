-- Live occupancy counts that hold at scale.
--
-- Triggers keep additive counters per area in the same transaction as the change,
-- so counts are exact (no drift) and an occupancy query reads a few rows per area
-- instead of scanning stays. Each area has 16 counter rows ("slots", chosen by
-- dwelling id), so concurrent registrations in one area do not queue on one row.

ALTER TABLE stays
    ADD COLUMN floating_count smallint NOT NULL DEFAULT 0,
    ADD COLUMN foreign_count smallint NOT NULL DEFAULT 0,
    -- The province (2 digits) of each floating guest, repeated per guest.
    ADD COLUMN origin_provinces text[] NOT NULL DEFAULT '{}';

ALTER TABLE dwellings ADD COLUMN current_guests integer NOT NULL DEFAULT 0;

CREATE TABLE area_counts (
    area_code           text NOT NULL REFERENCES areas (code),
    slot                smallint NOT NULL,
    dwellings           bigint NOT NULL DEFAULT 0,
    beds                bigint NOT NULL DEFAULT 0,
    occupied_dwellings  bigint NOT NULL DEFAULT 0,
    current_stays       bigint NOT NULL DEFAULT 0,
    current_guests      bigint NOT NULL DEFAULT 0,
    floating_population bigint NOT NULL DEFAULT 0,
    foreign_guests      bigint NOT NULL DEFAULT 0,
    capacity_anomalies  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (area_code, slot)
);
CREATE INDEX area_counts_prefix ON area_counts (area_code text_pattern_ops);

-- Arrivals and departures by local day (connections use the display time zone).
CREATE TABLE area_daily_counts (
    area_code   text NOT NULL REFERENCES areas (code),
    day         date NOT NULL,
    slot        smallint NOT NULL,
    arrivals    bigint NOT NULL DEFAULT 0,
    departures  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (area_code, day, slot)
);
CREATE INDEX area_daily_counts_prefix ON area_daily_counts (day, area_code text_pattern_ops);

CREATE TABLE area_origin_counts (
    area_code   text NOT NULL REFERENCES areas (code),
    province    char(2) NOT NULL,
    slot        smallint NOT NULL,
    guests      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (area_code, province, slot)
);
CREATE INDEX area_origin_counts_prefix ON area_origin_counts (area_code text_pattern_ops);

CREATE INDEX stays_overdue ON stays (area_code text_pattern_ops, expected_departure) WHERE checked_out_at IS NULL;
CREATE INDEX stays_arrivals ON stays (area_code text_pattern_ops, created_at);
CREATE INDEX stays_departures ON stays (area_code text_pattern_ops, checked_out_at) WHERE checked_out_at IS NOT NULL;

CREATE FUNCTION count_slot(dwelling_id bigint) RETURNS smallint LANGUAGE sql IMMUTABLE AS
$$ SELECT (dwelling_id % 16)::smallint $$;

-- Add (sign = 1) or remove (sign = -1) a current stay from its area's counters.
-- Locks are always taken in the same order, dwelling first, then the area's counter
-- rows (a registration holds its dwelling already), so registrations and check-outs
-- never deadlock.
CREATE FUNCTION count_stay(s stays, sign integer) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE dwellings SET current_guests = current_guests + sign * s.guest_count WHERE id = s.dwelling_id;
    INSERT INTO area_counts AS c (area_code, slot, current_stays, current_guests, floating_population,
                                  foreign_guests, capacity_anomalies)
    VALUES (s.area_code, count_slot(s.dwelling_id), sign, sign * s.guest_count, sign * s.floating_count,
            sign * s.foreign_count, sign * s.capacity_anomaly::int)
    ON CONFLICT (area_code, slot) DO UPDATE SET
        current_stays = c.current_stays + EXCLUDED.current_stays,
        current_guests = c.current_guests + EXCLUDED.current_guests,
        floating_population = c.floating_population + EXCLUDED.floating_population,
        foreign_guests = c.foreign_guests + EXCLUDED.foreign_guests,
        capacity_anomalies = c.capacity_anomalies + EXCLUDED.capacity_anomalies;
    INSERT INTO area_origin_counts AS o (area_code, province, slot, guests)
    SELECT s.area_code, p, count_slot(s.dwelling_id), sign * count(*) FROM unnest(s.origin_provinces) p GROUP BY p
    ON CONFLICT (area_code, province, slot) DO UPDATE SET guests = o.guests + EXCLUDED.guests;
END $$;

CREATE FUNCTION count_day(area text, dwelling_id bigint, arrivals integer, departures integer) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO area_daily_counts AS d (area_code, day, slot, arrivals, departures)
    VALUES (area, current_date, count_slot(dwelling_id), arrivals, departures)
    ON CONFLICT (area_code, day, slot) DO UPDATE SET
        arrivals = d.arrivals + EXCLUDED.arrivals, departures = d.departures + EXCLUDED.departures
$$;

CREATE FUNCTION stays_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.checked_out_at IS NULL THEN
        PERFORM count_stay(NEW, 1);
        PERFORM count_day(NEW.area_code, NEW.dwelling_id, NEW.guest_count, 0);
    ELSIF TG_OP = 'UPDATE' AND OLD.checked_out_at IS NULL AND NEW.checked_out_at IS NOT NULL THEN
        PERFORM count_stay(OLD, -1);
        PERFORM count_day(OLD.area_code, OLD.dwelling_id, 0, OLD.guest_count);
    ELSIF TG_OP = 'DELETE' AND OLD.checked_out_at IS NULL THEN
        PERFORM count_stay(OLD, -1);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER stays_count AFTER INSERT OR UPDATE OF checked_out_at OR DELETE ON stays
    FOR EACH ROW EXECUTE FUNCTION stays_count();

-- Dwellings, beds and occupied dwellings per area follow the dwellings table.
CREATE FUNCTION dwellings_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was_counted boolean := TG_OP <> 'INSERT' AND OLD.active;
    is_counted boolean := TG_OP <> 'DELETE' AND NEW.active;
    was_occupied integer := CASE WHEN TG_OP <> 'INSERT' AND OLD.current_guests > 0 THEN 1 ELSE 0 END;
    is_occupied integer := CASE WHEN TG_OP <> 'DELETE' AND NEW.current_guests > 0 THEN 1 ELSE 0 END;
BEGIN
    IF TG_OP = 'UPDATE' AND was_counted = is_counted AND was_occupied = is_occupied
       AND OLD.capacity = NEW.capacity AND OLD.area_code = NEW.area_code THEN
        RETURN NULL;  -- a guest more or less in an occupied dwelling: nothing to count here
    END IF;
    IF was_counted OR was_occupied = 1 THEN
        INSERT INTO area_counts AS c (area_code, slot, dwellings, beds, occupied_dwellings)
        VALUES (OLD.area_code, count_slot(OLD.id), -was_counted::int, -was_counted::int * OLD.capacity, -was_occupied)
        ON CONFLICT (area_code, slot) DO UPDATE SET dwellings = c.dwellings + EXCLUDED.dwellings,
            beds = c.beds + EXCLUDED.beds, occupied_dwellings = c.occupied_dwellings + EXCLUDED.occupied_dwellings;
    END IF;
    IF is_counted OR is_occupied = 1 THEN
        INSERT INTO area_counts AS c (area_code, slot, dwellings, beds, occupied_dwellings)
        VALUES (NEW.area_code, count_slot(NEW.id), is_counted::int, is_counted::int * NEW.capacity, is_occupied)
        ON CONFLICT (area_code, slot) DO UPDATE SET dwellings = c.dwellings + EXCLUDED.dwellings,
            beds = c.beds + EXCLUDED.beds, occupied_dwellings = c.occupied_dwellings + EXCLUDED.occupied_dwellings;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER dwellings_count AFTER INSERT OR DELETE OR UPDATE OF active, capacity, area_code, current_guests
    ON dwellings FOR EACH ROW EXECUTE FUNCTION dwellings_count();

-- Count what is already there.
UPDATE stays s SET floating_count = g.floating, foreign_count = g.foreign_guests, origin_provinces = g.provinces
  FROM (SELECT g.stay_id,
               count(*) FILTER (WHERE g.origin_division <> left(s.area_code, 6)) AS floating,
               count(*) FILTER (WHERE g.is_foreign) AS foreign_guests,
               coalesce(array_agg(left(g.origin_division, 2)) FILTER (WHERE g.origin_division <> left(s.area_code, 6)),
                        '{}') AS provinces
          FROM stay_guests g JOIN stays s ON s.id = g.stay_id GROUP BY g.stay_id) g
 WHERE g.stay_id = s.id;
INSERT INTO area_counts (area_code, slot, dwellings, beds)
SELECT area_code, count_slot(id), count(*), sum(capacity) FROM dwellings WHERE active GROUP BY 1, 2;
SELECT count_stay(s, 1) FROM stays s WHERE checked_out_at IS NULL;

-- Police search by name (exact, within a jurisdiction).
CREATE INDEX stay_guests_name ON stay_guests (full_name);
