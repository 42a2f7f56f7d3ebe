"""A reporter signs in with password and one-time code; guessing is slowed, then locked.

Time is frozen: every call gets an explicit ``now`` and every code is computed for it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from app.audit import EventId, EventType, Outcome
from app.auth import Authenticator, LoginPolicy, Session, record_idle_lock
from app.config import load_settings
from app.errors import AccountDisabled, AccountLocked, LoginRefused, LoginThrottled
from app.users import UserDirectory

PASSWORD = "tall green ladder at dawn"
NOW = datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC)  # 10 s into a 30 s time step
GENERIC = "user name, password or code is wrong"


def later(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


@pytest.fixture
def directory(workstation) -> UserDirectory:
    return UserDirectory(workstation.database, workstation.audit)


@pytest.fixture
def totp(directory) -> pyotp.TOTP:
    """Dr Patel's authenticator app, enrolled from the URI the administrator showed."""
    _, uri = directory.add_user("apatel", "Dr A Patel", "reporter", PASSWORD, "1234567")
    return pyotp.parse_uri(uri)


@pytest.fixture
def auth(workstation, directory) -> Authenticator:
    return Authenticator(directory, workstation.audit, LoginPolicy())


def fail(auth: Authenticator, at: datetime, username: str = "apatel") -> None:
    with pytest.raises(LoginRefused):
        auth.login(username, "not the password", "000000", now=at)


def logins(workstation) -> list[dict[str, object]]:
    return [e for e in workstation.audit.events() if e["event_id"] == EventId.USER_AUTHENTICATION]


def alerts(workstation) -> list[dict[str, object]]:
    return [e for e in workstation.audit.events()
            if e["event_id"] == EventId.SECURITY_ALERT and e["outcome"] == Outcome.SERIOUS_FAILURE]


# ---- the ordinary sign-in ------------------------------------------------------------------


def test_reporter_logs_in_with_password_and_current_code(auth, totp) -> None:
    session = auth.login("apatel", PASSWORD, totp.at(NOW), now=NOW)
    assert session == Session("apatel", "reporter", "Dr A Patel", NOW)


def test_user_name_is_not_case_sensitive_and_code_may_have_a_space(auth, totp) -> None:
    code = totp.at(NOW)
    assert auth.login(" APatel ", PASSWORD, f"{code[:3]} {code[3:]}", now=NOW).username == "apatel"


def test_wrong_password_is_refused(auth, totp) -> None:
    with pytest.raises(LoginRefused, match=GENERIC):
        auth.login("apatel", PASSWORD + "!", totp.at(NOW), now=NOW)


def test_wrong_code_is_refused(auth, totp) -> None:
    wrong = f"{(int(totp.at(NOW)) + 1) % 1_000_000:06d}"
    with pytest.raises(LoginRefused, match=GENERIC):
        auth.login("apatel", PASSWORD, wrong, now=NOW)


def test_unknown_user_gets_exactly_the_refusal_of_a_wrong_password(auth, totp) -> None:
    with pytest.raises(LoginRefused) as unknown:
        auth.login("nobody", PASSWORD, totp.at(NOW), now=NOW)
    with pytest.raises(LoginRefused) as wrong_password:
        auth.login("apatel", "not the password", totp.at(NOW), now=NOW)
    assert type(unknown.value) is type(wrong_password.value) is LoginRefused
    assert str(unknown.value) == str(wrong_password.value)


def test_replayed_code_is_refused(auth, totp, workstation) -> None:
    session = auth.login("apatel", PASSWORD, totp.at(NOW), now=NOW)
    auth.logout(session, now=later(5))
    with pytest.raises(LoginRefused, match="each code works once"):
        auth.login("apatel", PASSWORD, totp.at(NOW), now=later(10))
    assert logins(workstation)[-1]["detail"] == "login: one-time code already used (replay)"
    assert auth.login("apatel", PASSWORD, totp.at(later(30)), now=later(30)).username == "apatel"


def test_code_of_a_step_before_the_last_one_used_is_refused(auth, totp) -> None:
    auth.login("apatel", PASSWORD, totp.at(later(30)), now=NOW)  # phone a step ahead
    with pytest.raises(LoginRefused):
        auth.login("apatel", PASSWORD, totp.at(NOW), now=later(1))


@pytest.mark.parametrize("drift", [-30, 30])
def test_one_step_of_clock_drift_is_accepted(auth, totp, drift) -> None:
    assert auth.login("apatel", PASSWORD, totp.at(later(drift)), now=NOW).username == "apatel"


@pytest.mark.parametrize("drift", [-60, 60])
def test_two_steps_of_clock_drift_are_refused(auth, totp, drift) -> None:
    with pytest.raises(LoginRefused, match=GENERIC):
        auth.login("apatel", PASSWORD, totp.at(later(drift)), now=NOW)


def test_disabled_account_is_refused(auth, totp, directory) -> None:
    directory.disable("apatel")
    with pytest.raises(AccountDisabled, match="disabled; ask the workstation's administrator"):
        auth.login("apatel", PASSWORD, totp.at(NOW), now=NOW)


def test_disabled_account_with_a_wrong_password_gets_only_the_generic_refusal(
    auth, totp, directory
) -> None:
    directory.disable("apatel")
    with pytest.raises(LoginRefused, match=GENERIC) as refused:
        auth.login("apatel", "not the password", totp.at(NOW), now=NOW)
    assert not isinstance(refused.value, AccountDisabled)


# ---- back-off and lockout -----------------------------------------------------------------


def test_premature_retry_is_refused_with_the_wait_time(auth, totp, directory) -> None:
    for _ in range(3):
        fail(auth, NOW)
    with pytest.raises(LoginThrottled, match="wait 1 s before trying again") as early:
        auth.login("apatel", PASSWORD, totp.at(later(0.25)), now=later(0.25))
    assert early.value.wait_seconds == pytest.approx(0.75)
    assert directory.credentials("apatel").counters.failed_attempts == 3  # not counted
    assert auth.login("apatel", PASSWORD, totp.at(later(1)), now=later(1)).username == "apatel"


def test_back_off_doubles_with_each_further_failure(auth, totp) -> None:
    for _ in range(3):
        fail(auth, NOW)
    fail(auth, later(1))  # 4th failure: the next attempt waits 2 s
    with pytest.raises(LoginThrottled, match="wait 2 s"):
        auth.login("apatel", PASSWORD, totp.at(later(1.5)), now=later(1.5))


def test_success_forgets_earlier_failures(auth, totp, directory) -> None:
    fail(auth, NOW)
    fail(auth, NOW)
    auth.login("apatel", PASSWORD, totp.at(NOW), now=later(1))
    assert directory.credentials("apatel").counters.failed_attempts == 0


def lock_out(auth: Authenticator, username: str = "apatel") -> datetime:
    """Five failures, each as soon as the back-off allows; returns the time of the last."""
    for moment in (NOW, NOW, NOW, later(1)):
        fail(auth, moment, username)
    with pytest.raises(AccountLocked, match="locked after too many failed attempts"):
        auth.login(username, "not the password", "000000", now=later(3))
    return later(3)


def test_lockout_after_the_configured_failures_is_audited_as_a_security_alert(
    auth, totp, workstation
) -> None:
    lock_out(auth)
    (alert,) = alerts(workstation)
    assert alert["event_type"] == EventType.USER_SECURITY_ATTRIBUTES_CHANGED
    assert alert["actor"] == "apatel"
    assert alert["detail"].startswith("account locked after 5 failed attempts in a row")


def test_locked_account_refuses_a_correct_login_until_the_lock_expires(auth, totp) -> None:
    locked_at = lock_out(auth)
    one_minute_later = locked_at + timedelta(minutes=1)
    with pytest.raises(AccountLocked, match="until 2026-03-02 09:15 UTC"):
        auth.login("apatel", PASSWORD, totp.at(one_minute_later), now=one_minute_later)
    expired = locked_at + timedelta(minutes=15, seconds=1)
    assert auth.login("apatel", PASSWORD, totp.at(expired), now=expired).username == "apatel"


def test_after_an_expired_lock_the_count_starts_afresh(auth, totp, directory) -> None:
    expired = lock_out(auth) + timedelta(minutes=16)
    fail(auth, expired)
    assert directory.credentials("apatel").counters.failed_attempts == 1


def test_lock_without_an_end_waits_for_the_administrator(workstation, directory, totp) -> None:
    auth = Authenticator(directory, workstation.audit, LoginPolicy(lockout_minutes=0))
    next_day = lock_out(auth) + timedelta(days=1)
    with pytest.raises(AccountLocked, match="ask the workstation's administrator to unlock"):
        auth.login("apatel", PASSWORD, totp.at(next_day), now=next_day)
    directory.unlock("apatel")
    assert auth.login("apatel", PASSWORD, totp.at(next_day), now=next_day).username == "apatel"


def test_unknown_user_name_is_backed_off_and_locked_like_a_real_one(auth, workstation) -> None:
    lock_out(auth, "nobody")
    assert [a["actor"] for a in alerts(workstation)] == ["nobody"]


def test_policy_comes_from_the_profile_settings(tmp_path) -> None:
    (tmp_path / "settings.toml").write_text(
        "[auth]\nmax_failures = 3\nlockout_minutes = 0\nbackoff_start = 2\n", encoding="utf-8")
    policy = LoginPolicy.from_settings(load_settings(tmp_path / "settings.toml"))
    assert policy == LoginPolicy(max_failures=3, lockout_minutes=0, backoff_start=2)
    assert LoginPolicy.from_settings(load_settings(tmp_path / "absent.toml")) == LoginPolicy()


# ---- re-authentication before signing --------------------------------------------------------


def test_signing_rechecks_a_fresh_code_but_not_the_one_used_to_log_in(auth, totp) -> None:
    auth.login("apatel", PASSWORD, totp.at(NOW), now=NOW)
    with pytest.raises(LoginRefused, match="already used"):
        auth.verify_code("apatel", totp.at(NOW), later(20))
    auth.verify_code("apatel", totp.at(later(30)), later(30))


def test_failed_code_rechecks_count_towards_the_lock(auth, totp, directory) -> None:
    for _ in range(3):
        with pytest.raises(LoginRefused):
            auth.verify_code("apatel", "000000", NOW)
    with pytest.raises(LoginThrottled):
        auth.verify_code("apatel", totp.at(NOW), NOW)
    assert directory.credentials("apatel").counters.failed_attempts == 3


# ---- the audit trail -----------------------------------------------------------------------


def test_login_success_failure_and_logout_are_user_authentication_events(
    auth, totp, workstation
) -> None:
    fail(auth, NOW)
    session = auth.login("apatel", PASSWORD, totp.at(NOW), now=later(1))
    auth.logout(session, now=later(60))
    assert [(e["event_type"], e["outcome"], e["actor"], e["detail"]) for e in logins(workstation)
            ] == [
        (EventType.LOGIN, Outcome.MINOR_FAILURE, "apatel", "login: wrong password"),
        (EventType.LOGIN, Outcome.SUCCESS, "apatel", "login: accepted"),
        (EventType.LOGOUT, Outcome.SUCCESS, "apatel", "logout"),
    ]
    assert [e["recorded_at"] for e in logins(workstation)] == [
        NOW.isoformat(), later(1).isoformat(), later(60).isoformat()]
    assert workstation.audit.verify() is None


def test_audit_never_holds_the_password_or_the_code(auth, totp, workstation) -> None:
    code = totp.at(NOW)
    fail(auth, NOW)
    auth.login("apatel", PASSWORD, code, now=NOW)
    text = repr(workstation.audit.events())
    assert PASSWORD not in text and "not the password" not in text and code not in text


def test_a_password_typed_as_user_name_is_not_written_to_the_audit(auth, workstation) -> None:
    fail(auth, NOW, username="Tall green ladder at dawn")
    assert logins(workstation)[-1]["actor"] == "(not a user name)"


def test_login_needs_an_aware_time(auth, totp) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        auth.login("apatel", PASSWORD, totp.at(NOW), now=NOW.replace(tzinfo=None))


def test_idle_lock_is_audited_as_the_end_of_active_time(workstation) -> None:
    record_idle_lock(workstation.audit, "alice", datetime(2026, 11, 27, 10, 0, tzinfo=UTC))
    event = workstation.audit.events()[-1]
    assert (event["event_id"], event["event_type"], event["actor"], event["detail"]) == (
        "110114", "110123", "alice", "idle lock")
