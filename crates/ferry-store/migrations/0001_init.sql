-- Ferry's store, version 1. STRICT tables so that a float can never land in a money or
-- time column: SQLite would otherwise store whatever it is given.

CREATE TABLE jobs (
    id                    TEXT PRIMARY KEY NOT NULL CHECK (id GLOB 'j-*'),
    name                  TEXT NOT NULL,
    state                 TEXT NOT NULL CHECK (state IN ('queued', 'starting', 'running',
                              'succeeded', 'failed', 'timed-out', 'cancelled', 'lost')),
    task                  TEXT NOT NULL CHECK (json_valid(task)),
    placement             TEXT NOT NULL CHECK (json_valid(placement)),
    backend               TEXT NOT NULL,
    backend_handle        TEXT,
    gpus                  TEXT CHECK (gpus IS NULL OR json_valid(gpus)),
    submitted_at          INTEGER NOT NULL,
    started_at            INTEGER,
    finished_at           INTEGER,
    exit_code             INTEGER,
    reason                TEXT,
    price_per_hour_micros INTEGER NOT NULL CHECK (price_per_hour_micros >= 0),
    max_runtime_s         INTEGER CHECK (max_runtime_s IS NULL OR max_runtime_s > 0),
    updated_at            INTEGER NOT NULL
) STRICT;

CREATE INDEX jobs_by_submitted ON jobs (submitted_at DESC, id DESC);
CREATE INDEX jobs_by_state ON jobs (state, submitted_at DESC);

CREATE TABLE job_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     TEXT NOT NULL REFERENCES jobs (id),
    at         INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX job_events_by_job ON job_events (job_id, seq);

-- The event log is the audit trail: it only ever grows.
CREATE TRIGGER job_events_append_only_update BEFORE UPDATE ON job_events
BEGIN SELECT RAISE(ABORT, 'job_events is append-only'); END;
CREATE TRIGGER job_events_append_only_delete BEFORE DELETE ON job_events
BEGIN SELECT RAISE(ABORT, 'job_events is append-only'); END;

CREATE TABLE allocations (
    id          INTEGER PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES jobs (id),
    backend     TEXT NOT NULL,
    device      INTEGER NOT NULL CHECK (device >= 0),
    granted_at  INTEGER NOT NULL,
    released_at INTEGER
) STRICT;

-- A device is held by at most one job at a time, whatever the code above does.
CREATE UNIQUE INDEX allocations_one_holder ON allocations (backend, device)
    WHERE released_at IS NULL;
CREATE INDEX allocations_held_by_job ON allocations (job_id) WHERE released_at IS NULL;

CREATE TABLE ledger (
    id            INTEGER PRIMARY KEY,
    job_id        TEXT NOT NULL REFERENCES jobs (id),
    at            INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    amount_micros INTEGER NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    -- One charge of each kind per job: booking again is a no-op, never a second charge.
    UNIQUE (job_id, kind)
) STRICT;

CREATE INDEX ledger_by_at ON ledger (at);

-- Booked money is never edited; a correction is a new entry.
CREATE TRIGGER ledger_immutable_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
CREATE TRIGGER ledger_immutable_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
