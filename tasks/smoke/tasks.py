"""The smoke tasks: one per answer kind, each with exact ground truth known by construction.

Heavy imports (torch, the agent, the environment) happen inside methods, so registering these tasks —
and so ``mirl tasks`` — stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mirl.pins import read_pins
from mirl.schemas import AgentRef, Budget, MetricSpec, Normalization, TaskSpec
from mirl.scoring import ScoreReport, average_precision, auroc
from mirl.seeding import derive_seed, test_seed
from mirl.task import Task, TaskView, TrainData
from mirl.tasklib import ReadoutTask, mean_report, statistic_report

if TYPE_CHECKING:
    import torch

FOLDER = Path(__file__).parent
PINS = read_pins(FOLDER)
SIZE = 7  # grid side; mirrors env.SIZE without importing gymnasium at registration time
CELLS = SIZE * SIZE

AGENT = AgentRef(
    id="smoke-ppo",
    checkpoint="smoke-ppo.pt",
    sha256=PINS["smoke-ppo"],
    card="smoke-ppo.card.json",
)
ALL_HOOKS = {
    "hook_obs": [2, SIZE, SIZE],
    "encoder.hook_out": [8, SIZE, SIZE],
    "dense.hook_out": [48],
    "policy.hook_logits": [4],
    "value.hook_value": [1],
}
BUDGET = Budget(env_steps=100_000, forward_passes=100_000, wall_seconds=120.0)
TRAIN_SIZE = 1000
TEST_SIZE = 500


class SmokeTask(Task):
    """Shared machinery: the shipped agent, the train/test pools of (agent, goal) pairs, labelled states."""

    folder = FOLDER

    def build_agent(self):
        from .agent import SmokeAgent

        return SmokeAgent()

    # -- states ----------------------------------------------------------------------------------------
    @staticmethod
    def _sample(pool: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        from . import env as grid

        rng = np.random.default_rng(seed)
        picks = pool[rng.choice(len(pool), size=min(n, len(pool)), replace=False)]
        return grid.cells_to_positions(picks[:, 0]), grid.cells_to_positions(picks[:, 1])

    @staticmethod
    def _labels(agent_pos: np.ndarray, goal_pos: np.ndarray, actions: np.ndarray) -> dict[str, np.ndarray]:
        from . import env as grid

        return {
            "agent_cell": agent_pos[:, 0] * SIZE + agent_pos[:, 1],
            "goal_cell": goal_pos[:, 0] * SIZE + goal_pos[:, 1],
            "agent_row": agent_pos[:, 0], "agent_col": agent_pos[:, 1],
            "goal_row": goal_pos[:, 0], "goal_col": goal_pos[:, 1],
            "distance": grid.manhattan(agent_pos, goal_pos),
            "action": actions,
        }

    def _run(self, agent, obs: np.ndarray, hooks: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        import torch

        with torch.no_grad():
            (logits, _), cache = agent.run_with_cache(torch.from_numpy(obs), names=hooks)
        return logits.argmax(1).numpy(), {k: v.numpy() for k, v in cache.items()}

    def states(self, agent, split: int, n: int, seed: int, hooks: list[str]) -> TrainData:
        """``n`` states of pool ``split`` (0 train, 1 test), drawn with ``seed``, labelled with the agent's greedy
        action, with its activations at ``hooks``."""
        from . import env as grid

        agent_pos, goal_pos = self._sample(grid.pools()[split], n, seed)
        obs = grid.observe(agent_pos, goal_pos)
        actions, acts = self._run(agent, obs, hooks)
        return TrainData(obs=obs, labels=self._labels(agent_pos, goal_pos, actions), activations=acts)

    def train_data(self, view: TaskView, n: int, hooks: list[str]) -> TrainData:
        return self.states(view.agent, 0, n, view.train_seed, hooks)  # forward passes counted against the budget

    def test_states(self, agent, seed: int, hooks: list[str]) -> TrainData:
        return self.states(agent, 1, self.spec.test_size, seed, hooks)

    def make_train_env(self, view: TaskView, num_envs: int):
        from . import env as grid

        from mirl.envs import BudgetedEnv

        env = grid.SmokeGridVecEnv(num_envs, grid.pools()[0], seed=derive_seed(view.train_seed, "env"))
        return BudgetedEnv(env, view.meter)


def _spec(**kw: Any) -> TaskSpec:
    return TaskSpec(agent=AGENT, budget=BUDGET, train_size=TRAIN_SIZE, references=[], **kw)


class GoalReadout(SmokeTask, ReadoutTask):
    spec = _spec(
        id="smoke/goal-readout-v1",
        title="Read the goal position out of the smoke agent",
        question="Which goal cell is the agent heading for? Decode it from the agent's activations.",
        description="Readout of the goal cell (49 classes, row*7+col) on held-out (agent, goal) pairs; the "
        "prediction is the argmax of the decoder's 49 outputs.",
        answer_kind="readout",
        hook_points=ALL_HOOKS,
        target="goal_cell",
        output_dim=CELLS,
        primary_metric="accuracy",
        metrics=[MetricSpec(name="accuracy", higher_is_better=True, description="argmax == goal cell")],
        normalization=Normalization(
            floor=1 / CELLS, ceiling=1.0, floor_source="chance (1/49)", ceiling_source="perfect decoding"
        ),
        test_size=TEST_SIZE,
    )

    def oracle_answer(self, view: TaskView):
        from mirl.schemas import Readout

        from .agent import GOAL_CHANNEL

        # channel 1 of the encoder is the goal plane, so the identity on that channel decodes the goal cell.
        weights = np.zeros((8, CELLS, CELLS))
        weights[GOAL_CHANNEL] = np.eye(CELLS)
        return Readout(weights={"encoder.hook_out": weights.reshape(8 * CELLS, CELLS)}, bias=np.zeros(CELLS))


class GoalUnits(SmokeTask):
    spec = _spec(
        id="smoke/goal-units-v1",
        title="Find the encoder units that carry the goal",
        question="Which units of encoder.hook_out depend on the goal position?",
        description="Score every unit (channel × row × col) of encoder.hook_out; ground truth (planted) is "
        "channel 1, an exact copy of the goal plane. Scored by AUROC against that mask.",
        answer_kind="unit_scores",
        hook_points={"encoder.hook_out": ALL_HOOKS["encoder.hook_out"]},
        target="goal-dependent units",
        primary_metric="auroc",
        metrics=[
            MetricSpec(name="auroc", higher_is_better=True, description="AUROC of scores vs the planted mask"),
            MetricSpec(name="average_precision", higher_is_better=True, description="chance = 49/392"),
        ],
        normalization=Normalization(floor=0.5, ceiling=1.0, floor_source="chance AUROC", ceiling_source="exact mask"),
        test_size=8 * CELLS,
    )

    def score(self, answer, seed: int) -> ScoreReport:
        from .agent import goal_unit_mask

        truth = goal_unit_mask().ravel()
        scores = answer.scores["encoder.hook_out"].ravel()
        return statistic_report(auroc, truth, scores, seed=seed, name="auroc", floor=0.5, ceiling=1.0,
                                metrics={"average_precision": average_precision(truth, scores)})

    def oracle_answer(self, view: TaskView):
        from mirl.schemas import UnitScores

        from .agent import goal_unit_mask

        return UnitScores(scores={"encoder.hook_out": goal_unit_mask().astype(np.float64)})


TARGET = (3, 3)  # the centre square: a constant push in one direction rarely ends there
SETTLE_STEPS = 4  # steps beyond the shortest path to the target before the episode is judged


class GoalRetarget(SmokeTask):
    spec = _spec(
        id="smoke/goal-retarget-v1",
        offers=["steering_pairs"],
        title="Retarget the smoke agent to the centre square",
        question="Which activation edit makes the agent walk to the centre square (3, 3) instead of its goal?",
        description="Test episodes are chosen so that neither the goal nor the centre lies on a shortest path "
        "to the other; an episode succeeds if the greedy edited agent is within one square of the "
        "centre after distance + 4 steps (passing through does not count; reaching the real goal fails).",
        answer_kind="intervention",
        hook_points={k: ALL_HOOKS[k] for k in ("encoder.hook_out", "dense.hook_out")},
        target="centre square (3, 3)",
        primary_metric="target_rate",
        metrics=[
            MetricSpec(name="target_rate", higher_is_better=True, description="episodes that end at (within 1 of) the centre"),
            MetricSpec(name="goal_rate", higher_is_better=False, description="edited episodes reaching the goal"),
            MetricSpec(
                name="goal_rate_unedited", higher_is_better=True,
                description="competence check: the unedited agent reaches its goal",
            ),
        ],
        normalization=Normalization(
            floor=None, ceiling=1.0, floor_source="target_rate of the unedited agent on the same episodes",
            ceiling_source="every episode retargeted",
        ),
        test_size=300,
    )

    def steering_pairs(self, view: TaskView, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Train states, and the same with the goal moved to the centre square."""
        from . import env as grid

        agent_pos, goal_pos = self._sample(grid.pools()[0], n, derive_seed(view.train_seed, "steer"))
        return grid.observe(agent_pos, goal_pos), grid.observe(agent_pos, np.tile(np.array(TARGET), (len(agent_pos), 1)))

    @staticmethod
    def _in_box(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        return np.all((p >= lo) & (p <= hi), axis=-1)

    def episodes(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Test (start, goal) pairs where neither the goal nor the target is on a shortest path to the other."""
        from . import env as grid

        _, pool = grid.pools()
        start, goal = grid.cells_to_positions(pool[:, 0]), grid.cells_to_positions(pool[:, 1])
        target = np.broadcast_to(np.array(TARGET), start.shape)
        ok = ~self._in_box(target, start, goal) & ~self._in_box(goal, start, target)
        candidates = pool[ok]
        rng = np.random.default_rng(test_seed(seed))
        picks = candidates[rng.choice(len(candidates), size=self.spec.test_size, replace=False)]
        return grid.cells_to_positions(picks[:, 0]), grid.cells_to_positions(picks[:, 1])

    def rollout(
        self, agent, start: np.ndarray, goal: np.ndarray, edits=None, seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Greedy rollouts with optional edits; returns (settled at the target, reached the goal) per episode.

        An episode runs for the shortest distance to the target plus SETTLE_STEPS; it succeeds if it ends
        within one square of the target without touching the real goal. Merely passing through the target
        on the way elsewhere does not count.
        """
        import torch

        from mirl.interventions import EditHooks

        from . import env as grid

        target = np.array(TARGET)
        limit = grid.manhattan(start, target[None]) + SETTLE_STEPS
        pos = start.copy()
        at_goal = np.zeros(len(pos), dtype=bool)
        hooks = EditHooks(edits or [], seed=derive_seed(seed, "resample"))
        with torch.no_grad(), agent.hooks(hooks.fwd()):
            for t in range(int(limit.max())):
                active = ~at_goal & (t < limit)
                if not active.any():
                    break
                hooks.episode_steps = np.full(len(pos), t)
                logits, _ = agent(torch.from_numpy(grid.observe(pos, goal)))
                pos = np.where(active[:, None], grid.move(pos, logits.argmax(1).numpy()), pos)
                at_goal |= active & np.all(pos == goal, axis=1)
        settled = ~at_goal & (grid.manhattan(pos, target[None]) <= 1)
        return settled, at_goal

    def score(self, answer, seed: int) -> ScoreReport:
        from . import env as grid

        agent = self.load_agent()
        start, goal = self.episodes(seed)
        base_target, base_goal = self.rollout(agent, start, goal)
        # Competence check for the unedited agent: reaching its goal with no step limit but the env's own.
        hit = grid.greedy_walk(agent, start, goal)[0]
        target, reached_goal = self.rollout(agent, start, goal, answer.edits, seed)
        return mean_report(target, seed, name="target_rate", floor=float(base_target.mean()), ceiling=1.0, metrics={
            "goal_rate": reached_goal.mean(), "goal_rate_unedited": hit.mean(),
            "target_rate_unedited": base_target.mean()})

    def oracle_answer(self, view: TaskView):
        from mirl.schemas import Edit, Intervention

        from .agent import GOAL_CHANNEL

        # Rewrite the planted goal plane: erase the goal everywhere, then mark the target.
        return Intervention(
            edits=[
                Edit(hook="encoder.hook_out", op="set", channels=[GOAL_CHANNEL], value=0.0),
                Edit(hook="encoder.hook_out", op="set", channels=[GOAL_CHANNEL], positions=[TARGET], value=1.0),
            ]
        )


class NextAction(SmokeTask, ReadoutTask):
    spec = _spec(
        id="smoke/next-action-v1",
        title="Predict the smoke agent's next action",
        question="Which move will the agent make in this state? Predict it from its activations.",
        description="Prediction of the greedy action (up, down, left, right) on held-out states; the decoder's "
        "4 outputs are read as logits (softmax → probabilities). Macro one-vs-rest AUROC against the "
        "actions the agent really takes.",
        answer_kind="prediction",
        hook_points=ALL_HOOKS,
        target="action",
        output_dim=4,
        primary_metric="auroc",
        metrics=[
            MetricSpec(name="auroc", higher_is_better=True, description="macro one-vs-rest AUROC"),
            MetricSpec(name="brier", higher_is_better=False, description="multi-class Brier score"),
            MetricSpec(name="accuracy", higher_is_better=True, description="argmax == the agent's action"),
        ],
        normalization=Normalization(floor=0.5, ceiling=1.0, floor_source="chance AUROC", ceiling_source="exact"),
        test_size=TEST_SIZE,
    )

    def oracle_answer(self, view: TaskView):
        from mirl.schemas import Prediction

        # The agent acts greedily on its own logits, so the logits (sharpened) predict its action exactly.
        return Prediction(weights={"policy.hook_logits": 100.0 * np.eye(4)}, bias=np.zeros(4))


TASKS = [GoalReadout(), GoalUnits(), GoalRetarget(), NextAction()]
