"""Work over worker processes: results in the tasks' order, a worker's exception raised here."""

from __future__ import annotations

import math

import pytest

from kb.parallel import cores, ordered_map


def test_results_come_back_in_the_tasks_order():
    tasks = [float(n * n) for n in range(1, 21)]  # more tasks than are sent ahead (4 per worker)
    assert list(ordered_map(math.sqrt, tasks, 2)) == [float(n) for n in range(1, 21)]


def test_a_workers_exception_reaches_the_caller():
    with pytest.raises(ValueError, match="math domain error"):
        list(ordered_map(math.sqrt, [4.0, -1.0, 9.0], 2))


def test_cores_counts_at_least_one():
    assert cores() >= 1
