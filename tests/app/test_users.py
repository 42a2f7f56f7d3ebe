"""The administrator enrols accounts: validated names and roles, hashed passwords, audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyotp
import pytest

from app.audit import EventId, EventType, Outcome
from app.errors import AuthError, UnknownUser, WeakPassword
from app.users import User, UserDirectory

PASSWORD = "tall green ladder at dawn"
ENROLLED_AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def directory(workstation) -> UserDirectory:
    return UserDirectory(workstation.database, workstation.audit, operator="it.admin")


def stored_row(workstation, username: str) -> dict[str, object]:
    return workstation.database.query("SELECT * FROM users WHERE username = ?", (username,))[0]


def test_enrolment_returns_the_account_and_the_uri_for_the_authenticator_app(directory) -> None:
    user, uri = directory.add_user("apatel", "Dr A Patel", "reporter", PASSWORD, "1234567",
                                   now=ENROLLED_AT)
    assert user == User("apatel", "Dr A Patel", "reporter", "1234567", disabled=False,
                        locked_until=None, created_at=ENROLLED_AT)
    totp = pyotp.parse_uri(uri)
    assert uri.startswith("otpauth://totp/telerad:apatel?")
    assert (totp.issuer, totp.name, totp.interval, totp.digits) == ("telerad", "apatel", 30, 6)
    assert len(totp.secret) == 32  # 160 bits of base32 (RFC 4226 §4)


def test_accounts_are_listed_with_their_roles(directory) -> None:
    directory.add_user("apatel", "Dr A Patel", "reporter", PASSWORD, "1234567")
    directory.add_user("it.audit", "Trust IT", "it-auditor", PASSWORD)
    directory.add_user("admin", "Workstation admin", "admin", PASSWORD)
    assert [(u.username, u.role) for u in directory.list_users()] == [
        ("admin", "admin"), ("apatel", "reporter"), ("it.audit", "it-auditor")]
    assert directory.get("apatel").gmc_number == "1234567"


@pytest.mark.parametrize(("password", "hint"), [
    ("short pw", "has 8 characters: use at least 12"),
    ("apatel-is-my-password", "must not contain the user name 'apatel'"),
    ("APATEL and more words", "must not contain the user name"),
    ("aaaaaaaaaaaaaaaa", "too few characters"),
])
def test_weak_password_is_refused_with_a_helpful_message(directory, password, hint) -> None:
    with pytest.raises(WeakPassword, match=hint):
        directory.add_user("apatel", "Dr A Patel", "reporter", password)
    assert directory.list_users() == []


@pytest.mark.parametrize("username", ["a", "APatel", "a patel", "a" * 33, "ápatel", "a/b"])
def test_user_name_outside_the_allowed_characters_is_refused(directory, username) -> None:
    with pytest.raises(AuthError, match="2 to 32 characters of lowercase letters"):
        directory.add_user(username, "Dr A Patel", "reporter", PASSWORD)


@pytest.mark.parametrize(("role", "gmc", "message"), [
    ("radiologist", "", "role must be one of reporter, it-auditor, admin"),
    ("reporter", "123456", "must be exactly 7 digits"),
    ("reporter", "12345678", "must be exactly 7 digits"),
    ("it-auditor", "1234567", "only reporters sign reports"),
])
def test_role_and_gmc_number_are_checked(directory, role, gmc, message) -> None:
    with pytest.raises(AuthError, match=message):
        directory.add_user("apatel", "Dr A Patel", role, PASSWORD, gmc)


def test_the_same_user_name_cannot_be_enrolled_twice(directory) -> None:
    directory.add_user("apatel", "Dr A Patel", "reporter", PASSWORD)
    with pytest.raises(AuthError, match="already exists"):
        directory.add_user("apatel", "Dr B Patel", "reporter", PASSWORD + " too")


def test_the_stored_hash_never_contains_the_password(workstation, directory) -> None:
    directory.add_user("apatel", "Dr A Patel", "reporter", PASSWORD)
    row = stored_row(workstation, "apatel")
    assert row["password_parameters"] == "m=65536,t=3,p=4"  # RFC 9106 second recommendation
    assert len(row["password_salt"]) == 16 and len(row["password_hash"]) == 32
    for value in row.values():
        raw = value if isinstance(value, bytes) else str(value).encode()
        assert PASSWORD.encode() not in raw
    assert directory.credentials("apatel").password.matches(PASSWORD)
    assert not directory.credentials("apatel").password.matches(PASSWORD.upper())


def test_two_users_with_the_same_password_get_different_hashes(workstation, directory) -> None:
    directory.add_user("apatel", "Dr A Patel", "reporter", PASSWORD)
    directory.add_user("bjones", "Dr B Jones", "reporter", PASSWORD)
    first, second = stored_row(workstation, "apatel"), stored_row(workstation, "bjones")
    assert first["password_salt"] != second["password_salt"]
    assert first["password_hash"] != second["password_hash"]


def test_reset_gives_a_new_secret_and_forgets_the_last_code(workstation, directory) -> None:
    _, first_uri = directory.add_user("apatel", "Dr A Patel", "reporter", PASSWORD)
    directory.record_success("apatel", step=12345)
    second_uri = directory.reset_totp("apatel")
    assert pyotp.parse_uri(second_uri).secret != pyotp.parse_uri(first_uri).secret
    assert stored_row(workstation, "apatel")["totp_last_step"] == 0


def test_disabled_account_is_listed_as_disabled(directory) -> None:
    directory.add_user("apatel", "Dr A Patel", "reporter", PASSWORD)
    assert directory.disable("apatel").disabled
    assert directory.get("apatel").disabled


def test_commands_on_an_unknown_account_name_it(directory) -> None:
    for change in (directory.disable, directory.unlock, directory.reset_totp, directory.get):
        with pytest.raises(UnknownUser, match=r"no user 'ghost'.*telerad users list"):
            change("ghost")


def test_every_change_by_the_administrator_is_audited(workstation, directory) -> None:
    directory.add_user("apatel", "Dr A Patel", "reporter", PASSWORD)
    directory.disable("apatel")
    directory.unlock("apatel")
    directory.reset_totp("apatel")
    events = workstation.audit.events()
    assert [e["detail"] for e in events] == [
        "account apatel added as reporter", "account apatel disabled",
        "account apatel unlocked", "one-time code of apatel reset"]
    for event in events:
        assert event["event_id"] == EventId.SECURITY_ALERT
        assert event["event_type"] == EventType.USER_SECURITY_ATTRIBUTES_CHANGED
        assert (event["outcome"], event["actor"]) == (Outcome.SUCCESS, "it.admin")
        assert json.loads(event["objects"]) == [["user", "apatel"]]
        assert PASSWORD not in json.dumps(event)


def test_accounts_survive_reopening_the_profile(tmp_path) -> None:
    from app.workstation import open_workstation

    first = open_workstation(tmp_path / "profile")
    UserDirectory(first.database, first.audit).add_user("apatel", "Dr A Patel", "reporter",
                                                         PASSWORD)
    first.close()
    again = open_workstation(tmp_path / "profile")
    try:
        assert UserDirectory(again.database, again.audit).get("apatel").role == "reporter"
    finally:
        again.close()
