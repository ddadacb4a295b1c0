"""A stand-in for Ray Jobs in tests: the same commands, run on threads of this process.

`dae train --run-dir` and `dae analyse --spec` are what a job executes; here a thread calls
their bodies (dae_core.serve.trainer.train_run, dae_core.cli.analyse.compute) and the job's state is the
thread's. Everything around them (run folders, the result cache, the pages) is the real code.
A thread cannot be killed as Ray kills a job's process: a job cancelled while it runs goes on to
its end (an analysis still writes its result), and then reports 'cancelled', as Ray would.
"""
from __future__ import annotations

import json
import threading
import time

from dae_core.errors import one_line
from dae_core.cli import analyse
from dae_core.serve import jobs, trainer
from dae_core.serve.jobs import JobState


class InlineJobs:
    def __init__(self, hold: threading.Event | None = None):
        self.threads: dict[str, threading.Thread] = {}
        self.outcome: dict[str, JobState] = {}
        self.started: dict[str, float] = {}
        self.submitted: list[str] = []  # every submit that started a job, in order
        self.cancelled: list[str] = []  # every cancel, in order
        self._stopping: set[str] = set()  # jobs cancelled since they were last submitted
        self.hold = hold  # set: jobs wait for it before they start (a queue that does not move)

    def submit(self, job_id, kind, argv, label, again=False, wait_s=0.0):
        if job_id in self.threads and (self.threads[job_id].is_alive() or not again):
            return self.state(job_id)
        self.outcome.pop(job_id, None)
        self.started.pop(job_id, None)
        self._stopping.discard(job_id)  # asked again: a new job of that name
        self.submitted.append(job_id)
        thread = threading.Thread(target=self._run, args=(job_id, argv), daemon=True)
        self.threads[job_id] = thread
        thread.start()
        return JobState("queued")

    def _run(self, job_id, argv):
        if self.hold is not None:
            self.hold.wait(60)
        if job_id in self._stopping:
            self.outcome[job_id] = JobState("cancelled")
            return
        self.started[job_id] = time.monotonic()
        try:
            if "--run-dir" in argv:
                status = trainer.train_run(argv[argv.index("--run-dir") + 1])
                ok = status != "failed"
            else:
                analyse.compute(json.loads(argv[argv.index("--spec") + 1]))
                ok = True
            outcome = JobState("done") if ok else JobState("failed", "the run failed")
        except Exception as e:  # noqa: BLE001  as a job's process would exit with it
            outcome = JobState("failed", one_line(e))
        self.outcome[job_id] = JobState("cancelled") if job_id in self._stopping else outcome

    def state(self, job_id):
        if job_id in self.outcome:
            return self.outcome[job_id]
        if job_id not in self.threads:
            return JobState("unknown", "Ray does not know this job")
        if job_id not in self.started:
            return JobState("queued", place=1, queued=1)
        return JobState("running", seconds=time.monotonic() - self.started[job_id])

    def cancel(self, job_id, label):
        self.cancelled.append(job_id)
        self._stopping.add(job_id)

    def wait(self, timeout: float = 120) -> bool:
        """Whether every job ended within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        for thread in list(self.threads.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads.values())

    def install(self, monkeypatch) -> "InlineJobs":
        monkeypatch.setattr(jobs, "submit", self.submit)
        monkeypatch.setattr(jobs, "state", self.state)
        monkeypatch.setattr(jobs, "cancel", self.cancel)
        return self
