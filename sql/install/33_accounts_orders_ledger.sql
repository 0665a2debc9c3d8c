-- ---------------------------------------------------------------------------
-- Accounts and ledger
-- ---------------------------------------------------------------------------

CREATE TABLE topup.accounts (
    client_id text NOT NULL REFERENCES topup.clients,
    account_id text NOT NULL CHECK (account_id OPERATOR(pg_catalog.<>) ''),
    kind text NOT NULL CHECK (kind IN ('customer', 'card')),
    currency text NOT NULL REFERENCES topup.currencies,
    balance numeric NOT NULL DEFAULT 0 CHECK (balance OPERATOR(pg_catalog.>=) 0),
    status topup.account_status NOT NULL DEFAULT 'active',
    customer_info jsonb,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    activated_at timestamptz,
    PRIMARY KEY (client_id, account_id)
);
COMMENT ON TABLE topup.accounts IS 'customer balances and prepaid cards; admins may UPDATE status (guarded by a trigger)';

CREATE SEQUENCE topup.order_id_seq;
COMMENT ON SEQUENCE topup.order_id_seq IS 'order ids';

CREATE TABLE topup.orders (
    order_id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('topup.order_id_seq'),
    order_type text NOT NULL CHECK (order_type IN ('voucher_redeem', 'card_topup', 'account_charge', 'reversal')),
    status topup.order_status NOT NULL DEFAULT 'new',
    topup_status topup.topup_status,
    client_id text NOT NULL,
    account_id text,
    serial topup.voucher_serial,
    amount numeric,
    fee numeric,
    currency text,
    master_balance_before numeric,
    master_balance_after numeric,
    account_balance_after numeric,
    error_slug text,
    error_message text,
    idempotency_key text CHECK (pg_catalog.length(idempotency_key) BETWEEN 1 AND 255),
    reference text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    completed_at timestamptz,
    failed_at timestamptz,
    source text,
    request_hash bytea,
    entry_type text CHECK (entry_type IN ('B', 'K', 'M', 'P')),
    channel text,
    card_activated boolean,
    attempts integer,
    lease_until timestamptz,
    next_attempt_at timestamptz,
    provider_reference text,
    reverses_order_id bigint,
    hold_slot smallint,
    note text,
    UNIQUE (client_id, order_type, idempotency_key)
);
COMMENT ON TABLE topup.orders IS 'every order (voucher redeems, card top-ups); status moves forward only';
COMMENT ON COLUMN topup.orders.request_hash IS 'keyed hash of the request parameters, compared on idempotent retries';
COMMENT ON COLUMN topup.orders.source IS 'caller-supplied origin of a redeem (e.g. IP address), used by the lockout';
COMMENT ON COLUMN topup.orders.entry_type IS 'how the card id was entered: B barcode, K keyed, M magnetic stripe, P proximity';
COMMENT ON COLUMN topup.orders.card_activated IS 'the top-up activated the card';
COMMENT ON COLUMN topup.orders.attempts IS 'provider-backed orders: how many times a worker claimed it';
COMMENT ON COLUMN topup.orders.lease_until IS 'provider-backed orders: the claiming worker''s lease';
COMMENT ON COLUMN topup.orders.next_attempt_at IS 'provider-backed orders: claimable again from (after an error or in doubt)';
COMMENT ON COLUMN topup.orders.provider_reference IS 'the card processor''s reference of the top-up';
COMMENT ON COLUMN topup.orders.reverses_order_id IS 'reversals: the order reversed';
COMMENT ON COLUMN topup.orders.hold_slot IS 'provider-backed orders: the hold slot holding amount + fee';
COMMENT ON COLUMN topup.orders.note IS 'the reason of a reversal, the description of a charge';

-- Lockout look-ups: recent invalid_pin failures by account and by source.
CREATE INDEX orders_failed_pin_account_idx ON topup.orders (client_id, account_id, created_at)
    WHERE error_slug = 'invalid_pin';
CREATE INDEX orders_failed_pin_source_idx ON topup.orders (client_id, source, created_at)
    WHERE error_slug = 'invalid_pin' AND source IS NOT NULL;
CREATE INDEX orders_account_idx ON topup.orders (client_id, account_id);
-- provider-backed orders to claim, and the reversals of an order
CREATE INDEX orders_claimable_idx ON topup.orders (channel, order_id) WHERE status = 'processing';
CREATE INDEX orders_reverses_idx ON topup.orders (reverses_order_id) WHERE reverses_order_id IS NOT NULL;

CREATE TABLE topup.ledger (
    entry_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id bigint,
    client_id text NOT NULL,
    book text NOT NULL CHECK (book IN ('account', 'voucher_float', 'master', 'fee', 'funding', 'hold', 'revenue')),
    account_id text,
    currency text NOT NULL,
    amount numeric NOT NULL CHECK (amount OPERATOR(pg_catalog.<>) 0),
    balance_after numeric,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CHECK ((book = 'account') = (account_id IS NOT NULL)),
    funding_id bigint,
    CONSTRAINT ledger_one_source CHECK ((order_id IS NULL) <> (funding_id IS NULL))
);
COMMENT ON TABLE topup.ledger IS 'append-only double-entry ledger; each order''s entries sum to zero per currency';
COMMENT ON COLUMN topup.ledger.book IS 'account: a row of topup.accounts; voucher_float: value of issued vouchers (no stored balance); master, fee: a client''s master balance and fee account; funding: money paid in from outside';

CREATE INDEX ledger_order_idx ON topup.ledger (order_id);
CREATE INDEX ledger_account_idx ON topup.ledger (client_id, account_id) WHERE account_id IS NOT NULL;
CREATE INDEX ledger_funding_idx ON topup.ledger (funding_id) WHERE funding_id IS NOT NULL;
CREATE INDEX ledger_book_idx ON topup.ledger (client_id, currency, book) WHERE book IN ('master', 'fee');
