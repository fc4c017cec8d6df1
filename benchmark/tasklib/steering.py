"""Steering tasks: an activation edit should change what the agent does in its environment, measured against
size-matched random edits on the same episodes (any large enough perturbation shifts behaviour)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mirl.scoring import ScoreReport
from mirl.seeding import test_seed
from mirl.task import Task


class SteeringTask(Task):
    """Score an ``intervention`` answer by playing the test episodes unedited, edited and under the random-edit
    controls (``mirl.interventions.random_edit_controls``: four random directions, each with the norm of the
    change the edit made at its hook; none if the edit changed nothing, and then the unedited play is the control).

    A family implements ``play(agent, episodes, seed, edits, control)`` → (per-episode outcome arrays by name,
    each edit's mean change norm) and ``score_outcomes(unedited, edited, controls, seed)``; ``test_episodes(seed)``
    (default: the seed itself) is what every play of one scoring shares, e.g. the test levels. ``seed`` is the
    salted test seed; a control play may measure less (``control=True``: fewer episodes, fewer outcomes)."""

    def test_episodes(self, seed: int) -> Any:
        return seed

    def play(self, agent: Any, episodes: Any, seed: int, edits: Any = (), control: bool = False
             ) -> tuple[dict[str, np.ndarray], list[float]]:
        raise NotImplementedError

    def unedited(self, agent: Any, episodes: Any, seed: int) -> dict[str, np.ndarray]:
        """The unedited agent's outcomes (a task may add answer-free anchors, e.g. a ceiling's play)."""
        return self.play(agent, episodes, seed)[0]

    def score_outcomes(self, unedited: dict, edited: dict, controls: list[dict], seed: int) -> ScoreReport:
        raise NotImplementedError

    def score(self, answer: Any, seed: int) -> ScoreReport:
        from mirl.interventions import random_edit_controls  # torch: only when scoring

        agent = self.load_agent()
        s = test_seed(seed)

        def answer_free() -> tuple[Any, dict]:
            episodes = self.test_episodes(s)
            return episodes, self.unedited(agent, episodes, s)

        episodes, unedited = self.answer_free(s, answer_free)
        edited, sizes = self.play(agent, episodes, s, answer.edits)
        controls = [self.play(agent, episodes, s, edits, control=True)[0]
                    for edits in random_edit_controls(answer.edits, sizes, agent.hook_points(), seed)]
        return self.score_outcomes(unedited, edited, controls or [unedited], seed)
