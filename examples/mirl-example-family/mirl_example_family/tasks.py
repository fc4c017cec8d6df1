"""Two questions about `lake-ppo`, written on mirl's task library: how far is the goal (a readout), and will the
agent get there (a prediction from its first step). Test states come from held-out maps, drawn from the salted
test seed; methods see train maps only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mirl.pins import read_pins
from mirl.schemas import AgentRef, Budget, MetricSpec, Normalization, TaskSpec
from mirl.seeding import derive_seed
from mirl.task import TaskView, TrainData
from mirl.tasklib import ReadoutTask, sample_states

from .env import DISTANCE_CLASSES, SIZE

FOLDER = Path(__file__).parent
PINS = read_pins(FOLDER)
HOOKS = {"hook_obs": [3, SIZE, SIZE], "hidden1.hook_out": [64], "hidden2.hook_out": [64], "policy.hook_out": [4],
         "value.hook_out": [1]}
BUDGET = Budget(env_steps=200_000, forward_passes=200_000, wall_seconds=300.0)


def spec(**fields) -> TaskSpec:
    agent = AgentRef(id="lake-ppo", checkpoint="lake-ppo.pt", sha256=PINS["lake-ppo"], card="lake-ppo.card.json")
    return TaskSpec(agent=agent, budget=BUDGET, train_size=3000, test_size=2000, references=[], **fields)


class LakeTask(ReadoutTask):
    folder = FOLDER

    def build_agent(self):
        from .agent import LakeAgent

        return LakeAgent()

    def make_train_env(self, view: TaskView, num_envs: int):
        from mirl.envs import BudgetedEnv

        from .env import vec_env

        return BudgetedEnv(vec_env(num_envs, derive_seed(view.train_seed, "env"), "train"), view.meter)

    def states(self, agent, split: str, n: int, seed: int, hooks: list[str], meter=None) -> TrainData:
        raise NotImplementedError

    def train_data(self, view: TaskView, n: int, hooks: list[str]) -> TrainData:
        return self.states(view.agent, "train", n, derive_seed(view.train_seed, "states"), hooks, view.meter)

    def test_states(self, agent, seed: int, hooks: list[str]) -> TrainData:
        return self.states(agent, "test", self.spec.test_size, seed, hooks)


def budgeted(env, meter):
    from mirl.envs import BudgetedEnv

    return env if meter is None else BudgetedEnv(env, meter)


class DistanceReadout(LakeTask):
    spec = spec(
        id="example/distance-readout-v1", title="Read the lake agent's distance to the goal",
        question="How many steps is the agent from the goal, walking around the holes? Decode it from its hidden "
        "layers.",
        description="States from the agent's own sampled play on held-out 5×5 FrozenLake maps. Nine classes: the "
        "shortest walk to the goal over frozen squares, 0-7 steps, or 8 for eight or more; the prediction is the "
        "argmax of the 9 outputs. Primary: balanced accuracy (a constant guess scores 1/9).",
        answer_kind="readout", hook_points={k: HOOKS[k] for k in ("hidden1.hook_out", "hidden2.hook_out")},
        target="distance_class", output_dim=DISTANCE_CLASSES, primary_metric="balanced_accuracy",
        metrics=[MetricSpec(name="balanced_accuracy", higher_is_better=True, description="mean per-class recall"),
                 MetricSpec(name="accuracy", higher_is_better=True, description="argmax == class")],
        normalization=Normalization(floor=1 / DISTANCE_CLASSES, ceiling=1.0, floor_source="a constant guess",
                                    ceiling_source="perfect decoding"),
    )

    def states(self, agent, split, n, seed, hooks, meter=None):
        from .env import vec_env

        return sample_states(agent, budgeted(vec_env(64, seed, split), meter), n, hooks, seed, stride=2)


class SuccessPredict(LakeTask):
    spec = spec(
        id="example/success-predict-v1", title="Predict whether the lake agent reaches the goal",
        question="From its activations at the start of an episode, will the agent (sampled actions) reach the goal "
        "before it falls through the ice or runs out of steps?",
        description="Each instance is one episode on a held-out 5×5 map; the features are the activations at its "
        "first step; the decoder's single output is the logit of 'reaches the goal'. Primary: AUROC against the "
        "agent's real episodes.",
        answer_kind="prediction", hook_points=HOOKS, target="reached", output_dim=1, primary_metric="auroc",
        metrics=[MetricSpec(name="auroc", higher_is_better=True, description="AUROC of the output vs reached"),
                 MetricSpec(name="success_rate", higher_is_better=True, description="episodes reaching the goal")],
        normalization=Normalization(floor=0.5, ceiling=1.0, floor_source="chance AUROC",
                                    ceiling_source="perfect ranking"),
    )

    def states(self, agent, split, n, seed, hooks, meter=None):
        from mirl.interventions import run_episodes

        from .env import vec_env

        hooks = list(dict.fromkeys(["hook_obs", *hooks]))
        out = run_episodes(agent, budgeted(vec_env(64, seed, split), meter), n, seed=seed % 2**31, greedy=False,
                           summarise=hooks, record_labels=False)
        return TrainData(obs=out.summaries["hook_obs"], labels={"reached": (out.returns > 0).astype(np.int64)},
                         activations=out.summaries)

    def context_metrics(self, states: TrainData) -> dict[str, float]:
        return {"success_rate": float(states.labels["reached"].mean())}


TASKS = [DistanceReadout(), SuccessPredict()] if "lake-ppo" in PINS else []
