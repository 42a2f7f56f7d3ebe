"""`telerad serve` as a process of its own, started on a fixed port and killed the way a
crash kills it (SIGKILL: no handler runs, no file is closed cleanly)."""

from __future__ import annotations

import random
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from app.config import Peer, save_settings
from app.workstation import open_settings
from tests.integration.test_cli import PASSPHRASE, environment

HOST = "127.0.0.1"
STARTUP_LIMIT = 60.0  # bounds a node that never comes up; not a performance figure
EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")


def port_for_restarts() -> int:
    """A free loopback port below the ephemeral range, so that while the node is down no
    outgoing connection (this test's or a parallel job's) can be given it."""
    first_ephemeral = int(EPHEMERAL_PORTS.read_text().split()[0])
    for _ in range(100):
        port = random.randrange(first_ephemeral // 2, first_ephemeral)
        with socket.socket() as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
        return port
    raise AssertionError(f"no free port below {first_ephemeral}")


def passphrase_profile_for(root: Path, scratch: Path, *senders: str) -> dict[str, str]:
    """Make ``root`` a passphrase-mode profile that accepts ``senders`` from loopback;
    returns the environment a `telerad` process needs to open it."""
    paths, settings = open_settings(root)
    settings = settings.with_value("security.key_source", "passphrase")
    save_settings(settings.with_peers(tuple(Peer(title, HOST) for title in senders)),
                  paths.settings)
    return {**environment(scratch), "TELERAD_PASSPHRASE": PASSPHRASE}


class ServeProcess:
    """One `telerad serve` at a time on ``port``; its log lines collect in ``log``."""

    def __init__(self, profile: Path, port: int, env: dict[str, str], log: Path) -> None:
        self.profile, self.port, self._env, self.log = profile, port, env, log
        self._process: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None, "no node is running"
        return self._process.pid

    def start(self) -> float:
        """Start the node and wait for its "listening" line (after crash recovery);
        returns the seconds that took."""
        began = time.monotonic()
        self.spawn()
        self._wait_for_listening()
        return time.monotonic() - began

    def spawn(self) -> None:
        """Start the node without waiting for it (to kill it while it starts up)."""
        assert self._process is None, "the previous node is still running"
        with self.log.open("a") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "--profile", str(self.profile), "serve",
                 "--host", HOST, "--port", str(self.port)],
                stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True,
                env=self._env,
            )

    def _wait_for_listening(self) -> None:
        process = self._process
        assert process is not None and process.stdout is not None
        deadline = time.monotonic() + STARTUP_LIMIT
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not selector.select(timeout=0.2):
                    continue
                line = process.stdout.readline()
                if "listening" in line:
                    return
                assert line, f"telerad serve exited with {process.wait()}:\n{self.log_tail()}"
        raise AssertionError(f"telerad serve never listened:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL and reap the node; it must still have been running until then."""
        process, self._process = self._process, None
        assert process is not None, "no node is running"
        process.send_signal(signal.SIGKILL)
        process.communicate()
        assert process.returncode == -signal.SIGKILL, (
            f"the node had exited ({process.returncode}) before it was killed:\n"
            f"{self.log_tail()}")

    def discard(self) -> None:
        """Clean-up after a failed test: kill whatever still runs, without judging it."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.communicate()

    def stop(self) -> int:
        """A clean stop (SIGTERM, as systemd does); returns the exit code."""
        process, self._process = self._process, None
        assert process is not None, "no node is running"
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=STARTUP_LIMIT)
        return process.returncode

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
