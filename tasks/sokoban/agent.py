"""The Sokoban agents: ``sokoban-drc`` (a DRC(2,2): Guez et al. 2019's DRC at 2 layers × 2 ticks) and
``sokoban-ff`` (a feed-forward grid CNN of similar size), trained with mirl's PPO on 6×6-interior boards through
a curriculum from 1 to 2 boxes.

Level pools are generated from fixed seeds (``level_pool``) and cached on disk, so training, cards and tasks
see the same levels on every machine; the test levels are the held-out tenth of all levels (``env.Levels.splits``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mirl.agents import AgentSpec
from mirl.nets import DRC, GridCNN
from mirl.ppo import PPOConfig

from . import env as sokoban
from .sizes import BOXES, DRC_CHANNELS, DRC_DEPTH, DRC_TICKS, HIDDEN, INTERIOR, SIZE

TRAIN_POOL = 200_000  # 2-box training levels (the 1-box pool is half that: its level space is small)
TEST_POOL = 2_000
POOL_SEEDS = {("train", 1): 11, ("train", 2): 12, ("test", 1): 21, ("test", 2): 22}
# DRC(2,2) with 16 channels (sizes.py), sized for 2 CPU cores (~590 env steps/s in the
# feasibility probe). DRC(3,3) with 32 channels was tried on a lent H200: PPO with 8 minibatches × 2 epochs per
# 10,240 samples is latency-bound there (each BPTT pass is 20 sequential steps of 9 ConvLSTM ticks) and ran
# 3,300 steps/s, 1.5 M steps in 8 minutes, before the feed-forward baseline's learning point (~7 M steps at
# these settings).
FF_CHANNELS, FF_LAYERS = 64, 6
# Curriculum: a quarter of the first episodes are 2-box levels, rising to all of them after this many episodes.
MIX_START, MIX_EPISODES = 0.25, 60_000

# PPO for the recurrent agent, as the feasibility probe's run that learned (64 envs × 16 steps, 2 epochs × 2
# minibatches: ~4 gradient steps per 1,000 samples; rewards × 0.1); at ~0.5 per 1,000 nothing was learned.
DRC_CONFIG = PPOConfig(
    total_steps=10_000_000, num_envs=64, num_steps=16, learning_rate=7e-4, anneal_lr=True, gamma=0.99,
    gae_lambda=0.95, num_minibatches=2, update_epochs=2, clip_coef=0.2, ent_coef=0.02, vf_coef=0.5,
    max_grad_norm=0.5, reward_scaling=False, reward_scale=0.1, seed=0, checkpoints=10, save_every_seconds=120.0,
    log_every=50,
)
# The feed-forward baseline was trained on a lent H200 GPU (70,000 steps/s: a feed-forward pass is one batched
# call), with settings sized for it: 512 envs × 20 steps, 8 minibatches × 2 epochs, for what 8 minutes allowed.
FF_CONFIG = PPOConfig(
    total_steps=30_679_040, num_envs=512, num_steps=20, learning_rate=4e-4, anneal_lr=True, gamma=0.97,
    gae_lambda=0.95, num_minibatches=8, update_epochs=2, clip_coef=0.2, ent_coef=0.01, vf_coef=0.5,
    max_grad_norm=0.5, reward_scaling=False, reward_scale=0.1, seed=0, checkpoints=5, save_every_seconds=60.0,
    log_every=20,
)


def level_pool(split: str, boxes: int = BOXES, size: int | None = None) -> sokoban.Levels:
    """The fixed pool of 6×6 levels with ``boxes`` boxes for ``split`` ("train" or "test"), cached on disk."""
    from mirl.paths import mirl_home

    size = size or (TRAIN_POOL // (2 if boxes == 1 else 1) if split == "train" else TEST_POOL)
    seed = POOL_SEEDS[(split, boxes)]
    path = mirl_home() / "cache" / "sokoban-levels" / f"{split}-i{INTERIOR}-b{boxes}-n{size}-s{seed}.npz"
    if path.exists():
        data = np.load(path)
        return sokoban.Levels(SIZE, SIZE, data["walls"], data["targets"], data["boxes"], data["agent"])
    levels = sokoban.generate(size, seed, INTERIOR, boxes, split=split)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, walls=levels.walls, targets=levels.targets, boxes=levels.boxes, agent=levels.agent)
    tmp.replace(path)
    return levels


def build_drc() -> DRC:
    return DRC(in_channels=7, size=INTERIOR, num_actions=4, depth=DRC_DEPTH, ticks=DRC_TICKS,
               channels=DRC_CHANNELS, hidden=HIDDEN)


def build_ff() -> GridCNN:
    return GridCNN(in_channels=7, size=INTERIOR, num_actions=4, channels=FF_CHANNELS, layers=FF_LAYERS, hidden=HIDDEN)


def make_env(num_envs: int, seed: int) -> sokoban.SokobanVecEnv:
    """Training boards: 1-box levels with 2-box levels mixed in at a rising rate (the curriculum)."""
    return sokoban.SokobanVecEnv(num_envs, level_pool("train", 1), seed=seed, mix=level_pool("train", 2),
                                 mix_start=MIX_START, mix_episodes=MIX_EPISODES)


@torch.no_grad()
def play(agent, levels: sokoban.Levels, thinking: int = 0, greedy: bool = False, seed: int = 0,
         num_envs: int = 256, edit_hooks=None) -> dict[str, np.ndarray]:
    """Every level of ``levels`` played once, ``num_envs`` at a time. Per level: ``solved`` [N] bool,
    ``length`` [N] (steps taken), ``visited_before_push`` [N, H·W] (squares the agent stood on before its
    first push, the start included) and ``first_push_from`` [N] (the square it stood on when it made its first
    push; -1 if it never pushed). ``thinking``: at an episode's first step the agent sees its first observation
    ``1 + thinking`` times before it acts (NOOP ticks, as Guez et al.; a feed-forward agent is unaffected).
    ``edit_hooks`` (``mirl.interventions.EditHooks``) edit activations throughout, thinking ticks included; their
    ``episode_steps`` are kept up to date (thinking ticks count as step 0)."""
    n = len(levels)
    expected = tuple(agent.hook_points()["hook_obs"])
    if (7, levels.height - 2, levels.width - 2) != expected:
        raise ValueError(f"the levels' observations are 7×{levels.height - 2}×{levels.width - 2} but the agent "
                         f"takes {'×'.join(map(str, expected))}; use {expected[1] + 2}×{expected[2] + 2} boards "
                         "(border included)")
    env = sokoban.SokobanVecEnv(min(num_envs, n), levels, order="sequential")
    obs, _ = env.reset(seed=seed)
    generator = torch.Generator().manual_seed(seed)
    recurrent = getattr(agent, "recurrent", False)
    device = next(agent.parameters()).device
    state = agent.initial_state(env.num_envs) if recurrent else None
    starts = np.ones(env.num_envs, dtype=bool)
    solved = np.zeros(n, dtype=bool)
    length = np.zeros(n, dtype=np.int64)
    # the level each env plays, counted before the env wraps around to the pool's start (>= n: not recorded)
    level = np.arange(env.num_envs)
    next_level = env.num_envs
    steps = np.zeros(env.num_envs, dtype=np.int64)
    visited = np.zeros((n, levels.walls.shape[1]), dtype=bool)
    first_push_from = np.full(n, -1, dtype=np.int64)
    pushed_yet = np.zeros(env.num_envs, dtype=bool)
    with agent.hooks(edit_hooks.fwd() if edit_hooks is not None else ()):
        while (level < n).any():
            playing = level < n
            before_push = playing & ~pushed_yet
            visited[level[before_push], env.agent[before_push]] = True
            if edit_hooks is not None:
                edit_hooks.episode_steps = steps.copy()
            x = torch.from_numpy(obs).to(device)
            if recurrent:
                flags = torch.from_numpy(starts).to(device)
                state = agent.reset_rows(state, flags)
                for _ in range(thinking if starts.any() else 0):
                    _, _, thought = agent(x, state)  # NOOP tick: only envs at their first step take it
                    fresh = flags.view(-1, *([1] * (state[0].ndim - 1)))
                    state = tuple(torch.where(fresh, t, s) for s, t in zip(state, thought))
                logits, _, state = agent(x, state)
            else:
                logits, _ = agent(x)
            if greedy:
                actions = logits.argmax(-1).cpu().numpy()
            else:
                probs = torch.softmax(logits.float(), -1).cpu()
                actions = torch.multinomial(probs, 1, generator=generator).squeeze(1).numpy()
            pushed = sokoban.transition(env.walls, env.boxes, env.agent, actions, env.width)[2]
            first = pushed & ~pushed_yet & playing
            first_push_from[level[first]] = env.agent[first]
            pushed_yet |= pushed
            obs, _, terminated, truncated, _ = env.step(actions)
            steps += 1
            starts = terminated | truncated
            ended = np.flatnonzero(starts)
            record = ended[level[ended] < n]
            solved[level[record]], length[level[record]] = terminated[record], steps[record]
            level[ended] = next_level + np.arange(len(ended))  # the env gives its done envs levels in this order
            next_level += len(ended)
            steps[ended] = 0
            pushed_yet[ended] = False
    return {"solved": solved, "length": length, "visited_before_push": visited, "first_push_from": first_push_from}


def spec_drc(evaluate=None) -> AgentSpec:
    """``evaluate``: the card's measure (``card.evaluate``, attached where the family registers its agents)."""
    return AgentSpec(
        id="sokoban-drc", family="sokoban", folder=Path(__file__).parent, checkpoint="sokoban-drc.pt",
        card="sokoban-drc.card.json", build=build_drc, make_agent=lambda seed: build_drc(), make_env=make_env,
        config=DRC_CONFIG, evaluate=evaluate,
        architecture=f"DRC({DRC_DEPTH},{DRC_TICKS}): encoder 2 × conv 3×3 ({DRC_CHANNELS}) → {DRC_DEPTH} ConvLSTM "
        f"layers ({DRC_CHANNELS} ch, 3×3, pool-and-inject) × {DRC_TICKS} ticks per step → dense {HIDDEN} "
        f"(top h ⊕ encoding) → policy 4 / value 1, on the 6×6 interior",
        ship_snapshots=5,
    )


def spec_ff(evaluate=None) -> AgentSpec:
    return AgentSpec(
        id="sokoban-ff", family="sokoban", folder=Path(__file__).parent, checkpoint="sokoban-ff.pt",
        card="sokoban-ff.card.json", build=build_ff, make_agent=lambda seed: build_ff(), make_env=make_env,
        config=FF_CONFIG, evaluate=evaluate,
        architecture=f"grid CNN: {FF_LAYERS} × conv 3×3 ({FF_CHANNELS}, padding 1) → dense {HIDDEN} → policy 4 / "
        "value 1 (no state: the feed-forward baseline)",
        notes=["trained on a lent NVIDIA H200 GPU (torch 2.11.0+cu130, cuDNN deterministic, seed 0) by "
               "`python -m mirl.tasks.sokoban.train_budget --agent sokoban-ff --device cuda --seconds 500`; "
               "'hardware' is the machine that measured this card. Retraining on a CPU from the same seed gives "
               "other weights (other floating-point order), so the pinned sha256 is what identifies this agent"],
        ship_snapshots=0,
    )
