"""A C-STORE's data set, checked and parsed, and the DICOM file the store keeps of it.

The checks are the node's and the fuzzing harness's alike: the stream is walked and
parsed (app/dicom_stream.py), its pixel data measured, and its SOP Class and Instance
UIDs must be the ones the request names (PS3.4 §B.2.3, else 0xA900).

The file is the preamble, the File Meta Information and the data set as received. The
File Meta Information (PS3.10 §7.1) is always Explicit VR Little Endian (PS3.5 §7.1.2)
and, for a C-STORE, has the same elements every time: those of pynetdicom's
``Event.file_meta``. pynetdicom builds it as a pydicom dataset on every access and pydicom
then encodes it, 0.37 ms of the node's CPU per instance; encoded here directly, the
bytes are the same (tests/app/test_received_instance.py).
"""

from __future__ import annotations

import struct

from pydicom.dataset import Dataset, FileMetaDataset
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION

from app.dicom_header import validate_uid
from app.dicom_stream import check_pixel_data, parse_dataset
from app.errors import DatasetMismatch

PREAMBLE = b"\x00" * 128 + b"DICM"  # PS3.10 §7.1
FILE_META_VERSION = b"\x00\x01"
FILE_META_GROUP = 0x0002


def _element(element: int, vr: bytes, value: bytes) -> bytes:
    """One group-2 element, Explicit VR Little Endian (PS3.5 §7.1.2, Table 7.1-1/2)."""
    if vr == b"OB":
        return struct.pack("<HH2s2xI", FILE_META_GROUP, element, vr, len(value)) + value
    return struct.pack("<HH2sH", FILE_META_GROUP, element, vr, len(value)) + value


def padded_even(value: str, padding: bytes) -> bytes:
    """An ASCII value padded to even length: UIs with NUL, text with a space (PS3.5 §6.2)."""
    encoded = value.encode("ascii")
    return encoded + padding if len(encoded) % 2 else encoded


def encode_file_meta(sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str,
                     ) -> bytes:
    """The File Meta Information group, its group length first."""
    elements = b"".join((
        _element(0x0001, b"OB", FILE_META_VERSION),
        _element(0x0002, b"UI", padded_even(sop_class_uid, b"\0")),
        _element(0x0003, b"UI", padded_even(sop_instance_uid, b"\0")),
        _element(0x0010, b"UI", padded_even(transfer_syntax_uid, b"\0")),
        _element(0x0012, b"UI", padded_even(PYNETDICOM_IMPLEMENTATION_UID, b"\0")),
        _element(0x0013, b"SH", padded_even(PYNETDICOM_IMPLEMENTATION_VERSION, b" ")),
    ))
    return _element(0x0000, b"UL", struct.pack("<I", len(elements))) + elements


def received_instance(stream: bytes, transfer_syntax_uid: str, sop_class_uid: str,
                      sop_instance_uid: str) -> tuple[bytes, Dataset]:
    """(the file to store, the parsed data set) of a C-STORE request naming these UIDs.

    Raises MalformedDataset or InstanceTooLarge for the stream, DatasetMismatch when its
    UIDs are not the request's, InvalidDicomValue for a UID that is not one.
    """
    dataset = parse_dataset(stream, transfer_syntax_uid)
    check_pixel_data(dataset, transfer_syntax_uid)
    for keyword, name, requested in (("SOPClassUID", "SOP Class UID", sop_class_uid),
                                     ("SOPInstanceUID", "SOP Instance UID", sop_instance_uid)):
        if dataset.get(keyword) != requested:
            raise DatasetMismatch(f"{name} differs from request")
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = transfer_syntax_uid
    meta = encode_file_meta(validate_uid(sop_class_uid, "SOP Class UID"),
                            validate_uid(sop_instance_uid, "SOP Instance UID"),
                            transfer_syntax_uid)
    return b"".join((PREAMBLE, meta, stream)), dataset
