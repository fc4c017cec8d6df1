"""Planting `has_key` in declared channels with interchange-intervention training (IIT), with decoys.

The planted agent has ``doorkey-ppo``'s architecture and is distilled from the BFS expert (soft targets: uniform
over the optimal actions) with three more terms per batch of (base, source) pairs, c = the base with the
source's has_key (``env.key_counterfactual``):

- IIT: the base with the planted channels of ``PLANT_HOOK`` taken from the source must act as the expert does
  on c — so has_key lives in those channels;
- exclusivity: the base with every *other* channel taken from c must act as on the base — so it lives nowhere
  else (the literal strict-IIT term cannot hold at a layer that is the only path; see the feasibility notes);
- decoys: a linear readout of the decoy channels' spatial means must decode has_key (so correlational methods
  find them), while the exclusivity term keeps them causally inert.

Pairs and labels are NumPy edits and a cached BFS, so the cost is the network's (≈ 3 trunk passes per step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import env as doorkey

PLANT_HOOK = "encoder.conv1.hook_out"
PLANTED = (0, 1, 2, 3)
DECOYS = (4, 5, 6, 7)


@dataclass
class Pool:
    """Distinct states with the expert's soft targets and has_key labels."""

    states: list
    targets: np.ndarray  # [N, actions] uniform over the optimal actions
    has_key: np.ndarray  # [N] bool


def soft_target(actions: frozenset[int]) -> np.ndarray:
    out = np.zeros(doorkey.NUM_ACTIONS, dtype=np.float32)
    out[sorted(actions)] = 1.0 / len(actions)
    return out


def state_pool(size: int, seed: int, episodes: int, epsilon: float = 0.3) -> Pool:
    """States from expert and ε-noisy expert episodes on train reset seeds, de-duplicated."""
    from minigrid.envs import DoorKeyEnv

    rng = np.random.default_rng(seed)
    env = DoorKeyEnv(size=size)
    seen: dict[bytes, doorkey.State] = {}
    for episode in range(episodes):
        env.reset(seed=int(rng.integers(0, doorkey.TEST_SEEDS_FROM)))
        noisy = episode % 2 == 1
        for _ in range(env.max_steps):
            state = doorkey.state_of(env)
            key = state.grid.tobytes() + bytes([*state.agent, state.direction, state.carrying])
            best = doorkey.expert_actions(state)
            if not best:
                break  # a state the expert cannot finish from: not a training state
            seen.setdefault(key, state)
            # noise never drops the key: a dropped key is a state DoorKey's tasks do not ask about
            noise = (doorkey.LEFT, doorkey.RIGHT, doorkey.FORWARD, doorkey.PICKUP, doorkey.TOGGLE)
            action = int(rng.choice(noise)) if noisy and rng.random() < epsilon else min(best)
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
    states = list(seen.values())
    return Pool(states, np.stack([soft_target(doorkey.expert_actions(s)) for s in states]),
                np.array([s.carrying for s in states]))


def sample_pairs(pool: Pool, batch: int, rng: np.random.Generator):
    """(base, source, counterfactual) triples whose has_key differ, the source drawn from the other has_key
    bucket; a counterfactual the expert cannot finish from is redrawn."""
    carrying, free = np.flatnonzero(pool.has_key), np.flatnonzero(~pool.has_key)
    bases, sources, cfs = [], [], []
    while len(bases) < batch:
        b = int(rng.integers(len(pool.states)))
        s = int(rng.choice(free if pool.has_key[b] else carrying))
        cf = doorkey.key_counterfactual(pool.states[b], pool.states[s])
        # the expert must be able to finish from c (a placed key can block the 1-wide key room: rare)
        if cf is not None and doorkey.expert_actions(cf):
            bases.append(b)
            sources.append(s)
            cfs.append(cf)
    return np.array(bases), np.array(sources), cfs


def _patched(agent, obs: torch.Tensor, donor: torch.Tensor, channels) -> torch.Tensor:
    """Logits of ``agent`` on ``obs`` with ``channels`` of the plant layer replaced by ``donor``'s."""
    index = torch.tensor(list(channels))

    def patch(act: torch.Tensor, _name: str) -> torch.Tensor:
        out = act.clone()
        out[:, index] = donor[:, index]
        return out

    with agent.hooks([(PLANT_HOOK, patch)]):
        return agent(obs)[0]


def _acts(agent, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    (logits, _), cache = agent.run_with_cache(obs, names=[PLANT_HOOK], detach=False)
    return logits, cache[PLANT_HOOK]


def soft_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(targets * F.log_softmax(logits, -1)).sum(-1).mean()


def train_planted(agent, pool: Pool, steps: int, seed: int = 0, batch: int = 256, lr: float = 1e-3,
                  log=print) -> dict[str, float]:
    """Train ``agent`` in place; returns the last step's losses. Deterministic for a seed on CPU."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    others = [c for c in range(agent.hook_points()[PLANT_HOOK][0]) if c not in PLANTED]
    decoy_readout = torch.nn.Linear(len(DECOYS), 1)
    params = list(agent.parameters()) + list(decoy_readout.parameters())
    optimizer = torch.optim.Adam(params, lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    all_obs = torch.from_numpy(doorkey.observe(pool.states))
    all_targets = torch.from_numpy(pool.targets)
    losses = {}
    for step in range(steps):
        b, s, cfs = sample_pairs(pool, batch, rng)
        cf_obs = torch.from_numpy(doorkey.observe(cfs))
        cf_targets = torch.from_numpy(np.stack([soft_target(doorkey.expert_actions(c)) for c in cfs]))
        base_logits, base_acts = _acts(agent, all_obs[b])
        _, source_acts = _acts(agent, all_obs[s])
        _, cf_acts = _acts(agent, cf_obs)
        behaviour = soft_ce(base_logits, all_targets[b])
        iit = soft_ce(_patched(agent, all_obs[b], source_acts, PLANTED), cf_targets)
        exclusive = soft_ce(_patched(agent, all_obs[b], cf_acts, others), all_targets[b])
        decoy_mean = base_acts[:, list(DECOYS)].mean(dim=(2, 3))
        decoy = F.binary_cross_entropy_with_logits(decoy_readout(decoy_mean).squeeze(1),
                                                   torch.from_numpy(pool.has_key[b]).float())
        loss = behaviour + iit + exclusive + decoy
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses = {"behaviour": behaviour.item(), "iit": iit.item(), "exclusive": exclusive.item(),
                  "decoy": decoy.item()}
        if step % 100 == 0 or step == steps - 1:
            log(f"step {step} " + " ".join(f"{k} {v:.3f}" for k, v in losses.items()))
    return losses


@torch.no_grad()
def interchange_accuracy(agent, pool: Pool, channels, pairs: int = 1000, seed: int = 1,
                         changing_only: bool = True, hook: str = PLANT_HOOK) -> float:
    """IIA of ``channels`` at ``hook`` (see ``unit_interchange_accuracy``)."""
    return unit_interchange_accuracy(agent, pool, {hook: list(channels)}, pairs, seed, changing_only)


@torch.no_grad()
def unit_interchange_accuracy(agent, pool: Pool, units: dict[str, list[int]], pairs: int = 1000, seed: int = 1,
                              changing_only: bool = True) -> float:
    """MIB-style interchange-intervention accuracy of channel ``units`` (hook → channels): the fraction of
    (base, source) pairs in which the base, with those channels taken from the source, takes an optimal action
    for the counterfactual state c. ``changing_only``: only pairs where the expert's optimal actions on c and
    on the base are disjoint (elsewhere any unit set scores well by doing nothing)."""
    rng = np.random.default_rng(seed)
    b, s, cfs = sample_pairs(pool, pairs, rng)
    cf_best = [doorkey.expert_actions(c) for c in cfs]
    obs = torch.from_numpy(doorkey.observe(pool.states))
    hooks = [h for h, chans in units.items() if chans]
    _, cache = agent.run_with_cache(obs[s], names=hooks)
    edits = []
    for hook in hooks:
        index = torch.tensor(units[hook])

        def patch(act: torch.Tensor, _name: str, index=index, donor=cache[hook]) -> torch.Tensor:
            out = act.clone()
            out[:, index] = donor[:, index]
            return out

        edits.append((hook, patch))
    with agent.hooks(edits):
        chosen = agent(obs[b])[0].argmax(-1).numpy()
    keep = [i for i in range(len(b)) if not changing_only or
            not (cf_best[i] & doorkey.expert_actions(pool.states[b[i]]))]
    return float(np.mean([chosen[i] in cf_best[i] for i in keep])) if keep else float("nan")


def iia_curve(agent, pool: Pool, order: list[tuple[str, int]], percents=(1, 2, 5, 10, 20, 50), pairs: int = 1000,
              seed: int = 1) -> dict[int, float]:
    """IIA when the top k% of ``order`` (units as (hook, channel), best first) are patched, per k: issue 7's
    haskey-locate curve (its area, the mean over k, is the primary score)."""
    import math

    curve = {}
    for k in percents:
        top = order[: max(1, math.ceil(k / 100 * len(order)))]
        units: dict[str, list[int]] = {}
        for hook, channel in top:
            units.setdefault(hook, []).append(channel)
        curve[k] = unit_interchange_accuracy(agent, pool, units, pairs, seed)
    return curve
