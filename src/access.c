/*-------------------------------------------------------------------------
 *
 * access.c
 *	  Roles bound to clients (SPEC §8): bind_role, unbind_role,
 *	  current_client, the row filters of the views and policies (_visible,
 *	  _may_edit), and the check every function makes of its client
 *	  (TopupAuthorize).
 *
 *	  A binding (role, duty, client[, reseller]) lives in
 *	  topup.role_bindings; what a duty is granted lives in topup.duty_grants,
 *	  which is also where a function learns which duties may call it, so a
 *	  function joins a duty in one place.  The calling role is the session's
 *	  current role (after SET ROLE, that role) together with the roles whose
 *	  privileges it has (has_privs_of_role: inherited memberships).
 *
 *	  Every backend keeps the bindings and, for the calling role, the
 *	  clients it may act for, so that the row filters cost a lookup per row.
 *	  bind_role and unbind_role invalidate the relcache entry of
 *	  role_bindings, which drops these caches in every backend; a change of
 *	  role membership drops the role's part.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "access.h"
#include "guard.h"
#include "schema.h"
#include "topup.h"

typedef struct Binding
{
	Oid			role;
	int			duty;			/* TOPUP_DUTY_* */
	char	   *client_id;
	char	   *reseller;		/* reseller duty only */
} Binding;

/* What the calling role may reach, per client. */
typedef struct ClientDuties
{
	char	   *client_id;
	int			duties;			/* union of its bindings' duties */
	List	   *resellers;		/* of its reseller bindings */
} ClientDuties;

typedef struct RoleScope
{
	bool		valid;
	Oid			role;
	bool		privileged;
	int			nclients;
	ClientDuties *clients;
} RoleScope;

/* The duties that grant a function. */
typedef struct FunctionDuties
{
	Oid			fn;
	int			duties;
} FunctionDuties;

static MemoryContext access_cxt = NULL;	/* bindings and functions */
static MemoryContext scope_cxt = NULL;	/* the calling role's scope */
static bool callbacks_registered = false;
static Oid	watched_bindings = InvalidOid;
static Oid	watched_grants = InvalidOid;
static uint64 loaded_epoch = 0;

static bool bindings_valid = false;
static Binding *bindings = NULL;
static int	nbindings = 0;

static bool functions_valid = false;
static FunctionDuties *functions = NULL;
static int	nfunctions = 0;

static RoleScope scope = {false};

static const char *const duty_names[] = {"app", "admin", "reseller", "auditor", "provider"};

static void RelcacheCallback(Datum arg, Oid relid);
static void RoleCallback(Datum arg, int cacheid, uint32 hashvalue);
static void EnsureCaches(void);
static void LoadBindings(void);
static void LoadFunctions(void);
static const RoleScope *ScopeOf(Oid role);
static int	DutyBit(const char *duty);
static int	FunctionDutyMask(Oid fn);
static void RequirePrivileged(const char *what);
static void NoDutyAllows(FunctionCallInfo fcinfo) pg_attribute_noreturn();
static void ForgetDroppedRoles(void);
static void GrantDuty(Oid role, const char *duty);
static void RevokeUnneeded(Oid role, const char *duty);
static void AuditBinding(const char *action, Oid role, const char *duty, const char *client_id,
						 const char *reseller);
static void BindingsChanged(void);

PG_FUNCTION_INFO_V1(topup_current_client);
PG_FUNCTION_INFO_V1(topup_bind_role);
PG_FUNCTION_INFO_V1(topup_unbind_role);
PG_FUNCTION_INFO_V1(topup_grant_duties);
PG_FUNCTION_INFO_V1(topup_forget_dropped_roles);
PG_FUNCTION_INFO_V1(topup_visible);
PG_FUNCTION_INFO_V1(topup_may_edit);

/* ---------------------------------------------------------------------------
 * Caches
 * ---------------------------------------------------------------------------
 */

static void
RelcacheCallback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == watched_bindings)
	{
		bindings_valid = false;
		scope.valid = false;
	}
	if (relid == InvalidOid || relid == watched_grants)
		functions_valid = false;
}

/* Role memberships or attributes changed: recompute the role's scope. */
static void
RoleCallback(Datum arg, int cacheid, uint32 hashvalue)
{
	scope.valid = false;
}

static void
EnsureCaches(void)
{
	const TopupSchema *s = TopupGetSchema();
	uint64		epoch = TopupCacheEpoch();

	if (!callbacks_registered)
	{
		access_cxt = AllocSetContextCreate(CacheMemoryContext, "topup access",
										   ALLOCSET_SMALL_SIZES);
		scope_cxt = AllocSetContextCreate(CacheMemoryContext, "topup access scope",
										  ALLOCSET_SMALL_SIZES);
		CacheRegisterRelcacheCallback(RelcacheCallback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMMEMROLE, RoleCallback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, RoleCallback, (Datum) 0);
		callbacks_registered = true;
	}
	if (epoch != loaded_epoch || watched_bindings != s->role_bindings)
	{
		bindings_valid = false;
		loaded_epoch = epoch;
	}
	watched_bindings = s->role_bindings;
	watched_grants = s->duty_grants;
	if (bindings_valid && functions_valid)
		return;

	/*
	 * Marked valid before loading: an invalidation that arrives meanwhile
	 * marks it stale again, and an error leaves it stale.
	 */
	MemoryContextReset(access_cxt);
	bindings = NULL;
	nbindings = 0;
	functions = NULL;
	nfunctions = 0;
	scope.valid = false;
	bindings_valid = functions_valid = true;
	PG_TRY();
	{
		LoadBindings();
		LoadFunctions();
	}
	PG_CATCH();
	{
		bindings_valid = functions_valid = false;
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * Read a table of the extension as its owner, with a snapshot that sees
 * this transaction's own earlier writes (a bind earlier in the statement).
 */
static void
LoadBindings(void)
{
	TopupSavedUser saved;
	uint64		i;
	int			rc;

	if (!OidIsValid(TopupGetSchema()->role_bindings))
		return;					/* an extension older than 0.4.0 */
	TopupAsOwnerBegin(&saved);
	PG_TRY();
	{
		SPI_connect();
		rc = SPI_execute("SELECT role::pg_catalog.oid, duty, client_id, reseller FROM topup.role_bindings",
						 false, 0);
		TopupSPICheck(rc, SPI_OK_SELECT, "reading the role bindings");
		bindings = MemoryContextAllocZero(access_cxt, Max(SPI_processed, 1) * sizeof(Binding));
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	row = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			char	   *reseller = SPI_getvalue(row, desc, 4);

			bindings[i].role = DatumGetObjectId(SPI_getbinval(row, desc, 1, &isnull));
			bindings[i].duty = DutyBit(SPI_getvalue(row, desc, 2));
			bindings[i].client_id = MemoryContextStrdup(access_cxt, SPI_getvalue(row, desc, 3));
			bindings[i].reseller = reseller ? MemoryContextStrdup(access_cxt, reseller) : NULL;
		}
		nbindings = (int) SPI_processed;
		SPI_finish();
	}
	PG_FINALLY();
	{
		TopupAsOwnerEnd(&saved);
	}
	PG_END_TRY();
}

/* Which duties grant each function (duty_grants rows of routines). */
static void
LoadFunctions(void)
{
	TopupSavedUser saved;
	uint64		i;
	int			rc;

	if (!OidIsValid(TopupGetSchema()->duty_grants))
		return;
	TopupAsOwnerBegin(&saved);
	PG_TRY();
	{
		SPI_connect();
		rc = SPI_execute("SELECT f.oid, pg_catalog.array_agg(DISTINCT g.duty) "
						 "  FROM topup.duty_grants g "
						 "  JOIN pg_catalog.pg_proc f ON f.oid = pg_catalog.to_regprocedure(g.object) "
						 " WHERE g.object_kind = 'routine' AND g.privilege = 'EXECUTE' "
						 " GROUP BY f.oid",
						 false, 0);
		TopupSPICheck(rc, SPI_OK_SELECT, "reading the duties");
		functions = MemoryContextAllocZero(access_cxt, Max(SPI_processed, 1) * sizeof(FunctionDuties));
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	row = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			Datum	   *elems;
			int			nelems;
			int			k;

			functions[i].fn = DatumGetObjectId(SPI_getbinval(row, desc, 1, &isnull));
			deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(row, desc, 2, &isnull)),
							  TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &nelems);
			for (k = 0; k < nelems; k++)
				functions[i].duties |= DutyBit(TextDatumGetCString(elems[k]));
		}
		nfunctions = (int) SPI_processed;
		SPI_finish();
	}
	PG_FINALLY();
	{
		TopupAsOwnerEnd(&saved);
	}
	PG_END_TRY();
}

static int
DutyBit(const char *duty)
{
	int			i;

	for (i = 0; i < lengthof(duty_names); i++)
		if (strcmp(duty, duty_names[i]) == 0)
			return 1 << i;
	return 0;
}

static int
FunctionDutyMask(Oid fn)
{
	int			i;

	for (i = 0; i < nfunctions; i++)
		if (functions[i].fn == fn)
			return functions[i].duties;
	return 0;
}

/* The clients (and resellers) the role may act for, from its bindings and those of the roles it inherits. */
static const RoleScope *
ScopeOf(Oid role)
{
	MemoryContext old;
	int			i;

	EnsureCaches();
	if (scope.valid && scope.role == role)
		return &scope;

	/* a pooler's SET ROLE per request rebuilds this often: its own context */
	MemoryContextReset(scope_cxt);
	old = MemoryContextSwitchTo(scope_cxt);
	scope.role = role;
	scope.privileged = TopupRolePrivileged(role);
	scope.nclients = 0;
	scope.clients = palloc0(Max(nbindings, 1) * sizeof(ClientDuties));
	if (!scope.privileged)
	{
		for (i = 0; i < nbindings; i++)
		{
			Binding    *b = &bindings[i];
			ClientDuties *c = NULL;
			int			k;

			if (!has_privs_of_role(role, b->role))
				continue;
			for (k = 0; k < scope.nclients; k++)
				if (strcmp(scope.clients[k].client_id, b->client_id) == 0)
					c = &scope.clients[k];
			if (c == NULL)
			{
				c = &scope.clients[scope.nclients++];
				c->client_id = b->client_id;
			}
			c->duties |= b->duty;
			if (b->duty == TOPUP_DUTY_RESELLER)
				c->resellers = lappend(c->resellers, b->reseller);
		}
	}
	MemoryContextSwitchTo(old);
	scope.valid = true;
	return &scope;
}

static const ClientDuties *
ClientOf(const RoleScope *rs, const char *client_id)
{
	int			i;

	if (client_id == NULL)
		return NULL;
	for (i = 0; i < rs->nclients; i++)
		if (strcmp(rs->clients[i].client_id, client_id) == 0)
			return &rs->clients[i];
	return NULL;
}

/* ---------------------------------------------------------------------------
 * Who is calling, and what it may do
 * ---------------------------------------------------------------------------
 */

Oid
TopupCallingRole(void)
{
	return GetOuterUserId();
}

bool
TopupRolePrivileged(Oid role)
{
	return superuser_arg(role) || has_privs_of_role(role, TopupGetSchema()->owner);
}

void
TopupUnknownClient(const char *client_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("client \"%s\" does not exist", client_id),
			 errhint("Create it with topup.create_client().")));
	pg_unreachable();
}

void
TopupAuthorize(FunctionCallInfo fcinfo, const char *client_id, TopupScope *out)
{
	const RoleScope *rs;
	const ClientDuties *c;
	int			mask;

	if (out != NULL)
	{
		out->all = true;
		out->resellers = NIL;
	}
	/* before 0.4.0 there are no bindings: the owner's single-caller model */
	if (!OidIsValid(TopupGetSchema()->role_bindings))
		return;
	rs = ScopeOf(TopupCallingRole());
	if (rs->privileged)
		return;
	mask = FunctionDutyMask(fcinfo->flinfo->fn_oid);
	if (mask == 0)
		NoDutyAllows(fcinfo);
	c = ClientOf(rs, client_id);
	if (c == NULL || (c->duties & mask) == 0)
		TopupUnknownClient(client_id ? client_id : "");
	if ((c->duties & mask & ~TOPUP_DUTY_RESELLER) != 0)
		return;
	if (out == NULL)
		TopupUnknownClient(client_id);
	out->all = false;
	out->resellers = c->resellers;
}

/*
 * A function no duty grants is the owner's: whoever else may execute it
 * (a hand-written GRANT) gets the permission error PostgreSQL gives.
 */
static void
NoDutyAllows(FunctionCallInfo fcinfo)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for function %s", get_func_name(fcinfo->flinfo->fn_oid)),
			 errdetail("No duty bound to the role allows it; it is the extension owner's.")));
}

void
TopupAuthorizeOwnerOnly(FunctionCallInfo fcinfo)
{
	if (!OidIsValid(TopupGetSchema()->role_bindings))
		return;
	if (!ScopeOf(TopupCallingRole())->privileged)
		NoDutyAllows(fcinfo);
}

/*
 * The clients the calling role may call the function being called for
 * (NIL with *all set for the owner, who may for every client).
 */
List *
TopupClientsFor(FunctionCallInfo fcinfo, bool *all)
{
	const RoleScope *rs;
	List	   *clients = NIL;
	int			mask;
	int			i;

	*all = !OidIsValid(TopupGetSchema()->role_bindings);
	if (*all)
		return NIL;
	rs = ScopeOf(TopupCallingRole());
	*all = rs->privileged;
	if (*all)
		return NIL;
	mask = FunctionDutyMask(fcinfo->flinfo->fn_oid);
	if (mask == 0)
		NoDutyAllows(fcinfo);
	for (i = 0; i < rs->nclients; i++)
		if ((rs->clients[i].duties & mask & ~TOPUP_DUTY_RESELLER) != 0)
			clients = lappend(clients, pstrdup(rs->clients[i].client_id));
	return clients;
}

static void
RequirePrivileged(const char *what)
{
	if (!TopupRolePrivileged(TopupCallingRole()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s", what),
				 errdetail("Only the owner of the topup extension and superusers may.")));
}

void
TopupAsOwnerBegin(TopupSavedUser *saved)
{
	GetUserIdAndSecContext(&saved->userid, &saved->sec_context);
	SetUserIdAndSecContext(TopupGetSchema()->owner,
						   saved->sec_context | SECURITY_LOCAL_USERID_CHANGE);
}

void
TopupAsOwnerEnd(const TopupSavedUser *saved)
{
	SetUserIdAndSecContext(saved->userid, saved->sec_context);
}

/* ---------------------------------------------------------------------------
 * SQL functions
 * ---------------------------------------------------------------------------
 */

/* topup.current_client() -> text */
Datum
topup_current_client(PG_FUNCTION_ARGS)
{
	const RoleScope *rs;

	if (!OidIsValid(TopupGetSchema()->role_bindings))
		PG_RETURN_TEXT_P(cstring_to_text("default"));
	rs = ScopeOf(TopupCallingRole());
	if (!rs->privileged && rs->nclients == 1)
		PG_RETURN_TEXT_P(cstring_to_text(rs->clients[0].client_id));
	PG_RETURN_TEXT_P(cstring_to_text("default"));
}

/* topup._visible(client_id, reseller): a row of the views for the calling role? */
Datum
topup_visible(PG_FUNCTION_ARGS)
{
	const RoleScope *rs = ScopeOf(TopupCallingRole());
	const ClientDuties *c;
	char	   *reseller;
	ListCell   *lc;

	if (rs->privileged)
		PG_RETURN_BOOL(true);
	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	c = ClientOf(rs, text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (c == NULL)
		PG_RETURN_BOOL(false);
	if (c->duties & (TOPUP_DUTY_ADMIN | TOPUP_DUTY_AUDITOR))
		PG_RETURN_BOOL(true);
	if (PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	reseller = text_to_cstring(PG_GETARG_TEXT_PP(1));
	foreach(lc, c->resellers)
		if (strcmp((char *) lfirst(lc), reseller) == 0)
			PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(false);
}

/* topup._may_edit(client_id): may the calling role edit this client's rows directly? */
Datum
topup_may_edit(PG_FUNCTION_ARGS)
{
	const RoleScope *rs = ScopeOf(TopupCallingRole());
	const ClientDuties *c;

	if (rs->privileged)
		PG_RETURN_BOOL(true);
	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	c = ClientOf(rs, text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_BOOL(c != NULL && (c->duties & TOPUP_DUTY_ADMIN) != 0);
}

/* The arguments of bind_role and unbind_role, checked. */
typedef struct BindArgs
{
	Oid			role;
	char	   *duty;
	char	   *client_id;
	char	   *reseller;
} BindArgs;

static void
BindArgsCheck(FunctionCallInfo fcinfo, BindArgs *a)
{
	int			rc;

	if (PG_ARGISNULL(0) || !OidIsValid(PG_GETARG_OID(0)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("role must not be null")));
	a->role = PG_GETARG_OID(0);
	a->duty = TopupTextArg(fcinfo, 1);
	a->client_id = TopupTextArg(fcinfo, 2);
	a->reseller = TopupTextArg(fcinfo, 3);
	if (a->duty == NULL || DutyBit(a->duty) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown duty \"%s\"", a->duty ? a->duty : ""),
				 errhint("The duties are app, admin, reseller, auditor and provider.")));
	if (a->client_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("client_id must not be null")));
	if (!TopupClientExists(a->client_id))
		TopupUnknownClient(a->client_id);
	if (strcmp(a->duty, "reseller") == 0 && a->reseller == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a reseller binding needs a reseller"),
				 errhint("Name the reseller whose vouchers the role may see.")));
	if (strcmp(a->duty, "reseller") != 0 && a->reseller != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("only a reseller binding names a reseller")));
	if (a->reseller != NULL)
	{
		rc = SPI_execute_with_args("SELECT 1 FROM topup.resellers "
								   "WHERE client_id OPERATOR(pg_catalog.=) $1 AND reseller OPERATOR(pg_catalog.=) $2",
								   2, (Oid[]) {TEXTOID, TEXTOID},
								   (Datum[]) {CStringGetTextDatum(a->client_id), CStringGetTextDatum(a->reseller)},
								   NULL, false, 1);
		TopupSPICheck(rc, SPI_OK_SELECT, "reseller look-up");
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("reseller \"%s\" does not exist", a->reseller),
					 errhint("Create it with topup.create_reseller().")));
	}
}

/*
 * The bindings of roles that no longer exist are void: removed here (at the
 * latest on the next bind, unbind or verify_ledger()).  Such a role held no
 * privilege any more (a role is dropped only once they are revoked).
 */
static void
ForgetDroppedRoles(void)
{
	int			rc;

	rc = SPI_execute("DELETE FROM topup.role_bindings b "
					 " WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r "
					 "                    WHERE r.oid OPERATOR(pg_catalog.=) b.role)",
					 false, 0);
	TopupSPICheck(rc, SPI_OK_DELETE, "removing the bindings of dropped roles");
	if (SPI_processed > 0)
		BindingsChanged();
}

/* Every backend drops its cached bindings (this one at the next command). */
static void
BindingsChanged(void)
{
	CacheInvalidateRelcacheByRelid(TopupGetSchema()->role_bindings);
}

/* A GRANT or REVOKE of one duty_grants row; the role quoted. */
static char *
GrantStatement(bool grant, HeapTuple row, TupleDesc desc, const char *role)
{
	char	   *privilege = SPI_getvalue(row, desc, 1);
	char	   *kind = SPI_getvalue(row, desc, 2);
	char	   *object = SPI_getvalue(row, desc, 3);
	char	   *columns = SPI_getvalue(row, desc, 4);	/* "a, b" or NULL */

	return psprintf("%s %s%s%s%s ON %s %s %s %s",
					grant ? "GRANT" : "REVOKE", privilege,
					columns ? " (" : "", columns ? columns : "", columns ? ")" : "",
					strcmp(kind, "schema") == 0 ? "SCHEMA" :
					strcmp(kind, "routine") == 0 ? "ROUTINE" : "TABLE",
					object, grant ? "TO" : "FROM", role);
}

#define GRANT_ROW_SQL \
	"SELECT g.privilege, g.object_kind, g.object, " \
	"       NULLIF(pg_catalog.array_to_string(ARRAY(SELECT pg_catalog.quote_ident(c) " \
	"                                                 FROM pg_catalog.unnest(g.columns) AS c), ', '), '') " \
	"  FROM topup.duty_grants g "

/* Grant a role what a duty needs. */
static void
GrantDuty(Oid role, const char *duty)
{
	const char *rolename = quote_identifier(GetUserNameFromId(role, false));
	SPITupleTable *rows;
	uint64		n;
	uint64		i;
	int			rc;

	rc = SPI_execute_with_args(GRANT_ROW_SQL "WHERE g.duty OPERATOR(pg_catalog.=) $1 ORDER BY 1, 2, 3",
							   1, (Oid[]) {TEXTOID}, (Datum[]) {CStringGetTextDatum(duty)},
							   NULL, false, 0);
	TopupSPICheck(rc, SPI_OK_SELECT, "reading a duty's grants");
	rows = SPI_tuptable;
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		rc = SPI_execute(GrantStatement(true, rows->vals[i], rows->tupdesc, rolename), false, 0);
		TopupSPICheck(rc, SPI_OK_UTILITY, "granting a duty");
	}
}

/* Revoke what the removed duty granted and no remaining binding of the role needs. */
static void
RevokeUnneeded(Oid role, const char *duty)
{
	const char *rolename = quote_identifier(GetUserNameFromId(role, false));
	SPITupleTable *rows;
	uint64		n;
	uint64		i;
	int			rc;

	rc = SPI_execute_with_args(GRANT_ROW_SQL "WHERE g.duty OPERATOR(pg_catalog.=) $2 "
							   "   AND NOT EXISTS (SELECT 1 FROM topup.duty_grants k "
							   "                     JOIN topup.role_bindings b ON b.duty OPERATOR(pg_catalog.=) k.duty "
							   "                    WHERE b.role OPERATOR(pg_catalog.=) $1 "
							   "                      AND k.privilege OPERATOR(pg_catalog.=) g.privilege "
							   "                      AND k.object_kind OPERATOR(pg_catalog.=) g.object_kind "
							   "                      AND k.object OPERATOR(pg_catalog.=) g.object "
							   "                      AND k.columns IS NOT DISTINCT FROM g.columns) "
							   " ORDER BY 1, 2, 3",
							   2, (Oid[]) {REGROLEOID, TEXTOID},
							   (Datum[]) {ObjectIdGetDatum(role), CStringGetTextDatum(duty)},
							   NULL, false, 0);
	TopupSPICheck(rc, SPI_OK_SELECT, "reading a duty's grants");
	rows = SPI_tuptable;
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		rc = SPI_execute(GrantStatement(false, rows->vals[i], rows->tupdesc, rolename), false, 0);
		TopupSPICheck(rc, SPI_OK_UTILITY, "revoking a duty");
	}
}

static void
AuditBinding(const char *action, Oid role, const char *duty, const char *client_id,
			 const char *reseller)
{
	int			rc;
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	args[0] = CStringGetTextDatum(GetUserNameFromId(TopupCallingRole(), false));
	args[1] = CStringGetTextDatum(client_id);
	args[2] = CStringGetTextDatum(action);
	args[3] = CStringGetTextDatum(GetUserNameFromId(role, false));
	args[4] = CStringGetTextDatum(duty);
	rc = SPI_execute_with_args("INSERT INTO topup.audit_log (role, client_id, action, target, old, new) "
							   "SELECT $1::pg_catalog.name, $2, $3, $4, "
							   "       CASE WHEN $3 = 'unbind' THEN d END, CASE WHEN $3 = 'bind' THEN d END "
							   "  FROM (SELECT pg_catalog.jsonb_build_object('duty', $5, 'reseller', $6::text) AS d) x",
							   6, (Oid[]) {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID},
							   (Datum[]) {args[0], args[1], args[2], args[3], args[4],
								   reseller ? CStringGetTextDatum(reseller) : (Datum) 0},
							   (char[]) {nulls[0], nulls[1], nulls[2], nulls[3], nulls[4], reseller ? ' ' : 'n'},
							   false, 0);
	TopupSPICheck(rc, SPI_OK_INSERT, "auditing a binding");
}

/* topup.bind_role(role, duty, client_id, reseller) */
Datum
topup_bind_role(PG_FUNCTION_ARGS)
{
	BindArgs	a;
	int			saved;

	RequirePrivileged("bind roles");
	saved = TopupEnterInternal();
	PG_TRY();
	{
		int			rc;

		SPI_connect();
		BindArgsCheck(fcinfo, &a);
		ForgetDroppedRoles();
		rc = SPI_execute_with_args("INSERT INTO topup.role_bindings (role, duty, client_id, reseller) "
								   "VALUES ($1, $2, $3, $4) "
								   "ON CONFLICT (role, duty, client_id, (COALESCE(reseller, ''))) DO NOTHING",
								   4, (Oid[]) {REGROLEOID, TEXTOID, TEXTOID, TEXTOID},
								   (Datum[]) {ObjectIdGetDatum(a.role), CStringGetTextDatum(a.duty),
									   CStringGetTextDatum(a.client_id),
								   a.reseller ? CStringGetTextDatum(a.reseller) : (Datum) 0},
								   (char[]) {' ', ' ', ' ', a.reseller ? ' ' : 'n'}, false, 0);
		TopupSPICheck(rc, SPI_OK_INSERT, "binding a role");
		/* binding what is already bound changes nothing */
		if (SPI_processed > 0)
		{
			GrantDuty(a.role, a.duty);
			AuditBinding("bind", a.role, a.duty, a.client_id, a.reseller);
			BindingsChanged();
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		TopupLeaveInternal(saved);
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

/* topup.unbind_role(role, duty, client_id, reseller) */
Datum
topup_unbind_role(PG_FUNCTION_ARGS)
{
	BindArgs	a;
	int			saved;

	RequirePrivileged("unbind roles");
	saved = TopupEnterInternal();
	PG_TRY();
	{
		int			rc;

		SPI_connect();
		BindArgsCheck(fcinfo, &a);
		ForgetDroppedRoles();
		rc = SPI_execute_with_args("DELETE FROM topup.role_bindings "
								   " WHERE role OPERATOR(pg_catalog.=) $1 AND duty OPERATOR(pg_catalog.=) $2 "
								   "   AND client_id OPERATOR(pg_catalog.=) $3 "
								   "   AND reseller IS NOT DISTINCT FROM $4",
								   4, (Oid[]) {REGROLEOID, TEXTOID, TEXTOID, TEXTOID},
								   (Datum[]) {ObjectIdGetDatum(a.role), CStringGetTextDatum(a.duty),
									   CStringGetTextDatum(a.client_id),
								   a.reseller ? CStringGetTextDatum(a.reseller) : (Datum) 0},
								   (char[]) {' ', ' ', ' ', a.reseller ? ' ' : 'n'}, false, 0);
		TopupSPICheck(rc, SPI_OK_DELETE, "unbinding a role");
		if (SPI_processed > 0)
		{
			RevokeUnneeded(a.role, a.duty);
			AuditBinding("unbind", a.role, a.duty, a.client_id, a.reseller);
			BindingsChanged();
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		TopupLeaveInternal(saved);
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

/*
 * topup._grant_duties(): grant every bound role what its duties need now.
 * An upgrade that adds a function to a duty inserts its duty_grants row and
 * calls this, so that roles bound before get it too.
 */
Datum
topup_grant_duties(PG_FUNCTION_ARGS)
{
	int			saved;

	RequirePrivileged("grant duties");
	saved = TopupEnterInternal();
	PG_TRY();
	{
		SPITupleTable *rows;
		uint64		n;
		uint64		i;
		int			rc;

		SPI_connect();
		ForgetDroppedRoles();
		rc = SPI_execute("SELECT DISTINCT role::pg_catalog.oid, duty FROM topup.role_bindings", false, 0);
		TopupSPICheck(rc, SPI_OK_SELECT, "reading the role bindings");
		rows = SPI_tuptable;
		n = SPI_processed;
		for (i = 0; i < n; i++)
		{
			bool		isnull;

			GrantDuty(DatumGetObjectId(SPI_getbinval(rows->vals[i], rows->tupdesc, 1, &isnull)),
					  SPI_getvalue(rows->vals[i], rows->tupdesc, 2));
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		TopupLeaveInternal(saved);
	}
	PG_END_TRY();
	/* the functions' duties may have changed with the grants */
	CacheInvalidateRelcacheByRelid(TopupGetSchema()->duty_grants);
	PG_RETURN_VOID();
}

/* topup._forget_dropped_roles() */
Datum
topup_forget_dropped_roles(PG_FUNCTION_ARGS)
{
	int			saved = TopupEnterInternal();

	PG_TRY();
	{
		SPI_connect();
		ForgetDroppedRoles();
		SPI_finish();
	}
	PG_FINALLY();
	{
		TopupLeaveInternal(saved);
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}
