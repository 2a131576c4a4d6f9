-- Tresor index, schema version 7: deletion (services::DeletionService).
-- A deletion removes the index rows and queues the blob keys they referenced
-- here, in ONE transaction; the blobs are removed afterwards and each key's
-- row is cleared once its blob is gone (or is referenced again by a newer
-- store of the same content). Start-up recovery finishes whatever a crash
-- left here before anything else looks at the store (docs/storage-layout.md),
-- and the ingest recovery treats these keys as referenced, so a deleted
-- object is never re-indexed from its blob.
CREATE TABLE pending_deletion (
  blob_key  TEXT PRIMARY KEY,
  queued_at TEXT NOT NULL
) WITHOUT ROWID;

-- Is a blob key still referenced after a deletion (instance or held copy)?
-- The held copies of a deleted study.
CREATE INDEX instance_blob_key ON instance (blob_key);
CREATE INDEX quarantine_blob_key ON quarantine (blob_key);
CREATE INDEX quarantine_study ON quarantine (study_uid);

-- Fixed planner statistics for the new indexes (see 002_planner_stats.sql).
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
  ('instance',         'instance_blob_key',                    '10000000 1'),
  ('quarantine',       'quarantine_blob_key',                  '1000 1'),
  ('quarantine',       'quarantine_study',                     '1000 2');
ANALYZE sqlite_schema;
