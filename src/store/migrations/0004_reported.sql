-- dawgmon snapshot store, schema 4: every stored scan is reported exactly once, and mail that
-- cannot be delivered is given up instead of retried forever.
--
-- scans.reported_at: when the daemon reported the scan (wrote its mail to the outbox, or decided
-- that it needs none), in the same transaction as the outbox row; NULL until then. A scan stored
-- by anyone (the daemon, `dawgctl --local`) starts unreported, and the daemon reports unreported
-- scans in id order. Scans stored before this schema were handled by the old rules: reported.
ALTER TABLE scans ADD COLUMN reported_at INTEGER;          -- unix milliseconds, UTC
UPDATE scans SET reported_at = finished_at;
CREATE INDEX scans_unreported ON scans(id) WHERE reported_at IS NULL;

-- outbox.failed_at: set when delivery was given up (a permanent refusal repeated, or too old);
-- such a message is neither sent nor retried, and `dawgctl status` shows it.
ALTER TABLE outbox ADD COLUMN failed_at INTEGER;           -- unix milliseconds, UTC
