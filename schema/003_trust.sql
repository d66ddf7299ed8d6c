-- 003: API tokens, idempotency keys, and where each change came from.

-- Bearer tokens.  Only a SHA-256 hash of the token is stored; the token is
-- shown once, at creation.  `lookup` is the public part of the token
-- ("pvd_<lookup>_<secret>") used to find the row; the hash is then compared
-- in constant time.
CREATE TABLE tokens (
	id           INTEGER PRIMARY KEY,
	name         TEXT    NOT NULL UNIQUE,
	role         TEXT    NOT NULL CHECK (role IN ('reader', 'writer', 'admin')),
	lookup       TEXT    NOT NULL UNIQUE,
	hash         TEXT    NOT NULL,   -- hex SHA-256 of the whole token
	created_at   INTEGER NOT NULL,
	revoked_at   INTEGER,
	last_used_at INTEGER
);

-- Idempotency-Key (IETF httpapi draft): the first request with a key
-- records its fingerprint and the environment it changed in the same
-- transaction as the change; a retry with the same key and request gets
-- the answer again, a different request with that key is refused.
CREATE TABLE idempotency (
	actor       TEXT    NOT NULL,
	key         TEXT    NOT NULL,
	fingerprint TEXT    NOT NULL,   -- hex SHA-256 of method, path and body
	env_id      INTEGER,            -- the environment the request changed, if it succeeded
	wait_kind   INTEGER NOT NULL DEFAULT 0,
	wait_gen    INTEGER NOT NULL DEFAULT 0,
	status      INTEGER NOT NULL,   -- answer for requests that failed (4xx), else 0
	body        TEXT,               -- that answer's body
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (actor, key)
);

ALTER TABLE events ADD COLUMN remote_addr TEXT;
