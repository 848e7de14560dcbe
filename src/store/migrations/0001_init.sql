-- dawgmon snapshot store, schema 1.
-- Collector outputs are content-addressed: an unchanged output is stored once, however many
-- scans refer to it. A manifest (collector -> blob or error) is content-addressed too, so a
-- scan of an unchanged host adds one small row to `scans` and nothing else.

CREATE TABLE blobs (
    hash TEXT PRIMARY KEY NOT NULL,   -- sha256 of data
    data BLOB NOT NULL                -- JSON array of items, sorted by key
) WITHOUT ROWID;

CREATE TABLE manifests (
    hash TEXT PRIMARY KEY NOT NULL,   -- sha256 of data
    data BLOB NOT NULL                -- JSON object: collector -> {"blob": hash} | {"unavailable": why}
) WITHOUT ROWID;

-- Which blobs a manifest refers to, so pruning can find unreferenced blobs without parsing.
CREATE TABLE manifest_blobs (
    manifest TEXT NOT NULL REFERENCES manifests(hash) ON DELETE CASCADE,
    blob TEXT NOT NULL REFERENCES blobs(hash),
    PRIMARY KEY (manifest, blob)
) WITHOUT ROWID;
CREATE INDEX manifest_blobs_blob ON manifest_blobs(blob);

CREATE TABLE scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused, even after pruning
    label TEXT UNIQUE,                      -- set for baselines, which are never pruned
    started_at INTEGER NOT NULL,            -- unix milliseconds, UTC
    finished_at INTEGER NOT NULL,
    hostname TEXT NOT NULL,
    root TEXT NOT NULL,                     -- the scanned root directory
    manifest TEXT NOT NULL REFERENCES manifests(hash),
    changes INTEGER,                        -- changes against the scan before it, when compared
    warnings INTEGER
);
CREATE INDEX scans_manifest ON scans(manifest);
