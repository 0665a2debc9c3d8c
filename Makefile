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
	src/plans.o src/direct.o src/columns.o

# The 0.1.0 install script is assembled from the parts under sql/0.1.0/,
# one file per kind of object, concatenated in name order.
DATA_built = topup--0.1.0.sql
DATA = $(wildcard sql/topup--*--*.sql)

REGRESS = serial customer_info generate export redeem vouchers_trigger guards expiry verify pricing topup direct upgrade
ISOLATION = double_redeem same_key_redeem same_account_redeem expiry_vs_redeem same_key_topup hot_master

SHLIB_LINK += -lcrypto
PG_CPPFLAGS += -I$(srcdir)/src

EXTRA_CLEAN = topup--0.1.0.sql

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

topup--0.1.0.sql: $(sort $(wildcard sql/0.1.0/*.sql))
	cat $^ > $@

# Perl TAP tests of several processes (test/t/*.pl, on
# PostgreSQL::Test::Cluster), against the installed server, as pgvector runs
# them: make prove_installcheck [PROVE_TESTS=test/t/001_x.pl].  initdb
# refuses to run as root: as root, use scripts/test.sh, which runs this
# target as the postgres user in a copy of the tree.
.PHONY: prove_installcheck
prove_installcheck:
	rm -rf $(CURDIR)/tmp_check
	cd $(srcdir) && TESTDIR='$(CURDIR)' PATH="$(bindir):$$PATH" PG_REGRESS='$(top_builddir)/src/test/regress/pg_regress' $(PROVE) $(PG_PROVE_FLAGS) $(PROVE_FLAGS) $(if $(PROVE_TESTS),$(PROVE_TESTS),test/t/*.pl)
