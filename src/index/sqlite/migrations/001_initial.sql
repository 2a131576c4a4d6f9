-- Tresor index, schema version 1.
-- Every text column is NOT NULL DEFAULT '' and uses the default BINARY
-- collation, so equality, ranges and GLOB are byte-exact and can use the
-- B-tree indexes (see docs/schema.md).

CREATE TABLE patient (
  id            INTEGER PRIMARY KEY,
  patient_id    TEXT NOT NULL DEFAULT '',
  issuer        TEXT NOT NULL DEFAULT '',
  name          TEXT NOT NULL DEFAULT '',
  birth_date    TEXT NOT NULL DEFAULT '',
  sex           TEXT NOT NULL DEFAULT '',
  charset       TEXT NOT NULL DEFAULT '',
  num_studies   INTEGER NOT NULL DEFAULT 0,
  num_series    INTEGER NOT NULL DEFAULT 0,
  num_instances INTEGER NOT NULL DEFAULT 0,
  UNIQUE (patient_id, issuer)
);
CREATE INDEX patient_name ON patient (name);
CREATE INDEX patient_birth_date ON patient (birth_date);

CREATE TABLE study (
  id                  INTEGER PRIMARY KEY,
  patient_pk          INTEGER NOT NULL REFERENCES patient (id),
  study_uid           TEXT NOT NULL UNIQUE,
  date                TEXT NOT NULL DEFAULT '',
  time                TEXT NOT NULL DEFAULT '',
  accession           TEXT NOT NULL DEFAULT '',
  study_id            TEXT NOT NULL DEFAULT '',
  description         TEXT NOT NULL DEFAULT '',
  referring_physician TEXT NOT NULL DEFAULT '',
  institution         TEXT NOT NULL DEFAULT '',
  charset             TEXT NOT NULL DEFAULT '',
  num_series          INTEGER NOT NULL DEFAULT 0,
  num_instances       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX study_patient ON study (patient_pk);
CREATE INDEX study_date ON study (date, time);
CREATE INDEX study_accession ON study (accession);
CREATE INDEX study_study_id ON study (study_id);
CREATE INDEX study_referring ON study (referring_physician);

CREATE TABLE series (
  id            INTEGER PRIMARY KEY,
  study_pk      INTEGER NOT NULL REFERENCES study (id),
  series_uid    TEXT NOT NULL UNIQUE,
  modality      TEXT NOT NULL DEFAULT '',
  number        TEXT NOT NULL DEFAULT '',
  description   TEXT NOT NULL DEFAULT '',
  body_part     TEXT NOT NULL DEFAULT '',
  date          TEXT NOT NULL DEFAULT '',
  charset       TEXT NOT NULL DEFAULT '',
  num_instances INTEGER NOT NULL DEFAULT 0
);
-- (study_pk, modality) serves the foreign key and ModalitiesInStudy.
CREATE INDEX series_study_modality ON series (study_pk, modality);
CREATE INDEX series_modality ON series (modality);

CREATE TABLE instance (
  id              INTEGER PRIMARY KEY,
  series_pk       INTEGER NOT NULL REFERENCES series (id),
  sop_uid         TEXT NOT NULL UNIQUE,
  sop_class       TEXT NOT NULL DEFAULT '',
  instance_number TEXT NOT NULL DEFAULT '',
  transfer_syntax TEXT NOT NULL DEFAULT '',
  rows            TEXT NOT NULL DEFAULT '',
  columns         TEXT NOT NULL DEFAULT '',
  frames          TEXT NOT NULL DEFAULT '',
  charset         TEXT NOT NULL DEFAULT '',
  blob_key        TEXT NOT NULL,
  size            INTEGER NOT NULL,
  digest          TEXT NOT NULL,
  received_at     TEXT NOT NULL
);
CREATE INDEX instance_series ON instance (series_pk);

-- Counters kept exact by triggers (insert and delete), so computed keys
-- (NumberOf...Related...) never count rows at query time.
CREATE TRIGGER study_counts_ai AFTER INSERT ON study BEGIN
  UPDATE patient SET num_studies = num_studies + 1 WHERE id = NEW.patient_pk;
END;
CREATE TRIGGER study_counts_ad AFTER DELETE ON study BEGIN
  UPDATE patient SET num_studies = num_studies - 1 WHERE id = OLD.patient_pk;
END;
CREATE TRIGGER series_counts_ai AFTER INSERT ON series BEGIN
  UPDATE study SET num_series = num_series + 1 WHERE id = NEW.study_pk;
  UPDATE patient SET num_series = num_series + 1
    WHERE id = (SELECT patient_pk FROM study WHERE id = NEW.study_pk);
END;
CREATE TRIGGER series_counts_ad AFTER DELETE ON series BEGIN
  UPDATE study SET num_series = num_series - 1 WHERE id = OLD.study_pk;
  UPDATE patient SET num_series = num_series - 1
    WHERE id = (SELECT patient_pk FROM study WHERE id = OLD.study_pk);
END;
CREATE TRIGGER instance_counts_ai AFTER INSERT ON instance BEGIN
  UPDATE series SET num_instances = num_instances + 1 WHERE id = NEW.series_pk;
  UPDATE study SET num_instances = num_instances + 1
    WHERE id = (SELECT study_pk FROM series WHERE id = NEW.series_pk);
  UPDATE patient SET num_instances = num_instances + 1
    WHERE id = (SELECT st.patient_pk FROM series se JOIN study st ON st.id = se.study_pk
                WHERE se.id = NEW.series_pk);
END;
CREATE TRIGGER instance_counts_ad AFTER DELETE ON instance BEGIN
  UPDATE series SET num_instances = num_instances - 1 WHERE id = OLD.series_pk;
  UPDATE study SET num_instances = num_instances - 1
    WHERE id = (SELECT study_pk FROM series WHERE id = OLD.series_pk);
  UPDATE patient SET num_instances = num_instances - 1
    WHERE id = (SELECT st.patient_pk FROM series se JOIN study st ON st.id = se.study_pk
                WHERE se.id = OLD.series_pk);
END;

-- Instances held back by the demographics check. Never visible to find/locate.
CREATE TABLE quarantine (
  id                       INTEGER PRIMARY KEY,
  reason                   TEXT NOT NULL,
  received_at              TEXT NOT NULL,
  specific_character_set   TEXT NOT NULL DEFAULT '',
  patient_id               TEXT NOT NULL DEFAULT '',
  issuer_of_patient_id     TEXT NOT NULL DEFAULT '',
  patient_name             TEXT NOT NULL DEFAULT '',
  patient_birth_date       TEXT NOT NULL DEFAULT '',
  patient_sex              TEXT NOT NULL DEFAULT '',
  study_uid                TEXT NOT NULL DEFAULT '',
  study_date               TEXT NOT NULL DEFAULT '',
  study_time               TEXT NOT NULL DEFAULT '',
  accession_number         TEXT NOT NULL DEFAULT '',
  study_id                 TEXT NOT NULL DEFAULT '',
  study_description        TEXT NOT NULL DEFAULT '',
  referring_physician_name TEXT NOT NULL DEFAULT '',
  institution_name         TEXT NOT NULL DEFAULT '',
  series_uid               TEXT NOT NULL DEFAULT '',
  modality                 TEXT NOT NULL DEFAULT '',
  series_number            TEXT NOT NULL DEFAULT '',
  series_description       TEXT NOT NULL DEFAULT '',
  body_part_examined       TEXT NOT NULL DEFAULT '',
  series_date              TEXT NOT NULL DEFAULT '',
  sop_class_uid            TEXT NOT NULL DEFAULT '',
  sop_instance_uid         TEXT NOT NULL DEFAULT '',
  instance_number          TEXT NOT NULL DEFAULT '',
  transfer_syntax_uid      TEXT NOT NULL DEFAULT '',
  rows                     TEXT NOT NULL DEFAULT '',
  columns                  TEXT NOT NULL DEFAULT '',
  number_of_frames         TEXT NOT NULL DEFAULT '',
  blob_key                 TEXT NOT NULL,
  blob_size                INTEGER NOT NULL,
  blob_digest              TEXT NOT NULL
);
CREATE INDEX quarantine_sop ON quarantine (sop_instance_uid);

-- Registered DICOM peers. hosts and operations are comma-separated lists.
CREATE TABLE peers (
  ae_title              TEXT PRIMARY KEY,
  hosts                 TEXT NOT NULL DEFAULT '',
  port                  INTEGER NOT NULL DEFAULT 0,
  operations            TEXT NOT NULL DEFAULT '',
  cert_sha256           TEXT NOT NULL DEFAULT '',
  require_user_identity INTEGER NOT NULL DEFAULT 0,
  allow_plaintext       INTEGER NOT NULL DEFAULT 0,
  unlimited_find        INTEGER NOT NULL DEFAULT 0,
  updated_at            TEXT NOT NULL
);

-- Users. roles is a comma-separated list of role names.
CREATE TABLE users (
  username      TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  roles         TEXT NOT NULL DEFAULT '',
  enabled       INTEGER NOT NULL DEFAULT 1,
  updated_at    TEXT NOT NULL
);
