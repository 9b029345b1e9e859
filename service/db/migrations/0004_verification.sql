-- Remote identity verification for guests without their document, and the electronic
-- accommodation certificates issued on approval.
-- Numbers are held as in stays: AES-256-GCM ciphertexts, HMAC blind indexes, masked forms.

-- The default adapter of the identity registry: persons an administrator entered or imported.
CREATE TABLE registry_persons (
    document_index  bytea PRIMARY KEY,
    document_type   text NOT NULL CHECK (document_type IN ('resident_id', 'passport', 'hk_macao_permit',
                                                          'taiwan_permit', 'foreign_permanent_residence')),
    -- Kept sealed beside the index, so the index can be rebuilt under a new key.
    document_cipher bytea NOT NULL,
    document_masked text NOT NULL,
    full_name       text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE verifications (
    id                uuid PRIMARY KEY,
    dwelling_id       bigint NOT NULL REFERENCES dwellings (id),
    area_code         text NOT NULL REFERENCES areas (code),
    -- sha256 of the guest's secret: a copy of the table opens no one's status or certificate.
    secret_hash       bytea NOT NULL,
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    full_name         text NOT NULL,
    document_type     text NOT NULL CHECK (document_type IN ('resident_id', 'passport', 'hk_macao_permit',
                                                            'taiwan_permit', 'foreign_permanent_residence')),
    document_cipher   bytea NOT NULL,
    document_index    bytea NOT NULL,
    document_masked   text NOT NULL,
    nationality       text,
    phone_cipher      bytea NOT NULL,
    phone_masked      text NOT NULL,
    check_in          date NOT NULL,
    check_out         date NOT NULL,
    registry_match    boolean NOT NULL,
    watchlist_hit     boolean NOT NULL,
    -- The face, re-encoded without metadata and sealed; dropped once the request is decided.
    photo_cipher      bytea,
    created_at        timestamptz NOT NULL DEFAULT now(),
    decided_at        timestamptz,
    -- NULL for an automatic decision.
    decided_by        bigint REFERENCES accounts (id),
    rejection_reason  text CHECK (length(rejection_reason) BETWEEN 1 AND 500),
    stay_id           uuid REFERENCES stays (id) ON DELETE SET NULL,
    CHECK ((status = 'pending') = (decided_at IS NULL)),
    CHECK (status = 'pending' OR photo_cipher IS NULL),
    CHECK ((status = 'rejected') = (rejection_reason IS NOT NULL)),
    CHECK (check_out >= check_in)
);
CREATE INDEX verifications_queue ON verifications (area_code text_pattern_ops, created_at) WHERE status = 'pending';
CREATE INDEX verifications_decided ON verifications (area_code text_pattern_ops, decided_at) WHERE status <> 'pending';

-- Deferred: a verification's watchlist alerts are recorded before its row, whose status depends on them.
ALTER TABLE alerts ADD CONSTRAINT alerts_verification_id_fkey
    FOREIGN KEY (verification_id) REFERENCES verifications (id) DEFERRABLE INITIALLY DEFERRED;

-- Ed25519 certificate signing keys; the private half sealed with the master key.
CREATE TABLE signing_keys (
    kid             text PRIMARY KEY,
    public_jwk      jsonb NOT NULL,
    private_cipher  bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    retired_at      timestamptz
);
-- One active key, even when instances create the first one at the same moment.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE retired_at IS NULL;

CREATE TABLE certificates (
    number            text PRIMARY KEY,
    verification_id   uuid NOT NULL UNIQUE REFERENCES verifications (id),
    stay_id           uuid NOT NULL REFERENCES stays (id) ON DELETE CASCADE,
    area_code         text NOT NULL REFERENCES areas (code),
    kid               text NOT NULL REFERENCES signing_keys (kid),
    token             text NOT NULL,
    issued_at         timestamptz NOT NULL,
    not_before        timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    revoked_at        timestamptz,
    revoked_by        bigint REFERENCES accounts (id),
    revocation_reason text CHECK (length(revocation_reason) BETWEEN 1 AND 500),
    CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
);
-- Which retired keys must stay published: those with a certificate not yet expired.
CREATE INDEX certificates_by_key ON certificates (kid, expires_at);
