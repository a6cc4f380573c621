"""`console_app(node)`: the running ConsoleApp, typed, for screens, dialogs and commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.command import Provider
from textual.dom import DOMNode

if TYPE_CHECKING:
    from .app import ConsoleApp


def console_app(node: DOMNode | Provider) -> ConsoleApp:
    """The app `node` belongs to, as the ConsoleApp it always is in rfconsole."""
    return cast("ConsoleApp", node.app)
