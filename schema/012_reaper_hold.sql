-- 012: expiries the reaper holds instead of carrying out.
--
-- When more than PREVIEWD_REAP_HOLD environments are overdue by more than
-- PREVIEWD_REAP_HOLD_AFTER at once (after downtime, a clock step, a restored
-- database, a lowered maximum TTL), removing them all is more likely a
-- mistake than the plan: the reaper records each such expiry here and
-- leaves the environment alone until an admin releases the set.
--
-- A row is about one expiry of one environment: it counts only while the
-- environment is live with that same expires_at, so an extension or an
-- explicit delete ends it without touching this table.  released_at set:
-- an admin let that expiry go, and the reaper carries it out.
CREATE TABLE reaper_holds (
	env_id      INTEGER PRIMARY KEY REFERENCES envs (id),
	expires_at  INTEGER NOT NULL,   -- the expiry held
	held_at     INTEGER NOT NULL,
	released_at INTEGER,
	released_by TEXT
);
