"""Bernoulli multi-armed bandits for in-context RL: the environment of algorithm distillation (Laskin et al. 2022)
in its simplest setting, the learning histories of its source algorithm (Thompson sampling), and the tokens a
transformer reads them in.

A bandit is ``ARMS`` arm means drawn uniformly from [0, 1); an episode is ``HORIZON`` pulls of one bandit. The
"train" and "test" bandits are disjoint by a hash of their means (``mirl.seeding.hash_split``), so a model is
judged on bandits it never saw a history of.

Tokens: ``START``, then one token per pull, ``1 + 2·arm + reward``; ``PAD`` fills the context after the last pull.
The context at pull t is START and the t pulls before it (t + 1 tokens); the model's action logits there are
read at the last token (``TransformerAgent(pad_token=PAD)``), so every pull keeps its position.
"""

from __future__ import annotations

import numpy as np

from mirl.seeding import hash_split

ARMS = 5
HORIZON = 100
START = 0
PAD = 1 + 2 * ARMS
VOCAB = PAD + 1
SPLITS = (None, "train", "test")


def pull_token(arm: np.ndarray, reward: np.ndarray) -> np.ndarray:
    return 1 + 2 * np.asarray(arm, dtype=np.int64) + np.asarray(reward, dtype=np.int64)


def draw_bandits(n: int, rng: np.random.Generator, split: str | None = None, arms: int = ARMS) -> np.ndarray:
    """[n, arms] arm means, uniform in [0, 1), kept only where the bandit is in ``split`` (None: any)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    out: list[np.ndarray] = []
    while sum(len(b) for b in out) < n:
        batch = rng.random((max(n, 64), arms))
        if split is not None:
            batch = batch[np.array([hash_split(row.tobytes()) == split for row in batch])]
        out.append(batch)
    return np.concatenate(out)[:n]


def thompson(means: np.ndarray, rng: np.random.Generator, horizon: int = HORIZON) -> tuple[np.ndarray, np.ndarray]:
    """Thompson sampling (Beta(1, 1) priors) on each bandit of ``means`` [N, arms] for ``horizon`` pulls:
    (actions, rewards), each [N, horizon]. The source algorithm whose histories a model distils."""
    n, arms = means.shape
    wins, losses = np.zeros((n, arms)), np.zeros((n, arms))
    actions = np.zeros((n, horizon), dtype=np.int64)
    rewards = np.zeros((n, horizon), dtype=np.int64)
    rows = np.arange(n)
    for t in range(horizon):
        arm = rng.beta(1 + wins, 1 + losses).argmax(1)
        reward = (rng.random(n) < means[rows, arm]).astype(np.int64)
        wins[rows, arm] += reward
        losses[rows, arm] += 1 - reward
        actions[:, t], rewards[:, t] = arm, reward
    return actions, rewards


def contexts(actions: np.ndarray, rewards: np.ndarray) -> np.ndarray:
    """[N, horizon] token sequences whose position t is the context the action at pull t is read from: START,
    then the pulls before t (the last pull's own token is never input: nothing follows it)."""
    tokens = np.empty(actions.shape, dtype=np.int64)
    tokens[:, 0] = START
    tokens[:, 1:] = pull_token(actions[:, :-1], rewards[:, :-1])
    return tokens


class BanditVecEnv:
    """``num_envs`` bandits played for ``horizon`` pulls each, same-step autoreset (a new bandit drawn from the
    env's Generator, of ``split``), mirl's vectorized-env protocol. The observation is the history so far as
    tokens [B, horizon] (START, the pulls, PAD after them); reward 1 or 0; an episode ends after ``horizon``
    pulls (truncated: a bandit has no end of its own). A step's info holds each env's ``regret_curve`` [B,
    horizon]: its episode's cumulative regret (best arm's mean − the pulled arm's) after each pull so far."""

    def __init__(self, num_envs: int, seed: int = 0, split: str | None = None, horizon: int = HORIZON,
                 arms: int = ARMS):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        self.num_envs, self.split, self.horizon, self.arms = num_envs, split, horizon, arms
        self._rng = np.random.default_rng(seed)
        self.means = np.zeros((num_envs, arms))
        self.tokens = np.full((num_envs, horizon), PAD, dtype=np.int64)
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self.pulls = np.zeros((num_envs, arms), dtype=np.int64)
        self.wins = np.zeros((num_envs, arms), dtype=np.int64)
        self.regret_curve = np.zeros((num_envs, horizon))
        import gymnasium as gym

        self.single_observation_space = gym.spaces.Box(0, VOCAB - 1, shape=(horizon,), dtype=np.int64)
        self.single_action_space = gym.spaces.Discrete(arms)

    def _new_episodes(self, envs: np.ndarray) -> None:
        self.means[envs] = draw_bandits(len(envs), self._rng, self.split, self.arms)
        self.tokens[envs] = PAD
        self.tokens[envs, 0] = START
        self.steps[envs] = 0
        self.pulls[envs] = 0
        self.wins[envs] = 0
        self.regret_curve[envs] = 0.0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._new_episodes(np.arange(self.num_envs))
        return self.tokens.copy(), {}

    def step(self, actions: np.ndarray):
        actions = np.asarray(actions, dtype=np.int64)
        if actions.shape != (self.num_envs,) or actions.min() < 0 or actions.max() >= self.arms:
            raise ValueError(f"actions must be {self.num_envs} arms in 0..{self.arms - 1}, got shape {actions.shape}")
        rows = np.arange(self.num_envs)
        rewards = (self._rng.random(self.num_envs) < self.means[rows, actions]).astype(np.int64)
        self.pulls[rows, actions] += 1
        self.wins[rows, actions] += rewards
        self.steps += 1
        truncated = self.steps >= self.horizon
        going = np.flatnonzero(~truncated)
        self.tokens[going, self.steps[going]] = pull_token(actions[going], rewards[going])
        regret = self.means.max(1) - self.means[rows, actions]
        before = np.where(self.steps > 1, self.regret_curve[rows, np.maximum(self.steps - 2, 0)], 0.0)
        self.regret_curve[rows, self.steps - 1] = before + regret
        info = {"regret": regret, "regret_curve": self.regret_curve.copy()}
        if truncated.any():
            self._new_episodes(np.flatnonzero(truncated))
        return self.tokens.copy(), rewards.astype(np.float32), np.zeros(self.num_envs, dtype=bool), truncated, info

    def labels(self) -> dict[str, np.ndarray]:
        """The bandit and the history acted on: ``arm_means``, ``pulls`` and ``wins`` per arm, ``empirical_means``
        (NaN for an arm not pulled yet), ``best_arm``, ``step``."""
        with np.errstate(invalid="ignore", divide="ignore"):
            empirical = np.where(self.pulls > 0, self.wins / self.pulls, np.nan)
        return {"arm_means": self.means.copy(), "pulls": self.pulls.copy(), "wins": self.wins.copy(),
                "empirical_means": empirical, "best_arm": self.means.argmax(1), "step": self.steps.copy()}

    def get_state(self) -> dict:
        return {k: getattr(self, k).copy() for k in ("means", "tokens", "steps", "pulls", "wins", "regret_curve")} | {
            "rng": self._rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        for k in ("means", "tokens", "steps", "pulls", "wins", "regret_curve"):
            setattr(self, k, state[k].copy())
        self._rng.bit_generator.state = state["rng"]

    def close(self) -> None:
        pass
