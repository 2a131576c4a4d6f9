-- Fixed planner statistics (sqlite_stat1) describing a large archive:
-- 100k patients, 200k studies, 1M series, 10M instances, ~10 modalities.
-- Without them SQLite's default estimates make it scan the study table for
-- a PatientName prefix at study level. Fixed figures keep every plan the
-- same from the first instance on; Tresor never runs ANALYZE or
-- PRAGMA optimize, so they are not overwritten. A migration that adds an
-- index adds its row here too (see docs/schema.md).
-- Format: 'rows avg-rows-per-distinct-prefix-1 ...'.
ANALYZE sqlite_schema;
DELETE FROM sqlite_stat1;
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
  ('patient',  'sqlite_autoindex_patient_1',  '100000 1 1'),
  ('patient',  'patient_name',                '100000 2'),
  ('patient',  'patient_birth_date',          '100000 10'),
  ('study',    'sqlite_autoindex_study_1',    '200000 1'),
  ('study',    'study_patient',               '200000 2'),
  ('study',    'study_date',                  '200000 50 1'),
  ('study',    'study_accession',             '200000 1'),
  ('study',    'study_study_id',              '200000 20'),
  ('study',    'study_referring',             '200000 400'),
  ('series',   'sqlite_autoindex_series_1',   '1000000 1'),
  ('series',   'series_study_modality',       '1000000 5 2'),
  ('series',   'series_modality',             '1000000 100000'),
  ('instance', 'sqlite_autoindex_instance_1', '10000000 1'),
  ('instance', 'instance_series',             '10000000 10'),
  ('quarantine', 'quarantine_sop',            '1000 1'),
  ('peers',    'sqlite_autoindex_peers_1',    '100 1'),
  ('users',    'sqlite_autoindex_users_1',    '100 1');
-- Reload the statistics on this connection.
ANALYZE sqlite_schema;
