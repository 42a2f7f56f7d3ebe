"""Synthetic, clearly fictitious DICOM studies for the demo and the tests.

Headers follow the PS3.3 IODs for CT Image (A.3), MR Image (A.4) and Computed Radiography
Image (A.2); pixels come from simple numpy phantoms.  Everything is deterministic: UIDs are
name-based UUIDs below "2.25." (PS3.5 B.2) and pixel noise is seeded from the study, so the
same plan always gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import Dataset
from pydicom import uid as dcmuid
from pydicom.dataset import FileMetaDataset

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_OID, "telerad.synthetic.v1")
_IMPLEMENTATION_UID = f"2.25.{uuid.uuid5(_NAMESPACE, 'implementation').int}"


def _uid(*parts: object) -> str:
    """Deterministic UID: a name-based UUID below "2.25." (PS3.5 B.2, ISO/IEC 9834-8)."""
    return f"2.25.{uuid.uuid5(_NAMESPACE, '|'.join(map(str, parts))).int}"


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8])


def _nhs_number(serial: int) -> str:
    """First NHS number 999<serial><check> (test range) with a valid modulus 11 check digit."""
    while True:
        nine = f"999{serial:06d}"
        check = 11 - sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True)) % 11
        if check != 10:
            return nine + str(check % 11)
        serial += 1


@dataclass(frozen=True)
class SyntheticPatient:
    """A fictitious patient (PS3.3 C.7.1.1 Patient Module)."""

    name: str
    patient_id: str
    issuer: str
    nhs_number: str
    birth_date: str
    sex: str


@dataclass(frozen=True)
class StudyPlan:
    """One study to generate: a single series of ``slices`` images of ``kind``."""

    patient: SyntheticPatient
    kind: str
    study_date: str
    accession: str
    slices: int
    study_uid: str
    is_prior: bool = False

    @property
    def sop_class_uid(self) -> str:
        """The Storage SOP Class of every image in this plan."""
        return _SPECS[self.kind].sop_class

    def describe(self) -> str:
        """One line for progress messages."""
        d, noun = self.study_date, "image" if self.slices == 1 else "images"
        return (f"{self.kind[:2]} {self.kind[3:].lower()} {self.slices} {noun}, "
                f"{self.patient.name}, {d[:4]}-{d[4:6]}-{d[6:]}")


@dataclass(frozen=True)
class _Spec:
    """Per-kind constants; lengths in mm along the patient axis from the anatomy's start."""

    sop_class: str
    study: str
    series: str
    reason: str
    matrix: tuple[int, int]
    pixel_mm: float
    coverage_mm: float
    start_mm: float


_SPECS = {
    "CT_HEAD": _Spec(dcmuid.CTImageStorage, "CT Head without contrast", "Axial 5mm brain",
                     "Sudden severe headache, ? haemorrhage", (512, 512), 0.45, 150, 5),
    "CT_CHEST": _Spec(dcmuid.CTImageStorage, "CT Chest without contrast", "Axial chest",
                      "Follow-up of right upper lobe nodule", (512, 512), 0.7, 320, 0),
    "MR_BRAIN": _Spec(dcmuid.MRImageStorage, "MR Brain", "Ax T2 TSE",
                      "Intermittent left arm numbness, ? demyelination", (256, 256), 0.9375,
                      144, 12),
    "CR_CHEST": _Spec(dcmuid.ComputedRadiographyImageStorage, "XR Chest PA", "PA",
                      "Persistent cough for six weeks", (2000, 1600), 0.2, 0, 0),
}
_PATIENTS = (("TESTPATIENT^Alice", "RX1000001", "19580314", "F"),
             ("TESTPATIENT^Bob", "RX1000002", "19690822", "M"),
             ("TESTPATIENT^Carol", "RX1000003", "19841105", "F"))
_SCHEDULE = ((0, "CT_CHEST", 0), (0, "CT_CHEST", 410), (1, "CT_HEAD", 0), (1, "CT_HEAD", 790),
             (1, "MR_BRAIN", 0), (1, "MR_BRAIN", 270), (2, "CR_CHEST", 0), (2, "CR_CHEST", 1120))


def demo_plans(today: dt.date | None = None, *, large_ct_slices: int = 320) -> list[StudyPlan]:
    """Three fictitious patients, each with a current study and a prior of the same kind."""
    if large_ct_slices < 1:
        raise ValueError("large_ct_slices must be positive")
    today = today or dt.date.today()
    patients = [SyntheticPatient(name, pid, "RXH", _nhs_number(1000 + 37 * n), birth, sex)
                for n, (name, pid, birth, sex) in enumerate(_PATIENTS)]
    counts = {"CT_HEAD": 32, "MR_BRAIN": 24, "CR_CHEST": 1}
    plans = []
    for n, (who, kind, days_ago) in enumerate(_SCHEDULE):
        date, prior = (today - dt.timedelta(days=days_ago)).strftime("%Y%m%d"), days_ago > 0
        slices = counts.get(kind) or (max(2, large_ct_slices // 3) if prior else large_ct_slices)
        uid = _uid("study", patients[who].patient_id, kind, date, slices)
        plans.append(StudyPlan(patients[who], kind, date, f"RX{date[2:]}{n + 1:04d}", slices,
                               uid, prior))
    return plans


def plan_instance_count(plans: Iterable[StudyPlan]) -> int:
    """Total number of images the plans will produce."""
    return sum(plan.slices for plan in plans)


def write_study(plan: StudyPlan, directory: Path) -> list[Path]:
    """Write every instance of ``plan`` as a DICOM file (PS3.10) into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for ds in iter_instances(plan):
        paths.append(directory / f"{plan.accession}_{ds.InstanceNumber:04d}.dcm")
        ds.save_as(paths[-1], enforce_file_format=True)
    return paths


def iter_instances(plan: StudyPlan) -> Iterator[Dataset]:
    """Yield one complete Dataset per image, lazily (one image in memory at a time)."""
    spec = _SPECS[plan.kind]
    frames = {"CT_CHEST": _chest_frames, "CR_CHEST": _cr_frames}.get(plan.kind, _head_frames)
    for i, (position, pixels) in enumerate(frames(plan, spec)):
        ds = _header(plan, spec, i + 1)
        if position is not None:
            ds.ImagePositionPatient = [round(v, 4) for v in position]
            ds.SliceLocation = round(position[2], 4)
        ds.PixelData = pixels.tobytes()
        ds.file_meta = FileMetaDataset()  # PS3.10 7.1
        ds.file_meta.update(dict(
            FileMetaInformationVersion=b"\x00\x01", MediaStorageSOPClassUID=ds.SOPClassUID,
            MediaStorageSOPInstanceUID=ds.SOPInstanceUID,
            TransferSyntaxUID=dcmuid.ExplicitVRLittleEndian,
            ImplementationClassUID=_IMPLEMENTATION_UID, ImplementationVersionName="TELERAD_SYN1"))
        yield ds


# --- headers -----------------------------------------------------------------------------

def _tm(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}{s // 60 % 60:02d}{s % 60:02d}.{int(seconds % 1 * 1000):03d}"


def _item(**values: object) -> Dataset:
    item = Dataset()
    item.update(values)
    return item


def _header(plan: StudyPlan, spec: _Spec, number: int) -> Dataset:
    """Patient, General Study/Series/Equipment/Image and Image Pixel modules (PS3.3 C.7)."""
    p, ds, modality, date = plan.patient, Dataset(), plan.kind[:2], plan.study_date
    start = 8 * 3600 + _seed(plan.study_uid) % (10 * 3600)  # 08:00 to 17:59
    born, on = dt.date.fromisoformat(p.birth_date), dt.date.fromisoformat(date)
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    series_uid, acquired = _uid(plan.study_uid, "series"), _tm(start + 120 + 0.5 * number)
    ds.update(dict(
        SpecificCharacterSet="ISO_IR 100", SOPClassUID=spec.sop_class,
        SOPInstanceUID=_uid(series_uid, "instance", number), InstanceNumber=number,
        StudyDate=date, SeriesDate=date, AcquisitionDate=date, ContentDate=date,
        StudyTime=_tm(start), SeriesTime=_tm(start + 60),
        AcquisitionTime=acquired, ContentTime=acquired,
        AccessionNumber=plan.accession, Modality=modality, Manufacturer="telerad synthetic",
        InstitutionName="Synthetic Demo Hospital", ReferringPhysicianName="TESTDOCTOR^Referrer",
        StationName=f"SYN{modality}01", ManufacturerModelName=f"Phantom {modality}",
        DeviceSerialNumber="0001", SoftwareVersions="1",
        StudyDescription=spec.study, SeriesDescription=spec.series,
        ProcedureCodeSequence=[_item(CodeValue=plan.kind.replace("_", ""),
                                     CodingSchemeDesignator="99TELERAD", CodeMeaning=spec.study)],
        PatientName=p.name, PatientID=p.patient_id, IssuerOfPatientID=p.issuer,
        OtherPatientIDsSequence=[_item(PatientID=p.nhs_number, IssuerOfPatientID="NHS",
                                       TypeOfPatientID="TEXT")],
        PatientBirthDate=p.birth_date, PatientSex=p.sex, PatientAge=f"{age:03d}Y",
        BodyPartExamined=plan.kind[3:], StudyInstanceUID=plan.study_uid,
        SeriesInstanceUID=series_uid, StudyID=plan.accession[-6:],
        SeriesNumber=1 if modality == "CR" else 2, AcquisitionNumber=1,
        RequestedProcedureDescription=spec.study,
        RequestedProcedurePriority="STAT" if plan.kind == "CT_HEAD" and not plan.is_prior
        else "ROUTINE",
        RequestAttributesSequence=[_item(  # Request Attributes Macro (C.7.3.1, Table 10-9)
            RequestedProcedureID=f"RP{plan.accession[-8:]}",
            ScheduledProcedureStepID=plan.accession, RequestedProcedureDescription=spec.study,
            ReasonForTheRequestedProcedure=spec.reason)],
        ImageType=["ORIGINAL", "PRIMARY", *{"CT": ["AXIAL"], "MR": ["OTHER"]}.get(modality, [])],
        BurnedInAnnotation="NO", LossyImageCompression="00",
        SamplesPerPixel=1, PhotometricInterpretation="MONOCHROME2",
        Rows=spec.matrix[0], Columns=spec.matrix[1],
        BitsAllocated=16, BitsStored=12, HighBit=11, PixelRepresentation=0))
    if modality != "CR":  # Frame of Reference (C.7.4.1), Image Plane (C.7.6.2)
        ds.update(dict(
            FrameOfReferenceUID=_uid(plan.study_uid, "frame of reference"),
            PositionReferenceIndicator="", PatientPosition="HFS",
            ImageOrientationPatient=[1, 0, 0, 0, 1, 0], PixelSpacing=[spec.pixel_mm] * 2,
            SliceThickness=5.0 if modality == "MR" else _spacing(plan),
            SpacingBetweenSlices=_spacing(plan)))
    ds.update({"CT": _ct_tags, "MR": _mr_tags, "CR": _cr_tags}[modality](plan, spec))
    return ds


def _ct_tags(plan: StudyPlan, spec: _Spec) -> dict:
    """CT Image Module (C.8.2.1) and VOI LUT (C.11.2): signed 16 bit, HU = stored - 1024."""
    head = plan.kind == "CT_HEAD"
    return dict(
        BitsStored=16, HighBit=15, PixelRepresentation=1,
        RescaleIntercept=-1024, RescaleSlope=1, RescaleType="HU",
        KVP=120, XRayTubeCurrent=300 if head else 180, ExposureTime=1000,
        ConvolutionKernel="H30s" if head else "B45f", FilterType="HEAD" if head else "BODY",
        ReconstructionDiameter=round(spec.pixel_mm * spec.matrix[1], 1),
        DataCollectionDiameter=500, DistanceSourceToDetector=1085.6, GantryDetectorTilt=0,
        TableHeight=145, RotationDirection="CW", SpiralPitchFactor=0.55 if head else 1.0,
        CTDIvol=52.0 if head else 6.5, CTDIPhantomTypeCodeSequence=[_item(
            CodeValue="113690" if head else "113691", CodingSchemeDesignator="DCM",
            CodeMeaning=f"IEC {'Head' if head else 'Body'} Dosimetry Phantom")],
        WindowCenter=[40, 600] if head else [50, -600],
        WindowWidth=[80, 2800] if head else [350, 1500],
        WindowCenterWidthExplanation=["BRAIN", "BONE"] if head else ["MEDIASTINUM", "LUNG"])


def _mr_tags(plan: StudyPlan, spec: _Spec) -> dict:
    """MR Image Module (C.8.3.1): 2D T2 turbo spin echo; the prior was on a 1.5 T system."""
    tesla = 1.5 if plan.is_prior else 3.0
    return dict(
        ScanningSequence="SE", SequenceVariant=["SK", "SP"], ScanOptions="",
        MRAcquisitionType="2D", SequenceName="*tse2d1_15", AngioFlag="N",
        RepetitionTime=4500, EchoTime=98, EchoTrainLength=15, MagneticFieldStrength=tesla,
        ImagingFrequency=round(42.577478 * tesla, 6), ImagedNucleus="1H", EchoNumbers=1,
        NumberOfAverages=2, FlipAngle=150, PixelBandwidth=190, ReceiveCoilName="HEAD 20",
        AcquisitionMatrix=[0, 256, 205, 0], InPlanePhaseEncodingDirection="COL",
        WindowCenter=1100, WindowWidth=2200)


def _cr_tags(plan: StudyPlan, spec: _Spec) -> dict:
    """CR Series and CR Image Modules (C.8.1.1, C.8.1.2); the prior is MONOCHROME1."""
    return dict(
        ViewPosition="PA", PatientOrientation=["L", "F"], ImagerPixelSpacing=[spec.pixel_mm] * 2,
        KVP=125, DistanceSourceToDetector=1800, ExposureTime=8, XRayTubeCurrent=250, Exposure=2,
        WindowCenter=2048, WindowWidth=3800, WindowCenterWidthExplanation="DEFAULT",
        PhotometricInterpretation="MONOCHROME1" if plan.is_prior else "MONOCHROME2")


# --- phantoms ----------------------------------------------------------------------------

def _spacing(plan: StudyPlan) -> float:
    """CT: thinnest standard increment covering ~90% of the anatomy; MR: 5 mm + 1 mm gap."""
    if plan.kind == "MR_BRAIN":
        return 6.0
    need = 0.9 * _SPECS[plan.kind].coverage_mm / plan.slices
    return next((s for s in (0.625, 1.0, 1.25, 2.0, 2.5, 3.0, 5.0, 7.5) if s >= need), 10.0)


class _Axes:
    """Pixel-centre coordinates in mm (x to the patient's left, y posterior), offset dx/dy."""

    def __init__(self, spec: _Spec, dx: float = 0.0, dy: float = 0.0):
        (rows, cols), mm = spec.matrix, spec.pixel_mm
        self.x0, self.y0, self.shape = -(cols - 1) / 2 * mm, -(rows - 1) / 2 * mm, (rows, cols)
        self.x = (self.x0 + mm * np.arange(cols) - dx).astype(np.float32)
        self.y = (self.y0 + mm * np.arange(rows) - dy).astype(np.float32)

    def box(self, cx: float, cy: float, a: float, b: float) -> tuple:
        """Bounding-box index and normalised coordinates of an ellipse."""
        c0, c1 = np.searchsorted(self.x, [cx - a, cx + a])
        r0, r1 = np.searchsorted(self.y, [cy - b, cy + b])
        return np.s_[r0:r1, c0:c1], (self.x[c0:c1] - cx) / a, (self.y[r0:r1, None] - cy) / b

    def fill(self, img: np.ndarray, cx: float, cy: float, a: float, b: float, value: int):
        """Paint ``value`` inside an ellipse."""
        if a > 0 and b > 0:
            where, u, v = self.box(cx, cy, a, b)
            img[where][u * u + v * v <= 1] = value

    def dome(self, img: np.ndarray, cx: float, cy: float, a: float, b: float, peak: float):
        """Add the projected thickness profile of an ellipsoid."""
        where, u, v = self.box(cx, cy, a, b)
        img[where] += peak * np.sqrt(np.clip(1 - u * u - v * v, 0, None))


def _anatomy(plan: StudyPlan) -> tuple[float, float, float]:
    """Per-patient size and per-study positioning offset (so a prior differs subtly)."""
    dx, dy = np.random.default_rng(_seed(plan.study_uid, "position")).uniform(-3, 3, 2)
    return 0.94 + (_seed(plan.patient.patient_id) % 1000) / 8000, float(dx), float(dy)


def _radius(size: float, depth: float, centre: float) -> float:
    """In-plane radius at ``depth`` of a sphere of radius ``size`` centred at ``centre``."""
    return math.sqrt(max(size * size - (depth - centre) ** 2, 0.0))


def _smooth(img: np.ndarray) -> np.ndarray:
    """Separable [1 2 1]/4 blur: partial-volume edges instead of hard steps."""
    out = img.copy()
    out[1:-1] = (img[:-2] + 2 * img[1:-1] + img[2:]) * 0.25
    img = out.copy()
    img[:, 1:-1] = (out[:, :-2] + 2 * out[:, 1:-1] + out[:, 2:]) * 0.25
    return img


def _noise(uid: str, shape: tuple[int, int], sigma: float) -> Callable[..., np.ndarray]:
    """Seeded per-slice Gaussian noise: windows cut from one precomputed field (fast)."""
    rows, cols = shape
    rng = np.random.default_rng(_seed(uid, "noise"))
    bank = rng.standard_normal((2 * rows, 2 * cols), dtype=np.float32) * np.float32(sigma)

    def window(*key: object) -> np.ndarray:
        h = _seed(uid, *key)
        return bank[h % rows:h % rows + rows, (h >> 24) % cols:(h >> 24) % cols + cols]
    return window


# Head labels: air, scalp, bone, grey matter, white matter, CSF, lesion (CT HU and T2 signal).
_HEAD_HU = np.array([-1000, 30, 1300, 38, 28, 6, 68], np.float32)
_HEAD_T2 = np.array([0, 850, 30, 1000, 720, 2100, 1650], np.float32)


def _head_labels(ax: _Axes, depth: float, scale: float, lesion: bool) -> np.ndarray:
    """Axial head section ``depth`` mm above the skull base: skull, brain, ventricles."""
    t = depth / 165
    s = math.sqrt(max(1 - ((t - 0.35) / 0.72) ** 2, 0.05))
    a, b, lab = 76 * scale * s, 94 * scale * s, np.zeros(ax.shape, np.uint8)
    skull = 13 if t < 0.15 else 7
    for grow, value in ((0, 1), (-4, 2), (-4 - skull, 3)):
        ax.fill(lab, 0, 4, a + grow, b + grow, value)
    if t > 0.28:
        ax.fill(lab, 0, 6, 0.7 * (a - 11), 0.72 * (b - 11), 4)
    if t > 0.42:
        ax.fill(lab, 0, 4, 1.2, b - 12, 5)
    v = math.sin(math.pi * (t - 0.36) / 0.26) if 0.36 < t < 0.62 else 0
    for side in (-1, 1):
        ax.fill(lab, side * 7 * scale, -6, 3 + 3 * v, 22 * v * scale, 5)
        if t < 0.16:
            ax.fill(lab, side * 32 * scale, 14, 22, 7, 2)
    if t < 0.16:
        ax.fill(lab, 0, -24, 12, 9, 0)
    if lesion:
        r = _radius(9, depth, 0.52 * 165)
        ax.fill(lab, -34 * scale, -18, r, r, 6)
    return lab


def _head_frames(plan: StudyPlan, spec: _Spec) -> Iterator[tuple[list[float], np.ndarray]]:
    """Axial slices from the skull base up: CT (HU + 1024) or T2 MR; lesion only if current."""
    scale, dx, dy = _anatomy(plan)
    ax, sp, mr = _Axes(spec, dx, dy), _spacing(plan), plan.kind == "MR_BRAIN"
    noise = _noise(plan.study_uid, ax.shape, 18.0 if mr else 4.0)
    bias = 1.15 - 0.3 * np.exp(-(ax.x[None, :] ** 2 + ax.y[:, None] ** 2) / 120**2)
    for i in range(plan.slices):
        depth = spec.start_mm + (i + 0.5) * sp
        lab = _head_labels(ax, depth, scale, lesion=not plan.is_prior)
        if mr:  # magnitude image: Rician noise, smooth receive-coil bias
            sig = _smooth(_HEAD_T2[lab] * bias) + noise(i, "re")
            pix = np.clip(np.hypot(sig, noise(i, "im")), 0, 4095).astype(np.uint16)
        else:
            hu = _smooth(_HEAD_HU[lab]) + noise(i)  # stored = HU + 1024
            pix = np.clip(np.rint(hu + 1024), 0, 4095).astype(np.int16)
        yield [ax.x0, ax.y0, depth - 160.0], pix


# Chest labels: air, fat, muscle, lung, cortical bone, marrow, rib, blood, liver, nodule, CSF.
_CHEST_HU = np.array([-1000, -100, 45, -850, 1100, 280, 700, 40, 60, 35, 15], np.float32)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], mm: float) -> np.ndarray:
    """Unit-variance Gaussian random field, ~3 mm correlation length (FFT filtered)."""
    fy, fx = np.fft.fftfreq(shape[0], mm)[:, None], np.fft.rfftfreq(shape[1], mm)[None, :]
    spectrum = np.fft.rfft2(rng.standard_normal(shape)) * np.exp(-20 * 3.0**2 * (fx**2 + fy**2))
    field = np.fft.irfft2(spectrum, shape)
    return ((field - field.mean()) / field.std()).astype(np.float32)


def _chest_labels(ax: _Axes, g: dict, depth: float, nodule: float) -> np.ndarray:
    """Axial chest section ``depth`` mm below the lung apices."""
    t, s, lab = depth / 320, 0.92 + 0.08 * math.sin(math.pi * depth / 320), g["blank"].copy()
    lab[g["r"] <= s] = 1
    lab[g["r"] <= 0.93 * s] = 2
    phase = 2 * math.pi * depth / 28
    ribs = g["cos"] * math.cos(phase) - g["sin"] * math.sin(phase) > 0.55
    lab[ribs & g["lateral"] & (g["r"] > 0.82 * s) & (g["r"] < 0.88 * s)] = 6
    a, b = 165 * g["scale"] * s, 115 * g["scale"] * s
    liver = math.sqrt(min(max((t - 0.72) / 0.2, 0), 1))
    ax.fill(lab, -0.25 * a, 5, 0.55 * a * liver, 0.75 * b * liver, 8)
    for side, base in ((-1, 0.9), (1, 0.97)):  # the right hemidiaphragm is higher
        size = math.sqrt(min(max(t / 0.12, 0), 1) * min(max((base - t) / 0.2, 0), 1))
        ax.fill(lab, side * 0.42 * a, -5, 0.36 * a * size, 0.65 * b * size, 3)
    if 0.1 < t < 0.85:  # mediastinal fat
        ax.fill(lab, 0, -15, 0.12 * a, 0.42 * b, 1)
    _mediastinum(ax, lab, t, b)
    r = _radius(nodule, depth, 0.3 * 320)
    ax.fill(lab, -0.42 * a - 10, -30, r, r, 9)
    return lab


# Fixed-size chest structures, drawn in order: (from t, to t, cx, cy, a, b, label).
_CHEST_PARTS = (
    (0, 0.38, 0, -25, 11, 10, 2), (0, 0.38, 0, -25, 9, 8, 0),  # trachea
    (0.22, 0.28, 4, -5, 38, 13, 7), (0.25, 0.5, -14, -35, 15, 15, 7),  # aortic arch, ascending
    (0.25, 1, 22, 45, 12, 12, 7),  # descending aorta
    (0, 1, 0, 55, 20, 17, 4), (0, 1, 0, 55, 17, 14, 5),  # vertebral body: cortex, marrow
    (0, 1, 0, 82, 15, 13, 4), (0, 1, 0, 82, 8, 7, 10), (0, 1, 0, 98, 5, 9, 4))  # arch, canal


def _mediastinum(ax: _Axes, lab: np.ndarray, t: float, b: float) -> None:
    """Airways, heart, aorta, spine and sternum."""
    for t0, t1, cx, cy, ea, eb, value in _CHEST_PARTS:
        if t0 <= t < t1:
            ax.fill(lab, cx, cy, ea, eb, value)
    for side in (-1, 1) if 0.38 <= t < 0.48 else ():  # main bronchi
        ax.fill(lab, side * (10 + 150 * (t - 0.38)), -22, 6, 6, 0)
    h = math.sin(math.pi * (t - 0.42) / 0.5) if 0.42 < t < 0.92 else 0
    ax.fill(lab, 22, -22, 65 * h, 55 * h, 1)  # pericardial fat
    ax.fill(lab, 22, -22, 62 * h, 52 * h, 7)
    ax.fill(lab, 0, -0.86 * b, 14 if 0.15 < t < 0.6 else 0, 5, 4)  # sternum


def _chest_frames(plan: StudyPlan, spec: _Spec) -> Iterator[tuple[list[float], np.ndarray]]:
    """Axial CT slices from the lung apices down; the nodule has grown since the prior."""
    scale, dx, dy = _anatomy(plan)
    ax, sp = _Axes(spec, dx, dy), _spacing(plan)
    x, y = ax.x[None, :], ax.y[:, None] - 10
    theta = np.arctan2(y / 115, x / 165)
    g = {"scale": scale, "r": np.hypot(x / (165 * scale), y / (115 * scale)),
         "cos": np.cos(12 * theta), "sin": np.sin(12 * theta), "lateral": np.abs(x) > 45,
         "blank": np.zeros(ax.shape, np.uint8)}
    rng = np.random.default_rng(_seed(plan.study_uid, "lung"))
    f1, f2 = (_smooth_field(rng, ax.shape, spec.pixel_mm) for _ in range(2))
    noise = _noise(plan.study_uid, ax.shape, 12.0)
    for i in range(plan.slices):
        depth = spec.start_mm + (i + 0.5) * sp
        lab = _chest_labels(ax, g, depth, 3.0 if plan.is_prior else 5.0)
        field = f1 * math.cos(depth / 15) + f2 * math.sin(depth / 15)  # vessels, varying in z
        hu = _smooth(_CHEST_HU[lab] + (lab == 3) * np.clip((field - 1.5) * 400, 0, 850))
        pix = np.clip(np.rint(hu + noise(i) + 1024), 0, 4095).astype(np.int16)
        yield [ax.x0, ax.y0, -40.0 - depth], pix


def _cr_frames(plan: StudyPlan, spec: _Spec) -> Iterator[tuple[None, np.ndarray]]:
    """One PA chest radiograph from projected thicknesses (arbitrary log-attenuation units)."""
    scale, dx, dy = _anatomy(plan)
    ax = _Axes(spec, dx, dy - 160)
    x, y = ax.x[None, :], ax.y[:, None]
    width = 60 + (175 * scale - 60) * np.clip(y / 60, 0, 1)  # neck, then shoulders
    mu = 4.6 * np.sqrt(np.clip(1 - (x / width) ** 2, 0, None))
    mu += 1.5 * np.sqrt(np.clip(1 - (x / 22) ** 2, 0, None))
    air = np.zeros_like(mu)
    for side, cy in ((-1, 175), (1, 185)):
        ax.dome(air, side * 78 * scale, cy, 62 * scale, 150, 3.0)
    ax.dome(air, 28, 265, 72 * scale, 62, -2.2)  # the heart displaces lung
    mu -= np.clip(air, 0, None)
    for side in (-1, 1):  # clavicle, then ten posterior ribs: bony bands along curves
        lo, hi = np.searchsorted(ax.x, sorted((side * 15, side * 150)))
        u = np.abs(ax.x[None, lo:hi]) - 15
        for top, slope, bend, half, peak in [(55, 0.15, 0, 6, 0.8)] + [
                (60 + 24 * k, 0, 0.0025, 4.5, 0.45) for k in range(10)]:
            dist = (y - top - slope * u - bend * u * u) / half
            mu[:, lo:hi] += peak * np.sqrt(np.clip(1 - dist * dist, 0, None))
    if not plan.is_prior:
        ax.dome(mu, -70 * scale, 150, 9, 9, 0.45)
    mu += np.random.default_rng(_seed(plan.study_uid, 0)).standard_normal(
        mu.shape, dtype=np.float32) * 0.02
    pix = np.clip(150 + 520 * mu, 0, 4095).astype(np.uint16)
    yield None, (4095 - pix if plan.is_prior else pix)
