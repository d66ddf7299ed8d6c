-- 011: the commits previewd pushed, in order, for Argo CD's ready rule.
--
-- An environment is ready when Argo CD reports its Application Synced to a
-- commit that carries the environment's current state: its own git_commit,
-- or any commit previewd pushed after it (the branch only moves forward, and
-- a later push of previewd's that did not touch the folder keeps it as it
-- was).  Telling "after" from "before" without opening the repository on
-- the Argo CD thread needs the order of the pushes: seq.  Only the latest
-- few thousand are kept (store_argocd.c prunes); a commit not in the table
-- falls back to the time rule (the sync finished after the push).
CREATE TABLE argocd_pushes (
	seq       INTEGER PRIMARY KEY,
	commit_id TEXT NOT NULL UNIQUE,
	pushed_at INTEGER NOT NULL
);
-- the revision Argo CD last reported for the environment's Application
ALTER TABLE envs ADD COLUMN argocd_revision TEXT;
