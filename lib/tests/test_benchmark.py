"""make bench's figures (forklab.meters.benchmark): each part returns the figures it prints. The values are
never asserted against targets - a busy machine must not fail a test - only that they were measured."""
from __future__ import annotations

from forklab.meters.benchmark import (WALL_STEPS, NotebookSizedCaller, experiment_vs_floor, notebook_sized_caller_cost,
                               wall_stages)


def test_the_experiment_is_measured_beside_the_floor_in_cpu_and_wall_time():
    r = experiment_vs_floor(runs=40, blocks=4)
    assert r["runs"] == 40
    for key in ("experiment_cpu_ms", "floor_cpu_ms", "ratio", "experiment_mean_ms", "floor_wall_ms", "wall_ratio"):
        assert r[key] > 0, key


def test_an_experiments_wall_time_is_split_into_steps_that_follow_each_other():
    steps = wall_stages(runs=20)
    assert list(steps)[:len(WALL_STEPS)] == [name for name, _, _ in WALL_STEPS]
    # each step ends where the next begins, on one clock: none can be negative
    assert all(steps[name] >= 0 for name, _, _ in WALL_STEPS), steps


def test_the_notebook_sized_caller_holds_what_a_notebook_holds():
    caller = NotebookSizedCaller(python_mb=10, data_mib=5)
    assert len(caller.data) == 5 << 20 and len(caller.objects) == 10 * 4300
    assert 5 < caller.rss_mb < 30, caller.rss_mb     # less where memory freed earlier is reused


def test_the_notebook_sized_callers_cost_is_measured_for_both_callers_and_both_sides():
    cost = notebook_sized_caller_cost(runs=20, blocks=2)
    assert sorted(cost) == ["bare python_us", "bare server_us", "notebook-sized python_us", "notebook-sized server_us"]
    assert all(v >= 0 for v in cost.values()) and cost["bare python_us"] > 0
