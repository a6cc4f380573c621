"""A table of IC ops and their outcomes: PENDING until the controller applies them."""

from __future__ import annotations

from typing import Any

from rfconsole.db.models import ICOpRead
from rich.text import Text
from textual.widgets import DataTable

from .cells import op_status_text

OPERATION_LABELS = {"STOP": "stop", "RESUME": "resume", "DELETE": "delete",
                    "CLONE_MODIFY": "clone"}


NO_CONTROLLER = "no controller is running (see above)"


def outcome_text(op: ICOpRead, pending: str = "waiting for the controller") -> str:
    if op.status == "PENDING":
        return pending
    if op.operation == "CLONE_MODIFY" and op.new_run_id is not None:
        warm = "warm" if op.warm_start else "cold"
        detail = f"new run {op.new_run_id} ({warm})"
        return f"{detail}: {op.error}" if op.error else detail
    return op.error or ("applied" if op.status == "COMPLETED" else "")


class OpsTable(DataTable[Any]):
    """Newest op first; redrawn only when an op was added or settled."""

    HELP_TITLE = "Ops pane"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._shown: tuple[Any, ...] | None = None

    def on_mount(self) -> None:
        for label, key, width in (("Op", "ic_id", 5), ("Action", "operation", 8),
                                  ("Run", "run_id", 5), ("Status", "status", 9),
                                  ("Outcome", "outcome", 44), ("From", "origin", 24)):
            self.add_column(label, key=key, width=width)

    def show_ops(self, ops: list[ICOpRead], controller_alive: bool = True) -> None:
        """Show `ops`; PENDING ones say whether a controller is there to apply them."""
        pending = "waiting for the controller" if controller_alive else NO_CONTROLLER
        signature = (pending, *((op.ic_id, op.status) for op in ops))
        if signature == self._shown:
            return
        self._shown = signature
        cursor = self.cursor_row
        self.clear()
        for op in ops:
            self.add_row(
                Text(str(op.ic_id)),
                Text(OPERATION_LABELS.get(op.operation, op.operation)),
                Text(str(op.run_id)),
                op_status_text(op.status),
                Text(outcome_text(op, pending), overflow="ellipsis", no_wrap=True),
                Text(op.origin, overflow="ellipsis", no_wrap=True),
                key=str(op.ic_id),
            )
        if ops and 0 <= cursor < len(ops):
            self.move_cursor(row=cursor, animate=False)
