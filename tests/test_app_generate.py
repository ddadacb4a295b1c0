"""The Generate page in streamlit's AppTest, on the shipped model (d=4): samples, sliders, strips.
Scoring the samplers is a set of analysis jobs (ui.background), run here on threads of the test
process (tests/inline_jobs.py) so that a test can slow a step down or hold the queue.

AppTest gives each st.image as media URLs named by a hash of the image bytes, so comparing URLs
before and after an interaction compares the pictures.
"""
import threading

import pytest
from inline_jobs import InlineJobs  # pytest puts tests/ on the path
from streamlit.testing.v1 import AppTest
from support import svg_pictures

from dae_core.analysis.latent import SAMPLERS
from dae_core.paths import CHECKPOINT_DIR
from dae_core.serve.jobs import JobState
from ui.words import sampler_name

PAGE = "3_Generate.py"  # the page the `at` fixture opens
D = 4  # latent size of checkpoints/reference-d4.pt
SAMPLES, BARS, PREVIEW, MANIFOLD, STRIP = range(5)  # the page's images (at.main.image), top to bottom
COMPARE = "Scoring 1000 samples of each sampler"  # the label of the comparison's jobs
pytestmark = pytest.mark.usefixtures("inline_jobs")


def latent_sliders(at: AppTest):
    return [s for s in at.slider if s.key and s.key.startswith("gen_z")]


@pytest.fixture(autouse=True)
def server_sliders(monkeypatch):
    """AppTest runs no JavaScript: these tests use the server-side sliders (the explorer's
    fallback); tests/e2e/test_explorer.py drives the explorer in a browser."""
    monkeypatch.setenv("DAE_EXPLORER", "off")


def test_page_shows_the_sample_grid_sliders_manifold_and_strip(at):
    assert len(at.main.image) == 5 and not at.error and not at.warning
    assert at.main.image[SAMPLES].captions == ["9 codes drawn from Gaussian mixture, seed 0"]
    (bars,) = [svg for svg in svg_pictures(at.main) if "Predicted digit of 1000 samples" in svg]
    assert bars.count("<rect") == 10 and not at.get("html")  # a picture, not HTML
    assert [s.label for s in latent_sliders(at)] == [f"z{i}" for i in range(D)]
    assert all(s.min < s.value < s.max for s in latent_sliders(at))  # open on the median code
    assert any("in-browser explorer is off" in c.value for c in at.caption)
    assert "z0 left → right" in at.main.image[MANIFOLD].captions[0]


@pytest.mark.slow  # page runs take seconds
def test_moving_a_slider_changes_the_preview_and_manifold(at):
    preview, manifold, samples = (at.main.image[i].value for i in (PREVIEW, MANIFOLD, SAMPLES))
    slider = latent_sliders(at)[2]
    slider.set_value(slider.max).run()
    assert not at.exception
    assert at.main.image[PREVIEW].value != preview and at.main.image[MANIFOLD].value != manifold
    assert at.main.image[SAMPLES].value == samples
    at.button(key="gen_reset").click().run()
    assert at.main.image[PREVIEW].value == preview


@pytest.mark.slow  # page runs take seconds
@pytest.mark.parametrize("kind", SAMPLERS)
def test_each_sampler_renders(at, kind):
    before = at.main.image[SAMPLES].value
    at.selectbox(key="sampler").set_value(kind).run()
    assert not at.exception and not at.error
    expected = sampler_name("cluster:0" if kind == "cluster:K" else kind)
    assert at.main.image[SAMPLES].captions == [f"9 codes drawn from {expected}, seed 0"]
    assert (at.main.image[SAMPLES].value != before) == (kind != "gmm")


def test_sampler_names_read_as_words():
    assert [sampler_name(s) for s in SAMPLERS] == [
        "uniform in [0, 1]", "uniform in the codes' box", "one Gaussian", "Gaussian mixture",
        "one cluster's digits"]
    assert sampler_name("cluster:3") == "cluster 3's digits"


@pytest.mark.slow  # page runs take seconds
def test_new_samples_button_moves_the_seed_on(at, widget_warnings):
    before = at.main.image[SAMPLES].value
    at.button(key="gen_new").click().run()
    assert at.main.image[SAMPLES].captions == ["9 codes drawn from Gaussian mixture, seed 1"]
    assert at.main.image[SAMPLES].value != before
    assert widget_warnings == []  # the seed set through Session State, the box given no default


@pytest.mark.slow  # page runs take seconds
def test_interpolation_endpoints_and_manifold_dimensions(at):
    strip = at.main.image[STRIP].value
    at.number_input(key="gen_to").set_value(42).run()
    assert at.main.image[STRIP].value != strip and "test #42" in at.main.image[STRIP].captions[0]
    at.selectbox(key="gen_dim_y").set_value(0).run()  # the same dimension twice
    assert not at.exception and "two different dimensions" in at.warning[0].value


@pytest.mark.slow  # page runs take seconds
def test_sample_quality_scores_and_sampler_comparison(at, inline_jobs):
    metrics = {m.label: m.value for m in at.metric}
    assert {"Recognised", "Class entropy", "Inception score", "FID"} <= set(metrics)
    recognised = float(metrics["Recognised"].rstrip("%")) / 100
    assert 0.0 <= recognised <= 1.0
    at.toggle(key="gen_compare").set_value(True).run()
    assert not at.exception
    if inline_jobs.submitted:  # none when every sampler was scored already
        assert inline_jobs.wait(120)
        at.run()
    table = next(df.value for df in at.dataframe if "sampler" in df.value.columns)
    assert list(table["sampler"]) == [sampler_name(s) for s in ("uniform01", "box", "gaussian", "gmm")]
    # The mixture decodes to digits far more often than the reference's uniform01 codes.
    share = {s: float(r.rstrip("%")) for s, r in zip(table["sampler"], table["recognised"])}
    assert share["Gaussian mixture"] > share["uniform in [0, 1]"]


@pytest.mark.slow  # page runs take seconds
def test_explorer_replaces_the_server_sliders_when_on(app_test, monkeypatch):
    monkeypatch.setenv("DAE_EXPLORER", "on")
    at = app_test(PAGE)
    assert not at.exception and not latent_sliders(at) and len(at.main.image) == 4  # no preview image
    at.number_input(key="explorer_test").set_value(5).run()
    at.button(key="explorer_start").click().run()
    assert not at.exception and "z0 left → right" in at.main.image[MANIFOLD - 1].captions[0]


@pytest.mark.slow  # page runs take seconds
def test_start_from_a_test_digit_moves_the_server_sliders(at):
    before = [s.value for s in latent_sliders(at)]
    at.number_input(key="explorer_test").set_value(3).run()
    at.button(key="explorer_start").click().run()
    after = [s.value for s in latent_sliders(at)]
    assert not at.exception and after != before
    assert all(s.min <= s.value <= s.max for s in latent_sliders(at))


@pytest.mark.slow  # page runs take seconds
def test_a_sample_and_the_explorer_code_feed_the_sliders_and_the_interpolation(at):
    median = [s.value for s in latent_sliders(at)]
    at.number_input(key="explorer_sample").set_value(4).run()
    at.button(key="explorer_sample_go").click().run()
    sliders = [s.value for s in latent_sliders(at)]
    assert not at.exception and sliders != median and "test #0" in at.main.image[STRIP].captions[0]
    at.toggle(key="explorer_interp").set_value(True).run()
    assert at.main.image[STRIP].captions[0].startswith("the explorer's code → test #1")
    strip = at.main.image[STRIP].value
    latent_sliders(at)[0].set_value(latent_sliders(at)[0].min).run()  # a release: the strip follows
    assert not at.exception and at.main.image[STRIP].value != strip
    assert [s.value for s in latent_sliders(at)][1:] == sliders[1:]


def _forget_scores(kinds=("uniform01", "box", "gaussian")):
    """Drop the shipped model's scores of `kinds` from the memory shared by sessions (the page's
    own gmm stays scored; this test's disk cache is its own)."""
    from ui import cache

    done = cache.finished(*cache.file_key(CHECKPOINT_DIR / "reference-d4.pt"))
    for kind in kinds:
        done.pop(("quality", kind, 1000, 0), None)


@pytest.mark.slow  # page runs take seconds
def test_comparing_samplers_shows_progress_and_cancel_leaves_the_page_usable(at, inline_jobs, monkeypatch):
    from dae_core import analyses

    _forget_scores()
    release, real = threading.Event(), analyses.sample_quality
    monkeypatch.setattr(analyses, "sample_quality", lambda *a: release.wait(30) and real(*a))
    at.toggle(key="gen_compare").set_value(True).run()
    assert len(inline_jobs.submitted) == 3  # a job per sampler not scored yet
    (line,) = [c.value for c in at.caption if c.value.startswith(COMPARE)]
    assert line.startswith(f"{COMPARE}: running for") and line.endswith("(0 of 3 done)")
    assert at.get("progress")[0].value == 0  # analyses done of those asked
    at.button(key="gen_compare_cancel").click().run()
    assert not at.exception and at.info[0].value == f"{COMPARE}: cancelled."
    assert sorted(inline_jobs.cancelled) == sorted(inline_jobs.submitted)  # nobody else waits on them
    release.set()
    assert inline_jobs.wait(30)
    at.toggle(key="gen_compare").set_value(False).run()
    assert not at.exception and len(at.main.image) == 5


@pytest.mark.slow  # page runs take seconds
def test_a_queued_comparison_shows_its_place_and_starts_again_after_cancel(app_test, monkeypatch):
    monkeypatch.setenv("DAE_EXPLORER", "off")
    hold = threading.Event()  # the queue does not move until it is set
    queue = InlineJobs(hold).install(monkeypatch)
    at = app_test(PAGE)
    _forget_scores()
    at.toggle(key="gen_compare").set_value(True).run()
    (line,) = [c.value for c in at.caption if c.value.startswith(COMPARE)]
    assert line == f"{COMPARE}: queued, place 1 of 1 (0 of 3 done)"
    at.button(key="gen_compare_cancel").click().run()
    assert at.info[0].value == f"{COMPARE}: cancelled." and at.button(key="gen_compare_again").label == "Start again"
    hold.set()  # the cancelled jobs leave the queue without computing
    assert queue.wait(30) and all(queue.state(j).status == "cancelled" for j in queue.submitted)
    at.button(key="gen_compare_again").click().run()
    assert not at.exception and len(queue.submitted) == 6  # the same three jobs, asked again
    assert queue.wait(120)
    at.run()
    table = next(df.value for df in at.dataframe if "sampler" in df.value.columns)
    assert list(table["sampler"]) == [sampler_name(s) for s in ("uniform01", "box", "gaussian", "gmm")]


@pytest.mark.slow  # page runs take seconds
def test_a_failed_comparison_is_one_line_with_try_again(at, monkeypatch):
    from dae_core import analyses

    _forget_scores(["box"])

    def broken(*args):
        raise RuntimeError("no memory left\nfor the samples")

    with monkeypatch.context() as failing:
        failing.setattr(analyses, "sample_quality", broken)
        at.toggle(key="gen_compare").set_value(True).run()
        for _ in range(100):  # the fragment polls the jobs; AppTest reruns by hand
            if at.error:
                break
            at.run()
    assert not at.exception
    assert at.error[0].value == f"{COMPARE} failed: RuntimeError: no memory left for the samples"
    assert at.button(key="gen_compare_again").label == "Try again"
    at.button(key="gen_compare_again").click().run()  # fixed: the same job, asked again
    for _ in range(100):
        if not at.error and any("sampler" in df.value.columns for df in at.dataframe):
            break
        at.run()
    assert not at.error and any("sampler" in df.value.columns for df in at.dataframe)


def test_the_progress_line_names_a_waiting_job_s_place():
    from ui.background import describe

    running, waiting, done = JobState("running", seconds=3.2), JobState("queued", place=2, queued=5), JobState("done")
    assert describe([waiting], "Scoring") == "Scoring: queued, place 2 of 5"
    assert describe([done, waiting, running], "3 seeds") == "3 seeds: running for 3 s (1 of 3 done)"
    assert describe([done, waiting], "3 seeds") == "3 seeds: queued, place 2 of 5 (1 of 2 done)"
    assert describe([JobState("queued")], "Scoring") == "Scoring: queued"  # its place not known yet
    assert describe([done, done], "3 seeds") == "3 seeds: done"
    gone = JobState("unavailable", "the local Ray does not answer (refused)")
    assert describe([done, gone], "3 seeds") == (
        "3 seeds: waiting, Ray is unavailable (the local Ray does not answer (refused)) (1 of 2 done)")
