"""The scrubbing layer (analysis.scrub) on hand-written messages."""

from __future__ import annotations

import pytest

from analysis.scrub import Scrubber, scrub_dates


@pytest.mark.parametrize("date", ["2019-04-23", "2019/4/23", "20190423", "23.04.2019",
                                  "04/23/2019", "23-4-19", "23 April 2019", "2-May-2019",
                                  "May 2, 2019", "2019-04-23T08:15:00"])
def test_dates_in_any_common_format_are_removed(date):
    assert scrub_dates(f"seen {date} in clinic") == "seen <date> in clinic"


@pytest.mark.parametrize("text", ["spacing 2.5 mm", "grid (6, 10, 10)", "HU -1024",
                                  "12 of 36 voxels", "version 1.2.3"])
def test_numbers_that_are_not_dates_are_kept(text):
    assert scrub_dates(text) == text


def test_patient_folder_files_row_values_and_dicom_attributes(tmp_path):
    d = tmp_path / "export" / "images" / "MRN77"
    (d / "CT").mkdir(parents=True)
    for n in ("a.dcm", "Doe^Jane_1950.dcm"):
        (d / "CT" / n).write_bytes(b"")
    (d / "RS.dcm").write_bytes(b"")
    (d / "GTV.nii.gz").write_bytes(b"")
    s = Scrubber(tmp_path / "export", {"MRN77": "P0123"}, ["Doe^Jane", "SCLC per Dr Who"])
    s.add_patient_folder(d, "P0123")
    s.add_dicom({"InstitutionName": "St Elsewhere", "AccessionNumber": "A99881",
                 "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1"})
    assert s(f"{d / 'CT' / 'Doe^Jane_1950.dcm'}: damaged") == \
        "<export>/images/P0123/CT#1: damaged"  # sorted by name: "D" before "a"
    assert s(f"{d / 'GTV.nii.gz'} and {d / 'RS.dcm'}") == \
        "<export>/images/P0123/GTV#1 and <export>/images/P0123/file#1"
    assert s("between a.dcm and Doe^Jane_1950.dcm") == "between CT#2 and CT#1"
    assert s("patient mrn77 (Jane DOE) at St Elsewhere, acc A99881, Dr Who") == \
        ("patient P0123 (<redacted> <redacted>) at <redacted>, acc <redacted>, Dr "
         "<redacted>")
    assert s("study 1.2.826.0.1.3680043.8.498.1") == "study <uid>"
    assert s("P0123 stays") == "P0123 stays"
