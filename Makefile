# topup — PGXS build (pgvector shape)

EXTENSION = topup
EXTVERSION = $(shell grep default_version $(EXTENSION).control | sed -e "s/default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/")

MODULE_big = topup
OBJS = \
	src/topup.o \
	src/serial.o \
	src/crypto.o \
	src/guard.o \
	src/triggers.o \
	src/vouchers.o \
	src/redeem.o \
	src/orders.o \
	src/expiry.o \
	src/accounts.o \
	src/customer_info.o \
	src/master.o \
	src/cards.o \
	src/plans.o \
	src/columns.o \
	src/schema.o \
	src/rowops.o \
	src/access.o \
	src/audit.o \
	src/events.o \
	src/provider.o \
	src/reverse.o \
	src/charge.o

# sql/install/  the install script of the current version, in parts
#               (one file per kind of object), concatenated in name order
# sql/upgrade/  the oldest released install script (0.1.0) and every
#               upgrade script topup--OLD--NEW.sql: released, never edited
# sql/regress/  pg_regress inputs, outputs in expected/regress/
# specs/        isolation specs, outputs in expected/
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
DATA = $(wildcard sql/upgrade/$(EXTENSION)--*.sql)

REGRESS = $(addprefix regress/, \
	serial customer_info generate export redeem vouchers_trigger guards copy_guard \
	expiry verify pricing card_topup direct secret access lifecycle reversal charge events upgrade)
ISOLATION = double_redeem same_key_redeem same_account_redeem expiry_vs_redeem \
	same_key_topup hot_master two_sweeps claim_orders events_out_of_order \
	concurrent_reversals concurrent_charges

# pg_regress writes results/regress/NAME.out but makes only results/
REGRESS_PREP = results/regress

SHLIB_LINK += -lcrypto
PG_CPPFLAGS += -I$(srcdir)/src

EXTRA_CLEAN = $(DATA_built)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(EXTENSION)--$(EXTVERSION).sql: $(sort $(wildcard sql/install/*.sql))
	cat $^ > $@

results/regress:
	mkdir -p $@

# Perl TAP tests of several processes (test/t/*.pl, on
# PostgreSQL::Test::Cluster), against the installed server, as pgvector runs
# them: make prove_installcheck [PROVE_TESTS=test/t/001_x.pl].  initdb
# refuses to run as root: as root, use scripts/test.sh, which runs this
# target as the postgres user in a copy of the tree.
.PHONY: prove_installcheck
prove_installcheck:
	rm -rf $(CURDIR)/tmp_check
	cd $(srcdir) && TESTDIR='$(CURDIR)' PATH="$(bindir):$$PATH" PG_REGRESS='$(top_builddir)/src/test/regress/pg_regress' $(PROVE) $(PG_PROVE_FLAGS) $(PROVE_FLAGS) $(if $(PROVE_TESTS),$(PROVE_TESTS),test/t/*.pl)
