"""Work spread over one worker process per core, results in order (large syncs and builds).

Workers start from a fresh interpreter (``forkserver`` where the platform has it, else ``spawn``),
never by forking this process: a build forks from a process whose threads (the lexical writer,
faiss, the encoder's OpenMP) may hold locks.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

IN_FLIGHT_PER_WORKER = 4  # tasks sent ahead per worker: results never pile up in memory


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def ordered_map(
    fn: Callable[[T], R],
    tasks: Iterable[T],
    workers: int,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Iterator[R]:
    """``fn`` of every task in ``workers`` worker processes, yielded in the tasks' order while the
    caller consumes them (``fn`` and the tasks must be picklable: ``fn`` a module-level function)."""
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context(
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    )
    todo = iter(tasks)
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=initializer, initargs=initargs
    ) as pool:
        pending = deque(
            pool.submit(fn, task) for task in itertools.islice(todo, IN_FLIGHT_PER_WORKER * workers)
        )
        while pending:
            done = pending.popleft().result()
            following = next(todo, None)
            if following is not None:
                pending.append(pool.submit(fn, following))
            yield done
