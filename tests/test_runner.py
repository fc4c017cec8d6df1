"""Bad answers and misbehaving methods become stored `failed` results with a one-line reason."""

from __future__ import annotations

import copy
import time

import numpy as np
import pytest

from mirl import runner
from mirl.method import Method
from mirl.pluginhost import get_methods, get_tasks
from mirl.runner import evaluate
from mirl.schemas import Budget, Edit, Intervention, MethodInfo, Readout, UnitScores

ALL_KINDS = ["readout", "unit_scores", "intervention", "prediction"]


def make_method(solve, name="probe-under-test"):
    return type("M", (Method,), {
        "info": MethodInfo(name=name, version="0", answer_kinds=ALL_KINDS, description="test"),
        "solve": lambda self, view: solve(view),
    })


def readout(hook="encoder.hook_out", rows=392, outputs=49, value=0.0):
    return {"kind": "readout", "weights": {hook: np.full((rows, outputs), value).tolist()}, "bias": [0.0] * outputs}


def run(task_id, solve):
    return evaluate(get_tasks().get(task_id), make_method(solve), seed=0)


@pytest.mark.parametrize(
    ("task_id", "answer", "reason"),
    [
        ("smoke/goal-readout-v1", readout(hook="encoder.hook_outt"), "unknown hook point 'encoder.hook_outt' (did you mean 'encoder.hook_out'?)"),
        ("smoke/goal-readout-v1", readout(rows=100), "has 100 rows, but encoder.hook_out has 392 features"),
        ("smoke/goal-readout-v1", readout(outputs=3), "needs 49 decoder outputs, got 3"),
        ("smoke/goal-readout-v1", readout(value=float("nan")), "NaN or infinite"),
        ("smoke/goal-readout-v1", {"kind": "unit_scores", "scores": {}}, "asks for a readout answer, got unit_scores"),
        ("smoke/goal-readout-v1", 42, "asks for a readout answer, got int"),
        ("smoke/goal-readout-v1", {**readout(), "extra": 1}, "extra: Extra inputs are not permitted"),
        ("smoke/goal-units-v1", UnitScores(scores={"encoder.hook_out": np.zeros((8, 7))}), "has shape [8, 7], expected [8, 7, 7]"),
        ("smoke/goal-retarget-v1", Intervention(edits=[Edit(hook="encoder.hook_out", op="set", channels=[9], value=1.0)]), "channel(s) [9] out of range"),
        ("smoke/goal-retarget-v1", Intervention(edits=[Edit(hook="encoder.hook_out", op="add", vector=np.ones(5))]), "vector shape [5] does not fit [8, 7, 7]"),
        ("smoke/goal-retarget-v1", Intervention(edits=[Edit(hook="hook_obs", op="add", vector=np.ones(2))]), "unknown hook point 'hook_obs'"),
    ],
)
def test_malformed_answers_fail_with_a_clear_reason(task_id, answer, reason):
    result = run(task_id, lambda view: answer)
    assert result.status == "failed"
    assert reason in result.error
    assert "\n" not in result.error and result.score is None


def test_a_method_that_raises_is_recorded_with_where_it_raised():
    def solve(view):
        raise ZeroDivisionError("division by zero in my probe")

    result = run("smoke/goal-readout-v1", solve)
    assert result.status == "failed"
    assert result.error.startswith("method raised ZeroDivisionError at test_runner.py:")
    assert result.error.endswith("division by zero in my probe")


def test_forward_pass_budget_is_enforced_and_compute_is_counted():
    def greedy(view):
        for _ in range(200):  # 200 × 1000 forward passes > the 100k budget
            view.train_data()
        return readout()

    result = run("smoke/goal-readout-v1", greedy)
    assert result.status == "failed"
    assert "budget exceeded" in result.error and "forward passes" in result.error
    assert result.compute.forward_passes > 100_000

    ok = run("smoke/goal-readout-v1", lambda view: (view.train_data(n=300), readout())[1])
    assert ok.status == "ok" and ok.compute.forward_passes == 300


def test_env_steps_are_counted():
    def walker(view):
        env = view.make_env(num_envs=8)
        env.reset()
        for _ in range(10):
            env.step(np.zeros(8, dtype=np.int64))
        return readout()

    result = run("smoke/goal-readout-v1", walker)
    assert result.status == "ok" and result.compute.env_steps == 80


def slow_task(wall_seconds):
    task = copy.copy(get_tasks().get("smoke/goal-readout-v1"))
    budget = Budget(env_steps=1000, forward_passes=1000, wall_seconds=wall_seconds)
    task.spec = task.spec.model_copy(update={"budget": budget})
    return task


def test_wall_time_budget_fails_a_slow_method():
    def slow(view):
        time.sleep(0.4)
        return readout()

    result = evaluate(slow_task(0.2), make_method(slow), seed=0)
    assert result.status == "failed" and "wall time" in result.error


def test_watchdog_gives_up_on_a_method_that_never_returns(monkeypatch):
    monkeypatch.setattr(runner, "WATCHDOG_GRACE_SECONDS", 0.2)

    def hang(view):
        time.sleep(30)

    started = time.perf_counter()
    result = evaluate(slow_task(0.2), make_method(hang), seed=0, sealed=False)  # the in-process path's watchdog
    assert time.perf_counter() - started < 5
    assert result.status == "failed" and result.error == "budget exceeded: still running after 0.4 s (wall budget 0.2 s)"


def test_a_method_asked_for_an_answer_kind_it_does_not_declare_fails_cleanly():
    narrow = type("N", (Method,), {
        "info": MethodInfo(name="narrow", version="0", answer_kinds=["readout"], description="x"),
        "solve": lambda self, view: readout(),
    })
    result = evaluate(get_tasks().get("smoke/goal-units-v1"), narrow, seed=0)
    assert result.status == "failed" and "does not produce unit_scores answers" in result.error


def test_answers_may_be_models_dicts_or_numpy_and_round_trip_json():
    weights = np.zeros((392, 49))
    model = Readout(weights={"encoder.hook_out": weights}, bias=np.zeros(49))
    again = Readout.model_validate_json(model.model_dump_json())
    np.testing.assert_array_equal(again.weights["encoder.hook_out"], weights)
    assert run("smoke/goal-readout-v1", lambda view: model).status == "ok"


@pytest.mark.parametrize("seed", [-1, 2**32, 10**30, 1.5, True, "0"])
def test_evaluate_refuses_a_seed_out_of_range(seed):
    from mirl.errors import MirlError

    with pytest.raises(MirlError, match=r"out of range: use an integer 0 <= seed < 2\*\*32"):
        evaluate(get_tasks().get("smoke/goal-readout-v1"), get_methods().get("random"), seed=seed)
