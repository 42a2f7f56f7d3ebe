"""A real Orthanc PACS for tests, read back over its REST API (urllib: no extra dependency).

Orthanc runs with its own configuration in a temporary directory: free ports, its own AE
title, storage and index in that directory, no plugins, no Lua, no authentication. Orthanc
1.10 has no option to bind to one interface, so it is kept to this machine by its access
rules instead: the REST API answers loopback clients only (``RemoteAccessAllowed`` false),
and the DICOM server accepts only the configured calling AE titles from 127.0.0.1
(``DicomAlwaysAllow*`` false, ``DicomCheckModalityHost`` true) addressed to its own called
AE title (``DicomCheckCalledAet`` true). A missing Orthanc fails the test; it never skips.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"
STARTUP_DEADLINE_S = 60.0  # a generous bound for a loaded CI machine, not an expectation
# The Debian package installs the server binary outside a normal user's PATH.
SBIN_DIRECTORIES = ("/usr/sbin", "/usr/local/sbin")


class OrthancUnavailable(RuntimeError):
    """Orthanc is not installed or did not start; the message says how to fix it."""


def orthanc_executable() -> str:
    """Path of the Orthanc server (Debian package ``orthanc``); raises if it is missing."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRECTORIES])
    path = shutil.which("Orthanc", path=search)
    if not path:
        raise OrthancUnavailable(
            "Orthanc is not installed but these tests need it as the trust's PACS: install "
            "the Debian package with `sudo apt-get install orthanc`")
    return path


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@dataclass
class Orthanc:
    """One running Orthanc: where to send DICOM and how to read back what it stored."""

    directory: Path
    ae_title: str
    dicom_port: int
    http_port: int
    host: str = LOOPBACK
    startup_seconds: float = 0.0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "orthanc.log"

    def instances(self) -> list[str]:
        """Orthanc identifiers of every stored instance (GET /instances)."""
        return list(json.loads(self.request("/instances")))

    def instance_file(self, instance_id: str) -> bytes:
        """The stored PS3.10 file exactly as Orthanc keeps it (GET /instances/{id}/file)."""
        return self.request(f"/instances/{urllib.parse.quote(instance_id, safe='')}/file")

    def find_sop(self, sop_instance_uid: str) -> str | None:
        """Orthanc identifier of the instance with this SOP Instance UID, or None
        (POST /tools/lookup)."""
        matches = json.loads(self.request("/tools/lookup", sop_instance_uid.encode("ascii")))
        return next((m["ID"] for m in matches if m.get("Type") == "Instance"), None)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def request(self, path: str, body: bytes | None = None, timeout: float = 30) -> bytes:
        """The body of Orthanc's answer to GET ``path`` (POST when ``body`` is given)."""
        request = urllib.request.Request(self.base_url + path, data=body,
                                         method="POST" if body is not None else "GET")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return bytes(response.read())


def orthanc_configuration(orthanc: Orthanc, allowed_callers: tuple[str, ...]) -> dict:
    """The Orthanc configuration file (Orthanc book, "Configuration"), option by option."""
    return {
        "Name": f"telerad test PACS {orthanc.ae_title}",
        "StorageDirectory": str(orthanc.directory / "storage"),
        "IndexDirectory": str(orthanc.directory / "index"),
        "Plugins": [],
        "LuaScripts": [],
        "HttpServerEnabled": True,
        "HttpPort": orthanc.http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "OrthancExplorerEnabled": False,
        "WebDavEnabled": False,
        "MetricsEnabled": False,
        "DicomServerEnabled": True,
        "DicomAet": orthanc.ae_title,
        "DicomPort": orthanc.dicom_port,
        "DicomCheckCalledAet": True,
        "DicomAlwaysAllowEcho": False,
        "DicomAlwaysAllowStore": False,
        "DicomCheckModalityHost": True,
        # Known senders: [AE title, host, port]; the port is only used for Orthanc's own
        # outgoing requests, which these tests never make.
        "DicomModalities": {f"sender{index}": [title, LOOPBACK, 104]
                            for index, title in enumerate(allowed_callers)},
        "SaveJobs": False,
        "SyncStorageArea": True,  # a success status means the file is on disk
        "StorageCompression": False,
        "DefaultEncoding": "Utf8",
    }


@contextmanager
def running_orthanc(directory: Path, *, ae_title: str = "TRUSTPACS",
                    allowed_callers: tuple[str, ...] = ("TELERAD",)) -> Iterator[Orthanc]:
    """Start Orthanc in ``directory``, wait until its REST API answers, stop it on exit."""
    executable = orthanc_executable()
    directory.mkdir(parents=True, exist_ok=True)
    orthanc = Orthanc(directory, ae_title, dicom_port=free_port(), http_port=free_port())
    configuration = directory / "orthanc.json"
    configuration.write_text(json.dumps(orthanc_configuration(orthanc, allowed_callers),
                                        indent=2))
    started = time.monotonic()
    with orthanc.log_path.open("wb") as log:
        orthanc.process = subprocess.Popen([executable, str(configuration)], cwd=directory,
                                           stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_answering(orthanc)
        orthanc.startup_seconds = time.monotonic() - started
        yield orthanc
    finally:
        _stop(orthanc.process)


def _wait_until_answering(orthanc: Orthanc) -> None:
    """Poll GET /system until Orthanc answers; fail with its log if it exits or never does."""
    assert orthanc.process is not None
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        if orthanc.process.poll() is not None:
            raise OrthancUnavailable(f"Orthanc exited with code {orthanc.process.returncode} "
                                     f"while starting:\n{orthanc.log_tail()}")
        try:
            json.loads(orthanc.request("/system", timeout=2))
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    raise OrthancUnavailable(f"Orthanc did not answer GET /system within "
                             f"{STARTUP_DEADLINE_S:g} s:\n{orthanc.log_tail()}")


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    """Kill Orthanc: its temporary directory is thrown away, so a clean shutdown (≈ 3.5 s)
    would only slow the suite."""
    if process is None or process.poll() is not None:
        return
    process.kill()
    process.wait()
