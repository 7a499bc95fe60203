"""The runs database's SQL: its tables (as migrations, only ever appended), the columns a
record is read from, and the one statement that keeps the weights under the cap."""

from __future__ import annotations

DB_NAME = "runs.sqlite3"

# MIGRATIONS[n] takes a database from schema version n to n + 1. Only ever append.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at REAL NOT NULL,
        ended_at REAL,
        status TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT '',
        name TEXT NOT NULL,
        label TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL,
        owner_hash TEXT,
        process TEXT NOT NULL,
        seed INTEGER NOT NULL,
        data_source TEXT NOT NULL,
        train_size INTEGER NOT NULL,
        val_size INTEGER NOT NULL,
        test_size INTEGER NOT NULL,
        device TEXT NOT NULL,
        params INTEGER NOT NULL,
        macs INTEGER NOT NULL,
        images_per_s REAL,
        duration_s REAL,
        test_accuracy REAL,
        pinned INTEGER NOT NULL DEFAULT 0,
        weights_bytes INTEGER
    );
    -- the bulky part of a run, apart: listing and sorting read only the small rows above
    CREATE TABLE run_details (
        id INTEGER PRIMARY KEY,
        design TEXT NOT NULL,
        settings TEXT NOT NULL,
        metrics TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX runs_by_accuracy ON runs (test_accuracy, id);
    CREATE INDEX runs_by_params ON runs (params, id);
    CREATE INDEX runs_by_macs ON runs (macs, id);
    CREATE INDEX runs_by_duration ON runs (duration_s, id);
    CREATE INDEX runs_by_owner ON runs (owner_hash, id);
    CREATE INDEX runs_by_status ON runs (status) WHERE status = 'running';
    CREATE INDEX runs_with_weights ON runs (pinned, id) WHERE weights_bytes IS NOT NULL;
    """,
    "ALTER TABLE runs ADD COLUMN weights_note TEXT NOT NULL DEFAULT ''",
    # identical trainings run once (cnn_core.runs.shares): the conditions' key of a run that
    # trained them all, and each student who asked for it again
    """
    ALTER TABLE runs ADD COLUMN share_key TEXT;
    CREATE INDEX runs_by_share_key ON runs (share_key, id) WHERE share_key IS NOT NULL;
    CREATE TABLE run_shares (
        run_id INTEGER NOT NULL,
        owner_hash TEXT,
        at REAL NOT NULL,
        UNIQUE (run_id, owner_hash)
    );
    CREATE INDEX run_shares_by_owner ON run_shares (owner_hash, run_id);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
# In the order of RunSummary's fields, then whether the design is JSON (records.summary_from_row).
SUMMARY_COLUMNS = ("id, started_at, ended_at, status, message, name, label, source, device, "
                   "params, macs, images_per_s, duration_s, test_accuracy, pinned, "
                   "weights_bytes IS NOT NULL, owner_hash, weights_note, "
                   "(SELECT COUNT(*) FROM run_shares s WHERE s.run_id = runs.id), "
                   "(SELECT json_valid(design) FROM run_details d WHERE d.id = runs.id)")
# The rest of a whole run, after SUMMARY_COLUMNS (records.record_from_row).
DETAIL_COLUMNS = "design, settings, seed, data_source, train_size, val_size, test_size, metrics"
# Past the cap, in one statement: unpinned weights other than :keep's, the owner's own first,
# oldest first, until what they free covers the excess.
EVICT = """
UPDATE runs SET weights_bytes = NULL, weights_note = :note WHERE id IN (
    SELECT id FROM (
        SELECT id, weights_bytes, SUM(weights_bytes) OVER (
            ORDER BY (:owner IS NOT NULL AND owner_hash IS :owner) DESC, id
            ROWS UNBOUNDED PRECEDING) AS freed
        FROM runs WHERE weights_bytes IS NOT NULL AND pinned = 0 AND id IS NOT :keep)
    WHERE freed - weights_bytes < (SELECT COALESCE(SUM(weights_bytes), 0) FROM runs) - :cap)
RETURNING id"""
# "Mine": the runs a session started, and those it asked for again and was given (shares)
MINE = ("(owner_hash = :owner OR id IN (SELECT run_id FROM run_shares "
        "WHERE owner_hash = :owner))")
CAPPED = "they were removed to keep the runs folder under its size limit (pin a run to keep them)"
