"""`telerad kpi`: the service measures of a period for the meetings with the trust.

Turnaround against the contract's 3- and 5-day targets, reporting speed and reporters'
working hours (STANDARDS §5), as CSV, JSON or a PDF with plots. No sign-in is needed:
the export holds no patient details (studies appear by UID only); it is audited as an
export (DICOM Export 110106) because it describes the staff's working hours.
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from app.audit import AuditEvent, EventId
from app.cli_common import EXIT_OK, opened, operator
from app.errors import ConfigError
from app.kpi_export import to_csv, to_json
from app.service_measures import load_measures

Add = Callable[..., argparse.ArgumentParser]


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day YYYY-MM-DD") from exc


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time YYYY-MM-DDTHH:MM") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def period(first: date, last: date) -> tuple[datetime, datetime]:
    """[first 00:00, the day after last 00:00) in UTC: ``--to`` is inclusive."""
    if last < first:
        raise ConfigError(f"--to {last} is before --from {first}")
    since = datetime.combine(first, time(), tzinfo=UTC)
    return since, datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC)


def cmd_kpi(args: argparse.Namespace) -> int:
    """Compute the measures of the period and write them in the chosen format."""
    if args.format == "pdf" and not args.out:
        raise ConfigError("--format pdf needs --out FILE.pdf")
    since, until = period(args.date_from, args.date_to)
    now = args.as_of or datetime.now(UTC)
    with opened(args) as workstation:
        measures = load_measures(workstation, since, until, now)
        title = (f"Service measures {args.date_from} to {args.date_to} — "
                 f"{workstation.settings['reporting.organisation']} "
                 f"({workstation.settings['node.ae_title']}@{socket.gethostname()})")
        if args.format == "pdf":
            from app.kpi_pdf import kpi_pdf

            kpi_pdf(measures, Path(args.out), title=title)
        else:
            text = to_csv(measures) if args.format == "csv" else to_json(measures)
            if args.out:
                Path(args.out).write_text(text, encoding="utf-8")
            else:
                sys.stdout.write(text)
        workstation.audit.record(AuditEvent(
            EventId.EXPORT, "R", operator(),
            detail=f"service measures {args.date_from}..{args.date_to} exported as "
                   f"{args.format}"))
    if args.out:
        print(f"service measures {args.date_from} to {args.date_to} written as "
              f"{args.format} to {args.out}: {len(measures.turnarounds)} studies, "
              f"{len(measures.flags)} breach(es) or near-breach(es), "
              f"{len(measures.warnings)} working-hours warning(s)")
    return EXIT_OK


def register_kpi_commands(commands: argparse._SubParsersAction, add: Add) -> None:
    kpi = add("kpi", cmd_kpi, "service measures of a period (STANDARDS §5): turnaround "
              "against the 3- and 5-day targets with breaches, reporting speed per "
              "modality, reporters' active hours and limit warnings", commands)
    kpi.add_argument("--from", dest="date_from", type=_day, required=True,
                     metavar="YYYY-MM-DD", help="first day of the period (UTC)")
    kpi.add_argument("--to", dest="date_to", type=_day, required=True, metavar="YYYY-MM-DD",
                     help="last day of the period, included (UTC)")
    kpi.add_argument("--format", choices=("csv", "json", "pdf"), default="csv",
                     help="csv: one section per measure; json: the same nested; pdf: "
                          "summary tables and plots (needs --out)")
    kpi.add_argument("--out", metavar="FILE", help="file to write (default: standard output)")
    kpi.add_argument("--as-of", type=_moment, metavar="YYYY-MM-DDTHH:MM",
                     help="measure as at this time (UTC unless an offset is given; default: "
                          "now), to reproduce an earlier report: open sessions end and "
                          "unacknowledged studies are counted then")
