"""Every message the explorer's widgets and threads post (Textual messages), in one place."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from acdc_tui.core.graph import Edge, Node
from acdc_tui.runs.driver import Batch


class RunUpdate(Message):
    """A batch of the run's changes, from the follower thread."""

    def __init__(self, batch: Batch) -> None:
        super().__init__()
        self.batch = batch


class Loaded(Message):
    """The run's journal is there and replayed (or `error` says why not)."""

    def __init__(self, error: str | None = None) -> None:
        super().__init__()
        self.error = error


@dataclass
class EdgeChosen(Message):
    """The user moved onto an edge (the Edges tab)."""

    edge: Edge


@dataclass
class NodeChosen(Message):
    """The user moved onto a node (the Overview)."""

    node: Node


@dataclass
class HeaderClicked(Message):
    """A click on the Edges tab's header line, at column `x`."""

    x: int
