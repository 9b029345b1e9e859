-- A registration looked for other stays of its guests' documents in every month's guests (issue 15's
-- scale benchmark): one probe of each month's document index, 36 for three years, each a page that at a
-- province's size is not in memory. Only a stay not checked out can be a duplicate presence, and every
-- such stay checked in on or after the oldest check-in of the stays not checked out: the probe now starts
-- at that month, which this index finds in a few pages (the months before it have no stay not checked
-- out, so their part of it is empty). Same answers, one or two months probed instead of all of them.

CREATE INDEX stays_current_by_check_in ON stays (check_in) WHERE checked_out_at IS NULL;

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
-- Each statement planned once per connection, its months pruned as it runs. Left to choose, PostgreSQL
-- kept planning them afresh on every call (a plan made for the call's values looks cheaper than one for
-- any value, which must list every month): with three years of months that planning was 5-7 ms of a
-- registration, the work itself 1.3 ms.
SET plan_cache_mode = force_generic_plan
LANGUAGE plpgsql AS $$
DECLARE
    d dwellings;
    guests integer := cardinality(g_ids);
    county text;
    present integer;
    present_since date;
    duplicate_ids bigint[];
BEGIN
    SELECT * INTO STRICT d FROM dwellings WHERE id = p_dwelling_id FOR UPDATE;
    county := left(d.area_code, 6);
    -- A parameter of the statements below, so the months before it are pruned from their plans.
    SELECT min(s.check_in) INTO present_since FROM stays s WHERE s.checked_out_at IS NULL;
    -- Counted from the dwelling's current stays (its row lock keeps this exact): no counter needed.
    SELECT coalesce(sum(s.guest_count), 0) INTO present
      FROM stays s WHERE s.dwelling_id = d.id AND s.checked_out_at IS NULL AND s.check_in >= present_since;
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
                                      AND og.document_index IS NOT NULL
                                      AND og.check_in >= present_since OFFSET 0) og
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
