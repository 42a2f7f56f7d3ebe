"""`telerad qa` (display QA, headless part) and `telerad compliance` (the device log for IT)."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from app.cli_common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, chain_verdict, opened, operator
from app.compliance_forward import compliance_forwarder_from_settings
from app.display_qa import DisplayQa, demo_meter_readings
from app.errors import ConfigError
from qa.compliance import public_key_pem
from qa.displays import ScreenInfo
from qa.luminance import LuminanceReadings, readings_from_csv

Add = Callable[..., argparse.ArgumentParser]


def _screens() -> list[ScreenInfo]:
    """The connected screens when a display is reachable; none on a headless machine."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
            or sys.platform in ("win32", "darwin")):
        return []
    from PySide6.QtGui import QGuiApplication

    from app.ui.qa_dialog import connected_screens
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    return connected_screens()


def _readings(args: argparse.Namespace, demo: bool) -> LuminanceReadings | None:
    if args.simulated:
        if not demo:
            raise ConfigError("--simulated works on demo profiles only: import real meter "
                              "readings with --readings FILE.csv")
        return demo_meter_readings()
    if args.readings:
        try:
            return readings_from_csv(Path(args.readings).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"meter readings {args.readings}: {exc}") from exc
    return None


def cmd_qa_run(args: argparse.Namespace) -> int:
    """The automated part: meterless checks of every screen, meter readings if given."""
    with opened(args) as workstation:
        readings = _readings(args, workstation.settings["profile.demo"])
        result = DisplayQa(workstation).run(_screens(), readings, now=datetime.now(UTC),
                                            actor=operator())
    if args.json:
        print(json.dumps(result.payload, indent=2, default=str))
    print("display QA passed (the visual test is done in the app)" if result.passed else
          "display QA FAILED: " + "; ".join(result.reasons))
    return EXIT_OK if result.passed else EXIT_FAILURE


def cmd_qa_status(args: argparse.Namespace) -> int:
    with opened(args) as workstation:
        status = DisplayQa(workstation).status(datetime.now(UTC))
    print(f"{status.light.value}: {status.reason}")
    return EXIT_OK if status.diagnostic else EXIT_FAILURE


def cmd_compliance_show(args: argparse.Namespace) -> int:
    with opened(args) as workstation:
        entries = DisplayQa(workstation).log.entries()
    for entry in entries[-args.limit:] if args.limit else entries:
        summary = entry.payload.get("reasons") or entry.payload.get("changes") or ""
        passed = entry.payload.get("passed")
        state = "" if passed is None else ("passed" if passed else "FAILED")
        print(f"{entry.seq:>6}  {entry.recorded_at[:19]}  {entry.kind:<15} {state:<7} "
              f"{'; '.join(summary) if isinstance(summary, list) else summary}")
    return EXIT_OK


def cmd_compliance_verify(args: argparse.Namespace) -> int:
    with opened(args) as workstation:
        log = DisplayQa(workstation).log
        count, broken = len(log.entries()), log.verify(log.public_key)
        key = public_key_pem(log.public_key)
    return chain_verdict("compliance log", broken, f"{count} entries, signed by\n{key}")


def cmd_compliance_export(args: argparse.Namespace) -> int:
    if args.format == "pdf":
        return _export_pdf(args)
    with opened(args) as workstation:
        data = DisplayQa(workstation).log.export(args.format)
    if args.out:
        Path(args.out).write_bytes(data)
        print(f"compliance log exported as {args.format} to {args.out}")
    else:
        sys.stdout.buffer.write(data)
    return EXIT_OK


def _export_pdf(args: argparse.Namespace) -> int:
    """The log as an A4 PDF for IT: key, verification, entries, the latest GSDF plot."""
    if not args.out:
        raise ConfigError("--format pdf needs --out FILE.pdf")
    from app.qa_report import compliance_pdf, verification_line

    with opened(args) as workstation:
        log = DisplayQa(workstation).log
        entries, key = log.entries(), public_key_pem(log.public_key)
        title = (f"Device compliance log — {workstation.settings['node.ae_title']}"
                 f"@{socket.gethostname()}")
    compliance_pdf(entries, key, Path(args.out), title=title,
                   verification=verification_line(entries, key))
    print(f"compliance log exported as pdf to {args.out}")
    return EXIT_OK


def cmd_compliance_forward(args: argparse.Namespace) -> int:
    """One pass of the compliance feed to the syslog collector (audit.syslog.*)."""
    with opened(args) as workstation:
        feed = compliance_forwarder_from_settings(
            workstation.settings, workstation.database, DisplayQa(workstation).log)
        if feed is None:
            raise ConfigError("no collector configured: `telerad config set audit.syslog.host "
                              "HOST` first")
        sent = feed.forward_pending()
    print(f"{sent} compliance entr{'y' if sent == 1 else 'ies'} forwarded")
    return EXIT_OK


def register_qa_commands(commands: argparse._SubParsersAction, add: Add) -> None:
    qa = add("qa", lambda a: EXIT_USAGE, "display QA: the weekly self-test of this "
             "workstation's diagnostic screens (the visual part is done in the app)")
    actions = qa.add_subparsers(dest="qa_command", metavar="ACTION", required=True)
    run = add("run", cmd_qa_run, "check every connected screen (matrix, pitch, depth, "
              "scaling) and evaluate meter readings against the GSDF; recorded in the "
              "compliance log; exit 1 when it fails", actions)
    run.add_argument("--readings", metavar="FILE.csv",
                     help="meter readings: a 'ddl,luminance' header, 18 rows, 'ambient,L'")
    run.add_argument("--simulated", action="store_true",
                     help="read a simulated display (demo profiles only)")
    run.add_argument("--json", action="store_true", help="print the recorded result")
    add("status", cmd_qa_status, "green / amber / red and why; exit 1 when the display is "
        "not fit for diagnosis", actions)

    compliance = add("compliance", lambda a: EXIT_USAGE, "the device compliance log for IT: "
                     "display QA, display changes, posture checks; hash-chained and signed")
    log_actions = compliance.add_subparsers(dest="compliance_command", metavar="ACTION",
                                            required=True)
    show = add("show", cmd_compliance_show, "entries, oldest first", log_actions)
    show.add_argument("--limit", type=int, default=0, help="only the last N entries")
    add("verify", cmd_compliance_verify, "check the chain and every signature: exit 0 "
        "intact (and print the public key), 1 naming the first bad entry", log_actions)
    export = add("export", cmd_compliance_export, "the whole log as csv or json, or as a "
                 "pdf report (key, verification, entries, latest GSDF plot)", log_actions)
    export.add_argument("--format", choices=("csv", "json", "pdf"), default="json")
    add("forward", cmd_compliance_forward, "send entries not yet sent to the syslog "
        "collector (audit.syslog.host; `serve` and the app do it on their own): exit 1, "
        "entries kept, if it cannot be reached", log_actions)
    export.add_argument("--out", metavar="FILE",
                        help="file to write (default: stdout; required for pdf)")
