"""How long each CoinRun and maze task's default scoring takes, against the cost of episodes it cannot avoid.

The baseline per family is one plain pass of its agent over as many test episodes as its tasks score (CoinRun:
1,000 moved-coin episodes, outcomes only, timed on an eighth of them as below; maze: 500 test mazes with the goal
anywhere; sampled actions, no hooks, no edits, no per-step labels):
what any scorer of such a task must pay at least once. Each task is then scored once with the `random`
method's answer through the full runner (view, validation, scoring), and the ratio to the baseline is
reported; saw-locate plays six passes (no ablation + five ablation sizes), so its ratio is ~6 by design. The
target is absolute: each task's default scoring under 3 minutes on the 2 CPU cores. A warning says
when a task misses it. The assertion is on the ratio, which load slows on both sides alike (with one core kept
busy saw-locate took 373 s, near an absolute limit of 420 s that its idle 185 s left far away).

CoinRun's scorings and its baseline are timed on an eighth of their test episodes: at full size they were ~470 s
of the suite's ~1,550 s of CPU, spent on nothing else (scoring time is at most linear in test episodes, and eight
times the eighth's seconds bounds the default scoring's from above, since the fixed costs, loading the agent and
saw-locate's channel means, do not shrink: saw-locate takes 46 s on an eighth, 63 s on a quarter, 185 s in full).
Maze's scorings are cheap and shared with the maze tests at full size.
"""

from __future__ import annotations

import time
import warnings

import pytest

TARGET_SECONDS = 180.0
# Measured idle (2026-12-07), CoinRun on a quarter: baseline 11 s, saw-locate 5.6×, coin-steer 4.7× (its four
# control plays of 62 episodes each last as long as their longest episode), goal-predict ~1.5×; on an eighth the
# fixed costs weigh more (saw-locate 46 s, coin-steer 33 s); maze baseline 3 s,
# misgen-predict ~14× (15 agents), retarget ~5×. Room for the baseline and the scoring to meet different load.
LIMIT_RATIO = {"coinrun": 15.0, "maze": 40.0}
COINRUN = ["coinrun/goal-predict-v1", "coinrun/coin-steer-v1", "coinrun/saw-locate-v1", "coinrun/coin-readout-v1"]
MAZE = ["maze/goal-readout-v1", "maze/retarget-v1", "maze/goal-suppress-v1", "maze/misgen-predict-v1"]
# test episodes (or states) timed = the task's test_size // SHARE[family]; the full time is reported as SHARE × that
SHARE = {"coinrun": 8, "maze": 1}
# each task runs on the xdist worker of its family's tests (scored-coinrun, scored-maze): they share evaluations
IN_ITS_FAMILY_GROUP = [pytest.param(task_id, marks=pytest.mark.xdist_group(f"scored-{task_id.split('/')[0]}"))
                       for task_id in COINRUN + MAZE]


def _baseline_pass(family: str) -> float:
    from mirl.pluginhost import get_tasks

    started = time.perf_counter()
    if family == "coinrun":
        from mirl.interventions import run_episodes
        from mirl.tasks.coinrun.tasks import moved_coin_env

        agent = get_tasks().get(COINRUN[0]).load_agent()
        started = time.perf_counter()
        run_episodes(agent, moved_coin_env("test", 0), 1000 // SHARE[family], seed=0, greedy=False, record_labels=False)
    else:
        from mirl.tasks.maze.card import goal_or_corner_first

        agent = get_tasks().get(MAZE[0]).load_agent()
        started = time.perf_counter()
        goal_or_corner_first(agent, None, episodes=500 // SHARE[family], seed=0)
    return time.perf_counter() - started


@pytest.fixture(scope="module")
def baselines():
    return {}  # family → seconds, measured on first use


@pytest.mark.slow
@pytest.mark.parametrize("task_id", IN_ITS_FAMILY_GROUP)
def test_default_scoring_time(benchmark, baselines, scored, task_id):
    from mirl.pluginhost import get_tasks

    if task_id not in get_tasks().ids():
        pytest.skip(f"{task_id} is not registered yet (misgen-predict registers once its zoo is complete)")
    family = task_id.split("/")[0]
    if family not in baselines:
        baselines[family] = _baseline_pass(family)
    baseline_seconds = baselines[family]
    share = SHARE[family]
    sizes = {"test_size": get_tasks().get(task_id).spec.test_size // share} if share > 1 else {}
    # the run is shared with the end-to-end tests that assert on random's score (tests/conftest.py: scored)
    result = benchmark.pedantic(scored, args=(task_id, "random"), kwargs=sizes, rounds=1, iterations=1)
    assert result.status == "ok", result.error
    seconds = scored.seconds[(task_id, "random", 0, *sorted(sizes.items()))]
    default_seconds = share * seconds  # at most: fixed costs do not scale with the episodes
    benchmark.extra_info.update(seconds=round(seconds, 1), baseline_seconds=round(baseline_seconds, 1),
                                share=share, default_seconds_at_most=round(default_seconds, 1),
                                ratio=round(seconds / baseline_seconds, 2), normalized=result.normalized_score)
    if default_seconds > TARGET_SECONDS:
        warnings.warn(f"{task_id}: its default scoring takes up to {default_seconds:.0f} s ({share} × {seconds:.0f} s "
                      f"on 1/{share} of its test episodes), over the {TARGET_SECONDS:.0f} s target", stacklevel=1)
    assert seconds < LIMIT_RATIO[family] * baseline_seconds, (
        f"{task_id}: {seconds:.0f} s, {seconds / baseline_seconds:.1f}× the baseline pass ({baseline_seconds:.0f} s)")
