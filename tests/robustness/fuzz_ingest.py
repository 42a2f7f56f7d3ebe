"""Fuzz target: received bytes → the node's checks → store → read back → decode → render.

An input is what one C-STORE carries: its first byte chooses the transfer syntax of the
presentation context (an index into the node's accepted list), the rest is the encoded
data set. Each input goes through the checks `StorageNode._store_instance` runs, into a
real encrypted store, back out through the store's reader, and through the viewer's
decode and render path into a QImage (offscreen). The store is a throw-away profile with
an in-memory keyring under TMPDIR, left there: libFuzzer exits without Python's clean-up.

Expected outcomes: the node refuses the bytes (a StoreError: a failure status), or the
viewer names the image as one that cannot be shown (PixelDataError). Anything else
raised — at any stage, also from a Qt paint, or caught only by the viewer's last safety
net — is a finding, and libFuzzer saves the input.

Bounded run, as tests/robustness/test_fuzz.py runs it in CI (libFuzzer adds what it
learns to the first directory, so keep the seed corpus second):
    python tests/robustness/fuzz_ingest.py WORK_CORPUS tests/robustness/corpus \\
        -max_total_time=35 -seed=1
Long run (or: pytest tests/robustness/test_fuzz.py --long --timeout 0), with a TMPDIR on
tmpfs to spare the store's fsyncs and an existing findings/ directory:
    python tests/robustness/fuzz_ingest.py WORK_CORPUS tests/robustness/corpus \\
        -max_total_time=3600 -artifact_prefix=findings/
Rewrite the seed corpus after changing `seed_datasets` (regression-* inputs are kept):
    python tests/robustness/fuzz_ingest.py --seeds
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["RUST_BACKTRACE"] = "0"  # a decoder plugin's panic is a refusal, not news
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this working tree

import atheris

with atheris.instrument_imports(include=["app", "viewer", "pydicom"]):
    import keyring
    from pydicom.dataset import Dataset
    from pydicom.uid import UID
    from PySide6.QtCore import QCoreApplication, QEvent

    from app.dicom_stream import parse_dataset
    from app.errors import StoreError
    from app.node import ACCEPTED_TRANSFER_SYNTAXES
    from app.received_instance import PREAMBLE, received_instance
    from app.workstation import open_workstation
    from tests.memory_keyring import MemoryKeyring
    from viewer.series import InstanceRef, SeriesVolume
    from viewer.ui.offscreen import ensure_application, render_offscreen
    from viewer.ui.viewport import Viewport

CORPUS = Path(__file__).with_name("corpus")
RENDER_SIZE = (96, 96)
FRAMES_SHOWN = 2  # the first frames of a multi-frame image are rendered
UNNAMED = "image cannot be shown: "  # SeriesVolume's prefix for an error it did not expect


class Finding(Exception):
    """Something other than a refusal or a "cannot be shown" happened."""


def transfer_syntax(selector: int) -> UID:
    return UID(ACCEPTED_TRANSFER_SYNTAXES[selector % len(ACCEPTED_TRANSFER_SYNTAXES)])


class NotSendable(Exception):
    """No sender can put this data set in a C-STORE: its request needs both SOP UIDs."""


def _request_uid(dataset: Dataset, keyword: str) -> str:
    """The UID a consistent sender names in the request (PS3.7 §9.1.1.1: 1 to 64 characters);
    the node answers 0xA900 when the data set's own differs, so this is that one."""
    value = dataset.get(keyword)
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise NotSendable(keyword)
    return value


def received(stream: bytes, syntax: UID) -> tuple[bytes, Dataset]:
    """The node's C-STORE checks (app/node.py `_store_instance`): the file it would store
    and the parsed data set; StoreError when the node would refuse it."""
    dataset = parse_dataset(stream, syntax)  # the request's UIDs, as a sender reads them
    return received_instance(stream, syntax, _request_uid(dataset, "SOPClassUID"),
                             _request_uid(dataset, "SOPInstanceUID"))


class Pipeline:
    """One throw-away profile per process; every input is stored, shown, then purged."""

    def __init__(self) -> None:
        logging.disable(logging.WARNING)  # every refusal is logged: noise at this rate
        warnings.simplefilter("ignore")  # pydicom warns about each odd value it reads
        keyring.set_keyring(MemoryKeyring())
        root = Path(tempfile.mkdtemp(prefix="telerad-fuzz-"))
        self.store = open_workstation(root / "profile").store
        self.application = ensure_application()

    def run(self, data: bytes) -> None:
        if len(data) < 2:
            return
        try:
            encoded, dataset = received(data[1:], transfer_syntax(data[0]))
            self.store.put(encoded, dataset, reporter="fuzz")
        except (StoreError, NotSendable):
            return  # the node answers a failure status, or no sender could send it
        study_uid = str(dataset.StudyInstanceUID)
        try:
            self.show(study_uid)
        finally:
            self.store.purge_study(study_uid)

    def show(self, study_uid: str) -> None:
        """Open the stored instance as the viewer does and render its first frames."""
        (stored,) = self.store.list_instances(study_uid)
        ref = InstanceRef(stored.sop_instance_uid, stored.instance_number,
                          stored.image_position, stored.image_orientation, stored.frames)
        volume = SeriesVolume(self.store, [ref])
        for index in range(min(len(volume), FRAMES_SHOWN)):
            viewport = Viewport(volume, start_index=index)
            viewport.toggle_invert()
            render_offscreen(viewport, RENDER_SIZE)  # PySide6 re-raises what a paint raised
            QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
            error = volume.error(index)
            if error is not None and error.startswith(UNNAMED):
                raise Finding(f"frame {index} failed without a named error: {error}")


def seed_datasets() -> Iterator[tuple[str, str, bytes]]:
    """(name, transfer syntax, data set bytes): one instance of each kind the viewer draws,
    built with the hostile-dataset tests' helpers."""
    import numpy as np
    from pydicom import uid

    from tests.robustness.test_hostile_datasets import deflated, encoded, image, palette, rle

    ct = dict(WindowCenter=40, WindowWidth=400, RescaleSlope=1, RescaleIntercept=-1024,
              PixelSpacing=[0.5, 0.5], ImagePositionPatient=[0, 0, 0],
              ImageOrientationPatient=[1, 0, 0, 0, 1, 0], PatientName="FUZZ^Seed")
    yield "ct-explicit", uid.ExplicitVRLittleEndian, encoded(image(**ct))
    yield "ct-implicit", uid.ImplicitVRLittleEndian, encoded(image(**ct), implicit=True)
    yield "ct-deflated", uid.DeflatedExplicitVRLittleEndian, deflated(
        encoded(image(**ct)), "").stream
    yield "ct-rle", uid.RLELossless, rle(image(**ct)).stream
    for name, syntax in (("ct-jpeg-ls", uid.JPEGLSLossless),
                         ("ct-jpeg2000", uid.JPEG2000Lossless)):
        side = 32  # OpenJPEG's default resolution levels need more than 8 × 8
        dataset = image(**ct, Rows=side, Columns=side, PixelData=np.arange(
            side * side, dtype="<u2").tobytes())
        dataset.compress(syntax)
        yield name, syntax, encoded(dataset)
    yield "palette-past-lut", uid.ExplicitVRLittleEndian, encoded(
        palette(np.arange(16).reshape(4, 4) * 16))
    rgb = image(PhotometricInterpretation="RGB", SamplesPerPixel=3, PlanarConfiguration=1,
                BitsAllocated=8, BitsStored=8, HighBit=7, Rows=4, Columns=4,
                PixelData=bytes(range(48)))
    yield "rgb-planar", uid.ExplicitVRLittleEndian, encoded(rgb)
    yield "ybr-422", uid.ExplicitVRLittleEndian, encoded(image(
        PhotometricInterpretation="YBR_FULL_422", SamplesPerPixel=3, PlanarConfiguration=0,
        BitsAllocated=8, BitsStored=8, HighBit=7, Rows=4, Columns=4, PixelData=bytes(32)))
    yield "mono1-frames-luts", uid.ExplicitVRLittleEndian, encoded(_with_luts(image(
        PhotometricInterpretation="MONOCHROME1", BitsAllocated=8, BitsStored=8, HighBit=7,
        Rows=4, Columns=4, NumberOfFrames=3, PixelData=bytes(range(48)))))
    yield "one-bit", uid.ExplicitVRLittleEndian, encoded(image(
        BitsAllocated=1, BitsStored=1, HighBit=0, PixelData=bytes(range(8))))
    yield "no-pixel-data", uid.ExplicitVRLittleEndian, encoded(_without_pixels(image()))
    yield "rgb-jpeg-baseline", *_bundled("SC_rgb_small_odd_jpeg.dcm")


def _bundled(name: str) -> tuple[str, bytes]:
    """Transfer syntax and data set bytes of one of pydicom's bundled test files (for a
    syntax pydicom cannot encode)."""
    from pydicom import dcmread
    from pydicom.data import get_testdata_file

    path = Path(get_testdata_file(name, download=False))
    meta = dcmread(path, stop_before_pixels=True).file_meta
    start = len(PREAMBLE) + 12 + int(meta.FileMetaInformationGroupLength)
    return str(meta.TransferSyntaxUID), path.read_bytes()[start:]


def _with_luts(dataset: Dataset) -> Dataset:
    """A Modality LUT Sequence and a VOI LUT Sequence of 8 entries (PS3.3 C.11.1, C.11.2)."""
    from pydicom.sequence import Sequence

    for sequence, extra in (("ModalityLUTSequence", {"ModalityLUTType": "US"}),
                            ("VOILUTSequence", {})):
        item = Dataset()
        item.add_new("LUTDescriptor", "US", [8, 0, 16])
        item.add_new("LUTData", "US", [0, 10, 20, 40, 80, 160, 320, 640])
        for keyword, value in extra.items():
            setattr(item, keyword, value)
        setattr(dataset, sequence, Sequence([item]))
    return dataset


def _without_pixels(dataset: Dataset) -> Dataset:
    del dataset.PixelData
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    return dataset


def seed_inputs() -> Iterator[tuple[str, bytes]]:
    for name, syntax, stream in seed_datasets():
        yield name, bytes([ACCEPTED_TRANSFER_SYNTAXES.index(syntax)]) + stream


def main() -> None:
    if sys.argv[1:] == ["--seeds"]:
        CORPUS.mkdir(exist_ok=True)
        for name, data in seed_inputs():
            (CORPUS / name).write_bytes(data)
        return
    pipeline = Pipeline()
    atheris.Setup(sys.argv, pipeline.run)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
