"""The example family keeps mirl's task contract, and mirl's built-in methods answer its tasks."""

from mirl.pluginhost import get_methods, get_tasks
from mirl.testing import check_method, check_task, resized


def family_tasks():
    tasks = [task for task in get_tasks() if task.spec.family == "example"]
    assert [task.spec.id for task in tasks] == ["example/distance-readout-v1", "example/success-predict-v1"]
    return tasks


def test_tasks_keep_the_task_contract():
    for task in family_tasks():
        check_task(resized(task, train_size=500, test_size=500))


def test_a_linear_probe_answers_both_tasks_above_chance():
    small = [resized(task, train_size=1000, test_size=1000) for task in family_tasks()]
    for result in check_method(get_methods().get("linear-probe"), tasks=small):
        assert result.normalized_score > 0.5, (result.task_id, result.normalized_score)
