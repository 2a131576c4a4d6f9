-- Tresor index, schema version 3: access scopes, study labels, API tokens.

-- Scope of a user / peer (core/model.h Scope): NULL = every study, otherwise
-- a JSON object {"institutions":[...],"referring_physicians":[...],"labels":[...]}
-- (an object with three empty arrays = no study at all).
ALTER TABLE users ADD COLUMN scope TEXT;
ALTER TABLE peers ADD COLUMN scope TEXT;

-- Labels an admin attaches to studies; scopes refer to them.
CREATE TABLE study_label (
  study_pk INTEGER NOT NULL REFERENCES study (id) ON DELETE CASCADE,
  label    TEXT NOT NULL,
  PRIMARY KEY (study_pk, label)
) WITHOUT ROWID;
-- (label, study_pk): the studies carrying one of a scope's labels.
CREATE INDEX study_label_label ON study_label (label);

-- Scopes by institution drive from this index (referring physician already
-- has study_referring).
CREATE INDEX study_institution ON study (institution);

-- Personal API tokens. Only the hex SHA-256 of the secret is stored.
-- created / expires are Unix seconds (UTC). Rows of a removed user are
-- deleted with it (remove_user), not by a foreign key: put_user replaces
-- the users row, which must not touch the tokens.
CREATE TABLE api_token (
  id            TEXT PRIMARY KEY,
  username      TEXT NOT NULL,
  name          TEXT NOT NULL DEFAULT '',
  secret_sha256 TEXT NOT NULL UNIQUE,
  created       INTEGER NOT NULL,
  expires       INTEGER NOT NULL,
  revoked       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_token_username ON api_token (username);

-- Fixed planner statistics for the new indexes (see 002_planner_stats.sql):
-- ~100 institutions over 200k studies, 100k label rows over ~20 labels,
-- 1000 tokens of ~10 per user.
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
  ('study',       'study_institution',               '200000 2000'),
  ('study_label', 'sqlite_autoindex_study_label_1',  '100000 2 1'),
  ('study_label', 'study_label_label',               '100000 5000 1'),
  ('api_token',   'sqlite_autoindex_api_token_1',    '1000 1'),
  ('api_token',   'sqlite_autoindex_api_token_2',    '1000 1'),
  ('api_token',   'api_token_username',              '1000 10');
ANALYZE sqlite_schema;
