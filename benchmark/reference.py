"""`oracle`: returns the answer that is right by construction. It READS THE GROUND TRUTH.

Only tasks with planted ground truth (the smoke family) can provide one; the oracle exists to prove the
scorer (oracle ≈ 1 normalised), never as a method to compare against on a real task. It lives in the core, not
with the baselines that register it, because the runner must know it by its class (``mirl.runner.is_reference``)
and the core imports no plugin.
"""

from __future__ import annotations

from mirl.method import Method
from mirl.schemas import MethodInfo


class Oracle(Method):
    info = MethodInfo(
        name="oracle",
        version="1",
        answer_kinds=["readout", "unit_scores", "intervention", "prediction"],
        description="Reads the planted ground truth (smoke family only); proves that a perfect answer scores 1",
        families=["smoke"],
        compute="none: the answer is the task's planted ground truth (Task.oracle_answer)",
    )

    def solve(self, view):
        # the runner runs mirl's oracle in the scoring process (mirl.runner.is_reference), where the view still
        # holds its task; no method's view offers the ground truth
        return view._task.oracle_answer(view)
