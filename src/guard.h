/*-------------------------------------------------------------------------
 *
 * guard.h
 *	  The internal-write flag and COPY detection the table triggers use (guard.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOPUP_GUARD_H
#define TOPUP_GUARD_H

#include "postgres.h"

/*
 * The table triggers let a write through only while one of the extension's
 * own functions runs it.  TopupEnterInternal() returns the previous depth,
 * which TopupLeaveInternal() restores (call it in PG_FINALLY so an error
 * caught by the caller cannot leave the guard open).
 */
extern int	TopupEnterInternal(void);
extern void TopupLeaveInternal(int saved);
extern bool TopupIsInternal(void);
struct RelationData;
extern bool TopupIsCopyFrom(struct RelationData *rel);

#endif							/* TOPUP_GUARD_H */
