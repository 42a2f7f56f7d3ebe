"""The reporter's DSE self-assessment (qa/self_assessment.py): yes/no per item, then record.

Submit stays disabled until every question has an answer; the answers go to the signed
compliance log through app.display_qa.DisplayQa.
"""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.display_qa import DisplayQa
from qa.compliance import ComplianceError
from qa.self_assessment import AssessmentResult, Checklist, SelfAssessment, load_checklist


class SelfAssessmentDialog(QDialog):
    """The checklist as radio buttons and a notes field; Submit records it for ``user``."""

    def __init__(self, display_qa: DisplayQa, user: str, checklist: Checklist | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._qa, self._user = display_qa, user
        self.checklist = checklist or load_checklist()
        self.recorded: AssessmentResult | None = None
        self.setWindowTitle(self.checklist.title)
        self.answers: dict[str, QButtonGroup] = {}
        self.notes = QPlainTextEdit()
        self.notes.setPlaceholderText(self.checklist.notes)
        self.outcome = QLabel("")
        self.outcome.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.submit: QPushButton = buttons.addButton(
            "Submit", QDialogButtonBox.ButtonRole.AcceptRole)
        self.submit.setEnabled(False)
        self.submit.clicked.connect(self._submit)
        buttons.rejected.connect(self.reject)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._questions())
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Answer each question about the place you report from. "
                                f"({self.checklist.source})"))
        layout.addWidget(scroll)
        layout.addWidget(QLabel(self.checklist.notes))
        layout.addWidget(self.notes)
        layout.addWidget(self.outcome)
        layout.addWidget(buttons)

    def _questions(self) -> QWidget:
        grid_widget = QWidget()
        grid = QGridLayout(grid_widget)
        for row, question in enumerate(self.checklist.questions):
            label = QLabel(question.text)
            label.setWordWrap(True)
            group = QButtonGroup(self)
            yes, no = QRadioButton("Yes"), QRadioButton("No")
            group.addButton(yes, 1)
            group.addButton(no, 0)
            group.idToggled.connect(lambda _id, _on: self._update())
            self.answers[question.id] = group
            grid.addWidget(label, row, 0)
            grid.addWidget(yes, row, 1)
            grid.addWidget(no, row, 2)
        grid.setColumnStretch(0, 1)
        return grid_widget

    def assessment(self) -> SelfAssessment:
        """The answers given so far (unanswered questions are left out)."""
        return SelfAssessment({qid: group.checkedId() == 1 for qid, group in
                               self.answers.items() if group.checkedId() != -1},
                              self.notes.toPlainText())

    def _update(self) -> None:
        self.submit.setEnabled(all(g.checkedId() != -1 for g in self.answers.values()))

    def _submit(self) -> None:
        try:
            self.recorded = self._qa.record_self_assessment(self._user, self.assessment(),
                                                           now=datetime.now(UTC))
        except (ValueError, ComplianceError) as exc:  # SelfAssessmentError is a ValueError
            self.outcome.setText(f"Not recorded: {exc}")
            return
        if self.recorded.needs_action:  # say what to do; the dialog itself closes
            advice = QMessageBox(QMessageBox.Icon.Information, self.checklist.title,
                                 "Recorded. Please act on these points:\n\n"
                                 + "\n".join(f"• {q.action}" for q in self.recorded.needs_action),
                                 QMessageBox.StandardButton.Ok, self.parentWidget())
            advice.open()
        self.accept()
