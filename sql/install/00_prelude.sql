-- topup install script of the current version (default_version in
-- topup.control), assembled by the Makefile from sql/install/*.sql in name
-- order: one file per kind of object, so each object is found by name.
--
-- A released version's script is never edited.  A change to the schema goes
-- into these parts AND into an upgrade script sql/upgrade/topup--OLD--NEW.sql;
-- the upgrade test (sql/regress/upgrade.sql) checks that a fresh install and
-- an install upgraded from 0.1.0 end with the same catalog.

\echo Use "CREATE EXTENSION topup CASCADE" to load this file. \quit
