-- ---------------------------------------------------------------------------
-- Reference data
-- ---------------------------------------------------------------------------

CREATE TABLE topup.currencies (
    code text PRIMARY KEY CHECK (code OPERATOR(pg_catalog.~) '^[A-Z]{3}$'),
    minor_units integer NOT NULL CHECK (minor_units BETWEEN 0 AND 4),
    name text,
    seeded boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE topup.currencies IS 'ISO 4217 currencies and their minor units; admins may add rows';

INSERT INTO topup.currencies (code, minor_units, name, seeded) SELECT c, m, n, true FROM (VALUES
    ('USD', 2, 'US Dollar'),
    ('EUR', 2, 'Euro'),
    ('GBP', 2, 'Pound Sterling'),
    ('JPY', 0, 'Yen'),
    ('MAD', 2, 'Moroccan Dirham'),
    ('BHD', 3, 'Bahraini Dinar'),
    ('KWD', 3, 'Kuwaiti Dinar'),
    ('CNY', 2, 'Yuan Renminbi'),
    ('INR', 2, 'Indian Rupee'),
    ('CHF', 2, 'Swiss Franc'),
    ('CAD', 2, 'Canadian Dollar'),
    ('AUD', 2, 'Australian Dollar')) AS seed (c, m, n);

CREATE TABLE topup.error_codes (
    slug text PRIMARY KEY,
    sqlstate text NOT NULL UNIQUE,
    description text NOT NULL
);
COMMENT ON TABLE topup.error_codes IS 'every error slug the extension raises or stores in a failed order, with its SQLSTATE';

INSERT INTO topup.error_codes (slug, sqlstate, description) VALUES
    ('invalid_pin',              'TU001', 'No voucher has this PIN, or the PIN is malformed.'),
    ('voucher_already_redeemed', 'TU002', 'The voucher has already been redeemed.'),
    ('voucher_expired',          'TU003', 'The voucher has expired.'),
    ('voucher_blocked',          'TU004', 'The voucher is blocked.'),
    ('account_not_found',        'TU005', 'No such account for this client.'),
    ('account_not_active',       'TU006', 'The account is not active.'),
    ('currency_mismatch',        'TU007', 'The currency does not match the account''s currency.'),
    ('too_many_attempts',        'TU008', 'Too many failed redeem attempts; try again later.'),
    ('idempotency_key_reused',   'TU009', 'The idempotency key was used before with other parameters.'),
    ('order_not_found',          'TU010', 'No such order for this client.'),
    ('voucher_not_found',        'TU011', 'No voucher has this serial for this client.'),
    ('invalid_customer_info',    'TU012', 'A customer_info key is unknown or its value is invalid.'),
    ('idempotency_key_required', 'TU013', 'A top-up needs a non-empty idempotency key.'),
    ('invalid_amount',           'TU014', 'The amount is missing, not positive, or has more decimals than the currency allows.'),
    ('invalid_entry_type',       'TU015', 'The entry type is not B, K, M or P.'),
    ('card_not_found',           'TU016', 'No prepaid card has this id for this client.'),
    ('card_not_active',          'TU017', 'The card is not active.'),
    ('invalid_pricing',          'TU018', 'No pricing rule, or a misconfigured one, for this client and currency.'),
    ('amount_below_minimum',     'TU019', 'The amount is below the pricing rule''s minimum.'),
    ('amount_above_maximum',     'TU020', 'The amount is above the pricing rule''s maximum.'),
    ('insufficient_funds',       'TU021', 'The master balance (or the account) cannot cover the amount.'),
    ('order_already_final',      'TU022', 'The order is completed or failed; a contradicting report changes nothing.'),
    ('unknown_channel',          'TU023', 'No client the caller may act for has this channel.'),
    ('order_not_reversible',     'TU024', 'Only a completed order that is not itself a reversal can be reversed.'),
    ('order_already_reversed',   'TU025', 'Nothing of the order is left to reverse.'),
    ('provider_declined',        'TU026', 'The card processor declined the top-up.'),
    ('provider_unavailable',     'TU027', 'The card processor could not be reached within the channel''s attempts.');
