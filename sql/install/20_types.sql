-- ---------------------------------------------------------------------------
-- Enums
-- ---------------------------------------------------------------------------

CREATE TYPE topup.voucher_status AS ENUM ('new', 'activated', 'expired', 'blocked');
COMMENT ON TYPE topup.voucher_status IS 'life cycle of a voucher: new, activated (redeemed, final), expired, blocked';

CREATE TYPE topup.account_status AS ENUM ('inactive', 'active', 'blocked', 'closed');
COMMENT ON TYPE topup.account_status IS 'status of a customer account or prepaid card';

CREATE TYPE topup.order_status AS ENUM ('new', 'activating', 'processing', 'completed', 'failed');
COMMENT ON TYPE topup.order_status IS 'overall status of an order; moves forward only';

CREATE TYPE topup.topup_status AS ENUM ('new', 'provider_in_progress', 'new_error',
    'provider_in_progress_error', 'provider_verification',
    'provider_verification_error', 'completed', 'failed');
COMMENT ON TYPE topup.topup_status IS 'sub-status of top-up processing';

CREATE TYPE topup.order_result AS (
    order_id bigint,
    order_type text,
    status topup.order_status,
    topup_status topup.topup_status,
    client_id text,
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
    idempotency_key text,
    reference text,
    replayed boolean,
    created_at timestamptz,
    completed_at timestamptz,
    failed_at timestamptz
);
COMMENT ON TYPE topup.order_result IS 'result of every money-moving function and of check_order';
