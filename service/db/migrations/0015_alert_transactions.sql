-- Each alert records the transaction that raised it, so a police stream resumes by commit
-- order, not by id (ids are drawn before commit and commit out of order): see
-- service/police/cursor.py. Alerts raised before this migration count as settled (0).
ALTER TABLE alerts ADD COLUMN xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE alerts ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX alerts_xid ON alerts (xid);
