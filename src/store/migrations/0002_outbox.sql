-- dawgmon snapshot store, schema 2: the mail outbox.
-- A report is written here before it is sent, and marked sent only once the server (or the
-- local MTA) accepted it, so failures are retried with backoff across restarts and nothing is
-- lost. scan_id is deliberately not a foreign key: pruning old scans must never drop unsent mail.

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scan_id INTEGER,                        -- the scan the message reports on, if any
    created_at INTEGER NOT NULL,            -- unix milliseconds, UTC; also the Date header
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT,
    recipients TEXT NOT NULL,               -- JSON array of addresses
    attempts INTEGER NOT NULL DEFAULT 0,    -- failed attempts so far
    next_attempt_at INTEGER NOT NULL,       -- unix milliseconds; due when <= now
    last_error TEXT,                        -- the error of the last failed attempt
    last_attempt_at INTEGER,                -- when the last failed attempt was made
    sent_at INTEGER                         -- set once accepted; NULL while pending
);
CREATE INDEX outbox_pending ON outbox(next_attempt_at) WHERE sent_at IS NULL;
