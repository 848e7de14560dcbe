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

-- Collector outputs move to an ordinary (rowid) table. In a WITHOUT ROWID table a row is its
-- key's b-tree cell, and SQLite reads a cell's whole payload to compare keys when it spills
-- onto overflow pages: every lookup of a hash next to a 40 MB output (a million-file tree)
-- read and allocated those 40 MB. Here the hash is in its own index and the data stays on its
-- overflow pages until asked for. Other tables' references name "blobs", so the new table must
-- end up with that name without a rename of the old one (a rename would rewrite them): the
-- rows are set aside, the table is dropped and made again, and the foreign-key checks wait
-- for the commit (by which time every referenced hash is back).
CREATE TABLE blobs_v6 AS SELECT hash, data, base, depth FROM blobs;
PRAGMA defer_foreign_keys = ON;
DROP INDEX IF EXISTS blobs_base;
DROP TABLE blobs;
CREATE TABLE blobs (
    id    INTEGER PRIMARY KEY,
    hash  TEXT NOT NULL UNIQUE,            -- sha256 of the output's canonical JSON
    data  BLOB NOT NULL,                   -- whole or delta, maybe zstd (src/store/blobs.rs)
    base  TEXT REFERENCES blobs(hash),
    depth INTEGER NOT NULL DEFAULT 0
);
INSERT INTO blobs (hash, data, base, depth) SELECT hash, data, base, depth FROM blobs_v6;
DROP TABLE blobs_v6;
CREATE INDEX blobs_base ON blobs(base) WHERE base IS NOT NULL;
