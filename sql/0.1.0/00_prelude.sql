-- topup 0.1.0 install script, assembled from sql/0.1.0/*.sql by the Makefile.
-- Released scripts are never edited: changes go into sql/topup--A--B.sql.

\echo Use "CREATE EXTENSION topup CASCADE" to load this file. \quit

