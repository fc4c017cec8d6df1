"""mirl's contract test, run by this plugin against itself."""

from mirl.testing import check_method
from mirl_example_method.method import ClassMeans


def test_class_means_honours_the_mirl_contract():
    results = check_method(ClassMeans)
    assert {r.task_id for r in results} == {"smoke/goal-readout-v1", "smoke/next-action-v1"}
