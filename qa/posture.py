"""Device posture at every login, for the compliance log (STANDARDS §8).

The regulator found no risk assessment of staff IT equipment; these checks record what the
home workstation can show about itself: software versions, patch age (Cyber Essentials
v3.1: critical patches within 14 days), full-disk encryption, screen lock, firewall, key
store and displays. A check says "pass" only when it saw the setting and the setting meets
the policy; when it cannot tell on this operating system, or may not look, it says
"unknown", never "pass". Every probe takes the files and the command runner it reads, so
each case can be simulated; commands run without a shell, with short timeouts, and a probe
never raises.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from qa.host_probes import (
    HIDDEN_ROOTS,
    CommandResult,
    Runner,
    crypt_layer,
    device_name,
    iptables_filters_input,
    modified_at,
    newest_file,
    nft_filters_input,
    read_os_release,
    reported_state,
    root_mount,
    run_command,
    sysfs_node,
)


class PostureStatus(StrEnum):
    """A check's verdict; "unknown" whenever the setting could not be seen."""

    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


PASS, FAIL, UNKNOWN = PostureStatus.PASS, PostureStatus.FAIL, PostureStatus.UNKNOWN


@dataclass(frozen=True)
class PostureCheck:
    """One posture item: its name, the verdict, and what was seen."""

    name: str
    status: PostureStatus
    detail: str


@dataclass(frozen=True)
class PosturePolicy:
    """The limits the checks hold the machine to."""

    max_patch_age_days: int = 14  # Cyber Essentials v3.1 critical patches (STANDARDS §8)
    max_idle_seconds: int = 900  # screen locked after at most 15 minutes idle


@dataclass(frozen=True)
class Probes:
    """Where the checks look: this machine by default, a simulated one in tests."""

    run: Runner = run_command
    system: str = field(default_factory=platform.system)
    release: str = field(default_factory=platform.release)
    desktop: str = field(default_factory=lambda: os.environ.get("XDG_CURRENT_DESKTOP", ""))
    os_release: Path = Path("/etc/os-release")
    dpkg_status: Path = Path("/var/lib/dpkg/status")
    apt_lists: Path = Path("/var/lib/apt/lists")
    reboot_required: Path = Path("/var/run/reboot-required")
    mounts: Path = Path("/proc/mounts")
    sys_block: Path = Path("/sys/block")


DEFAULT_PROBES = Probes()
DEFAULT_POLICY = PosturePolicy()


def posture_report(app_version: str, keyring_backend: str,
                   displays: Sequence[Mapping[str, Any]], *, now: datetime,
                   probes: Probes = DEFAULT_PROBES,
                   policy: PosturePolicy = DEFAULT_POLICY) -> list[PostureCheck]:
    """Every posture check, in a fixed order."""
    return [
        check_app_version(app_version),
        check_operating_system(probes.system, probes.release, probes.os_release),
        check_patch_age(now, system=probes.system, os_release=probes.os_release,
                        dpkg_status=probes.dpkg_status, apt_lists=probes.apt_lists,
                        reboot_required=probes.reboot_required,
                        max_days=policy.max_patch_age_days),
        check_disk_encryption(probes.system, probes.mounts, probes.sys_block),
        check_screen_lock(probes.run, probes.desktop, max_idle_seconds=policy.max_idle_seconds),
        check_firewall(probes.system, probes.run),
        check_keyring(keyring_backend),
        check_displays(displays),
    ]


def overall_status(checks: Iterable[PostureCheck]) -> PostureStatus:
    """fail if any check failed, else unknown if any is unknown, else pass."""
    statuses = {check.status for check in checks}
    for status in (FAIL, UNKNOWN):
        if status in statuses:
            return status
    return PASS if statuses else UNKNOWN


def posture_payload(checks: Sequence[PostureCheck]) -> dict[str, Any]:
    """The compliance log payload of a ``posture`` entry."""
    return {"status": str(overall_status(checks)),
            "checks": [{"name": c.name, "status": str(c.status), "detail": c.detail}
                       for c in checks]}


# ---- software ----------------------------------------------------------------------------------

def check_app_version(version: str) -> PostureCheck:
    if not version.strip():
        return PostureCheck("app-version", UNKNOWN, "telerad version not known")
    return PostureCheck("app-version", PASS, f"telerad {version.strip()}")


def check_operating_system(system: str, release: str, os_release: Path) -> PostureCheck:
    """Name and version (os-release on Linux, the kernel release): recorded, not judged."""
    name = read_os_release(os_release).get("PRETTY_NAME", "") if system == "Linux" else ""
    kernel = f"{system} {release}".strip()
    if not system or not (name or release):
        return PostureCheck("operating-system", UNKNOWN,
                            f"{system or 'operating system'}, version not known")
    return PostureCheck("operating-system", PASS, f"{name} ({kernel})" if name else kernel)


def _debian_family(release: Mapping[str, str]) -> bool:
    family = {release.get("ID", ""), *release.get("ID_LIKE", "").split()}
    return bool(family & {"debian", "ubuntu"})


def check_patch_age(now: datetime, *, system: str, os_release: Path, dpkg_status: Path,
                    apt_lists: Path, reboot_required: Path, max_days: int) -> PostureCheck:
    """Days since the package database last changed (Debian/Ubuntu); elsewhere unknown.

    The mtime of dpkg's status file moves whenever a package is installed or upgraded;
    fresh package lists alone (``apt update``) install nothing, so they are only reported.
    """
    name = "os-patch-age"
    release = read_os_release(os_release)
    if system != "Linux" or not _debian_family(release):
        where = release.get("PRETTY_NAME") or system or "this system"
        return PostureCheck(name, UNKNOWN,
                            f"patch age is read on Debian and Ubuntu only, not on {where}")
    changed = modified_at(dpkg_status)
    if changed is None:
        return PostureCheck(name, UNKNOWN, f"{dpkg_status} cannot be read")
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    days = (now - changed).total_seconds() / 86400
    if days < 0:
        return PostureCheck(name, UNKNOWN,
                            "the package database is dated in the future: check the clock")
    lists = newest_file(apt_lists)
    detail = (f"last package update {changed:%Y-%m-%d}, {days:.0f} day(s) ago (policy: at "
              f"most {max_days}); package lists "
              + (f"refreshed {lists:%Y-%m-%d}" if lists else "never refreshed"))
    if modified_at(reboot_required) is not None:
        return PostureCheck(name, FAIL, f"{detail}; installed updates wait for a restart")
    return PostureCheck(name, FAIL if days > max_days else PASS, detail)


# ---- full-disk encryption ------------------------------------------------------------------------

def check_disk_encryption(system: str, mounts: Path, sys_block: Path) -> PostureCheck:
    """Linux: is the root file system on dm-crypt (LUKS), directly or under LVM/RAID?"""
    name = "disk-encryption"
    if system != "Linux":
        return PostureCheck(name, UNKNOWN, f"not checked on {system or 'this system'}")
    root = root_mount(mounts)
    if root is None:
        return PostureCheck(name, UNKNOWN, f"{mounts} cannot be read")
    source, fstype = root
    if fstype in HIDDEN_ROOTS or fstype.startswith("fuse."):
        return PostureCheck(name, UNKNOWN, f"the root file system is {fstype} on {source}: "
                            "the disk beneath it cannot be seen from here")
    try:
        device = device_name(source, sys_block)
        node = sysfs_node(device, sys_block) if device else None
        layer = crypt_layer(node, sys_block) if node else None
    except OSError as exc:
        return PostureCheck(name, UNKNOWN, f"block devices cannot be read ({exc})")
    if node is None:
        return PostureCheck(name, UNKNOWN,
                            f"the root device {source} is not found under {sys_block}")
    if layer is None:
        return PostureCheck(name, FAIL, f"the root file system on {source} has no dm-crypt "
                            "(LUKS) layer beneath it")
    return PostureCheck(name, PASS, f"the root file system on {source} is on dm-crypt: {layer}")


# ---- screen lock ---------------------------------------------------------------------------------

def _gsettings(run: Runner, schema: str, key: str) -> tuple[str | None, str]:
    """(value, why not) of one GNOME setting; the value is None when it cannot be read."""
    result = run(["gsettings", "get", schema, key])
    if result.missing:
        return None, "gsettings is not installed (only GNOME's screen lock is read)"
    if not result.ok:
        reason = (result.stderr.strip().splitlines() or ["no answer"])[0]
        return None, f"GNOME settings cannot be read: {reason}"
    if "memory" in result.stderr and "backend" in result.stderr:  # no desktop session
        return None, "no desktop session settings to read (GSettings memory backend)"
    return result.stdout.strip(), ""


def _seconds(value: str | None) -> int | None:
    """``uint32 300`` (a GVariant as gsettings prints it) -> 300."""
    try:
        return int((value or "").split()[-1])
    except (ValueError, IndexError):
        return None


def check_screen_lock(run: Runner, desktop: str, *, max_idle_seconds: int) -> PostureCheck:
    """GNOME: idle delay plus lock delay within the policy, with the lock enabled.

    Only inside a GNOME session (``XDG_CURRENT_DESKTOP``): elsewhere gsettings still answers,
    with GNOME's defaults, which say nothing about the screen actually in use.
    """
    name = "screen-lock"
    if "GNOME" not in desktop.upper().split(":"):
        return PostureCheck(name, UNKNOWN, f"the desktop is {desktop or 'not known'}: only "
                            "GNOME's screen lock is read")
    idle, why = _gsettings(run, "org.gnome.desktop.session", "idle-delay")
    enabled, why_enabled = _gsettings(run, "org.gnome.desktop.screensaver", "lock-enabled")
    lock_delay, _ = _gsettings(run, "org.gnome.desktop.screensaver", "lock-delay")
    delay = _seconds(idle)
    if delay is None or enabled not in ("true", "false"):
        return PostureCheck(name, UNKNOWN,
                            why or why_enabled or f"unexpected settings: idle-delay {idle!r}, "
                            f"lock-enabled {enabled!r}")
    if enabled == "false":
        return PostureCheck(name, FAIL, "the screen lock is turned off")
    if delay == 0:
        return PostureCheck(name, FAIL,
                            "the screen never blanks when idle (idle-delay 0), so it never locks")
    total = delay + (_seconds(lock_delay) or 0)
    detail = f"locks after {total} s idle (policy: at most {max_idle_seconds} s)"
    return PostureCheck(name, FAIL if total > max_idle_seconds else PASS, detail)


# ---- firewall ------------------------------------------------------------------------------------

Verdict = Callable[[CommandResult], bool | None]  # True filters, False not, None cannot tell
# (what, the command, its verdict); not permitted to look (not root) means "cannot tell"
FIREWALL_PROBES: tuple[tuple[str, tuple[str, ...], Verdict], ...] = (
    ("nftables", ("nft", "list", "ruleset"),
     lambda r: nft_filters_input(r.stdout) if r.ok else None),
    ("ufw", ("ufw", "status"),
     lambda r: reported_state(r.stdout, "Status: active", "Status: inactive") if r.ok else None),
    ("firewalld", ("firewall-cmd", "--state"),  # exits 252 with "not running"
     lambda r: reported_state(r.stdout + r.stderr, "running", "not running")),
    ("iptables", ("iptables", "-S", "INPUT"),
     lambda r: iptables_filters_input(r.stdout) if r.ok else None),
)


def check_firewall(system: str, run: Runner) -> PostureCheck:
    """Linux: does nftables, ufw, firewalld or iptables filter incoming traffic?"""
    name = "firewall"
    if system != "Linux":
        return PostureCheck(name, UNKNOWN, f"not checked on {system or 'this system'}")
    verdicts: dict[str, bool | None] = {}
    for label, command, verdict in FIREWALL_PROBES:
        result = run(list(command))
        if not result.missing:
            verdicts[label] = verdict(result)
    active = [label for label, filtering in verdicts.items() if filtering]
    unreadable = [label for label, filtering in verdicts.items() if filtering is None]
    if active:
        return PostureCheck(name, PASS, f"{', '.join(active)} filters incoming traffic")
    if not verdicts:
        return PostureCheck(name, UNKNOWN,
                            "no firewall tool found (nft, ufw, firewall-cmd, iptables)")
    if unreadable:
        return PostureCheck(name, UNKNOWN, f"{', '.join(unreadable)} could not be read "
                            "(administrator rights needed?)")
    return PostureCheck(name, FAIL,
                        f"no rule filters incoming traffic ({', '.join(verdicts)} checked)")


# ---- given by the caller -------------------------------------------------------------------------

# keyring backends (their class path) that keep secrets in the operating system's store
OS_KEYRINGS = ("secretservice", "libsecret", "kwallet", "macos", "winvault", "windows")
# ... and those that do not: secrets in a file beside the data, or nowhere
UNSAFE_KEYRINGS = ("keyrings.alt", "plaintext", "fail.keyring", "null")


def check_keyring(backend: str) -> PostureCheck:
    """The profile key in the OS keyring, or in the documented passphrase mode (STANDARDS §8)."""
    name, lowered = "keyring", backend.strip().lower()
    if not lowered:
        return PostureCheck(name, UNKNOWN, "keyring backend not known")
    if lowered == "passphrase":
        return PostureCheck(name, PASS, "passphrase mode: no key is stored")
    if any(marker in lowered for marker in UNSAFE_KEYRINGS):
        return PostureCheck(name, FAIL, f"{backend}: not the operating system's key store")
    if any(marker in lowered for marker in OS_KEYRINGS):
        return PostureCheck(name, PASS, backend)
    return PostureCheck(name, UNKNOWN, f"{backend}: not a key store this check knows")


def _describe_display(number: int, display: Mapping[str, Any]) -> str:
    label = display.get("name") or display.get("model") or f"display {number}"
    width, height = display.get("width"), display.get("height")
    return f"{label} {width}x{height}" if width and height else str(label)


def check_displays(displays: Sequence[Mapping[str, Any]]) -> PostureCheck:
    """The connected displays, each with the ``status`` of its display QA checks."""
    name = "displays"
    if not displays:
        return PostureCheck(name, UNKNOWN, "no display information")
    described = "; ".join(_describe_display(n, d) for n, d in enumerate(displays, start=1))
    statuses = [str(display.get("status", "")).lower() for display in displays]
    if "fail" in statuses:
        return PostureCheck(name, FAIL, f"{described} (a display fails its checks)")
    if all(status == "pass" for status in statuses):
        return PostureCheck(name, PASS, described)
    return PostureCheck(name, UNKNOWN, f"{described} (display checks not all known)")
