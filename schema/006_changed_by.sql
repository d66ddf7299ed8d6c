-- 006: who asked for an environment's latest change (commit messages name
-- the requester of each change, not only of the creation).
ALTER TABLE envs ADD COLUMN changed_by TEXT NOT NULL DEFAULT '';
UPDATE envs SET changed_by = requested_by;
