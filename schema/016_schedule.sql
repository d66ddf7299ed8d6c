-- 016: sleeping on a schedule and when idle (sleeper.h).
--
-- schedule: the environment's own sleep schedule (schedule.h), "none" for
-- never on a schedule; NULL follows PREVIEWD_SLEEP_SCHEDULE.
-- sched_hold_until: a sleep or wake by hand (or a create) holds the
-- schedule off until then, its next boundary; NULL or past: no hold.
-- active_at: the last activity (a write through the API, chat or page, or
-- requests Prometheus saw in its namespace), the start of the idle clock;
-- NULL: created_at.
-- sleep_by: while asleep, who put it there (hand, schedule, idle): the
-- schedule wakes only what it owns.
ALTER TABLE envs ADD COLUMN schedule TEXT;
ALTER TABLE envs ADD COLUMN sched_hold_until INTEGER;
ALTER TABLE envs ADD COLUMN active_at INTEGER;
ALTER TABLE envs ADD COLUMN sleep_by TEXT;
