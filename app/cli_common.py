"""Helpers every `telerad` command shares: the profile, exit codes, tables, the operator."""

from __future__ import annotations

import argparse
import contextlib
import getpass
from collections.abc import Iterator, Sequence
from pathlib import Path

from app.profile import resolve_profile_dir
from app.workstation import Workstation, open_workstation

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def profile_root(args: argparse.Namespace) -> Path:
    return resolve_profile_dir(args.profile)


@contextlib.contextmanager
def opened(args: argparse.Namespace) -> Iterator[Workstation]:
    """The command's profile, opened (created on first use) and closed however it ends."""
    workstation = open_workstation(profile_root(args))
    try:
        yield workstation
    finally:
        workstation.close()


def chain_verdict(name: str, broken: object | None, intact: str) -> int:
    """Print whether a hash chain (audit trail, compliance log) held; the exit code.
    ``broken`` is the first bad entry (with ``seq`` and ``reason``) or None."""
    if broken is not None:
        print(f"{name} BROKEN at entry {broken.seq}: {broken.reason}")
        return EXIT_FAILURE
    print(f"{name} intact: {intact}")
    return EXIT_OK


def operator() -> str:
    """Who ran a command, for the audit trail: the OS login name."""
    try:
        return f"{getpass.getuser()} (command line)"
    except (OSError, KeyError):  # no login name in this environment
        return "command line"


def cell(value: object) -> str:
    """A value as a table cell: tuples joined by "/", ISO times to the second."""
    if isinstance(value, tuple):
        return "/".join(map(str, value))
    text = str(value)
    return text[:19] if text[:4].isdigit() and "T" in text[:11] else text


def table(header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]) -> str:
    """Left-aligned columns no wider than ``widths`` (nor than their widest cell)."""
    widths = [min(w, max([len(h), *(len(r[i]) for r in rows)])) for i, (h, w)
              in enumerate(zip(header, widths, strict=True))]
    def line(cells: Sequence[str]) -> str:
        return "  ".join(c[:w].ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
    return "\n".join([line(header), *(line(row) for row in rows)])


