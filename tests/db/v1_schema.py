"""A database of schema version 1, built exactly as rfconsole 0.1 created it (its DDL, verbatim).

Used to show that opening such a database migrates it to the current schema and keeps its rows.
"""

from __future__ import annotations

from sqlalchemy import Engine

_SQLITE = """
CREATE TABLE rfconsole_meta ("key" VARCHAR NOT NULL, value VARCHAR NOT NULL, PRIMARY KEY ("key"));
CREATE TABLE experiments (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, name VARCHAR NOT NULL, status VARCHAR NOT NULL,
    config JSON, config_schema JSON, experiment_path VARCHAR NOT NULL, num_chunks INTEGER NOT NULL,
    num_epochs INTEGER NOT NULL, error VARCHAR, revision INTEGER NOT NULL,
    created_at DATETIME NOT NULL, ended_at DATETIME);
CREATE UNIQUE INDEX ix_experiments_name ON experiments (name);
CREATE INDEX ix_experiments_status ON experiments (status);
CREATE TABLE runs (
    run_id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, experiment_id INTEGER NOT NULL,
    run_name VARCHAR NOT NULL, status VARCHAR NOT NULL, config_leaf JSON NOT NULL,
    flattened_config JSON NOT NULL, metrics JSON NOT NULL, current_chunk INTEGER NOT NULL,
    num_chunks INTEGER NOT NULL, current_epoch INTEGER NOT NULL, num_epochs INTEGER NOT NULL,
    num_epochs_completed INTEGER NOT NULL, completed_steps INTEGER NOT NULL,
    total_steps INTEGER NOT NULL, num_chunks_visited INTEGER NOT NULL, source VARCHAR NOT NULL,
    parent_run_id INTEGER, warm_start BOOLEAN NOT NULL, checkpoint_path VARCHAR, ended_by VARCHAR,
    error VARCHAR, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL,
    FOREIGN KEY(experiment_id) REFERENCES experiments (id),
    FOREIGN KEY(parent_run_id) REFERENCES runs (run_id));
CREATE INDEX ix_runs_experiment_status ON runs (experiment_id, status);
CREATE INDEX ix_runs_experiment_id ON runs (experiment_id);
CREATE TABLE interactive_control (
    ic_id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
    experiment_id INTEGER NOT NULL, operation VARCHAR NOT NULL, config_leaf JSON,
    warm_start BOOLEAN NOT NULL, status VARCHAR NOT NULL, error VARCHAR, new_run_id INTEGER,
    origin VARCHAR NOT NULL, created_at DATETIME NOT NULL, claimed_at DATETIME, processed_at DATETIME,
    FOREIGN KEY(run_id) REFERENCES runs (run_id),
    FOREIGN KEY(experiment_id) REFERENCES experiments (id));
CREATE INDEX ix_interactive_control_run_id ON interactive_control (run_id);
CREATE INDEX ix_ic_experiment_status ON interactive_control (experiment_id, status);
CREATE TABLE metrics (
    id INTEGER NOT NULL, run_id INTEGER NOT NULL, epoch INTEGER NOT NULL, chunk INTEGER NOT NULL,
    step INTEGER NOT NULL, name VARCHAR NOT NULL, value FLOAT NOT NULL, timestamp DATETIME NOT NULL,
    PRIMARY KEY (id), FOREIGN KEY(run_id) REFERENCES runs (run_id));
CREATE INDEX ix_metrics_run_name_step ON metrics (run_id, name, step);
"""

# SQLAlchemy's PostgreSQL DDL for the same models: SERIAL (32-bit) ids.
_POSTGRESQL = (
    _SQLITE.replace("INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT", "SERIAL NOT NULL PRIMARY KEY")
    .replace("id INTEGER NOT NULL, run_id", "id SERIAL NOT NULL, run_id")
    .replace("DATETIME", "TIMESTAMP WITH TIME ZONE")
    .replace('"key"', "key")
)

_ROWS = """
INSERT INTO rfconsole_meta (key, value) VALUES ('schema_version', '1');
INSERT INTO experiments (name, status, config, config_schema, experiment_path, num_chunks, num_epochs,
    error, revision, created_at, ended_at)
    VALUES ('old-exp', 'running', '{"dataset": "toy"}', NULL, '/tmp/old-exp', 4, 2, NULL, 3,
    '2026-01-02 03:04:05', NULL);
INSERT INTO runs (experiment_id, run_name, status, config_leaf, flattened_config, metrics, current_chunk,
    num_chunks, current_epoch, num_epochs, num_epochs_completed, completed_steps, total_steps,
    num_chunks_visited, source, parent_run_id, warm_start, checkpoint_path, ended_by, error,
    created_at, updated_at)
    VALUES (1, 'run_1', 'STOPPED', '{"lr": 0.1}', '{"lr": 0.1}', '{"loss": 0.5}', 1, 4, 0, 2, 0, 10,
    80, 1, 'USER', NULL, FALSE, NULL, NULL, NULL, '2026-01-02 03:04:05', '2026-01-02 03:04:05');
INSERT INTO metrics (id, run_id, epoch, chunk, step, name, value, timestamp)
    VALUES (1, 1, 0, 0, 1, 'loss', 0.5, '2026-01-02 03:04:05');
"""


def build_v1(engine: Engine) -> None:
    """Create the version-1 tables on `engine` and put one experiment, one run and a metric in them."""
    ddl = _POSTGRESQL if engine.dialect.name == "postgresql" else _SQLITE
    rows = _ROWS if engine.dialect.name == "postgresql" else _ROWS.replace("(key, value)", '("key", value)')
    with engine.begin() as conn:
        for statement in (ddl + rows).split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
