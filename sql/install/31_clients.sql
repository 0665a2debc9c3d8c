-- ---------------------------------------------------------------------------
-- Tenancy
-- ---------------------------------------------------------------------------

CREATE TABLE topup.clients (
    client_id text PRIMARY KEY CHECK (client_id OPERATOR(pg_catalog.<>) ''),
    name text,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE topup.clients IS 'operators and API developers; every row of the extension belongs to one';

INSERT INTO topup.clients (client_id, name) VALUES ('default', 'Default client');

CREATE TABLE topup.resellers (
    client_id text NOT NULL REFERENCES topup.clients,
    reseller text NOT NULL CHECK (reseller OPERATOR(pg_catalog.<>) ''),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (client_id, reseller)
);
COMMENT ON TABLE topup.resellers IS 'resellers that own vouchers; names are unique within a client';

-- ---------------------------------------------------------------------------
-- The per-database secret (HMAC key for PIN lookup, AES key for export).
-- Readable only by the extension owner; dumped with the data so that a
-- restored database still redeems its PINs (see the secret trigger).
-- ---------------------------------------------------------------------------

CREATE TABLE topup.secret (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    hmac_key bytea NOT NULL CHECK (pg_catalog.length(hmac_key) OPERATOR(pg_catalog.=) 32),
    enc_key bytea NOT NULL CHECK (pg_catalog.length(enc_key) OPERATOR(pg_catalog.=) 32),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE topup.secret IS 'per-database keys: HMAC-SHA-256 for PIN lookup, AES-256 for PIN export';
