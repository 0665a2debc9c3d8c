-- topup 0.3.0 -> 0.3.1: the house laid out (install script in parts, tests
-- by what they test); C entry points bound to this version's schema.
\echo Use "ALTER EXTENSION topup UPDATE TO '0.3.1'" to load this file. \quit
