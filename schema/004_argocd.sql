-- 004: what Argo CD says about each environment's Application.
ALTER TABLE envs ADD COLUMN argocd_sync TEXT;        -- Synced, OutOfSync, Unknown
ALTER TABLE envs ADD COLUMN argocd_health TEXT;      -- Healthy, Progressing, Degraded, Missing, ...
ALTER TABLE envs ADD COLUMN argocd_checked_at INTEGER;
ALTER TABLE envs ADD COLUMN argocd_ready_at INTEGER; -- first time Healthy: the "ready" notification went out
