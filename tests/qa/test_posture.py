"""Device posture checks on simulated machines: what passes, what fails, what stays unknown.

Each machine is a directory of the files the checks read (os-release, dpkg's status,
/proc/mounts, /sys/block) and a table of command outputs; nothing of this machine is read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qa.host_probes import CommandResult, run_command
from qa.posture import (
    PostureCheck,
    PostureStatus,
    Probes,
    check_disk_encryption,
    check_displays,
    check_firewall,
    check_keyring,
    check_patch_age,
    check_screen_lock,
    posture_payload,
    posture_report,
)

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
PASS, FAIL, UNKNOWN = PostureStatus.PASS, PostureStatus.FAIL, PostureStatus.UNKNOWN
DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
UBUNTU = 'PRETTY_NAME="Ubuntu 24.04 LTS"\nID=ubuntu\nID_LIKE=debian\n'
FEDORA = 'PRETTY_NAME="Fedora Linux 41 (Workstation Edition)"\nID=fedora\n'
NOT_INSTALLED = CommandResult(None, stderr="not installed", missing=True)


def runner(outputs: Mapping[str, CommandResult]):
    """A command runner answering from ``outputs`` (keyed by the command line)."""
    def run(argv: Sequence[str]) -> CommandResult:
        return outputs.get(" ".join(argv), NOT_INSTALLED)
    return run


def ok(stdout: str = "", stderr: str = "") -> CommandResult:
    return CommandResult(0, stdout, stderr)


def write(path: Path, text: str = "", *, age: timedelta | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if age is not None:
        moment = (NOW - age).timestamp()
        os.utime(path, (moment, moment))
    return path


# ---- OS patch age ----------------------------------------------------------------------------

def patch_age(tmp_path: Path, os_release: str = DEBIAN, *, system: str = "Linux",
              updated: timedelta | None = timedelta(days=3),
              restart: bool = False) -> PostureCheck:
    if updated is not None:
        write(tmp_path / "dpkg" / "status", "Package: base-files\n", age=updated)
    write(tmp_path / "lists" / "deb.debian.org_InRelease", age=timedelta(days=1))
    if restart:
        write(tmp_path / "run" / "reboot-required", "*** System restart required ***\n")
    return check_patch_age(NOW, system=system, os_release=write(tmp_path / "os-release",
                                                                  os_release),
                           dpkg_status=tmp_path / "dpkg" / "status",
                           apt_lists=tmp_path / "lists",
                           reboot_required=tmp_path / "run" / "reboot-required", max_days=14)


def test_recent_package_update_passes(tmp_path: Path) -> None:
    check = patch_age(tmp_path, UBUNTU)
    assert check.status is PASS
    assert check.detail == ("last package update 2026-02-27, 3 day(s) ago (policy: at most "
                            "14); package lists refreshed 2026-03-01")


def test_packages_untouched_beyond_the_policy_fail(tmp_path: Path) -> None:
    check = patch_age(tmp_path, updated=timedelta(days=40))
    assert check.status is FAIL and "40 day(s) ago" in check.detail


def test_updates_waiting_for_a_restart_fail(tmp_path: Path) -> None:
    check = patch_age(tmp_path, restart=True)
    assert check.status is FAIL and check.detail.endswith("wait for a restart")


@pytest.mark.parametrize(("os_release", "system", "updated", "why"), [
    (FEDORA, "Linux", timedelta(days=1), "not on Fedora Linux 41"),
    ("", "Windows", timedelta(days=1), "not on Windows"),
    (DEBIAN, "Linux", None, "cannot be read"),
    (DEBIAN, "Linux", timedelta(days=-2), "dated in the future"),
])
def test_patch_age_that_cannot_be_read_is_unknown(tmp_path: Path, os_release: str, system: str,
                                                  updated: timedelta | None, why: str) -> None:
    check = patch_age(tmp_path, os_release, system=system, updated=updated)
    assert check.status is UNKNOWN and why in check.detail


# ---- full-disk encryption --------------------------------------------------------------------

def block_device(sys_block: Path, name: str, *, uuid: str = "", mapped: str = "",
                 slaves: Sequence[str] = ()) -> None:
    """A /sys/block entry: a device-mapper node when ``uuid`` is given."""
    node = sys_block / name
    node.mkdir(parents=True)
    if uuid:
        write(node / "dm" / "uuid", uuid + "\n")
        write(node / "dm" / "name", mapped + "\n")
    for slave in slaves:
        (node / "slaves" / slave).mkdir(parents=True)


def laptop(tmp_path: Path, *, second_disk_encrypted: bool = True) -> Path:
    """nvme0n1p3 -> LUKS (dm-0) -> LVM root (dm-1); sda1 -> LUKS (dm-2), or plain."""
    sys_block = tmp_path / "sys" / "block"
    (sys_block / "nvme0n1" / "nvme0n1p3").mkdir(parents=True)
    (sys_block / "sda" / "sda1").mkdir(parents=True)
    block_device(sys_block, "dm-0", uuid="CRYPT-LUKS2-3f2a-luks-3f2a", mapped="luks-3f2a",
                 slaves=["nvme0n1p3"])
    block_device(sys_block, "dm-2", uuid="CRYPT-LUKS2-77c1-luks-77c1", mapped="luks-77c1",
                 slaves=["sda1"])
    block_device(sys_block, "dm-1", uuid="LVM-Kq3Zr", mapped="vg-root",
                 slaves=["dm-0", "dm-2" if second_disk_encrypted else "sda1"])
    return sys_block


def mounts(tmp_path: Path, root: str, fstype: str = "ext4") -> Path:
    return write(tmp_path / "mounts", "proc /proc proc rw 0 0\n"
                 f"{root} / {fstype} rw,relatime 0 0\ntmpfs /run tmpfs rw 0 0\n")


def test_root_on_lvm_on_luks_passes(tmp_path: Path) -> None:
    check = check_disk_encryption("Linux", mounts(tmp_path, "/dev/mapper/vg-root"),
                                  laptop(tmp_path))
    assert check.status is PASS
    assert check.detail.endswith("is on dm-crypt: dm-0 (LUKS2), dm-2 (LUKS2)")


def test_root_directly_on_luks_passes(tmp_path: Path) -> None:
    check = check_disk_encryption("Linux", mounts(tmp_path, "/dev/dm-0"), laptop(tmp_path))
    assert check.status is PASS


def test_volume_spanning_one_plain_disk_fails(tmp_path: Path) -> None:
    check = check_disk_encryption("Linux", mounts(tmp_path, "/dev/mapper/vg-root"),
                                  laptop(tmp_path, second_disk_encrypted=False))
    assert check.status is FAIL


def test_root_on_a_plain_partition_fails(tmp_path: Path) -> None:
    check = check_disk_encryption("Linux", mounts(tmp_path, "/dev/sda1"), laptop(tmp_path))
    assert check.status is FAIL
    assert check.detail == "the root file system on /dev/sda1 has no dm-crypt (LUKS) layer " \
                           "beneath it"


def test_encryption_is_unknown_when_sys_cannot_be_read(tmp_path: Path) -> None:
    check = check_disk_encryption("Linux", mounts(tmp_path, "/dev/mapper/vg-root"),
                                  tmp_path / "no-sys" / "block")
    assert check.status is UNKNOWN and "cannot be read" in check.detail


def test_encryption_is_unknown_when_a_device_mapper_table_cannot_be_read(
        tmp_path: Path) -> None:
    sys_block = laptop(tmp_path)
    uuid = sys_block / "dm-1" / "dm" / "uuid"
    uuid.unlink()
    uuid.mkdir()  # reading it fails as a permission error would
    check = check_disk_encryption("Linux", mounts(tmp_path, "/dev/mapper/vg-root"), sys_block)
    assert check.status is UNKNOWN


@pytest.mark.parametrize(("root", "fstype", "why"), [
    ("overlay", "overlay", "cannot be seen from here"),
    ("server:/export/root", "nfs4", "cannot be seen from here"),
    ("/dev/root", "ext4", "not found under"),
    ("/dev/mapper/elsewhere", "ext4", "not found under"),
])
def test_encryption_of_a_root_it_cannot_trace_is_unknown(tmp_path: Path, root: str,
                                                         fstype: str, why: str) -> None:
    check = check_disk_encryption("Linux", mounts(tmp_path, root, fstype), laptop(tmp_path))
    assert check.status is UNKNOWN and why in check.detail


def test_encryption_is_unknown_without_mounts_or_off_linux(tmp_path: Path) -> None:
    sys_block = laptop(tmp_path)
    assert check_disk_encryption("Linux", tmp_path / "none", sys_block).status is UNKNOWN
    assert check_disk_encryption("Darwin", mounts(tmp_path, "/dev/sda1"),
                                 sys_block).status is UNKNOWN


# ---- screen lock -----------------------------------------------------------------------------

def gnome_settings(idle: str = "uint32 300", enabled: str = "true",
                   lock_delay: str = "uint32 0") -> dict[str, CommandResult]:
    return {"gsettings get org.gnome.desktop.session idle-delay": ok(idle + "\n"),
            "gsettings get org.gnome.desktop.screensaver lock-enabled": ok(enabled + "\n"),
            "gsettings get org.gnome.desktop.screensaver lock-delay": ok(lock_delay + "\n")}


def gnome(**settings: str):
    return runner(gnome_settings(**settings))


@pytest.mark.parametrize(("run", "status", "detail"), [
    (gnome(), PASS, "locks after 300 s idle (policy: at most 900 s)"),
    (gnome(lock_delay="uint32 120"), PASS, "locks after 420 s idle (policy: at most 900 s)"),
    (gnome(idle="uint32 1800"), FAIL, "locks after 1800 s idle (policy: at most 900 s)"),
    (gnome(idle="uint32 0"), FAIL, "the screen never blanks when idle (idle-delay 0), so it "
                                   "never locks"),
    (gnome(enabled="false"), FAIL, "the screen lock is turned off"),
])
def test_gnome_screen_lock(run, status: PostureStatus, detail: str) -> None:
    assert check_screen_lock(run, "ubuntu:GNOME", max_idle_seconds=900) == PostureCheck(
        "screen-lock", status, detail)


@pytest.mark.parametrize(("run", "desktop", "why"), [
    (gnome(), "KDE", "the desktop is KDE: only GNOME's screen lock is read"),
    (gnome(), "", "the desktop is not known"),
    (runner({}), "GNOME", "gsettings is not installed"),
    (runner({"gsettings get org.gnome.desktop.session idle-delay": CommandResult(
        1, "", "No such schema “org.gnome.desktop.session”\n")}), "GNOME",
     "GNOME settings cannot be read: No such schema"),
    (runner({"gsettings get org.gnome.desktop.session idle-delay": ok(
        "uint32 300\n", "GLib-GIO-Message: Using the 'memory' GSettings backend.")}),
     "GNOME", "memory backend"),
])
def test_screen_lock_it_cannot_read_is_unknown(run, desktop: str, why: str) -> None:
    check = check_screen_lock(run, desktop, max_idle_seconds=900)
    assert check.status is UNKNOWN and why in check.detail


# ---- firewall --------------------------------------------------------------------------------

UFW_RULESET = """table ip filter {
\tchain INPUT {
\t\ttype filter hook input priority filter; policy drop;
\t\tcounter packets 120 bytes 9000 jump ufw-before-input
\t}
}
"""
DOCKER_ONLY_RULESET = """table ip filter {
\tchain INPUT {
\t\ttype filter hook input priority filter; policy accept;
\t}
\tchain FORWARD {
\t\ttype filter hook forward priority filter; policy drop;
\t\tcounter packets 0 bytes 0 jump DOCKER-USER
\t}
}
"""
NOT_ROOT = CommandResult(1, "", "Operation not permitted (you must be root)\n")


@pytest.mark.parametrize(("outputs", "status", "detail"), [
    ({"nft list ruleset": ok(UFW_RULESET)}, PASS, "nftables filters incoming traffic"),
    ({"nft list ruleset": NOT_ROOT, "firewall-cmd --state": ok("running\n")}, PASS,
     "firewalld filters incoming traffic"),
    ({"iptables -S INPUT": ok("-P INPUT DROP\n")}, PASS, "iptables filters incoming traffic"),
    ({"nft list ruleset": ok(DOCKER_ONLY_RULESET), "ufw status": ok("Status: inactive\n")},
     FAIL, "no rule filters incoming traffic (nftables, ufw checked)"),
    ({"firewall-cmd --state": CommandResult(252, "not running\n")}, FAIL,
     "no rule filters incoming traffic (firewalld checked)"),
    ({"iptables -S INPUT": ok("-P INPUT ACCEPT\n")}, FAIL,
     "no rule filters incoming traffic (iptables checked)"),
    ({"nft list ruleset": NOT_ROOT, "ufw status": ok("Status: inactive\n")}, UNKNOWN,
     "nftables could not be read (administrator rights needed?)"),
    ({"ufw status": CommandResult(None, "", "ufw gave no answer within 3 s")}, UNKNOWN,
     "ufw could not be read (administrator rights needed?)"),
    ({}, UNKNOWN, "no firewall tool found (nft, ufw, firewall-cmd, iptables)"),
])
def test_firewall(outputs: dict, status: PostureStatus, detail: str) -> None:
    assert check_firewall("Linux", runner(outputs)) == PostureCheck("firewall", status, detail)


def test_firewall_off_linux_is_unknown() -> None:
    assert check_firewall("Windows", runner({})).status is UNKNOWN


# ---- given by the caller ---------------------------------------------------------------------

@pytest.mark.parametrize(("backend", "status"), [
    ("keyring.backends.SecretService.Keyring", PASS),
    ("keyring.backends.macOS.Keyring", PASS),
    ("keyring.backends.Windows.WinVaultKeyring", PASS),
    ("passphrase", PASS),
    ("keyrings.alt.file.PlaintextKeyring", FAIL),
    ("keyring.backends.fail.Keyring", FAIL),
    ("keyring.backends.null.Keyring", FAIL),
    ("tests.memory_keyring.MemoryKeyring", UNKNOWN),
    ("", UNKNOWN),
])
def test_keyring_backend(backend: str, status: PostureStatus) -> None:
    assert check_keyring(backend).status is status


EIZO = {"name": "DP-1", "model": "EIZO RX350", "width": 2048, "height": 1536}


@pytest.mark.parametrize(("displays", "status", "detail"), [
    ([{**EIZO, "status": "pass"}], PASS, "DP-1 2048x1536"),
    ([{**EIZO, "status": "pass"}, {"model": "Dell P2419H", "status": "fail"}], FAIL,
     "DP-1 2048x1536; Dell P2419H (a display fails its checks)"),
    ([EIZO], UNKNOWN, "DP-1 2048x1536 (display checks not all known)"),
    ([], UNKNOWN, "no display information"),
])
def test_displays(displays: list, status: PostureStatus, detail: str) -> None:
    assert check_displays(displays) == PostureCheck("displays", status, detail)


# ---- the whole report ----------------------------------------------------------------------------

def test_report_on_a_well_kept_workstation(tmp_path: Path) -> None:
    write(tmp_path / "dpkg" / "status", age=timedelta(days=2))
    probes = Probes(run=runner({**gnome_settings(), "nft list ruleset": ok(UFW_RULESET)}),
                    system="Linux", release="6.8.0-45-generic", desktop="ubuntu:GNOME",
                    os_release=write(tmp_path / "os-release", UBUNTU),
                    dpkg_status=tmp_path / "dpkg" / "status", apt_lists=tmp_path / "lists",
                    reboot_required=tmp_path / "reboot-required",
                    mounts=mounts(tmp_path, "/dev/mapper/vg-root"), sys_block=laptop(tmp_path))
    checks = posture_report("0.1.0", "keyring.backends.SecretService.Keyring",
                            [{**EIZO, "status": "pass"}], now=NOW, probes=probes)
    assert [(c.name, c.status) for c in checks] == [
        ("app-version", PASS), ("operating-system", PASS), ("os-patch-age", PASS),
        ("disk-encryption", PASS), ("screen-lock", PASS), ("firewall", PASS),
        ("keyring", PASS), ("displays", PASS)]
    assert checks[1].detail == "Ubuntu 24.04 LTS (Linux 6.8.0-45-generic)"
    assert posture_payload(checks)["status"] == "pass"


def test_a_machine_that_shows_nothing_never_passes(tmp_path: Path) -> None:
    blind = Probes(run=runner({}), system="Linux", release="", desktop="",
                   os_release=tmp_path / "x", dpkg_status=tmp_path / "x",
                   apt_lists=tmp_path / "x", reboot_required=tmp_path / "x",
                   mounts=tmp_path / "x", sys_block=tmp_path / "x")
    checks = posture_report("", "", [], now=NOW, probes=blind)
    assert {c.status for c in checks} == {UNKNOWN}
    assert checks[1].detail == "Linux, version not known"
    payload = posture_payload(checks)
    assert payload["status"] == "unknown"
    assert payload["checks"][0] == {"name": "app-version", "status": "unknown",
                                    "detail": "telerad version not known"}


# ---- running probe commands ----------------------------------------------------------------------

def test_probe_commands_never_raise() -> None:
    assert run_command(["sh", "-c", "echo out; echo err >&2; exit 3"]) == CommandResult(
        3, "out\n", "err\n")
    missing = run_command(["telerad-no-such-probe"])
    assert missing.missing and missing.returncode is None
    stuck = run_command(["sleep", "30"], timeout=0.2)
    assert stuck.returncode is None and "no answer" in stuck.stderr
