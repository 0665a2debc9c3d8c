-- B7 (run after topup_cards.sql, B4's set-up): client b4's provider
-- channel 'prov'.  A top-up through it holds amount + fee until a worker
-- reports it; the lease (attempt_timeout) is long enough that no claimed
-- order times out during a run, however slow the machine.
SELECT topup.set_channel('prov', 'provider', '10 minutes', 5, 'b4');
