-- 015: sleeping environments (env.h, pv_env_sleep).
--
-- values_json stays the environment's own (awake) values, the ones the API
-- shows and a PATCH changes; while asleep, Git gets sleep_values_json
-- instead: the awake values with the sleep overlay merged in, computed when
-- the environment fell asleep (and again on a values PATCH).  Waking clears
-- it, so the next push writes values_json again, byte for byte as before.
--
-- slept_at: when it fell asleep (NULL: awake).  sleep_ttl_left: with
-- PREVIEWD_SLEEP_PAUSES_TTL, the seconds its TTL had left then (expires_at
-- is 0 while asleep, so the reaper passes it by); NULL when the TTL runs on
-- or the environment never expires.
ALTER TABLE envs ADD COLUMN sleep_values_json TEXT;
ALTER TABLE envs ADD COLUMN slept_at INTEGER;
ALTER TABLE envs ADD COLUMN sleep_ttl_left INTEGER;
