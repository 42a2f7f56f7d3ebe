"""`telerad` as IT, scripts and the OS scheduler run it: a real process, exit codes, one line.

Each command runs as its own process, so the in-memory keyring of the other tests cannot
reach it: profiles here use the documented passphrase mode, and the OS keyring is the
"fail" backend so that no real keyring on the machine is ever touched.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.audit import AuditEvent, EventId
from app.synthetic import iter_instances, write_study
from app.workstation import open_workstation
from tests.helpers import encode, free_port, run_dcmtk, small_plan

PASSPHRASE = "correct horse battery staple"
NO_KEYRING = "keyring.backends.fail.Keyring"
COMMANDS = ("demo", "serve", "gui", "studies", "peers", "audit", "config", "users",
            "retention", "snapshot")
STUDY_KEYS = {"study_uid", "patient_name", "patient_id", "study_date", "modalities",
              "description", "instances", "received_at", "assigned_reporter"}


def environment(scratch: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("TELERAD_PROFILE", "TELERAD_PASSPHRASE")}
    env.update(PYTHON_KEYRING_BACKEND=NO_KEYRING, TCP_NODELAY="1",
               XDG_DATA_HOME=str(scratch / "xdg"))  # a slip never reaches a real profile
    return env


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return environment(tmp_path)


@pytest.fixture
def passphrase_env(cli_env: dict[str, str]) -> dict[str, str]:
    return {**cli_env, "TELERAD_PASSPHRASE": PASSPHRASE}


def telerad(*args: str, env: dict[str, str], profile: Path | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    chosen = ["--profile", str(profile)] if profile else []
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *chosen, *args], capture_output=True, text=True,
        env=env, stdin=subprocess.DEVNULL, timeout=timeout, check=False,
    )


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    return lines[0]


@pytest.fixture
def profile(tmp_path: Path, passphrase_env: dict[str, str]) -> Path:
    """A profile in passphrase mode, created by its first command without any question."""
    root = tmp_path / "profile"
    result = telerad("config", "set", "security.key_source", "passphrase",
                     profile=root, env=passphrase_env)
    assert result.returncode == 0, result.stderr
    assert (root / "settings.toml").exists()
    return root


@contextmanager
def serving(profile: Path, env: dict[str, str], *args: str) -> Iterator[
        tuple[subprocess.Popen, str]]:
    """`telerad serve` in the background until its "listening" line; killed if left running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "--profile", str(profile), "serve", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env=env,
    )
    try:
        yield process, _line_containing(process, "listening")
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _line_containing(process: subprocess.Popen, word: str, within: float = 60) -> str:
    deadline = time.monotonic() + within
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
        while time.monotonic() < deadline:
            if selector.select(timeout=0.2):
                line = process.stdout.readline()  # type: ignore[union-attr]
                if word in line:
                    return line
                assert line, f"serve exited ({process.poll()}): {process.stderr.read()}"  # type: ignore[union-attr]
    raise AssertionError(f"serve printed no {word!r} line")


# ---- help --------------------------------------------------------------------------------


HELP_MENTIONS = {
    (): (*COMMANDS, "--profile"),
    ("demo",): ("--headless", "--port", "--ct-slices", "--keep", "--exit-after-send"),
    ("serve",): ("--host", "--port", "--ae-title", "SIGTERM"),
    ("gui",): ("worklist",),
    ("studies",): ("--json",),
    ("peers",): ("add", "list", "remove"),
    ("peers", "add"): ("AE_TITLE", "--host", "--port", "--role", "sender", "pacs"),
    ("peers", "list"): ("peers",),
    ("peers", "remove"): ("AE_TITLE",),
    ("audit",): ("verify", "show"),
    ("audit", "verify"): ("exit 0", "1"),
    ("audit", "show"): ("--limit", "--json"),
    ("config",): ("show", "set"),
    ("config", "show"): ("effective",),
    ("config", "set"): ("key", "value", "JSON"),
}


@pytest.fixture(scope="module")
def help_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, ...], tuple[int, str]]:
    """``--help`` of every command, asked of real processes running side by side."""
    env = environment(tmp_path_factory.mktemp("help"))
    running = {
        command: subprocess.Popen(
            [sys.executable, "-m", "app.cli", *command, "--help"], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, env=env,
        )
        for command in HELP_MENTIONS
    }
    pages = {command: p.communicate(timeout=60)[0] for command, p in running.items()}
    return {command: (running[command].returncode, page) for command, page in pages.items()}


@pytest.mark.parametrize(
    ("command", "mentions"), list(HELP_MENTIONS.items()),
    ids=[" ".join(command) or "telerad" for command in HELP_MENTIONS],
)
def test_every_command_has_complete_help(
    help_pages: dict[tuple[str, ...], tuple[int, str]],
    command: tuple[str, ...], mentions: tuple[str, ...],
) -> None:
    exit_code, page = help_pages[command]

    assert exit_code == 0, page
    assert f"usage: telerad {' '.join(command)}".strip() in page
    for word in mentions:
        assert word in page, f"`telerad {' '.join(command)} --help` lacks {word}"


# ---- peers and settings ------------------------------------------------------------------


def test_peers_add_list_remove_round_trip(profile: Path, cli_env: dict[str, str]) -> None:
    def run(*args: str) -> subprocess.CompletedProcess:
        return telerad("peers", *args, profile=profile, env=cli_env)

    assert run("add", "CT_SCANNER", "--host", "10.1.2.3").returncode == 0
    added = run("add", "TRUST_PACS", "--host", "10.1.2.4", "--port", "104", "--role", "pacs")
    assert added.returncode == 0, added.stderr
    listed = run("list").stdout
    assert "CT_SCANNER" in listed and "10.1.2.3" in listed and "sender" in listed
    assert "TRUST_PACS" in listed and "104" in listed and "pacs" in listed

    assert run("remove", "CT_SCANNER").returncode == 0
    listed = run("list").stdout
    assert "CT_SCANNER" not in listed and "TRUST_PACS" in listed

    again = run("remove", "CT_SCANNER")
    assert again.returncode == 1
    assert "CT_SCANNER" in one_line(again.stderr)


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [(("add", "A_TITLE_OF_17_CHR"), "AE title"),
     (("add", "TRUST_PACS", "--host", "10.1.2.4", "--role", "pacs"), "--port")],
    ids=["AE title too long", "pacs without port"],
)
def test_peer_that_cannot_work_is_refused_in_one_line(
    profile: Path, cli_env: dict[str, str], arguments: tuple[str, ...], complaint: str
) -> None:
    result = telerad("peers", *arguments, profile=profile, env=cli_env)

    assert result.returncode == 1
    assert complaint in one_line(result.stderr)
    assert arguments[1] not in telerad("peers", "list", profile=profile, env=cli_env).stdout


def test_config_show_says_where_each_value_comes_from(
    profile: Path, cli_env: dict[str, str]
) -> None:
    shown = telerad("config", "show", profile=profile, env=cli_env)
    assert shown.returncode == 0
    assert 'security.key_source = "passphrase"    # settings.toml' in shown.stdout
    assert 'node.ae_title = "TELERAD"    # default' in shown.stdout

    unknown = telerad("config", "set", "node.colour", "blue", profile=profile, env=cli_env)
    assert unknown.returncode == 1
    assert "node.colour" in one_line(unknown.stderr)


def test_telerad_profile_environment_works_like_the_option(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    from_env = {**cli_env, "TELERAD_PROFILE": str(tmp_path / "chosen")}

    assert telerad("peers", "add", "CT_SCANNER", env=from_env).returncode == 0
    assert "CT_SCANNER" in telerad("peers", "list", profile=tmp_path / "chosen",
                                   env=cli_env).stdout
    assert f"# profile {tmp_path / 'chosen'}" in telerad("config", "show", env=from_env).stdout

    assert telerad("peers", "add", "ELSEWHERE", profile=tmp_path / "option",
                   env=from_env).returncode == 0
    assert "ELSEWHERE" not in telerad("peers", "list", env=from_env).stdout, "--profile wins"


# ---- the node in the foreground ----------------------------------------------------------


def test_serve_receives_a_study_that_studies_lists_and_stops_on_sigterm(
    profile: Path, passphrase_env: dict[str, str], tmp_path: Path
) -> None:
    assert telerad("peers", "add", "STORESCU", "--host", "127.0.0.1", profile=profile,
                   env=passphrase_env).returncode == 0
    plan = small_plan("CT_HEAD", 5)
    files = write_study(plan, tmp_path / "sent")
    port = free_port()

    with serving(profile, passphrase_env, "--port", str(port)) as (server, listening):
        assert f"TELERAD listening on 127.0.0.1:{port}" in listening
        sent = run_dcmtk("storescu", "-aet", "STORESCU", "-aec", "TELERAD", "127.0.0.1",
                         str(port), *files)
        assert sent.returncode == 0, sent.stderr

        listing = telerad("studies", "--json", profile=profile, env=passphrase_env)
        assert listing.returncode == 0, listing.stderr
        (study,) = json.loads(listing.stdout)
        assert set(study) >= STUDY_KEYS
        assert study["study_uid"] == plan.study_uid
        assert (study["patient_name"], study["patient_id"]) == (
            plan.patient.name, plan.patient.patient_id)
        assert (study["study_date"], study["modalities"]) == (plan.study_date, ["CT"])
        assert (study["instances"], study["description"]) == (5, "CT Head without contrast")
        assert datetime.fromisoformat(study["received_at"]).utcoffset() == timedelta(0)

        table = telerad("studies", profile=profile, env=passphrase_env).stdout
        assert plan.patient.name in table and "1 study" in table

        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)

    assert server.returncode == 0, err
    assert "stopped" in out


def test_serve_on_a_busy_port_fails_in_one_line(
    profile: Path, passphrase_env: dict[str, str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = telerad("serve", "--port", str(port), profile=profile, env=passphrase_env)

    assert result.returncode == 1
    assert str(port) in one_line(result.stderr)


# ---- keys --------------------------------------------------------------------------------


def test_without_a_keyring_studies_refuses_in_one_line(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    result = telerad("studies", profile=tmp_path / "fresh", env=cli_env)

    assert result.returncode == 1
    message = one_line(result.stderr)
    assert "keyring" in message and "passphrase" in message
    assert not (tmp_path / "fresh" / "telerad.db").exists()


# ---- audit -------------------------------------------------------------------------------


def _record_imports(profile: Path, monkeypatch: pytest.MonkeyPatch, count: int = 4) -> None:
    monkeypatch.setenv("TELERAD_PASSPHRASE", PASSPHRASE)
    workstation = open_workstation(profile)
    for n in range(count):
        workstation.audit.record(AuditEvent(
            EventId.IMPORT, "C", actor="STORESCU", source="127.0.0.1",
            objects=(("study", f"1.2.826.0.1.3680043.2.1125.{n}"),),
            detail="5 instance(s) stored"))
    workstation.close()


def test_audit_verify_passes_then_names_the_changed_entry(
    profile: Path, passphrase_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = telerad("audit", "verify", profile=profile, env=passphrase_env)
    assert fresh.returncode == 0, fresh.stderr
    assert "intact" in fresh.stdout

    _record_imports(profile, monkeypatch)
    intact = telerad("audit", "verify", profile=profile, env=passphrase_env)
    assert intact.returncode == 0
    assert "4 entries" in intact.stdout

    workstation = open_workstation(profile)
    connection = workstation.database._connection
    connection.execute("DROP TRIGGER audit_events_no_update")
    connection.execute("UPDATE audit_events SET detail = '4 instance(s) stored' WHERE seq = 3")
    workstation.close()

    broken = telerad("audit", "verify", profile=profile, env=passphrase_env)
    assert broken.returncode == 1
    assert "entry 3" in one_line(broken.stdout)


def test_audit_verify_on_a_damaged_database_fails_in_one_line(
    profile: Path, passphrase_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One byte changed on disk: the page no longer authenticates (SQLCipher HMAC)."""
    _record_imports(profile, monkeypatch)
    workstation = open_workstation(profile)
    page_size = int(workstation.database._connection.execute("PRAGMA page_size").fetchone()[0])
    root_page = workstation.database.query(
        "SELECT rootpage FROM sqlite_master WHERE name = 'audit_events'")[0]["rootpage"]
    workstation.close()
    database = profile / "telerad.db"
    assert not (profile / "telerad.db-wal").exists(), "closing checkpoints the WAL"
    damaged = bytearray(database.read_bytes())
    damaged[(root_page - 1) * page_size + page_size // 2] ^= 0x01
    database.write_bytes(bytes(damaged))

    result = telerad("audit", "verify", profile=profile, env=passphrase_env)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("telerad: error:"), result.stderr
    assert any(word in last for word in ("damaged", "database", "telerad.db")), last


def test_retention_run_purges_only_what_is_due_and_says_so(
    profile: Path, passphrase_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELERAD_PASSPHRASE", PASSPHRASE)
    workstation = open_workstation(profile)
    plan = small_plan("CR_CHEST", 1)
    dataset = next(iter_instances(plan))
    workstation.store.put(encode(dataset), dataset)
    workstation.store.mark_report_delivered(plan.study_uid, datetime.now(UTC) - timedelta(days=40))
    workstation.close()

    listed = telerad("retention", "run", "--dry-run", profile=profile, env=passphrase_env)
    assert listed.returncode == 0 and plan.study_uid in listed.stdout
    purged = telerad("retention", "run", profile=profile, env=passphrase_env)
    assert purged.returncode == 0, purged.stderr
    assert f"purged study {plan.study_uid} (1 instance(s))" in purged.stdout
    assert "1 study purged" in purged.stdout
    again = telerad("retention", "run", profile=profile, env=passphrase_env)
    assert "0 studies purged" in again.stdout
