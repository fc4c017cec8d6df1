"""The card of `ad-bandit`: does it learn in context? Its cumulative regret on unseen (test) bandits, acting on its
own history, against its source algorithm (Thompson sampling), uniform pulls, and itself with its context cut to
the last few pulls (what is left when nothing can be learned in context)."""

from __future__ import annotations

import numpy as np

from mirl.interventions import run_episodes
from mirl.seeding import derive_seed
from mirl.tasklib import measured_facts

from . import env as bandits

EPISODES = 500  # per seed: one batch of envs plays them all (a forward pass reads the whole context)
AT = (10, 25, 50, 100)  # pulls after which cumulative regret is reported
RECENT = 4  # the cut-context control keeps the last 4 pulls


class RecentPulls:
    """The agent reading only START and the last ``k`` pulls of its history, placed right after START (so the
    kept pulls take the first positions, as at the start of an episode, not unseen late positions)."""

    def __init__(self, agent, k: int):
        self.agent, self.k = agent, k

    def __getattr__(self, name: str):
        return getattr(self.agent, name)

    def act(self, obs, state=None, starts=None):
        return (*self.agent(recent_pulls(obs, self.k)), None)


def recent_pulls(tokens, k: int):
    """``tokens`` [B, T] with each row's history cut to its last ``k`` pulls, moved up behind START."""
    import torch

    pulls = (tokens != bandits.PAD).sum(1) - 1  # START excluded
    out = torch.full_like(tokens, bandits.PAD)
    out[:, 0] = bandits.START
    for j in range(k):  # slot 1 + j holds pull (pulls - kept + j) where kept = min(k, pulls)
        kept = torch.clamp(pulls, max=k)
        source = pulls - kept + j + 1
        take = j < kept
        out[take, 1 + j] = tokens[take, source[take]]
    return out


def agent_regret(agent, seed: int, greedy: bool = False, recent: int | None = None) -> np.ndarray:
    """[EPISODES, horizon] cumulative regret curves of the agent playing fresh test bandits (the first
    ``EPISODES`` to start)."""
    env = bandits.BanditVecEnv(EPISODES, seed=derive_seed(seed, "card-bandits") % 2**31, split="test")
    player = agent if recent is None else RecentPulls(agent, recent)
    out = run_episodes(player, env, EPISODES, seed=seed, greedy=greedy, record_labels=False)
    return out.final_info["regret_curve"]


def thompson_regret(seed: int) -> np.ndarray:
    rng = np.random.default_rng(derive_seed(seed, "card-thompson"))
    means = bandits.draw_bandits(EPISODES, rng, "test")
    actions, _ = bandits.thompson(means, rng)
    return np.cumsum(means.max(1, keepdims=True) - np.take_along_axis(means, actions, 1), axis=1)


def uniform_regret(seed: int) -> np.ndarray:
    """Uniform pulls' expected cumulative regret on fresh test bandits (exact per bandit: no pulls drawn)."""
    means = bandits.draw_bandits(EPISODES, np.random.default_rng(derive_seed(seed, "card-uniform")), "test")
    return (means.max(1) - means.mean(1))[:, None] * np.arange(1, bandits.HORIZON + 1)


def evaluate(agent) -> dict:
    """Card facts pooled over three seeds of 500 unseen bandits each, with 95% CIs over bandits."""
    curves: dict = {}

    def curve(name: str, seed: int) -> np.ndarray:
        if (name, seed) not in curves:
            curves[name, seed] = {
                "sampled": lambda: agent_regret(agent, seed), "greedy": lambda: agent_regret(agent, seed, True),
                "recent": lambda: agent_regret(agent, seed, recent=RECENT), "thompson": lambda: thompson_regret(seed),
                "uniform": lambda: uniform_regret(seed)}[name]()
        return curves[name, seed]

    def at(name: str, pulls: int):
        def values(seed: int):
            regret = curve(name, seed)[:, pulls - 1]
            return regret, np.arange(len(regret))  # a bandit each

        return values

    prefix = {"sampled": "", "greedy": "greedy_", "recent": f"last{RECENT}_", "thompson": "thompson_",
              "uniform": "uniform_"}
    measures = {f"{prefix[name]}regret_{t}": at(name, t) for name in prefix for t in AT}
    facts = measured_facts(measures)
    m, ci = facts["metrics"], facts["intervals"]

    def quoted(name: str) -> str:
        return f"{m[name]:.2f} [{ci[name][0]:.2f}, {ci[name][1]:.2f}]"

    return {
        **facts,
        "evaluation": f"3 seeds × {EPISODES:,} unseen (test-split) bandits of {bandits.ARMS} Bernoulli arms, "
                      f"{bandits.HORIZON} pulls each, the agent acting on its own history (sampled actions "
                      "unless 'greedy'); regret_t = cumulative regret after t pulls (best arm's mean − the pulled "
                      f"arm's); 'last{RECENT}': the context cut to its last {RECENT} pulls; Thompson sampling and "
                      "uniform pulls on other draws of test bandits; 95% CIs resample bandits",
        "environment": {"arms": bandits.ARMS, "horizon": bandits.HORIZON, "arm_means": "uniform [0, 1)",
                        "split": "hash of the arm means (mirl.seeding.hash_split)"},
        "behavioural_facts": [
            f"on unseen bandits, acting on its own history: regret after 100 pulls {quoted('regret_100')} "
            f"(greedy {quoted('greedy_regret_100')}), Thompson sampling {quoted('thompson_regret_100')}, uniform "
            f"{quoted('uniform_regret_100')}",
            f"it learns in context: its regret per pull falls from {m['regret_10'] / 10:.3f} over the first 10 "
            f"pulls to {(m['regret_100'] - m['regret_50']) / 50:.3f} over the last 50; with only its last "
            f"{RECENT} pulls in context, regret after 100 pulls is {quoted(f'last{RECENT}_regret_100')}",
        ],
    }


def agent_specs() -> list:
    from .agent import spec

    return [spec(evaluate)]
