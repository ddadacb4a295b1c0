"""ui.background in AppTest, over a stand-in job layer: a page's analyses asked as jobs, read back
from the cache, their failures in one line, and Cancel shared fairly between sessions."""
import pytest
from streamlit.testing.v1 import AppTest

from dae_core.serve import jobs
from dae_core.serve.jobs import JobState
from dae_core.serve.ray_jobs import RayUnavailable
from ui.background import Ask


class Jobs:
    """jobs.submit / state / cancel as records: each job's state is what the test sets."""

    def __init__(self):
        self.states: dict[str, JobState] = {}
        self.submits: list[tuple[str, bool]] = []  # (job id, again)
        self.cancels: list[str] = []

    def submit(self, job_id, kind, argv, label, again=False, wait_s=0.0):
        self.submits.append((job_id, again))
        if job_id not in self.states or (again and self.states[job_id].ended):  # as Ray's would
            self.states[job_id] = JobState("queued", place=1, queued=1)
        return self.states[job_id]

    def state(self, job_id):
        return self.states.get(job_id, JobState("unknown", "Ray does not know this job"))

    def cancel(self, job_id, label):
        self.cancels.append(job_id)
        self.states[job_id] = JobState("cancelled")


class Cached:
    """An Ask's load(): the result in the cache (None until the test puts one), read `reads` times.
    `then` is what the cache holds from the second read on (a job that ends between two reads)."""

    def __init__(self, value=None, then=None):
        self.value, self.then, self.reads = value, then, 0

    def __call__(self):
        self.reads += 1
        if self.reads > 1 and self.then is not None:
            self.value = self.then
        return self.value


@pytest.fixture
def fake_jobs(monkeypatch) -> Jobs:
    fake = Jobs()
    for name in ("submit", "state", "cancel"):
        monkeypatch.setattr(jobs, name, getattr(fake, name))
    return fake


def ask(load: Cached, seed: int) -> Ask:
    """A t-SNE map's analysis; each test asks its own seeds, so that no two tests share a job."""
    spec = {"kind": "map", "checkpoint": "model.pt", "projection": "tsne", "n": 100, "seed": seed}
    return Ask(("map", seed), spec, "a-model-fingerprint", f"t-SNE seed {seed}", load)


def _page(asks):
    import streamlit as st

    from ui import background

    got = background.run("maps", ("settings",), lambda: asks, "Maps")
    if got is not None:
        st.success(" ".join(str(got[key]) for key in sorted(got)))


def page(*asks: Ask) -> AppTest:
    at = AppTest.from_function(_page, args=(list(asks),), default_timeout=30)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_result_in_the_cache_asks_no_job(fake_jobs):
    at = page(ask(Cached("xy"), 1))
    assert [s.value for s in at.success] == ["xy"] and not fake_jobs.submits


def test_jobs_are_asked_once_and_the_results_read_back_when_they_land(fake_jobs):
    first, second = Cached(), Cached()
    at = page(ask(first, 2), ask(second, 3))
    assert [again for _, again in fake_jobs.submits] == [False, False]
    (line,) = [c.value for c in at.caption]
    assert line == "Maps: queued, place 1 of 1 (0 of 2 done)" and at.get("progress")[0].value == 0
    first.value = "a"
    fake_jobs.states = {job: JobState("running", seconds=4) for job in fake_jobs.states}
    at.run()
    assert [c.value for c in at.caption] == ["Maps: running for 4 s (1 of 2 done)"]
    assert at.get("progress")[0].value == 50  # one of the two analyses is in the cache
    second.value = "b"
    at.run()
    assert [s.value for s in at.success] == ["a b"] and len(fake_jobs.submits) == 2


def test_a_job_that_ends_between_two_reads_shows_its_result_not_a_failure(fake_jobs):
    load = Cached(then="xy")  # not in the cache at the first read, there at the next
    fake_jobs.states[ask(load, 4).job] = JobState("done")
    at = page(ask(load, 4))
    assert not at.error and [s.value for s in at.success] == ["xy"]


def test_a_result_pruned_since_its_job_ended_is_computed_again(fake_jobs):
    load = Cached()
    job = ask(load, 10).job
    fake_jobs.states[job] = JobState("done")  # Ray remembers the job; the cache no longer has its result
    at = page(ask(load, 10))
    assert fake_jobs.submits == [(job, False), (job, True)] and not at.error
    assert [c.value for c in at.caption] == ["Maps: queued, place 1 of 1"]


def test_a_lost_result_is_one_line_and_try_again_asks_the_job_again(fake_jobs):
    load = Cached()
    at = page(ask(load, 5))
    fake_jobs.states[ask(load, 5).job] = JobState("done")  # it ended, yet its result is not in the cache
    at.run()
    assert [e.value for e in at.error] == ["Maps failed: its result is not in the cache"]
    at.button(key="maps_again").click().run()
    assert fake_jobs.submits[-1] == (ask(load, 5).job, True) and not at.error and at.caption


@pytest.mark.slow  # takes seconds
def test_a_failed_job_is_its_one_line_with_try_again(fake_jobs):
    load = Cached()
    fake_jobs.states[ask(load, 6).job] = JobState("failed", "out of memory; try fewer codes")
    at = page(ask(load, 6))
    assert [e.value for e in at.error] == ["Maps failed: out of memory; try fewer codes"]
    assert at.button(key="maps_again").label == "Try again"


def test_a_ray_that_cannot_take_the_job_is_one_line_and_the_page_goes_on(fake_jobs, monkeypatch):
    def refuse(*args, **kwargs):
        raise RayUnavailable("a local Ray is starting; try again in a few seconds")

    monkeypatch.setattr(jobs, "submit", refuse)
    at = page(ask(Cached(), 7))
    (warning,) = [w.value for w in at.warning]
    assert warning == "Maps is waiting: a local Ray is starting; try again in a few seconds"
    assert at.button(key="maps_cancel").label == "Cancel"  # it asks again by itself meanwhile
    monkeypatch.setattr(jobs, "submit", fake_jobs.submit)  # Ray is up now
    at.run()  # the next poll (AppTest runs no fragment timers)
    assert not at.warning and fake_jobs.submits == [(ask(Cached(), 7).job, False)]


@pytest.mark.slow  # takes seconds
def test_cancel_ends_a_job_only_when_no_other_session_waits_on_it(fake_jobs):
    load = Cached()
    first, second = page(ask(load, 8)), page(ask(load, 8))
    job = ask(load, 8).job
    first.button(key="maps_cancel").click().run()
    assert first.info[0].value == "Maps: cancelled." and fake_jobs.cancels == []  # the other waits on it
    second.button(key="maps_cancel").click().run()
    assert fake_jobs.cancels == [job]
    first.button(key="maps_again").click().run()  # Start again
    assert fake_jobs.submits[-1] == (job, True) and not first.info


@pytest.mark.slow  # takes seconds
def test_a_session_whose_results_came_no_longer_holds_back_a_later_cancel(fake_jobs):
    load = Cached()
    early = page(ask(load, 9))
    load.value = "xy"
    early.run()  # its result came: it waits on nothing now
    assert [s.value for s in early.success] == ["xy"]
    load.value = None  # the cached result is gone (evicted), and another session asks again
    fake_jobs.states.clear()
    late = page(ask(load, 9))
    late.button(key="maps_cancel").click().run()
    assert fake_jobs.cancels == [ask(load, 9).job]
