"""The icrl family's tasks, on `ad-bandit`.

Heavy imports (torch, the agent) happen inside methods, so registering these tasks stays light.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from mirl.pins import read_pins
from mirl.schemas import AgentRef, Budget, MetricSpec, Normalization, TaskSpec
from mirl.seeding import derive_seed
from mirl.task import Task, TaskView, TrainData
from mirl.tasklib import ReadoutTask

from . import env as bandits

FOLDER = Path(__file__).parent
PINS = read_pins(FOLDER)
D_MODEL = 64  # agent.MODEL.d_model, without importing the agent at registration
REFERENCES = ["Laskin et al. 2022, In-context reinforcement learning with algorithm distillation (arXiv 2210.14215)"]


class IcrlTask(Task):
    folder = FOLDER

    def build_agent(self):
        from .agent import build

        return build()

    def make_train_env(self, view: TaskView, num_envs: int):
        from mirl.envs import BudgetedEnv

        return BudgetedEnv(bandits.BanditVecEnv(num_envs, seed=derive_seed(view.train_seed, "env") % 2**31,
                                                split="train"), view.meter)


def history_states(seed: int, n: int, split: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``n`` contexts from Thompson sampling's histories on fresh ``split`` bandits (the distribution the agent
    was distilled on), each cut after t pulls (t uniform in 1…99) and padded: tokens [n, horizon], and labels —
    ``arm_values`` [n, arms] (each arm's posterior mean after those pulls, Beta(1, 1) prior: (1 + wins) /
    (2 + pulls)), ``pulls`` [n, arms], ``step`` [n], ``bandit`` [n] (a hash of the arm means: which bandit)."""
    rng = np.random.default_rng(seed)
    means = bandits.draw_bandits(n, rng, split)
    actions, rewards = bandits.thompson(means, rng)
    t = rng.integers(1, bandits.HORIZON, size=n)
    tokens = bandits.contexts(actions, rewards)
    tokens[np.arange(bandits.HORIZON)[None, :] > t[:, None]] = bandits.PAD
    before = np.arange(bandits.HORIZON)[None, :] < t[:, None]  # the pulls in each context
    arms = np.arange(bandits.ARMS)
    pulled = (actions[:, :, None] == arms) & before[:, :, None]
    pulls = pulled.sum(1)
    wins = (pulled & (rewards[:, :, None] == 1)).sum(1)
    return tokens, {"arm_values": (1 + wins) / (2 + pulls), "pulls": pulls, "step": t,
                    "bandit": np.array([zlib.crc32(m.tobytes()) for m in means], dtype=np.int64)}


READOUT_HOOKS = {"hook_embed@read": [D_MODEL], "blocks.0.hook_resid_post@read": [D_MODEL],
                 "blocks.1.hook_resid_post@read": [D_MODEL]}


class ArmValueReadout(IcrlTask, ReadoutTask):
    """Read the in-context value estimate of every arm out of the residual stream at the current pull."""

    instance_label = "bandit"  # short histories of different bandits are the same tokens

    def __init__(self, sha256: str):
        self.spec = TaskSpec(
            id="icrl/arm-value-readout-v1",
            title="Read the in-context arm values out of an algorithm-distillation transformer",
            question="Does ad-bandit's residual stream at the current pull hold, for every arm, the value the "
            "history so far implies?",
            description="Contexts from Thompson sampling's histories (what ad-bandit was distilled on) on unseen "
            "test bandits, cut after 1–99 pulls. Target per context: each of the 5 arms' posterior mean reward "
            "(Beta(1, 1) prior: (1 + wins) / (2 + pulls)), exact from the history. A readout with 5 outputs on "
            "a read view (the activation at the context's last token: the token embedding alone, or the "
            "residual stream after layer 0 or 1). Primary: R² averaged over the arms, each floored at 0 (the arm "
            "values' mean scores 0), normalised between 0 and 1.",
            answer_kind="readout", agent=AgentRef(id="ad-bandit", checkpoint="ad-bandit.pt", sha256=sha256,
                                                  card="ad-bandit.card.json"),
            hook_points=READOUT_HOOKS, target="arm_values", output_dim=bandits.ARMS, primary_metric="r2",
            metrics=[MetricSpec(name="r2", higher_is_better=True, description="mean over arms of R² floored at 0"),
                     MetricSpec(name="r2_raw", higher_is_better=True, description="mean over arms of R²")],
            normalization=Normalization(floor=0.0, ceiling=1.0, floor_source="each arm's mean value",
                                        ceiling_source="exact values"),
            budget=Budget(env_steps=100_000, forward_passes=50_000, wall_seconds=300.0),
            train_size=5000, test_size=2000, references=REFERENCES,
        )

    def states(self, agent, seed: int, n: int, split: str, hooks: list[str]) -> TrainData:
        import torch

        tokens, labels = history_states(seed, n, split)
        activations = {}
        if hooks:
            with torch.no_grad():
                _, cache = agent.run_with_cache(torch.from_numpy(tokens), names=hooks)
            activations = {h: cache[h].numpy() for h in hooks}
        return TrainData(obs=tokens, labels=labels, activations=activations)

    def train_data(self, view: TaskView, n: int, hooks: list[str]) -> TrainData:
        return self.states(view.agent, derive_seed(view.train_seed, "histories"), n, "train", hooks)

    def test_states(self, agent, seed: int, hooks: list[str]) -> TrainData:
        return self.states(agent, derive_seed(seed, "histories"), self.spec.test_size, "test", hooks)


def tasks() -> list[Task]:
    return [ArmValueReadout(PINS["ad-bandit"])] if "ad-bandit" in PINS else []


TASKS = tasks()
