"""mirl's contract test, parametrized over every registered method (the kit plugin authors use too)."""

import pytest

from mirl.pluginhost import get_methods, get_tasks
from mirl.testing import check_method


# Methods whose only tasks are expensive run the contract once, where their scores are asserted too.
CHECKED_WITH_THEIR_SCORES = {"conv-probe": "tests/test_sokoban_drc.py (on sokoban/plan-readout-v1)"}

# A method that answers no smoke task is checked on a real task, twice (determinism: 15-35 s each): the one its
# family's tests also score it on where they do, so that they share the first pass (``scored``) ...
FAMILY_TESTS_SCORE_IT_ON = {"probe-weight": "doorkey/haskey-planted-v1",
                            "unit-correlation": "doorkey/haskey-planted-v1"}
# ... or, where no family test shares its scores, a smaller copy of that task: valid, deterministic answers need
# no particular size (goal-probe on the 15-agent misgen-predict: 2 × 15 s; on 4 agents, r = 1 … full: 2 × 4 s).
ZOO_PART = ("maze-ppo", "maze-r1-s0", "maze-r5-s0", "maze-rfull-s0")
SMALLER_TASK = {"goal-probe": lambda: misgen_predict_on(ZOO_PART)}


def misgen_predict_on(agent_ids):
    from mirl.tasks.maze.tasks import ZOO_SHA256, MisgenPredict

    return MisgenPredict({agent_id: ZOO_SHA256[agent_id] for agent_id in agent_ids})


def contract_tasks(name: str) -> list[str]:
    """The registered tasks the contract checks ``name`` on: the smoke tasks it answers, else one real task."""
    method = get_methods().get(name)
    answers = [t.spec.id for t in get_tasks() if method.supports(t.spec.answer_kind, t.spec.family, t.spec.offers)]
    smoke = [task_id for task_id in answers if task_id.startswith("smoke/")]
    if smoke or not answers:
        return smoke
    return [FAMILY_TESTS_SCORE_IT_ON.get(name, answers[0])]


def contract_param(name: str):
    """... and on the xdist worker of that family's tests (scored-<family>, see tests/conftest.py); it is slow."""
    tasks = contract_tasks(name)
    if not tasks or tasks[0].startswith("smoke/") or name in CHECKED_WITH_THEIR_SCORES:
        return name
    return pytest.param(name, marks=[pytest.mark.slow, pytest.mark.xdist_group(f"scored-{tasks[0].split('/')[0]}")])


@pytest.mark.parametrize("name", [contract_param(name) for name in get_methods().ids()])
def test_method_honours_the_contract(name, scored):
    if name in CHECKED_WITH_THEIR_SCORES:
        pytest.skip(f"{name}'s contract is checked in {CHECKED_WITH_THEIR_SCORES[name]}")
    task_ids = contract_tasks(name)
    if not task_ids:
        pytest.skip(f"{name} answers no registered task yet")
    if name in SMALLER_TASK:
        small = SMALLER_TASK[name]()
        assert small.spec.id == task_ids[0]
        results = check_method(get_methods().get(name), tasks=[small])
        assert all(r.status == "ok" for r in results)
        return  # never shared: the scores are the smaller task's
    results = check_method(get_methods().get(name), task_ids=task_ids)
    assert all(r.status == "ok" for r in results)
    scored.remember(results)  # the family tests that assert on these scores reuse them
