"""The cards of `sokoban-drc` and `sokoban-ff`: held-out solve rates (sampled and greedy, 1 and 2 boxes), the
thinking-steps curve and, for the DRC, the plan probes of the tasks against the observation-only floor."""

from __future__ import annotations

from functools import partial

from . import env as sokoban
from .agent import level_pool, play
from .sizes import BOXES, INTERIOR, SIZE
from .tasks import TARGETS, plan_probe_f1


def solve_rate(agent, levels: sokoban.Levels, **kwargs) -> float:
    return float(play(agent, levels, **kwargs)["solved"].mean())


def evaluate(agent, feed_forward: bool = False) -> dict:
    """Card facts: held-out solve rates (sampled and greedy, 1 and 2 boxes) and the thinking-steps curve."""
    test2, test1 = level_pool("test", 2), level_pool("test", 1)
    metrics = {
        "test_solved_2box": solve_rate(agent, test2),
        "test_solved_2box_greedy": solve_rate(agent, test2, greedy=True),
        "test_solved_1box": solve_rate(agent, test1),
    }
    for k in (2, 4, 8):
        metrics[f"test_solved_2box_thinking{k}"] = solve_rate(agent, test2, thinking=k)
    facts = [f"solves {metrics['test_solved_2box']:.1%} of held-out 2-box levels (greedy "
             f"{metrics['test_solved_2box_greedy']:.1%}); with 2 / 4 / 8 thinking steps "
             + " / ".join(f"{metrics[f'test_solved_2box_thinking{k}']:.1%}" for k in (2, 4, 8))]
    if not feed_forward:
        metrics.update(plan_probe_f1(agent))
        facts += [f"plan probe macro-F1 ({target}), hidden vs observation: 1×1 "
                  f"{metrics[f'plan_probe_{target}_f1_hidden_1x1']:.3f} vs "
                  f"{metrics[f'plan_probe_{target}_f1_observation_1x1']:.3f}, 3×3 "
                  f"{metrics[f'plan_probe_{target}_f1_hidden_3x3']:.3f} vs "
                  f"{metrics[f'plan_probe_{target}_f1_observation_3x3']:.3f}" for target in TARGETS]
    return {
        "metrics": metrics,
        "evaluation": f"{len(test2):,} held-out 2-box and {len(test1):,} 1-box 6×6 levels (the test tenth, never "
                      "trained on), each played once with sampled actions unless 'greedy'; 'thinkingK': K NOOP "
                      "ticks on the first observation before the first move",
        "environment": {"interior": INTERIOR, "boxes": BOXES, "step_limit": sokoban.max_steps(SIZE, SIZE),
                        "generator": "reverse play, max-displacement state"},
        "behavioural_facts": facts,
    }


def agent_specs() -> list:
    """The family's agents as it registers them: their specs with this card's measure."""
    from .agent import spec_drc, spec_ff

    return [spec_drc(evaluate), spec_ff(partial(evaluate, feed_forward=True))]
