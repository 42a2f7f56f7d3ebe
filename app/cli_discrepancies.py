"""`telerad discrepancy`: discrepancy and peer feedback on reports, counted for the REALM.

Categories and storage rules are reporting/discrepancy.py's (RCR, Standards for radiology
events and learning meetings, 2020). Each recording is audited as a Patient Record update
(110110, PS3.15 A.5.3.9) naming the category, never the learning points.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from app.audit import AuditEvent, EventId
from app.cli_common import EXIT_OK, EXIT_USAGE, opened, operator, table
from app.cli_users import SIGN_IN_HELP, signed_in_access
from app.errors import ConfigError
from app.workstation import Workstation
from reporting.discrepancy import (
    CSV_COLUMNS,
    Discrepancy,
    DiscrepancyBook,
    DiscrepancyCategory,
    DiscrepancyError,
)

Add = Callable[..., argparse.ArgumentParser]


def _book(workstation: Workstation) -> DiscrepancyBook:
    """The book, looking accession numbers up in the (opened) study index when asked."""
    accessions: dict[str, str] = {}

    def study_of(accession: str) -> str | None:
        if not accessions:
            accessions.update((s.accession, s.study_uid)
                              for s in workstation.store.list_studies() if s.accession)
        return accessions.get(accession)

    return DiscrepancyBook(workstation.database, workstation.store, accession_lookup=study_of)


def _audit(workstation: Workstation, entry: Discrepancy) -> None:
    workstation.audit.record(AuditEvent(
        EventId.PATIENT_RECORD, "U", entry.recorded_by, objects=(("study", entry.study_uid),),
        detail=f"discrepancy {entry.id} recorded ({entry.source.value}): "
               f"{entry.category.value} against {entry.reporter}'s report"))


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _category(text: str) -> DiscrepancyCategory:
    try:
        return DiscrepancyCategory.parse(text)
    except DiscrepancyError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_discrepancy_add(args: argparse.Namespace) -> int:
    with opened(args) as workstation:
        signed_in_access(workstation, args.by)  # the notes seal with the study key
        entry = _book(workstation).record(
            args.study_uid, args.category, recorded_by=args.by or operator(),
            now=datetime.now(UTC), learning_points=args.notes, reporter=args.reporter,
            report_part=args.part, event_date=args.event_date)
        _audit(workstation, entry)
    print(f"discrepancy {entry.id} recorded: {entry.category.label} "
          f"({entry.source.value}, report by {entry.reporter})")
    return EXIT_OK


def cmd_discrepancy_import(args: argparse.Namespace) -> int:
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {args.file}: {exc}") from exc
    with opened(args) as workstation:
        signed_in_access(workstation, args.by)
        entries = _book(workstation).import_csv(text, args.by, now=datetime.now(UTC))
        for entry in entries:
            _audit(workstation, entry)
    print(f"{len(entries)} discrepanc{'y' if len(entries) == 1 else 'ies'} imported "
          f"from {Path(args.file).name}")
    return EXIT_OK


def _as_json(entry: Discrepancy) -> dict[str, Any]:
    return asdict(entry) | {
        "recorded_at": entry.recorded_at.isoformat(),
        "event_date": entry.event_date.isoformat() if entry.event_date else None,
        "category_label": entry.category.label}


def cmd_discrepancy_list(args: argparse.Namespace) -> int:
    with opened(args) as workstation:
        signed_in_access(workstation, args.user)
        entries = _book(workstation).entries(args.reporter)
    if args.json:
        print(json.dumps([_as_json(e) for e in entries], indent=2))
        return EXIT_OK
    rows = [[str(e.id), e.recorded_at.isoformat()[:19], e.study_uid, e.reporter,
             e.recorded_by, e.source.value, e.category.value,
             "(shredded with the study)" if e.notes_shredded else e.learning_points]
            for e in entries]
    print(table(["ID", "RECORDED (UTC)", "STUDY UID", "REPORTER", "BY", "SOURCE", "CATEGORY",
                 "LEARNING POINTS"], rows, [6, 19, 64, 16, 16, 18, 12, 80]))
    print(f"{len(entries)} discrepanc{'y' if len(entries) == 1 else 'ies'}")
    return EXIT_OK


def cmd_discrepancy_counts(args: argparse.Namespace) -> int:
    """Per month and category, by event date (else the date recorded); opens no text."""
    with opened(args) as workstation:
        book = _book(workstation)
        months = book.monthly_counts(args.since, args.until)
        totals = book.counts(args.since, args.until)
    if args.json:
        print(json.dumps({
            "from": args.since.isoformat(), "to": args.until.isoformat(),
            "months": {m: {c.value: n for c, n in counts.items()}
                       for m, counts in months.items()},
            "total": {c.value: n for c, n in totals.items()}}, indent=2))
        return EXIT_OK
    header = ["MONTH", *(c.value.upper() for c in DiscrepancyCategory), "ALL"]
    rows = [[m, *(str(n) for n in counts.values()), str(sum(counts.values()))]
            for m, counts in [*months.items(), ("total", totals)]]
    print(table(header, rows, [len(h) + 8 for h in header]))
    return EXIT_OK


def register_discrepancy_commands(commands: argparse._SubParsersAction, add: Add) -> None:
    top = add("discrepancy", lambda a: EXIT_USAGE, "discrepancy and peer feedback on reports, "
              "RCR categories, counted for the discrepancy meetings (REALM)")
    actions = top.add_subparsers(dest="discrepancy_command", metavar="ACTION", required=True)
    choices = ", ".join(f"{c.value} ({c.label})" for c in DiscrepancyCategory)
    adding = add("add", cmd_discrepancy_add, "record a discrepancy against a study's report "
                 "(audited); learning points are sealed with the study key", actions)
    adding.add_argument("study_uid", metavar="STUDY_UID")
    adding.add_argument("--category", type=_category, required=True, help=choices)
    adding.add_argument("--notes", default="", metavar="TEXT", help="learning points")
    adding.add_argument("--by", metavar="USERNAME", help="who records it (default: the "
                        "operator); " + SIGN_IN_HELP)
    adding.add_argument("--reporter", metavar="USERNAME",
                        help="whose report (default: the report's author)")
    adding.add_argument("--part", type=int, metavar="N", help="the report part (default: "
                        "the report)")
    adding.add_argument("--event-date", type=_day, metavar="YYYY-MM-DD",
                        help="when it came to light")
    importing = add("import", cmd_discrepancy_import, "record every row of a colleague's or "
                    "the trust's CSV file, all or none (columns: " + ", ".join(CSV_COLUMNS)
                    + ")", actions)
    importing.add_argument("file", metavar="FILE.csv")
    importing.add_argument("--by", metavar="USERNAME", required=True,
                           help="who imports it; " + SIGN_IN_HELP)
    listing = add("list", cmd_discrepancy_list, "recorded discrepancies, oldest first",
                  actions)
    listing.add_argument("--reporter", metavar="USERNAME", help="only this reporter's")
    listing.add_argument("--json", action="store_true", help="JSON output")
    listing.add_argument("--user", metavar="USERNAME", help=SIGN_IN_HELP)
    counting = add("counts", cmd_discrepancy_counts, "cases per month and category for the "
                   "REALM (by event date, else the date recorded)", actions)
    counting.add_argument("--from", dest="since", type=_day, required=True,
                          metavar="YYYY-MM-DD")
    counting.add_argument("--to", dest="until", type=_day, required=True, metavar="YYYY-MM-DD")
    counting.add_argument("--json", action="store_true", help="JSON output")
