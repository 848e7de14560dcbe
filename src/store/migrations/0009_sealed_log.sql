-- dawgmon snapshot store, schema 9: the sealed history (see src/seal/ and docs/trust.md).
-- `log`: the leaves of an append-only RFC 6962 Merkle tree, one per event (a scan stored, its
-- report sent, a label set or moved, scans pruned, a seal initialised), in order; `seq` is the
-- leaf's index from 0. `entry` holds the canonical bytes the leaf hashes; pruning a scan empties
-- its entry but keeps the leaf hash, so the tree stays verifiable whatever the retention.
CREATE TABLE log (
    seq     INTEGER PRIMARY KEY,      -- leaf index, from 0, no gaps
    kind    TEXT NOT NULL,            -- scan, report, label, prune, init
    scan_id INTEGER,                  -- the scan the entry is about, if one
    at      INTEGER NOT NULL,         -- unix milliseconds, UTC
    entry   BLOB,                     -- canonical entry (src/seal/entry.rs); NULL once pruned
    leaf    BLOB NOT NULL             -- SHA-256(0x00 || entry)
);
CREATE INDEX log_scan ON log(scan_id) WHERE scan_id IS NOT NULL;

-- `seals`: one checkpoint per epoch: the tree's size and root at that epoch, sealed with that
-- epoch's key (HMAC-SHA256 over the checkpoint line, epoch number included).
CREATE TABLE seals (
    epoch      INTEGER PRIMARY KEY,
    generation INTEGER NOT NULL,
    tree_size  INTEGER NOT NULL,
    root       BLOB NOT NULL,
    sealed_at  INTEGER NOT NULL,      -- unix milliseconds, UTC
    seal       BLOB NOT NULL
);
