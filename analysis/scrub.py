"""The one scrubbing layer of ingest: nothing identifying leaves it.

Every exclusion reason, warning, error message, table cell and log line that ingest
stores or shows passes through a :class:`Scrubber` first. A scrubber removes:

* every value of the patient's clinical row (each cell of 3+ characters, and each word of
  3+ characters of the identifying columns: names, free text), replaced by ``<redacted>``;
  the record number (MRN) itself becomes the patient's pseudonym;
* the identifying DICOM attributes of the PS3.15 Annex E basic profile
  (:data:`DICOM_IDENTIFYING`: names, IDs, dates, institution, physicians, accession
  numbers, descriptions, comments) read from the patient's files
  (:meth:`Scrubber.add_dicom`), and every DICOM UID (``<uid>``);
* dates in any common format (ISO, ``YYYYMMDD``, ``DD.MM.YYYY``, ``MM/DD/YYYY``,
  ``2 May 2019``, ``May 2, 2019``), replaced by ``<date>``;
* file and folder names: a file of the patient's image folder is shown as
  ``<export>/images/<pid>/<kind>#<n>`` (``kind`` is its sub-folder, e.g. ``CT``, or at
  the top of the folder its export-convention name, :data:`EXPORT_KINDS`, else ``file``;
  ``n`` its rank among the files of that kind, sorted by name), the folder as
  ``<export>/images/<pid>``, the export folder as ``<export>``.

The rule for messages written by the code itself is stricter still: never put a raw cell
value in a message; say the column, the row's pseudonym and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

#: DICOM keywords whose values are identifying (PS3.15 Annex E, basic profile: the
#: attributes that must be removed or replaced); read from each patient's files
DICOM_IDENTIFYING: tuple[str, ...] = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime", "PatientSex",
    "OtherPatientIDs", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName",
    "PatientAddress", "PatientTelephoneNumbers", "MedicalRecordLocator", "IssuerOfPatientID",
    "PatientComments", "AdditionalPatientHistory", "EthnicGroup", "Occupation",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
    "ReferringPhysicianName", "ReferringPhysicianAddress", "PerformingPhysicianName",
    "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy", "RequestingPhysician",
    "OperatorsName", "ReviewerName", "AccessionNumber", "StudyID", "StudyDescription",
    "SeriesDescription", "ImageComments", "StudyComments", "RequestedProcedureDescription",
    "PerformedProcedureStepDescription", "ProtocolName", "StationName",
    "DeviceSerialNumber", "StructureSetLabel", "StructureSetName",
    "StructureSetDescription", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate",
    "StructureSetDate", "InstanceCreationDate", "StudyTime", "SeriesTime",
    "AcquisitionTime", "ContentTime", "StudyInstanceUID", "SeriesInstanceUID",
    "SOPInstanceUID", "FrameOfReferenceUID",
)
REDACTED = "<redacted>"
#: words never redacted even when a cell holds them (they are the code's own vocabulary)
_KEEP_WORDS = frozenset({"patient", "column", "row", "file", "the", "and", "not", "none",
                         "missing", "unknown", "nan", "export", "images"})
_MONTHS = (r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?")
_DATE_PATTERNS = (
    # ISO and year-first: 2019-04-23, 2019/4/23, 2019.04.23 (a time part may follow)
    r"(?<![\d.])(?:19|20)\d\d[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])"
    r"(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?)?(?![\d])",
    # DICOM DA: 20190423
    r"(?<![\d.])(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?![\d])",
    # day- or month-first: 23.04.2019, 04/23/2019, 23-4-19
    r"(?<![\d.])(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|[12]\d|3[01])[-/.](?:\d{4}|\d\d)"
    r"(?![\d])",
    # 2 May 2019, 02-May-2019
    rf"(?<!\d)(?:0?[1-9]|[12]\d|3[01])[ -]{_MONTHS}[ ,-]*\d{{2,4}}(?!\d)",
    # May 2, 2019
    rf"\b{_MONTHS} (?:0?[1-9]|[12]\d|3[01]),? \d{{4}}(?!\d)",
)
_DATE_RE = re.compile("|".join(_DATE_PATTERNS), re.IGNORECASE)
_UID_RE = re.compile(r"(?<![\w.])\d+(?:\.\d+){4,}(?![\w])")


#: file names of the export convention (never identifying), shown by their kind
EXPORT_KINDS: tuple[str, ...] = ("CT", "GTV", "GTVnd", "CTV", "stations", "recurrence")


def _top_kind(name: str) -> str:
    """Kind of a file at the top of a patient folder: its export-convention name in any
    case (GTV for ``GTV.nii.gz`` and ``gtv.nii``), else ``file``."""
    stem = name.split(".", 1)[0].casefold()
    return next((k for k in EXPORT_KINDS if k.casefold() == stem), "file")


def scrub_dates(text: str) -> str:
    """Replace every date-like substring (see the module docstring) by ``<date>``."""
    return _DATE_RE.sub("<date>", text)


class Scrubber:
    """Remove the identifiers of one patient (or of a whole cohort) from text.

    Parameters
    ----------
    export_dir : path, optional
        The export folder, shown as ``<export>``.
    ids : dict of str to str, optional
        Record number (MRN) -> pseudonym (pid); each MRN is replaced by its pid.
    identifiers : iterable of str
        Other identifying values (cells of the clinical row): removed as a whole, and
        word by word (words of 3+ characters).
    """

    def __init__(self, export_dir: str | Path | None = None, ids: dict[str, str] | None = None,
                 identifiers: Iterable[str] = ()) -> None:
        self.export_dir = str(export_dir) if export_dir else ""
        self.ids = {str(m).strip(): p for m, p in (ids or {}).items() if str(m).strip()}
        self._words: set[str] = set()
        self._paths: dict[str, str] = {}
        #: bare file name -> its kind#n (a message naming a file without its folder)
        self._names: dict[str, str] = {}
        self._pattern: re.Pattern | None = None
        self.add_identifiers(identifiers)

    # --- what to remove ---------------------------------------------------------------
    def add_identifiers(self, values: Iterable, *, words: bool = True) -> Scrubber:
        """Add identifying values (whole, and word by word when ``words``)."""
        for v in values:
            if v is None:
                continue
            text = str(v).strip()
            if text.lower() in ("nan", "none", ""):
                continue
            if len(text) >= 3:
                self._words |= {text, text.replace("-", ""), text.replace("^", " ")}
            if words:
                self._words |= {w for w in re.split(r"[\s^,;:/()_]+", text)
                                if len(w) >= 3 and w.casefold() not in _KEEP_WORDS}
        self._pattern = None
        return self

    def add_dicom(self, ds) -> Scrubber:
        """Add the identifying attribute values (:data:`DICOM_IDENTIFYING`) of a dataset."""
        vals = []
        for kw in DICOM_IDENTIFYING:
            v = ds.get(kw, None)
            if v is None:
                continue
            v = getattr(v, "value", v)
            items = v if isinstance(v, list | tuple) or type(v).__name__ == "MultiValue" \
                else [v]
            vals += [str(x) for x in items if str(x).strip()]
        return self.add_identifiers(vals)

    def add_patient_folder(self, folder: str | Path, pid: str) -> Scrubber:
        """Show ``folder`` as ``<export>/images/<pid>`` and each file in it as
        ``<export>/images/<pid>/<kind>#<n>``; the file names themselves are removed too."""
        folder = Path(folder)
        base = f"<export>/images/{pid}"
        counts: dict[str, int] = {}
        files = sorted(folder.rglob("*")) if folder.is_dir() else []
        for f in files:
            rel = f.relative_to(folder)
            kind = rel.parts[0] if len(rel.parts) > 1 else _top_kind(f.name)
            if f.is_dir():
                self._paths[str(f)] = f"{base}/{kind}"
                continue
            counts[kind] = counts.get(kind, 0) + 1
            self._paths[str(f)] = f"{base}/{kind}#{counts[kind]}"
            if kind == "file" or len(rel.parts) > 1:  # export-convention names are kept
                self._names[f.name] = f"{kind}#{counts[kind]}"
        self._paths[str(folder)] = base
        self._words.add(folder.name)
        self._pattern = None
        return self

    # --- scrubbing --------------------------------------------------------------------
    def _compiled(self) -> re.Pattern | None:
        if self._pattern is None:
            words = sorted((w for w in self._words if len(w) >= 3), key=len, reverse=True)
            alt = "|".join(re.escape(w) for w in words)
            self._pattern = re.compile(rf"(?<![A-Za-z0-9])(?:{alt})(?![A-Za-z0-9])",
                                       re.IGNORECASE) if words else None
        return self._pattern

    def path(self, p: str | Path) -> str:
        """The scrubbed form of a path (see the module docstring)."""
        return self(str(p))

    def __call__(self, text: object) -> str:
        """``text`` with every identifier replaced (see the module docstring)."""
        text = str(text)
        for raw, shown in sorted(self._paths.items(), key=lambda kv: len(kv[0]),
                                 reverse=True):
            text = text.replace(raw, shown)
        for raw, shown in sorted(self._names.items(), key=lambda kv: len(kv[0]),
                                 reverse=True):
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(raw)}(?![A-Za-z0-9])", shown, text)
        if self.export_dir:
            text = text.replace(self.export_dir, "<export>")
        for mrn, pid in sorted(self.ids.items(), key=lambda kv: len(kv[0]), reverse=True):
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(mrn)}(?![A-Za-z0-9])", pid, text,
                          flags=re.IGNORECASE)
        text = _UID_RE.sub("<uid>", text)
        text = scrub_dates(text)
        pattern = self._compiled()
        if pattern is not None:
            text = pattern.sub(lambda m: m.group(0) if m.group(0) in self.ids.values()
                               else REDACTED, text)
        return text

    def merged(self, other: Scrubber) -> Scrubber:
        """A scrubber removing what either removes."""
        out = Scrubber(self.export_dir or other.export_dir, {**self.ids, **other.ids})
        out._words = self._words | other._words
        out._paths = {**self._paths, **other._paths}
        out._names = {**self._names, **other._names}
        return out
