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

#include "fmgr.h"

/*
 * The table triggers let a write through only while one of the extension's
 * own functions runs it.  TopupEnterInternal() returns the previous depth,
 * which TopupLeaveInternal() restores (call it in PG_FINALLY so an error
 * caught by the caller cannot leave the guard open).
 */
extern int	TopupEnterInternal(void);
extern void TopupLeaveInternal(int saved);
extern bool TopupIsInternal(void);

/*
 * Run body(fcinfo) connected to SPI with the guard open, and close both:
 * the shape of a money-moving function once its arguments are checked.
 * body returns its result in the caller's memory context (SPI_finish
 * frees what SPI allocated).
 */
typedef Datum (*TopupBody) (FunctionCallInfo fcinfo);
extern Datum TopupRunInternal(FunctionCallInfo fcinfo, TopupBody body);
struct RelationData;
extern bool TopupIsCopyFrom(struct RelationData *rel);

#endif							/* TOPUP_GUARD_H */
