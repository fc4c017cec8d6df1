"""Planting `has_key` in declared units with interchange-intervention training (IIT), with decoys.

A planted agent has ``doorkey-ppo``'s architecture and is distilled from the BFS expert (soft targets: uniform
over the optimal actions) with more terms per batch of (base, source) pairs, c = the base with the source's
has_key (``env.key_counterfactual``):

- IIT: the base with the plant of ``PLANT_HOOK`` taken from the source must act as the expert does on c — so
  has_key lives there;
- exclusivity: the base with everything *but* the plant taken from c must act as on the base — so it lives
  nowhere else in that layer (the literal strict-IIT term cannot hold at a layer that is the only path; see the
  feasibility notes);
- decoys (channel plant only): a linear readout of the decoy channels' spatial means must decode has_key (so
  correlational methods find them), while the exclusivity term keeps them causally inert.

Two plants (``Plant``): ``channels`` — channels 0–3 of the layer, with decoys 4–7 (``doorkey-planted``), and
``subspace`` — at every position, a 4-dimensional subspace of the 32-dimensional channel space in a fixed
random rotation, aligned with no channel (``doorkey-planted-subspace``). Pairs and labels are NumPy edits and a cached BFS, so the cost is the network's
(≈ 3 trunk passes per step). Training checkpoints its whole state, so a stopped run resumes exactly. torch is
imported inside functions: the task specs import this module, and listing tasks must stay light.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from mirl.errors import MirlError
from mirl.trainers import TrainedRun, config_from_dict, load_run_state

from . import env as doorkey

if TYPE_CHECKING:
    import torch

PLANT_HOOK = "encoder.conv1.hook_out"
PLANT_SHAPE = (32, 6, 6)  # the hook's per-state shape on DoorKey-8x8
PLANTED = (0, 1, 2, 3)
DECOYS = (4, 5, 6, 7)
CHANNEL_SUBSPACE_DIM = 4  # planted dimensions of the channel space, at every position
SUBSPACE_DIM = CHANNEL_SUBSPACE_DIM * PLANT_SHAPE[1] * PLANT_SHAPE[2]  # 144 of the layer's 1,152
SUBSPACE_SEED = 20261126  # the rotation that defines doorkey-planted-subspace's plant


def channel_rotation(dim: int = CHANNEL_SUBSPACE_DIM, channels: int = PLANT_SHAPE[0],
                     seed: int = SUBSPACE_SEED) -> np.ndarray:
    """[dim, channels] orthonormal rows: the first ``dim`` axes of a random rotation of the channel space."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((channels, dim)))
    return np.ascontiguousarray(q.T)


def subspace_basis(rotation: np.ndarray | None = None, positions: int = PLANT_SHAPE[1] * PLANT_SHAPE[2]) -> np.ndarray:
    """[dim × positions, channels × positions] orthonormal rows over the flattened [C, H, W] layer: the same
    channel-space subspace (``rotation``'s rows, default ``channel_rotation()``) at every position.

    Why per position and not 4 dimensions of the whole flattened layer: patching has_key from a source also
    moves the key (c has it on the source's key cell), so the plant must carry the key's cell as well; a
    4-dimensional global subspace could not (a first try planted there reached IIA 0.79 and 52% greedy
    success), while 4 of 32 channel dimensions at each of the 36 positions can, as channels 0–3 do."""
    rotation = channel_rotation() if rotation is None else rotation
    return np.kron(rotation, np.eye(positions))


@dataclass(frozen=True)
class Plant:
    """Where a variable is planted in ``hook``: a set of ``channels`` (all positions), or the span of ``basis``
    rows ([k, features] orthonormal, over the flattened activation)."""

    hook: str = PLANT_HOOK
    channels: tuple[int, ...] | None = None
    basis: np.ndarray | None = None

    def patch(self, into: torch.Tensor, donor: torch.Tensor) -> torch.Tensor:
        """``into`` with the plant's part taken from ``donor`` (both [B, *shape]). Everything *but* the plant
        from ``donor`` is ``patch(donor, into)``."""
        import torch

        if self.channels is not None:
            out = into.clone()
            index = torch.tensor(self.channels)
            out[:, index] = donor[:, index]
            return out
        q = torch.as_tensor(self.basis, dtype=into.dtype)
        delta = (donor - into).flatten(1) @ q.T @ q
        return into + delta.view_as(into)

    def check(self, shape: tuple[int, ...]) -> Plant:
        """This plant, or a one-line error if it does not fit a layer of ``shape``."""
        if self.channels is not None:
            bad = [c for c in self.channels if not 0 <= c < shape[0]]
            if bad or not self.channels:
                raise ValueError(f"planted channels {bad or '[]'} are outside {self.hook}'s {shape[0]} channels; "
                                 f"use channels 0..{shape[0] - 1}")
        elif self.basis is None or self.basis.ndim != 2 or self.basis.shape[1] != int(np.prod(shape)):
            got = None if self.basis is None else list(self.basis.shape)
            raise ValueError(f"a planted subspace of {self.hook} needs a [k, {int(np.prod(shape))}] basis, got {got}")
        return self


CHANNEL_PLANT = Plant(channels=PLANTED)


def subspace_plant() -> Plant:
    return Plant(basis=subspace_basis())


# ----------------------------------------------------------------------------------------------------
# States and pairs


@dataclass
class Pool:
    """Distinct states with the expert's soft targets and has_key labels."""

    states: list
    targets: np.ndarray  # [N, actions] uniform over the optimal actions
    has_key: np.ndarray  # [N] bool

    def extended(self, states: list) -> Pool:
        known = {_state_key(s) for s in self.states}
        new = [s for s in states if _state_key(s) not in known]
        if not new:
            return self
        return Pool(self.states + new, np.concatenate([self.targets, _targets(new)]),
                    np.concatenate([self.has_key, [s.carrying for s in new]]))


def _state_key(state: doorkey.State) -> bytes:
    return state.grid.tobytes() + bytes([*state.agent, state.direction, state.carrying])


def _targets(states: list) -> np.ndarray:
    return np.stack([soft_target(doorkey.expert_actions(s)) for s in states])


def soft_target(actions: frozenset[int]) -> np.ndarray:
    out = np.zeros(doorkey.NUM_ACTIONS, dtype=np.float32)
    out[sorted(actions)] = 1.0 / len(actions)
    return out


def _reset_seed(rng: np.random.Generator, split: str) -> int:
    low, high = (0, doorkey.TEST_SEEDS_FROM) if split == "train" else (doorkey.TEST_SEEDS_FROM, 2**31 - 1)
    return int(rng.integers(low, high))


def state_pool(size: int, seed: int, episodes: int, epsilon: float = 0.3, split: str = "train",
               layouts: str | None = None) -> Pool:
    """States from expert and ε-noisy expert episodes (alternating) on ``split``'s reset seeds (and, if given, the
    ``layouts`` split's layouts), de-duplicated."""
    from minigrid.envs import DoorKeyEnv

    rng = np.random.default_rng(seed)
    env = DoorKeyEnv(size=size)
    env.gen_obs = doorkey.no_view  # states are read off the env itself; MiniGrid's view would be drawn for nothing
    seen: dict[bytes, tuple[doorkey.State, frozenset[int]]] = {}  # each state with its expert actions
    # noise never drops the key: a dropped key is a state DoorKey's tasks do not ask about
    noise = (doorkey.LEFT, doorkey.RIGHT, doorkey.FORWARD, doorkey.PICKUP, doorkey.TOGGLE)
    for episode in range(episodes):
        doorkey.reset_in(env, lambda: _reset_seed(rng, split), layouts)
        noisy = episode % 2 == 1
        for _ in range(env.max_steps):
            state = doorkey.state_of(env)
            best = doorkey.expert_actions(state)
            if not best:
                break  # a state the expert cannot finish from: not a training state
            seen.setdefault(_state_key(state), (state, best))
            action = int(rng.choice(noise)) if noisy and rng.random() < epsilon else min(best)
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
    states = [state for state, _ in seen.values()]
    targets = np.stack([soft_target(best) for _, best in seen.values()])
    return Pool(states, targets, np.array([s.carrying for s in states]))


def learner_states(agent, size: int, seed: int, episodes: int, epsilon: float = 0.1, cap: int = 60,
                   split: str = "train") -> list:
    """States the agent itself visits (ε-greedy, at most ``cap`` steps an episode): DAgger's round, which on
    8×8 is what takes a distilled agent from ~80% to ~100% success (feasibility notes)."""
    import torch
    from minigrid.envs import DoorKeyEnv

    rng = np.random.default_rng(seed)
    env = DoorKeyEnv(size=size)
    env.gen_obs = doorkey.no_view
    out = []
    for _ in range(episodes):
        env.reset(seed=_reset_seed(rng, split))
        for _ in range(cap):
            state = doorkey.state_of(env)
            if not doorkey.expert_actions(state):
                break
            out.append(state)
            if rng.random() < epsilon:
                action = int(rng.integers(doorkey.NUM_ACTIONS))
            else:
                with torch.no_grad():
                    action = int(agent(torch.from_numpy(doorkey.observe([state])))[0].argmax())
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
    return out


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


# ----------------------------------------------------------------------------------------------------
# Training


def _patched_logits(agent, plant: Plant, obs: torch.Tensor, donor: torch.Tensor) -> torch.Tensor:
    """Logits of ``agent`` on ``obs`` with the plant taken from ``donor`` activations."""
    with agent.hooks([(plant.hook, lambda act, _name: plant.patch(act, donor))]):
        return agent(obs)[0]


def _complement_logits(agent, plant: Plant, obs: torch.Tensor, donor: torch.Tensor) -> torch.Tensor:
    """Logits of ``agent`` on ``obs`` with everything but the plant taken from ``donor`` activations."""
    with agent.hooks([(plant.hook, lambda act, _name: plant.patch(donor, act))]):
        return agent(obs)[0]


def _acts(agent, hook: str, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    (logits, _), cache = agent.run_with_cache(obs, names=[hook], detach=False)
    return logits, cache[hook]


def soft_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    import torch

    return -(targets * torch.log_softmax(logits, -1)).sum(-1).mean()


@dataclass
class PlantConfig:
    """Settings of one planting run; the planted agents' cards record the exact values used."""

    plant: str = "channels"
    """"channels" (PLANTED channels of PLANT_HOOK, DECOYS as decoys) or "subspace" (a rotated subspace)."""
    size: int = 8
    total_steps: int = 4000
    """Gradient steps (each on ``batch`` (base, source) pairs)."""
    batch: int = 256
    learning_rate: float = 1e-3
    """Adam step size, cosine-annealed to 0."""
    pool_episodes: int = 2000
    """Expert and ε = 0.3 expert episodes (half each) whose distinct states form the pool."""
    dagger_episodes: int = 300
    dagger_at: tuple[float, ...] = (0.3, 0.6, 0.8)
    """DAgger rounds run after these fractions of the steps; the states the agent visits join the pool (a late
    round catches the loops of the nearly final policy, which greedy evaluation falls into)."""
    seed: int = 0
    save_every_seconds: float = 60.0

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PlantConfig:
        if values.get("plant", "channels") not in ("channels", "subspace"):
            raise MirlError(f"plant must be 'channels' or 'subspace', got {values['plant']!r}")
        if "dagger_at" in values:  # JSON gives a list
            values = {**values, "dagger_at": tuple(values["dagger_at"])}
        return config_from_dict(cls, values, "planting")

    @property
    def the_plant(self) -> Plant:
        return CHANNEL_PLANT if self.plant == "channels" else subspace_plant()

    @property
    def decoys(self) -> tuple[int, ...]:
        return DECOYS if self.plant == "channels" else ()


def train_plant(config: PlantConfig, make_agent: Callable[[], Any], run_dir: Path, resume: bool = False,
                log: Callable[[str], None] = print, stop_after_steps: int | None = None) -> TrainedRun:
    """Plant ``config.plant`` into a fresh agent (or resume ``run_dir``'s). Deterministic for a seed on CPU,
    resumed or not: the pool, the NumPy pair sampler, torch's generator and the optimiser are all saved."""
    import torch
    import torch.nn.functional as F
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path = run_dir / "state.pt"
    torch.manual_seed(config.seed)
    agent = make_agent()
    plant = config.the_plant.check(tuple(agent.hook_points()[PLANT_HOOK]))
    decoy_readout = torch.nn.Linear(max(1, len(config.decoys)), 1)
    optimizer = torch.optim.Adam(list(agent.parameters()) + list(decoy_readout.parameters()), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.total_steps)
    rng = np.random.default_rng(config.seed)
    dagger_steps = {int(f * config.total_steps) for f in config.dagger_at}
    step, wall, losses = 0, 0.0, {}
    if resume:
        saved = load_run_state(state_path, config, "planting")
        agent.load_state_dict(saved["agent"])
        decoy_readout.load_state_dict(saved["decoy_readout"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        rng.bit_generator.state = saved["numpy_generator"]
        torch.set_rng_state(saved["torch_generator"])
        pool, step, wall, losses = saved["pool"], saved["step"], saved["wall_seconds"], saved["losses"]
        log(f"resumed {run_dir} at step {step} of {config.total_steps}")
    else:
        pool = state_pool(config.size, config.seed, config.pool_episodes)
        log(f"pool: {len(pool.states)} distinct states from {config.pool_episodes} expert episodes "
            f"({pool.has_key.mean():.0%} with the key)")
    started = time.perf_counter() - wall
    last_save = time.perf_counter()

    def save() -> None:
        torch.save({"config": dataclasses.asdict(config), "agent": agent.state_dict(),
                    "decoy_readout": decoy_readout.state_dict(), "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(), "numpy_generator": rng.bit_generator.state,
                    "torch_generator": torch.get_rng_state(), "pool": pool, "step": step,
                    "wall_seconds": time.perf_counter() - started, "losses": losses}, state_path.with_suffix(".tmp"))
        state_path.with_suffix(".tmp").replace(state_path)

    all_obs = torch.from_numpy(doorkey.observe(pool.states))
    all_targets = torch.from_numpy(pool.targets)
    stop = config.total_steps if stop_after_steps is None else min(config.total_steps, step + stop_after_steps)
    while step < stop:
        if step in dagger_steps and config.dagger_episodes:
            agent.eval()
            visited = learner_states(agent, config.size, config.seed + 1 + step, config.dagger_episodes)
            agent.train()
            before = len(pool.states)
            pool = pool.extended(visited)
            all_obs = torch.from_numpy(doorkey.observe(pool.states))
            all_targets = torch.from_numpy(pool.targets)
            log(f"DAgger at step {step}: {len(visited)} learner states, pool {before} → {len(pool.states)}")
        b, s, cfs = sample_pairs(pool, config.batch, rng)
        cf_obs = torch.from_numpy(doorkey.observe(cfs))
        cf_targets = torch.from_numpy(_targets(cfs))
        base_logits, base_acts = _acts(agent, plant.hook, all_obs[b])
        _, source_acts = _acts(agent, plant.hook, all_obs[s])
        _, cf_acts = _acts(agent, plant.hook, cf_obs)
        behaviour = soft_ce(base_logits, all_targets[b])
        iit = soft_ce(_patched_logits(agent, plant, all_obs[b], source_acts), cf_targets)
        exclusive = soft_ce(_complement_logits(agent, plant, all_obs[b], cf_acts), all_targets[b])
        loss = behaviour + iit + exclusive
        losses = {"behaviour": behaviour.item(), "iit": iit.item(), "exclusive": exclusive.item()}
        if config.decoys:
            decoy_mean = base_acts[:, list(config.decoys)].mean(dim=(2, 3))
            decoy = F.binary_cross_entropy_with_logits(decoy_readout(decoy_mean).squeeze(1),
                                                       torch.from_numpy(pool.has_key[b]).float())
            loss = loss + decoy
            losses["decoy"] = decoy.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        step += 1
        if step % 100 == 0 or step == config.total_steps:
            log(f"step {step}/{config.total_steps} " + " ".join(f"{k} {v:.3f}" for k, v in losses.items()))
        if time.perf_counter() - last_save > config.save_every_seconds:
            save()
            last_save = time.perf_counter()
    save()
    agent.eval()
    return TrainedRun(agent, step, time.perf_counter() - started, step >= config.total_steps, losses)


# ----------------------------------------------------------------------------------------------------
# Interchange-intervention accuracy


@dataclass
class PairSet:
    """(base, source, counterfactual) triples over a pool, with their observations."""

    pool: Pool
    bases: np.ndarray
    sources: np.ndarray
    cfs: list

    @classmethod
    def draw(cls, pool: Pool, pairs: int, seed: int) -> PairSet:
        b, s, cfs = sample_pairs(pool, pairs, np.random.default_rng(seed))
        return cls(pool, b, s, cfs)

    @functools.cached_property
    def changing(self) -> np.ndarray:
        """The pairs whose expert actions on the counterfactual and on the base share none (where an IIA with
        ``changing_only`` looks: elsewhere any unit set scores well by doing nothing)."""
        right, base_right = self.expert_sets
        return np.array([i for i in range(len(right)) if not right[i] & base_right[i]], dtype=np.int64)

    # A scorer patches the same pairs many times (an IIA curve, random floors): observations and the expert's
    # action sets are computed once per pair set.
    @functools.cached_property
    def obs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Observations of the bases, the sources and the counterfactuals."""
        import torch

        all_obs = torch.from_numpy(doorkey.observe(self.pool.states))
        return all_obs[self.bases], all_obs[self.sources], torch.from_numpy(doorkey.observe(self.cfs))

    @functools.cached_property
    def expert_sets(self) -> tuple[list[frozenset[int]], list[frozenset[int]]]:
        """The expert's optimal actions on each counterfactual, and on each base."""
        return ([doorkey.expert_actions(c) for c in self.cfs],
                [doorkey.expert_actions(self.pool.states[b]) for b in self.bases])


class UneditedPass:
    """What ``interchange_hits`` computes that no edit changes: the sources' activations (what edits patch in) and
    the agent's own greedy actions on the counterfactuals and the bases. A scorer that patches many unit sets into
    one agent on one pair set (an IIA curve, random floors) passes one ``UneditedPass`` to every call: one forward
    pass per unit set instead of four."""

    def __init__(self, agent, pairs: PairSet):
        self.agent, self.pairs = agent, pairs

    @functools.cached_property
    def source_cache(self) -> dict[str, torch.Tensor]:
        import torch

        with torch.no_grad():
            _, cache = self.agent.run_with_cache(self.pairs.obs[1], names=sorted(self.agent.hook_points()))
        return cache

    @functools.cached_property
    def actions(self) -> tuple[np.ndarray, np.ndarray]:
        """The agent's greedy actions on the counterfactuals and on the bases."""
        import torch

        base_obs, _, cf_obs = self.pairs.obs
        with torch.no_grad():
            return self.agent(cf_obs)[0].argmax(-1).numpy(), self.agent(base_obs)[0].argmax(-1).numpy()


def interchange_hits(agent, pairs: PairSet, edits: Callable[[dict], list], target: str = "expert",
                     changing_only: bool = True, unedited: UneditedPass | None = None) -> np.ndarray:
    """Per (base, source) pair, 1.0 where the base, with ``edits(source_cache)`` applied (hook edits built from
    the source's activations), acts as ``target`` says it should on the counterfactual c — "expert": an optimal
    action on c (for planted agents, whose behaviour is the expert's); "agent": the agent's own greedy action on
    c (for a naturally trained agent). ``changing_only``: only pairs where that target differs between c and the
    base (elsewhere any unit set scores well by doing nothing). ``unedited``: this agent's and pairs'
    ``UneditedPass``, shared between calls (the agent's weights must not change in between)."""
    import torch

    if unedited is None:
        unedited = UneditedPass(agent, pairs)
    elif unedited.agent is not agent or unedited.pairs is not pairs:
        raise ValueError("interchange_hits: the UneditedPass was made for another agent or pair set")
    with torch.no_grad():
        with agent.hooks(edits(unedited.source_cache)):
            chosen = agent(pairs.obs[0])[0].argmax(-1).numpy()
    if target == "expert":
        right = pairs.expert_sets[0]
        keep = pairs.changing if changing_only else range(len(right))
        return np.array([float(chosen[i] in right[i]) for i in keep])
    on_cf, on_base = unedited.actions
    keep = [i for i in range(len(chosen)) if not changing_only or on_cf[i] != on_base[i]]
    return np.array([float(chosen[i] == on_cf[i]) for i in keep])


def interchange_accuracy(agent, pairs: PairSet, edits: Callable[[dict], list], target: str = "expert",
                         changing_only: bool = True) -> float:
    """MIB-style interchange-intervention accuracy: the mean of ``interchange_hits`` (NaN without pairs)."""
    hits = interchange_hits(agent, pairs, edits, target, changing_only)
    return float(hits.mean()) if len(hits) else float("nan")


def channel_edits(units: dict[str, list[int]]) -> Callable[[dict], list]:
    """Edits that patch channel ``units`` (hook → channels) from the source cache."""

    def build(cache: dict) -> list:
        edits = []
        for hook, channels in units.items():
            if channels:
                plant = Plant(hook=hook, channels=tuple(channels))
                edits.append((hook, lambda act, _name, p=plant, d=cache[hook]: p.patch(act, d)))
        return edits

    return build


def plant_edits(plant: Plant) -> Callable[[dict], list]:
    return lambda cache: [(plant.hook, lambda act, _name: plant.patch(act, cache[plant.hook]))]


def iia_curve(agent, pairs: PairSet, order: list[tuple[str, int]], percents=(1, 2, 5, 10, 20, 50),
              target: str = "expert") -> dict[int, float]:
    """IIA when the top k% of ``order`` (units as (hook, channel), best first) are patched, per k: the
    haskey-locate curve (its area, the mean over k, is the primary score)."""
    curve = {}
    for k in percents:
        units: dict[str, list[int]] = {}
        for hook, channel in order[: max(1, math.ceil(k / 100 * len(order)))]:
            units.setdefault(hook, []).append(channel)
        curve[k] = interchange_accuracy(agent, pairs, channel_edits(units), target)
    return curve
