-- 009: the blob ids of the values.yaml and previewd.json previewd last
-- pushed for an environment, so that each fetch can tell a folder changed
-- outside previewd (drift) by comparing tree entry ids, without reading a
-- blob.  NULL until the next push of the row, or until the first comparison
-- takes what the tip holds as the baseline (rows from before this migration).
ALTER TABLE envs ADD COLUMN pushed_values_oid TEXT;
ALTER TABLE envs ADD COLUMN pushed_meta_oid TEXT;
