-- ---------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC.  The schema itself grants no USAGE; the
-- secret and PIN data stay with the extension owner.
-- ---------------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA topup FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA topup FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA topup FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA topup FROM PUBLIC;
