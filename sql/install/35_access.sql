-- ---------------------------------------------------------------------------
-- Access (SPEC §8): roles bound to clients with duties.  A binding is the
-- whole interface: bind_role grants the role what its duty needs
-- (topup.duty_grants) and the functions, views and row-level security
-- policies act for the clients it is bound to.
-- ---------------------------------------------------------------------------

CREATE TABLE topup.role_bindings (
    role regrole NOT NULL,
    duty text NOT NULL CHECK (duty IN ('app', 'admin', 'reseller', 'auditor', 'provider')),
    client_id text NOT NULL REFERENCES topup.clients,
    reseller text,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CHECK ((duty OPERATOR(pg_catalog.=) 'reseller') = (reseller IS NOT NULL)),
    FOREIGN KEY (client_id, reseller) REFERENCES topup.resellers
);
COMMENT ON TABLE topup.role_bindings IS 'roles bound to clients with a duty (app, admin, reseller, auditor, provider); written by bind_role and unbind_role';
CREATE UNIQUE INDEX role_bindings_key
    ON topup.role_bindings (role, duty, client_id, (COALESCE(reseller, '')));
CREATE INDEX role_bindings_client_idx ON topup.role_bindings (client_id);

-- What each duty is granted.  A function joins a duty with one row here
-- (an upgrade script inserts it and calls topup._grant_duties()); the
-- functions check a caller's client against the duties that grant them.
CREATE TABLE topup.duty_grants (
    duty text NOT NULL,
    privilege text NOT NULL,
    object_kind text NOT NULL CHECK (object_kind IN ('schema', 'routine', 'table')),
    object text NOT NULL,
    columns text[],
    PRIMARY KEY (duty, privilege, object_kind, object)
);
COMMENT ON TABLE topup.duty_grants IS 'the privileges each duty needs; bind_role grants them, unbind_role revokes what no remaining binding needs';

CREATE SEQUENCE topup.audit_id_seq;
COMMENT ON SEQUENCE topup.audit_id_seq IS 'audit entry ids';

CREATE TABLE topup.audit_log (
    audit_id bigint NOT NULL DEFAULT pg_catalog.nextval('topup.audit_id_seq'),
    at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    role name NOT NULL,
    client_id text NOT NULL,
    action text NOT NULL CHECK (action IN ('update', 'delete', 'bind', 'unbind')),
    target text NOT NULL,
    old jsonb,
    new jsonb
);
COMMENT ON TABLE topup.audit_log IS 'every direct change of an admin to vouchers or accounts, and every bind and unbind; append-only';
COMMENT ON COLUMN topup.audit_log.role IS 'the acting role (the admin''s own role, never the extension owner)';
COMMENT ON COLUMN topup.audit_log.target IS 'the voucher''s serial, the account''s account_id, or the bound role''s name';
COMMENT ON COLUMN topup.audit_log.old IS 'the changed public columns before (never PIN data)';
CREATE INDEX audit_log_client_idx ON topup.audit_log (client_id, audit_id);
