"""The Sokoban tasks: read the DRC's plan out of its hidden and cell states, steer its route, locate its planning
units. Registered once `sokoban-drc` ships (its sha256 pinned below).

Test levels are fresh 6×6 two-box levels of the held-out "test" tenth (never trained on), generated from the
salted test seed; methods get "train" levels only. Heavy imports (torch) happen inside methods.
"""

from __future__ import annotations

import functools
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from mirl.pins import read_pins
from mirl.schemas import AgentRef, Budget, MetricSpec, Normalization, TaskSpec
from mirl.scoring import ScoreReport
from mirl.seeding import derive_seed
from mirl.task import Task, TaskView, TrainData
from mirl.tasklib import (ABLATE_PERCENTS, AblationCurveTask, ReadoutTask, SteeringTask, bootstrap_rng, mean_report,
                          pick_states, rate_curve_ci)

from . import env as sokoban
from .sizes import DRC_CHANNELS, DRC_DEPTH, DRC_TICKS, INTERIOR, SIZE

FOLDER = Path(__file__).parent
SQUARES = INTERIOR * INTERIOR
CLASSES = 5  # up, down, left, right, never
TARGETS = ("box", "agent")  # plan-readout's two label maps, in the output layout's order
STATE_HOOKS = {f"core.layer{d}.tick{n}.hook_{k}": [DRC_CHANNELS, INTERIOR, INTERIOR]
               for d in range(DRC_DEPTH) for n in range(DRC_TICKS) for k in ("h", "c")}
H_HOOKS = {name: shape for name, shape in STATE_HOOKS.items() if name.endswith("hook_h")}
EDIT_HOOKS = {"encoder.hook_out": [DRC_CHANNELS, INTERIOR, INTERIOR], **STATE_HOOKS}
REFERENCES = [
    "Guez et al. 2019, An investigation of model-free planning (arXiv 1901.03559)",
    "Taufeeque et al. 2024, Planning in a recurrent neural network that plays Sokoban (arXiv 2407.15421)",
    "Bush et al. 2025, Interpreting Emergent Planning in Model-Free Reinforcement Learning (arXiv 2504.01871)",
]


def agent_ref(sha256: str) -> AgentRef:
    return AgentRef(id="sokoban-drc", checkpoint="sokoban-drc.pt", sha256=sha256, card="sokoban-drc.card.json")


def levels_for(seed: int, n: int, split: str, boxes: int = 2) -> sokoban.Levels:
    return sokoban.generate(n, seed % 2**63, INTERIOR, boxes, split=split)


def play(agent, levels: sokoban.Levels, thinking: int = 0, greedy: bool = False, seed: int = 0, edits=(),
         num_envs: int = 256):
    """Every level of ``levels`` played once, in order, ``num_envs`` at a time (``mirl.interventions.run_episodes``:
    episode k is level k): ``terminated`` is solved; ``final_info`` holds ``visited_before_push`` and
    ``first_push_from`` (``SokobanVecEnv``). ``thinking``: at an episode's first step the agent sees its first
    observation ``1 + thinking`` times before it acts (NOOP ticks, as Guez et al.; a feed-forward agent is
    unaffected); ``edits`` act on them too, as step 0."""
    from mirl.interventions import run_episodes

    expected = tuple(agent.hook_points()["hook_obs"])
    if (7, levels.height - 2, levels.width - 2) != expected:
        raise ValueError(f"the levels' observations are 7×{levels.height - 2}×{levels.width - 2} but the agent "
                         f"takes {'×'.join(map(str, expected))}; use {expected[1] + 2}×{expected[2] + 2} boards "
                         "(border included)")
    env = sokoban.SokobanVecEnv(min(num_envs, len(levels)), levels, order="sequential")
    if thinking and getattr(agent, "recurrent", False):
        agent = Thinking(agent, thinking)
    return run_episodes(agent, env, len(levels), edits=list(edits), seed=seed, greedy=greedy, record_labels=False)


class Thinking:
    """A recurrent agent that ticks ``ticks`` extra times on each episode's first observation before it acts."""

    def __init__(self, agent, ticks: int):
        self.agent, self.ticks = agent, ticks

    def __getattr__(self, name: str):
        return getattr(self.agent, name)

    def act(self, obs, state, starts):
        import torch

        state = self.agent.reset_rows(state, starts)
        if bool(starts.any()):
            fresh = starts.view(-1, *([1] * (state[0].ndim - 1)))
            for _ in range(self.ticks):  # only envs at their first step take the tick
                _, _, thought = self.agent(obs, state)
                state = tuple(torch.where(fresh, t, s) for s, t in zip(state, thought))
        return self.agent(obs, state)


class SokobanTask(Task):
    folder = FOLDER

    def build_agent(self):
        from .agent import build_drc

        return build_drc()

    def make_train_env(self, view: TaskView, num_envs: int):
        from mirl.envs import BudgetedEnv

        levels = levels_for(derive_seed(view.train_seed, "env-levels"), 2000, "train")
        return BudgetedEnv(sokoban.SokobanVecEnv(num_envs, levels, seed=derive_seed(view.train_seed, "env")),
                           view.meter)

    def episodes(self, agent, levels: sokoban.Levels, seed: int, hooks=()):
        """One sampled-action episode per level (start order), with plan labels and activations at ``hooks``."""
        from mirl.rollouts import collect

        env = sokoban.SokobanVecEnv(min(64, len(levels)), levels, order="sequential")
        return collect(agent, env, episodes=len(levels), hooks=list(hooks), seed=seed % 2**31,
                       future_labels=lambda r: sokoban.plan_labels(r, SIZE))

    def states(self, agent, levels: sokoban.Levels, seed: int, hooks, n: int) -> TrainData:
        """Up to ``n`` states (shuffled, seeded) of one episode per level, with plan labels; -1 on walls."""
        rollouts = self.episodes(agent, levels, seed, hooks)
        states = pick_states(rollouts, rollouts.step_mask(), n, seed)
        picked = states.labels
        walls = picked["walls"][:, sokoban.interior_squares(SIZE, SIZE)]
        box = np.where(walls, -1, picked["box_future_direction"].astype(np.int64))
        agent_dir = np.where(walls, -1, picked["agent_future_direction"].astype(np.int64))
        states.labels = {"plan_directions": np.concatenate([box, agent_dir], axis=1), "box_future_direction": box,
                         "agent_future_direction": agent_dir, "action": picked["action"]}
        return states


# ----------------------------------------------------------------------------------------------------
# 1. plan-readout


def macro_f1_counts(predicted: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per instance, per class: [N, 3, K] counts of true positives, false positives and false negatives over
    the instance's squares (labels < 0 are left out). Summing rows and applying ``macro_f1`` gives the F1."""
    valid = labels >= 0
    k = np.arange(CLASSES)[None, None, :]
    p = (predicted[..., None] == k) & valid[..., None]
    t = (labels[..., None] == k) & valid[..., None]
    return np.stack([(p & t).sum(1), (p & ~t).sum(1), (~p & t).sum(1)], axis=1)


def macro_f1(counts: np.ndarray) -> np.ndarray:
    """Macro-F1 = mean over classes of 2TP / (2TP + FP + FN), over the classes that occur (labelled or
    predicted); ``counts`` [..., 3, K]."""
    tp, fp, fn = counts[..., 0, :], counts[..., 1, :], counts[..., 2, :]
    denominator = 2 * tp + fp + fn
    present = denominator > 0
    f1 = np.where(present, 2 * tp / np.maximum(denominator, 1), 0.0)
    return f1.sum(-1) / np.maximum(present.sum(-1), 1)


class PlanReadout(SokobanTask, ReadoutTask):
    """Decode, per square, where the agent and the next box will leave it (Bush et al.'s C_A and C_B)."""

    def __init__(self, sha256: str):
        self.spec = TaskSpec(
            id="sokoban/plan-readout-v1",
            title="Read the Sokoban agent's plan out of its recurrent state",
            question="Does the DRC's hidden state say, for every square, in which direction the agent and the next "
            "box will leave it later in the episode?",
            description="States from sampled-action episodes of the agent on fresh 6×6 two-box test levels. Labels "
            "per interior square (Bush et al.'s concepts): the direction (up, down, left, right, never) in which the "
            "agent next leaves the square, and in which the next box to leave it is pushed, at this step or later "
            "in the episode. Output layout: 360 logits = target (box, agent) × square (36, row-major) × class (5); "
            "the prediction per (target, square) is the argmax of its 5. Wall squares are left out. Decoders read "
            "the ConvLSTM hidden and cell states (every layer and tick). Primary: the mean of the box and agent "
            "macro-F1, normalised between a 3×3 convolutional probe on the observation alone (0, fitted by the "
            "scorer on the train split) and 1.",
            answer_kind="readout", agent=agent_ref(sha256), hook_points=STATE_HOOKS,
            target="plan_directions", output_dim=len(TARGETS) * SQUARES * CLASSES, primary_metric="macro_f1",
            metrics=[
                MetricSpec(name="macro_f1", higher_is_better=True, description="mean of box and agent macro-F1"),
                MetricSpec(name="box_macro_f1", higher_is_better=True, description="C_B: box push directions"),
                MetricSpec(name="agent_macro_f1", higher_is_better=True, description="C_A: agent move directions"),
                MetricSpec(name="observation_probe_macro_f1", higher_is_better=True,
                           description="the floor: a 3×3 conv probe on the observation"),
            ],
            normalization=Normalization(floor=None, ceiling=1.0,
                                        floor_source="3×3 conv probe on the observation, fitted by the scorer",
                                        ceiling_source="perfect decoding"),
            budget=Budget(env_steps=200_000, forward_passes=200_000, wall_seconds=600.0),
            train_size=5000, test_size=4000, references=REFERENCES,
        )

    def train_levels(self, seed: int) -> sokoban.Levels:
        return levels_for(derive_seed(seed, "readout-levels"), self.spec.train_size // 6, "train")

    def train_data(self, view: TaskView, n: int, hooks: list[str]) -> TrainData:
        """States of the agent's own episodes on train levels; labels ``plan_directions`` [N, 72] (box squares
        then agent squares, classes 0-4, -1 on walls), and the two maps separately."""
        return self.states(view.agent, self.train_levels(view.train_seed), derive_seed(view.train_seed, "ep"),
                           hooks, n)

    def observation_floor(self, train: TrainData, test: TrainData, seed: int) -> float:
        """Macro-F1 of a 3×3 conv probe on the observation (one probe per target), fitted on ``train``."""
        from mirl.probes import conv_probe_logits, fit_conv_probe

        counts = []
        for t in range(len(TARGETS)):
            span = slice(t * SQUARES, (t + 1) * SQUARES)
            w, b = fit_conv_probe([train.obs], train.labels["plan_directions"][:, span], CLASSES, kernel=3, seed=seed)
            predicted = conv_probe_logits([test.obs], w, b, kernel=3).argmax(-1)
            counts.append(macro_f1_counts(predicted, test.labels["plan_directions"][:, span]).sum(0))
        return float(np.mean([macro_f1(c) for c in counts]))

    def test_states(self, agent, seed: int, hooks: list[str]) -> TrainData:
        return self.states(agent, levels_for(seed, self.spec.test_size // 6, "test"), seed, hooks, self.spec.test_size)

    def score_outputs(self, outputs: np.ndarray, states: TrainData, seed: int) -> ScoreReport:
        """The argmax per (target, square) against the labels; the floor is the observation probe's, fitted on a
        train split drawn for this seed."""
        train = self.states(self.load_agent(), self.train_levels(derive_seed(seed, "floor")),
                            derive_seed(seed, "floor-ep"), [], self.spec.train_size)
        predicted = outputs.reshape(len(states), len(TARGETS) * SQUARES, CLASSES).argmax(-1)
        return self.score_predictions(predicted, states.labels["plan_directions"],
                                      self.observation_floor(train, states, seed), seed)

    def score_predictions(self, predicted: np.ndarray, labels: np.ndarray, floor: float, seed: int) -> ScoreReport:
        """``predicted`` and ``labels`` [N, 72] (box squares, then agent squares)."""
        per_target = [macro_f1_counts(predicted[:, t * SQUARES:(t + 1) * SQUARES],
                                      labels[:, t * SQUARES:(t + 1) * SQUARES]) for t in range(len(TARGETS))]
        counts = np.stack(per_target, axis=1)  # [N, targets, 3, K]
        f1 = macro_f1(counts.sum(0))  # [targets]
        weights = bootstrap_rng(seed).multinomial(len(counts), np.full(len(counts), 1 / len(counts)), size=1000)  # resampled states
        boot = macro_f1(np.einsum("bn,ntck->btck", weights, counts)).mean(-1)
        return ScoreReport(
            metrics={"macro_f1": float(f1.mean()), "box_macro_f1": float(f1[0]), "agent_macro_f1": float(f1[1]),
                     "observation_probe_macro_f1": floor},
            score=float(f1.mean()), ci=(float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))),
            n=len(counts), floor=floor, ceiling=1.0,
        )


# ----------------------------------------------------------------------------------------------------
# 2. plan-steer


# The short route's square: levels are chosen (and rotated or mirrored) so that every shortest walk from the
# start to the first push of an optimal solution passes this interior square, and avoiding it costs ≥ DETOUR
# more steps. (0, 2) — the top edge, third square — is in the orbit of the squares that qualify most often.
SHORTCUT = (0, 2)
DETOUR = 4


def _walk_distances(blocked: np.ndarray, source: int, width: int) -> np.ndarray:
    distance = np.full(blocked.shape, 10**6, dtype=np.int64)
    distance[source] = 0
    queue = deque([source])
    while queue:
        s = queue.popleft()
        for o in sokoban.offsets(width):
            t = s + o
            if not blocked[t] and distance[t] > distance[s] + 1:
                distance[t] = distance[s] + 1
                queue.append(t)
    return distance


def _walk_distances_without(blocked: np.ndarray, square: int, source: int, width: int) -> np.ndarray:
    """Walk distances from ``source`` with ``square`` walled off as well (10**6: unreachable)."""
    without = blocked.copy()
    without[square] = True
    return _walk_distances(without, source, width)


def symmetry_sources(w: int, k: int) -> np.ndarray:
    """For the ``k``-th of the square's 8 symmetries (k // 2 quarter turns, then a transpose if k is odd): the
    square of the original board that lands on each square of the turned one."""
    a = np.rot90(np.arange(w * w).reshape(w, w), k // 2)
    return (a.T if k % 2 else a).ravel().copy()


def dihedral(levels: sokoban.Levels, i: int, k: int) -> sokoban.Levels:
    """Level ``i`` under the ``k``-th symmetry (``symmetry_sources``); Sokoban's rules are the same under all."""
    h = w = levels.height
    sources = symmetry_sources(w, k)
    agent = int(np.flatnonzero(sources == levels.agent[i])[0])
    return sokoban.Levels(h, w, levels.walls[i][sources][None], levels.targets[i][sources][None],
                          levels.boxes[i][sources][None], np.array([agent]))


@functools.lru_cache(maxsize=8)  # a scorer plays the same levels unedited, edited and under four controls
def shortcut_levels(seed: int, n: int, split: str = "test") -> sokoban.Levels:
    """``n`` test levels with two routes to the first push: the short one through ``SHORTCUT``, a long one at
    least ``DETOUR`` steps longer. Candidates are generated, solved, and turned so that their cut square lands on
    ``SHORTCUT``; about 1 in 30 qualifies."""
    w = SIZE
    target = (SHORTCUT[0] + 1) * w + SHORTCUT[1] + 1
    chosen: list[sokoban.Levels] = []
    batch = 0
    while len(chosen) < n:
        candidates = levels_for(derive_seed(seed, "shortcut", str(batch)), 2000, split)
        batch += 1
        for i in range(len(candidates)):
            solution = sokoban.solve(candidates, i)
            boxes = set(np.flatnonzero(candidates.boxes[i]).tolist())
            square, path = int(candidates.agent[i]), [int(candidates.agent[i])]
            for action in solution:
                nxt = square + int(sokoban.offsets(w)[action])
                if nxt in boxes:
                    break
                square = nxt
                path.append(square)
            blocked = candidates.walls[i] | candidates.boxes[i]
            shortest = _walk_distances(blocked, path[0], w)[square]
            for cut in path[1:-1]:
                detour = _walk_distances_without(blocked, cut, path[0], w)[square]
                if not DETOUR + shortest <= detour < 10**6:
                    continue
                for k in range(8):
                    if symmetry_sources(w, k)[target] == cut:
                        chosen.append(dihedral(candidates, i, k))
                        break
                break
            if len(chosen) == n:
                break
    return sokoban.Levels.concat(chosen)


def _cut_squares(levels: sokoban.Levels, i: int) -> list[int]:
    """Level ``i``'s free squares (the start excepted) whose wall-off leaves some square next to a box reachable
    but at least ``DETOUR`` steps farther from the start: where a route to a first push can be cut."""
    w = levels.width
    blocked = levels.walls[i] | levels.boxes[i]
    start = int(levels.agent[i])
    near = _walk_distances(blocked, start, w)
    beside_box = {int(b - o) for b in np.flatnonzero(levels.boxes[i]) for o in sokoban.offsets(w)}
    beside_box = [p for p in beside_box if near[p] < 10**6]
    cuts = []
    for c in np.flatnonzero(~blocked & (near < 10**6)):
        if c == start:
            continue
        far = _walk_distances_without(blocked, c, start, w)
        if any(near[p] + DETOUR <= far[p] < 10**6 for p in beside_box if p != c):
            cuts.append(int(c))
    return cuts


def agent_shortcut_levels(agent, seed: int, n: int, split: str) -> sokoban.Levels:
    """``n`` levels on which ``agent`` itself, playing greedily, walks over ``SHORTCUT`` before its first push and
    then solves the level, and walling ``SHORTCUT`` off would make the way to the square it pushed from at least
    ``DETOUR`` steps longer (still open). Candidates are turned so that a cut square lands on ``SHORTCUT`` and
    played; what the agent did decides. Levels are distinct and in ``split`` as turned. About 1 candidate in 50
    qualifies (~1.8 levels a second on one thread)."""
    w = SIZE
    target = (SHORTCUT[0] + 1) * w + SHORTCUT[1] + 1
    sources = [symmetry_sources(w, k) for k in range(8)]
    chosen: list[sokoban.Levels] = []
    seen: set[bytes] = set()
    batch = 0
    while sum(len(c) for c in chosen) < n:
        candidates = levels_for(derive_seed(seed, "agent-shortcut", str(batch)), 2000, split)
        batch += 1
        turned = []
        for i in range(len(candidates)):
            cuts = set(_cut_squares(candidates, i))
            # one turn per candidate: the first symmetry that brings a cut square onto SHORTCUT and keeps the
            # level in its split (a turned level is another board: a turned test level is usually a train one)
            for k in (k for k in range(8) if int(sources[k][target]) in cuts):
                level = dihedral(candidates, i, k)
                key = level.keys()[0]
                if key not in seen and level.splits()[0] == split:
                    seen.add(key)
                    turned.append(level)
                    break
        if not turned:
            continue
        turned = sokoban.Levels.concat(turned)
        result = play(agent, turned, greedy=True, seed=0)
        keep = []
        for i in np.flatnonzero(result.terminated & result.final_info["visited_before_push"][:, target]):
            blocked = turned.walls[i] | turned.boxes[i]
            start, pushed_from = int(turned.agent[i]), int(result.final_info["first_push_from"][i])
            near = _walk_distances(blocked, start, w)[pushed_from]
            far = _walk_distances_without(blocked, target, start, w)[pushed_from]
            if near + DETOUR <= far < 10**6:
                keep.append(int(i))
        if keep:
            chosen.append(turned[np.array(keep)])
    return sokoban.Levels.concat(chosen)[:n]


class PlanSteer(SokobanTask, SteeringTask):
    """Make the agent take the long route to its first push (Bush et al.'s agent-shortcut levels)."""

    greedy = False  # v1 plays sampled actions; v2 greedy ones (its levels are chosen by greedy play)

    def __init__(self, sha256: str):
        self.spec = TaskSpec(
            id="sokoban/plan-steer-v1",
            title="Steer the Sokoban agent onto the long route",
            question=f"Which activation edit makes the agent avoid the shortcut square {SHORTCUT} and take the long "
            "way to its first push, and still solve the level?",
            description=f"Fresh 6×6 two-box test levels in which every shortest walk from the start to the first "
            f"push of an optimal solution passes the interior square {SHORTCUT} (row, col from the top-left of the "
            f"interior) and avoiding it costs at least {DETOUR} more steps. An episode succeeds if the agent makes "
            f"its first push without having stood on {SHORTCUT} and then solves the level within the step limit "
            "(sampled actions). Primary: the success rate, normalised between size-matched random edits (0: four "
            "random directions, each with the norm of the change the edit made at its hook) and 1.",
            answer_kind="intervention", offers=["steering_pairs"], agent=agent_ref(sha256), hook_points=EDIT_HOOKS,
            target=f"avoid {SHORTCUT} before the first push, then solve", primary_metric="long_route_rate",
            metrics=[
                MetricSpec(name="long_route_rate", higher_is_better=True, description="edited: long route and solved"),
                MetricSpec(name="long_route_rate_random_edit", higher_is_better=True, description="the floor"),
                MetricSpec(name="long_route_rate_unedited", higher_is_better=True, description="no edit"),
                MetricSpec(name="solve_rate", higher_is_better=True, description="edited: solved, any route"),
                MetricSpec(name="solve_rate_unedited", higher_is_better=True, description="no edit"),
            ],
            normalization=Normalization(floor=None, ceiling=1.0,
                                        floor_source="size-matched random edits, same levels (measured per answer)",
                                        ceiling_source="every level solved by the long route"),
            budget=Budget(env_steps=200_000, forward_passes=200_000, wall_seconds=600.0),
            train_size=2000, test_size=300, references=REFERENCES,
        )

    def train_data(self, view: TaskView, n: int, hooks: list[str]) -> TrainData:
        """States of the agent's episodes on train-split shortcut levels (the shortcut square at the same place),
        with the plan labels of plan-readout."""
        levels = shortcut_levels(derive_seed(view.train_seed, "steer-levels-train"), max(20, n // 12), "train")
        return self.states(view.agent, levels, derive_seed(view.train_seed, "steer-ep"), hooks, n)

    def pair_levels(self, view: TaskView, n: int) -> sokoban.Levels:
        return shortcut_levels(derive_seed(view.train_seed, "steer-pairs"), n, "train")

    def steering_pairs(self, view: TaskView, n: int) -> tuple[np.ndarray, np.ndarray]:
        """First observations of train-split shortcut levels, and the same with a wall on the shortcut square."""
        levels = self.pair_levels(view, n)
        plain = sokoban.observe(levels)
        walled = plain.copy()
        walled[:, :, SHORTCUT[0], SHORTCUT[1]] = 0
        walled[:, sokoban.PLANES.index("wall"), SHORTCUT[0], SHORTCUT[1]] = 1
        return plain, walled

    def test_episodes(self, seed: int) -> sokoban.Levels:
        """The test levels (v1: thousands of solves to find them), played unedited once per seed."""
        return shortcut_levels(seed, self.spec.test_size)

    def play(self, agent, levels: sokoban.Levels, seed: int, edits=(), control: bool = False):
        result = play(agent, levels, greedy=self.greedy, seed=seed % 2**31, edits=edits)
        shortcut = (SHORTCUT[0] + 1) * SIZE + SHORTCUT[1] + 1
        long_route = result.terminated & ~result.final_info["visited_before_push"][:, shortcut]
        return {"long_route": long_route, "solved": result.terminated}, result.edit_sizes

    def score_outcomes(self, unedited: dict, edited: dict, controls: list[dict], seed: int) -> ScoreReport:
        floor = float(np.mean([c["long_route"] for c in controls]))
        return mean_report(edited["long_route"], seed, name="long_route_rate", floor=floor, ceiling=1.0, metrics={
            "long_route_rate_random_edit": floor, "long_route_rate_unedited": float(unedited["long_route"].mean()),
            "solve_rate": float(edited["solved"].mean()), "solve_rate_unedited": float(unedited["solved"].mean())})


# plan-steer-v2's levels, one file per split, built by steer_levels.py with the pinned agent
STEER_LEVELS_SHA256 = {
    "train": "34b512150ad498a80aa0e5566d25eefbd74343e3e3278eba6524463eefeac183",
    "test": "3e7f359220719508d9e65fc07b1c9814e2655196233ce5735669ad4474a5009b",
}


def steer_levels_path(split: str) -> Path:
    return FOLDER / f"plan-steer-v2.{split}-levels.npz"


@functools.lru_cache(maxsize=2)
def shipped_steer_levels(split: str) -> sokoban.Levels:
    """plan-steer-v2's shipped ``split`` levels, checked against their pinned sha256."""
    import hashlib

    from mirl.errors import MirlError

    path = steer_levels_path(split)
    if not path.exists():
        raise MirlError(f"{path} is missing; rebuild it with `python -m mirl.tasks.sokoban.steer_levels --split {split}`")
    digest, pinned = hashlib.sha256(path.read_bytes()).hexdigest(), str(STEER_LEVELS_SHA256[split])
    if digest != pinned:
        raise MirlError(f"{path.name} has sha256 {digest[:12]}…, plan-steer-v2 pins {pinned[:12]}…; restore the "
                        "shipped file (git checkout) or rebuild it and pin the new sha256")
    with np.load(path) as data:
        h, w = (int(v) for v in data["size"])
        return sokoban.Levels(h, w, *(data[f] for f in ("walls", "targets", "boxes", "agent")))


class PlanSteerV2(PlanSteer):
    """plan-steer on levels where the pinned agent itself takes the shortcut (v1's levels rarely made it)."""

    greedy = True

    def __init__(self, sha256: str):
        super().__init__(sha256)
        self.spec = self.spec.model_copy(update={
            "id": "sokoban/plan-steer-v2",
            "title": "Steer the Sokoban agent off its own shortcut onto the long route",
            "description": f"Shipped 6×6 two-box test levels (300, held-out split) on which the pinned agent, "
            f"playing greedily, walks over the square {SHORTCUT} (row, col from the top-left of the interior) "
            "before its first push and then solves the level, and on which walling that square off would make "
            f"the way to the square it pushed from at least {DETOUR} steps longer, still open: unedited, the agent "
            "takes the shortcut on every level. The scorer plays greedily; an episode succeeds if the agent makes "
            f"its first push without having stood on {SHORTCUT} and then solves the level. Primary: the success "
            "rate, normalised between size-matched random edits (0: four random directions, each with the norm of "
            "the change the edit made at its hook) and 1. Methods get 600 such train-split levels (train data: "
            "states of the agent's sampled episodes on them; steering pairs: their first observations, plain and "
            f"with a wall on {SHORTCUT}).",
        })

    def test_episodes(self, seed: int) -> sokoban.Levels:
        # fixed: the seed draws the controls' directions, play is greedy (test_size is all 300 shipped levels;
        # mirl.testing.resized takes the first ones)
        return shipped_steer_levels("test")[:self.spec.test_size]

    def train_levels(self, seed: int, n: int) -> sokoban.Levels:
        """``n`` of the shipped train levels, in a seeded order."""
        from mirl.errors import MirlError

        levels = shipped_steer_levels("train")
        if n > len(levels):
            raise MirlError(f"plan-steer-v2 ships {len(levels)} train levels; ask for at most {len(levels)}")
        return levels[np.random.default_rng(derive_seed(seed, "steer-v2-levels")).permutation(len(levels))[:n]]

    def train_data(self, view: TaskView, n: int, hooks: list[str]) -> TrainData:
        """States of the agent's sampled episodes on the shipped train levels, with plan-readout's labels."""
        levels = self.train_levels(view.train_seed, max(20, n // 12))  # n ≤ 2,000 states: ≤ 166 levels
        return self.states(view.agent, levels, derive_seed(view.train_seed, "steer-ep"), hooks, n)

    def pair_levels(self, view: TaskView, n: int) -> sokoban.Levels:
        return self.train_levels(view.train_seed, n)


# ----------------------------------------------------------------------------------------------------
# 3. plan-locate

RANDOM_ORDERING_AUC: float | None = 0.077  # mean of 12 random orderings on sokoban-drc 4d00cdfa… (sd 0.074; calibrate.py)


class PlanLocate(SokobanTask, AblationCurveTask):
    """Rank the DRC's units (layer × tick × channel) by their role in solving levels."""

    def __init__(self, sha256: str, random_ordering_auc: float | None = RANDOM_ORDERING_AUC):
        units = len(H_HOOKS) * DRC_CHANNELS
        self.random_ordering_auc = random_ordering_auc
        self.spec = TaskSpec(
            id="sokoban/plan-locate-v1",
            title="Locate the Sokoban agent's planning units",
            question="Which channels of the DRC, at which layer and tick, does the agent's solving depend on?",
            description=f"Score every channel of every ConvLSTM layer's hidden state at every tick ({units} units: "
            f"{DRC_DEPTH} layers × {DRC_TICKS} ticks × {DRC_CHANNELS} channels). The scorer mean-ablates the top 1, 2, "
            "5, 10 and 20% of units (their means over train-level states, at every step) and plays 500 fresh 6×6 "
            "two-box test levels for each: loss(k) = the unedited solve rate − the ablated one. Primary: the mean "
            "loss over the five k (the area under the curve), normalised so that random unit orderings score 0 and "
            "losing every level at every k scores 1.",
            answer_kind="unit_scores", unit_level="channel", agent=agent_ref(sha256), hook_points=H_HOOKS,
            target="the agent's solving", primary_metric="loss_auc",
            metrics=[
                MetricSpec(name="loss_auc", higher_is_better=True, description="mean solve-rate loss over k"),
                *[MetricSpec(name=f"loss_{k}pct", higher_is_better=True, description=f"top {k}% ablated")
                  for k in ABLATE_PERCENTS],
                MetricSpec(name="solve_rate_unedited", higher_is_better=True, description="no ablation"),
            ],
            normalization=Normalization(floor=random_ordering_auc, ceiling=None,
                                        floor_source="mean AUC of random unit orderings (calibrated)",
                                        ceiling_source="the unedited solve rate (every level lost at every k)"),
            budget=Budget(env_steps=200_000, forward_passes=200_000, wall_seconds=600.0),
            train_size=4000, test_size=500, references=REFERENCES,
        )

    def train_data(self, view: TaskView, n: int, hooks: list[str]) -> TrainData:
        """States of the agent's episodes on train levels, with the plan labels of plan-readout."""
        levels = levels_for(derive_seed(view.train_seed, "locate-levels"), max(20, n // 6), "train")
        return self.states(view.agent, levels, derive_seed(view.train_seed, "locate-ep"), hooks, n)

    channels = {h: DRC_CHANNELS for h in H_HOOKS}

    def unit_means(self, agent) -> dict[str, np.ndarray]:
        states = self.states(agent, levels_for(derive_seed(0, "ablation-means"), 400, "train"),
                                derive_seed(0, "ablation-ep"), list(H_HOOKS), 2000)
        return {h: a.mean(0) for h, a in states.activations.items()}

    def unedited(self, agent, seed: int) -> tuple[sokoban.Levels, float]:
        """The test levels for ``seed`` and the unedited agent's solve rate on them."""
        levels = levels_for(seed, self.spec.test_size, "test")
        return levels, float(play(agent, levels, seed=seed % 2**31).terminated.mean())

    def ablated(self, agent, levels: sokoban.Levels, seed: int, edits) -> float:
        return float(play(agent, levels, seed=seed % 2**31, edits=edits).terminated.mean())

    def score_curve(self, curve: dict[str, Any]) -> ScoreReport:
        base, rates = curve["base"], curve["rates"]
        losses = {k: base - rates[k] for k in ABLATE_PERCENTS}
        auc = float(np.mean(list(losses.values())))
        n = self.spec.test_size
        return ScoreReport(
            metrics={"loss_auc": auc, "solve_rate_unedited": base, **{f"loss_{k}pct": v for k, v in losses.items()}},
            score=auc, ci=rate_curve_ci(auc, [rates[k] for k in ABLATE_PERCENTS], base, n), n=n,
            floor=self.random_ordering_auc if self.random_ordering_auc is not None else 0.0, ceiling=base,
        )


# sokoban-drc as shipped (pins.json beside its card); None until it ships, and the tasks wait for it.
AGENT_SHA256: str | None = read_pins(FOLDER).get("sokoban-drc")


def tasks(sha256: str) -> list[Task]:
    return [PlanReadout(sha256), PlanSteer(sha256), PlanSteerV2(sha256), PlanLocate(sha256)]


TASKS = tasks(AGENT_SHA256) if AGENT_SHA256 else []


def plan_probe_f1(agent, seed: int = 0, train_states: int = 3000, test_states: int = 2000) -> dict[str, float]:
    """The card's plan probes: macro-F1 of 1×1 and 3×3 conv probes on every hidden and cell state (fitted on
    train levels, scored on test levels), against the same probes on the observation (Bush et al.'s comparison).
    Same-kernel pairs are the fair contrast: a 3×3 probe sees the neighbouring squares a 1×1 probe cannot."""
    from mirl.probes import conv_probe_logits, fit_conv_probe

    task = SokobanTask()  # states() needs no spec
    train = task.states(agent, levels_for(derive_seed(seed, "card-train"), train_states // 6, "train"),
                        derive_seed(seed, "card-train-ep"), list(STATE_HOOKS), train_states)
    test = task.states(agent, levels_for(derive_seed(seed, "card-test"), test_states // 6, "test"),
                       derive_seed(seed, "card-test-ep"), list(STATE_HOOKS), test_states)
    sources = {"hidden": lambda d: [d.activations[h] for h in STATE_HOOKS], "observation": lambda d: [d.obs]}
    out = {}
    for t, target in enumerate(TARGETS):
        span = slice(t * SQUARES, (t + 1) * SQUARES)
        for source, maps in sources.items():
            for kernel in (1, 3):
                w, b = fit_conv_probe(maps(train), train.labels["plan_directions"][:, span], CLASSES, kernel=kernel,
                                      seed=seed)
                predicted = conv_probe_logits(maps(test), w, b, kernel=kernel).argmax(-1)
                counts = macro_f1_counts(predicted, test.labels["plan_directions"][:, span]).sum(0)
                out[f"plan_probe_{target}_f1_{source}_{kernel}x{kernel}"] = float(macro_f1(counts))
    return out
