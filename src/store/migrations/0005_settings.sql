-- dawgmon snapshot store, schema 5: settings the database remembers about itself.
-- `retention`: the daemon's configured retention (unlabelled scans kept), written at each start,
-- so `dawgctl --local` on the same database prunes no more than the daemon would.
-- `fingerprint_key`: the random key (hex) that fingerprints secret values; created on first use,
-- never printed.

CREATE TABLE settings (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;
