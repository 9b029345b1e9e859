-- Browsers an account has logged in from (a device cookie, only its hash kept). Failed logins are
-- counted per account and device for such a browser instead of per account and address: strangers
-- behind the owner's shared address (one NAT for a police station) who fail on the owner's username
-- lock out themselves, not the owner's own browser (OWASP's device cookies).
-- One browser (a desk's shared computer) may be known to several accounts.
CREATE TABLE login_devices (
    account_id      bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash      bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_login_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, token_hash)
);
