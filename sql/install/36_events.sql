-- ---------------------------------------------------------------------------
-- Events (SPEC §9): an outbox written in the same transaction as what it
-- reports.  A row gets its event_id when it is published: events_since
-- first numbers, in one serialized step, the events of committed
-- transactions that have none yet, then reads by event_id.  An event
-- committed later therefore always gets a higher id than any a reader has
-- seen, so a reader that polls with the last id it saw never skips one.
-- ---------------------------------------------------------------------------

CREATE SEQUENCE topup.event_id_seq;
COMMENT ON SEQUENCE topup.event_id_seq IS 'event ids, assigned at publication';

CREATE TABLE topup.events (
    event_id bigint,
    at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    client_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('order.completed', 'order.failed', 'order.processing',
                                       'order.reversed', 'voucher.expiring', 'master.low')),
    order_id bigint,
    serial topup.voucher_serial,
    account_id text,
    payload jsonb
);
COMMENT ON TABLE topup.events IS 'the outbox: order.completed, order.failed, order.processing, order.reversed, voucher.expiring, master.low; read with events_since()';
COMMENT ON COLUMN topup.events.event_id IS 'assigned in commit order when the event is published; NULL until then';
CREATE UNIQUE INDEX events_event_id_key ON topup.events (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX events_client_idx ON topup.events (client_id, event_id) WHERE event_id IS NOT NULL;
CREATE INDEX events_unpublished_idx ON topup.events (at) WHERE event_id IS NULL;

-- vouchers whose expiry was announced (voucher.expiring, once per voucher)
CREATE TABLE topup.expiry_notices (
    client_id text NOT NULL,
    serial topup.voucher_serial NOT NULL,
    noticed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (client_id, serial)
);
COMMENT ON TABLE topup.expiry_notices IS 'vouchers whose voucher.expiring event was written';
