-- dawgmon fleet store, schema 1 (PostgreSQL 13 or later).
-- Hosts push each stored scan: its summary (scans), its changes (changes) and, once, the state
-- it started from (state, kept only as dawgmon.current). scans and changes are partitioned by
-- month, so retention is DROP TABLE of a partition. Host roles may only INSERT rows of their own
-- host (row-level security); nothing grants them UPDATE or DELETE, and the tables they feed
-- (hosts, current) are written by triggers that run as the schema's owner.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dawgmon_host') THEN
        CREATE ROLE dawgmon_host NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dawgmon_reader') THEN
        CREATE ROLE dawgmon_reader NOLOGIN;
    END IF;
END $$;

CREATE SCHEMA dawgmon;
REVOKE ALL ON SCHEMA dawgmon FROM PUBLIC;
GRANT USAGE ON SCHEMA dawgmon TO dawgmon_host, dawgmon_reader;

-- One row per host credential (dawgctl fleet add-host NAME). name and machine_id are what the
-- host last reported (the scanned root's /etc/hostname or [fleet] host, and /etc/machine-id).
CREATE TABLE dawgmon.hosts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    role name NOT NULL UNIQUE,
    name text NOT NULL,
    machine_id text,
    added_at timestamptz NOT NULL DEFAULT now(),
    first_seen timestamptz,
    last_seen timestamptz,           -- when its last scan arrived (the server's clock)
    last_scan_id bigint,             -- the host's own scan id
    last_scan_at timestamptz,        -- when that scan started (the host's clock)
    last_checkpoint text,            -- the latest sealed-history checkpoint it sent
    schedule_secs integer            -- its scan interval, for staleness
);
CREATE INDEX hosts_name ON dawgmon.hosts (name);

-- The host of the login role of this session; NULL for any other role. session_user, not
-- current_user: inside the owner's triggers current_user is the owner, and a host cannot change
-- its session user.
CREATE FUNCTION dawgmon.my_host() RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$ SELECT id FROM dawgmon.hosts WHERE role = session_user $$;

-- The newest migration applied: a client refuses a schema newer than it knows.
CREATE FUNCTION dawgmon.schema_version() RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$ SELECT max(version) FROM public._sqlx_migrations WHERE success $$;

CREATE TABLE dawgmon.scans (
    host_id bigint NOT NULL DEFAULT dawgmon.my_host(),
    scan_id bigint NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    from_scan_id bigint,
    hostname text NOT NULL,
    machine_id text NOT NULL,
    baseline boolean NOT NULL DEFAULT false,   -- the state rows of this scan were sent
    n_info integer NOT NULL DEFAULT 0,
    n_low integer NOT NULL DEFAULT 0,
    n_medium integer NOT NULL DEFAULT 0,
    n_high integer NOT NULL DEFAULT 0,
    n_critical integer NOT NULL DEFAULT 0,
    warnings integer NOT NULL DEFAULT 0,
    unavailable text[] NOT NULL DEFAULT '{}',
    schedule_secs integer,
    checkpoint text,
    received_at timestamptz NOT NULL DEFAULT now(),  -- not writable by hosts
    PRIMARY KEY (host_id, scan_id, started_at)
) PARTITION BY RANGE (started_at);
CREATE TABLE dawgmon.scans_default PARTITION OF dawgmon.scans DEFAULT;

-- severity: 0 info, 1 low, 2 medium, 3 high, 4 critical. fields: {"before": {..}, "after": {..}}
-- with the fields that changed (all of them for added and removed items).
CREATE TABLE dawgmon.changes (
    host_id bigint NOT NULL DEFAULT dawgmon.my_host(),
    scan_id bigint NOT NULL,
    seq integer NOT NULL,
    at timestamptz NOT NULL,         -- the scan's started_at
    collector text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('added', 'removed', 'modified')),
    key text NOT NULL,
    severity smallint NOT NULL,
    rule text,
    package text,
    message text NOT NULL,
    fields jsonb NOT NULL
) PARTITION BY RANGE (at);
CREATE TABLE dawgmon.changes_default PARTITION OF dawgmon.changes DEFAULT;
CREATE INDEX changes_collector_at ON dawgmon.changes (collector, at);
CREATE INDEX changes_host_at ON dawgmon.changes (host_id, at);

-- SHA-256 of an item key (collision-resistant: a hostile user names files).
CREATE FUNCTION dawgmon.key_digest(k text) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT sha256(convert_to(k, 'UTF8')) $$;

-- What each host has now: its baseline state, kept current by its changes.
CREATE TABLE dawgmon.current (
    host_id bigint NOT NULL REFERENCES dawgmon.hosts (id) ON DELETE CASCADE,
    collector text NOT NULL,
    key text NOT NULL,
    fields jsonb NOT NULL,
    since timestamptz NOT NULL
);
-- Keyed by a digest of the key and indexed by its first 200 characters: a B-tree entry holds
-- at most ~2.7 kB, and a hostile user can make a 4,000-byte path.
CREATE UNIQUE INDEX current_item ON dawgmon.current (host_id, collector, dawgmon.key_digest(key));
CREATE INDEX current_key ON dawgmon.current (left(key, 200) text_pattern_ops);

-- A host's state rows go through here into dawgmon.current; nothing is kept in it.
CREATE TABLE dawgmon.state (
    host_id bigint NOT NULL DEFAULT dawgmon.my_host(),
    scan_id bigint NOT NULL,
    at timestamptz NOT NULL,
    collector text NOT NULL,
    key text NOT NULL,
    fields jsonb NOT NULL
);

-- Monthly partitions, created on demand by the hosts (a month within the last 13 and the next
-- one; anything else lands in the default partition). Safe to call concurrently.
CREATE FUNCTION dawgmon.ensure_partitions(t timestamptz) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    m date := date_trunc('month', t AT TIME ZONE 'UTC')::date;
    parent text;
BEGIN
    IF t < now() - interval '13 months' OR t > now() + interval '40 days' THEN
        RETURN;
    END IF;
    FOREACH parent IN ARRAY ARRAY['scans', 'changes'] LOOP
        IF to_regclass(format('dawgmon.%s_%s', parent, to_char(m, 'YYYY_MM'))) IS NULL THEN
            BEGIN
                EXECUTE format(
                    'CREATE TABLE dawgmon.%I PARTITION OF dawgmon.%I FOR VALUES FROM (%L) TO (%L)',
                    parent || '_' || to_char(m, 'YYYY_MM'), parent,
                    (m::timestamp AT TIME ZONE 'UTC'),
                    ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
            EXCEPTION WHEN duplicate_table OR check_violation OR lock_not_available THEN
                NULL; -- made meanwhile, or rows of that month already sit in the default
            END;
        END IF;
    END LOOP;
END $$;

CREATE FUNCTION dawgmon.scan_arrived() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE dawgmon.hosts SET
        name = NEW.hostname,
        machine_id = NEW.machine_id,
        first_seen = COALESCE(first_seen, NEW.received_at),
        last_seen = NEW.received_at,
        last_scan_id = NEW.scan_id,
        last_scan_at = NEW.started_at,
        last_checkpoint = COALESCE(NEW.checkpoint, last_checkpoint),
        schedule_secs = NEW.schedule_secs
    WHERE id = NEW.host_id;
    IF NEW.baseline THEN
        DELETE FROM dawgmon.current WHERE host_id = NEW.host_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER scan_arrived AFTER INSERT ON dawgmon.scans
    FOR EACH ROW EXECUTE FUNCTION dawgmon.scan_arrived();

CREATE FUNCTION dawgmon.change_arrived() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.kind = 'removed' THEN
        DELETE FROM dawgmon.current
        WHERE host_id = NEW.host_id AND collector = NEW.collector AND dawgmon.key_digest(key) = dawgmon.key_digest(NEW.key);
    ELSE
        INSERT INTO dawgmon.current AS c (host_id, collector, key, fields, since)
        VALUES (NEW.host_id, NEW.collector, NEW.key,
                COALESCE(NEW.fields -> 'after', '{}'::jsonb), NEW.at)
        ON CONFLICT (host_id, collector, dawgmon.key_digest(key)) DO UPDATE SET
            fields = (c.fields - ARRAY(SELECT jsonb_object_keys(
                          COALESCE(NEW.fields -> 'before', '{}'::jsonb))))
                     || COALESCE(NEW.fields -> 'after', '{}'::jsonb),
            since = NEW.at;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER change_arrived AFTER INSERT ON dawgmon.changes
    FOR EACH ROW EXECUTE FUNCTION dawgmon.change_arrived();

CREATE FUNCTION dawgmon.state_arrived() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.host_id IS DISTINCT FROM dawgmon.my_host() THEN
        RAISE EXCEPTION 'new row violates row-level security policy for table "state"'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO dawgmon.current AS c (host_id, collector, key, fields, since)
    VALUES (NEW.host_id, NEW.collector, NEW.key, NEW.fields, NEW.at)
    ON CONFLICT (host_id, collector, dawgmon.key_digest(key)) DO UPDATE SET fields = NEW.fields, since = NEW.at;
    RETURN NULL;
END $$;
CREATE TRIGGER state_arrived BEFORE INSERT ON dawgmon.state
    FOR EACH ROW EXECUTE FUNCTION dawgmon.state_arrived();

-- Row-level security: a host inserts rows of its own host only, and reads only its own scans
-- (to see whether a retried scan already arrived). Readers read everything.
ALTER TABLE dawgmon.scans ENABLE ROW LEVEL SECURITY;
ALTER TABLE dawgmon.changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE dawgmon.hosts ENABLE ROW LEVEL SECURITY;
ALTER TABLE dawgmon.current ENABLE ROW LEVEL SECURITY;
CREATE POLICY host_inserts ON dawgmon.scans FOR INSERT TO dawgmon_host
    WITH CHECK (host_id = dawgmon.my_host());
CREATE POLICY host_reads ON dawgmon.scans FOR SELECT TO dawgmon_host
    USING (host_id = dawgmon.my_host());
CREATE POLICY host_inserts ON dawgmon.changes FOR INSERT TO dawgmon_host
    WITH CHECK (host_id = dawgmon.my_host());
CREATE POLICY reader ON dawgmon.scans FOR SELECT TO dawgmon_reader USING (true);
CREATE POLICY reader ON dawgmon.changes FOR SELECT TO dawgmon_reader USING (true);
CREATE POLICY reader ON dawgmon.hosts FOR SELECT TO dawgmon_reader USING (true);
CREATE POLICY reader ON dawgmon.current FOR SELECT TO dawgmon_reader USING (true);

-- received_at is left out: the server's clock, not the host's word.
GRANT INSERT (host_id, scan_id, started_at, finished_at, from_scan_id, hostname, machine_id,
              baseline, n_info, n_low, n_medium, n_high, n_critical, warnings, unavailable,
              schedule_secs, checkpoint)
    ON dawgmon.scans TO dawgmon_host;
GRANT SELECT (host_id, scan_id, started_at) ON dawgmon.scans TO dawgmon_host;
GRANT INSERT ON dawgmon.changes, dawgmon.state TO dawgmon_host;
GRANT SELECT ON dawgmon.hosts, dawgmon.scans, dawgmon.changes, dawgmon.current
    TO dawgmon_reader;
REVOKE ALL ON FUNCTION dawgmon.ensure_partitions(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dawgmon.ensure_partitions(timestamptz) TO dawgmon_host;
