"""The training threads: a job never waits behind another, and only the last thread alive (with
its OpenMP team) outlasts its training."""

from __future__ import annotations

import threading

import pytest

from cnn_core.training.workers import Workers


def test_jobs_run_at_once_and_only_the_last_thread_stays() -> None:
    workers = Workers()
    release = threading.Event()
    ran_on: list[threading.Thread] = []
    both_running = threading.Barrier(3, timeout=10)

    def blocking() -> None:
        ran_on.append(threading.current_thread())
        both_running.wait()  # two jobs at once: neither waited behind the other
        release.wait(timeout=10)

    workers.submit(blocking)
    workers.submit(blocking)
    both_running.wait()
    assert len({id(t) for t in ran_on}) == 2
    release.set()
    for thread in ran_on:
        thread.join(timeout=0.2)
    alive = [t for t in ran_on if t.is_alive()]
    for _ in range(50):  # the one that stays goes idle; the other ends
        if len(alive) == 1:
            break
        ran_on[0].join(timeout=0.1)
        alive = [t for t in ran_on if t.is_alive()]
    assert len(alive) == 1

    done = threading.Event()
    later: list[threading.Thread] = []
    workers.submit(lambda: (later.append(threading.current_thread()), done.set()))
    assert done.wait(timeout=10)
    assert later == alive  # the next job reuses the idle thread, its team warm


def test_a_thread_that_finishes_while_a_new_one_runs_ends() -> None:
    """The race a class meets: one of two trainings ends, a third starts on the idle thread,
    then the other ends: it must end too, or two teams outlast the trainings."""
    workers = Workers()
    gates = [threading.Event() for _ in range(3)]
    ran_on: dict[int, threading.Thread] = {}
    finished = [threading.Event() for _ in range(3)]

    def task(i: int) -> None:
        ran_on[i] = threading.current_thread()
        gates[i].wait(timeout=10)
        finished[i].set()

    workers.submit(lambda: task(0))
    workers.submit(lambda: task(1))
    gates[0].set()
    assert finished[0].wait(timeout=10)
    ran_on[0].join(timeout=10)  # another thread was alive: this one ends
    assert not ran_on[0].is_alive()
    workers.submit(lambda: task(2))  # a new thread: none is idle
    gates[1].set()
    assert finished[1].wait(timeout=10)
    ran_on[1].join(timeout=10)  # the third is still training: this one ends too
    assert not ran_on[1].is_alive()
    gates[2].set()
    assert finished[2].wait(timeout=10)
    ran_on[2].join(timeout=0.5)
    assert ran_on[2].is_alive()  # the last one alive stays, idle


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_failing_task_does_not_count_its_thread_idle() -> None:
    workers = Workers()
    started: list[threading.Thread] = []

    def fails() -> None:
        started.append(threading.current_thread())
        raise RuntimeError("boom")

    workers.submit(fails)
    for _ in range(100):
        if started:
            break
        threading.Event().wait(0.05)
    assert started, "the task never ran"
    started[0].join(timeout=10)
    assert not started[0].is_alive()
    done = threading.Event()
    took: list[threading.Thread] = []
    workers.submit(lambda: (took.append(threading.current_thread()), done.set()))
    assert done.wait(timeout=10)  # a new thread took it: none was idle
    took[0].join(timeout=0.5)
    assert took[0].is_alive()  # the failed thread is not counted: this one is the last, idle
