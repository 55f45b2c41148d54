-- Indexes for reads that otherwise grow with all history: each was a scan
-- (or a read of every round's rows) in the query plans of the statements
-- named here.

-- A round's leaderboard (read after every scored evaluation): the round's
-- scored entries already in ranking order, no sort.
CREATE INDEX submissions_round_status ON submissions (round, status, score DESC, created_at, id);
-- The per-round limit, checked on every submission: this round's count,
-- not every round's.
CREATE INDEX submissions_account_round ON submissions (account_id, round);
-- A member's settlements (the rewards page): the primary key leads with the
-- round, so without this every settlement of every round was read.
CREATE INDEX round_settlements_account ON round_settlements (account_id, round);
-- The settlement publisher's queue.
CREATE INDEX rounds_status ON rounds (status, number);
