-- 018: what OpenCost measured per namespace (PREVIEWD_OPENCOST_URL,
-- opencost.h).  The pv-opencost thread replaces every row at each poll
-- that OpenCost answered: per_day is the namespace's totalCost over the
-- answer's window, scaled to a day; at is when previewd read it, so a
-- reader can tell a figure too old to show (cost.h, pv_store_cost).
CREATE TABLE opencost (
	namespace TEXT PRIMARY KEY,
	per_day REAL NOT NULL,
	at INTEGER NOT NULL
);
