"""The cards of `sokoban-drc` and `sokoban-ff`: held-out solve rates (sampled and greedy, 1 and 2 boxes), the
thinking-steps curve and, for the DRC, the plan probes of the tasks against the observation-only floor."""

from __future__ import annotations

from functools import partial

import numpy as np

from mirl.seeding import derive_seed
from mirl.tasklib import measured_facts

from . import env as sokoban
from .sizes import BOXES, INTERIOR, SIZE
from .tasks import TARGETS, plan_probe_f1, play

THINKING = (2, 4, 8)


def test_levels(boxes: int, seed: int) -> sokoban.Levels:
    """Seed 0: the fixed held-out pool the first card was measured on; other seeds: fresh held-out levels."""
    if seed == 0:
        return sokoban.level_pool("test", boxes)
    return sokoban.generate(sokoban.TEST_POOL, derive_seed(seed, "card-levels", str(boxes)), INTERIOR, boxes,
                            split="test")


def evaluate(agent, feed_forward: bool = False) -> dict:
    """Card facts: held-out solve rates (sampled and greedy, 1 and 2 boxes) and the thinking-steps curve, each
    pooled over three seeds of 2,000 levels with a 95% CI; the DRC's plan probes (one seed)."""

    def solved(boxes: int = BOXES, **kwargs):
        def values(seed: int):
            result = play(agent, test_levels(boxes, seed), seed=seed, **kwargs).terminated
            return result, np.arange(len(result))  # a level each

        return values

    measures = {"test_solved_2box": solved(), "test_solved_2box_greedy": solved(greedy=True),
                "test_solved_1box": solved(boxes=1),
                **{f"test_solved_2box_thinking{k}": solved(thinking=k) for k in THINKING}}
    facts = measured_facts(measures)
    m, ci = dict(facts["metrics"]), facts["intervals"]

    def quoted(name: str) -> str:
        return f"{m[name]:.1%} [{ci[name][0]:.1%}, {ci[name][1]:.1%}]"

    lines = [f"solves {quoted('test_solved_2box')} of held-out 2-box levels (greedy "
             f"{quoted('test_solved_2box_greedy')}) and {quoted('test_solved_1box')} of 1-box ones; with 2 / 4 / 8 "
             "thinking steps " + " / ".join(quoted(f"test_solved_2box_thinking{k}") for k in THINKING)]
    if not feed_forward:
        m.update(plan_probe_f1(agent))
        lines += [f"plan probe macro-F1 ({target}), hidden vs observation: 1×1 "
                  f"{m[f'plan_probe_{target}_f1_hidden_1x1']:.3f} vs "
                  f"{m[f'plan_probe_{target}_f1_observation_1x1']:.3f}, 3×3 "
                  f"{m[f'plan_probe_{target}_f1_hidden_3x3']:.3f} vs "
                  f"{m[f'plan_probe_{target}_f1_observation_3x3']:.3f}" for target in TARGETS]
    return {
        **facts, "metrics": m,
        "evaluation": f"3 seeds × {sokoban.TEST_POOL:,} held-out 2-box and 1-box 6×6 levels (the test tenth, never "
                      "trained on; seed 0: the fixed pools, then fresh ones), each played once with sampled actions "
                      "unless 'greedy', pooled; 95% CIs resample levels; 'thinkingK': K NOOP ticks on the first "
                      "observation before the first move",
        "environment": {"interior": INTERIOR, "boxes": BOXES, "step_limit": sokoban.max_steps(SIZE, SIZE),
                        "generator": "reverse play, max-displacement state"},
        "behavioural_facts": lines,
    }


def agent_specs() -> list:
    """The family's agents as it registers them: their specs with this card's measure."""
    from .agent import spec_drc, spec_ff

    return [spec_drc(evaluate), spec_ff(partial(evaluate, feed_forward=True))]
