-- ---------------------------------------------------------------------------
-- Row-level security on the tables a bound admin edits directly (the
-- mass-edit interface of §2 and the account status) and on the audit log
-- its admins and auditors read.  Rows of other clients are invisible, not
-- refused.  The extension owner bypasses these policies as the tables'
-- owner; the extension's own functions run as the owner.
-- ---------------------------------------------------------------------------

ALTER TABLE topup.vouchers ENABLE ROW LEVEL SECURITY;
CREATE POLICY bound_admins ON topup.vouchers
    USING (topup._may_edit(client_id)) WITH CHECK (topup._may_edit(client_id));
ALTER TABLE topup.accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY bound_admins ON topup.accounts
    USING (topup._may_edit(client_id)) WITH CHECK (topup._may_edit(client_id));
ALTER TABLE topup.audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY bound_readers ON topup.audit_log FOR SELECT
    USING (topup._visible(client_id, NULL));
