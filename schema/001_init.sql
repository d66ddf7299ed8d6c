-- 001: environments, their history, and the Git work queue.
--
-- Every change to an environment bumps `gen`; the Git writer pushes the
-- desired state of every row with gen > pushed_gen and then records the
-- generation it pushed.  A row is therefore its own work-queue entry: no
-- separate queue can drift from the state it describes, and a crash between
-- "recorded" and "pushed" simply leaves the row dirty for the next start.

CREATE TABLE envs (
	id           INTEGER PRIMARY KEY,
	name         TEXT    NOT NULL,
	owner        TEXT    NOT NULL,
	status       TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'deleting', 'deleted', 'failed')),
	base         TEXT    NOT NULL,
	values_json  TEXT    NOT NULL,           -- full merged values, as written to values.yaml
	requested_by TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,           -- unix seconds, UTC
	updated_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	deleted_at   INTEGER,
	gen          INTEGER NOT NULL DEFAULT 1, -- desired-state generation
	pushed_gen   INTEGER NOT NULL DEFAULT 0, -- generation known to be in Git
	git_commit   TEXT,                       -- last commit carrying this env's state
	git_error    TEXT,                       -- last push error while dirty
	pushed_at    INTEGER
);

-- one live environment per name; deleted and failed records stay as history
CREATE UNIQUE INDEX envs_live_name ON envs (name) WHERE status IN ('pending', 'active', 'deleting');
CREATE INDEX envs_name ON envs (name, id);
CREATE INDEX envs_owner ON envs (owner, id);
CREATE INDEX envs_status ON envs (status, id);
CREATE INDEX envs_dirty ON envs (id) WHERE gen > pushed_gen;
CREATE INDEX envs_expiry ON envs (expires_at) WHERE status IN ('pending', 'active');

-- what happened to an environment, by whom and when
CREATE TABLE events (
	id      INTEGER PRIMARY KEY,
	env_id  INTEGER NOT NULL REFERENCES envs (id),
	name    TEXT    NOT NULL,
	kind    TEXT    NOT NULL,   -- created, updated, extended, deleting, pushed, deleted, failed
	actor   TEXT    NOT NULL,
	at      INTEGER NOT NULL,
	detail  TEXT                -- JSON, kind-specific
);
CREATE INDEX events_env ON events (env_id, id);
