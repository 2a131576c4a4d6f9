-- Tresor index, schema version 4: person names match case-insensitively.
-- PS3.4 C.2.2.2.1 allows case-insensitive matching for PN; viewers (OHIF's
-- study list) and other archives (Orthanc's default) expect it: "doe*"
-- finds "DOE^JOHN". C-FIND and QIDO-RS share the query builder, so both
-- match the same way. NOCASE folds ASCII letters only (no ICU); other
-- characters still match exactly.
DROP INDEX patient_name;
CREATE INDEX patient_name_nocase ON patient (name COLLATE NOCASE);
-- study_referring stays: scopes compare referring physicians exactly.
CREATE INDEX study_referring_nocase ON study (referring_physician COLLATE NOCASE);
-- Fixed planner statistics for the new indexes (see 002_planner_stats.sql).
DELETE FROM sqlite_stat1 WHERE idx = 'patient_name';
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
  ('patient', 'patient_name_nocase',    '100000 2'),
  ('study',   'study_referring_nocase', '200000 400');
ANALYZE sqlite_schema;
