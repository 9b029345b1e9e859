-- The police name search's key now also drops marks, punctuation and invisible fillers and maps Latin
-- look-alikes ("ɑ", "ɡ", "ı") too (service/police/names.py): start-up keys every guest again.
UPDATE stay_guests SET name_key = NULL WHERE name_key IS NOT NULL;

-- A demo made after 0010 stored its year of history masked "first 3, last 4" (553*3605, 7 of a Taiwan
-- permit's 8 digits): masked again by type as 0010 did, the first and the last two, where more than half
-- shows (the demo's numbers are 8 or 9 characters long).
UPDATE stay_guests
   SET document_masked = left(document_masked, 1) || repeat('*', length(document_masked) - 3) || right(document_masked, 2)
 WHERE document_type IN ('passport', 'hk_macao_permit', 'taiwan_permit') AND length(document_masked) >= 6
   AND 2 * length(replace(document_masked, '*', '')) > length(document_masked);
