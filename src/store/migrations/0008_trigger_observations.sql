-- dawgmon snapshot store, schema 8: what started a scan, and what was seen between scans.
-- `scans.trigger` is one of schedule, request, event, overflow, startup, poll
-- (src/daemon/trigger.rs); scans stored before this schema have NULL, shown as "-": whether
-- they were scheduled or requested was not recorded.
ALTER TABLE scans ADD COLUMN trigger TEXT;

-- A surface item seen by the realtime watch at the moment an event showed it (a setuid file
-- fstatat'ed when it was created, a sudoers line read when the drop-in was written), with what
-- the kernel said about who did it. A report between two scans lists the items observed
-- between them that the later scan no longer has ("appeared at T1 by ..., gone by T2").
-- Rows older than the oldest stored scan are pruned with the scans.
CREATE TABLE observations (
    id        INTEGER PRIMARY KEY,
    seen_at   INTEGER NOT NULL,      -- unix milliseconds, UTC
    collector TEXT NOT NULL,
    key       TEXT NOT NULL,
    fields    TEXT NOT NULL,         -- JSON object, as the collector's item would hold
    pid       INTEGER,               -- the process the event named (0 or NULL: unknown)
    uid       INTEGER,               -- its real uid, read while it was alive
    comm      TEXT,
    exe       TEXT
);
CREATE INDEX observations_seen_at ON observations(seen_at);
