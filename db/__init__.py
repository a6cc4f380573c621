"""rfconsole's data layer: tables, engine, and the IC-op rules (imports neither Flask nor Textual)."""

from . import configs, experiments, ic_ops, metrics, runs
from .engine import default_db_path, make_engine, mask_url, resolve_db_url
from .errors import (
    ConflictError,
    DatabaseBusy,
    DatabaseReadOnly,
    DatabaseUnavailableError,
    InvalidError,
    NotFoundError,
    SchemaVersionError,
    StoreError,
)
from .models import (
    ACTIVE_RUN_STATUSES,
    SCHEMA_VERSION,
    TERMINAL_RUN_STATUSES,
    ExperimentRead,
    ICOpRead,
    MetricPoint,
    RunRead,
)
from .store import Store

__all__ = [
    "ACTIVE_RUN_STATUSES",
    "SCHEMA_VERSION",
    "TERMINAL_RUN_STATUSES",
    "ConflictError",
    "DatabaseBusy",
    "DatabaseReadOnly",
    "DatabaseUnavailableError",
    "ExperimentRead",
    "ICOpRead",
    "InvalidError",
    "MetricPoint",
    "NotFoundError",
    "RunRead",
    "SchemaVersionError",
    "Store",
    "StoreError",
    "configs",
    "default_db_path",
    "experiments",
    "ic_ops",
    "make_engine",
    "mask_url",
    "metrics",
    "resolve_db_url",
    "runs",
]
