CREATE TABLE pull_requests (
	id INTEGER PRIMARY KEY,
	forge TEXT NOT NULL,             -- 'github' | 'gitlab' | 'gitea'
	repo TEXT NOT NULL,              -- GitHub full_name, GitLab path_with_namespace, Gitea full_name
	project_id TEXT,                 -- GitLab's numeric project id (from the payload), else NULL
	number INTEGER NOT NULL,         -- PR number / MR iid
	env_name TEXT NOT NULL,          -- the environment this PR maps to
	state TEXT NOT NULL,             -- 'open' | 'closed'
	head_sha TEXT NOT NULL,
	head_branch TEXT NOT NULL,
	author TEXT NOT NULL,
	reply TEXT,                      -- the last comment command's outcome, for the sticky comment (prlife sets; forge shows then leaves it)
	reply_gen INTEGER NOT NULL DEFAULT 0, -- bumped by prlife with each new reply
	comment_id TEXT,                 -- the sticky comment/note id (forge writes)
	deployment_id TEXT,              -- GitHub deployment id for deployment_sha (forge writes)
	deployment_sha TEXT,             -- (forge writes)
	reported TEXT,                   -- JSON of the last state the forge accepted (forge writes)
	next_attempt_at INTEGER NOT NULL DEFAULT 0, -- rate-limit / retry backoff (forge writes)
	updated_at INTEGER NOT NULL,
	UNIQUE (forge, repo, number)
);
