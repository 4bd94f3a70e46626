-- Bulk import of a department's existing customers (issue 17, app/imports.py). The upload's rows are stored with
-- the job before the answer (the file itself is not kept), so a job survives a crash of the service; a worker
-- fills in each row's outcome and the job's progress in the same transaction as the captures the rows caused, so
-- a restarted worker resumes at the first row without an outcome and the result is the one an uninterrupted run
-- gives. Operational records, not events: what the import changed is in the leads' own events.
CREATE TABLE leads_import_jobs (
    job_id        text PRIMARY KEY,
    dry_run       boolean     NOT NULL,
    status        text        NOT NULL CHECK (status IN ('queued', 'running', 'done')),
    file_name     text        NOT NULL,
    file_sha256   text        NOT NULL,
    team_id       text,
    channel       text        NOT NULL,
    requested_by  text        NOT NULL,
    total_rows    integer     NOT NULL,
    processed     integer     NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    finished_at   timestamptz
);
CREATE INDEX leads_import_jobs_pending ON leads_import_jobs (created_at) WHERE status <> 'done';

CREATE TABLE leads_import_rows (
    job_id      text    NOT NULL REFERENCES leads_import_jobs (job_id),
    row_number  integer NOT NULL,  -- the spreadsheet's row (the header is row 1)
    input       jsonb   NOT NULL,
    outcome     text,              -- NULL until processed
    lead_id     text,
    owner_id    text,
    field       text,
    reason      text,
    PRIMARY KEY (job_id, row_number)
);
