-- The loader's bookkeeping, in our own schema (never published): which datasets were loaded, and the
-- state of an unfinished load (its saved schema objects and loaded shards) so a killed run resumes.
-- Older loaders created these tables themselves: IF NOT EXISTS keeps such databases upgradable
-- (their rows stay), and every later change of shape is a migration of its own.

CREATE TABLE IF NOT EXISTS zbugs_synth.loaded_datasets (
    id          bigserial PRIMARY KEY,
    dataset_id  text NOT NULL,
    source      text NOT NULL,
    manifest    jsonb,
    rows        jsonb NOT NULL,
    mode        text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);

CREATE TABLE IF NOT EXISTS zbugs_synth.seed_runs (
    id           bigserial PRIMARY KEY,
    dataset_row  bigint NOT NULL REFERENCES zbugs_synth.loaded_datasets (id) ON DELETE CASCADE,
    dataset_id   text NOT NULL,
    source       text NOT NULL,
    mode         text NOT NULL,
    shortid_base bigint,
    started_at   timestamptz NOT NULL DEFAULT now()
);
-- Where the dataset was (absolute): undoing an append re-reads its shards for the keys of its rows.
ALTER TABLE zbugs_synth.seed_runs ADD COLUMN IF NOT EXISTS directory text;

-- Definitions of what a load dropped, replayed to rebuild it: validated before replay (db.load.objects).
CREATE TABLE IF NOT EXISTS zbugs_synth.seed_objects (
    run_id bigint NOT NULL REFERENCES zbugs_synth.seed_runs (id) ON DELETE CASCADE,
    seq    integer NOT NULL,
    spec   jsonb NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE IF NOT EXISTS zbugs_synth.seed_shards (
    run_id        bigint NOT NULL REFERENCES zbugs_synth.seed_runs (id) ON DELETE CASCADE,
    name          text NOT NULL,
    table_name    text NOT NULL,
    rows          bigint NOT NULL,
    xid           bigint NOT NULL,
    shortid_start bigint,
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, name)
);

-- Only the role that migrates (the owner) and superusers may write the loader's state: the saved
-- definitions are DDL the loader runs. Nothing is granted to PUBLIC; revoked explicitly in case a
-- server's defaults (ALTER DEFAULT PRIVILEGES, or an old PostgreSQL's public CREATE) said otherwise.
REVOKE ALL ON SCHEMA zbugs_synth FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA zbugs_synth FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA zbugs_synth FROM PUBLIC;
