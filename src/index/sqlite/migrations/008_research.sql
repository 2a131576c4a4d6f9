-- Tresor index, schema version 8: de-identified export (services::ExportService).
-- The pseudonym map of each research project: which original patient a
-- pseudonym stands for. It never leaves Tresor (no export, no API answer);
-- only `tresor export reidentify` (admin, audited) reads it back.
CREATE TABLE research_pseudonym (
  project     TEXT NOT NULL,
  pseudonym   TEXT NOT NULL,
  patient_id  TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  PRIMARY KEY (project, pseudonym)
) WITHOUT ROWID;

-- The studies exported to each project: original Study Instance UID -> the
-- de-identified copy's UID (also archived, labelled with the project).
CREATE TABLE research_export (
  project         TEXT NOT NULL,
  study_uid       TEXT NOT NULL,
  deid_study_uid  TEXT NOT NULL,
  target          TEXT NOT NULL,   -- dir, zip, peer
  exported_at     TEXT NOT NULL,
  PRIMARY KEY (project, study_uid, deid_study_uid, exported_at)
) WITHOUT ROWID;
