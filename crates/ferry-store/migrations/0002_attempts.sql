-- Version 2: a job may run more than once (preemption, failover). Each run is an attempt
-- with its own placement, its own rented machine and its own charges.

CREATE TABLE attempts (
    job_id                 TEXT NOT NULL REFERENCES jobs (id),
    attempt                INTEGER NOT NULL CHECK (attempt >= 1),
    backend                TEXT NOT NULL,
    -- The planned offer (provider, machine type, region, price), as placement chose it.
    offer                  TEXT NOT NULL CHECK (json_valid(offer)),
    -- What the attempt ran on: for a rented machine, the name it carries at its provider
    -- (Ferry's tag, ferry-<install>-<job>-a<n>); for this host, an owned machine or a
    -- cluster (fixed leases), the backend itself.
    lease                  TEXT NOT NULL,
    step                   TEXT NOT NULL CHECK (step IN ('quoting', 'creating', 'provisioning',
                               'connecting', 'running', 'terminating', 'ended')),
    instance_id            TEXT,
    endpoint               TEXT CHECK (endpoint IS NULL OR json_valid(endpoint)),
    -- The price quoted live at creation: what the machine is billed at.
    price_per_hour_micros  INTEGER NOT NULL CHECK (price_per_hour_micros >= 0),
    -- The machine's disk, billed on top while it exists (0 where the price includes it).
    storage_per_hour_micros INTEGER NOT NULL DEFAULT 0 CHECK (storage_per_hour_micros >= 0),
    quote                  TEXT,
    created_at             INTEGER NOT NULL,
    create_sent_at         INTEGER,
    ready_at               INTEGER,
    job_started_at         INTEGER,
    job_ended_at           INTEGER,
    terminate_sent_at      INTEGER,
    gone_at                INTEGER,
    cause                  TEXT CHECK (cause IS NULL OR json_valid(cause)),
    error                  TEXT,
    provider_charge_micros INTEGER,
    updated_at             INTEGER NOT NULL,
    PRIMARY KEY (job_id, attempt)
) STRICT;

CREATE INDEX attempts_open ON attempts (step) WHERE step <> 'ended';
CREATE INDEX attempts_by_lease ON attempts (lease);

-- The ledger books per attempt: one charge of each kind per (job, attempt).
DROP TRIGGER ledger_immutable_update;
DROP TRIGGER ledger_immutable_delete;
ALTER TABLE ledger RENAME TO ledger_v1;
CREATE TABLE ledger (
    id            INTEGER PRIMARY KEY,
    job_id        TEXT NOT NULL REFERENCES jobs (id),
    attempt       INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    at            INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    amount_micros INTEGER NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    UNIQUE (job_id, attempt, kind)
) STRICT;
INSERT INTO ledger (id, job_id, attempt, at, kind, amount_micros, description)
    SELECT id, job_id, 1, at, kind, amount_micros, description FROM ledger_v1;
DROP TABLE ledger_v1;
CREATE INDEX ledger_by_at ON ledger (at);
CREATE TRIGGER ledger_immutable_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
CREATE TRIGGER ledger_immutable_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;

-- Ferry's install id: the mark in every lease name, so two installs sharing a provider
-- account never sweep each other's machines.
CREATE TABLE install (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    mark TEXT NOT NULL CHECK (length(mark) = 8)
) STRICT;
INSERT INTO install (id, mark) VALUES (1, lower(hex(randomblob(4))));
