-- Version 3: every write to a job's row bumps its version, so that a reader keeping jobs in
-- memory between passes (the scheduler's queue) reads again only the rows that changed.
ALTER TABLE jobs ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

-- Whatever statement changes a row, its version moves on (the trigger's own update leaves
-- the version changed, so it does not fire again).
CREATE TRIGGER jobs_version AFTER UPDATE ON jobs
WHEN NEW.version = OLD.version
BEGIN
    UPDATE jobs SET version = OLD.version + 1 WHERE id = NEW.id;
END;
