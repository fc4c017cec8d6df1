"""`ad-bandit`: algorithm distillation (Laskin et al. 2022) on Bernoulli bandits — a 2-layer transformer trained
offline to predict Thompson sampling's next pull from the pulls and rewards before it, across the learning
histories of 100,000 training bandits. Acting on its own history, it should learn in context on bandits it never
saw: that is what its card measures."""

from __future__ import annotations

from pathlib import Path

from mirl.agents import AgentSpec
from mirl.offline import SequenceConfig
from mirl.transformer import TransformerConfig

from . import env as bandits

MODEL = TransformerConfig(n_layers=2, d_model=64, n_heads=4, d_head=16, d_mlp=256,
                          d_vocab=bandits.VOCAB + bandits.ARMS, n_ctx=bandits.HORIZON)
# the action logits are read at vocabulary entries no input uses: one output per arm
ACTION_TOKENS = list(range(bandits.VOCAB, bandits.VOCAB + bandits.ARMS))
HISTORIES = 100_000
CONFIG = SequenceConfig(total_steps=3000, batch=64, learning_rate=1e-3, weight_decay=0.01, warmup_steps=100,
                        seed=0, checkpoints=10, save_every_seconds=60.0)


def build():
    from mirl.transformer import TransformerAgent

    return TransformerAgent(MODEL, ACTION_TOKENS, pad_token=bandits.PAD)


def source_histories(seed: int, n: int = HISTORIES):
    """Thompson sampling's learning histories on ``n`` training bandits, as offline training data."""
    import numpy as np

    from mirl.offline import SequenceData

    rng = np.random.default_rng(seed)
    actions, rewards = bandits.thompson(bandits.draw_bandits(n, rng, "train"), rng)
    return SequenceData(bandits.contexts(actions, rewards), actions)


def train(config: SequenceConfig, make_agent, run_dir: Path, resume: bool = False, log=print):
    """The trainer of ``ad-bandit`` (``AgentSpec.trainer``): histories from the config's seed, one torch thread
    (the same bytes on the same CPU whatever the machine's core count)."""
    import torch

    from mirl.offline import train_sequences

    torch.set_num_threads(1)
    return train_sequences(config, make_agent, source_histories(config.seed), run_dir, resume, log)


def spec(evaluate=None) -> AgentSpec:
    """``evaluate``: the card's measure (``card.evaluate``, attached where the family registers its agents)."""
    return AgentSpec(
        id="ad-bandit", family="icrl", folder=Path(__file__).parent, checkpoint="ad-bandit.pt",
        card="ad-bandit.card.json", build=build, make_agent=lambda seed: build(),
        make_env=lambda num_envs, seed: bandits.BanditVecEnv(num_envs, seed=seed, split="train"),
        config=CONFIG, evaluate=evaluate, trainer=train,
        architecture=f"TransformerLens transformer (mirl.transformer): {MODEL.n_layers} layers, d_model "
        f"{MODEL.d_model}, {MODEL.n_heads} heads × {MODEL.d_head}, MLP {MODEL.d_mlp} ({MODEL.act_fn}), LayerNorm, "
        f"learned positions, context {MODEL.n_ctx} tokens; vocabulary {MODEL.d_vocab} (START, 2 × "
        f"{bandits.ARMS} pull tokens, PAD, {bandits.ARMS} action outputs)",
        training=f"algorithm distillation: offline action cross-entropy (mirl.offline) on Thompson sampling's "
                 f"histories of {HISTORIES:,} training bandits × {bandits.HORIZON} pulls",
    )
