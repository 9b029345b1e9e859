-- Issue 11: what the identity registry found (number, name, face) and which path decided each
-- application; document numbers masked by type; a look-alike-proof key for the police name search.

ALTER TABLE verifications
    ADD COLUMN registry_number_known boolean,
    ADD COLUMN registry_face text CHECK (registry_face IN ('match', 'mismatch', 'unavailable')),
    ADD COLUMN decided_path text CHECK (decided_path IN ('automatic', 'police_review'));
-- Before this, only "name and number together" was kept, and no registry compared faces.
UPDATE verifications
   SET registry_number_known = registry_match, registry_face = 'unavailable',
       decided_path = CASE WHEN status = 'pending' THEN NULL
                           WHEN decided_by IS NULL THEN 'automatic' ELSE 'police_review' END;
ALTER TABLE verifications
    ALTER COLUMN registry_number_known SET NOT NULL,
    ALTER COLUMN registry_face SET NOT NULL,
    ADD CHECK ((status = 'pending') = (decided_path IS NULL)),
    ADD CHECK ((decided_path = 'police_review') = (decided_by IS NOT NULL));

-- Short documents were masked "first 3, last 4", leaving 7 of a Taiwan permit's 8 digits readable.
-- Now the first and the last two (service/privacy/crypto.py mask_document); those characters were
-- all visible in the old mask, so the new one is made from it. Resident IDs and permanent residence
-- cards keep "first 3, last 4".
CREATE FUNCTION pg_temp.remask(masked text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN length(masked) >= 6
                THEN left(masked, 1) || repeat('*', length(masked) - 3) || right(masked, 2)
                ELSE repeat('*', length(masked) - 2) || right(masked, 2) END
$$;
UPDATE stay_guests SET document_masked = pg_temp.remask(document_masked)
 WHERE document_type IN ('passport', 'hk_macao_permit', 'taiwan_permit');
UPDATE verifications SET document_masked = pg_temp.remask(document_masked)
 WHERE document_type IN ('passport', 'hk_macao_permit', 'taiwan_permit');
UPDATE registry_persons SET document_masked = pg_temp.remask(document_masked)
 WHERE document_type IN ('passport', 'hk_macao_permit', 'taiwan_permit');

-- The police name search compares this key (service/police/names.py: NFKC, case folded, look-alike
-- letters of other scripts mapped to Latin); start-up fills it for rows stored before it existed.
ALTER TABLE stay_guests ADD COLUMN name_key text;
CREATE INDEX stay_guests_name_key ON stay_guests (name_key);
CREATE INDEX stay_guests_name_key_missing ON stay_guests (id) WHERE name_key IS NULL;
