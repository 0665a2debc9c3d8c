-- B4 floor (run after floor_tables.sql): b4's cards copied, ONE master
-- balance row and one fee row for client b4.
INSERT INTO bench_floor.accounts SELECT * FROM topup.accounts WHERE client_id = 'b4';
CREATE TABLE bench_floor.master (client_id text, currency text,
                                 balance numeric NOT NULL CHECK (balance >= 0),
                                 PRIMARY KEY (client_id, currency));
CREATE TABLE bench_floor.fee (LIKE bench_floor.master INCLUDING ALL);
INSERT INTO bench_floor.master VALUES ('b4', 'USD', 1000000000);
INSERT INTO bench_floor.fee VALUES ('b4', 'USD', 0);
