"""Worklist table: the studies assigned to the reporter, with their turnaround deadlines."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from app.store import StudySummary
from app.turnaround import deadlines, describe, urgency

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


def _date(value: str) -> str:
    """DICOM DA (YYYYMMDD) shown as ISO 8601 so no reader confuses day and month."""
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 else value


def _local_time(iso_utc: str) -> str:
    return datetime.fromisoformat(iso_utc).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _due(study: StudySummary) -> str:
    """Time left to the 3-day and 5-day turnaround targets (STANDARDS §5)."""
    arrived = datetime.fromisoformat(study.first_received_at)
    return " / ".join(describe(d.left) for d in deadlines(arrived, datetime.now(UTC)))


def _urgency(study: StudySummary) -> str:
    return urgency(datetime.fromisoformat(study.first_received_at), datetime.now(UTC))


URGENCY_COLOURS = {"overdue": QColor("#ff6b6b"), "due soon": QColor("#f0b429")}
PRIORITY_ORDER = {"STAT": 0, "HIGH": 1, "MEDIUM": 2, "": 3, "ROUTINE": 3, "LOW": 4}


def reading_order(studies: list[StudySummary]) -> list[StudySummary]:
    """Most urgent first: priority (STAT, HIGH …), then the longest waiting (STANDARDS §5)."""
    return sorted(studies, key=lambda s: (PRIORITY_ORDER.get(s.priority, 3),
                                          s.first_received_at))

COLUMNS: tuple[tuple[str, object], ...] = (
    ("Priority", lambda s: s.priority if s.priority in ("STAT", "HIGH") else
     (s.priority or "routine").lower()),
    ("Patient", lambda s: s.patient_name.replace("^", ", ", 1).replace("^", " ")),
    ("Patient ID", lambda s: s.patient_id),
    ("Birth date", lambda s: _date(s.birth_date)),
    ("Sex", lambda s: s.sex),
    ("Study date", lambda s: _date(s.study_date)),
    ("Modality", lambda s: "/".join(s.modalities)),
    ("Description", lambda s: s.description),
    ("Images", lambda s: s.instances),
    ("Received", lambda s: _local_time(s.first_received_at)),
    ("Due 3-day / 5-day", _due),
    ("Status", lambda s: "complete" if s.complete else "receiving…"),
    ("Reporter", lambda s: s.assigned_reporter),
)


class WorklistModel(QAbstractTableModel):
    """Read-only table over StudySummary rows."""

    def __init__(self) -> None:
        super().__init__()
        self._studies: list[StudySummary] = []

    def set_studies(self, studies: list[StudySummary]) -> None:
        ordered = reading_order(studies)
        if ordered == self._studies:
            # times left still change: repaint, but keep the view's selection and scroll
            if ordered:
                self.dataChanged.emit(self.index(0, 0),
                                      self.index(len(ordered) - 1, len(COLUMNS) - 1))
            return
        self.beginResetModel()
        self._studies = ordered
        self.endResetModel()

    def row_of(self, study_uid: str) -> int | None:
        return next((row for row, s in enumerate(self._studies) if s.study_uid == study_uid),
                    None)

    def study_at(self, row: int) -> StudySummary:
        return self._studies[row]

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._studies)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        study = self._studies[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[index.column()][1](study)  # type: ignore[operator]
        if role == Qt.ItemDataRole.ForegroundRole:
            if COLUMNS[index.column()][0].startswith("Due"):
                return URGENCY_COLOURS.get(_urgency(study))
            if COLUMNS[index.column()][0] == "Priority" and study.priority in ("STAT", "HIGH"):
                return URGENCY_COLOURS["overdue"]
            if not study.complete:
                return QColor("#7d8791")
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"Study Instance UID {study.study_uid}\nAccession {study.accession or '—'}"
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section][0]
        return None


class WorklistView(QTableView):
    """The table widget; opening a study (double-click/Enter) arrives with the viewer."""

    def __init__(self, model: WorklistModel) -> None:
        super().__init__()
        self.setModel(model)
        self.setObjectName("worklist")
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(7, QHeaderView.ResizeMode.Stretch)
