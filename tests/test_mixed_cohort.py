"""A mixed cohort through the whole report chain (issue 21): one analysis ledger decides
which patients and station maps every step uses, and every step survives the patients
that failed before it.

A small ci-geometry phantom export is generated in the test and damaged as a real
department's would be (the cohort is a department export, not the phantom, so the
shipped phantom-trained model is accepted by ``segment.accept_phantom_model``):

- two patients' CTs have the mediastinum flattened to soft tissue (40 HU inside the
  stations): their predictions fail segmentation QC;
- one patient's image folder is removed: no images (excluded at ingest);
- one recurred patient loses its rows of recurrences.csv: no recurrence record;
- after 02_segment, one usable patient's stored GTVnd is put on another grid: its
  partition fails in 03.

The chain runs once (01-02, the damage, then 03-07) and several tests read it: Figure 1,
03, 04 (Table 5, Appendix 2), 05, 06 and 07 agree on the ledger's analysed patients,
and no Table 5 site belongs to an excluded patient. ``include_qc_failed: true`` and
``stations: cv`` are checked on copies of the same store through the ledger, 03 and 04
functions (no second chain). A 4-patient export then reaches the index with each
skipped step's reason shown.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis import ledger as L
from analysis import partition as P
from analysis import paths
from analysis import recurrence as rc
from analysis.io import read_nifti, write_nifti
from analysis.params import load_params
from analysis.phantom import generate
from analysis.report.runner import run_report
from analysis.store import CohortStore

pytestmark = pytest.mark.slow

RUN = "mixed"
#: a small ci-geometry cohort (the ci phantom's grid and column names)
N_INCLUDED, N_SCREENED = 28, 30
#: HU of soft tissue, painted over the mediastinal stations of the flattened CTs
SOFT_TISSUE_HU = 40


def _params_file(tmp, export, run_name: str, **analysis) -> object:
    """params/ci.yaml turned into a department export's params (no phantom section)."""
    cfg = yaml.safe_load((paths.PARAMS_DIR / "ci.yaml").read_text())
    cfg.pop("phantom")
    cfg["run_name"] = run_name
    cfg["cohort"].update(source="export", export_dir=str(export))
    cfg["ingest"] = {"pseudonym_key_file": str(tmp / "key")}
    cfg["segment"] = {"accept_phantom_model": True}
    cfg["analysis"] = analysis
    f = tmp / f"{run_name}.yaml"
    f.write_text(yaml.safe_dump(cfg))
    return f


def _phantom_export(tmp):
    p = load_params(paths.PARAMS_DIR / "ci.yaml")
    p = p.model_copy(update={"scheduler": "serial", "phantom": p.phantom.model_copy(
        update={"n_included": N_INCLUDED, "n_screened": N_SCREENED, "format": "nifti"})})
    return generate(p, tmp / "phantom", progress=False) / "export"


def _flatten_mediastinum(folder) -> None:
    ct, grid = read_nifti(folder / "CT.nii.gz")
    st, _ = read_nifti(folder / "stations.nii.gz")
    ct = ct.copy()
    ct[st > 0] = SOFT_TISSUE_HU
    write_nifti(folder / "CT.nii.gz", ct.astype(np.int16), grid)


def _damage_export(export) -> dict:
    """The export-side damage of the module docstring; returns the MRNs damaged."""
    clin = pd.read_csv(export / "clinical.csv", dtype=str)
    fu = pd.read_csv(export / "followup.csv", dtype=str)
    rec = pd.read_csv(export / "recurrences.csv", dtype=str)
    with_images = [m for m in clin["MRN"] if (export / "images" / m).is_dir()]
    recurred = [m for m in with_images if m in set(rec["MRN"])]
    flat = with_images[:2]
    no_images = with_images[2]
    no_record = next(m for m in recurred if m not in (*flat, no_images))
    for m in flat:
        _flatten_mediastinum(export / "images" / m)
    shutil.rmtree(export / "images" / no_images)
    rec[rec["MRN"] != no_record].to_csv(export / "recurrences.csv", index=False)
    assert fu.loc[fu["MRN"] == no_record, "LocalFailure"].tolist() == ["1"]
    return {"flat": flat, "no_images": no_images, "no_record": no_record}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mixed")
    phantom_export = _phantom_export(tmp)
    export = tmp / "export"
    shutil.copytree(phantom_export, export)
    damaged = _damage_export(export)
    params_file = _params_file(tmp, export, RUN)
    kw = {"reports_root": tmp / "reports", "data_root": tmp / "data",
          "echo": lambda *_: None}
    run_report(params_file, only=["01", "02"], **kw)
    params = load_params(params_file)
    store = CohortStore(tmp / "data" / "store" / RUN)
    qc = store.read_table("segment_qc")
    # the last usable patient (02's overlay figure shows the first one)
    broken = [p for p in store.patient_ids() if bool(qc.loc[p, "usable"])][-1]
    gtvnd, grid = read_nifti(store.patient_dir(broken) / "gtvnd.nii.gz")
    short = dataclasses.replace(grid, shape_zyx=(grid.shape_zyx[0] - 1, *grid.shape_zyx[1:]))
    # one slice short: not on the grid of the stations
    write_nifti(store.patient_dir(broken) / "gtvnd.nii.gz", gtvnd[:-1].astype(np.uint8),
                short)
    run_dir = run_report(params_file, **kw)
    return {"tmp": tmp, "phantom_export": phantom_export, "params": params,
            "store": store, "run_dir": run_dir, "damaged": damaged, "broken": broken}


def _table(run_dir, name) -> pd.DataFrame:
    return pd.read_csv(run_dir / "tables" / f"{name}.csv")


def test_chain_completes_and_the_ledger_records_every_failure(mixed):
    run_dir, store = mixed["run_dir"], mixed["store"]
    m = json.loads((run_dir / "manifest.json").read_text())
    st = {n["notebook"]: n["status"] for n in m["notebooks"]}
    assert set(st.values()) <= {"ran", "up to date"}, st  # 01-02 ran before the damage
    assert all(st[n] == "ran" for n in list(st)[2:]), st
    assert (run_dir / "index.html").is_file()
    led = L.read_ledger(store, mixed["params"])
    t = led.table
    assert len(t) == N_SCREENED
    out = t[~t["included"]]
    assert (out["step"] == "02_segment").sum() >= 2  # the flattened CTs
    assert (out["reason_code"] == "no_images").sum() >= 1
    assert t.loc[mixed["broken"], "step"] == "03_partition"
    assert t.loc[mixed["broken"], "reason_code"] == "partition_failed"
    assert mixed["broken"] not in t.loc[mixed["broken"], "reason"]


def test_every_step_analyses_the_ledgers_patients(mixed):
    """03's features, 04's sites and involved stations, 05's n, 06's split and 07's
    Table 7 all count the ledger's analysed patients; Figure 1 adds up.

    Fault injected once (on this run's store, by hand): 04 choosing its own patients
    again (every patient with images) -> 26 patients involved instead of the 24
    analysed, and 2 of Table 5's 33 sites belong to patients the ledger excluded."""
    run_dir, store, params = mixed["run_dir"], mixed["store"], mixed["params"]
    led = L.read_ledger(store, params)
    S = set(led.analysed)
    n = len(S)
    assert set(store.partition_features().index) == S
    f1 = _table(run_dir, "figure1_after_qc")
    totals = f1[f1["reason"] == "total"]["n"].sum()
    analysed = int(f1.loc[f1["step"] == "analysed", "n"].iloc[0])
    assert analysed == n and totals + analysed == int(f1.loc[f1["step"] == "screened", "n"]
                                                       .iloc[0]) == N_SCREENED
    assert len(_table(run_dir, "partition_features")) == n
    outcome = _table(run_dir, "05_outcome").set_index("quantity")["ours"]
    assert int(float(outcome["patients"])) == n
    split = _table(run_dir, "model_split")
    assert split.select_dtypes("number").iloc[:, 0].sum() == n, split
    t7 = (run_dir / "notebooks" / "07_model_eval.ipynb").read_text()
    assert "ModelInputError" not in t7
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = rc.recurrence_analysis(store, params)
    assert set(res.involved.index) == S
    assert set(res.sites["pid"]) <= S
    rec = store.recurrences()
    assert len(res.sites) == int(rec["pid"].isin(S).sum())
    t5 = _table(run_dir, "table5_recurrence_by_station").set_index("station")
    assert t5.loc["Total", "n"] == len(res.sites)
    a2 = _table(run_dir, "appendix2_rate_by_involved_station")
    assert a2["n_involved"].max() <= n


def _copy_store(mixed, name) -> CohortStore:
    dest = mixed["tmp"] / name
    shutil.copytree(mixed["store"].root, dest)
    return CohortStore(dest)


def _variant(mixed, store, **analysis):
    p = mixed["params"]
    params = p.model_copy(update={"analysis": p.analysis.model_copy(update=analysis)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = P.ledger_partition_table(store, params, cache=False)
        res = rc.recurrence_analysis(store, params)
    return params, table, res


def test_include_qc_failed_keeps_the_flagged_on_every_step(mixed):
    store = _copy_store(mixed, "store_incl")
    params, table, res = _variant(mixed, store, include_qc_failed=True)
    led = table.ledger
    flagged = set(led.table.index[led.table["qc"] == "flagged"])
    assert len(flagged) >= 2 and flagged <= set(led.analysed)
    assert set(table.features.index) == set(led.analysed) == set(res.involved.index)
    assert set(res.sites["pid"]) <= set(led.analysed)
    f1 = L.figure1_table(led)
    assert f1.loc[f1["step"] == L.KEPT_LABEL, "n"].tolist() == [len(flagged)]


def test_cv_maps_are_the_maps_of_03_and_04(mixed):
    """Out-of-fold maps for all but two analysed patients (here: the reference maps,
    as a cross-validation would write them); the two leave the analysis at 03, and 04
    places the sites on stations_cv."""
    store = _copy_store(mixed, "store_cv")
    base = L.read_ledger(mixed["store"], mixed["params"]).analysed
    for p in base[2:]:
        st, grid = read_nifti(store.patient_dir(p) / "stations_ref.nii.gz")
        write_nifti(store.patient_dir(p) / "stations_cv.nii.gz", st, grid)
    params, table, res = _variant(mixed, store, stations="cv")
    led = table.ledger
    assert set(led.analysed) == set(base[2:]) == set(table.features.index)
    assert set(led.table.loc[base[:2], "step"]) == {"03_partition"}
    assert res.stations_name == "stations_cv" and set(res.involved.index) == set(base[2:])


@pytest.fixture(scope="module")
def four(mixed):
    """The phantom export cut to 4 patients with images, through the whole chain."""
    tmp = mixed["tmp"] / "four"
    export = tmp / "export"
    shutil.copytree(mixed["phantom_export"], export)
    clin = pd.read_csv(export / "clinical.csv", dtype=str)
    keep = [m for m in clin["MRN"] if (export / "images" / m).is_dir()][:4]
    for name in ("clinical.csv", "followup.csv", "recurrences.csv"):
        df = pd.read_csv(export / name, dtype=str)
        df[df["MRN"].isin(keep)].to_csv(export / name, index=False)
    for d in (export / "images").iterdir():
        if d.name not in keep:
            shutil.rmtree(d)
    params_file = _params_file(tmp, export, "four")
    return run_report(params_file, reports_root=tmp / "reports", data_root=tmp / "data",
                      echo=lambda *_: None)


def test_four_patients_reach_the_index_with_each_skip_reason(four):
    m = json.loads((four / "manifest.json").read_text())
    st = {n["notebook"]: n["status"] for n in m["notebooks"]}
    for name in ("01_ingest", "02_segment", "03_partition", "04_recurrence"):
        assert st[name] == "ran", st
    assert re.match(r"skipped: [1-4] analysed patient\(s\) \(analysis ledger\) but at least "
                    r"10 needed", st["05_survival"]), st
    for name in ("06_model", "07_model_eval"):
        assert st[name].startswith("skipped: too few analysed patients per outcome class")
    index = (four / "index.html").read_text()
    for name in ("05_survival", "06_model", "07_model_eval"):
        assert st[name].split(": ", 1)[1][:40] in index
    # the scorecard's headlines of the skipped steps give the skip reason
    assert index.count("no table 05_outcome in this run: 05_survival skipped: ") == 3
    assert "Analysis ledger: 4 of 4 screened patients analysed" in index


def test_the_gallery_and_the_flowchart_count_the_ledgers_patients(mixed):
    """On the messy cohort, each gallery card's analysis label is the ledger's decision
    for that patient (analysed, or the step it left at), the QC-flagged patients among
    them, and 03's Figure 1 flowchart is written beside the table it draws. (The
    partition-failing patient has no card: its GTVnd is off the grid, so its thumbnail
    fails and the gallery counts it unreadable.) Fault injected: ``analysis_label``
    ignoring ``included`` -> the flagged patients' cards read "analysed"."""
    run_dir, store, params = mixed["run_dir"], mixed["store"], mixed["params"]
    t = L.read_ledger(store, params).table
    page = (run_dir / "gallery.html").read_text()
    cards = dict(re.findall(r'data-pid="([^"]+)".*?<span class="analysis">([^<]*)</span>',
                            page))
    assert cards, "no gallery card carries an analysis label"
    for pid, label in cards.items():
        row = t.loc[pid]
        assert label.startswith("analysed") == bool(row["included"]), (pid, label)
        if not row["included"]:
            assert label.startswith(f"left out at {row['step']}:"), (pid, label)
    flagged = [p for p in cards if t.loc[p, "step"] == "02_segment"]
    assert len(flagged) >= 2 and all(cards[p].startswith("left out at 02_segment:")
                                     for p in flagged), flagged
    for ext in ("png", "svg", "pdf"):
        assert (run_dir / "figures" / f"figure1_flowchart_after_qc.{ext}").is_file()
