"""Shared test helpers: real DICOM built with pydicom, peer tools, polling and snapshots."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from app.audit import AuditTrail, EventId
from app.synthetic import StudyPlan, demo_plans
from app.workstation import Workstation

DICM_OFFSET = 128  # PS3.10 §7.1: 128-byte preamble, then "DICM", then the File Meta group
# Files a profile holds besides instance objects: none of them is an instance's bytes.
PROFILE_FILES = {"telerad.db", "telerad.db-wal", "telerad.db-shm", "settings.toml",
                 "profile.id", "passphrase.salt", "writer.lock", "writer.running"}


def require_tool(name: str, package: str) -> str:
    """Path of a peer tool; a missing tool fails the test loudly instead of skipping it."""
    path = shutil.which(name)
    assert path, (
        f"`{name}` is not installed but this test needs it as a real DICOM peer: "
        f"install the Debian package with `sudo apt-get install {package}`"
    )
    return path


def peer_environment() -> dict[str, str]:
    """Environment for DCMTK tools: without TCP_NODELAY Debian's build stalls per image."""
    return {**os.environ, "TCP_NODELAY": "1"}


def run_dcmtk(
    tool: str, *arguments: str | Path, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run a DCMTK command line tool (failing loudly if DCMTK is missing)."""
    executable = require_tool(tool, "dcmtk")
    return subprocess.run(
        [executable, *map(str, arguments)], capture_output=True, text=True,
        env=peer_environment(), timeout=timeout, check=False,
    )


def dataset_bytes_without_meta(source: bytes | Path) -> bytes:
    """The encoded data set of a PS3.10 file: everything after the File Meta Information.

    The meta group differs between sender and receiver (implementation UID and version);
    the data set after it is what travelled in the C-STORE.
    """
    data = source.read_bytes() if isinstance(source, Path) else bytes(source)
    assert data[DICM_OFFSET : DICM_OFFSET + 4] == b"DICM", "not a DICOM file (no DICM prefix)"
    start = DICM_OFFSET + 4
    group, element, vr, length = struct.unpack("<HH2sH", data[start : start + 8])
    assert (group, element, vr, length) == (2, 0, b"UL", 4), "meta group length is missing"
    (group_length,) = struct.unpack("<I", data[start + 8 : start + 12])
    return data[start + 12 + group_length :]


def encode(dataset: Dataset) -> bytes:
    """``dataset`` in DICOM file format, as the node hands it to the store."""
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def encoded(dataset: Dataset, *, implicit: bool = False) -> bytes:
    """``dataset`` encoded in Little Endian, explicit VR unless ``implicit`` (PS3.5 §7.1):
    a data set as a C-STORE carries it, without file meta."""
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, implicit
    write_dataset(buffer, dataset)
    return buffer.getvalue()


def make_instance(
    *,
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    patient_name: str = "TESTPATIENT^Unit",
    patient_id: str = "UNIT0001",
    instance_number: int = 1,
    pixel_value: int = 0,
) -> Dataset:
    """A small but complete CT image (8×8, 16-bit) with file meta, for store-level tests."""
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.PatientName, ds.PatientID, ds.PatientSex = patient_name, patient_id, "O"
    ds.PatientBirthDate, ds.StudyDate, ds.StudyTime = "19700101", "20260101", "120000"
    ds.AccessionNumber, ds.StudyDescription, ds.Modality = "ACC0001", "CT Head", "CT"
    ds.SeriesNumber, ds.InstanceNumber = 1, instance_number
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = struct.pack("<H", pixel_value) * 64
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


def small_plan(kind: str, slices: int, *, prior: bool = False) -> StudyPlan:
    """A demo study of ``kind`` cut down to ``slices`` images, so the suite stays fast."""
    plan = next(p for p in demo_plans() if p.kind == kind and p.is_prior == prior)
    return dataclasses.replace(plan, slices=min(slices, plan.slices))


def snapshot(directory: Path) -> dict[str, str]:
    """Every file below ``directory`` with the SHA-256 of its content."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def files_below(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*") if path.is_file())


def _sizes_below(directory: Path) -> dict[Path, int]:
    """Size of every file; a file removed while we look (a store's own spare) is skipped."""
    sizes = {}
    for path in files_below(directory):
        try:
            sizes[path] = path.stat().st_size
        except FileNotFoundError:
            continue
    return sizes


def object_files_with_data(workstation: Workstation) -> list[Path]:
    """Instance files that hold bytes (the store may keep empty files ready for use)."""
    return [path for path, size in _sizes_below(workstation.paths.objects).items() if size]


def indexed_object_names(workstation: Workstation) -> set[str]:
    rows = workstation.database.query("SELECT object_name FROM instances")
    return {row["object_name"] for row in rows}


def unacknowledged_data(workstation: Workstation) -> list[Path]:
    """Files in the profile holding bytes that no index entry accounts for.

    A refused or failed instance must leave none: only the index makes an instance exist.
    Files the store itself set aside in ``quarantine/`` are accounted for.
    """
    known = PROFILE_FILES | indexed_object_names(workstation)
    quarantine = workstation.paths.quarantine
    return [
        path for path, size in _sizes_below(workstation.paths.root).items()
        if size and path.name not in known and quarantine not in path.parents
    ]


def import_events(audit: AuditTrail) -> list[dict[str, object]]:
    """The trail's Import events (DCM 110107), oldest first."""
    return [event for event in audit.events() if event["event_id"] == EventId.IMPORT]


def eventually(check: Callable[[], object], *, within: float = 10.0, what: str = "") -> object:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` at the deadline.

    For effects that land just after the peer returns (audit at association end); the
    deadline only bounds a hang, it is not a performance assertion.
    """
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
