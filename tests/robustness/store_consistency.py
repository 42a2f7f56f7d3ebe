"""Does the index match the disk? Checked from outside the node, with the reader API.

Only the index makes an instance exist (app/store.py): every indexed row must have its
file, of the indexed size, authenticating under its study key; every object file holding
bytes must be indexed; the only other bytes allowed are in ``quarantine/``.
"""

from __future__ import annotations

from pathlib import Path

from app.workstation import Workstation
from tests.helpers import object_files_with_data, unacknowledged_data
from tests.robustness.series_scu import stored_digest


def quarantined_files(workstation: Workstation) -> set[Path]:
    return {path for path in workstation.paths.quarantine.iterdir() if path.is_file()}


def stored_digests(workstation: Workstation) -> dict[str, str]:
    """Every indexed instance (SOP Instance UID → digest of its data set), each file checked
    for presence, size and AES-GCM authentication on the way; fails on the first that is
    not whole."""
    rows = workstation.database.query(
        "SELECT sop_instance_uid, object_name, stored_bytes FROM instances")
    digests = {}
    for row in rows:
        uid, name = row["sop_instance_uid"], row["object_name"]
        path = workstation.paths.objects / name[:2] / name
        assert path.is_file(), f"indexed instance {uid} has no file {name}"
        assert path.stat().st_size == row["stored_bytes"], (
            f"indexed instance {uid}: file is {path.stat().st_size} bytes, index says "
            f"{row['stored_bytes']}")
        digests[uid] = stored_digest(workstation.store.read_bytes(uid))  # authenticates
    return digests


def assert_index_matches_disk(workstation: Workstation) -> dict[str, str]:
    """The index and the files agree (see the module docstring); returns stored_digests."""
    digests = stored_digests(workstation)
    indexed_names = {row["object_name"] for row in workstation.database.query(
        "SELECT object_name FROM instances")}
    with_data = {path.name for path in object_files_with_data(workstation)}
    assert with_data - indexed_names == set(), "object files with data that no row names"
    assert unacknowledged_data(workstation) == [], "bytes outside objects/ and quarantine/"
    set_aside = {path.name for path in quarantined_files(workstation)}
    assert set_aside & indexed_names == set(), "a quarantined file is still indexed"
    return digests


def assert_stored_as_sent(stored: dict[str, str], sent: dict[str, str]) -> None:
    """Each instance in ``sent`` (UID → sent_digest) is stored with exactly those bytes."""
    missing = sorted(set(sent) - set(stored))
    assert not missing, f"{len(missing)} acknowledged instance(s) not in the store: {missing}"
    changed = sorted(uid for uid, digest in sent.items() if stored[uid] != digest)
    assert not changed, f"instance(s) stored with other bytes than were sent: {changed}"
