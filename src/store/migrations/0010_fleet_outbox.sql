-- dawgmon snapshot store, schema 10: the fleet outbox (issue 19).
-- Each stored scan the daemon sends to the fleet store ([fleet] in dawgmond.toml) is queued
-- here first, as the JSON it will send, and marked sent only once PostgreSQL committed it; it
-- is sent in scan order, the oldest unsent first, retried with backoff across restarts.
-- scan_id is deliberately not a foreign key: pruning old scans must never drop an unsent one.

CREATE TABLE fleet_outbox (
    scan_id INTEGER PRIMARY KEY,            -- the local scan; sent in this order
    created_at INTEGER NOT NULL,            -- unix milliseconds, UTC
    payload BLOB NOT NULL,                  -- zstd-compressed JSON (fleet::push::Push)
    baseline INTEGER NOT NULL DEFAULT 0,    -- 1: send the scan's whole state with it
    attempts INTEGER NOT NULL DEFAULT 0,    -- failed attempts so far
    next_attempt_at INTEGER NOT NULL,       -- unix milliseconds; due when <= now
    last_error TEXT,
    last_attempt_at INTEGER,
    sent_at INTEGER                         -- set once committed; NULL while pending
);
CREATE INDEX fleet_outbox_pending ON fleet_outbox(scan_id) WHERE sent_at IS NULL;
