"""The TRIPOD+AI checklist is complete data, and its output names exist in the notebooks."""

from __future__ import annotations

import re

import nbformat
import pytest

from analysis import paths
from analysis.model.tripod import TRIPOD_AI, ChecklistItem, tripod_ai_table

#: TRIPOD+AI (Collins et al. 2024): 27 items, several with sub-items a-g
EXPECTED = ("1 2 3a 3b 3c 4 5a 5b 6a 6b 6c 7 8a 8b 8c 9a 9b 9c 10 11 12a 12b 12c 12d 12e "
            "12f 12g 13 14 15 16 17 18a 18b 18c 18d 18e 18f 19 20a 20b 20c 21 22 23a 23b "
            "24 25 26 27a 27b 27c").split()


def test_every_item_once_in_order():
    t = tripod_ai_table()
    assert t["item"].tolist() == EXPECTED
    assert set(t["status"]) <= {"reported", "partly", "not done", "not applicable"}


def test_output_names_cited_exist():
    """Every output name quoted in parentheses is written by some notebook."""
    sources = "\n".join(c.source for p in sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb"))
                        for c in nbformat.read(p, as_version=4).cells)
    cited = {n for i in TRIPOD_AI for n in re.findall(r"\b(model_[a-z0-9_]+|table[0-9]_"
                                                      r"[a-z_]+)\b", i.where)}
    assert cited  # the pattern finds names (e.g. model_split)
    missing = sorted(n for n in cited if f'"{n}"' not in sources)
    assert not missing, missing


def test_bad_status_refused():
    with pytest.raises(ValueError, match="status"):
        tripod_ai_table((ChecklistItem("1", "Title", "t", "-", "done"),))
