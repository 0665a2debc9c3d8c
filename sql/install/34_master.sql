-- ---------------------------------------------------------------------------
-- Pricing
-- ---------------------------------------------------------------------------

CREATE TABLE topup.pricing (
    client_id text NOT NULL REFERENCES topup.clients,
    currency text NOT NULL REFERENCES topup.currencies,
    min_amount numeric NOT NULL,
    max_amount numeric NOT NULL,
    fee_fixed numeric NOT NULL DEFAULT 0,
    fee_percent numeric NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (client_id, currency)
);
COMMENT ON TABLE topup.pricing IS 'top-up pricing per client and currency: amount limits and fee = fee_fixed + fee_percent/100 * amount, rounded half up';

-- ---------------------------------------------------------------------------
-- Master balances and fee accounts.
--
-- Every top-up of a client charges its master balance and credits its fee
-- account, so both would be one hot row.  Each is split into 16 slots; a
-- top-up debits one slot that can cover it (skipping slots other orders
-- hold), and only when none can does it lock every slot, check the total
-- and spread what is left evenly again.  The balance is the sum of the
-- slots; no slot goes negative.
-- ---------------------------------------------------------------------------

CREATE TABLE topup.balance_slots (
    client_id text NOT NULL REFERENCES topup.clients,
    currency text NOT NULL REFERENCES topup.currencies,
    book text NOT NULL CHECK (book IN ('master', 'fee', 'hold')),
    slot smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
    balance numeric NOT NULL DEFAULT 0 CHECK (balance OPERATOR(pg_catalog.>=) 0),
    PRIMARY KEY (client_id, currency, book, slot)
) WITH (fillfactor = 50);
COMMENT ON TABLE topup.balance_slots IS 'master balance and fee account of each client and currency, split into 16 slots so concurrent top-ups do not queue on one row';

CREATE TABLE topup.fundings (
    funding_id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('topup.order_id_seq'),
    client_id text NOT NULL REFERENCES topup.clients,
    currency text NOT NULL REFERENCES topup.currencies,
    amount numeric NOT NULL CHECK (amount OPERATOR(pg_catalog.>) 0),
    reference text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (client_id, reference)
);
COMMENT ON TABLE topup.fundings IS 'money paid into master balances; fund_master is idempotent on the reference';

-- ---------------------------------------------------------------------------
-- Channels (SPEC §9): a provider channel's top-ups are applied later by a
-- card processor; its orders are claimed by workers.
-- ---------------------------------------------------------------------------

CREATE TABLE topup.channels (
    client_id text NOT NULL REFERENCES topup.clients,
    channel text NOT NULL CHECK (channel OPERATOR(pg_catalog.<>) ''),
    mode text NOT NULL CHECK (mode IN ('instant', 'provider')),
    attempt_timeout interval NOT NULL DEFAULT '30 seconds'
        CHECK (attempt_timeout OPERATOR(pg_catalog.>) '0'::interval),
    max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts OPERATOR(pg_catalog.>=) 1),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (client_id, channel)
);
COMMENT ON TABLE topup.channels IS 'top-up channels of each client: instant, or provider-backed (applied later by a card processor)';

-- The threshold below which a master balance raises a master.low event
-- (once per crossing: low says it is below).
CREATE TABLE topup.low_balances (
    client_id text NOT NULL REFERENCES topup.clients,
    currency text NOT NULL REFERENCES topup.currencies,
    threshold numeric NOT NULL CHECK (threshold OPERATOR(pg_catalog.>=) 0),
    low boolean NOT NULL DEFAULT false,
    PRIMARY KEY (client_id, currency)
);
COMMENT ON TABLE topup.low_balances IS 'master balance thresholds (set_low_balance); low is true while the balance is below';
