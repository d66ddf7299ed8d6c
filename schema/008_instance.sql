-- Which previewd this database is.  Every previewd.json it writes carries
-- this id with the record's id, so a folder is provably this instance's: a
-- marker someone wrote or copied by hand grants nothing, and `recover`
-- adopts only its own markers.  One row, made on first use; a database
-- that `recover` builds from scratch takes the one id its markers name.
CREATE TABLE instance (
	one INTEGER PRIMARY KEY CHECK (one = 1),
	id TEXT NOT NULL
);
