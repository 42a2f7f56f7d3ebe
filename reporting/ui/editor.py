"""The report editor: sections from the template, alerts, sign, return, addenda.

A thin view over a ``ReportService`` (the app's ReportDesk): every rule lives in
reporting.model and the desk; this widget gathers text, autosaves it every few seconds
and shows what the desk says. Slow work (reading the study header, building the SR)
runs off the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from PySide6.QtCore import QDateTime, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from reporting.model import (
    SECTIONS,
    Alert,
    AlertCategory,
    Communication,
    Draft,
    PartKind,
    Report,
    ReportError,
    ReportState,
)
from reporting.templates import expand_macros
from reporting.view import report_text
from viewer.ui.background import BackgroundRunner

AUTOSAVE_MS = 3000
METHODS = ("telephone", "in person", "secure email", "video call")


class ReportService(Protocol):
    def open_draft(self, study_uid: str, kind: PartKind, *, now: datetime,
                   prior: Any = None) -> Draft: ...
    def save_draft(self, draft: Draft, *, now: datetime) -> None: ...
    def sign(self, draft: Draft, code: str, *, now: datetime,
             qa_override: str = "") -> Report: ...
    def display_warning(self) -> tuple[str, bool]: ...
    def report(self, study_uid: str) -> Report: ...
    def delivery_lines(self, study_uid: str) -> list[str]: ...
    def macros(self) -> Mapping[str, str]: ...


def _now() -> datetime:
    return datetime.now(UTC)


class AlertBox(QWidget):
    """Alert category and who at the trust was told, how and when (RCR fail-safe alerts)."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.category = QComboBox()
        self.category.addItem("No alert", None)
        for category in AlertCategory:
            self.category.addItem(category.label, category)
        self.told = QLineEdit(placeholderText="who at the trust was told (name, role)")
        self.method = QComboBox()
        self.method.addItems(METHODS)
        self.method.setEditable(True)
        self.when = QDateTimeEdit(QDateTime.currentDateTime(), calendarPopup=True)
        self.when.setDisplayFormat("yyyy-MM-dd HH:mm")
        layout = QVBoxLayout(self)  # category, then who was told, then how and when
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.category)
        layout.addWidget(self.told)
        how_and_when = QHBoxLayout()
        how_and_when.addWidget(self.method, 1)
        how_and_when.addWidget(self.when, 1)
        layout.addLayout(how_and_when)
        for signal in (self.category.currentIndexChanged, self.told.textChanged,
                       self.method.currentTextChanged, self.when.dateTimeChanged):
            signal.connect(self._changed)
        self._show_communication()

    def _changed(self, *_args: object) -> None:
        self._show_communication()
        self.changed.emit()

    def _show_communication(self) -> None:
        flagged = self.category.currentData() is not None
        for widget in (self.told, self.method, self.when):
            widget.setVisible(flagged)

    def alert(self) -> Alert | None:
        """The alert as entered; communication is None until who and how are filled in."""
        data = self.category.currentData()
        if data is None:
            return None
        category = AlertCategory(data)  # Qt hands the enum back as its string value
        if not (self.told.text().strip() and self.method.currentText().strip()):
            return Alert(category)
        at = self.when.dateTime().toPython().astimezone(UTC)
        return Alert(category, Communication(self.told.text().strip(),
                                             self.method.currentText().strip(), at))

    def show_alert(self, alert: Alert | None) -> None:
        self.category.setCurrentIndex(0 if alert is None else
                                      self.category.findData(alert.category))
        if alert and alert.communication:
            told = alert.communication
            self.told.setText(told.told)
            self.method.setCurrentText(told.method)
            self.when.setDateTime(QDateTime(told.at.astimezone()))


class ReportEditor(QWidget):
    """Write, flag, sign or return one study's report; then add addenda."""

    signed = Signal(str)  # study UID

    def __init__(self, service: ReportService) -> None:
        super().__init__()
        self.setObjectName("reportEditor")
        self._service = service
        self._runner = BackgroundRunner(self)
        self._draft: Draft | None = None
        self._dirty = False
        self.study_uid = ""
        self.ask_code: Callable[[], str | None] = self._ask_code
        self.ask_reason: Callable[[str], str | None] = self._ask_reason
        self.title = QLabel("Report — open a study from the worklist")
        self.title.setObjectName("heading")
        self.state = QLabel("")
        self.state.setWordWrap(True)
        self.sections = {key: QPlainTextEdit(objectName=f"section_{key}") for key in SECTIONS}
        self.addendum_text = QPlainTextEdit(objectName="section_addendum")
        self.addendum_reason = QLineEdit(placeholderText="why the addendum is made")
        self.alert = AlertBox()
        self.signed_view = QTextBrowser()
        self.sign_button = QPushButton("Sign report…")
        self.return_button = QPushButton("Return to referrer…")
        self.addendum_button = QPushButton("Add addendum")
        self._build()
        self._autosave = QTimer(self, interval=AUTOSAVE_MS)
        self._autosave.timeout.connect(self.save_now)
        self._autosave.start()
        self._show_mode(None)
        self.addendum_button.setEnabled(False)  # until a signed report is shown

    def _build(self) -> None:
        form = QFormLayout()
        for key, editor in self.sections.items():
            editor.setTabChangesFocus(True)
            editor.textChanged.connect(lambda editor=editor: self._edited(editor))
            form.addRow(SECTIONS[key], editor)
        self.addendum_text.textChanged.connect(lambda: self._edited(self.addendum_text))
        self.addendum_reason.textChanged.connect(self._mark_dirty)
        form.addRow("Addendum", self.addendum_text)
        form.addRow("Reason", self.addendum_reason)
        form.addRow("Alert", self.alert)
        self.alert.changed.connect(self._mark_dirty)
        fields = QWidget()
        fields.setLayout(form)
        self._form = form
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(fields)
        buttons = QHBoxLayout()
        for button in (self.return_button, self.addendum_button, self.sign_button):
            buttons.addWidget(button)
        self.sign_button.clicked.connect(self.sign)
        self.return_button.clicked.connect(self.return_to_referrer)
        self.addendum_button.clicked.connect(self.start_addendum)
        layout = QVBoxLayout(self)
        for widget in (self.title, self.state):
            layout.addWidget(widget)
        layout.addWidget(self.signed_view, 1)
        layout.addWidget(scroll, 2)
        self._fields = scroll
        layout.addStretch(0)  # takes the space only when no report is shown
        layout.addLayout(buttons)

    # ---- opening -------------------------------------------------------------------------

    def open_study(self, study_uid: str, title: str, prior: Any = None) -> None:
        """Load the study's report, or its draft (prefilled from template and prior)."""
        self.save_now()
        self.study_uid, self._draft = study_uid, None
        self.title.setText(f"Report — {title}")
        self.state.setText("Opening…")
        self._show_mode(None)

        def load() -> tuple[Report, Draft | None]:
            report = self._service.report(study_uid)
            if report.state is not ReportState.DRAFT:
                return report, None
            return report, self._service.open_draft(study_uid, PartKind.REPORT, now=_now(),
                                                    prior=prior)
        self._runner.run(load, self._loaded, self._failed)

    def _loaded(self, loaded: tuple[Report, Draft | None]) -> None:
        report, draft = loaded
        if report.study_uid != self.study_uid:
            return  # another study was opened meanwhile
        self._show_report(report)
        if draft is not None:
            self._edit(draft)

    def _edit(self, draft: Draft) -> None:
        self._draft = draft
        editors = self.sections if draft.kind is PartKind.REPORT else {
            "addendum": self.addendum_text}
        for key, editor in editors.items():
            editor.blockSignals(True)
            editor.setPlainText(draft.sections.get(key, ""))
            editor.blockSignals(False)
        self.addendum_reason.setText(draft.reason if draft.kind is PartKind.ADDENDUM else "")
        self.alert.show_alert(draft.alert)
        self._dirty = False
        self._show_mode(draft.kind)

    def _show_mode(self, kind: PartKind | None) -> None:
        """Show the fields that belong to what is being written (nothing when signed)."""
        for editor in self.sections.values():
            self._set_row_visible(editor, kind is PartKind.REPORT)
            editor.setReadOnly(kind is not PartKind.REPORT)
        for widget in (self.addendum_text, self.addendum_reason):
            self._set_row_visible(widget, kind is PartKind.ADDENDUM)
        self._set_row_visible(self.alert, kind is not None)
        self.sign_button.setEnabled(kind is not None)
        self.sign_button.setText("Sign addendum…" if kind is PartKind.ADDENDUM
                                 else "Sign report…")
        self.return_button.setEnabled(kind is PartKind.REPORT)
        self.signed_view.setVisible(kind is not PartKind.REPORT and bool(self.study_uid))
        self._fields.setVisible(kind is not None)

    def _set_row_visible(self, widget: QWidget, visible: bool) -> None:
        widget.setVisible(visible)
        label = self._form.labelForField(widget)
        if label is not None:
            label.setVisible(visible)

    def refresh_status(self) -> None:
        """Delivery moved on: show the signed report's status again (drafts untouched)."""
        if self.study_uid and self._draft is None:
            study_uid = self.study_uid
            self._runner.run(lambda: self._service.report(study_uid), lambda report: (
                self._show_report(report) if report.study_uid == self.study_uid else None),
                self._failed)

    def _show_report(self, report: Report) -> None:
        self.signed_view.setPlainText(report_text(report))
        signed = report.state in (ReportState.FINAL, ReportState.ADDENDED)
        self.addendum_button.setEnabled(signed)
        lines = [f"State: {report.state.value}"]
        lines += self._service.delivery_lines(report.study_uid)
        self.state.setText("\n".join(lines))

    # ---- editing -------------------------------------------------------------------------

    def _edited(self, editor: QPlainTextEdit) -> None:
        self._mark_dirty()
        text = editor.toPlainText()
        if text.endswith((" ", "\n")):
            expanded = expand_macros(text, self._service.macros())
            if expanded != text:
                editor.blockSignals(True)
                editor.setPlainText(expanded)
                editor.moveCursor(editor.textCursor().MoveOperation.End)
                editor.blockSignals(False)

    def _mark_dirty(self, *_args: object) -> None:
        self._dirty = True

    def current_draft(self) -> Draft | None:
        """The draft with what is on screen now."""
        if self._draft is None:
            return None
        if self._draft.kind is PartKind.ADDENDUM:
            return self._draft.edited(sections={"addendum": self.addendum_text.toPlainText()},
                                      reason=self.addendum_reason.text(),
                                      alert=self.alert.alert())
        return self._draft.edited(
            sections={key: editor.toPlainText() for key, editor in self.sections.items()},
            alert=self.alert.alert())

    def save_now(self) -> None:
        """Autosave (every few seconds, and before anything else happens)."""
        draft = self.current_draft()
        if draft is None or not self._dirty:
            return
        try:
            self._service.save_draft(draft, now=_now())
        except Exception as exc:  # shown, and the text stays on screen to try again
            self.state.setText(f"Draft NOT saved: {exc}")
            return
        self._dirty = False
        self.state.setText(f"Draft saved {datetime.now().strftime('%H:%M:%S')}")

    # ---- signing -------------------------------------------------------------------------

    def sign(self) -> None:
        draft = self.current_draft()
        if draft is not None:
            self.save_now()
            self._sign_draft(draft)

    def _sign_draft(self, draft: Draft) -> None:
        """Say what is missing, else ask for the one-time code and sign off the GUI thread."""
        try:
            draft.check_signable()
        except ReportError as exc:
            QMessageBox.warning(self, "Not ready to sign", str(exc))
            return
        override = self._display_override()
        if override is None:
            return
        code = self.ask_code()
        if not code:
            return
        self.sign_button.setEnabled(False)
        self.state.setText("Signing…")
        self._runner.run(lambda: self._service.sign(draft, code.strip(), now=_now(),
                                                    qa_override=override),
                         self._signed, self._sign_failed)

    def _display_override(self) -> str | None:
        """"" on a display fit for diagnosis; else the reporter's reason to sign anyway
        (None: not signing — no reason given, or the policy forbids it)."""
        warning, may_override = self._service.display_warning()
        if not warning:
            return ""
        if not may_override:
            QMessageBox.warning(self, "Not signed", f"{warning}. The policy forbids signing "
                                "until the display passes its QA.")
            return None
        reason = self.ask_reason(f"{warning}.\nWhy sign on this display anyway? (audited)")
        return reason.strip() if reason and reason.strip() else None

    def _signed(self, report: Report) -> None:
        self._draft, self._dirty = None, False
        self._show_report(report)
        self._show_mode(None)
        self.signed.emit(report.study_uid)

    def _sign_failed(self, error: Exception) -> None:
        self.sign_button.setEnabled(True)
        self.state.setText(f"Not signed: {error}")
        QMessageBox.warning(self, "Not signed", str(error))

    def return_to_referrer(self) -> None:
        """Return a study unsuitable for the service: no result, the reason goes to the RIS."""
        if self._draft is None or self._draft.kind is not PartKind.REPORT:
            return
        reason = self.ask_reason("Why is the study unsuitable for the service?")
        if reason and reason.strip():
            self._sign_draft(Draft(self.study_uid, self._draft.author, PartKind.RETURN,
                                   opened_at=self._draft.opened_at, reason=reason.strip()))

    def start_addendum(self) -> None:
        self._runner.run(
            lambda: self._service.open_draft(self.study_uid, PartKind.ADDENDUM, now=_now()),
            self._edit, self._failed)

    def _failed(self, error: Exception) -> None:
        self.state.setText(f"Error: {error}")

    def _ask_code(self) -> str | None:
        code, ok = QInputDialog.getText(self, "Sign", "One-time code from your authenticator:")
        return code if ok else None

    def _ask_reason(self, question: str) -> str | None:
        reason, ok = QInputDialog.getMultiLineText(self, "Reason", question)
        return reason if ok else None

    def hide_patient_data(self, hidden: bool) -> None:
        """Idle lock: nothing of the patient stays on screen."""
        self.setVisible(not hidden)

    def keyPressEvent(self, event: Any) -> None:
        if event.key() == Qt.Key.Key_S and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.save_now()
        super().keyPressEvent(event)
