-- dawgmon snapshot store, schema 7: content digests carried over by file metadata.
-- Per collector that hashes files (check_etc, check_boot, each watch tree): the digests its last
-- complete scan computed or reused, by file identity (see src/hostfs/digests.rs), in chunks of
-- at most 20,000 entries (about 1 MB: a million files never pass through one huge value), and
-- when it last hashed every file. Replaced at each scan; rows that cannot be read only mean
-- every file is read again.
CREATE TABLE digests (
    collector   TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    rehashed_at INTEGER NOT NULL,   -- unix milliseconds of the last full re-hash
    data        BLOB NOT NULL,
    PRIMARY KEY (collector, seq)
);
