-- dawgmon snapshot store, schema 7: content digests carried over by file metadata.
-- One row per collector that hashes files (check_etc, check_boot, each watch tree): the
-- digests its last complete scan computed or reused, by file identity (see
-- src/hostfs/digests.rs), and when it last hashed every file. Replaced at each scan; a row
-- that cannot be read only means every file is read again.
CREATE TABLE digests (
    collector   TEXT PRIMARY KEY,
    rehashed_at INTEGER NOT NULL,   -- unix milliseconds of the last full re-hash
    data        BLOB NOT NULL
);
