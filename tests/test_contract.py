"""mirl's contract test, parametrized over every registered method (the kit plugin authors use too)."""

import pytest

from mirl.pluginhost import get_methods, get_tasks
from mirl.testing import check_method


# Methods whose only tasks are expensive run the contract once, where their scores are asserted too.
CHECKED_WITH_THEIR_SCORES = {"conv-probe": "tests/test_sokoban_drc.py (on sokoban/plan-readout-v1)"}


# Methods that answer no smoke task are checked on a real task, twice (determinism): 20-50 s each.
ON_A_REAL_TASK = {"das", "goal-probe", "interchange-scan", "probe-weight", "unit-correlation"}


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in ON_A_REAL_TASK else name
                                  for name in get_methods().ids()])
def test_method_honours_the_contract(name, scored):
    if name in CHECKED_WITH_THEIR_SCORES:
        pytest.skip(f"{name}'s contract is checked in {CHECKED_WITH_THEIR_SCORES[name]}")
    method = get_methods().get(name)
    answers = [t.spec.id for t in get_tasks() if method.supports(t.spec.answer_kind, t.spec.family, t.spec.offers)]
    smoke = [task_id for task_id in answers if task_id.startswith("smoke/")]
    if not answers:
        pytest.skip(f"{name} answers no registered task yet")
    results = check_method(method, task_ids=smoke or answers[:1])
    assert all(r.status == "ok" for r in results)
    scored.remember(results)  # the family tests that assert on these scores reuse them
