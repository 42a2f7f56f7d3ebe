"""The sign-in dialog: password and one-time code; a refusal keeps the dialog open."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import pytest

from app.auth import Authenticator, LoginPolicy
from app.ui.login import LoginDialog
from app.users import UserDirectory, totp_code, totp_step

PASSWORD = "correct horse battery staple"


@pytest.fixture
def enrolled(workstation):
    directory = UserDirectory(workstation.database, workstation.audit)
    _user, uri = directory.add_user("dr.patel", "Dr A Patel", "reporter", PASSWORD,
                                    gmc_number="1234567")
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    authenticator = Authenticator(directory, workstation.audit, LoginPolicy())
    return authenticator, secret


def _dialog(qtbot, authenticator: Authenticator) -> LoginDialog:
    dialog = LoginDialog(lambda u, p, c, now: authenticator.login(u, p, c, now=now))
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _type(dialog: LoginDialog, qtbot, password: str, code: str) -> None:
    qtbot.keyClicks(dialog.username, "dr.patel")
    qtbot.keyClicks(dialog.password, password)
    qtbot.keyClicks(dialog.code, code)
    dialog.try_login()


def test_password_and_current_code_sign_in(qtbot, enrolled) -> None:
    authenticator, secret = enrolled
    dialog = _dialog(qtbot, authenticator)
    _type(dialog, qtbot, PASSWORD, totp_code(secret, totp_step(datetime.now(UTC))))
    assert dialog.result() == LoginDialog.DialogCode.Accepted
    assert dialog.session.username == "dr.patel"
    assert dialog.password.text() == ""  # the password does not linger in the widget


def test_wrong_code_is_refused_and_the_dialog_stays_open(qtbot, enrolled) -> None:
    authenticator, secret = enrolled
    dialog = _dialog(qtbot, authenticator)
    good = totp_code(secret, totp_step(datetime.now(UTC)))
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    _type(dialog, qtbot, PASSWORD, wrong)
    assert dialog.isVisible() and dialog.session is None
    assert "wrong" in dialog.error.text()
    assert dialog.password.text() == "" and dialog.code.text() == ""
