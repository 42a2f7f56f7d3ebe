"""Structural check of a received dataset's byte stream before it is stored.

pydicom reads a truncated stream without complaint (the last element simply comes out
short), so a sender that dropped mid-instance could otherwise be answered success. This
walker follows the encoding rules of PS3.5 §7.1 (element headers) and §7.5 (sequences
and items) without copying any value, and refuses a stream that does not end exactly on
an element boundary or whose element overruns the data.
"""

from __future__ import annotations

import struct
import zlib

from pydicom.dataset import Dataset

from app.errors import MalformedDataset

UNDEFINED_LENGTH = 0xFFFFFFFF
ITEM, ITEM_DELIMITER, SEQUENCE_DELIMITER = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
# Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 Table 7.1-1)
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
            b"UT", b"UV"}
MAX_NESTING = 32
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
NATIVE_TRANSFER_SYNTAXES = {IMPLICIT_VR_LITTLE_ENDIAN, "1.2.840.10008.1.2.1",
                            DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN}
PIXEL_DATA = 0x7FE00010


class _Truncated(Exception):
    pass


class _Walker:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.end = len(data)

    def _unpack(self, fmt: str, position: int) -> tuple:
        if position + struct.calcsize(fmt) > self.end:
            raise _Truncated(f"element header cut off at byte {position}")
        return struct.unpack_from(fmt, self.data, position)

    def _tag(self, position: int) -> int:
        group, element = self._unpack("<HH", position)
        return (group << 16) | element

    def dataset(self, position: int, end: int, implicit: bool, depth: int,
                until_item_delimiter: bool = False) -> int:
        """Walk elements from ``position``; return where the dataset (or item) ends."""
        if depth > MAX_NESTING:
            raise _Truncated(f"sequences nested deeper than {MAX_NESTING}")
        while position < end:
            tag = self._tag(position)
            if tag == ITEM_DELIMITER and until_item_delimiter:
                return position + 8
            position = self.element(position, tag, implicit, depth)
        if until_item_delimiter:
            raise _Truncated("item delimiter missing at end of data")
        if position != end:
            raise _Truncated(f"element overruns the data by {position - end} bytes")
        return position

    def element(self, position: int, tag: int, implicit: bool, depth: int) -> int:
        if implicit or tag >> 16 == 0xFFFE:
            (length,) = self._unpack("<L", position + 4)
            vr, value_start = b"", position + 8
        else:
            vr = bytes(self.data[position + 4 : position + 6])
            if vr in LONG_VRS:
                (length,) = self._unpack("<L", position + 8)
                value_start = position + 12
            else:
                (length,) = self._unpack("<H", position + 6)
                value_start = position + 8
        if length != UNDEFINED_LENGTH:
            if value_start + length > self.end:
                raise _Truncated(
                    f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) declares {length} bytes, "
                    f"{max(self.end - value_start, 0)} remain"
                )
            return value_start + length
        # Undefined length: a sequence of items; UN contents are implicit VR (PS3.5 §6.2.2).
        return self.items(value_start, implicit or vr == b"UN", depth + 1)

    def items(self, position: int, implicit: bool, depth: int) -> int:
        while True:
            tag = self._tag(position)
            (length,) = self._unpack("<L", position + 4)
            if tag == SEQUENCE_DELIMITER:
                return position + 8
            if tag != ITEM:
                raise _Truncated(f"expected an item at byte {position}")
            if length == UNDEFINED_LENGTH:
                position = self.dataset(position + 8, self.end, implicit, depth,
                                        until_item_delimiter=True)
            elif position + 8 + length > self.end:
                raise _Truncated(f"item at byte {position} declares {length} bytes")
            else:
                position += 8 + length


def check_native_pixel_data(dataset: Dataset, transfer_syntax_uid: str) -> None:
    """Uncompressed Pixel Data must hold Rows × Columns × Samples × Bits × Frames (PS3.5 §8.1.1).

    A stream cut inside Pixel Data and re-encoded by the sender arrives structurally whole
    but short; it is refused here instead of failing later on the reporter's screen.
    """
    if transfer_syntax_uid not in NATIVE_TRANSFER_SYNTAXES or PIXEL_DATA not in dataset:
        return
    try:
        bits = (int(dataset.Rows) * int(dataset.Columns) * int(dataset.SamplesPerPixel or 1)
                * int(dataset.BitsAllocated) * int(dataset.get("NumberOfFrames") or 1))
    except (AttributeError, TypeError, ValueError) as exc:
        raise MalformedDataset(f"image pixel module incomplete: {exc}") from exc
    actual, needed = len(dataset.get_item(PIXEL_DATA).value or b""), (bits + 7) // 8
    if actual < needed:
        raise MalformedDataset(f"Pixel Data holds {actual} bytes, the image needs {needed}")


def check_complete(dataset_bytes: bytes, transfer_syntax_uid: str) -> None:
    """Raise MalformedDataset unless the stream holds whole elements from start to end."""
    data = dataset_bytes
    if transfer_syntax_uid == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        try:
            data = zlib.decompress(dataset_bytes, -zlib.MAX_WBITS)
        except zlib.error as exc:
            raise MalformedDataset(f"deflated dataset cannot be inflated: {exc}") from exc
    if not data:
        raise MalformedDataset("dataset is empty")
    implicit = transfer_syntax_uid == IMPLICIT_VR_LITTLE_ENDIAN
    try:
        _Walker(data).dataset(0, len(data), implicit, depth=0)
    except _Truncated as exc:
        raise MalformedDataset(f"dataset is truncated or malformed: {exc}") from exc
