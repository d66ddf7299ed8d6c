-- 013: the indexes of retention (retention.h): what ended longer ago than
-- PREVIEWD_RETENTION is found by range, in small batches, without a scan.
--
-- An ended environment (deleted, or failed) ended at deleted_at, or, for a
-- failed one, which has none, at its last change.
CREATE INDEX envs_ended ON envs (coalesce(deleted_at, updated_at)) WHERE status IN ('deleted', 'failed');
-- an outbox row is done when delivered or given up (a dead letter)
CREATE INDEX outbox_done ON outbox (coalesce(delivered_at, dead_at));
-- removing an environment's events checks the outbox rows that point at
-- them (a foreign key): without this index, one scan of the outbox per event
CREATE INDEX outbox_event ON outbox (event_id);
CREATE INDEX idempotency_created ON idempotency (created_at);
CREATE INDEX warnings_expiry ON warnings (expires_at);
