-- Tresor index, schema version 6: a peer may be allowed past the retrieve cap
-- (dimse.retrieve_cap instances per C-GET / C-MOVE). 0 for every existing
-- peer: none gains anything from the upgrade.
ALTER TABLE peers ADD COLUMN unlimited_retrieve INTEGER NOT NULL DEFAULT 0;
