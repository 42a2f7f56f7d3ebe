"""`telerad users …` as the workstation's administrator types it: real processes, one line on error.

Profiles use the documented passphrase mode and the "fail" keyring backend, like the other
command line tests, so no real keyring is touched.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest

from app.auth import Authenticator, LoginPolicy
from app.users import UserDirectory
from app.workstation import open_workstation
from tests.integration.test_cli import PASSPHRASE, environment, one_line, telerad

PASSWORD = "tall green ladder at dawn"
USERS_ACTIONS = ("add", "list", "disable", "unlock", "reset-totp", "code")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**environment(tmp_path), "TELERAD_PASSPHRASE": PASSPHRASE,
            "TELERAD_NEW_PASSWORD": PASSWORD}


@pytest.fixture
def profile(tmp_path: Path, env: dict[str, str]) -> Path:
    root = tmp_path / "profile"
    result = telerad("config", "set", "security.key_source", "passphrase", profile=root, env=env)
    assert result.returncode == 0, result.stderr
    return root


def add_reporter(profile: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = telerad("users", "add", "apatel", "--name", "Dr A Patel", "--role", "reporter",
                     "--gmc", "1234567", profile=profile, env=env)
    assert result.returncode == 0, result.stderr
    return result


def test_administrator_adds_a_reporter_and_the_list_shows_the_role(profile, env) -> None:
    added = add_reporter(profile, env)
    assert "user apatel added: Dr A Patel, reporter, GMC 1234567" in added.stdout
    uri = re.search(r"otpauth://totp/\S+", added.stdout).group(0)
    assert pyotp.parse_uri(uri).name == "apatel"
    assert "▀" in added.stdout or "▄" in added.stdout  # the QR code, drawn as text
    assert PASSWORD not in added.stdout + added.stderr

    listed = telerad("users", "list", profile=profile, env=env)
    assert listed.returncode == 0, listed.stderr
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith("apatel")]
    assert row.split()[:6] == ["apatel", "Dr", "A", "Patel", "reporter", "1234567"]
    assert "active" in row


def test_disabled_account_shows_as_disabled(profile, env) -> None:
    add_reporter(profile, env)
    disabled = telerad("users", "disable", "apatel", profile=profile, env=env)
    assert disabled.returncode == 0, disabled.stderr
    listed = telerad("users", "list", profile=profile, env=env)
    assert "disabled" in next(line for line in listed.stdout.splitlines() if "apatel" in line)


def test_reset_totp_prints_a_new_uri(profile, env) -> None:
    first = re.search(r"otpauth://\S+", add_reporter(profile, env).stdout).group(0)
    reset = telerad("users", "reset-totp", "apatel", profile=profile, env=env)
    assert reset.returncode == 0, reset.stderr
    second = re.search(r"otpauth://\S+", reset.stdout).group(0)
    assert pyotp.parse_uri(second).secret != pyotp.parse_uri(first).secret


@pytest.mark.parametrize(("password", "message"), [
    (None, "set TELERAD_NEW_PASSWORD or run from a terminal"),
    ("short", "use at least 12"),
])
def test_add_without_a_good_password_is_refused_in_one_line(profile, env, password, message
                                                            ) -> None:
    env = {k: v for k, v in env.items() if k != "TELERAD_NEW_PASSWORD"}
    if password is not None:
        env["TELERAD_NEW_PASSWORD"] = password
    result = telerad("users", "add", "apatel", "--name", "Dr A Patel", "--role", "reporter",
                     profile=profile, env=env)
    assert result.returncode == 1
    assert message in one_line(result.stderr)


def test_current_code_is_refused_on_a_real_profile(profile, env) -> None:
    add_reporter(profile, env)
    result = telerad("users", "code", "apatel", profile=profile, env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "demo profiles only (profile.demo is false)" in one_line(result.stderr)


def test_code_printed_on_a_demo_profile_logs_in(profile, env, monkeypatch) -> None:
    assert telerad("config", "set", "profile.demo", "true", profile=profile,
                   env=env).returncode == 0
    add_reporter(profile, env)
    result = telerad("users", "code", "apatel", profile=profile, env=env)
    assert result.returncode == 0, result.stderr
    code = one_line(result.stdout)
    assert re.fullmatch(r"\d{6}", code)

    monkeypatch.setenv("TELERAD_PASSPHRASE", PASSPHRASE)
    workstation = open_workstation(profile)
    try:
        directory = UserDirectory(workstation.database, workstation.audit)
        auth = Authenticator(directory, workstation.audit,
                             LoginPolicy.from_settings(workstation.settings))
        # One step of drift is allowed, so the seconds between the two calls do not matter.
        session = auth.login("apatel", PASSWORD, code, now=datetime.now(UTC))
        assert (session.username, session.role) == ("apatel", "reporter")
        shown = [e for e in workstation.audit.events() if "shown (demo profile)" in e["detail"]]
        assert len(shown) == 1
    finally:
        workstation.close()


@pytest.fixture(scope="module")
def users_help(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str]]:
    """``--help`` of `users` and each of its actions, from real processes side by side."""
    env = environment(tmp_path_factory.mktemp("users-help"))
    running = {
        action: subprocess.Popen(
            [sys.executable, "-m", "app.cli", "users", *([action] if action else []), "--help"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, env=env)
        for action in ("", *USERS_ACTIONS)
    }
    return {action: (process.wait(timeout=60), process.stdout.read())  # type: ignore[union-attr]
            for action, process in running.items()}


@pytest.mark.parametrize(("action", "mentions"), [
    ("", USERS_ACTIONS),
    ("add", ("USERNAME", "--name", "--role", "reporter", "it-auditor", "admin", "--gmc",
             "TELERAD_NEW_PASSWORD", "otpauth", "QR")),
    ("list", ("--json", "role")),
    ("disable", ("USERNAME", "signing in")),
    ("unlock", ("USERNAME", "lock")),
    ("reset-totp", ("USERNAME", "otpauth", "QR")),
    ("code", ("USERNAME", "profile.demo")),
])
def test_every_users_command_explains_itself(users_help, action, mentions) -> None:
    status, text = users_help[action]
    assert status == 0, text
    for word in mentions:
        assert word in text, f"`telerad users {action} --help` does not mention {word}"


def test_second_reader_gets_a_key_only_from_a_signed_in_reader(profile, env,
                                                              monkeypatch) -> None:
    added = add_reporter(profile, env)
    secret = pyotp.parse_uri(re.search(r"otpauth://totp/\S+", added.stdout).group(0)).secret
    refused = telerad("users", "add", "bjones", "--name", "Dr B Jones", "--role", "reporter",
                      profile=profile, env=env)
    assert refused.returncode == 1
    assert "--by" in one_line(refused.stderr)
    assert "bjones" not in telerad("users", "list", profile=profile, env=env).stdout

    by_apatel = {**env, "TELERAD_PASSWORD": PASSWORD,
                 "TELERAD_CODE": pyotp.TOTP(secret).now()}
    granted = telerad("users", "add", "bjones", "--name", "Dr B Jones", "--role", "reporter",
                      "--by", "apatel", profile=profile, env=by_apatel)
    assert granted.returncode == 0, granted.stderr
    monkeypatch.setenv("TELERAD_PASSPHRASE", PASSPHRASE)
    workstation = open_workstation(profile)
    try:
        assert workstation.store.locked  # nobody signed in: patient data stays sealed
        workstation.unlock("bjones", PASSWORD)  # bjones's own password opens it
        assert not workstation.store.locked
    finally:
        workstation.close()


def test_an_it_auditor_needs_no_key_to_be_added(profile, env) -> None:
    add_reporter(profile, env)
    auditor = telerad("users", "add", "itaudit", "--name", "Trust IT", "--role", "it-auditor",
                      profile=profile, env=env)
    assert auditor.returncode == 0, auditor.stderr
