-- Jurisdictions, staff accounts, sessions and dwellings.

CREATE TABLE areas (
    code        text PRIMARY KEY CHECK (code ~ '^[0-9]{6}[0-9A-Za-z]*$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    parent_code text REFERENCES areas (code),
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- A child's code extends its parent's, so a jurisdiction is a code prefix.
    CHECK (parent_code IS NULL OR (code LIKE parent_code || '%' AND code <> parent_code))
);
CREATE INDEX areas_parent ON areas (parent_code);

CREATE TABLE accounts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.-]{3,64}$'),
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'police', 'landlord', 'desk')),
    display_name  text NOT NULL DEFAULT '',
    area_code     text REFERENCES areas (code),
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (role <> 'police' OR area_code IS NOT NULL)
);

CREATE TABLE sessions (
    token_hash  bytea PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE login_failures (
    username    text NOT NULL,
    client      text NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_recent ON login_failures (username, failed_at);

CREATE TABLE dwellings (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id    bigint NOT NULL REFERENCES accounts (id),
    name        text NOT NULL,
    address     text NOT NULL,
    area_code   text NOT NULL REFERENCES areas (code),
    kind        text NOT NULL CHECK (kind IN ('rental_room', 'homestay', 'dormitory', 'hotel_room')),
    capacity    integer NOT NULL CHECK (capacity BETWEEN 1 AND 10000),
    latitude    double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude   double precision CHECK (longitude BETWEEN -180 AND 180),
    qr_token    text NOT NULL UNIQUE,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dwellings_owner ON dwellings (owner_id);
CREATE INDEX dwellings_area ON dwellings (area_code text_pattern_ops);

-- Tokens of rotated QR codes: their URL answers 410 Gone instead of 404.
CREATE TABLE retired_qr_tokens (
    token       text PRIMARY KEY,
    dwelling_id bigint NOT NULL REFERENCES dwellings (id),
    retired_at  timestamptz NOT NULL DEFAULT now()
);
