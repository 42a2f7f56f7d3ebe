"""Run on an X display: show a 10-bit grey ramp in a real viewport, print what reached it.

Prints "<channel bits> <viewport bits> <distinct grey levels in the grabbed ramp>". Used by
tests/integration/test_ten_bit_display.py on Xvfb screens of depth 24 and 30.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from viewer.series import InstanceRef, SeriesVolume
from viewer.ui.deep_image import channel_bits
from viewer.ui.viewport import Viewport

WIDTH, HEIGHT = 1024, 64


def ramp_dataset() -> Dataset:
    """A 12-bit MR-like image whose columns step through 0..4095 in fours."""
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.SOPClassUID, dataset.SOPInstanceUID = MRImageStorage, generate_uid()
    dataset.Modality, dataset.PhotometricInterpretation = "MR", "MONOCHROME2"
    dataset.Rows, dataset.Columns, dataset.SamplesPerPixel = HEIGHT, WIDTH, 1
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 12, 11
    dataset.PixelRepresentation = 0
    dataset.WindowCenter, dataset.WindowWidth = 2048, 4096
    ramp = np.tile(np.arange(WIDTH, dtype=np.uint16) * 4, (HEIGHT, 1))
    dataset.PixelData = ramp.tobytes()
    return dataset


class OneImage:
    """The InstanceSource of a one-image series held in memory."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def open_instance(self, sop_instance_uid: str) -> Dataset:
        return self.dataset


def main() -> None:
    app = QApplication([])
    dataset = ramp_dataset()
    volume = SeriesVolume(OneImage(dataset), [InstanceRef(dataset.SOPInstanceUID, 1, None,
                                                           None)])
    viewport = Viewport(volume)
    viewport.resize(WIDTH + 200, 400)
    viewport.show()
    for _ in range(20):
        app.processEvents()
    viewport.fit()
    for _ in range(20):
        app.processEvents()
    view = viewport.graphics.viewport()
    grabbed = app.primaryScreen().grabWindow(view.winId()).toImage()
    grabbed = grabbed.convertToFormat(QImage.Format.Format_RGBA64)
    pixels = np.frombuffer(grabbed.constBits(), dtype=np.uint16,
                           count=grabbed.width() * grabbed.height() * 4)
    row = pixels.reshape(grabbed.height(), grabbed.width(), 4)[grabbed.height() // 2, :, 0]
    print(channel_bits(app.primaryScreen()), viewport.bits, len(np.unique(row)))


if __name__ == "__main__":
    main()
