"""What the posture checks read from this machine: files, block devices, command output.

Plain facts, no verdicts (those are in qa/posture.py). Every reader takes the path or the
output it reads, and none raises for a missing or unreadable file except where it says so.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class CommandResult:
    """What a probe command gave; ``returncode`` None: it did not run to the end."""

    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    missing: bool = False  # the command is not installed

    @property
    def ok(self) -> bool:
        return self.returncode == 0


Runner = Callable[[Sequence[str]], CommandResult]


def run_command(argv: Sequence[str], timeout: float = 3.0) -> CommandResult:
    """Run ``argv`` without a shell in the C locale; never raises."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, errors="replace",
                              timeout=timeout, check=False, stdin=subprocess.DEVNULL,
                              env={**os.environ, "LC_ALL": "C"})
    except FileNotFoundError:
        return CommandResult(None, stderr=f"{argv[0]} is not installed", missing=True)
    except subprocess.TimeoutExpired:
        return CommandResult(None, stderr=f"{argv[0]} gave no answer within {timeout:g} s")
    except OSError as exc:
        return CommandResult(None, stderr=f"{argv[0]}: {exc.strerror or exc}")
    return CommandResult(done.returncode, done.stdout, done.stderr)


def read_os_release(path: Path) -> dict[str, str]:
    """The KEY=value pairs of os-release(5); empty when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    pairs = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            pairs[key.strip()] = value.strip().strip("\"'")
    return pairs


def modified_at(path: Path) -> datetime | None:
    """The file's modification time (UTC), None if it cannot be read."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return None


def newest_file(directory: Path) -> datetime | None:
    """The latest modification time of the files directly in ``directory``."""
    try:
        times = [modified_at(entry) for entry in directory.iterdir() if entry.is_file()]
    except OSError:
        return None
    return max((moment for moment in times if moment is not None), default=None)


# root file systems whose disk cannot be seen from here: containers, network and RAM roots
HIDDEN_ROOTS = frozenset({"overlay", "aufs", "tmpfs", "rootfs", "ramfs", "nfs", "nfs4", "cifs",
                          "smb3", "9p", "virtiofs", "zfs", "fuse", "squashfs"})


def root_mount(mounts: Path) -> tuple[str, str] | None:
    """(device, file system type) of the last mount on ``/``; None if unreadable."""
    try:
        lines = mounts.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    root = None
    for line in lines:
        fields = line.split()
        if len(fields) >= 3 and fields[1] == "/":
            root = (fields[0].replace("\\040", " "), fields[2])
    return root


def sysfs_node(name: str, sys_block: Path) -> Path | None:
    """``/sys/block/NAME`` or a partition ``/sys/block/DISK/NAME``; OSError if unreadable."""
    if (sys_block / name).is_dir():
        return sys_block / name
    return next((disk / name for disk in sys_block.iterdir() if (disk / name).is_dir()), None)


def device_name(source: str, sys_block: Path) -> str | None:
    """The kernel name of a mount's device: dm-3 for /dev/mapper/vg-root, sda2 for /dev/sda2."""
    if source.startswith("/dev/mapper/"):
        mapped = source.removeprefix("/dev/mapper/")
        for node in sorted(sys_block.iterdir()):  # OSError when /sys cannot be read
            if node.name.startswith("dm-") and (
                    (node / "dm" / "name").read_text().strip() == mapped):
                return node.name
        return None
    if source.startswith("/dev/") and source.count("/") == 2 and source != "/dev/root":
        return source.removeprefix("/dev/")
    return None


def crypt_layer(node: Path, sys_block: Path, depth: int = 0) -> str | None:
    """The dm-crypt layer that everything beneath ``node`` rests on, or None."""
    uuid_file = node / "dm" / "uuid"
    uuid = uuid_file.read_text().strip() if uuid_file.exists() else ""
    if uuid.startswith("CRYPT-"):
        return f"{node.name} ({uuid.split('-')[1]})"
    slaves = sorted((node / "slaves").iterdir()) if (node / "slaves").is_dir() else []
    if not slaves or depth > 8:
        return None
    layers = []
    for slave in slaves:
        below = sysfs_node(slave.name, sys_block)
        layer = crypt_layer(below, sys_block, depth + 1) if below else None
        if layer is None:  # one unencrypted disk under the volume is enough to fail
            return None
        layers.append(layer)
    return ", ".join(layers)


def nft_filters_input(ruleset: str) -> bool:
    """Whether a chain on the input hook drops by default or holds any rule."""
    header, body, inside = "", [], False
    for line in (raw.strip() for raw in ruleset.splitlines()):
        if line.startswith("chain "):
            header, body, inside = "", [], True
        elif inside and line == "}":
            if "hook input" in header and ("policy drop" in header or body):
                return True
            inside = False
        elif inside and line.startswith("type ") and "hook " in line:
            header = line
        elif inside and line and not line.startswith("#"):
            body.append(line)
    return False


def iptables_filters_input(rules: str) -> bool:
    """Whether ``iptables -S INPUT`` shows a rule or a dropping default policy."""
    lines = rules.splitlines()
    return any(line.startswith("-A INPUT") for line in lines) or any(
        line.startswith("-P INPUT") and line.split()[-1] in ("DROP", "REJECT") for line in lines)


def reported_state(text: str, active: str, inactive: str) -> bool | None:
    """True/False when ``text`` reports the active/inactive state, else None."""
    if inactive in text:  # first: "not running" contains "running"
        return False
    return True if active in text else None
