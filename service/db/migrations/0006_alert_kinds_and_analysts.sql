-- Shared ground for the alert inbox, the statistics warnings and the staff console.

-- Analysts: other departments' staff, aggregates of their area only (never a person).
ALTER TABLE accounts DROP CONSTRAINT accounts_role_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_role_check
    CHECK (role IN ('admin', 'police', 'landlord', 'desk', 'analyst'));
ALTER TABLE accounts ADD CONSTRAINT accounts_analyst_area CHECK (role <> 'analyst' OR area_code IS NOT NULL);
ALTER TABLE accounts ADD COLUMN last_login_at timestamptz;

-- Alerts of several kinds: a watchlist hit, one person present in two places, an area's
-- carrying capacity, unusual arrivals. Area-wide kinds have no dwelling or stay; `details`
-- holds what each kind needs to be shown (the second stay, the occupancy rate, ...).
ALTER TABLE alerts ADD COLUMN kind text NOT NULL DEFAULT 'watchlist'
    CHECK (kind IN ('watchlist', 'duplicate_presence', 'capacity', 'unusual_arrivals'));
ALTER TABLE alerts ALTER COLUMN watchlist_id DROP NOT NULL;
ALTER TABLE alerts ALTER COLUMN dwelling_id DROP NOT NULL;
ALTER TABLE alerts DROP CONSTRAINT alerts_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_watchlist_subject
    CHECK (kind <> 'watchlist' OR (watchlist_id IS NOT NULL AND dwelling_id IS NOT NULL
                                   AND (stay_id IS NOT NULL OR verification_id IS NOT NULL)));
ALTER TABLE alerts ADD CONSTRAINT alerts_duplicate_subject
    CHECK (kind <> 'duplicate_presence' OR (dwelling_id IS NOT NULL AND stay_id IS NOT NULL));
ALTER TABLE alerts ADD COLUMN details jsonb NOT NULL DEFAULT '{}';
ALTER TABLE alerts ADD COLUMN acknowledged_at timestamptz;
ALTER TABLE alerts ADD COLUMN acknowledged_by bigint REFERENCES accounts (id);
CREATE INDEX alerts_unacknowledged ON alerts (area_code text_pattern_ops, id) WHERE acknowledged_at IS NULL;

-- Watchlist entries are removed (kept for the record) or expire.
ALTER TABLE watchlist ADD COLUMN expires_at timestamptz;
ALTER TABLE watchlist ADD COLUMN removed_at timestamptz;
ALTER TABLE watchlist ADD COLUMN removed_by bigint REFERENCES accounts (id);
