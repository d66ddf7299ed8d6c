-- When an environment's next expiry warning is due (NULL: none).  The store
-- sets it on every write of a live environment and after each warning, from
-- the configured lead times and the warnings already sent, so the reaper
-- finds what is due through this index: before, each of its wakes (one per
-- create) scanned every live environment with a subquery per row.
ALTER TABLE envs ADD COLUMN next_warn_at INTEGER;
CREATE INDEX envs_next_warn ON envs (next_warn_at) WHERE next_warn_at IS NOT NULL;
