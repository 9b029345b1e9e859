-- Failed logins counted per client address, and each session remembers the login before it, so
-- its owner can be told of the failed attempts on the account since then.
CREATE INDEX login_failures_by_client ON login_failures (client, failed_at);
ALTER TABLE sessions ADD COLUMN previous_login_at timestamptz;
