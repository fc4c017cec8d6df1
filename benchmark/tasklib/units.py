"""Unit-localization tasks: rank the agent's units; scored against exact truth where it is known (planted), or
by what ablating the top-ranked units does to behaviour (the ablation curve, against random orderings)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mirl.calibration import unit_ordering
from mirl.schemas import Edit
from mirl.scoring import ScoreReport
from mirl.seeding import test_seed
from mirl.task import Task
from mirl.units import unit_axis

ABLATE_PERCENTS = (1, 2, 5, 10, 20)


def top_units(order: list[tuple[str, int]], percent: float, at_least_one: bool = False) -> list[tuple[str, int]]:
    """The first ``percent``% of ``order`` (rounded up; ``at_least_one``: never none)."""
    count = math.ceil(percent / 100 * len(order))
    return order[: max(1, count) if at_least_one else count]


def units_by_hook(units: list[tuple[str, int]], hooks: list[str]) -> dict[str, list[int]]:
    """``units`` grouped by hook, in ``hooks``' order, each hook's indices sorted; hooks with none left out."""
    return {h: sorted(i for hh, i in units if hh == h) for h in hooks if any(hh == h for hh, _ in units)}


def mean_ablation(units: list[tuple[str, int]], means: dict[str, np.ndarray], hooks: list[str],
                  axes: dict[str, int] | None = None) -> list[Edit]:
    """Edits that set each of ``units`` to its mean activation (``means``: hook → mean map), one per hook in
    ``hooks``' order; the units lie on ``axes[hook]`` (default 0: channels; ``mirl.units.unit_axis``)."""
    axes = axes or {}
    return [Edit(hook=h, op="mean_ablate", channels=channels, vector=means[h], axis=axes.get(h, 0))
            for h, channels in units_by_hook(units, hooks).items()]


class AblationCurveTask(Task):
    """Rank units (channels, or heads or neurons: the spec's ``unit_level``); scored by mean-ablating the top 1,
    2, 5, 10 and 20% and measuring what the agent then does on the test episodes (one play per k), against the
    unedited play.

    A family sets ``channels`` (hook → unit count, in listing order) and implements ``unit_means(agent)`` (what
    ablated channels are set to), ``unedited(agent, seed)`` → (episodes, the unedited outcome), ``ablated(agent,
    episodes, seed, edits)`` → the outcome under ``edits``, and ``score_curve(curve)``; ``seed`` is the salted test
    seed. ``ordering``, ``curve`` and ``score_curve`` are what ``mirl.calibration.random_ordering_scores`` calls."""

    channels: dict[str, int]
    percents = ABLATE_PERCENTS

    def unit_means(self, agent: Any) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def unedited(self, agent: Any, seed: int) -> tuple[Any, Any]:
        raise NotImplementedError

    def ablated(self, agent: Any, episodes: Any, seed: int, edits: list[Edit]) -> Any:
        raise NotImplementedError

    def score_curve(self, curve: dict[str, Any]) -> ScoreReport:
        raise NotImplementedError

    def ordering(self, scores: dict[str, Any], seed: int) -> list[tuple[str, int]]:
        """Every channel as (hook, index), best first; ties broken by a shuffle seeded with ``seed``."""
        return unit_ordering(scores, self.channels, seed)

    def curve(self, agent: Any, order: list[tuple[str, int]], seed: int, means: dict | None = None,
              unedited: tuple | None = None) -> dict[str, Any]:
        """The outcome with the top k% of ``order`` ablated, per k; ``means`` and ``unedited`` are computed
        unless given. Returns {"base": unedited outcome, "rates": {k: outcome}, "episodes": ...}."""
        means = self.unit_means(agent) if means is None else means
        episodes, base = self.unedited(agent, seed) if unedited is None else unedited
        axes = {h: unit_axis(self.spec.unit_level, h, self.spec.hook_points[h]) or 0 for h in self.channels}
        rates = {k: self.ablated(agent, episodes, seed,
                                 mean_ablation(top_units(order, k), means, list(self.channels), axes))
                 for k in self.percents}
        return {"base": base, "rates": rates, "episodes": episodes}

    def score(self, answer: Any, seed: int) -> ScoreReport:
        agent = self.load_agent()
        s = test_seed(seed)
        # the unit means, the test episodes and the unedited play do not depend on the answer
        means, unedited = self.answer_free(s, lambda: (self.unit_means(agent), self.unedited(agent, s)))
        return self.score_curve(self.curve(agent, self.ordering(answer.scores, seed), s, means, unedited))
