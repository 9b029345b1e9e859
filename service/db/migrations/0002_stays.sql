-- Guest registrations. A stay is one registration at one dwelling (the receipt the
-- guest keeps); its guests are the people in it, the registrant first.
-- Document and phone numbers are held only as AES-256-GCM ciphertexts, HMAC blind
-- indexes and masked forms; the facts the police count are kept beside them in clear.

CREATE TABLE stays (
    id                  uuid PRIMARY KEY,
    dwelling_id         bigint NOT NULL REFERENCES dwellings (id),
    area_code           text NOT NULL REFERENCES areas (code),
    receipt_hash        bytea NOT NULL UNIQUE,
    check_in            date NOT NULL,
    check_out           date NOT NULL,
    -- check_out at noon in the display zone: after it (plus a grace period) the stay is overdue.
    expected_departure  timestamptz NOT NULL,
    phone_cipher        bytea NOT NULL,
    phone_index         bytea NOT NULL,
    phone_masked        text NOT NULL,
    guest_count         integer NOT NULL CHECK (guest_count BETWEEN 1 AND 50),
    capacity_anomaly    boolean NOT NULL DEFAULT false,
    registered_by       text NOT NULL CHECK (registered_by IN ('guest', 'desk', 'remote')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    checked_out_at      timestamptz,
    checked_out_by      text CHECK (checked_out_by IN ('guest', 'owner', 'police')),
    CHECK (check_out >= check_in)
);
-- The current stays are what every landlord page and police count reads.
CREATE INDEX stays_current_by_dwelling ON stays (dwelling_id) WHERE checked_out_at IS NULL;
CREATE INDEX stays_current_by_area ON stays (area_code text_pattern_ops) WHERE checked_out_at IS NULL;
CREATE INDEX stays_by_dwelling ON stays (dwelling_id, created_at);

CREATE TABLE stay_guests (
    id                  uuid PRIMARY KEY,
    stay_id             uuid NOT NULL REFERENCES stays (id) ON DELETE CASCADE,
    position            smallint NOT NULL,
    full_name           text NOT NULL,
    document_type       text CHECK (document_type IN ('resident_id', 'passport', 'hk_macao_permit',
                                                      'taiwan_permit', 'foreign_permanent_residence')),
    document_cipher     bytea,
    document_index      bytea,
    document_masked     text,
    nationality         text,
    -- A minor without a document is registered by their relationship to the registrant.
    relationship        text,
    birth_year          smallint,
    sex                 char(1) CHECK (sex IN ('M', 'F')),
    origin_division     char(6),
    is_foreign          boolean NOT NULL DEFAULT false,
    UNIQUE (stay_id, position),
    CHECK ((document_type IS NULL) = (document_cipher IS NULL)),
    CHECK (document_type IS NOT NULL OR relationship IS NOT NULL)
);
CREATE INDEX stay_guests_document ON stay_guests (document_index) WHERE document_index IS NOT NULL;

-- Answers of public POSTs by Idempotency-Key, kept a day: a retry gets the first answer.
CREATE TABLE idempotency_keys (
    scope        text NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    status_code  integer,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
