"""`Store`: one database, and the two kinds of transaction every caller uses.

    store = Store.open(url)
    with store.read() as session:          # a consistent snapshot
        run = runs.get_run(session, run_id=3)
    with store.write() as session:         # takes the write lock at BEGIN, commits on exit
        ic_ops.request_stop(session, run_id=3, origin="console:ana@gpu1")

The data functions themselves live in `experiments`, `runs`, `metrics` and
`ic_ops`; each takes the session as its first argument.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from .engine import make_engine, mask_url, sqlite_file, write_engine
from .experiments import apply_revision_bumps


class Store:
    """An engine plus read/write transactions; safe to share between threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = write_engine(engine)

    @classmethod
    def open(cls, url: str | None = None, *, create: bool = True) -> Store:
        return cls(make_engine(url, create=create))

    @property
    def url(self) -> str:
        return mask_url(self.engine.url)

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None for a server database."""
        return sqlite_file(str(self.engine.url))

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        with Session(self._writer, expire_on_commit=False) as session:
            try:
                yield session
                apply_revision_bumps(session)
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def close(self) -> None:
        self.engine.dispose()


def require_write(session: Session) -> None:
    """Refuse to check-then-insert in a transaction that does not hold the write lock."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite" and not bind.get_execution_options().get("rfconsole_write"):
        raise RuntimeError("IC-op requests must run inside Store.write()")
