import Foundation

/// The schema steps both stores take, written once (SQLite's steps 9 on; PostgreSQL's first
/// step made all of SQLite's 1 to 8 at once): `integer` and `real` are each database's types.
/// Only ever append: each store applies the steps it has not applied yet.
enum SharedSchemaSteps {
    static func steps(integer: String, real: String) -> [String] {
        [
            // 9: which gateway started a task or a run (its id in the store, `gateway.id` in its
            // data folder): at a restart a gateway fails only its own unfinished work, never that of
            // another gateway sharing the store ('' : rows from before, anyone's).
            "ALTER TABLE export_tasks ADD COLUMN worker TEXT NOT NULL DEFAULT ''; ALTER TABLE dataflow_runs ADD COLUMN worker TEXT NOT NULL DEFAULT ''",
            // 10: the cron time a scheduled run is for: a tick fires once, whichever gateway
            // sharing the store reaches it first (manual runs have none: NULLs are distinct).
            "ALTER TABLE dataflow_runs ADD COLUMN scheduled_for \(integer); CREATE UNIQUE INDEX dataflow_runs_tick ON dataflow_runs (dataflow_id, scheduled_for)",
            // 11: how long a gateway's claim on its unfinished tasks and runs holds (seconds since
            // 1970): renewed while it lives; once past, another gateway sharing the store fails them.
            "ALTER TABLE export_tasks ADD COLUMN lease_until \(integer); ALTER TABLE dataflow_runs ADD COLUMN lease_until \(integer)",
            // 12: plugins' locks and rate windows (ABI 1.1 shared_lock, pace), when several
            // gateways share the store: a lock row per name with its holder and time; the calls
            // of the last minute per bucket.
            "CREATE TABLE plugin_locks (key TEXT PRIMARY KEY, holder TEXT NOT NULL, until \(integer) NOT NULL); CREATE TABLE pace_calls (bucket TEXT NOT NULL, at \(real) NOT NULL); CREATE INDEX pace_calls_bucket ON pace_calls (bucket, at)",
            // 13: a flow's runs by start time: naming a run counts those of its second.
            "CREATE INDEX dataflow_runs_started ON dataflow_runs (dataflow_id, started_at)",
            // 14: a token's claims (JSON, name → values): the identity that context
            // parameters and row filters read.
            "ALTER TABLE api_tokens ADD COLUMN claims TEXT NOT NULL DEFAULT '{}'",
            // 15: the identity a flow's runs read as (JSON; '' for none): the last one to
            // create or change the flow. Row filters and context parameters read its claims.
            "ALTER TABLE dataflows ADD COLUMN run_as TEXT NOT NULL DEFAULT ''",
            // 16: who pushed or uploaded what into each dataset (seed 000's visitors, and the
            // identities they are mapped to), kept 90 days.
            "CREATE TABLE dataset_writes (dataset_id TEXT NOT NULL, visitor TEXT NOT NULL, identity TEXT NOT NULL, kind TEXT NOT NULL, rows \(integer) NOT NULL, is_update \(integer) NOT NULL, at \(integer) NOT NULL); CREATE INDEX dataset_writes_dataset ON dataset_writes (dataset_id, at); CREATE INDEX dataset_writes_at ON dataset_writes (at)",
            // 17: work a stopped gateway left is taken over by another, not only failed: each
            // take-over is a new attempt (writes of an older attempt change nothing); an export
            // keeps its whole request sealed (AES-GCM under the shared secret: it may hold an
            // upstream header and rows) while it runs; a run says when its target began to
            // commit (from then on it is never run again elsewhere).
            "ALTER TABLE export_tasks ADD COLUMN attempt \(integer) NOT NULL DEFAULT 1; ALTER TABLE export_tasks ADD COLUMN sealed_request TEXT NOT NULL DEFAULT ''; ALTER TABLE dataflow_runs ADD COLUMN attempt \(integer) NOT NULL DEFAULT 1; ALTER TABLE dataflow_runs ADD COLUMN commit_started \(integer) NOT NULL DEFAULT 0",
        ]
    }
}
