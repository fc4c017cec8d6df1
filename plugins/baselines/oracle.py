"""`oracle`: returns the answer that is right by construction. It READS THE GROUND TRUTH.

Only tasks with planted ground truth (the smoke family) can provide one; the oracle exists to prove the
scorer (oracle ≈ 1 normalised), never as a method to compare against on a real task.
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
        compute="none: the answer is the task's planted ground truth (view.oracle_answer())",
    )

    def solve(self, view):
        return view.oracle_answer()
