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


def test_item10_states_the_minimum_against_the_cohort():
    """Item 10 from pmsampsize's worked example (minimum 662, EPP 4.80,
    tests/test_stats_samplesize.py): a cohort of 180 with 94 events is too small, one
    of 700 with 130 events is enough; the other items are unchanged."""
    from analysis.model.tripod import with_sample_size
    from analysis.stats.samplesize import riley_binary

    req = riley_binary(0.174, 24, 0.288)
    items = with_sample_size(req, 180, 94)
    t = tripod_ai_table(items).set_index("item")
    assert t.loc["10", "status"] == "reported"
    assert t.loc["10", "where"] == "07_model_eval (model_sample_size)"
    note = t.loc["10", "note"]
    assert "needs >= 662 patients (115 events, EPP 4.8) for 24 candidate" in note
    assert "this cohort has 180 (94 events, EPP 3.92): too small" in note
    assert "enough by these" in dict((i.item, i.note) for i in with_sample_size(
        req, 700, 130))["10"]
    base = tripod_ai_table().set_index("item").drop(index="10")
    assert t.drop(index="10").equals(base)
