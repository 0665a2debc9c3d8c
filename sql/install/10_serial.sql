-- topup.voucher_serial: the public, non-secret number printed on a voucher,
-- SERIES-DIGITS (e.g. 101-23423427), with a Luhn check digit.  Implemented in
-- src/serial.c as a fixed 16-byte value with btree and hash opclasses.

CREATE TYPE topup.voucher_serial;

CREATE FUNCTION topup.voucher_serial_in(pg_catalog.cstring)
RETURNS topup.voucher_serial
AS 'MODULE_PATHNAME', 'topup_serial_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_out(topup.voucher_serial)
RETURNS pg_catalog.cstring
AS 'MODULE_PATHNAME', 'topup_serial_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_recv(pg_catalog.internal)
RETURNS topup.voucher_serial
AS 'MODULE_PATHNAME', 'topup_serial_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_send(topup.voucher_serial)
RETURNS pg_catalog.bytea
AS 'MODULE_PATHNAME', 'topup_serial_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE topup.voucher_serial (
    INTERNALLENGTH = 16,
    INPUT = topup.voucher_serial_in,
    OUTPUT = topup.voucher_serial_out,
    RECEIVE = topup.voucher_serial_recv,
    SEND = topup.voucher_serial_send,
    ALIGNMENT = double,
    STORAGE = plain
);

COMMENT ON TYPE topup.voucher_serial IS
    'public voucher serial number SERIES-DIGITS: 1-10 character series, sequence number and Luhn check digit';
COMMENT ON FUNCTION topup.voucher_serial_in(pg_catalog.cstring) IS
    'text input of voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_out(topup.voucher_serial) IS
    'text output of voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_recv(pg_catalog.internal) IS
    'binary input of voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_send(topup.voucher_serial) IS
    'binary output of voucher_serial';

-- Accessors and constructor.

CREATE FUNCTION topup.serial_series(topup.voucher_serial)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'topup_serial_series'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.serial_number(topup.voucher_serial)
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'topup_serial_number'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.make_serial(series pg_catalog.text, number pg_catalog.int8)
RETURNS topup.voucher_serial
AS 'MODULE_PATHNAME', 'topup_make_serial'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION topup.serial_series(topup.voucher_serial) IS
    'series part of a voucher serial, upper case';
COMMENT ON FUNCTION topup.serial_number(topup.voucher_serial) IS
    'sequence number of a voucher serial, without check digit';
COMMENT ON FUNCTION topup.make_serial(pg_catalog.text, pg_catalog.int8) IS
    'build a voucher serial from its series and sequence number; the check digit is computed';

-- Comparison and hash support.

CREATE FUNCTION topup.voucher_serial_eq(topup.voucher_serial, topup.voucher_serial)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'topup_serial_eq'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_ne(topup.voucher_serial, topup.voucher_serial)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'topup_serial_ne'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_lt(topup.voucher_serial, topup.voucher_serial)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'topup_serial_lt'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_le(topup.voucher_serial, topup.voucher_serial)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'topup_serial_le'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_gt(topup.voucher_serial, topup.voucher_serial)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'topup_serial_gt'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_ge(topup.voucher_serial, topup.voucher_serial)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'topup_serial_ge'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_cmp(topup.voucher_serial, topup.voucher_serial)
RETURNS pg_catalog.int4
AS 'MODULE_PATHNAME', 'topup_serial_cmp'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_hash(topup.voucher_serial)
RETURNS pg_catalog.int4
AS 'MODULE_PATHNAME', 'topup_serial_hash'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION topup.voucher_serial_hash_extended(topup.voucher_serial, pg_catalog.int8)
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'topup_serial_hash_extended'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION topup.voucher_serial_eq(topup.voucher_serial, topup.voucher_serial) IS
    'implementation of = operator for voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_ne(topup.voucher_serial, topup.voucher_serial) IS
    'implementation of <> operator for voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_lt(topup.voucher_serial, topup.voucher_serial) IS
    'implementation of < operator for voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_le(topup.voucher_serial, topup.voucher_serial) IS
    'implementation of <= operator for voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_gt(topup.voucher_serial, topup.voucher_serial) IS
    'implementation of > operator for voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_ge(topup.voucher_serial, topup.voucher_serial) IS
    'implementation of >= operator for voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_cmp(topup.voucher_serial, topup.voucher_serial) IS
    'btree comparison function for voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_hash(topup.voucher_serial) IS
    'hash function for voucher_serial';
COMMENT ON FUNCTION topup.voucher_serial_hash_extended(topup.voucher_serial, pg_catalog.int8) IS
    'seeded 64-bit hash function for voucher_serial';

CREATE OPERATOR topup.= (
    LEFTARG = topup.voucher_serial,
    RIGHTARG = topup.voucher_serial,
    FUNCTION = topup.voucher_serial_eq,
    COMMUTATOR = OPERATOR(topup.=),
    NEGATOR = OPERATOR(topup.<>),
    RESTRICT = pg_catalog.eqsel,
    JOIN = pg_catalog.eqjoinsel,
    HASHES,
    MERGES
);

CREATE OPERATOR topup.<> (
    LEFTARG = topup.voucher_serial,
    RIGHTARG = topup.voucher_serial,
    FUNCTION = topup.voucher_serial_ne,
    COMMUTATOR = OPERATOR(topup.<>),
    NEGATOR = OPERATOR(topup.=),
    RESTRICT = pg_catalog.neqsel,
    JOIN = pg_catalog.neqjoinsel
);

CREATE OPERATOR topup.< (
    LEFTARG = topup.voucher_serial,
    RIGHTARG = topup.voucher_serial,
    FUNCTION = topup.voucher_serial_lt,
    COMMUTATOR = OPERATOR(topup.>),
    NEGATOR = OPERATOR(topup.>=),
    RESTRICT = pg_catalog.scalarltsel,
    JOIN = pg_catalog.scalarltjoinsel
);

CREATE OPERATOR topup.<= (
    LEFTARG = topup.voucher_serial,
    RIGHTARG = topup.voucher_serial,
    FUNCTION = topup.voucher_serial_le,
    COMMUTATOR = OPERATOR(topup.>=),
    NEGATOR = OPERATOR(topup.>),
    RESTRICT = pg_catalog.scalarlesel,
    JOIN = pg_catalog.scalarlejoinsel
);

CREATE OPERATOR topup.> (
    LEFTARG = topup.voucher_serial,
    RIGHTARG = topup.voucher_serial,
    FUNCTION = topup.voucher_serial_gt,
    COMMUTATOR = OPERATOR(topup.<),
    NEGATOR = OPERATOR(topup.<=),
    RESTRICT = pg_catalog.scalargtsel,
    JOIN = pg_catalog.scalargtjoinsel
);

CREATE OPERATOR topup.>= (
    LEFTARG = topup.voucher_serial,
    RIGHTARG = topup.voucher_serial,
    FUNCTION = topup.voucher_serial_ge,
    COMMUTATOR = OPERATOR(topup.<=),
    NEGATOR = OPERATOR(topup.<),
    RESTRICT = pg_catalog.scalargesel,
    JOIN = pg_catalog.scalargejoinsel
);

COMMENT ON OPERATOR topup.= (topup.voucher_serial, topup.voucher_serial) IS
    'equal';
COMMENT ON OPERATOR topup.<> (topup.voucher_serial, topup.voucher_serial) IS
    'not equal';
COMMENT ON OPERATOR topup.< (topup.voucher_serial, topup.voucher_serial) IS
    'less than: by series text, then by sequence number';
COMMENT ON OPERATOR topup.<= (topup.voucher_serial, topup.voucher_serial) IS
    'less than or equal: by series text, then by sequence number';
COMMENT ON OPERATOR topup.> (topup.voucher_serial, topup.voucher_serial) IS
    'greater than: by series text, then by sequence number';
COMMENT ON OPERATOR topup.>= (topup.voucher_serial, topup.voucher_serial) IS
    'greater than or equal: by series text, then by sequence number';

-- Operator classes.  Each access method has its own operator family, both
-- named voucher_serial_ops; the "=" operator is shared, which is what lets
-- the planner use a hash join or a merge join on the same join clause.
-- Support function 4 (btequalimage) allows btree deduplication: equal
-- values are always bitwise equal.

CREATE OPERATOR CLASS topup.voucher_serial_ops
DEFAULT FOR TYPE topup.voucher_serial USING btree AS
    OPERATOR 1 topup.< (topup.voucher_serial, topup.voucher_serial),
    OPERATOR 2 topup.<= (topup.voucher_serial, topup.voucher_serial),
    OPERATOR 3 topup.= (topup.voucher_serial, topup.voucher_serial),
    OPERATOR 4 topup.>= (topup.voucher_serial, topup.voucher_serial),
    OPERATOR 5 topup.> (topup.voucher_serial, topup.voucher_serial),
    FUNCTION 1 topup.voucher_serial_cmp(topup.voucher_serial, topup.voucher_serial),
    FUNCTION 4 pg_catalog.btequalimage(pg_catalog.oid);

CREATE OPERATOR CLASS topup.voucher_serial_ops
DEFAULT FOR TYPE topup.voucher_serial USING hash AS
    OPERATOR 1 topup.= (topup.voucher_serial, topup.voucher_serial),
    FUNCTION 1 topup.voucher_serial_hash(topup.voucher_serial),
    FUNCTION 2 topup.voucher_serial_hash_extended(topup.voucher_serial, pg_catalog.int8);

COMMENT ON OPERATOR FAMILY topup.voucher_serial_ops USING btree IS
    'btree operator family of voucher_serial';
COMMENT ON OPERATOR CLASS topup.voucher_serial_ops USING btree IS
    'default btree operator class of voucher_serial: series text, then sequence number';
COMMENT ON OPERATOR FAMILY topup.voucher_serial_ops USING hash IS
    'hash operator family of voucher_serial';
COMMENT ON OPERATOR CLASS topup.voucher_serial_ops USING hash IS
    'default hash operator class of voucher_serial';
