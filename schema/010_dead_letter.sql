-- 010: dead letters in the outbox.
--
-- A notification the receiver keeps refusing with a 4xx (other than 408 and
-- 429) is marked dead after a bounded number of attempts instead of being
-- retried forever: the outbox keeps its order, so one such row would hold
-- every later delivery back.  A dead row keeps its last_error and attempts
-- for whoever looks; it is neither delivered nor due again.
ALTER TABLE outbox ADD COLUMN dead_at INTEGER;
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE delivered_at IS NULL AND dead_at IS NULL;
