"""JupyterLab for this project: notebooks saved without outputs, and git's version of them.

``make lab PARAMS=params/x.yaml`` starts JupyterLab at the repository root with the
project's Jupyter settings (``jupyter/`` on ``JUPYTER_CONFIG_PATH``):

- ``jupyter/jupyter_server_config.py`` installs :func:`pre_save_hook`: a notebook of
  ``notebooks/`` is saved without outputs, execution counts, widget state or papermill's
  injected cell, so that using Lab never leaves outputs for git (or the tests) to find;
  the outputs stay on screen until the notebook is closed. Executed copies under
  ``reports/`` are saved as they are;
- it turns off the news feed and the update check (nothing fetched from the internet);
- ``jupyter/labconfig/page_config.json`` disables the announcements plugin, whose
  first-run prompt asks to fetch news.

The notebooks' ``parameters`` cell is ``params_file = None``: the run ``PARAMS=`` names
(environment variable :data:`analysis.params.PARAMS_ENV`, set by ``make lab``) is loaded
by :func:`analysis.params.load_params`; papermill's injected path wins in ``make report``.

``tests/test_notebooks_clean.py`` checks git's version of each notebook
(:func:`committed_notebook`) and names a working copy that differs with outputs
(:func:`local_edit_message`), rather than failing on an unsaved Lab session.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat

from analysis import paths

#: the folder (repo-relative) whose notebooks are saved stripped
STRIPPED_DIR = "notebooks"
#: cell metadata keys a run adds (papermill, execution timing); the rest is kept
_RUN_METADATA = ("papermill", "execution", "collapsed", "scrolled")


def strip(nb: dict) -> dict:
    """Remove outputs, execution counts, run metadata, widget state and papermill's
    injected cell from a notebook (a dict as nbformat reads it, changed in place).

    Example: a code cell ``{"outputs": [stream "1"], "execution_count": 3}`` becomes
    ``{"outputs": [], "execution_count": None}``.
    """
    nb["cells"] = [c for c in nb.get("cells", []) if "injected-parameters"
                   not in c.get("metadata", {}).get("tags", [])]
    for c in nb["cells"]:
        if c.get("cell_type") == "code":
            c["outputs"] = []
            c["execution_count"] = None
        for key in _RUN_METADATA:
            c.get("metadata", {}).pop(key, None)
    for key in ("widgets", "papermill"):
        nb.get("metadata", {}).pop(key, None)
    return nb


def pre_save_hook(model: dict, path: str, contents_manager=None, **kwargs) -> None:
    """Jupyter server's pre-save hook: strip a notebook of ``notebooks/`` before saving.

    ``path`` is the API path (relative to the server's root, the repository root).
    """
    if model.get("type") != "notebook" or model.get("content") is None:
        return
    if Path(path.lstrip("/")).parts[:1] != (STRIPPED_DIR,):
        return
    strip(model["content"])


def committed_notebook(path: Path):
    """Git's version (the index: what the next commit holds) of a notebook, read with
    nbformat; the working file when git or the file's git entry is missing."""
    path = Path(path).resolve()
    rel = path.relative_to(paths.REPO_ROOT).as_posix()
    try:
        text = subprocess.run(["git", "-C", str(paths.REPO_ROOT), "show", f":{rel}"],
                              check=True, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return nbformat.read(path, as_version=4)
    return nbformat.reads(text, as_version=4)


def local_edit_message(path: Path, working, committed) -> str | None:
    """A message when the working copy of a notebook holds outputs that git's version does
    not (a Lab session saved without the project's hook), else None."""
    def has_outputs(nb) -> bool:
        return any(c.get("outputs") or c.get("execution_count") is not None
                   for c in nb.cells if c.cell_type == "code")

    if not has_outputs(working) or has_outputs(committed):
        return None
    rel = Path(path).resolve().relative_to(paths.REPO_ROOT).as_posix()
    return (f"{rel}: your working copy holds outputs (saved by a Jupyter without this "
            "project's save hook?); the tests check git's version. Strip them with "
            "`make strip` before committing (make lab strips on save)")


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis.report.lab NOTEBOOK ...``: strip the notebooks in place."""
    files = list(sys.argv[1:] if argv is None else argv)
    for f in files:
        nb = nbformat.read(f, as_version=4)
        strip(nb)
        nbformat.write(nb, f)
        print(f"stripped {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
