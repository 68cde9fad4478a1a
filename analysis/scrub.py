"""The one scrubbing layer of ingest: nothing identifying leaves it.

Every exclusion reason, warning, error message, table cell and log line that ingest
stores or shows passes through a :class:`Scrubber` first. A scrubber removes:

* every value of the patient's clinical row (each cell of 3+ characters, and each word of
  3+ characters of the identifying columns: names, free text; 2+ characters for values in
  a CJK script, where a whole name may be two characters; a name's words also joined,
  ``WangFang``), replaced by ``<redacted>``; the record number (MRN) itself becomes the
  patient's pseudonym. Identifiers match as whole tokens only (MRN ``10`` never inside
  ``10.000 mm``), and generic DICOM words (``RTSTRUCT``, ``CT``, ``image``, ``series``)
  are never removed even when a header holds them;
* in a list of ROI names (:meth:`Scrubber.roi_names`), a name holding an identifier is
  replaced by its role and rank (``External#1``);
* the identifying DICOM attributes of the PS3.15 Annex E basic profile
  (:data:`DICOM_IDENTIFYING`: names, IDs, dates, institution, physicians, accession
  numbers, descriptions, comments) read from the patient's files
  (:meth:`Scrubber.add_dicom`), and every DICOM UID, whole (``<uid>``; a UID's tail as
  ``(...2046.1234)`` too);
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
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from analysis.deid import clean_mrn

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
#: words never redacted even when a cell or a DICOM attribute holds them: the code's own
#: vocabulary and generic DICOM / planning words (a StructureSetLabel "RTstruct" or a
#: SeriesDescription "Thorax_CT_image" must not garble every message that says RTSTRUCT
#: or image)
_KEEP_WORDS = frozenset({
    "patient", "column", "row", "file", "the", "and", "not", "none", "missing", "unknown",
    "nan", "export", "images", "image", "rtstruct", "rtplan", "rtdose", "struct",
    "structure", "structures", "set", "series", "study", "ct", "mr", "pet", "dicom",
    "slice", "slices", "contour", "contours", "roi", "rois", "plan", "dose", "thorax",
    "chest", "lung", "axial", "scan", "external", "body", "gtv", "ctv", "ptv", "itv",
    "gtvnd", "frame", "reference", "uid", "mm", "label", "name", "description"})
#: characters of the CJK scripts (Han, kana, Hangul): a name in these scripts is often
#: two characters in all (王芳, 李娜), so values and words of TWO such characters are
#: removed, where Latin words need three
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK_RE = re.compile(f"[{_CJK}]")
#: word separators of a cell or a name (DICOM PN uses ^); dates and decimals stay whole
_WORD_SPLIT = re.compile(r"[\s^,;:/()_]+")
#: token separators of an ROI name (CTV_60-Gy.1)
_ROI_SPLIT = re.compile(r"[\s^,;:/()_.\-]+")
#: the one token rule: an identifier matches only as a whole token, never inside a
#: longer word or number (MRN 10 never matches in "10.000 mm" or "110"); a token
#: holding CJK characters matches anywhere (CJK text has no spaces between words)
_TOKEN_BEFORE = r"(?<![A-Za-z0-9])(?<![0-9][.,])"
_TOKEN_AFTER = r"(?![A-Za-z0-9])(?![.,][0-9])"
#: the tail of a UID as some messages print it ("(...2046.1234)"): removed whole
_UID_TAIL_RE = re.compile(r"(?<![\w.])\.\.\.(?:\d+\.)*\d+(?![\w.])")
#: ROI roles: a free-text ROI name holding an identifier is shown as its role and rank
#: (``External#1``); the role is the name's first token that is one of these (case
#: folded), or a prefix GTV/CTV/PTV/ITV, else ``ROI``
ROI_ROLES: dict[str, str] = {
    "external": "External", "body": "Body", "skin": "Skin", "outline": "External",
    "lung": "Lung", "heart": "Heart", "esophagus": "Esophagus", "oesophagus": "Esophagus",
    "cord": "SpinalCord", "spinalcord": "SpinalCord", "trachea": "Trachea", "liver": "Liver",
    "体表": "External", "外轮廓": "External", "身体": "Body", "肺": "Lung", "心脏": "Heart",
    "食管": "Esophagus", "脊髓": "SpinalCord"}


def _min_len(text: str) -> int:
    """Shortest value or word removed: 2 characters in a CJK script, else 3."""
    return 2 if _CJK_RE.search(text) else 3


def _token_pattern(word: str) -> str:
    """``word`` as a regular expression matching it as a whole token (see above)."""
    w = re.escape(word)
    return w if _CJK_RE.search(word) else f"{_TOKEN_BEFORE}{w}{_TOKEN_AFTER}"
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
        # the cleaned spelling too (NFKC, no zero-width characters: deid.clean_mrn)
        self.ids |= {clean_mrn(m): p for m, p in self.ids.items() if clean_mrn(m)}
        self._words: set[str] = set()
        self._paths: dict[str, str] = {}
        #: bare file name -> its kind#n (a message naming a file without its folder)
        self._names: dict[str, str] = {}
        self._pattern: re.Pattern | None = None
        self.add_identifiers(identifiers)

    # --- what to remove ---------------------------------------------------------------
    def add_identifiers(self, values: Iterable, *, words: bool = True) -> Scrubber:
        """Add identifying values: whole, word by word when ``words``, and a name's words
        joined (``Wang^Fang`` also as ``WangFang`` and ``FangWang``, how free-text ROI
        labels write it). Values and words of 3+ characters (2+ in a CJK script) are
        removed; generic words (:data:`_KEEP_WORDS`) never."""
        for v in values:
            if v is None:
                continue
            text = str(v).strip()
            if text.lower() in ("nan", "none", ""):
                continue
            cands = {text, text.replace("-", ""), text.replace("^", " ")}
            if words:
                parts = [w for w in _WORD_SPLIT.split(text) if w]
                cands |= set(parts)
                if 2 <= len(parts) <= 3 and all(not w.isdigit() for w in parts):
                    cands |= {"".join(parts), "".join(reversed(parts))}
            self._words |= {c for c in cands if len(c) >= _min_len(c)
                            and not all(w.casefold() in _KEEP_WORDS
                                        for w in _WORD_SPLIT.split(c) if w)}
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
        # the folder's name and its words (a department may name folders
        # "<name>_<MRN>_<date>"), also in its NFC form (macOS writes names in NFD)
        self.add_identifiers({folder.name, unicodedata.normalize("NFC", folder.name)})
        return self

    # --- scrubbing --------------------------------------------------------------------
    def _compiled(self) -> re.Pattern | None:
        if self._pattern is None:
            words = sorted(self._words, key=len, reverse=True)
            alt = "|".join(_token_pattern(w) for w in words)
            self._pattern = re.compile(f"(?:{alt})", re.IGNORECASE) if words else None
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
            text = re.sub(_token_pattern(mrn), pid, text, flags=re.IGNORECASE)
        text = _UID_RE.sub("<uid>", text)
        text = _UID_TAIL_RE.sub("<uid>", text)
        text = scrub_dates(text)
        pattern = self._compiled()
        if pattern is not None:
            text = pattern.sub(lambda m: m.group(0) if m.group(0) in self.ids.values()
                               else REDACTED, text)
        return text

    def roi_names(self, names: Iterable[str]) -> list[str]:
        """ROI names as a message may list them: a name this scrubber would change (it
        holds a name, a date, an ID) is replaced by its role and rank among the replaced
        names of that role (``External_WANGFANG`` -> ``External#1``, ``张伟_体表`` ->
        ``External#2``, see :data:`ROI_ROLES`); the others are kept as they are."""
        out, counts = [], {}
        for name in names:
            name = str(name)
            if self(name) == name:
                out.append(name)
                continue
            role = "ROI"
            for tok in (t for t in _ROI_SPLIT.split(name) if t):
                low = tok.casefold()
                prefix = re.match(r"(gtvnd|gtv|ctv|ptv|itv)", low)
                if low in ROI_ROLES or prefix:
                    role = ROI_ROLES.get(low) or prefix.group(1).upper().replace("ND", "nd")
                    break
            counts[role] = counts.get(role, 0) + 1
            out.append(f"{role}#{counts[role]}")
        return out

    def merged(self, other: Scrubber) -> Scrubber:
        """A scrubber removing what either removes."""
        out = Scrubber(self.export_dir or other.export_dir, {**self.ids, **other.ids})
        out._words = self._words | other._words
        out._paths = {**self._paths, **other._paths}
        out._names = {**self._names, **other._names}
        return out
