"""``make report``: run the notebooks in order and assemble ``reports/<run>/``.

``python -m analysis.report --params params/x.yaml [--force] [--only NN ...]``

1. Takes the cohort store's lock (:meth:`analysis.store.CohortStore.lock`; a second run
   on the same store refuses, naming the first's pid and start time; the kernels run
   inside it). Runs ``params.report.notebooks`` in order through papermill (kernel ``python3`` of
   this interpreter), injecting ``params_file``. When the params name a phantom, the
   runner generates it before the first notebook (``analysis.phantom.generate`` skips
   when it is up to date): it is the only trigger besides ``make phantom``; 01_ingest
   only reads an export. A notebook missing from ``notebooks/`` is skipped with a
   printed note. The imaging notebooks (:data:`IMAGING_NOTEBOOKS` unless their metadata
   says ``{"sclc": {"needs_imaging": false}}``, and any notebook whose metadata says
   ``true``) are skipped with a stated
   reason when the cohort store holds no images (a clinical-only cohort:
   :meth:`analysis.store.CohortStore.has_imaging`); the skip and its reason are
   recorded in ``outputs/<notebook>.json``, the manifest and the index's run table. The
   steps after 03 are skipped the same way, with the reason, when the analysis ledger
   leaves too few patients for them (:func:`analysis.report.inputs.ledger_skip_reason`:
   ``analysis.min_patients_survival``, ``analysis.min_per_class``). A failing
   notebook stops the chain with a message naming the notebook and the cell; the
   executed notebook, with the error, stays in ``reports/<run>/notebooks/``.
2. **Up-to-date steps are not rerun.** Instead of make's file timestamps (fragile under
   git checkouts and copies), the runner keeps a stamp per notebook,
   ``reports/<run>/stamps/<notebook>.json``, holding the SHA-256 of (the notebook's
   bytes, ``params.digest()``, every ``analysis/**/*.py`` source file, the stamp of the
   notebook before it in the chain). The first notebook's key also holds the digest of
   the cohort's input content (:func:`input_content_digest`: every file of the export
   folder, or the clinical table of a clinical-only cohort), so editing
   ``followup.csv`` reruns 01 and, through the chain, everything after it. A notebook whose key equals its stamp, whose
   executed copy exists and whose recorded outputs all exist is skipped; ``--force``
   reruns everything; ``--only 05 06`` restricts the run to those notebooks (the
   Makefile's ``report-NN`` targets call that). The keys are computed for the whole
   chain before anything runs (:func:`chain_keys`), from the files, never from the
   stamps: a step that ``--only`` leaves out still passes its CURRENT key down, so a
   selected step is never "up to date" on top of a stale one. Stale steps before a
   selected step are rerun first, with a printed note (:func:`stale_upstream`):
   ``--only 05`` after editing ``followup.csv`` reruns 01-04, then 05.
3. Writes ``html/<notebook>.html`` (with code) and ``html/<notebook>_nocode.html``.
4. Tables (CSV + Markdown) and figures (PNG + SVG) are written by the notebooks through
   :class:`analysis.outputs.Outputs`, which records them in ``outputs/<notebook>.json``.
5. Writes ``manifest.json`` (package versions, params and digest, input hashes, seed,
   git commit, seconds per notebook, start and end time; the export folder and clinical
   table appear as digests of their paths, never as paths) and ``index.html``: every
   table and figure of the paper in the paper's order, beside the paper's value, then
   the other outputs, with a banner on every page when the cohort is the phantom; at its
   top a headline scorecard (:mod:`analysis.report.scorecard`) and a sidebar of contents; beside
   it ``gallery.html`` and ``3d/<pid>.html`` (:mod:`analysis.report.pages`,
   ``params.report.n_3d_pages``). Every page opens from ``file://`` with no network.

Output names
------------
An output belongs to a paper item when its EXACT name is registered for that item in
:mod:`analysis.outputs.names` (the one registry shared by the notebooks, the index and
the scorecard; a name that is not registered is recorded with a warning and listed
under "Other outputs" in notebook order). A paper item that no notebook produced is
shown as "not produced in this run".

Tests and CI redirect the generated folders with ``--reports-root`` / ``--data-root``,
exported to the kernels as ``SCLC_REPORTS_DIR`` / ``SCLC_DATA_DIR`` (read by
:mod:`analysis.paths`).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from analysis import paper, paths
from analysis.fsutil import atomic_write_text, remove_stale_tmp, sha256_bytes, sha256_file
from analysis.model.artefact import manifest_entry
from analysis.outputs import names as output_names
from analysis.params import Params, ParamsError, load_params
from analysis.report import browser
from analysis.report import html as report_html
from analysis.report import progress as report_progress
from analysis.report.commands import ReportError, generate_phantom, train_on_phantom
from analysis.report.inputs import (  # noqa: F401 - part of the runner's API
    IMAGING_NOTEBOOKS,
    folder_digest,
    imaging_skip_reason,
    input_content_digest,
    input_hashes,
    ledger_skip_reason,
    needs_imaging,
    params_without_paths,
    phantom_dir,
    source_digest,
    store_dir,
)
from analysis.store import (
    LOCK_TOKEN_ENV,
    CohortStore,
    StoreError,
    StoreLockedError,
    StoreWriteError,
)

#: packages whose versions go into the manifest
KEY_PACKAGES: tuple[str, ...] = (
    "numpy", "scipy", "pandas", "pyarrow", "scikit-learn", "lifelines", "torch", "monai",
    "SimpleITK", "pydicom", "rt-utils", "nibabel", "matplotlib", "pydantic", "PyYAML",
    "papermill", "nbconvert", "ipykernel",
)


@dataclass(frozen=True)
class PaperItem:
    """One table or figure of the paper, where the report looks for it.

    Parameters
    ----------
    label : str
        As the paper names it ("Table 4", "Figure 3").
    title : str
        What it shows.
    notebook : str
        The notebook expected to produce it (a hint for the reader; matching is by name).
    stems : tuple of str
        The exact output names of the item (``analysis.outputs.names.names_of(label)``);
        the first is the one the index names when the item was not produced.
    paper_value : str
        The paper's headline value, from :mod:`analysis.paper`.
    """

    label: str
    title: str
    notebook: str
    stems: tuple[str, ...]
    paper_value: str


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _p(p: float) -> str:
    """A p-value as the paper prints it; its 0.000 means below 0.001."""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _t7(metric: str) -> str:
    train, val = paper.TABLE7[metric]
    return f"{metric} {train:.2f} / {val:.2f}"


#: THE one place that orders the report like the paper (Figure 1, Tables 3-5,
#: Figure 3, Appendix 2, Tables 6-7, Figure 4, segmentation DSC).
PAPER_ITEMS: tuple[PaperItem, ...] = (
    PaperItem("Figure 1", "Patient selection flowchart", "01_ingest",
              output_names.names_of("Figure 1"),
              f"{paper.N_PATIENTS} patients included; {paper.N_RECURRED} recurred, "
              f"{paper.N_NOT_RECURRED} did not"),
    PaperItem("Table 3", "Baseline characteristics", "01_ingest",
              output_names.names_of("Table 3"),
              f"n = {paper.N_PATIENTS}; male {paper.TABLE3['sex']['male']} / female "
              f"{paper.TABLE3['sex']['female']}; median age {paper.AGE_MEDIAN}, mean "
              f"{paper.AGE_MEAN}; T4 {paper.TABLE3['t_stage']['T4']}, N3 "
              f"{paper.TABLE3['n_stage']['N3']}"),
    PaperItem("Table 4", "Univariate analysis of local control", "05_survival",
              output_names.names_of("Table 4"),
              f"p: sex {_p(paper.TABLE4['sex']['p'])}, age >= 60 "
              f"{_p(paper.TABLE4['age_ge_60']['p'])}, T stage "
              f"{_p(paper.TABLE4['t_stage']['p'])}, smoking "
              f"{_p(paper.TABLE4['smoking_bin']['p'])}, diameter >= 5 cm "
              f"{_p(paper.TABLE4['diameter_ge_5cm']['p'])}"),
    PaperItem("Table 4 (Cox)", "Multivariable Cox model", "05_survival",
              output_names.names_of("Table 4 (Cox)"),
              f"diameter >= 5 cm: HR {paper.COX_DIAMETER_HR} (95% CI "
              f"{paper.COX_DIAMETER_CI[0]}-{paper.COX_DIAMETER_CI[1]}), "
              f"p = {paper.COX_DIAMETER_P}"),
    PaperItem("Figure 3", "Local control by primary diameter (Kaplan-Meier)", "05_survival",
              output_names.names_of("Figure 3"),
              f"3-year local control {_pct(paper.LC3Y_SMALL)} (< 5 cm) vs "
              f"{_pct(paper.LC3Y_LARGE)} (>= 5 cm); log-rank p = {paper.LOGRANK_P_DIAMETER}"),
    PaperItem("Table 5", "Recurrences per lymph-node station", "04_recurrence",
              output_names.names_of("Table 5"),
              f"{paper.N_RECURRENCE_SITES} recurrence sites; stations "
              f"{', '.join(paper.TOP4_STATIONS)} hold {_pct(paper.TOP4_SHARE)}"),
    PaperItem("Appendix 2", "Recurrence where a station was initially involved",
              "04_recurrence", output_names.names_of("Appendix 2"),
              f"10R {_pct(paper.APPENDIX2_TEXT['10R'])}, 10L "
              f"{_pct(paper.APPENDIX2_TEXT['10L'])}; 4R, 7, 11R, 11L "
              f"{_pct(paper.APPENDIX2_TEXT['4R_7_11R_11L_range'][0])}-"
              f"{_pct(paper.APPENDIX2_TEXT['4R_7_11R_11L_range'][1])}"),
    PaperItem("Table 6", "Features kept by the model", "06_model",
              output_names.names_of("Table 6"),
              f"{len(paper.TABLE6_FEATURES)} features listed (the text says "
              f"{paper.N_FEATURES_KEPT})"),
    PaperItem("Table 7", "Model performance (training / validation)", "07_model_eval",
              output_names.names_of("Table 7"), "; ".join(_t7(m) for m in paper.TABLE7)),
    PaperItem("Figure 4", "ROC curves of the recurrence model", "07_model_eval",
              output_names.names_of("Figure 4"),
              f"AUC {paper.TABLE7['auc'][0]:.2f} (training), "
              f"{paper.TABLE7['auc'][1]:.2f} (validation)"),
    PaperItem("Segmentation", "Station segmentation Dice (DSC)", "02_segment",
              output_names.names_of("Segmentation"),
              "DSC " + ", ".join(f"{s} {v}" for s, v in paper.DSC.items())),
)


#: the kernels' matplotlib backend: inline, so that every figure is an image/png output
#: (a caller's MPLBACKEND=Agg would otherwise reach the kernels and hide them)
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


# --- stamps ---------------------------------------------------------------------------

def stamp_key(notebook_file: Path, params_digest: str, src_digest: str,
              upstream: str, inputs: str = "") -> str:
    """Key of one step: notebook bytes, params digest, package sources, upstream stamp,
    and (first notebook) the digest of the cohort's input content."""
    parts = [sha256_file(notebook_file), params_digest, src_digest, upstream]
    if inputs:
        parts.append(inputs)
    return sha256_bytes(json.dumps(parts).encode())


def chain_keys(notebooks: dict[str, Path], params_digest: str, src_digest: str,
               inputs: str) -> dict[str, str]:
    """The key each step of the chain SHOULD have now, computed from the files alone.

    ``notebooks``: step name -> notebook file, in chain order (steps whose notebook is
    missing left out). Each step reads the store and the outputs of the steps before it,
    so its key chains through the key of the step before it (hence of every step it
    reads); the first step's key holds ``inputs`` (:func:`input_content_digest`).
    Editing ``followup.csv`` therefore changes every key of the chain, whichever steps
    a run selects.
    """
    keys: dict[str, str] = {}
    upstream = "start"
    for i, (name, src) in enumerate(notebooks.items()):
        upstream = keys[name] = stamp_key(src, params_digest, src_digest, upstream,
                                          inputs if i == 0 else "")
    return keys


def stale_upstream(chain: list[str], selected: set[str], stale: set[str]) -> list[str]:
    """Steps not selected that must rerun first: every stale step before a selected one.

    ``stale``: steps whose stamp differs from :func:`chain_keys` (or whose executed
    notebook or outputs are gone). A selected step must never be called up to date on
    top of a stale step it reads (``--only 05`` after editing ``followup.csv`` reruns
    01-04, then 05).
    """
    sel = [i for i, n in enumerate(chain) if n in selected]
    if not sel:
        return []
    return [n for n in chain[:max(sel)] if n in stale and n not in selected]


# --- environment ----------------------------------------------------------------------

def package_versions() -> dict[str, str | None]:
    """Versions of the key packages (None when one is not installed), and Python's."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in KEY_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(repo: Path | None = None) -> dict:
    """``{"commit": sha or None, "dirty": bool or None}``; no git is not an error."""
    repo = repo or paths.REPO_ROOT
    try:
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                             capture_output=True, text=True, timeout=20).stdout.strip()
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain",
                                 "--untracked-files=no"], check=True, capture_output=True,
                                text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": sha, "dirty": bool(status.strip())}


def _check_kernel() -> None:
    """Fail early when kernel ``python3`` would not run this interpreter."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        return  # jupyter_client falls back to ipykernel's native kernel (sys.executable)
    exe = spec.argv[0] if spec.argv else ""
    # jupyter_client replaces a bare "python"/"python3" by sys.executable
    if exe in {"python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"}:
        return
    if Path(exe).resolve() != Path(sys.executable).resolve():
        raise ReportError(
            f"kernel 'python3' ({spec.resource_dir}) runs {exe}, not {sys.executable}; "
            f"run: {sys.executable} -m ipykernel install --sys-prefix")


# --- running --------------------------------------------------------------------------

@dataclass
class StepResult:
    """What happened to one notebook of the chain."""

    notebook: str
    status: str  # "ran" | "up to date" | "missing" | "failed" | "not selected"
    seconds: float | None = None
    message: str = ""
    outputs: list[dict] = field(default_factory=list)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _recorded_outputs(run_dir: Path, notebook: str) -> list[dict]:
    data = _read_json(run_dir / "outputs" / f"{notebook}.json")
    return list(data.get("items", [])) if data else []


def _outputs_exist(run_dir: Path, items: list[dict]) -> bool:
    return all((run_dir / f).is_file() for it in items for f in it.get("files", []))


def _params_arg(params_file: Path) -> str:
    p = paths.resolve(params_file)
    return p.relative_to(paths.REPO_ROOT).as_posix() if p.is_relative_to(paths.REPO_ROOT) \
        else str(p)


#: errors a user fixes (a params file, a store not made yet): one message, no cell
#: details, at the command line and in the index
USER_ERRORS: tuple[str, ...] = ("ParamsError", "IncompleteStoreError", "StoreError",
                                "IngestError", "ReportError", "ModelArtefactError")


def _failure_message(notebook: str, out_nb: Path, err: Exception) -> str:
    cell = getattr(err, "cell_index", None)
    count = getattr(err, "exec_count", None)
    ename = getattr(err, "ename", type(err).__name__)
    evalue = getattr(err, "evalue", str(err))
    if ename in USER_ERRORS:
        return f"{notebook} stopped: {evalue}"
    src = (getattr(err, "source", "") or "").strip().splitlines()
    first = f" (first line: {src[0][:100]!r})" if src else ""
    where = (f"code cell In [{count}] (cell {cell} of the executed notebook){first}"
             if cell is not None else "before any cell ran")
    return (f"notebook {notebook} failed in {where}: {ename}: {evalue}\n"
            f"  the executed notebook, with the traceback, is {out_nb}")


def execute_notebook(src: Path, dest: Path, params_arg: str, cwd: Path,
                     echo=print) -> None:
    """Run one notebook through papermill (kernel ``python3`` over IPC), injecting
    ``params_file`` and printing its cell progress (:mod:`analysis.report.progress`)."""
    report_progress.execute(src, dest, params_arg, cwd, name=src.stem, echo=echo)


def kernel_env(reports_root: Path, data_root: Path | None = None) -> dict[str, str]:
    """What the runner adds to the environment its kernels inherit: the run folders, the
    hash seed, the inline backend, and ``PYTHONPATH`` led by this checkout, so that every
    notebook imports the ``analysis`` this runner is (a virtual environment shared by
    two checkouts holds one editable install, which may point at the other)."""
    env = {"SCLC_REPORTS_DIR": str(reports_root), "PYTHONHASHSEED":
           os.environ.get("PYTHONHASHSEED", "0"), "MPLBACKEND": INLINE_BACKEND,
           "PYTHONPATH": os.pathsep.join(
               [str(paths.REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "")
                                         .split(os.pathsep) if p])}
    if data_root is not None:
        env["SCLC_DATA_DIR"] = str(Path(data_root).resolve())
    return env


def run_report(params_file: str | Path, *, force: bool = False,
               only: list[str] | None = None, notebooks_dir: Path | None = None,
               reports_root: Path | None = None, data_root: Path | None = None,
               echo=print) -> Path:
    """Run the chain and assemble the report; return ``reports/<run>/``.

    Parameters
    ----------
    params_file : str or Path
        A params YAML file (absolute, or relative to the repo root).
    force : bool
        Rerun every selected notebook even when its stamp says it is up to date.
    only : list of str, optional
        Notebooks to run, by number ("05") or stem ("05_survival"); others are untouched.
    notebooks_dir, reports_root, data_root : Path, optional
        Overrides of ``notebooks/``, ``reports/`` and ``data/`` (tests). The two roots are
        exported to the kernels as ``SCLC_REPORTS_DIR`` and ``SCLC_DATA_DIR``.

    Raises
    ------
    ReportError
        When a notebook fails (after the manifest and index are written) or ``only``
        names a notebook that is not in ``params.report.notebooks``.
    """
    started = datetime.now(UTC)
    params = load_params(params_file)
    params_arg = _params_arg(Path(params_file))
    nb_dir = Path(notebooks_dir or paths.NOTEBOOKS_DIR).resolve()
    reports_root = Path(reports_root or paths.REPORTS_DIR).resolve()
    run_dir = reports_root / params.run_name
    chain = list(params.report.notebooks)
    selected = _select(chain, only)

    env = kernel_env(reports_root, data_root)
    saved = {k: os.environ.get(k) for k in (*env, LOCK_TOKEN_ENV)}
    os.environ.update(env)  # the kernels inherit this process's environment
    if not report_progress.IPC:
        echo(f"[report] {report_progress.TCP_NOTE}")
    try:
        _check_kernel()
        # one run per store: the kernels (01_ingest...) run inside this lock
        with CohortStore(store_dir(params, data_root)).lock("make report") as held:
            if held.get("stale"):
                echo(f"[report] the store's lock of a run that no longer exists (pid "
                     f"{held['stale'].get('pid')}) was taken over")
            os.environ[LOCK_TOKEN_ENV] = held["token"]
            return _run_chain(params, params_file, params_arg, nb_dir, run_dir, chain,
                              selected, force, data_root, started, echo)
    except (StoreLockedError, StoreWriteError) as err:
        raise ReportError(str(err)) from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run_chain(params: Params, params_file, params_arg: str, nb_dir: Path, run_dir: Path,
               chain: list[str], selected: set[str], force: bool, data_root, started,
               echo) -> Path:
    """The body of :func:`run_report`, once the kernels' environment is set."""
    remove_stale_tmp(run_dir)  # temporary files a killed run left behind
    p_digest, s_digest = params.digest(), source_digest()
    stamps_dir = run_dir / "stamps"
    present = {n: nb_dir / f"{n}.ipynb" for n in chain if (nb_dir / f"{n}.ipynb").is_file()}
    phantom_seconds = None
    first_selected = bool(chain) and chain[0] in selected
    if params.is_phantom and first_selected:
        phantom_seconds = generate_phantom(params, params_file, data_root, echo)
    keys, stale, selected = _plan(params, data_root, run_dir, chain, present, selected,
                                  p_digest, s_digest, echo)
    if params.is_phantom and not first_selected and chain and chain[0] in selected:
        # 01 was stale and is rerun: its input, the phantom, first, then plan again
        phantom_seconds = generate_phantom(params, params_file, data_root, echo)
        keys, stale, selected = _plan(params, data_root, run_dir, chain, present, selected,
                                      p_digest, s_digest, lambda *_: None)
    if (params.segment.train and params.segment.train_source == "phantom"
            and "02_segment" in selected):
        train_on_phantom(params_file, echo)
    results: list[StepResult] = []
    failure: str | None = None
    for name in chain:
        src = nb_dir / f"{name}.ipynb"
        out_nb = run_dir / "notebooks" / f"{name}.ipynb"
        stamp_file = stamps_dir / f"{name}.json"
        if name not in present:
            echo(f"[report] {name}: not in {nb_dir}, skipped")
            results.append(StepResult(name, "missing"))
            continue
        key = keys[name]
        stamp = _read_json(stamp_file) or {}
        if name not in selected or failure is not None:
            results.append(StepResult(name, "not selected" if failure is None else
                                      "not run", stamp.get("seconds"),
                                      outputs=_recorded_outputs(run_dir, name)))
            continue
        skip = imaging_skip_reason(params, data_root) if needs_imaging(name, src) else None
        skip = skip or ledger_skip_reason(name, params, data_root)
        if skip is not None:
            echo(f"[report] {name}: {skip}")
            atomic_write_text(run_dir / "outputs" / f"{name}.json",
                              json.dumps({"notebook": name, "items": [], "skipped": skip},
                                         indent=1))
            stamp_file.unlink(missing_ok=True)
            results.append(StepResult(name, skip, None, skip))
            continue
        prior = _recorded_outputs(run_dir, name)
        if not force and name not in stale:
            echo(f"[report] {name}: up to date, skipped")
            results.append(StepResult(name, "up to date", stamp.get("seconds"),
                                      outputs=prior))
            continue
        echo(f"[report] {name}: running ...")
        (run_dir / "outputs" / f"{name}.json").unlink(missing_ok=True)
        stamp_file.unlink(missing_ok=True)
        t0 = time.perf_counter()
        try:
            execute_notebook(src, out_nb, params_arg, nb_dir, echo)
        except Exception as err:  # noqa: BLE001 - any failure stops the chain, named
            seconds = time.perf_counter() - t0
            failure = _failure_message(name, out_nb, err)
            echo(f"[report] {failure}")
            results.append(StepResult(name, "failed", seconds, failure,
                                      _recorded_outputs(run_dir, name)))
            if out_nb.is_file():
                report_html.export_html(out_nb, run_dir / "html", params.is_phantom)
            continue
        seconds = time.perf_counter() - t0
        echo(f"[report] {name}: done in {seconds:.1f} s")
        report_html.export_html(out_nb, run_dir / "html", params.is_phantom)
        atomic_write_text(stamp_file, json.dumps({"key": key, "seconds": round(seconds, 2),
                                                  "finished": _now()}, indent=1))
        results.append(StepResult(name, "ran", seconds,
                                  outputs=_recorded_outputs(run_dir, name)))

    manifest = build_manifest(params, params_file, results, started, data_root)
    manifest["phantom_seconds"] = phantom_seconds
    atomic_write_text(run_dir / "manifest.json", json.dumps(manifest, indent=1))
    report_html.write_index(run_dir, params, results, PAPER_ITEMS,
                            store_dir=store_dir(params, data_root),
                            truth_file=phantom_dir(params, data_root) / "truth.json"
                            if params.is_phantom else None)
    echo(f"[report] {run_dir / 'index.html'}")
    _print_index(run_dir, echo)
    if failure is not None:
        raise ReportError(failure)
    return run_dir


def _plan(params: Params, data_root, run_dir: Path, chain: list[str],
          present: dict[str, Path], selected: set[str], p_digest: str, s_digest: str,
          echo) -> tuple[dict[str, str], set[str], set[str]]:
    """(keys, stale steps, selection with the stale steps a selected step reads)."""
    inputs = input_content_digest(params, data_root) if chain and chain[0] in present \
        else ""
    keys = chain_keys(present, p_digest, s_digest, inputs)
    stale = {n for n in present if not _is_current(run_dir, n, keys[n])}
    for n in stale_upstream([n for n in chain if n in present], selected, stale):
        echo(f"[report] {n}: stale (its inputs, or a step it reads, changed since its "
             "stamp): rerun first, a selected step reads it")
        selected = selected | {n}
    return keys, stale, selected


def _is_current(run_dir: Path, name: str, key: str) -> bool:
    """Whether step ``name`` ran with ``key`` and its executed notebook and recorded
    outputs all exist."""
    stamp = _read_json(run_dir / "stamps" / f"{name}.json") or {}
    return (stamp.get("key") == key and (run_dir / "notebooks" / f"{name}.ipynb").is_file()
            and _outputs_exist(run_dir, _recorded_outputs(run_dir, name)))


def _print_index(run_dir: Path, echo) -> None:
    """``index.pdf``: Chromium's print of the index (its print stylesheet); skipped with
    a note when Chromium is missing or fails (the HTML index stands without it)."""
    try:
        pdf = browser.print_pdf(run_dir / "index.html", run_dir / "index.pdf")
    except Exception as err:  # noqa: BLE001 - the PDF is a convenience, never fatal
        echo(f"[report] index.pdf not written: {type(err).__name__}: {err}")
        return
    echo(f"[report] {pdf}" if pdf else "[report] index.pdf not written: no Chromium "
         "(make browser)")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _select(chain: list[str], only: list[str] | None) -> set[str]:
    if not only:
        return set(chain)
    chosen = set()
    for o in only:
        hits = [n for n in chain if n == o or n.split("_", 1)[0] == o]
        if not hits:
            raise ReportError(f"--only {o}: not one of params.report.notebooks {chain}")
        chosen.update(hits)
    return chosen


def build_manifest(params: Params, params_file: str | Path, results: list[StepResult],
                   started: datetime, data_root: Path | None = None) -> dict:
    """The run's manifest (no identifier: digests and counts only)."""
    return {
        "run_name": params.run_name,
        "params_file": _params_arg(Path(params_file)),
        "params_digest": params.digest(),
        "params": params_without_paths(params),
        "seed": params.seed,
        "phantom": params.is_phantom,
        "packages": package_versions(),
        "platform": {"system": platform.system(), "machine": platform.machine(),
                     "cpu_count": os.cpu_count()},
        "git": git_state(),
        "source_digest": source_digest(),
        "inputs": input_hashes(params, data_root),
        "model_artefact": manifest_entry(params.run_name, data_root),
        "notebooks": [{"notebook": r.notebook, "status": r.status,
                       "seconds": None if r.seconds is None else round(r.seconds, 2),
                       "n_outputs": len(r.outputs)} for r in results],
        "started": started.isoformat(timespec="seconds"),
        "finished": _now(),
        "wall_seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m analysis.report", description=__doc__
                                 .split("\n")[0])
    ap.add_argument("--params", default="params/default.yaml", help="params YAML file")
    ap.add_argument("--force", action="store_true", help="rerun up-to-date notebooks too")
    ap.add_argument("--only", nargs="+", metavar="NN", help="run only these notebooks")
    ap.add_argument("--notebooks-dir", type=Path, help="override notebooks/ (tests)")
    ap.add_argument("--reports-root", "--out", type=Path, help="override reports/ (tests)")
    ap.add_argument("--data-root", type=Path, help="override data/ (tests)")
    a = ap.parse_args(argv)
    try:
        run_report(a.params, force=a.force, only=a.only, notebooks_dir=a.notebooks_dir,
                   reports_root=a.reports_root, data_root=a.data_root)
    except (ReportError, ParamsError, StoreError) as err:  # a user's error: no traceback
        print(f"make report: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
