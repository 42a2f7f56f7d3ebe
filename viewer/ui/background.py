"""Run blocking work off the GUI thread and deliver the result back to it (DESIGN rule 4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class _Relay(QObject):
    done = Signal(object)
    failed = Signal(object)


class _Task(QRunnable):
    def __init__(self, work: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self._work, self._relay = work, relay

    def run(self) -> None:
        try:
            result = self._work()
        except Exception as exc:  # delivered to the GUI, which shows it
            self._relay.failed.emit(exc)
        else:
            self._relay.done.emit(result)


class BackgroundRunner(QObject):
    """Owns the relays so results arrive on the GUI thread through queued signals."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._relays: set[_Relay] = set()

    def run(self, work: Callable[[], Any], on_done: Callable[[Any], None],
            on_error: Callable[[Exception], None]) -> None:
        relay = _Relay()
        self._relays.add(relay)
        relay.done.connect(on_done)
        relay.failed.connect(on_error)
        relay.done.connect(lambda _r, relay=relay: self._relays.discard(relay))
        relay.failed.connect(lambda _e, relay=relay: self._relays.discard(relay))
        QThreadPool.globalInstance().start(_Task(work, relay))
