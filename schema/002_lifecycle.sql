-- 002: expiry warnings and the notification outbox.
--
-- A warning is sent once per lead time per expiry: extending an environment
-- changes expires_at and so re-arms every lead time.
CREATE TABLE warnings (
	env_id     INTEGER NOT NULL REFERENCES envs (id),
	lead       INTEGER NOT NULL,   -- seconds before expiry
	expires_at INTEGER NOT NULL,   -- the expiry this warning was about
	sent_at    INTEGER NOT NULL,
	PRIMARY KEY (env_id, lead, expires_at)
);

-- Notifications to deliver, written in the same transaction as the change
-- that causes them; the notifier thread delivers them at least once.  The
-- row id is the delivery id receivers use to drop duplicates.
CREATE TABLE outbox (
	id              INTEGER PRIMARY KEY,
	event_id        INTEGER NOT NULL REFERENCES events (id),
	kind            TEXT    NOT NULL,   -- created, ready, expiring, extended, deleted, failed
	payload         TEXT    NOT NULL,   -- JSON snapshot of the environment at the event
	created_at      INTEGER NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	delivered_at    INTEGER,
	last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE delivered_at IS NULL;
CREATE INDEX events_name ON events (name, id);
