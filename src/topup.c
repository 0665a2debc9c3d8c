/*-------------------------------------------------------------------------
 *
 * topup.c
 *	  Module entry point of the topup extension: the module magic block,
 *	  _PG_init and the GUCs every other file reads.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "crypto.h"
#include "topup.h"

#if PG_VERSION_NUM >= 180000
PG_MODULE_MAGIC_EXT(.name = "topup", .version = "0.5.0");
#else
PG_MODULE_MAGIC;
#endif

void		_PG_init(void);

/* GUC values */
int			topup_max_batch = 1000000;
double		topup_max_pin_density = 0.001;
int			topup_max_failed_redeems = 5;
int			topup_redeem_lockout = 15 * 60;
int			topup_expiry_max_rate = 60000;
bool		topup_notify_events = false;
int			topup_expiry_notice = 7 * 24 * 3600;

void
_PG_init(void)
{
	DefineCustomIntVariable("topup.max_batch",
							"Largest quantity generate_vouchers accepts in one call.",
							NULL,
							&topup_max_batch,
							1000000, 1, 100000000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomRealVariable("topup.max_pin_density",
							 "Largest share of a PIN space that live vouchers may fill.",
							 "After a generation, live (new or blocked) vouchers with a given PIN length "
							 "must not exceed this fraction of 10^length, so a guessed PIN rarely hits.",
							 &topup_max_pin_density,
							 0.001, 1e-12, 1.0,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("topup.max_failed_redeems",
							"Failed redeem attempts that lock an account or source out.",
							NULL,
							&topup_max_failed_redeems,
							5, 1, 1000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("topup.redeem_lockout",
							"Window in which failed redeem attempts are counted for the lockout.",
							NULL,
							&topup_redeem_lockout,
							15 * 60, 1, 365 * 24 * 3600,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("topup.expiry_max_rate",
							"Most vouchers per second run_expiry expires (0: no limit).",
							"The sweep paces its batches to this rate so that redeems running "
							"alongside keep most of the machine; a batch itself runs at full speed.",
							&topup_expiry_max_rate,
							60000, 0, PG_INT32_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("topup.notify_events",
							 "Send NOTIFY topup_events (once per transaction) when events are written.",
							 "PostgreSQL serialises the commits of notifying transactions, so this is off "
							 "by default: readers poll topup.events_since().",
							 &topup_notify_events,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("topup.expiry_notice",
							"How long before its expiry a voucher's voucher.expiring event is written.",
							NULL,
							&topup_expiry_notice,
							7 * 24 * 3600, 0, 365 * 24 * 3600,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);

#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("topup");
#else
	EmitWarningsOnPlaceholders("topup");
#endif

	TopupCryptoInit();
}
