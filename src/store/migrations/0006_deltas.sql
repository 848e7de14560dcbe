-- dawgmon snapshot store, schema 6: storage by the change.
-- A blob's row may now hold a delta against another blob (`base`) instead of the whole output,
-- and rows larger than 512 bytes are zstd-compressed (see src/store/blobs.rs). The hash is
-- still the sha256 of the whole output's JSON, so deduplication is unchanged. `depth` counts
-- the deltas between a row and a whole output (0: whole). Rows written before this schema are
-- whole and uncompressed: they read as before and serve as bases.
-- Pruning keeps a blob while a manifest or another blob's delta refers to it.
ALTER TABLE blobs ADD COLUMN base TEXT REFERENCES blobs(hash);
ALTER TABLE blobs ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;
CREATE INDEX blobs_base ON blobs(base) WHERE base IS NOT NULL;
