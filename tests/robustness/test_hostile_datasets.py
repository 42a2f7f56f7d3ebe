"""Hostile datasets: whatever bytes a configured peer sends in a C-STORE, the node answers
a failure status (PS3.4 B.2.3), writes nothing outside its store and keeps serving; an
instance it does store (it is a valid object), the viewer shows or names as unshowable,
never crashing, while the rest of the series displays.

Every hostile instance travels over a real association on loopback as pre-encoded bytes
(pynetdicom sends a file's data set unchanged with STORE_SEND_CHUNKED_DATASET), so byte
level damage reaches the node exactly as a broken or malicious sender would make it.

Decisions: an indexed value longer than its VR allows is refused like a bad UID (0xC001);
an explicit VR that PS3.6 does not give the element, or a structure pydicom's reader
trips over, is refused as not understood (0xC000); a frame too large to decode, or a
deflated data set that inflates past what the node accepts, is refused as out of
resources (0xA700) before its memory is spent. Bad palette indices are stored (the object
is valid; PS3.3 C.7.6.3.1.5 does not make the receiver judge pixel values) and shown with
the nearest palette entry; compressed pixel data is stored as received (STANDARDS §1) and
judged only when decoded, as are values only the display uses (LUTs, rescale).
"""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pynetdicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filewriter import correct_ambiguous_vr
from pydicom.tag import BaseTag
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
    generate_uid,
)
from pynetdicom import AE
from pynetdicom.dsutils import encode_file_meta
from pynetdicom.sop_class import CTImageStorage, Verification

from app.access import StudyAccess
from app.dicom_stream import MAX_INFLATED_BYTES
from app.received_instance import PREAMBLE
from app.workstation import Workstation
from tests.conftest import RunningNode
from tests.helpers import encoded, make_instance, snapshot, unacknowledged_data
from tests.study_windows import worklist_opener
from viewer.pipeline import MAX_FRAME_BYTES
from viewer.ui.comparison_window import ComparisonWindow

NETWORK_TIMEOUT = 30.0  # bounds a hang, not a performance figure
SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian,
            RLELossless)
SOP_CLASSES = (CTImageStorage, UltrasoundImageStorage, SecondaryCaptureImageStorage)
OUT_OF_RESOURCES, CANNOT_UNDERSTAND, INVALID_UID = 0xA700, 0xC000, 0xC001
ESCAPE = "escaped-by-uid"  # where a path-like UID would land if it ever became a path
MAX_ALLOCATED = 64 << 20  # bytes the node may allocate while receiving and refusing one case
# building hostile values on purpose makes pydicom warn about them
pytestmark = [pytest.mark.filterwarnings("ignore:Invalid value for VR"),
              pytest.mark.filterwarnings("ignore:The value length"),
              pytest.mark.filterwarnings("ignore:The PN component length"),
              pytest.mark.filterwarnings("ignore:The value for the data element")]


# ---- building the bytes ----------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """One C-STORE as a sender puts it on the wire: request UIDs, syntax and data set bytes.

    ``dataset``, when given, is sent instead and encoded by pynetdicom: for a data set that
    starts with group 0002, which a file cannot carry (its reader takes it for file meta)."""

    stream: bytes
    sop_instance_uid: str
    syntax: str = ExplicitVRLittleEndian
    sop_class_uid: str = CTImageStorage
    dataset: Dataset | None = None

    def to_send(self, path: Path) -> Path | Dataset:
        """What send_c_store is given: a DICOM file at ``path`` whose data set pynetdicom
        sends byte for byte, or the Dataset itself."""
        if self.dataset is not None:
            return self.dataset
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = self.sop_class_uid
        meta.MediaStorageSOPInstanceUID = self.sop_instance_uid
        meta.TransferSyntaxUID = self.syntax
        path.write_bytes(PREAMBLE + encode_file_meta(meta) + self.stream)
        return path


def element(tag: int, vr: str, value: bytes) -> bytes:
    """One explicit VR Little Endian element, encoded by hand so it can break the rules."""
    if vr in ("OB", "OW", "SQ", "UN", "UT", "UC", "UR"):
        return struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr.encode(), 0, len(value)) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), len(value)) + value


def sequence(tag: int, *items: bytes) -> bytes:
    """A defined-length explicit VR sequence of ``items`` (PS3.5 §7.5.1)."""
    return element(tag, "SQ", b"".join(items))


def item(*elements: bytes, declared: int | None = None) -> bytes:
    """A sequence item holding ``elements``; ``declared`` overrides its length field."""
    body = b"".join(elements)
    length = len(body) if declared is None else declared
    return struct.pack("<HHL", 0xFFFE, 0xE000, length) + body


def spliced(dataset: Dataset, tag: int, replacement: bytes) -> bytes:
    """``dataset`` encoded with element ``tag`` replaced by ``replacement`` bytes."""
    correct_ambiguous_vr(dataset, is_little_endian=True)  # OB or OW decided before splitting
    before = Dataset({elem.tag: elem for elem in dataset if elem.tag < tag})
    after = Dataset({elem.tag: elem for elem in dataset if elem.tag > tag})
    return encoded(before) + replacement + encoded(after)


def image(**fields: object) -> Dataset:
    """An 8×8 16-bit CT image (tests/helpers.make_instance) with ``fields`` set on it."""
    dataset = make_instance()
    for keyword, value in fields.items():
        setattr(dataset, keyword, value)
    return dataset


def plain(dataset: Dataset, syntax: str = ExplicitVRLittleEndian) -> Outgoing:
    stream = encoded(dataset, implicit=syntax == ImplicitVRLittleEndian)
    return Outgoing(stream, str(dataset.SOPInstanceUID), syntax, str(dataset.SOPClassUID))


def rle(dataset: Dataset, fragments: list[bytes] | None = None, **fields: object) -> Outgoing:
    """``dataset`` RLE-compressed (PS3.5 Annex G), or with ``fragments`` as its frames, then
    ``fields`` set on it."""
    if fragments is None:
        dataset.compress(RLELossless, encoding_plugin="pydicom")
    else:
        dataset.PixelData = encapsulate(fragments)
        dataset["PixelData"].VR = "OB"
    for keyword, value in fields.items():
        setattr(dataset, keyword, value)
    return plain(dataset, RLELossless)


def deflated(stream: bytes, sop_instance_uid: str) -> Outgoing:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = compressor.compress(stream) + compressor.flush()
    return Outgoing(data, sop_instance_uid, DeflatedExplicitVRLittleEndian)


def deflate_bomb(inflated_bytes: int) -> Outgoing:
    """A deflated data set of about 1 MB that inflates to ``inflated_bytes``: a valid start
    then Pixel Data of zeros. Zeros after a full flush deflate to the same bytes every
    time, so the bomb is built from one compressed MiB without compressing a GiB."""
    dataset = image()
    head = spliced(dataset, PIXEL_DATA, b"")  # every element but Pixel Data
    head += struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OB", 0, inflated_bytes)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    start = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    mebibyte = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    data = start + mebibyte * (inflated_bytes >> 20) + compressor.flush()
    assert len(data) < inflated_bytes // 500, "not a bomb: it hardly inflates"
    return Outgoing(data, str(dataset.SOPInstanceUID), DeflatedExplicitVRLittleEndian)


def palette(indices: np.ndarray, entries: int = 4, **fields: object) -> Dataset:
    """An 8-bit PALETTE COLOR ultrasound image whose 16-bit palette has ``entries`` colours:
    entry i is (i, 2i, 3i) × 256, so each colour names its entry (PS3.3 C.7.6.3.1.5)."""
    dataset = image(SOPClassUID=UltrasoundImageStorage, Modality="US",
                    PhotometricInterpretation="PALETTE COLOR", BitsAllocated=8, BitsStored=8,
                    HighBit=7, Rows=indices.shape[0], Columns=indices.shape[1], **fields)
    dataset.file_meta.MediaStorageSOPClassUID = UltrasoundImageStorage
    for channel, scale in (("Red", 1), ("Green", 2), ("Blue", 3)):
        setattr(dataset, f"{channel}PaletteColorLookupTableDescriptor", [entries, 0, 16])
        lut = (np.arange(entries, dtype="<u2") * scale * 256).tobytes()
        setattr(dataset, f"{channel}PaletteColorLookupTableData", lut)
    dataset.PixelData = indices.astype(np.uint8).tobytes()
    return dataset


# ---- hostile cases ---------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """What a hostile sender sends, and the refusal it must get (status, comment)."""

    build: Callable[[], Outgoing]
    status: int
    comment: str
    escapes: tuple[str, ...] = field(default=())  # path-like values to look for afterwards


def _uid(keyword: str, value: str) -> Callable[[], Outgoing]:
    def build() -> Outgoing:
        dataset = image(**{keyword: value})
        return Outgoing(encoded(dataset), str(dataset.SOPInstanceUID))
    return build


def _raw(tag: int, replacement: bytes, **fields: object) -> Callable[[], Outgoing]:
    def build() -> Outgoing:
        dataset = image(**fields)
        return Outgoing(spliced(dataset, tag, replacement), str(dataset.SOPInstanceUID))
    return build


def _image(**fields: object) -> Callable[[], Outgoing]:
    return lambda: plain(image(**fields))


def _rle(fragments: list[bytes] | None = None, **fields: object) -> Callable[[], Outgoing]:
    return lambda: rle(image(), fragments, **fields)


def _cut(stream_end: int) -> Callable[[], Outgoing]:
    def build() -> Outgoing:
        outgoing = plain(image())
        return Outgoing(outgoing.stream[:stream_end], outgoing.sop_instance_uid)
    return build


def _encapsulation_without_delimiter() -> Outgoing:
    outgoing = rle(image())
    assert outgoing.stream.endswith(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    return Outgoing(outgoing.stream[:-8], outgoing.sop_instance_uid, RLELossless)


def _meta_in_data_set() -> Outgoing:
    """Read back as a file, this element would choose the transfer syntax the viewer uses."""
    dataset = image()
    dataset.add_new(0x00020010, "UI", ImplicitVRLittleEndian)
    return Outgoing(b"", str(dataset.SOPInstanceUID), dataset=dataset)


def _deflated_garbage() -> Outgoing:
    return Outgoing(b"\xff" * 64 + b"not deflate", generate_uid(), DeflatedExplicitVRLittleEndian)


def _deflated_truncated() -> Outgoing:
    outgoing = plain(image())
    return deflated(outgoing.stream[:-5], outgoing.sop_instance_uid)


def _fragment_overrun() -> Outgoing:
    outgoing = rle(image())
    # the last fragment item's length (4 bytes before its data) claims more than is sent
    stream = bytearray(outgoing.stream[:-8])
    fragment_start = stream.rfind(b"\xfe\xff\x00\xe0")
    stream[fragment_start + 4 : fragment_start + 8] = struct.pack("<L", 1 << 20)
    return Outgoing(bytes(stream), outgoing.sop_instance_uid, RLELossless)


ROWS, PIXEL_DATA, SOP_INSTANCE_UID = 0x00280010, 0x7FE00010, 0x00080018
REFERENCED_IMAGES, VOI_LUT = 0x00081140, 0x00283010
TRAVERSAL = f"../../../../{ESCAPE}"
HOSTILE: dict[str, Case] = {
    # path-like UIDs: never a file name, refused as invalid UIDs (PS3.5 §9.1)
    "path-like SOP Instance UID": Case(
        _uid("SOPInstanceUID", TRAVERSAL), INVALID_UID, "SOP Instance UID is not a valid UID",
        (TRAVERSAL,)),
    "path-like Study Instance UID": Case(
        _uid("StudyInstanceUID", TRAVERSAL), INVALID_UID,
        "Study Instance UID is not a valid UID", (TRAVERSAL,)),
    "absolute path as Series Instance UID": Case(
        _uid("SeriesInstanceUID", f"/{ESCAPE}"), INVALID_UID,
        "Series Instance UID is not a valid UID", (f"/{ESCAPE}",)),
    "UID with a NUL and a slash": Case(
        _uid("StudyInstanceUID", f"1.2\0/../{ESCAPE}"), INVALID_UID,
        "Study Instance UID is not a valid UID", (f"../{ESCAPE}",)),
    # over-long values (PS3.5 Table 6.2-1)
    "65-digit Study Instance UID": Case(
        _uid("StudyInstanceUID", "1." + "2" * 63), INVALID_UID,
        "Study Instance UID is not a valid UID (digits and dots"),
    "10,000-character Patient Name": Case(
        _image(PatientName="A" * 10_000), INVALID_UID,
        "PatientName has 10000 characters, PN allows 64"),
    "1 MB Study Description": Case(
        _image(StudyDescription="X" * 1_000_000), INVALID_UID,
        "StudyDescription has 1000000 characters, LO allows 64"),
    "element longer than the stream": Case(
        _raw(PIXEL_DATA, element(PIXEL_DATA, "OB", b"")[:-4] + struct.pack("<L", 0xFFFFFFF0)),
        CANNOT_UNDERSTAND, "(7FE0,0010) declares 4294967280 bytes"),
    # wrong VRs (PS3.5 §7.1.2, §6.2)
    "Rows encoded as LO text": Case(
        _raw(ROWS, element(ROWS, "LO", b"EIGHT ")), CANNOT_UNDERSTAND,
        "(0028,0010) is LO, PS3.6 gives it US"),
    "SOP Instance UID encoded as a sequence": Case(
        _raw(SOP_INSTANCE_UID, element(SOP_INSTANCE_UID, "SQ", b"")), CANNOT_UNDERSTAND,
        "(0008,0018) is SQ, PS3.6 gives it UI"),
    "unknown VR": Case(
        _raw(0x00081030, element(0x00081030, "ZZ", b"CT HEAD ")), CANNOT_UNDERSTAND,
        "(0008,1030) has unknown VR b'ZZ'"),
    "Rows of three bytes": Case(
        _raw(ROWS, element(ROWS, "US", b"\x08\x00\x00")), CANNOT_UNDERSTAND,
        "(0028,0010) US of 3 bytes: not whole values"),
    # fuzzing findings: structure pydicom's reader trips over, now refused at the door
    "item tag outside a sequence": Case(
        _raw(0x00081031, item()), CANNOT_UNDERSTAND, "(FFFE,E000) outside a sequence"),
    "item overrunning its sequence": Case(
        _raw(REFERENCED_IMAGES, sequence(REFERENCED_IMAGES, item(declared=100))),
        CANNOT_UNDERSTAND, "declares 100 bytes"),
    "unknown VR inside a sequence item": Case(
        _raw(VOI_LUT, sequence(VOI_LUT, item(element(0x00283002, "UP", b"\x08\0\0\0\x10\0")))),
        CANNOT_UNDERSTAND, "(0028,3002) has unknown VR b'UP'"),
    "command element inside a sequence item": Case(
        _raw(REFERENCED_IMAGES, sequence(REFERENCED_IMAGES, item(element(0, "UL", b"\0" * 4)))),
        CANNOT_UNDERSTAND, "(0000,0000) is a file meta/command element"),
    "Specific Character Set with a NUL": Case(
        _raw(0x00080005, element(0x00080005, "CS", b"ISO_IR\x00100 ")), CANNOT_UNDERSTAND,
        "embedded null character"),
    "Transfer Syntax UID inside the data set": Case(
        _meta_in_data_set, CANNOT_UNDERSTAND, "(0002,0010) is a file meta/command element"),
    # huge declared Rows × Columns × Frames
    "65535 × 65535 native image": Case(
        _image(Rows=65535, Columns=65535), OUT_OF_RESOURCES,
        "65535x65535 frame needs 8191 MiB, over the 256 MiB limit"),
    "2^31 - 1 native frames": Case(
        _image(NumberOfFrames=2**31 - 1), CANNOT_UNDERSTAND,
        "Pixel Data holds 128 bytes, the image needs 274877906816"),
    "negative Number of Frames": Case(
        _image(NumberOfFrames=-1), CANNOT_UNDERSTAND,
        "image pixel module: Number of Frames -1, must be positive"),
    "zero Columns": Case(_image(Columns=0), CANNOT_UNDERSTAND,
                         "image pixel module: Columns 0, must be positive"),
    "100,000 RLE frames in one fragment": Case(
        _rle(NumberOfFrames=100_000), CANNOT_UNDERSTAND, "1 fragment(s) for 100000 frame(s)"),
    "65535 × 65535 RLE image": Case(
        _rle([b"\x00" * 64], Rows=65535, Columns=65535), OUT_OF_RESOURCES,
        "65535x65535 frame needs 8191 MiB, over the 256 MiB limit"),
    # deflate (PS3.5 §A.5)
    "deflate bomb": Case(lambda: deflate_bomb(MAX_INFLATED_BYTES + (64 << 20)),
                         OUT_OF_RESOURCES, "inflates to more than 1024 MiB"),
    "deflated garbage": Case(_deflated_garbage, CANNOT_UNDERSTAND, "cannot be inflated"),
    "deflated data set cut short": Case(_deflated_truncated, CANNOT_UNDERSTAND,
                                        "malformed data set: (7FE0,0010) declares 128"),
    # truncated pixel data
    "native Pixel Data short by one row": Case(
        _image(PixelData=b"\0" * 112), CANNOT_UNDERSTAND,
        "Pixel Data holds 112 bytes, the image needs 128"),
    "stream cut inside Pixel Data": Case(_cut(-40), CANNOT_UNDERSTAND,
                                         "(7FE0,0010) declares 128 bytes, 88 remain"),
    "encapsulation without its sequence delimiter": Case(
        _encapsulation_without_delimiter, CANNOT_UNDERSTAND,
        "malformed data set: element header cut off"),
    "RLE fragment overrunning the stream": Case(
        _fragment_overrun, CANNOT_UNDERSTAND, "declares 1048576 bytes"),
}


# ---- talking to the node ---------------------------------------------------------------


@pytest.fixture(autouse=True)
def send_bytes_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    """pynetdicom sends a file's data set as stored instead of decoding and re-encoding it."""
    monkeypatch.setattr(pynetdicom._config, "STORE_SEND_CHUNKED_DATASET", True)


def _sender() -> AE:
    ae = AE(ae_title="TESTSCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = NETWORK_TIMEOUT
    for sop_class in SOP_CLASSES:
        for syntax in SYNTAXES:  # one context each: the node accepts one syntax per context
            ae.add_requested_context(sop_class, syntax)
    ae.add_requested_context(Verification)
    return ae


def send(node: RunningNode, files: list[Path | Dataset]) -> list[tuple[int, str]]:
    """C-STORE each over one association: (status, error comment) for each."""
    association = _sender().associate(node.host, node.port, ae_title=node.ae_title)
    assert association.is_established, "the node refused the association"
    answers = []
    try:
        for path in files:
            response = association.send_c_store(path)
            answers.append((int(getattr(response, "Status", -1)),
                            str(response.get("ErrorComment", ""))))
    finally:
        association.release()
    return answers


def echo(node: RunningNode) -> int:
    association = _sender().associate(node.host, node.port, ae_title=node.ae_title)
    assert association.is_established, "the node no longer accepts associations"
    try:
        return int(association.send_c_echo().Status)
    finally:
        association.release()


def outside_profile(root: Path) -> dict[str, str]:
    """Every file under ``root`` except the profile's own, with its content hash."""
    return {name: digest for name, digest in snapshot(root).items()
            if not name.startswith("profile/")}


def landing_places(workstation: Workstation, cwd: Path, value: str) -> list[Path]:
    """Where a path-like value would have put a file, had any code joined it to a path."""
    paths = workstation.paths
    bases = [cwd, paths.root, paths.objects, paths.objects / "00", paths.quarantine]
    return [(base / value.replace("\0", "")).resolve() for base in bases]


# ---- the node refuses ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_dataset_is_refused_and_the_node_keeps_serving(
        name: str, running_node: RunningNode, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    case, workstation = HOSTILE[name], running_node.workstation
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # a relative path built from a UID would land here
    outgoing = case.build().to_send(tmp_path / "outgoing.dcm")
    before = outside_profile(tmp_path)

    tracemalloc.start()
    try:
        ((status, comment),) = send(running_node, [outgoing])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    print(f"\n  0x{status:04X} {comment!r}, {peak / 2**20:.1f} MiB allocated meanwhile")
    assert status == case.status, f"{name}: status 0x{status:04X} ({comment})"
    assert case.comment in comment
    # the largest case sends 1 MB; a bomb inflated or a frame decoded would be 1 GiB
    assert peak < MAX_ALLOCATED, f"{peak >> 20} MiB allocated while refusing {name}"
    assert workstation.store.list_studies() == []
    assert unacknowledged_data(workstation) == []
    assert outside_profile(tmp_path) == before
    for value in case.escapes:
        assert not [p for p in landing_places(workstation, cwd, value) if p.exists()]
    assert echo(running_node) == 0x0000


def test_deflated_data_set_within_the_limit_is_stored(running_node: RunningNode,
                                                       tmp_path: Path) -> None:
    dataset = image()
    outgoing = deflated(encoded(dataset), str(dataset.SOPInstanceUID))

    assert send(running_node, [outgoing.to_send(tmp_path / "small.dcm")]) == [(0x0000, "")]
    assert running_node.workstation.store.contains(str(dataset.SOPInstanceUID))


def test_refusals_leave_the_association_usable_for_the_next_instance(
        running_node: RunningNode, tmp_path: Path) -> None:
    hostile = HOSTILE["Rows encoded as LO text"].build()
    good = plain(image())
    files = [hostile.to_send(tmp_path / "hostile.dcm"), good.to_send(tmp_path / "good.dcm")]

    answers = send(running_node, files)

    assert [status for status, _ in answers] == [CANNOT_UNDERSTAND, 0x0000]
    assert running_node.workstation.store.contains(good.sop_instance_uid)


# ---- the viewer shows an error for that image, the rest display ------------------------

SLICES = 5
VICTIM = 2  # index of the hostile slice in its series


def series(make: Callable[[int], Dataset], victim: Callable[[int], Dataset]) -> list[Dataset]:
    """SLICES instances of one study and series; slice VICTIM is made by ``victim``."""
    study_uid, series_uid = generate_uid(), generate_uid()
    datasets = [(victim if n == VICTIM else make)(n) for n in range(SLICES)]
    for number, dataset in enumerate(datasets, start=1):
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study_uid, series_uid
        dataset.InstanceNumber = number
    return datasets


@pytest.fixture
def admin(running_node: RunningNode) -> StudyAccess:
    """Instances arrive unassigned (no assignment rule configured): an administrator sees them."""
    workstation = running_node.workstation
    return StudyAccess(workstation.store, workstation.audit, "administrator", "admin")


@pytest.fixture
def opened_window(qtbot, running_node: RunningNode, admin: StudyAccess,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], ComparisonWindow]]:
    """Opens a study as the worklist does; decoding threads are finished afterwards."""
    with worklist_opener(qtbot, running_node.workstation, admin, monkeypatch) as open_:
        yield open_


def shown_slices(window: ComparisonWindow) -> list[tuple[str, np.ndarray | None]]:
    """For each slice in display order: the viewport's message and the pixels it drew."""
    viewport = window.current_pane.viewport
    assert viewport is not None
    viewport.volume.wait()  # every slice decoded (or refused) in the background
    shown = []
    for index in range(len(viewport.volume)):
        viewport.go_to(index)
        pixels = viewport.image.image
        shown.append((viewport.message.text(), None if pixels is None else pixels.copy()))
    return shown


def assert_only_victim_refused(shown: list[tuple[str, np.ndarray | None]],
                               *expected: str) -> None:
    for index, (message, pixels) in enumerate(shown):
        if index == VICTIM:
            assert message.startswith(f"Image {VICTIM + 1} cannot be shown"), message
            assert all(text in message for text in expected), message
            assert pixels is None
        else:
            assert (message, pixels is not None) == ("", True), f"slice {index + 1}: {message}"


def raw_value(dataset: Dataset, tag: int, vr: str, value: bytes) -> Dataset:
    """``dataset`` with element ``tag`` holding ``value`` as sent, unchecked by pydicom."""
    dataset[tag] = RawDataElement(BaseTag(tag), vr, len(value), value, 0, False, True)
    return dataset


def lut_item(descriptor: list[int], data: list[int] | None, **fields: str) -> Dataset:
    """A Modality or VOI LUT Sequence item (PS3.3 C.11.1, C.11.2.1.1)."""
    item = Dataset()
    item.add_new("LUTDescriptor", "US", descriptor)
    if data is not None:
        item.add_new("LUTData", "US", data)
    for keyword, value in fields.items():
        setattr(item, keyword, value)
    return item


def rle_fragment(segment_one: bytes, segment_two: bytes) -> bytes:
    """One RLE frame of two segments (PS3.5 G.3): a 64-byte header, then the segments."""
    offsets = (64, 64 + len(segment_one))
    return struct.pack("<16L", 2, *offsets, *[0] * 13) + segment_one + segment_two


@dataclass(frozen=True)
class Unshowable:
    """A slice the viewer must name as unshowable: how it is built and reaches the store."""

    build: Callable[[], Dataset]
    syntax: str  # the transfer syntax it is sent with, or PAST_THE_NODE
    shown: tuple[str, ...]  # what the viewport's message says


def _rle_slice(fragment: bytes, **fields: object) -> Callable[[], Dataset]:
    def build() -> Dataset:
        dataset = image(**fields)
        dataset.PixelData = encapsulate([fragment])
        dataset["PixelData"].VR = "OB"
        dataset.file_meta.TransferSyntaxUID = RLELossless
        return dataset
    return build


def _with(**sequences: Dataset) -> Callable[[], Dataset]:
    def build() -> Dataset:
        dataset = image()
        for keyword, item in sequences.items():
            setattr(dataset, keyword, [item])
        return dataset
    return build


OVERRUN = bytes([0x81, 0]) * 3  # three runs of 128: past an 8 × 8 segment of 64 bytes
PAST_THE_NODE = ""  # stored as an older release (or another route) would have stored it
UNSHOWABLE: dict[str, Unshowable] = {
    "RLE header promising segments past the fragment": Unshowable(
        _rle_slice(struct.pack("<16L", 15, *range(10_000, 25_000, 1_000)) + b"\x55" * 32),
        RLELossless, ("Pixel data cannot be decoded", "RLE Lossless")),
    # the decoder (pylibjpeg-rle) panicked; a Rust panic is no Exception (fuzzing finding)
    "RLE segment running past its frame": Unshowable(
        _rle_slice(rle_fragment(OVERRUN, OVERRUN)), RLELossless,
        ("Pixel data cannot be decoded", "index out of bounds")),
    # fuzzing finding: float() of the value was an unnamed error
    "Rescale Intercept that is not a number": Unshowable(
        lambda: raw_value(image(), 0x00281052, "DS", b"-1024.0M"), ExplicitVRLittleEndian,
        ("Rescale Slope/Intercept unusable",)),
    # fuzzing finding: KeyError out of the viewport while drawing
    "VOI LUT item without LUT Data": Unshowable(
        _with(VOILUTSequence=lut_item([8, 0, 16], None)), ExplicitVRLittleEndian,
        ("Lookup table unusable", "(0028,3006)")),
    # fuzzing finding: the overlay's default window raised out of the viewport
    "Modality LUT of 239-bit entries": Unshowable(
        _with(ModalityLUTSequence=lut_item([8, 0, 239], list(range(8)), ModalityLUTType="HU")),
        ExplicitVRLittleEndian, ("Lookup table unusable", "1-16 bits")),
    "65535 × 65535 compressed frame": Unshowable(
        _rle_slice(b"\0" * 64, Rows=65535, Columns=65535), PAST_THE_NODE,
        ("65535 × 65535", f"{MAX_FRAME_BYTES // 2**20} MiB")),
    "native Pixel Data short by 28 bytes": Unshowable(
        lambda: image(PixelData=b"\0" * 100), PAST_THE_NODE, ("Pixel Data holds 100 bytes",)),
}


def send_series(node: RunningNode, datasets: list[Dataset], syntax: str,
                directory: Path) -> list[int]:
    """C-STORE statuses of the series, each instance's bytes as pydicom encodes them."""
    files: list[Path | Dataset] = []
    for number, dataset in enumerate(datasets):
        if dataset.file_meta.TransferSyntaxUID != syntax:  # intact slices, coded as the victim
            dataset.compress(syntax, encoding_plugin="pydicom")
        outgoing = Outgoing(encoded(dataset), str(dataset.SOPInstanceUID), syntax,
                            str(dataset.SOPClassUID))
        files.append(outgoing.to_send(directory / f"slice{number}.dcm"))
    return [status for status, _ in send(node, files)]


@pytest.mark.parametrize("name", list(UNSHOWABLE))
def test_unshowable_slice_is_named_and_the_rest_of_the_series_displays(
        name: str, running_node: RunningNode, tmp_path: Path, opened_window) -> None:
    case = UNSHOWABLE[name]
    datasets = series(lambda _n: image(), lambda _n: case.build())
    if case.syntax == PAST_THE_NODE:
        for dataset in datasets:
            store_as_received(running_node.workstation, dataset)
    else:  # a valid object the node stores as received (STANDARDS §1)
        assert send_series(running_node, datasets, case.syntax, tmp_path) == [0x0000] * SLICES

    window = opened_window(str(datasets[0].StudyInstanceUID))
    assert_only_victim_refused(shown_slices(window), *case.shown)


def test_palette_indices_past_the_lut_are_stored_and_shown_with_the_last_entry(
        running_node: RunningNode, tmp_path: Path, opened_window) -> None:
    inside = np.arange(16).reshape(4, 4) % 4
    past = np.full((4, 4), 250)  # a 4-entry palette: 250 indexes past its end
    datasets = series(lambda _n: palette(inside), lambda _n: palette(past))

    assert send_series(running_node, datasets, ExplicitVRLittleEndian, tmp_path) == [0] * SLICES

    window = opened_window(str(datasets[0].StudyInstanceUID))
    shown = shown_slices(window)
    assert [message for message, _ in shown] == [""] * SLICES
    last_entry = np.array([3, 6, 9], dtype=np.uint8)  # (3, 6, 9) × 256 reduced to 8 bits
    victim = shown[VICTIM][1]
    assert victim is not None and (victim == last_entry).all()
    first = shown[0][1]
    assert first is not None and (first[0, 1] == [1, 2, 3]).all()


def store_as_received(workstation: Workstation, dataset: Dataset) -> None:
    """Straight into the store, past the node's checks."""
    syntax = dataset.file_meta.TransferSyntaxUID
    meta = FileMetaDataset(dataset.file_meta)
    data = PREAMBLE + encode_file_meta(meta) + encoded(dataset, implicit=syntax.is_implicit_VR)
    workstation.store.put(data, dataset)
