"""Clean shutdown of foreground commands on SIGINT/SIGTERM (systemd, schedulers, Ctrl-C)."""

from __future__ import annotations

import signal
import threading


def stop_on_signal() -> threading.Event:
    """An event set by SIGINT or SIGTERM; install it before anything announces itself."""
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    return stop
