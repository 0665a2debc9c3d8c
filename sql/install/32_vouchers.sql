-- ---------------------------------------------------------------------------
-- Vouchers
-- ---------------------------------------------------------------------------

CREATE TABLE topup.series (
    client_id text NOT NULL REFERENCES topup.clients,
    series text NOT NULL,
    amount numeric NOT NULL CHECK (amount OPERATOR(pg_catalog.>) 0),
    currency text NOT NULL REFERENCES topup.currencies,
    last_number bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_generated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (client_id, series)
);
COMMENT ON TABLE topup.series IS 'voucher series: amount and currency fixed by the first generation, last sequence number';

CREATE TABLE topup.vouchers (
    serial topup.voucher_serial NOT NULL,
    client_id text NOT NULL,
    series text NOT NULL,
    amount numeric NOT NULL,
    currency text NOT NULL,
    status topup.voucher_status NOT NULL DEFAULT 'new',
    reseller text,
    expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    activated_at timestamptz,
    activated_by text,
    order_id bigint,
    pin_length smallint NOT NULL,
    pin_hash bytea NOT NULL,
    pin_cipher bytea NOT NULL,
    PRIMARY KEY (serial, client_id)
) WITH (fillfactor = 50);
COMMENT ON TABLE topup.vouchers IS 'top-up vouchers; admins may UPDATE expires_at, reseller, status and DELETE rows (guarded by a trigger)';
COMMENT ON COLUMN topup.vouchers.pin_hash IS 'HMAC-SHA-256 of the PIN under the database secret; unique across all vouchers';
COMMENT ON COLUMN topup.vouchers.pin_cipher IS 'AES-256-CBC ciphertext of the PIN (IV = first 16 bytes of pin_hash), readable with pgcrypto decrypt_iv';

CREATE UNIQUE INDEX vouchers_pin_hash_key ON topup.vouchers (pin_hash);
CREATE INDEX vouchers_series_idx ON topup.vouchers (client_id, series);
-- the density rule counts by PIN length (see generate_vouchers)
CREATE INDEX vouchers_pin_length_idx ON topup.vouchers (pin_length);

-- ---------------------------------------------------------------------------
-- A voucher is written once and then updated once or twice in its life
-- (redeemed, or expired, perhaps blocked and unblocked).  With status in no
-- index and half of each page kept free (fillfactor above), those updates are
-- HOT: the new version stays on the page and no index gets a new entry.  The
-- due dates of live vouchers live in an insert-only queue, which the expiry
-- sweep consumes in expires_at order.
-- ---------------------------------------------------------------------------

CREATE TABLE topup.voucher_expiry (
    expires_at timestamptz NOT NULL,
    client_id text NOT NULL,
    serial topup.voucher_serial NOT NULL
);
COMMENT ON TABLE topup.voucher_expiry IS 'due dates of live vouchers, consumed by the expiry sweep in expires_at order; written only by the extension';
CREATE INDEX voucher_expiry_due_idx ON topup.voucher_expiry (expires_at);
