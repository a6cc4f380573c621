"""rfconsole's data layer: tables, engine, and the IC-op rules (imports neither Flask nor Textual).

The names below load with the module that holds them, on first use: importing
`rfconsole.db.errors` or `rfconsole.db.experiment_log` costs nothing more, so the
dispatcher can answer before SQLAlchemy, SQLModel and pydantic have loaded
(`rfconsole serve` opens its database once it is listening).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Each exported name -> the module of this package that defines it.
_HOMES = {
    **dict.fromkeys(("default_db_path", "make_engine", "mask_url", "resolve_db_url"), "engine"),
    **dict.fromkeys(("ConflictError", "DatabaseBusy", "DatabaseReadOnly", "DatabaseUnavailableError",
                     "InvalidError", "NotFoundError", "SchemaVersionError", "StoreError"), "errors"),
    **dict.fromkeys(("ACTIVE_RUN_STATUSES", "SCHEMA_VERSION", "TERMINAL_RUN_STATUSES", "ExperimentRead",
                     "ICOpRead", "MetricPoint", "RunRead"), "models"),
    "Store": "store",
}

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(import_module(f"{__name__}.{home}"), name)
        globals()[name] = value
        return value
    try:  # a module of this package, as `rfconsole.db.engine` was once `rfconsole.db` was imported
        return import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
