"""Structural checks of a received dataset's byte stream before it is stored.

pydicom reads a truncated stream without complaint (the last element simply comes out
short), so a sender that dropped mid-instance could otherwise be answered success. This
walker follows the encoding rules of PS3.5 §7.1 (element headers) and §7.5 (sequences
and items) without copying any value, and refuses a stream that does not end exactly on
an element boundary, whose element overruns the data, or whose explicit VR is not the
one PS3.6 gives the element. A deflated stream (PS3.5 §A.5) is measured before it is
inflated, so a deflate bomb is refused without the memory it asks for.
"""

from __future__ import annotations

import io
import struct
import zlib
from functools import lru_cache

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.encaps import parse_fragments
from pydicom.filereader import read_dataset

from app.errors import InstanceTooLarge, MalformedDataset
from viewer.pipeline import MAX_FRAME_BYTES, decoded_frame_bytes

UNDEFINED_LENGTH = 0xFFFFFFFF
ITEM, ITEM_DELIMITER, SEQUENCE_DELIMITER = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
# Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 Table 7.1-1)
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
            b"UT", b"UV"}
SHORT_VRS = {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO",
             b"LT", b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"}
# Binary VRs whose value is a whole number of fixed-size values (PS3.5 Table 6.2-1)
VALUE_SIZES = {b"AT": 4, b"FD": 8, b"FL": 4, b"OD": 8, b"OF": 4, b"OL": 4, b"OV": 8, b"OW": 2,
               b"SL": 4, b"SS": 2, b"SV": 8, b"UL": 4, b"US": 2, b"UV": 8}
# Command (0000) and File Meta Information (0002) elements never belong in a Data Set
# (PS3.7 §6.3.1, PS3.10 §7.1): a group 0002 in the stream would override the transfer
# syntax we checked once the instance is read back as a file.
RESERVED_GROUPS = {0x0000, 0x0002}
MAX_NESTING = 32
# The largest data set a deflated stream may inflate to: far above any deflated object a
# trust sends (SR, waveforms, small images), and within a workstation's memory.
MAX_INFLATED_BYTES = 1024 * 1024 * 1024
INFLATE_STEP = 1024 * 1024
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
NATIVE_TRANSFER_SYNTAXES = {IMPLICIT_VR_LITTLE_ENDIAN, "1.2.840.10008.1.2.1",
                            DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN}
PIXEL_DATA = 0x7FE00010
TAG, VR, LENGTH, SHORT_LENGTH = (struct.Struct(f) for f in ("<HH", "<2s", "<L", "<H"))


class _Malformed(Exception):
    pass


@lru_cache(maxsize=4096)
def _dictionary_vr(tag: int) -> str | None:
    """PS3.6's VR of a standard element ("US", "OB or OW", …); None for private or unknown
    elements, whose VR we cannot judge."""
    if (tag >> 16) & 1:
        return None
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


@lru_cache(maxsize=4096)
def _allowed_vrs(tag: int) -> frozenset[bytes] | None:
    """The VRs PS3.6 allows for a standard element, plus UN (PS3.5 §6.2.2)."""
    names = _dictionary_vr(tag)
    if names is None:
        return None
    return frozenset(name.encode("ascii") for name in names.split(" or ")) | {b"UN"}


def _is_sequence(tag: int, vr: bytes) -> bool:
    """A defined-length value that pydicom reads as items: SQ, or implicit/UN whose
    dictionary VR is SQ (PS3.5 §6.2.2, §7.5)."""
    return vr == b"SQ" or (vr in (b"", b"UN") and _dictionary_vr(tag) == "SQ")


def _holds_data_sets(tag: int, vr: bytes) -> bool:
    """Whether the items of an undefined-length value are data sets (a sequence) rather
    than fragments of encapsulated Pixel Data (PS3.5 §7.5, §A.4)."""
    if vr in (b"SQ", b"UN"):
        return True
    return not vr and _dictionary_vr(tag) in ("SQ", None)


def _describe(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


class _Walker:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.end = len(data)

    def _unpack(self, layout: struct.Struct, position: int) -> tuple:
        if position + layout.size > self.end:
            raise _Malformed(f"element header cut off at byte {position}")
        return layout.unpack_from(self.data, position)

    def _tag(self, position: int) -> int:
        group, element = self._unpack(TAG, position)
        return (group << 16) | element

    def dataset(self, position: int, end: int, implicit: bool, depth: int,
                until_item_delimiter: bool = False) -> int:
        """Walk elements from ``position``; return where the dataset (or item) ends."""
        if depth > MAX_NESTING:
            raise _Malformed(f"sequences nested deeper than {MAX_NESTING}")
        while position < end:
            tag = self._tag(position)
            if tag == ITEM_DELIMITER and until_item_delimiter:
                return position + 8
            if tag >> 16 == 0xFFFE:
                raise _Malformed(f"{_describe(tag)} outside a sequence at byte {position}")
            position = self.element(position, tag, implicit, depth)
        if until_item_delimiter:
            raise _Malformed("item delimiter missing at end of data")
        if position != end:
            raise _Malformed(f"element overruns the data by {position - end} bytes")
        return position

    def _header(self, position: int, tag: int, implicit: bool) -> tuple[bytes, int, int]:
        """VR (b"" when implicit), value length and where the value starts."""
        if implicit:
            (length,) = self._unpack(LENGTH, position + 4)
            return b"", length, position + 8
        (vr,) = self._unpack(VR, position + 4)
        if vr in LONG_VRS:
            (length,) = self._unpack(LENGTH, position + 8)
            return vr, length, position + 12
        if vr not in SHORT_VRS:
            raise _Malformed(f"{_describe(tag)} has unknown VR {vr!r} (PS3.5 §6.2)")
        (length,) = self._unpack(SHORT_LENGTH, position + 6)
        return vr, length, position + 8

    def element(self, position: int, tag: int, implicit: bool, depth: int) -> int:
        if tag >> 16 in RESERVED_GROUPS:
            raise _Malformed(f"{_describe(tag)} is a file meta/command element")
        vr, length, start = self._header(position, tag, implicit)
        _check_vr(tag, vr, length)
        # the items of UN are implicit VR (PS3.5 §6.2.2)
        inner = implicit or vr == b"UN"
        if length == UNDEFINED_LENGTH:
            return self.items(start, self.end, inner, depth + 1,
                              data_sets=_holds_data_sets(tag, vr), delimited=True)
        if start + length > self.end:
            raise _Malformed(f"{_describe(tag)} declares {length} bytes, "
                             f"{max(self.end - start, 0)} remain")
        if _is_sequence(tag, vr):
            self.items(start, start + length, inner, depth + 1, data_sets=True,
                       delimited=False)
        return start + length

    def items(self, position: int, end: int, implicit: bool, depth: int, *,
              data_sets: bool, delimited: bool) -> int:
        """Walk items (data sets of a sequence, or fragments of encapsulated Pixel Data)
        up to the Sequence Delimitation Item, or exactly to ``end`` (PS3.5 §7.5)."""
        while delimited or position < end:
            tag = self._tag(position)
            (length,) = self._unpack(LENGTH, position + 4)
            if tag == SEQUENCE_DELIMITER and delimited:
                return position + 8
            if tag != ITEM:
                raise _Malformed(f"expected an item at byte {position}")
            start = position + 8
            if length == UNDEFINED_LENGTH and data_sets:
                position = self.dataset(start, end, implicit, depth, until_item_delimiter=True)
            elif length == UNDEFINED_LENGTH or start + length > end:
                raise _Malformed(f"item at byte {position} declares {length} bytes")
            else:
                if data_sets:
                    self.dataset(start, start + length, implicit, depth)
                position = start + length
        return position


def _check_vr(tag: int, vr: bytes, length: int) -> None:
    """An explicit VR must be one PS3.6 gives the element (PS3.5 §7.1.2); a binary value
    must be a whole number of values (PS3.5 Table 6.2-1), judged by the dictionary's VR
    when the encoding is implicit; undefined length only for SQ, UN and OB/OW (§7.1.2)."""
    allowed = _allowed_vrs(tag)
    if not vr:
        if allowed is None or len(allowed) != 2 or length == UNDEFINED_LENGTH:
            return
        (vr,) = allowed - {b"UN"}
    elif allowed is not None and vr not in allowed:
        expected = " or ".join(sorted(v.decode() for v in allowed - {b"UN"}))
        raise _Malformed(f"{_describe(tag)} is {vr.decode()}, PS3.6 gives it {expected}")
    if length == UNDEFINED_LENGTH:
        if vr not in (b"SQ", b"UN", b"OB", b"OW"):
            raise _Malformed(f"{_describe(tag)} {vr.decode()} of undefined length")
    elif length % VALUE_SIZES.get(vr, 1):
        raise _Malformed(f"{_describe(tag)} {vr.decode()} of {length} bytes: not whole values")


def _image_pixel_module(dataset: Dataset) -> tuple[int, int]:
    """(bits of one stored frame, Number of Frames), every value checked positive."""
    try:
        values = {"Rows": int(dataset.Rows), "Columns": int(dataset.Columns),
                  "Samples per Pixel": int(dataset.SamplesPerPixel or 1),
                  "Bits Allocated": int(dataset.BitsAllocated),
                  "Number of Frames": int(dataset.get("NumberOfFrames") or 1)}
    except (AttributeError, TypeError, ValueError) as exc:
        raise MalformedDataset(f"image pixel module unusable: {exc}") from exc
    wrong = [f"{name} {value}" for name, value in values.items() if value < 1]
    if wrong:
        raise MalformedDataset(f"image pixel module: {', '.join(wrong)}, must be positive")
    decoded = decoded_frame_bytes(dataset)
    if decoded > MAX_FRAME_BYTES:
        raise InstanceTooLarge(f"{values['Rows']}x{values['Columns']} frame needs "
                               f"{decoded >> 20} MiB, over the {MAX_FRAME_BYTES >> 20} MiB limit")
    rows, columns, samples, bits, frames = values.values()
    stored_bits = rows * columns * samples * bits
    if str(dataset.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
        stored_bits = stored_bits // 3 * 2  # chroma halved horizontally (PS3.3 C.7.6.3.1.2)
    return stored_bits, frames


def check_pixel_data(dataset: Dataset, transfer_syntax_uid: str) -> None:
    """Pixel Data must hold what the Image Pixel Module declares, in a size we can show.

    Uncompressed: Rows × Columns × Samples × Bits × Frames (PS3.5 §8.1.1); a stream cut
    inside Pixel Data and re-encoded by the sender arrives structurally whole but short.
    Encapsulated: at least one fragment per frame (PS3.5 §A.4). Either way a frame too
    large to decode is refused here instead of failing later on the reporter's screen.
    """
    if PIXEL_DATA not in dataset:
        return
    stored_bits, frames = _image_pixel_module(dataset)
    value = dataset.get_item(PIXEL_DATA).value or b""
    if transfer_syntax_uid in NATIVE_TRANSFER_SYNTAXES:
        actual, needed = len(value), (stored_bits * frames + 7) // 8
        if actual < needed:
            raise MalformedDataset(f"Pixel Data holds {actual} bytes, the image needs {needed}")
        return
    try:  # the first item is the Basic Offset Table, the fragments follow (PS3.5 §A.4)
        fragments = max(parse_fragments(value)[0] - 1, 0)
    except (ValueError, TypeError) as exc:
        raise MalformedDataset(f"encapsulated Pixel Data unreadable: {exc}") from exc
    if fragments < frames:
        raise MalformedDataset(f"{fragments} fragment(s) for {frames} frame(s), each needs "
                               "one (PS3.5 §A.4)")


def inflate(stream: bytes, limit: int = MAX_INFLATED_BYTES) -> bytes:
    """A Deflated Explicit VR Little Endian data set inflated (PS3.5 §A.5), refused with
    InstanceTooLarge when it would exceed ``limit`` bytes. The size is measured first in
    steps of INFLATE_STEP, so a deflate bomb costs one step of memory, not its size."""
    inflater, size, pending = zlib.decompressobj(-zlib.MAX_WBITS), 0, stream
    try:
        while True:
            size += len(inflater.decompress(pending, INFLATE_STEP))
            if size > limit:
                raise InstanceTooLarge(f"deflated data set inflates to more than "
                                       f"{limit >> 20} MiB, the most we accept")
            pending = inflater.unconsumed_tail
            if inflater.eof or not pending:
                break
        return zlib.decompress(stream, -zlib.MAX_WBITS)
    except zlib.error as exc:
        raise MalformedDataset(f"deflated data set cannot be inflated: {exc}") from exc


def parse_dataset(dataset_bytes: bytes, transfer_syntax_uid: str) -> Dataset:
    """The received data set, checked by check_complete, then parsed as pynetdicom's
    event.dataset parses it (a deflated one inflated once); a parser's refusal of what
    the walker let through becomes MalformedDataset too."""
    data = _walked(dataset_bytes, transfer_syntax_uid)
    try:
        return read_dataset(io.BytesIO(data), is_implicit_VR=_implicit(transfer_syntax_uid),
                            is_little_endian=True)
    except Exception as exc:  # any parser fault on untrusted bytes is a refusal
        raise MalformedDataset(f"malformed data set: {exc}") from exc


def check_complete(dataset_bytes: bytes, transfer_syntax_uid: str) -> None:
    """Raise MalformedDataset unless the stream holds whole elements from start to end."""
    _walked(dataset_bytes, transfer_syntax_uid)


def _implicit(transfer_syntax_uid: str) -> bool:
    return transfer_syntax_uid == IMPLICIT_VR_LITTLE_ENDIAN


def _walked(dataset_bytes: bytes, transfer_syntax_uid: str) -> bytes:
    """The data set's plain encoding (inflated if deflated), walked from start to end."""
    data = dataset_bytes
    if transfer_syntax_uid == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        data = inflate(dataset_bytes)
    if not data:
        raise MalformedDataset("dataset is empty")
    try:
        _Walker(data).dataset(0, len(data), _implicit(transfer_syntax_uid), depth=0)
    except _Malformed as exc:
        raise MalformedDataset(f"malformed data set: {exc}") from exc
    return data
