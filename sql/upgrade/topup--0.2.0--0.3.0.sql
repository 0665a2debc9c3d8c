-- topup 0.2.0 -> 0.3.0: expiry and redeem without index churn.
\echo Use "ALTER EXTENSION topup UPDATE TO '0.3.0'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- A voucher is written once and then updated once or twice in its life
-- (redeemed, or expired, perhaps blocked and unblocked).  With status in no
-- index and room left on each page, those updates are HOT: the new version
-- stays on the page and no index gets a new entry.  A sweep that expires a
-- million vouchers then writes a million heap tuples instead of a million
-- heap tuples and three million index entries.
--
-- So: status leaves the series index and the partial indexes, half of each
-- new page is kept free for the updates (existing pages keep their layout
-- until the table is rewritten, e.g. by VACUUM FULL), and the due dates of
-- live vouchers move to an insert-only queue, topup.voucher_expiry, which the
-- sweep consumes in expires_at order.
-- ---------------------------------------------------------------------------

ALTER TABLE topup.vouchers SET (fillfactor = 50);

DROP INDEX topup.vouchers_series_idx;
CREATE INDEX vouchers_series_idx ON topup.vouchers (client_id, series);

-- the density rule counts by PIN length (see generate_vouchers)
DROP INDEX topup.vouchers_live_pin_length_idx;
CREATE INDEX vouchers_pin_length_idx ON topup.vouchers (pin_length);

DROP INDEX topup.vouchers_expiry_idx;

CREATE TABLE topup.voucher_expiry (
    expires_at timestamptz NOT NULL,
    client_id text NOT NULL,
    serial topup.voucher_serial NOT NULL
);
COMMENT ON TABLE topup.voucher_expiry IS 'due dates of live vouchers, consumed by the expiry sweep in expires_at order; written only by the extension';
CREATE INDEX voucher_expiry_due_idx ON topup.voucher_expiry (expires_at);

INSERT INTO topup.voucher_expiry (expires_at, client_id, serial)
SELECT expires_at, client_id, serial
  FROM topup.vouchers
 WHERE status IN ('new', 'blocked') AND expires_at IS NOT NULL;

SELECT pg_catalog.pg_extension_config_dump('topup.voucher_expiry', '');

CREATE FUNCTION topup._expiry_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'topup_expiry_guard' LANGUAGE C;
COMMENT ON FUNCTION topup._expiry_guard() IS 'internal trigger: the expiry queue is written only by the extension';
CREATE TRIGGER voucher_expiry_guard BEFORE INSERT OR UPDATE OR DELETE ON topup.voucher_expiry
    FOR EACH ROW EXECUTE FUNCTION topup._expiry_guard();
CREATE TRIGGER voucher_expiry_truncate_guard BEFORE TRUNCATE ON topup.voucher_expiry
    FOR EACH STATEMENT EXECUTE FUNCTION topup._expiry_guard();

REVOKE ALL ON topup.voucher_expiry FROM PUBLIC;
REVOKE ALL ON FUNCTION topup._expiry_guard() FROM PUBLIC;
