"""Upload intake: what kind of file it is, whether it really parses as that, the measurements form, and DICOM
de-identification (identifying tags removed, a keyed pseudonym kept) before anything is stored."""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from cfdgen.case import case_from_dict
from cfdgen.errors import IahemoError
from cfdgen.imaging import NIFTI_SUFFIXES, read_image
from cfdgen.intake import SUFFIXES as SURFACE_SUFFIXES
from cfdgen.intake import IntakeConfig, read_surface
from surrogate.service.security import pseudonym, safe_file_name

ZIP_SUFFIXES = (".zip",)
# The optional parts of case.yaml the measurements form may carry; id and input belong to the service.
FORM_KEYS = ("patient", "measurements", "hints", "units")
# DICOM attributes that identify a patient, a clinician, a place or an exam (the PS3.15 basic profile's most
# common ones); every person-name (PN) element anywhere and every private tag goes as well.
IDENTIFYING = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime", "PatientBirthName", "PatientAddress",
    "PatientTelephoneNumbers", "PatientMotherBirthName", "OtherPatientIDs", "OtherPatientNames",
    "OtherPatientIDsSequence", "IssuerOfPatientID", "MedicalRecordLocator", "MilitaryRank", "Occupation",
    "AdditionalPatientHistory", "PatientComments", "ReferringPhysicianName", "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers", "PerformingPhysicianName", "OperatorsName", "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy", "RequestingPhysician", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "StationName", "AccessionNumber", "StudyID", "DeviceSerialNumber",
    "RequestAttributesSequence", "StudyDescription", "SeriesDescription", "ImageComments", "StudyDate",
    "SeriesDate", "AcquisitionDate", "ContentDate", "StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime",
    "AcquisitionDateTime", "InstanceCreationDate", "InstanceCreationTime",
)
REMAPPED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")


class UploadError(IahemoError):
    """An upload the service refuses; the message is what the client is told."""


@dataclass(frozen=True)
class Ingested:
    kind: str  # surface | nifti | dicom
    file: Path  # the (de-identified) file to store
    stored_name: str  # the name it is stored and processed under (never the client's name)
    pseudonym: str | None = None


def kind_of(name: str) -> tuple[str, str]:
    """(kind, suffix) from a client file name, after checking that the name is a plain, safe one."""
    name = safe_file_name(name).lower()
    for suffix in NIFTI_SUFFIXES:
        if name.endswith(suffix):
            return "nifti", suffix
    for suffix in SURFACE_SUFFIXES:
        if name.endswith(suffix):
            return "surface", suffix
    if name.endswith(ZIP_SUFFIXES):
        return "dicom", ".zip"
    allowed = ", ".join((*SURFACE_SUFFIXES, *NIFTI_SUFFIXES, ".zip (a DICOM series)"))
    raise UploadError(f"unsupported file type of {name!r} (allowed: {allowed})")


def parse_form(text: str | None) -> dict:
    """The measurements form: JSON (or YAML) with any of patient, measurements, hints, units."""
    if not text or not text.strip():
        return {}
    try:
        data = yaml.safe_load(text)  # JSON is YAML, so both are accepted
    except yaml.YAMLError as exc:
        raise UploadError(f"case: not valid JSON/YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UploadError("case: expected a mapping with patient, measurements, hints or units")
    unknown = sorted(set(data) - set(FORM_KEYS))
    if unknown:
        raise UploadError(f"case: unknown field(s) {', '.join(map(str, unknown))} (allowed: {', '.join(FORM_KEYS)})")
    return json.loads(json.dumps(data, default=str))  # plain JSON types for the database


def case_document(job_id: str, form: dict, kind: str, input_name: str) -> dict:
    """case.yaml of a job: its id, the stored input and the form's fields."""
    inp = {"surface" if kind == "surface" else "image": input_name, "units": form.get("units", "auto" if kind ==
           "surface" else "mm")}
    doc = {"id": job_id, "input": inp}
    doc.update({k: form[k] for k in ("patient", "measurements", "hints") if form.get(k)})
    return doc


def write_case(folder: Path, job_id: str, form: dict, kind: str, input_name: str) -> Path:
    path = folder / "case.yaml"
    path.write_text(yaml.safe_dump(case_document(job_id, form, kind, input_name), sort_keys=False))
    return path


def check_case(folder: Path, job_id: str, form: dict, kind: str, input_name: str):
    """The form validated exactly as case.yaml would be, against the uploaded file in ``folder``."""
    path = write_case(folder, job_id, form, kind, input_name)
    try:
        return case_from_dict(yaml.safe_load(path.read_text()), path)
    except IahemoError as exc:
        lines = [line.replace(str(path) + ": ", "") for line in str(exc).splitlines()]
        raise UploadError("case: " + "; ".join(lines)) from None


def ingest(upload: Path, client_name: str, folder: Path, form: dict, secret: bytes, max_unzipped: int) -> Ingested:
    """Check that ``upload`` parses as what its name says; DICOM is de-identified into ``folder``."""
    kind, suffix = kind_of(client_name)
    stored = f"input{suffix}"
    if kind == "surface":
        try:
            read_surface(upload, IntakeConfig(units=form.get("units", "auto")))  # units already checked by the form
        except IahemoError as exc:
            raise UploadError(_without_path(str(exc), upload, "surface")) from None
        return Ingested(kind, upload, stored)
    if kind == "nifti":
        try:
            read_image(upload)
        except IahemoError as exc:
            raise UploadError(_without_path(str(exc), upload, "image")) from None
        return Ingested(kind, upload, stored)
    out = folder / "deidentified.zip"
    pid, _ = deidentify_zip(upload, out, secret, max_unzipped)
    return Ingested(kind, out, stored, pid)


def _without_path(text: str, path: Path, what: str) -> str:
    # the temporary upload path means nothing to the client
    return text.replace(f"{path}: ", f"{what}: ").replace(str(path), what)


def _member_name(info: zipfile.ZipInfo) -> str | None:
    """The member's name if it is a file to read; refuses absolute paths and '..' (zip slip)."""
    name = info.filename
    parts = Path(name).parts
    if name.startswith(("/", "\\")) or ".." in parts or ":" in name:
        raise UploadError(f"zip member {name[:80]!r} has an unsafe path")
    if info.is_dir() or parts[0] == "__MACOSX" or Path(name).name.startswith("."):
        return None
    return name


def deidentify_dataset(ds, secret: bytes) -> str:
    """Remove identifying elements in place; returns the patient's pseudonym (keyed hash of the old id)."""
    from pydicom.uid import generate_uid

    original = str(ds.get("PatientID", "") or ds.get("PatientName", "") or "unknown")
    pid = pseudonym(secret, original)
    for keyword in IDENTIFYING:
        if keyword in ds:
            delattr(ds, keyword)
    ds.remove_private_tags()

    def drop_names(dataset, elem):
        if elem.VR == "PN":
            del dataset[elem.tag]

    ds.walk(drop_names)
    key = secret.hex()
    for keyword in REMAPPED_UIDS:
        if keyword in ds:
            # same input UID -> same new UID, so slices of one series stay one series
            setattr(ds, keyword, generate_uid(entropy_srcs=[key, str(ds.data_element(keyword).value)]))
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID = pid
    ds.PatientName = pid
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "iahemo: identifying tags, person names, private tags removed"
    return pid


def deidentify_zip(upload: Path, out: Path, secret: bytes, max_unzipped: int) -> tuple[str, int]:
    """Every member must be DICOM of one patient; writes a zip of de-identified slices and checks that they
    form a readable 3D series. Returns (pseudonym, number of files)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        zf = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError):
        raise UploadError("dicom: not a zip archive") from None
    with zf, tempfile.TemporaryDirectory(prefix="deid-", dir=out.parent) as tmp:
        members = [(i, n) for i in zf.infolist() if (n := _member_name(i)) is not None]  # refuses zip slip
        if not members:
            raise UploadError("dicom: the zip archive holds no files")
        total = sum(i.file_size for i, _ in members)
        if total > max_unzipped:
            mib = total / 2**20
            raise UploadError(f"dicom: the archive expands to {mib:.0f} MiB (limit {max_unzipped / 2**20:.0f} MiB)")
        series = Path(tmp) / "series"
        series.mkdir()
        pids = set()
        for k, (info, _) in enumerate(members):
            try:
                with zf.open(info) as fh:
                    ds = pydicom.dcmread(fh)
            except (InvalidDicomError, EOFError, ValueError, OSError, zipfile.BadZipFile):
                raise UploadError(f"dicom: zip member #{k + 1} is not a DICOM file") from None
            pids.add(deidentify_dataset(ds, secret))
            ds.save_as(series / f"slice_{k:05d}.dcm", enforce_file_format=False)
        if len(pids) > 1:
            raise UploadError(f"dicom: the archive mixes {len(pids)} patients (upload one series of one patient)")
        try:
            read_image(series)
        except IahemoError as exc:
            raise UploadError(_without_path(str(exc), series, "dicom")) from None
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
            for f in sorted(series.iterdir()):
                zout.write(f, f.name)
        shutil.rmtree(series)
    return pids.pop(), len(members)
