/*-------------------------------------------------------------------------
 *
 * access.h
 *	  Roles bound to clients (access.c): who is calling, whether it may act
 *	  for a client, and switching to the extension owner's rights for the
 *	  extension's own bookkeeping.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOPUP_ACCESS_H
#define TOPUP_ACCESS_H

#include "postgres.h"
#include "fmgr.h"
#include "nodes/pg_list.h"

/* The duties of SPEC §8, as bits. */
#define TOPUP_DUTY_APP			0x01
#define TOPUP_DUTY_ADMIN		0x02
#define TOPUP_DUTY_RESELLER		0x04
#define TOPUP_DUTY_AUDITOR		0x08
#define TOPUP_DUTY_PROVIDER		0x10

/*
 * What a call may reach of a client: everything (the owner, or a duty other
 * than reseller), or only the vouchers of some resellers.
 */
typedef struct TopupScope
{
	bool		all;
	List	   *resellers;		/* of char *, when !all */
} TopupScope;

/*
 * The calling role: the session's current role (SET ROLE, else the login
 * role).  A SECURITY DEFINER function of the extension does not change it.
 */
extern Oid	TopupCallingRole(void);

/* The extension owner, a superuser, or a role with the owner's privileges. */
extern bool TopupRolePrivileged(Oid role);

/*
 * May the calling role run the function being called (fcinfo) for
 * client_id?  The owner and superusers may; another role may when it is
 * bound to the client with a duty that grants the function.  Otherwise
 * this raises exactly as for a client that does not exist.  scope (may be
 * NULL) says what the call may reach.
 */
extern void TopupAuthorize(FunctionCallInfo fcinfo, const char *client_id, TopupScope *scope);

/*
 * The clients the calling role may call the function being called for (a
 * function whose client_id may be NULL for "all of mine"): NIL with *all
 * set for the owner.
 */
extern List *TopupClientsFor(FunctionCallInfo fcinfo, bool *all);

/* For the owner's functions that act for no client: 42501 for anyone else. */
extern void TopupAuthorizeOwnerOnly(FunctionCallInfo fcinfo);

/* The error for a client that does not exist (or is not the caller's). */
extern void TopupUnknownClient(const char *client_id) pg_attribute_noreturn();

/*
 * Run as the extension owner (pg_cron's job_metadata.c does the same
 * around its catalog writes): the triggers' bookkeeping, so that it works
 * for a bound admin exactly as for the owner.  Restore with
 * TopupAsOwnerEnd in PG_FINALLY.
 */
typedef struct TopupSavedUser
{
	Oid			userid;
	int			sec_context;
} TopupSavedUser;

extern void TopupAsOwnerBegin(TopupSavedUser *saved);
extern void TopupAsOwnerEnd(const TopupSavedUser *saved);

#endif							/* TOPUP_ACCESS_H */
