"""Sign-in: password and one-time code (STANDARDS §8: MFA on all remote access).

The dialog only collects what the reporter types; the Authenticator decides, counts
failures, backs off and audits (app.auth). Errors never say which part was wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
)

from app.errors import TeleradError

Login = Callable[[str, str, str, datetime], object]  # (user, password, code, now) → session


class LoginDialog(QDialog):
    """Asks for user name, password and the authenticator app's current code."""

    def __init__(self, login: Login, *, title: str = "Sign in to telerad",
                 username: str = "", explanation: str = "") -> None:
        super().__init__()
        self.setObjectName("login")
        self.setWindowTitle(title)
        self._login = login
        self.session: object | None = None
        self.username = QLineEdit(username)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.code = QLineEdit()
        self.code.setMaxLength(6)
        self.code.setInputMask("999999;_")
        self.error = QLabel("")
        self.error.setObjectName("login-error")
        self.error.setStyleSheet("color: #ff6b6b;")
        self.error.setWordWrap(True)
        form = QFormLayout()
        form.addRow("User name", self.username)
        form.addRow("Password", self.password)
        form.addRow("One-time code", self.code)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.try_login)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        if explanation:
            note = QLabel(explanation)
            note.setWordWrap(True)
            layout.addWidget(note)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        (self.password if username else self.username).setFocus(Qt.FocusReason.OtherFocusReason)

    def try_login(self) -> None:
        """One attempt; the dialog stays open with the reason when it is refused."""
        try:
            self.session = self._login(self.username.text().strip(), self.password.text(),
                                       self.code.text().strip(), datetime.now(UTC))
        except TeleradError as refused:
            self.error.setText(str(refused))
            self.password.clear()
            self.code.clear()
            return
        self.password.clear()
        self.accept()
