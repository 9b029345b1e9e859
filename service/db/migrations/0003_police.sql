-- The police side: watchlist, alerts raised by matches, and the append-only audit log.

CREATE TABLE watchlist (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_index  bytea NOT NULL,
    -- Sealed beside the index, so the index can be rebuilt under a new master key.
    document_cipher bytea NOT NULL,
    document_masked text NOT NULL,
    note            text NOT NULL,
    -- The jurisdiction of the officer who added it: matches are looked for inside it.
    area_code       text NOT NULL REFERENCES areas (code),
    created_by      bigint NOT NULL REFERENCES accounts (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    active          boolean NOT NULL DEFAULT true
);
CREATE INDEX watchlist_document ON watchlist (document_index) WHERE active;

CREATE TABLE alerts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    watchlist_id    bigint NOT NULL REFERENCES watchlist (id),
    dwelling_id     bigint NOT NULL REFERENCES dwellings (id),
    area_code       text NOT NULL REFERENCES areas (code),
    stay_id         uuid REFERENCES stays (id) ON DELETE SET NULL,
    verification_id uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (stay_id IS NOT NULL OR verification_id IS NOT NULL)
);
CREATE INDEX alerts_area ON alerts (area_code text_pattern_ops, id);
CREATE INDEX alerts_dwelling ON alerts (dwelling_id);

-- Every police search and reveal. Rows are chained: each carries the hash of the one
-- before, so an edited or removed row breaks the chain (`python -m service audit verify`).
CREATE TABLE audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL,
    actor_id        bigint REFERENCES accounts (id),
    actor           text NOT NULL,
    action          text NOT NULL,
    reason          text,
    -- The blind index of the number looked for or revealed, never the number.
    subject_index   bytea,
    details         jsonb NOT NULL DEFAULT '{}',
    prev_hash       bytea NOT NULL,
    hash            bytea NOT NULL UNIQUE
);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END $$;

CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
