"""An in-process stand-in for Ray under dae_core.tasks, for the page tests (AppTest): tasks run on
a small thread pool of the test process, so a test can slow or break a step by patching it. The
board's own logic (one task per key, the queue, cancel, results, storing) is what runs."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from dae_core import tasks
from dae_core.analyses import describe_failure


class InlineRunner:
    """submit / ready / get / cancel / describe, as dae_core.analyses.RayRunner, on threads."""

    describe = staticmethod(describe_failure)

    def __init__(self, workers: int = 2) -> None:
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="test-task")
        self.futures: list = []  # every task submitted, in order

    def submit(self, fn, args: tuple):
        self.futures.append(self.pool.submit(fn, *args))
        return self.futures[-1]

    def idle(self, timeout: float = 60) -> bool:
        """Wait for every submitted task to end (those cancelled while running included)."""
        from concurrent.futures import wait

        return not wait(self.futures, timeout).not_done

    def ready(self, refs: list) -> list:
        return [f for f in refs if f.done()]

    def get(self, ref):
        return ref.result()

    def cancel(self, ref) -> None:
        ref.cancel()  # a running step runs on; its result is not stored (nobody collects it)


@pytest.fixture(scope="module")
def inline_board():
    """This process's task board, on an InlineRunner, for a test module."""
    board = tasks.Board(InlineRunner())
    old = tasks.use_board(board)
    yield board
    tasks.use_board(old)
    board.runner.pool.shutdown(wait=False, cancel_futures=True)


def wait_ended(board, held, timeout: float = 60) -> bool:
    """Poll a page's held tickets (ui.background.Held) until every one has ended."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(board.poll(t).ended for t in held.tickets):
            return True
        time.sleep(0.05)
    return False
