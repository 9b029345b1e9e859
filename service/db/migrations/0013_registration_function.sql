-- A registration in one round trip: the dwelling's lock, the Idempotency-Key's claim and the
-- stores in one function call, which commits on its own (no BEGIN, no COMMIT from the service).
-- What needs the master key (ciphertexts, blind indexes, the request's fingerprint) is done by
-- the service before the call; everything that needs the dwelling's row is done here.

-- A watchlist entry in force: not removed, not expired. Inlined by the planner, so the partial
-- index on active entries still serves the lookups (service/police/watchlist.py).
CREATE FUNCTION watchlist_in_force(w watchlist) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT w.active AND w.removed_at IS NULL AND (w.expires_at IS NULL OR w.expires_at > now())
$$;

-- Store a checked stay and its guests at a dwelling this transaction has locked. A guest is
-- never turned away: a stay past the beds is stored and marked as a capacity anomaly. Alerts:
-- a watchlist hit in force in a jurisdiction holding the dwelling; a document number already
-- present in another current stay (`duplicate_presence`; the guest's answer carries the notice
-- `already_present`, without saying where). `receipt`: the answer without what depends on the
-- dwelling, which is added here.
CREATE FUNCTION store_stay(
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
               CROSS JOIN LATERAL (SELECT og.stay_id FROM stay_guests og
                                    WHERE og.document_index = number.document_index
                                      AND og.document_index IS NOT NULL OFFSET 0) og
               JOIN stays o ON o.id = og.stay_id
         WHERE o.checked_out_at IS NULL
        RETURNING id)
    SELECT coalesce(array_agg(id), '{}') INTO duplicate_ids FROM duplicates;
    WITH hits AS (
        INSERT INTO alerts (watchlist_id, dwelling_id, area_code, stay_id)
        SELECT w.id, d.id, d.area_code, p_stay_id FROM watchlist w
         WHERE watchlist_in_force(w) AND w.document_index = ANY (g_document_indexes)
           AND d.area_code LIKE w.area_code || '%'
        RETURNING id)
    SELECT coalesce(array_agg(id), '{}') || duplicate_ids INTO alert_ids FROM hits;
    INSERT INTO stay_guests (id, stay_id, position, full_name, document_type, document_cipher, document_index,
                             document_masked, nationality, relationship, birth_year, sex, origin_division,
                             is_foreign, name_key)
    SELECT g.id, p_stay_id, g.n - 1, g.full_name, g.document_type, g.document_cipher, g.document_index,
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

-- A guest's registration by QR token (`p_token`), or a desk's walk-in at its own dwelling
-- (`p_dwelling_id` of `p_owner_id`). The dwelling's row lock comes first, and a key's scope is
-- its dwelling: retries of one key queue on the lock, and the second finds the key stored with
-- the first's answer (each statement here reads what has been committed when it starts). So the
-- key is looked up first and stored once, with the answer, at the end (service/idempotency.py
-- claims and then records, where no lock orders the retries). Outcomes: `problem` names what the
-- caller is told instead (the dwellings' and the idempotency messages); a replay has no `alert_ids`.
CREATE FUNCTION register_stay(
    p_token text, p_dwelling_id bigint, p_owner_id bigint, p_key text, p_request_hash bytea,
    p_stay_id uuid, p_receipt_hash bytea, p_check_in date, p_check_out date,
    p_expected_departure timestamptz, p_phone_cipher bytea, p_phone_index bytea, p_phone_masked text,
    p_registered_by text,
    g_ids uuid[], g_full_names text[], g_document_types text[], g_document_ciphers bytea[],
    g_document_indexes bytea[], g_document_masked text[], g_nationalities text[], g_relationships text[],
    g_birth_years smallint[], g_sexes char(1)[], g_origin_divisions char(6)[], g_foreign boolean[],
    g_name_keys text[],
    p_receipt jsonb,
    OUT problem text, OUT status_code integer, OUT body jsonb, OUT area_code text, OUT alert_ids bigint[])
LANGUAGE plpgsql AS $$
DECLARE
    d record;
    answer_scope text;
    earlier record;
BEGIN
    IF p_token IS NOT NULL THEN
        SELECT dw.id, dw.area_code, dw.active INTO d FROM dwellings dw WHERE dw.qr_token = p_token FOR UPDATE;
        IF NOT FOUND THEN
            problem := CASE WHEN EXISTS (SELECT 1 FROM retired_qr_tokens WHERE token = p_token)
                            THEN 'qr_retired' ELSE 'qr_unknown' END;
            RETURN;
        ELSIF NOT d.active THEN
            problem := 'dwelling_inactive';
            RETURN;
        END IF;
    ELSE
        SELECT dw.id, dw.area_code INTO d FROM dwellings dw
         WHERE dw.id = p_dwelling_id AND dw.owner_id = p_owner_id FOR UPDATE;
        IF NOT FOUND THEN
            problem := 'dwelling_not_found';
            RETURN;
        END IF;
    END IF;
    area_code := d.area_code;
    answer_scope := 'stays:' || d.id;
    SELECT k.request_hash, k.status_code, k.response INTO earlier
      FROM idempotency_keys k WHERE k.scope = answer_scope AND k.key = p_key;
    IF FOUND THEN
        IF earlier.request_hash <> p_request_hash THEN
            problem := 'idempotency_key_reused';
        ELSE
            status_code := earlier.status_code;
            body := earlier.response;
        END IF;
        RETURN;
    END IF;
    SELECT s.body, s.alert_ids INTO body, alert_ids
      FROM store_stay(d.id, p_stay_id, p_receipt_hash, p_check_in, p_check_out, p_expected_departure,
                      p_phone_cipher, p_phone_index, p_phone_masked, p_registered_by,
                      g_ids, g_full_names, g_document_types, g_document_ciphers, g_document_indexes,
                      g_document_masked, g_nationalities, g_relationships, g_birth_years, g_sexes,
                      g_origin_divisions, g_foreign, g_name_keys, p_receipt) s;
    status_code := 201;
    INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response)
    VALUES (answer_scope, p_key, p_request_hash, status_code, body);
END $$;
