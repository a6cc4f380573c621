"""The four tables of rfconsole's design, plus the schema-version table, and their read models.

Table models are for the data functions only; everything handed to the
dispatcher, the controller and the console is a read model (`*Read`): a plain
pydantic object that holds no ORM state and can cross threads freely.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, computed_field
from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Integer
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

SCHEMA_VERSION = 3
# Ids are 64-bit signed integers in SQLite and PostgreSQL alike. SQLite's
# INTEGER is already 64-bit, and only "INTEGER PRIMARY KEY" is its rowid (which
# AUTOINCREMENT needs), so the 64-bit type is spelled INTEGER there.
ID_TYPE = BigInteger().with_variant(Integer(), "sqlite")
MAX_ID = 2**63 - 1
# The index on runs (experiment_id, updated_at) that schema 3 adds.
RUNS_UPDATED_INDEX = "ix_runs_experiment_updated"
# A controller whose heartbeat is older than this is shown as not alive.
CONTROLLER_ALIVE_SECONDS = 10

EXPERIMENT_STATUSES = ("running", "completed", "failed", "cancelled")
RUN_STATUSES = ("NEW", "ONGOING", "COMPLETED", "STOPPED", "FAILED", "KILLED")
TERMINAL_RUN_STATUSES = frozenset({"COMPLETED", "FAILED", "KILLED"})
# A run the controller trains (or is about to).
ACTIVE_RUN_STATUSES = ("NEW", "ONGOING")
OPERATIONS = ("STOP", "RESUME", "DELETE", "CLONE_MODIFY")
# How sentences name each op ("a stop of run 4"): the one spelling the dispatcher, the
# controller's log and the console share.
OP_VERBS = {"STOP": "stop", "RESUME": "resume", "DELETE": "delete", "CLONE_MODIFY": "clone-modify"}
OP_STATUSES = ("PENDING", "COMPLETED", "FAILED", "SKIPPED")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def is_id(value: object) -> bool:
    """True for a whole number a 64-bit id column can hold (bools are not ids)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, also on SQLite (which stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC time")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def _utc_column(nullable: bool = False, index: bool = False) -> Any:
    return Column(UTCDateTime(), nullable=nullable, index=index)


def _json_column(nullable: bool = True) -> Any:
    return Column(JSON, nullable=nullable)


class Meta(SQLModel, table=True):
    """Key/value facts about the database itself, such as its schema version."""

    __tablename__ = "rfconsole_meta"

    key: str = Field(primary_key=True)
    value: str


class Experiment(SQLModel, table=True):
    __tablename__ = "experiments"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True, sa_type=ID_TYPE)
    name: str = Field(index=True, unique=True)
    status: str = Field(default="running", index=True)
    config: dict[str, Any] | None = Field(default=None, sa_column=_json_column())
    config_schema: dict[str, Any] | None = Field(default=None, sa_column=_json_column())
    experiment_path: str = ""
    num_chunks: int = 1
    num_epochs: int = 1
    error: str | None = None
    # Bumped in the same transaction as every write to one of the experiment's
    # runs, so that a reader can tell "nothing changed" with one indexed read.
    revision: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    ended_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # The controller's heartbeat (schema 2): stamped every few seconds while it
    # runs, without bumping `revision` (listings need not re-render for it).
    controller_seen_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class Run(SQLModel, table=True):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_experiment_status", "experiment_id", "status"),
        # "Which runs changed since": reads only the changed rows (schema 3).
        Index(RUNS_UPDATED_INDEX, "experiment_id", "updated_at"),
        {"sqlite_autoincrement": True},
    )

    run_id: int | None = Field(default=None, primary_key=True, sa_type=ID_TYPE)
    experiment_id: int = Field(foreign_key="experiments.id", index=True, sa_type=ID_TYPE)
    run_name: str = ""
    status: str = "NEW"
    config_leaf: dict[str, Any] = Field(default_factory=dict, sa_column=_json_column(False))
    flattened_config: dict[str, Any] = Field(default_factory=dict, sa_column=_json_column(False))
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=_json_column(False))
    current_chunk: int = 0
    num_chunks: int = 1
    current_epoch: int = 0
    num_epochs: int = 1
    num_epochs_completed: int = 0
    completed_steps: int = 0
    total_steps: int = 0
    num_chunks_visited: int = 0
    source: str = "USER"
    parent_run_id: int | None = Field(default=None, foreign_key="runs.run_id", sa_type=ID_TYPE)
    warm_start: bool = False
    # Where the latest checkpoint lives (a path under the experiment folder);
    # None until the controller has saved one. Warm clones need it.
    checkpoint_path: str | None = None
    ended_by: str | None = None
    error: str | None = None
    # The run's id in the metrics tracker (an MLflow run id), once it has one (schema 2).
    metric_run_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class InteractiveControl(SQLModel, table=True):
    __tablename__ = "interactive_control"
    __table_args__ = (
        Index("ix_ic_experiment_status", "experiment_id", "status"),
        {"sqlite_autoincrement": True},
    )

    ic_id: int | None = Field(default=None, primary_key=True, sa_type=ID_TYPE)
    run_id: int = Field(foreign_key="runs.run_id", index=True, sa_type=ID_TYPE)
    experiment_id: int = Field(foreign_key="experiments.id", sa_type=ID_TYPE)
    operation: str
    config_leaf: dict[str, Any] | None = Field(default=None, sa_column=_json_column())
    warm_start: bool = False
    status: str = "PENDING"
    error: str | None = None
    new_run_id: int | None = Field(default=None, sa_type=ID_TYPE)
    origin: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    claimed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    processed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class Metric(SQLModel, table=True):
    __tablename__ = "metrics"
    __table_args__ = (Index("ix_metrics_run_name_step", "run_id", "name", "step"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ID_TYPE)
    run_id: int = Field(foreign_key="runs.run_id", sa_type=ID_TYPE)
    epoch: int = 0
    chunk: int = 0
    step: int = 0
    name: str
    value: float
    timestamp: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


# --- read models: plain data, no ORM state ---------------------------------


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class ExperimentRead(_Read):
    id: int
    name: str
    status: str
    config: dict[str, Any] | None = None
    config_schema: dict[str, Any] | None = None
    experiment_path: str
    num_chunks: int
    num_epochs: int
    error: str | None = None
    revision: int
    created_at: datetime
    ended_at: datetime | None = None
    controller_seen_at: datetime | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def controller_alive(self) -> bool:
        """True when the controller's heartbeat is at most CONTROLLER_ALIVE_SECONDS old (now)."""
        if self.controller_seen_at is None:
            return False
        age = (utcnow() - self.controller_seen_at).total_seconds()
        return age <= CONTROLLER_ALIVE_SECONDS


class RunRead(_Read):
    run_id: int
    experiment_id: int
    run_name: str
    status: str
    config_leaf: dict[str, Any]
    flattened_config: dict[str, Any]
    metrics: dict[str, Any]
    current_chunk: int
    num_chunks: int
    current_epoch: int
    num_epochs: int
    num_epochs_completed: int
    completed_steps: int
    total_steps: int
    num_chunks_visited: int
    source: str
    parent_run_id: int | None = None
    warm_start: bool
    checkpoint_path: str | None = None
    ended_by: str | None = None
    error: str | None = None
    metric_run_id: str | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def progress(self) -> float:
        """Fraction of all chunks of all epochs done, 0..1."""
        total = self.num_chunks * self.num_epochs
        if total <= 0:
            return 0.0
        return min(1.0, max(0.0, self.num_chunks_visited / total))


class ICOpRead(_Read):
    ic_id: int
    run_id: int
    experiment_id: int
    operation: str
    config_leaf: dict[str, Any] | None = None
    warm_start: bool
    status: str
    error: str | None = None
    new_run_id: int | None = None
    origin: str
    created_at: datetime
    claimed_at: datetime | None = None
    processed_at: datetime | None = None


class MetricPoint(_Read):
    run_id: int
    epoch: int
    chunk: int
    step: int
    name: str
    value: float
    timestamp: datetime
