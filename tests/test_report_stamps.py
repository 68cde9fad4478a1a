"""Stamps that chain (issue #22, item 6): a step's key holds the key of every step it
reads, computed from the files, so ``--only 05`` after editing ``followup.csv`` reruns
the stale steps before it instead of calling 05 "up to date".
"""

from __future__ import annotations

import json

import nbformat

from analysis.report import runner as report
from analysis.report.runner import chain_keys, run_report, stale_upstream

CHAIN = ["01_ingest", "02_segment", "03_partition", "04_recurrence", "05_survival"]


def _notebooks(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for n in names:
        nb = nbformat.v4.new_notebook()
        first = nbformat.v4.new_code_cell('params_file = "params/default.yaml"')
        first.metadata["tags"] = ["parameters"]
        nb.cells = [first, nbformat.v4.new_code_cell(f"step = {n!r}")]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nbformat.write(nb, folder / f"{n}.ipynb")
        out[n] = folder / f"{n}.ipynb"
    return out


def test_an_input_change_makes_every_step_stale_and_only_05_reruns_01_to_04(tmp_path):
    """Injected fault: keys chained through the STORED stamp of a step that ``--only``
    leaves out (the runner before issue #22) kept 05's key when only the input changed:
    ``stale_upstream`` then had nothing stale to rerun and 05 was "up to date"."""
    nbs = _notebooks(tmp_path / "nbs", CHAIN)
    old = chain_keys(nbs, "p", "s", "export-v1")
    new = chain_keys(nbs, "p", "s", "export-v2")  # followup.csv edited
    assert all(old[n] != new[n] for n in CHAIN)  # every step reads 01, directly or not
    stale = {n for n in CHAIN if old[n] != new[n]}
    assert stale_upstream(CHAIN, {"05_survival"}, stale) == CHAIN[:4]
    assert stale_upstream(CHAIN, {"01_ingest", "05_survival"}, stale) == CHAIN[1:4]
    assert stale_upstream(CHAIN, {"02_segment"}, stale) == ["01_ingest"]
    # an edit of 03's notebook: 03 and what reads it, never 01-02
    (tmp_path / "nbs" / "03_partition.ipynb").write_text(
        nbs["03_partition"].read_text().replace("step =", "step  ="))
    edited = chain_keys(nbs, "p", "s", "export-v1")
    stale = {n for n in CHAIN if old[n] != edited[n]}
    assert stale == {"03_partition", "04_recurrence", "05_survival"}
    assert stale_upstream(CHAIN, {"05_survival"}, stale) == ["03_partition", "04_recurrence"]
    # nothing stale, nothing added; a selection of nothing adds nothing
    assert stale_upstream(CHAIN, {"05_survival"}, set()) == []
    assert stale_upstream(CHAIN, set(), set(CHAIN)) == []


def test_only_05_after_editing_followup_reruns_01_then_05(tmp_path, monkeypatch):
    """Injected fault: the runner before issue #22 (upstream = the stored stamp of a step
    not selected) gave ["not selected", "up to date"] for the last run, and printed
    "05_survival: up to date, skipped"."""
    monkeypatch.setattr(report, "source_digest", lambda: "fixed")
    nbs = tmp_path / "nbs"
    _notebooks(nbs, ["01_ingest", "05_survival"])
    export = tmp_path / "export"
    export.mkdir()
    (export / "followup.csv").write_text("MRN,RT_Start\nMRN1,2019-03-04\n")
    f = tmp_path / "p.yaml"
    f.write_text(f"run_name: st\nseed: 1\ncohort: {{source: export, export_dir: {export}}}"
                 "\nreport: {notebooks: [01_ingest, 05_survival]}\n")
    log: list[str] = []
    kw = {"notebooks_dir": nbs, "reports_root": tmp_path / "reports", "echo": log.append}
    run_dir = run_report(f, **kw)

    def statuses():
        m = json.loads((run_dir / "manifest.json").read_text())
        return [n["status"] for n in m["notebooks"]]

    assert statuses() == ["ran", "ran"]
    run_report(f, only=["05"], **kw)
    assert statuses() == ["not selected", "up to date"]
    (export / "followup.csv").write_text("MRN,RT_Start\nMRN1,2019-03-05\n")
    log.clear()
    run_report(f, only=["05"], **kw)
    assert statuses() == ["ran", "ran"]
    assert not [x for x in log if "up to date" in x]
    assert any("01_ingest: stale" in x for x in log)
