-- Tresor index, schema version 5: a peer may be allowed on the legacy-TLS
-- listener (retired cipher suites, opt-in, private hosts only). 0 for every
-- existing peer: none gains anything from the upgrade.
ALTER TABLE peers ADD COLUMN legacy_tls INTEGER NOT NULL DEFAULT 0;
