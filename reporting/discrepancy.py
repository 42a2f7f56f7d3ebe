"""Discrepancy and peer feedback on reports, counted for the discrepancy meetings.

The categories grade a case by its clinical impact, as the Royal College of Radiologists
asks meetings to do: RCR, *Standards for radiology events and learning meetings* (REALM,
January 2020), which replaced *Standards for learning from discrepancies meetings*
(BFCR(14)11, 2014: §6 "Categorising discrepancies" and "Clinical significance", §7
"Discrepancies and incident reporting"). The REALM also shares good spots and educational
cases, so positive peer feedback has its own categories.

Learning points may identify the patient (the RCR asks for cases to be discussed
anonymised), so they are sealed with the study's data key and shredded when the study is
purged. Once a study is purged its key is gone: only the category can still be recorded.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from reporting.model import ReportError
from reporting.records import Cursor, ReportDatabase, Vault

MAX_LEARNING_POINTS = 4000  # characters: a paragraph or two, not a second report
CSV_COLUMNS = ("study_uid", "accession", "category", "learning_points", "event_date",
               "reporter")

AccessionLookup = Callable[[str], str | None]  # accession → study UID, None if unknown


class DiscrepancyError(ReportError):
    """A discrepancy cannot be recorded as given; the message names what to fix."""


class DiscrepancyCategory(StrEnum):
    """Grading by clinical impact (RCR REALM 2020; RCR LDM 2014 §6), plus the REALM's
    positive and educational cases."""

    GOOD_SPOT = "good-spot"
    EDUCATIONAL = "educational"
    MINOR = "minor"
    SIGNIFICANT = "significant"
    HARM = "harm"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @classmethod
    def parse(cls, text: str) -> DiscrepancyCategory:
        """A category from its code or its label, in any case."""
        wanted = text.strip().lower()
        for category in cls:
            if wanted in (category.value, category.label.lower()):
                return category
        raise DiscrepancyError(f"unknown discrepancy category {text!r}: use one of "
                               + ", ".join(c.value for c in cls))


_LABELS = {
    DiscrepancyCategory.GOOD_SPOT: "Good spot (positive feedback)",
    DiscrepancyCategory.EDUCATIONAL: "Educational case, no reporting discrepancy",
    DiscrepancyCategory.MINOR: "Discrepancy, not clinically significant",
    DiscrepancyCategory.SIGNIFICANT: "Discrepancy, clinically significant "
                                     "(could change management)",
    DiscrepancyCategory.HARM: "Discrepancy with harm or likely harm "
                              "(also the trust's incident process)",
}


class Source(StrEnum):
    """Who brought the case: the reporter, a colleague, or the trust's audit file."""

    SELF = "self"
    COLLEAGUE = "colleague"
    TRUST_AUDIT_IMPORT = "trust audit import"


@dataclass(frozen=True)
class Discrepancy:
    """One recorded case against a report; ``learning_points`` is "" when none were given
    or when they were shredded with the study (``notes_shredded``)."""

    study_uid: str
    reporter: str  # whose report
    recorded_by: str
    source: Source
    category: DiscrepancyCategory
    recorded_at: datetime
    learning_points: str = ""
    event_date: date | None = None  # when the discrepancy came to light, if known
    report_part: int | None = None
    id: int | None = None
    notes_shredded: bool = False

    def __post_init__(self) -> None:
        if not self.study_uid.strip() or len(self.study_uid) > 64:
            raise DiscrepancyError(f"study UID {self.study_uid!r} is empty or over 64 "
                                   "characters")
        for name in ("reporter", "recorded_by"):
            if not getattr(self, name).strip():
                raise DiscrepancyError(f"a discrepancy needs its {name.replace('_', ' ')}")
        if not isinstance(self.category, DiscrepancyCategory):
            raise DiscrepancyError(f"category {self.category!r} is not a DiscrepancyCategory")
        if not isinstance(self.source, Source):
            raise DiscrepancyError(f"source {self.source!r} is not one of "
                                   + ", ".join(s.value for s in Source))
        if self.source is Source.SELF and self.recorded_by != self.reporter:
            raise DiscrepancyError(f"{self.recorded_by} cannot record self-feedback for "
                                   f"{self.reporter}'s report")
        self._check_times_and_text()

    def _check_times_and_text(self) -> None:
        if self.recorded_at.tzinfo is None:
            raise DiscrepancyError("recorded_at needs a time zone")
        if self.event_date is not None and self.event_date > self.recorded_at.date():
            raise DiscrepancyError(f"event date {self.event_date} is after the recording "
                                   f"date {self.recorded_at.date()}")
        if self.report_part is not None and self.report_part < 1:
            raise DiscrepancyError(f"report part {self.report_part} does not exist (from 1)")
        if len(self.learning_points) > MAX_LEARNING_POINTS:
            raise DiscrepancyError(f"learning points are {len(self.learning_points)} "
                                   f"characters; keep them under {MAX_LEARNING_POINTS}")


class DiscrepancyBook:
    """Discrepancies of the reports on this workstation, notes sealed per study."""

    def __init__(self, database: ReportDatabase, vault: Vault, *,
                 accession_lookup: AccessionLookup | None = None) -> None:
        self._database = database
        self._vault = vault
        self._accession_lookup = accession_lookup

    # ---- recording ---------------------------------------------------------------------

    def record(self, study_uid: str, category: DiscrepancyCategory, *, recorded_by: str,
               now: datetime, learning_points: str = "", reporter: str | None = None,
               report_part: int | None = None, event_date: date | None = None,
               source: Source | None = None) -> Discrepancy:
        """Record one case; the reporter defaults to the author of the report (or of
        ``report_part``), the source to self or colleague."""
        entry = self._prepare(study_uid, category, recorded_by=recorded_by, now=now,
                              learning_points=learning_points, reporter=reporter,
                              report_part=report_part, event_date=event_date, source=source)
        with self._database.transaction() as cursor:
            return self._insert(cursor, entry)

    def import_csv(self, text: str, recorded_by: str, *, now: datetime) -> list[Discrepancy]:
        """Record every row of a colleague's or the trust's file, all or none.

        Columns (header row, any order): ``study_uid`` or ``accession``, ``category``
        (code or label), optional ``learning_points``, ``event_date`` (YYYY-MM-DD) and
        ``reporter``. An error names its line; nothing is recorded then."""
        entries = []
        for line, row in _csv_rows(text):
            try:
                entries.append(self._prepare_row(row, recorded_by, now))
            except DiscrepancyError as exc:
                raise DiscrepancyError(f"line {line}: {exc}") from exc
        if not entries:
            raise DiscrepancyError("the file has a header but no discrepancies")
        with self._database.transaction() as cursor:
            return [self._insert(cursor, entry) for entry in entries]

    def _prepare_row(self, row: dict[str, str], recorded_by: str, now: datetime
                     ) -> Discrepancy:
        study_uid = row.get("study_uid", "")
        if not study_uid:
            study_uid = self._study_of_accession(row.get("accession", ""))
        event_date = row.get("event_date", "")
        try:
            when = date.fromisoformat(event_date) if event_date else None
        except ValueError:
            raise DiscrepancyError(f"event_date {event_date!r} is not a date (YYYY-MM-DD)"
                                   ) from None
        return self._prepare(
            study_uid, DiscrepancyCategory.parse(row.get("category", "")),
            recorded_by=recorded_by, now=now, learning_points=row.get("learning_points", ""),
            reporter=row.get("reporter") or None, report_part=None, event_date=when,
            source=Source.TRUST_AUDIT_IMPORT)

    def _study_of_accession(self, accession: str) -> str:
        if not accession:
            raise DiscrepancyError("the row has neither study_uid nor accession")
        if self._accession_lookup is None:
            raise DiscrepancyError("accession numbers cannot be looked up here; give study_uid")
        study_uid = self._accession_lookup(accession)
        if not study_uid:
            raise DiscrepancyError(f"accession {accession} is not on this workstation")
        return study_uid

    def _prepare(self, study_uid: str, category: DiscrepancyCategory, *, recorded_by: str,
                 now: datetime, learning_points: str, reporter: str | None,
                 report_part: int | None, event_date: date | None,
                 source: Source | None) -> Discrepancy:
        held = self._held(study_uid)
        if not held and not self._exists("reports", study_uid):
            raise DiscrepancyError(f"study {study_uid} is not known on this workstation "
                                   "(never received here)")
        learning_points = learning_points.strip()
        if not held and learning_points:
            raise DiscrepancyError(
                f"study {study_uid} was purged, so its key is gone and learning points "
                "(which may identify the patient) cannot be sealed: record the category only")
        whose = self._reporter_of(study_uid, report_part, reporter)
        return Discrepancy(
            study_uid, whose, recorded_by,
            source or (Source.SELF if recorded_by == whose else Source.COLLEAGUE),
            category, now, learning_points, event_date, report_part)

    def _reporter_of(self, study_uid: str, part: int | None, named: str | None) -> str:
        """The named reporter, checked against the report's author when there is one."""
        parts = self._database.query(
            "SELECT number, kind, author FROM report_parts WHERE study_uid = ? ORDER BY number",
            (study_uid,))
        if part is not None and not any(row["number"] == part for row in parts):
            raise DiscrepancyError(f"study {study_uid} has no signed report part {part}")
        chosen = [row for row in parts if row["number"] == part or
                  (part is None and row["kind"] == "report")]
        author = chosen[0]["author"] if chosen else ""
        if named and author and named != author:
            raise DiscrepancyError(f"the report of study {study_uid} is by {author}, "
                                   f"not {named}")
        if not (named or author):
            assigned = self._database.query(
                "SELECT assigned_reporter FROM studies WHERE study_uid = ?", (study_uid,))
            author = assigned[0]["assigned_reporter"] if assigned else ""
        if not (named or author):
            raise DiscrepancyError(f"study {study_uid} has no signed report here: name the "
                                   "reporter")
        return named or author

    def _insert(self, cursor: Cursor, entry: Discrepancy) -> Discrepancy:
        row_id = cursor.execute(
            """INSERT INTO discrepancies (study_uid, report_part, reporter, recorded_by,
                   source, category, recorded_at, event_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (entry.study_uid, entry.report_part, entry.reporter, entry.recorded_by,
             entry.source.value, entry.category.value, entry.recorded_at.isoformat(),
             entry.event_date.isoformat() if entry.event_date else None)).lastrowid
        if entry.learning_points:  # sealed under its row's id, so a blob cannot be moved
            sealed = self._vault.seal(entry.study_uid, entry.learning_points.encode("utf-8"),
                                      _purpose(row_id))
            cursor.execute("UPDATE discrepancies SET learning_points = ? WHERE id = ?",
                           (sealed, row_id))
        return replace(entry, id=row_id)

    # ---- reading -----------------------------------------------------------------------

    def entries(self, reporter: str | None = None) -> list[Discrepancy]:
        """Every case (of one reporter), oldest first, with the learning points opened."""
        where, parameters = ("WHERE reporter = ?", (reporter,)) if reporter else ("", ())
        rows = self._database.query(
            f"SELECT * FROM discrepancies {where} ORDER BY recorded_at, id", parameters)
        return [self._from_row(row) for row in rows]

    def for_reporter(self, user: str) -> list[Discrepancy]:
        return self.entries(user)

    def counts(self, since: date, until: date) -> dict[DiscrepancyCategory, int]:
        """Cases per category from ``since`` to ``until`` (both included), by event date,
        else by the date recorded; no text is opened."""
        totals = dict.fromkeys(DiscrepancyCategory, 0)
        for _day, category in self._dated(since, until):
            totals[category] += 1
        return totals

    def monthly_counts(self, since: date, until: date
                       ) -> dict[str, dict[DiscrepancyCategory, int]]:
        """Cases per month ("YYYY-MM", every month of the period) and category, for the
        REALM's regular meetings and annual summary."""
        months = {month: dict.fromkeys(DiscrepancyCategory, 0)
                  for month in _months(since, until)}
        for day, category in self._dated(since, until):
            months[day.strftime("%Y-%m")][category] += 1
        return months

    def _dated(self, since: date, until: date) -> Iterator[tuple[date, DiscrepancyCategory]]:
        if until < since:
            raise DiscrepancyError(f"the period ends ({until}) before it starts ({since})")
        for row in self._database.query(
                "SELECT category, event_date, recorded_at FROM discrepancies"):
            day = (date.fromisoformat(row["event_date"]) if row["event_date"]
                   else datetime.fromisoformat(row["recorded_at"]).date())
            if since <= day <= until:
                yield day, DiscrepancyCategory(row["category"])

    def _from_row(self, row: dict[str, Any]) -> Discrepancy:
        sealed, held = row["learning_points"], self._held(row["study_uid"])
        notes = (self._vault.unseal(row["study_uid"], sealed, _purpose(row["id"]))
                 .decode("utf-8") if sealed is not None and held else "")
        return Discrepancy(
            row["study_uid"], row["reporter"], row["recorded_by"], Source(row["source"]),
            DiscrepancyCategory(row["category"]), datetime.fromisoformat(row["recorded_at"]),
            notes, date.fromisoformat(row["event_date"]) if row["event_date"] else None,
            row["report_part"], row["id"], notes_shredded=sealed is not None and not held)

    def _held(self, study_uid: str) -> bool:
        return self._exists("studies", study_uid)

    def _exists(self, table: str, study_uid: str) -> bool:
        return bool(self._database.query(
            f"SELECT 1 FROM {table} WHERE study_uid = ? LIMIT 1", (study_uid,)))


def _purpose(row_id: int) -> str:
    return f"discrepancy:{row_id}"


def _csv_rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) with stripped values; the header must name known columns."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = [name.strip().lower() for name in next(reader, [])]
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if unknown or "category" not in header or not {"study_uid", "accession"} & set(header):
        raise DiscrepancyError(
            "line 1: the header needs category and study_uid or accession, and only "
            f"{', '.join(CSV_COLUMNS)}" + (f" (unknown: {', '.join(unknown)})" if unknown
                                            else ""))
    while True:
        line = reader.line_num + 1
        cells = next(reader, None)
        if cells is None:
            return
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            raise DiscrepancyError(f"line {line}: {len(cells)} fields, the header has "
                                   f"{len(header)}")
        yield line, {name: cell.strip() for name, cell in zip(header, cells, strict=True)}


def _months(since: date, until: date) -> list[str]:
    months, year, month = [], since.year, since.month
    while (year, month) <= (until.year, until.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months
