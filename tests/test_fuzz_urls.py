"""Links under generated hostile values (Hypothesis): every URL parameter a page reads, set to
huge, non-finite, malformed or control-character text, opens the page without an exception box;
a dropped value is named in one line of plain text, and no saved run is touched."""
import shutil
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from corpus_guard import tree  # noqa: E402  (pytest puts tests/ on the path)
from fuzz_values import HUGE_INTS, TEXTS, assert_one_line, fuzz  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# What a link may carry: the pages' own words, numbers written every way Python or Streamlit
# might read them, and text no page expects.
WORDS = ["reference-d4", "denoise-d10", "kept (saved run)", "kmeans", "umap-gmm", "gmm", "box",
         "cluster:K", "uniform01", "mask", "salt_pepper", "gaussian", "0.45", "3", "30", "31"]
NUMBERS = ["inf", "-inf", "Infinity", "nan", "1e400", "-1e400", "1e308", "0x1f", " 5", "5 ", "1_0",
           "٣", "08", "+3", "-0", "-1", "2.5", "1e3", str(2**63), str(2**64), "9" * 5000]
URL_VALUES = st.one_of(TEXTS, st.sampled_from(WORDS + NUMBERS), st.integers().map(str),
                       HUGE_INTS.map(str), st.floats().map(repr))
LINK = st.one_of(URL_VALUES, st.lists(URL_VALUES, min_size=2, max_size=3))  # ?k=1&k=2: repeated
PAGES = {  # page -> the URL parameters it reads
    "0_Home.py": ["model"],
    "1_Train.py": ["run", "model"],
    "2_Denoise.py": ["noise", "strength", "noise_seed", "model"],
    "3_Generate.py": ["sampler", "component", "sample_seed", "model"],
    "4_Cluster.py": ["k", "method", "cluster_seed", "model"],
}
# Generated links per page (AppTest runs a page in about a second; each new setting on Denoise
# and Generate recomputes their images): fewer where a run costs most.
LINKS = {"1_Train.py": 2, "2_Denoise.py": 2, "3_Generate.py": 2}
# Always tried, besides the generated links: every parameter past a float (Streamlit's own
# whole-number input raised OverflowError on "1e400" and "inf" while it read the link).
ALWAYS = {page: {name: "1e400" if i % 2 else "-inf" for i, name in enumerate(names)}
          for page, names in PAGES.items()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A runs folder with one saved run (listed in the picker as "kept (saved run)")."""
    folder = tmp_path_factory.mktemp("fuzz_url_runs")
    shutil.copy(ROOT / "checkpoints" / "reference-d4.pt", folder / "kept.pt")
    return folder


def _opened(page: str, params: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app_pages" / page), default_timeout=120)
    for name, value in params.items():
        at.query_params[name] = value
    return at.run()


@pytest.mark.slow  # page runs take seconds
@pytest.mark.parametrize("page", PAGES)
def test_any_link_opens_the_page_and_names_a_dropped_value_in_one_line(page, runs, monkeypatch):
    monkeypatch.setenv("DAE_RUNS_DIR", str(runs))
    before = tree(runs)

    @fuzz(max_examples=LINKS.get(page, 3))
    @example(params=ALWAYS[page])
    @given(params=st.dictionaries(st.sampled_from(PAGES[page]), LINK, min_size=1))
    def opens(params):
        at = _opened(page, params)
        assert not at.exception, [e.value for e in at.exception]
        for box in (*at.warning, *at.error, *at.sidebar.warning, *at.sidebar.error):
            assert_one_line(box.value)
        assert tree(runs) == before

    opens()
