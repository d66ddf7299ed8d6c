-- 005: the Argo CD cluster an environment is placed on ("" = the ApplicationSet's default).
ALTER TABLE envs ADD COLUMN cluster TEXT NOT NULL DEFAULT '';
