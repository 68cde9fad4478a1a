"""The report runner on small dummy notebooks built in tmp_path (not the study's chain).

Checks order, stamps (an unchanged step is not rerun, a changed one is), ``--only``,
``--force``, a failing notebook named with its cell, the manifest, the index's paper
order and the phantom banner.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from analysis.params import load_params
from analysis.report import html as report_html
from analysis.report import runner as report
from analysis.report.runner import PAPER_ITEMS, ReportError, run_report
from analysis.store import CohortStore

SETUP = (
    "import matplotlib.pyplot as plt\n"
    "import pandas as pd\n"
    "import analysis.params\n"
    "from analysis.outputs import Outputs\n"
    "params = analysis.params.load_params(params_file)\n"
    "out = Outputs.for_params(params, {stem!r})\n"
    # DataFrame.to_markdown needs the optional package tabulate; the runner is under test
    # here, not Outputs, so stand in for it when it is absent
    "try:\n"
    "    import tabulate  # noqa: F401\n"
    "except ImportError:\n"
    "    pd.DataFrame.to_markdown = lambda self, index=True, **kw: self.to_string(index=index)"
)


def _notebook(path, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    first = nbformat.v4.new_code_cell('params_file = "params/default.yaml"')
    first.metadata["tags"] = ["parameters"]
    nb.cells = [first] + [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


def _params(tmp_path, notebooks: list[str], phantom: bool) -> str:
    cohort = ("cohort: {source: phantom}\nphantom: {grid: {shape_zyx: [4, 4, 4], "
              "spacing_mm: [1.0, 1.0, 1.0]}}\n" if phantom else
              "cohort: {source: clinical_only}\n")
    f = tmp_path / "dummy.yaml"
    f.write_text(f"run_name: dummy\nseed: 11\n{cohort}report: {{notebooks: {notebooks}}}\n")
    return str(f)


@pytest.fixture()
def chain(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(nbs / "01_a.ipynb", [
        SETUP.format(stem="01_a"),
        'out.table(pd.DataFrame({"station": ["4R", "7"], "n": [params.seed, 2], '
        '"paper": [24, 18]}), "table5_recurrence_by_station", "Recurrences per station")',
        "fig, ax = plt.subplots(figsize=(2, 2)); ax.plot([0, 1], [0, 1])\n"
        'out.figure(fig, "figure4_roc", "ROC")',
    ])
    _notebook(nbs / "02_b.ipynb", [
        SETUP.format(stem="02_b"),
        'out.table(pd.DataFrame({"k": [1]}), "extra_counts", "An extra table")',
    ])
    return nbs


def test_chain_order_stamps_only_force(tmp_path, chain, monkeypatch):
    # the package's sources are part of every stamp; hold them fixed here
    monkeypatch.setattr(report, "source_digest", lambda: "fixed")
    # the dummy params name a phantom only for the banner; generating it is not tested here
    monkeypatch.setattr(report, "generate_phantom", lambda *_: 0.0)
    params = _params(tmp_path, ["01_a", "02_b", "03_missing"], phantom=True)
    root = tmp_path / "reports"
    kw = {"notebooks_dir": chain, "reports_root": root, "data_root": tmp_path / "data",
          "echo": lambda *_: None}
    run_dir = run_report(params, **kw)
    assert run_dir == root / "dummy"

    def statuses():
        m = json.loads((run_dir / "manifest.json").read_text())
        return [n["status"] for n in m["notebooks"]]

    assert statuses() == ["ran", "ran", "missing"]
    m = json.loads((run_dir / "manifest.json").read_text())
    for key in ("packages", "params", "params_digest", "inputs", "seed", "git", "started",
                "finished"):
        assert key in m, key
    assert m["seed"] == 11 and m["packages"]["papermill"]
    # the kernel wrote into the redirected reports root, with the injected params
    assert (run_dir / "tables/table5_recurrence_by_station.csv").read_text().splitlines()[1] \
        == "0,4R,11,24"
    for f in ("figures/figure4_roc.png", "figures/figure4_roc.svg", "notebooks/01_a.ipynb",
              "html/01_a.html", "html/01_a_nocode.html", "html/02_b_nocode.html"):
        assert (run_dir / f).stat().st_size > 0, f
    index = (run_dir / "index.html").read_text()
    assert index.count('id="phantom-banner"') == 1
    assert 'id="phantom-banner"' in (run_dir / "html/01_a_nocode.html").read_text()
    nocode = (run_dir / "html/01_a_nocode.html").read_text()
    assert "load_params" not in nocode  # code cells hidden
    assert "load_params" in (run_dir / "html/01_a.html").read_text()
    # paper order: Table 5 before Figure 4; other outputs after the paper's items
    t5, f4 = index.index('id="tbl-table5_recurrence_by_station"'), index.index('id="fig-figure4_roc"')
    assert t5 < f4 < index.index('id="tbl-extra_counts"')
    assert index.count("not produced in this run") == len(PAPER_ITEMS) - 2

    # nothing changed: nothing reruns
    run_report(params, **kw)
    assert statuses() == ["up to date", "up to date", "missing"]
    # a changed notebook reruns (02 is downstream of nothing that changed)
    nb = nbformat.read(chain / "02_b.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("x = 1"))
    nbformat.write(nb, chain / "02_b.ipynb")
    run_report(params, **kw)
    assert statuses() == ["up to date", "ran", "missing"]
    # --force reruns an up-to-date step; --only leaves the others alone
    run_report(params, force=True, only=["01"], **kw)
    assert statuses() == ["ran", "not selected", "missing"]


def test_stamp_key_covers_notebook_params_sources_and_upstream(tmp_path):
    nb = tmp_path / "a.ipynb"
    nb.write_bytes(b"{}")
    base = report.stamp_key(nb, "p", "s", "u")
    assert len({base, report.stamp_key(nb, "p2", "s", "u"), report.stamp_key(nb, "p", "s2", "u"),
                report.stamp_key(nb, "p", "s", "u2")}) == 4
    nb.write_bytes(b"{ }")
    assert report.stamp_key(nb, "p", "s", "u") != base


def test_failing_notebook_is_named_and_stops_the_chain(tmp_path, chain):
    _notebook(chain / "01_a.ipynb", [SETUP.format(stem="01_a"),
                                     'raise ValueError("planted failure")'])
    params = _params(tmp_path, ["01_a", "02_b"], phantom=False)
    root = tmp_path / "reports"
    # In [1] parameters, [2] papermill's injected parameters, [3] setup, [4] the failure
    with pytest.raises(ReportError,
                       match=r"notebook 01_a failed in code cell In \[4\].*planted failure"):
        run_report(params, notebooks_dir=chain, reports_root=root, echo=lambda *_: None,
                   data_root=tmp_path / "data")
    run_dir = root / "dummy"
    executed = nbformat.read(run_dir / "notebooks/01_a.ipynb", as_version=4)
    assert any(o.get("ename") == "ValueError" for c in executed.cells
               for o in c.get("outputs", []))
    m = json.loads((run_dir / "manifest.json").read_text())
    assert [n["status"] for n in m["notebooks"]] == ["failed", "not run"]
    assert not (run_dir / "notebooks/02_b.ipynb").exists()
    index = (run_dir / "index.html").read_text()
    assert 'id="phantom-banner"' not in index
    # the index links the failed notebook's executed copy, not the one that never ran
    assert 'href="notebooks/01_a.ipynb"' in index
    assert 'href="notebooks/02_b.ipynb"' not in index and "html/02_b" not in index


def test_a_users_error_is_one_message_without_traceback(tmp_path, chain, capsys):
    """A store not made yet stops the chain with the store's own message (params file and
    command) and no cell details, at the command line and in the index; a wrong params
    path ends ``python -m analysis.report`` with one line, no traceback (issue 24).
    Fault injected: ``USER_ERRORS`` emptied -> the index shows "01_a failed in code
    cell In [4] ..." and the first assertion fails."""
    _notebook(chain / "01_a.ipynb", [SETUP.format(stem="01_a"),
                                     "from analysis.store import CohortStore\n"
                                     "CohortStore.for_params(params)"])
    params = _params(tmp_path, ["01_a", "02_b"], phantom=False)
    root = tmp_path / "reports"
    code = report.main(["--params", params, "--notebooks-dir", str(chain), "--reports-root",
                        str(root), "--data-root", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("make report: 01_a stopped: cohort store dummy has "
                                        "not been made; made by "), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    index = (root / "dummy" / "index.html").read_text()
    assert '<div class="failed">01_a stopped: cohort store dummy has not been made' in index

    code = report.main(["--params", str(tmp_path / "nope.yaml")])
    err = capsys.readouterr().err
    assert code == 1 and "nope.yaml: cannot read params file" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_the_runner_shows_cell_progress_with_the_last_runs_estimate():
    """``cell 2/4, 3 s so far, about 5 s left (last run 8 s)``: the estimate is the sum
    of the remaining cells' seconds in the last run (hand-computed: 3 + 2 = 5 of 1 + 2 +
    3 + 2 = 8); lines at most every PRINT_EVERY_S; no estimate without a last run."""
    from analysis.report import progress as rp

    now = [100.0]
    lines = []
    p = rp.CellProgress("05_x", [1.0, 2.0, 3.0, 2.0], lines.append, clock=lambda: now[0])
    now[0] = 103.0
    assert p.line(2, 4) == "[report] 05_x: cell 2/4, 3 s so far, about 5 s left (last run 8 s)"
    p(1, 4)  # 3 s after the start: below PRINT_EVERY_S, nothing printed
    now[0] = 100.0 + rp.PRINT_EVERY_S + 1
    p(2, 4)
    p(3, 4)  # too soon after the last line
    assert lines == ["[report] 05_x: cell 2/4, 11 s so far, about 5 s left (last run 8 s)"]
    fresh = rp.CellProgress("05_x", None, lines.append, clock=lambda: now[0])
    assert fresh.line(1, 4).endswith("cell 1/4, 0 s so far")


def test_kernels_run_over_ipc_without_the_tcp_warning(tmp_path, chain, capfd):
    """The kernel of a runner's notebook prints no "running over TCP without encryption"
    warning, and the executed copy records each cell's seconds (the next run's estimate).
    Fault injected: ``IpcKernelManager`` given ``default_value="tcp"`` -> the warning is
    printed once (measured) and the first assertion fails."""
    from analysis.report import progress as rp

    if not rp.IPC:
        pytest.skip("no Unix domain sockets: TCP, explained once (report_progress.TCP_NOTE)")
    dest = tmp_path / "out" / "02_b.ipynb"
    rp.execute(chain / "02_b.ipynb", dest, _params(tmp_path, ["02_b"], phantom=False),
               chain, name="02_b", echo=lambda *_: None)
    captured = capfd.readouterr()
    assert "without encryption" not in captured.out + captured.err
    seconds = rp.last_cell_seconds(dest)
    assert seconds is not None and len(seconds) == 4 and sum(seconds) > 0


def test_two_kernels_never_share_their_sockets(tmp_path, chain):
    """Two kernels started at once (two runs, or two pytest workers) each get their own
    socket folder, and both run. Fault, seen in a clean-clone CI run: jupyter_client's
    default socket path ``kernel-ipc`` in the working directory, shared by both -> 02 of
    the ci chain failed before any cell with "ValueError: Invalid Signature" (another
    kernel's messages); here both managers would report ip 'kernel-ipc'."""
    from concurrent.futures import ThreadPoolExecutor

    from analysis.report import progress as rp

    if not rp.IPC:
        pytest.skip("no Unix domain sockets: the kernels use TCP ports")
    a, b = rp.IpcKernelManager(), rp.IpcKernelManager()
    assert a.ip != b.ip and os.path.isabs(a.ip) and os.path.isabs(b.ip)
    params = _params(tmp_path, ["02_b"], phantom=False)

    def run(k):
        dest = tmp_path / f"out{k}" / "02_b.ipynb"
        rp.execute(chain / "02_b.ipynb", dest, params, chain, name="02_b",
                   echo=lambda *_: None)
        return rp.last_cell_seconds(dest)

    with ThreadPoolExecutor(2) as pool:
        assert all(s is not None and len(s) == 4 for s in pool.map(run, range(2)))


def test_only_rejects_unknown_notebook(tmp_path, chain):
    params = _params(tmp_path, ["01_a"], phantom=False)
    with pytest.raises(ReportError, match="--only 09"):
        run_report(params, only=["09"], notebooks_dir=chain, reports_root=tmp_path,
                   data_root=tmp_path / "data")


def test_assign_outputs_follows_the_paper_and_keeps_the_rest():
    """Exact names from analysis.outputs.names; a near miss is not guessed into an item.

    Fault injected: the old prefix matching puts ``table4_cox`` under Table 4 (Cox) and
    ``figure3_km_sex`` under Figure 3 instead of the other outputs."""
    outs = [("05", {"name": "table4_multivariable_cox"}), ("05", {"name": "table4_univariate"}),
            ("05", {"name": "table4x"}), ("01", {"name": "figure1_flowchart"}),
            ("01", {"name": "figure1_table"}), ("02", {"name": "segment_dice_boxplot"}),
            ("05", {"name": "table4_cox"}), ("05", {"name": "figure3_km_sex"})]
    by_label, others = report_html.assign_outputs(outs, PAPER_ITEMS)
    assert [i["name"] for _, i in by_label["Table 4"]] == ["table4_univariate"]
    assert [i["name"] for _, i in by_label["Table 4 (Cox)"]] == ["table4_multivariable_cox"]
    assert [i["name"] for _, i in by_label["Figure 1"]] == ["figure1_flowchart",
                                                           "figure1_table"]
    assert [i["name"] for _, i in by_label["Segmentation"]] == ["segment_dice_boxplot"]
    assert [i["name"] for _, i in others] == ["table4x", "table4_cox", "figure3_km_sex"]
    assert by_label["Table 7"] == []


def test_paper_items_in_the_papers_order_and_values_from_analysis_paper():
    labels = [p.label for p in PAPER_ITEMS]
    assert labels == ["Figure 1", "Table 3", "Table 4", "Table 4 (Cox)", "Figure 3",
                      "Table 5", "Appendix 2", "Table 6", "Table 7", "Figure 4",
                      "Segmentation"]
    fig3 = next(p for p in PAPER_ITEMS if p.label == "Figure 3").paper_value
    assert "86.7%" in fig3 and "61.1%" in fig3  # analysis.paper.LC3Y_SMALL / LC3Y_LARGE


def test_inject_banner_after_body_tag():
    page = '<html><head></head><body class="x">text</body></html>'
    assert report_html.inject_banner(page, "<b>B</b>") == \
        '<html><head></head><body class="x"><b>B</b>text</body></html>'


def test_source_digest_follows_the_sources(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.py").write_text("x = 1\n")
    d1 = report.source_digest(tmp_path)
    (tmp_path / "sub" / "a.py").write_text("x = 2\n")
    assert report.source_digest(tmp_path) != d1


def test_folder_digest_names_no_file(tmp_path):
    (tmp_path / "images" / "MRN12345").mkdir(parents=True)
    (tmp_path / "images" / "MRN12345" / "CT.nii.gz").write_bytes(b"abc")
    (tmp_path / "clinical.csv").write_text("MRN,Sex\nMRN12345,M\n")
    d = report.folder_digest(tmp_path)
    assert d["n_files"] == 2 and d["n_bytes"] == 3 + 19  # b"abc" + the 19-byte CSV
    assert "MRN12345" not in json.dumps(d)
    (tmp_path / "clinical.csv").write_text("MRN,Sex\nMRN12345,F\n")
    d2 = report.folder_digest(tmp_path)
    assert d2["tables_sha256"] != d["tables_sha256"]
    assert d2["listing_sha256"] == d["listing_sha256"]  # same names and sizes


def test_editing_followup_csv_reruns_01_and_everything_after(tmp_path, chain, monkeypatch):
    """The stamp of the first notebook holds the export's content digest.

    Injected fault: with ``inputs`` left out of the first notebook's stamp key
    (``stamp_key(..., "")``), the last run below gave ["up to date", "up to date"].
    """
    monkeypatch.setattr(report, "source_digest", lambda: "fixed")
    export = tmp_path / "dept" / "export"
    (export / "images" / "MRN1").mkdir(parents=True)
    (export / "images" / "MRN1" / "CT.nii.gz").write_bytes(b"ct")
    (export / "followup.csv").write_text("MRN,RT_Start\nMRN1,2019-03-04\n")
    f = tmp_path / "export.yaml"
    f.write_text(f"run_name: dummy\nseed: 11\ncohort: {{source: export, export_dir: "
                 f"{export}}}\nreport: {{notebooks: [01_a, 02_b]}}\n")
    params = load_params(f)
    d1 = report.input_content_digest(params)
    kw = {"notebooks_dir": chain, "reports_root": tmp_path / "reports",
          "echo": lambda *_: None}
    run_dir = run_report(f, **kw)

    def statuses():
        m = json.loads((run_dir / "manifest.json").read_text())
        return [n["status"] for n in m["notebooks"]]

    run_report(f, **kw)
    assert statuses() == ["up to date", "up to date"]
    (export / "followup.csv").write_text("MRN,RT_Start\nMRN1,2019-03-05\n")
    assert report.input_content_digest(params) != d1
    run_report(f, **kw)
    assert statuses() == ["ran", "ran"]
    # an image file counts too (every file of the export)
    (export / "images" / "MRN1" / "CT.nii.gz").write_bytes(b"ct2")
    assert report.input_content_digest(params) != d1
    # the manifest names the export by the digest of its path, never the path
    text = (run_dir / "manifest.json").read_text()
    assert str(export) not in text and "/dept/" not in text
    assert json.loads(text)["params"]["cohort"]["export_dir"] == {
        "path_sha256": hashlib.sha256(str(export).encode()).hexdigest()}


def test_clinical_only_store_skips_the_imaging_notebooks_with_a_reason(tmp_path, chain):
    _notebook(chain / "02_segment.ipynb", [SETUP.format(stem="02_segment"),
                                           'raise RuntimeError("needs images")'])
    params = _params(tmp_path, ["01_a", "02_segment", "02_b"], phantom=False)
    data = tmp_path / "data"
    store = CohortStore(data / "store" / "dummy")
    for t in ("cohort", "screening", "recurrences"):
        store.write_table(t, pd.DataFrame({"pid": ["P1"]}))
    store.mark_complete(imaging=False)
    run_dir = run_report(params, notebooks_dir=chain, reports_root=tmp_path / "reports",
                         data_root=data, echo=lambda *_: None)
    m = json.loads((run_dir / "manifest.json").read_text())
    st = [n["status"] for n in m["notebooks"]]
    assert st[0] == "ran" and st[2] == "ran"
    assert st[1].startswith("skipped: the cohort store holds no images")
    rec = json.loads((run_dir / "outputs" / "02_segment.json").read_text())
    assert rec["items"] == [] and rec["skipped"] == st[1]
    assert "skipped: the cohort store holds no images" in (run_dir / "index.html").read_text()
    # a store with images runs it (and here it fails, as planted)
    store.mark_complete(imaging=True)
    with pytest.raises(ReportError, match="02_segment failed"):
        run_report(params, notebooks_dir=chain, reports_root=tmp_path / "reports",
                   data_root=data, echo=lambda *_: None)


def test_executed_notebooks_keep_no_widget_state(tmp_path, chain):
    """A widget's state (the 3D view's holds its volumes: 11.5 MB for one ci patient,
    measured) stays out of the executed copy; its output stays; an ``ipywidgets.Output``
    (the slice viewer's) runs. Faults injected: no ``drop_widget_state`` ->
    ``metadata.widgets`` present and the test fails; nbclient's
    ``store_widget_state=False`` instead -> "KeyError: '<comm id>'" on the Output widget
    (measured, the ci chain's 02_segment)."""
    from analysis.report import progress as rp

    _notebook(chain / "03_w.ipynb", ["import ipywidgets\nfrom IPython.display import "
                                     "display\no = ipywidgets.Output()\nwith o:\n"
                                     "    print('in the output widget')\n"
                                     "display(o)\nipywidgets.IntSlider(3)"])
    dest = tmp_path / "out" / "03_w.ipynb"
    rp.execute(chain / "03_w.ipynb", dest, _params(tmp_path, ["03_w"], phantom=False),
               chain, name="03_w", echo=lambda *_: None)
    nb = nbformat.read(dest, as_version=4)
    assert "widgets" not in nb.metadata
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
               for o in nb.cells[-1].outputs)


def test_kernels_import_the_runners_own_checkout(tmp_path, monkeypatch):
    """A virtual environment shared by two checkouts (git worktrees, a clone beside the
    original) holds one editable install, pointing at one of them; the kernels must
    still run the ``analysis`` of the checkout whose runner started them. Fault planted:
    another checkout first on the kernels' path (PYTHONPATH); without ``PYTHONPATH`` in
    :func:`kernel_env` the kernel imports that checkout's ``analysis`` (seen: a default
    run in one clone executed another clone's code and failed in 01 on the other's data
    folder)."""
    from analysis import paths
    from analysis.report import progress as rp

    other = tmp_path / "other"
    (other / "analysis").mkdir(parents=True)
    (other / "analysis" / "__init__.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", str(other))
    for k, v in report.kernel_env(tmp_path / "reports").items():
        monkeypatch.setenv(k, v)
    seen = tmp_path / "seen.txt"
    _notebook(tmp_path / "which.ipynb", [
        f"import analysis, pathlib\npathlib.Path({str(seen)!r}).write_text(analysis.__file__)"])
    rp.execute(tmp_path / "which.ipynb", tmp_path / "out" / "which.ipynb", "x", tmp_path,
               name="which", echo=lambda *_: None)
    assert Path(seen.read_text()).resolve().is_relative_to(paths.REPO_ROOT / "analysis")


def test_a_long_cell_is_reported_while_it_runs():
    """A step's whole work is one cell (07: about 9 minutes on the default run), so the
    runner also speaks while a cell runs: after HEARTBEAT_S of silence, the cell running
    and for how long, and the estimate less what it has run. Hand-computed: last run
    1 + 100 + 2 = 103 s; cell 1 ends at 1 s; at 1 + HEARTBEAT_S (30) s cell 2 has run 30 s,
    so about 100 + 2 - 30 = 72 s are left. Fault injected: ``beat`` ignoring how long
    the cell has run -> "about 102 s left"."""
    from analysis.report import progress as rp

    assert rp.HEARTBEAT_S == 30.0  # the hand computation below
    now = [0.0]
    lines = []
    p = rp.CellProgress("07_x", [1.0, 100.0, 2.0], lines.append, clock=lambda: now[0])
    p.beat()  # before the first cell ends: nothing known, nothing said
    now[0] = 1.0
    p(1, 3)  # below PRINT_EVERY_S since the start: no line
    now[0] = 8.0
    p.beat()  # 8 s of silence < HEARTBEAT_S: nothing yet
    assert lines == []
    now[0] = 31.0
    p.beat()
    assert lines == ["[report] 07_x: cell 1/3, 31 s so far, about 72 s left (last run "
                     "103 s); cell 2 running for 30 s"]
    now[0] = 45.0
    p.beat()  # 14 s after the last line: quiet
    assert len(lines) == 1
