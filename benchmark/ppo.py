"""PPO for mirl agents, in one readable file (after CleanRL's ppo.py / ppo_atari_lstm.py).

Vectorized envs (``mirl.envs`` protocol), GAE, clipped policy and value objectives, entropy bonus, reward
scaling by the running std of the discounted return, linear LR annealing, and recurrent agents (state carried
across steps, reset at episode starts, truncated back-propagation over segments of ``bptt_length`` steps).

Deterministic on CPU for a given seed: actions are sampled with a dedicated torch Generator and minibatches
drawn from a NumPy Generator, and both are saved in checkpoints with the env state, so that stopping and
resuming gives the same weights as an uninterrupted run (tests/test_ppo.py).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from mirl.errors import MirlError
from mirl.seeding import seed_everything
from mirl.trainers import config_from_dict

STATE_FILE = "state.pt"  # full training state, for exact resume
SNAPSHOT_DIR = "checkpoints"  # weights only, spread over training, for training-dynamics studies


@dataclass
class PPOConfig:
    """Settings of one PPO run; a family's agent card records the exact values used."""

    total_steps: int = 1_000_000
    """Environment steps to train for (summed over the vectorized envs)."""
    num_envs: int = 64
    """Environments stepped in parallel."""
    num_steps: int = 128
    """Steps per env in each rollout; one update uses num_envs × num_steps samples."""
    learning_rate: float = 5e-4
    """Adam step size at the start (annealed linearly to 0 when anneal_lr)."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over training."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE's λ: bias-variance trade-off of the advantage estimate."""
    num_minibatches: int = 8
    """Minibatches per epoch (recurrent agents: split over envs, so num_envs must divide evenly)."""
    update_epochs: int = 3
    """Passes over each rollout."""
    clip_coef: float = 0.2
    """PPO's ratio clipping ε (also used for the value clipping)."""
    clip_vloss: bool = True
    """Clip the value update around the old value estimate."""
    ent_coef: float = 0.01
    """Weight of the entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    norm_adv: bool = True
    """Normalise advantages within each minibatch."""
    reward_scaling: bool = True
    """Divide rewards by the running std of the discounted return (as gymnasium's NormalizeReward)."""
    reward_scale: float = 1.0
    """A fixed factor on every reward before training sees it (Sokoban's ±10 rewards train better at 0.1)."""
    bptt_length: int | None = None
    """Recurrent agents: length of the truncated back-propagation segments (None: the whole rollout)."""
    seed: int = 0
    """Seeds weights (through seed_everything), env resets, action sampling and minibatch order."""
    checkpoints: int = 10
    """Weight snapshots kept, evenly spread over training (the final weights are always saved too)."""
    save_every_seconds: float = 300.0
    """Also save the full training state this often, so a stopped session loses little."""
    log_every: int = 10
    """Updates between log lines."""

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PPOConfig:
        return config_from_dict(cls, values, "PPO")

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return max(1, self.total_steps // self.batch_size)


class RunningMeanStd:
    """Running mean and variance (Chan et al.'s parallel update)."""

    def __init__(self) -> None:
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4

    def update(self, x: np.ndarray) -> None:
        batch_mean, batch_var, n = float(np.mean(x)), float(np.var(x)), x.size
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean += delta * n / total
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.var, self.count = m2 / total, total


class RewardScaler:
    """Scales rewards by the running std of each env's discounted return."""

    def __init__(self, num_envs: int, gamma: float):
        self.gamma = gamma
        self.returns = np.zeros(num_envs)
        self.rms = RunningMeanStd()

    def __call__(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        self.returns = self.returns * self.gamma + rewards
        self.rms.update(self.returns)
        self.returns[dones] = 0.0
        return rewards / math.sqrt(self.rms.var + 1e-8)


@dataclass
class TrainingState:
    """Everything that changes during training; saved whole for exact resume."""

    update: int
    global_step: int
    next_obs: np.ndarray
    next_starts: np.ndarray
    agent_state: Any
    env_state: Any
    torch_generator: torch.Tensor
    numpy_generator: dict
    scaler: RewardScaler | None
    episode_returns: np.ndarray
    episode_lengths: np.ndarray
    recent_returns: list
    recent_lengths: list
    wall_seconds: float


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_state(path: Path) -> dict:
    """Load a full training-state file, with a clear error for a truncated or corrupt one."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise MirlError(f"no training state at {path}; start without --resume") from None
    except Exception as exc:  # torch raises several types for a truncated zip
        raise MirlError(
            f"training state {path} is truncated or corrupt ({type(exc).__name__}: {exc}); delete it to start "
            f"over, or copy a weights snapshot from {path.parent / SNAPSHOT_DIR} to start from"
        ) from None


class _Progress:
    """A one-line progress bar on stderr, redrawn at most once a second."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.last = total, enabled, 0.0

    def __call__(self, done: int, sps: float, extra: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 1.0 and not force):
            return
        self.last = now
        frac = min(1.0, done / self.total)
        bar = "#" * int(frac * 30)
        eta = (self.total - done) / sps if sps > 0 else float("inf")
        eta_text = f"{eta / 60:.0f} min" if math.isfinite(eta) else "?"
        print(f"\r[{bar:<30}] {frac:6.1%} {done}/{self.total} steps {sps:,.0f}/s eta {eta_text} {extra}",
              end="", file=sys.stderr, flush=True)


def train(
    config: PPOConfig,
    make_agent: Callable[[], nn.Module],
    make_env: Callable[[int, int], Any],
    run_dir: Path,
    resume: bool = False,
    stop_after_updates: int | None = None,
    log: Callable[[str], None] = print,
    progress: bool = False,
    wandb_run: Any = None,
    device: str = "cpu",
    stop_after_seconds: float | None = None,
) -> nn.Module:
    """Train ``make_agent()`` with PPO on ``make_env(num_envs, seed)``; returns the trained agent.

    Writes ``run_dir/state.pt`` (full state, for ``resume=True``), weight snapshots under
    ``run_dir/checkpoints/`` and ``run_dir/config.json``. ``stop_after_updates`` / ``stop_after_seconds`` (of this call) stop early (as a
    session ending would) after saving the state.

    ``device`` "cuda" runs the network there (action sampling stays on the CPU generator, so the draws are the
    same stream); weights and states are saved as CPU tensors, so a run resumes on either device. The CPU
    gives bit-identical weights for a seed; a GPU is deterministic only per GPU model and library version.
    """
    run_dir = Path(run_dir)
    (run_dir / SNAPSHOT_DIR).mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "config.json"

    rng = seed_everything(config.seed)  # seeds the weight initialisation below
    agent = make_agent().to(device)
    params = [p for p in agent.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.learning_rate, eps=1e-5)
    env = make_env(config.num_envs, config.seed)
    recurrent = bool(getattr(agent, "recurrent", False))
    bptt = config.bptt_length or config.num_steps
    if recurrent and config.num_steps % bptt:
        raise MirlError(f"bptt_length {bptt} must divide num_steps {config.num_steps}")
    if config.num_envs % config.num_minibatches and recurrent:
        raise MirlError(f"num_minibatches {config.num_minibatches} must divide num_envs {config.num_envs}")

    if resume:
        saved = load_state(run_dir / STATE_FILE)
        # Settings added since the run started take their defaults (a run saved before them stays resumable).
        if {**dataclasses.asdict(PPOConfig()), **saved["config"]} != dataclasses.asdict(config):
            raise MirlError(f"{run_dir} was trained with other settings; resume with the same config or a new run dir")
        agent.load_state_dict(saved["agent"])
        optimizer.load_state_dict(saved["optimizer"])
        state: TrainingState = saved["training"]
        if state.agent_state is not None:
            state.agent_state = tuple(x.to(device) for x in state.agent_state)
        env.set_state(state.env_state)
        log(f"resumed {run_dir} at update {state.update}, step {state.global_step}")
    else:
        config_path.write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")
        obs, _ = env.reset(seed=config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        state = TrainingState(
            update=0, global_step=0, next_obs=obs, next_starts=np.ones(config.num_envs, dtype=bool),
            agent_state=agent.initial_state(config.num_envs) if recurrent else None, env_state=None,
            torch_generator=generator.get_state(), numpy_generator=rng.bit_generator.state,
            scaler=RewardScaler(config.num_envs, config.gamma) if config.reward_scaling else None,
            episode_returns=np.zeros(config.num_envs), episode_lengths=np.zeros(config.num_envs, dtype=np.int64),
            recent_returns=[], recent_lengths=[], wall_seconds=0.0,
        )
    generator = torch.Generator()
    generator.set_state(state.torch_generator)
    rng = np.random.default_rng()
    rng.bit_generator.state = state.numpy_generator

    snapshot_every = max(1, config.num_updates // max(1, config.checkpoints))
    bar = _Progress(config.total_steps, progress)
    started, last_save = time.perf_counter() - state.wall_seconds, time.monotonic()
    session_start_step = state.global_step
    session_start_time = time.perf_counter()

    def save_state() -> None:
        state.env_state = env.get_state()
        state.torch_generator = generator.get_state()
        state.numpy_generator = rng.bit_generator.state
        state.wall_seconds = time.perf_counter() - started
        on_device = state.agent_state
        if state.agent_state is not None:
            state.agent_state = tuple(x.cpu() for x in state.agent_state)
        _atomic_save(
            {"config": dataclasses.asdict(config), "agent": _cpu(agent.state_dict()),
             "optimizer": _cpu(optimizer.state_dict()), "training": state},
            run_dir / STATE_FILE,
        )
        state.agent_state = on_device

    T, B = config.num_steps, config.num_envs
    obs_shape = state.next_obs.shape[1:]
    while state.update < config.num_updates:
        if config.anneal_lr:
            optimizer.param_groups[0]["lr"] = config.learning_rate * (1.0 - state.update / config.num_updates)

        # ---- rollout --------------------------------------------------------------------------------
        b_obs = np.zeros((T, B, *obs_shape), dtype=state.next_obs.dtype)
        b_actions = np.zeros((T, B), dtype=np.int64)
        b_logprobs = torch.zeros(T, B, device=device)
        b_values = torch.zeros(T, B, device=device)
        b_rewards = np.zeros((T, B), dtype=np.float32)
        b_dones = np.zeros((T, B), dtype=bool)
        b_starts = np.zeros((T, B), dtype=bool)
        segment_states = []  # recurrent: the agent state at the start of each BPTT segment
        agent.eval()
        with torch.no_grad():
            for t in range(T):
                if recurrent and t % bptt == 0:
                    starts_t = torch.from_numpy(state.next_starts).to(device)
                    segment_states.append(tuple(x.clone() for x in agent.reset_rows(state.agent_state, starts_t)))
                b_obs[t] = state.next_obs
                b_starts[t] = state.next_starts
                logits, value, state.agent_state = agent.act(
                    torch.from_numpy(state.next_obs).to(device), state.agent_state,
                    torch.from_numpy(state.next_starts).to(device),
                )
                logp_all = torch.log_softmax(logits, dim=-1)
                action = torch.multinomial(logp_all.exp().cpu(), 1, generator=generator).squeeze(1)
                b_actions[t] = action.numpy()
                b_logprobs[t] = logp_all.gather(1, action[:, None].to(device)).squeeze(1)
                b_values[t] = value
                obs, reward, terminated, truncated, _ = env.step(b_actions[t])
                done = np.asarray(terminated) | np.asarray(truncated)
                state.episode_returns += reward
                state.episode_lengths += 1
                for i in np.flatnonzero(done):
                    state.recent_returns.append(float(state.episode_returns[i]))
                    state.recent_lengths.append(int(state.episode_lengths[i]))
                state.episode_returns[done] = 0.0
                state.episode_lengths[done] = 0
                state.recent_returns = state.recent_returns[-100:]
                state.recent_lengths = state.recent_lengths[-100:]
                if config.reward_scale != 1.0:
                    reward = reward * config.reward_scale
                b_rewards[t] = state.scaler(reward, done) if state.scaler is not None else reward
                b_dones[t] = done
                state.next_obs, state.next_starts = obs, done
            state.global_step += T * B

            # ---- GAE ----------------------------------------------------------------------------------
            # Same-step autoreset: next_obs of a finished env starts a new episode, so never bootstrap
            # across a done. Truncation is treated like termination (a known, small bias; CleanRL does too).
            _, next_value, _ = agent.act(
                torch.from_numpy(state.next_obs).to(device), state.agent_state,
                torch.from_numpy(state.next_starts).to(device),
            )
            rewards = torch.from_numpy(b_rewards).to(device)
            not_done = torch.from_numpy(~b_dones).float().to(device)
            advantages = torch.zeros(T, B, device=device)
            last = torch.zeros(B, device=device)
            for t in reversed(range(T)):
                following = next_value if t == T - 1 else b_values[t + 1]
                delta = rewards[t] + config.gamma * following * not_done[t] - b_values[t]
                last = delta + config.gamma * config.gae_lambda * not_done[t] * last
                advantages[t] = last
            returns = advantages + b_values

        # ---- update -----------------------------------------------------------------------------------
        agent.train()
        obs_t = torch.from_numpy(b_obs).to(device)
        actions_t = torch.from_numpy(b_actions).to(device)
        starts_t = torch.from_numpy(b_starts).to(device)
        stats = []
        for _ in range(config.update_epochs):
            if recurrent:
                env_order = rng.permutation(B)
                for mb_envs in np.array_split(env_order, config.num_minibatches):
                    idx = torch.from_numpy(mb_envs).to(device)
                    for s, seg_start in enumerate(range(0, T, bptt)):
                        seg = slice(seg_start, seg_start + bptt)
                        agent_state = tuple(x[idx] for x in segment_states[s])
                        new_logits, new_values = [], []
                        for t in range(seg.start, seg.stop):
                            logits, value, agent_state = agent.act(obs_t[t, idx], agent_state, starts_t[t, idx])
                            new_logits.append(logits)
                            new_values.append(value)
                        stats.append(_ppo_step(
                            config, optimizer, params, torch.stack(new_logits), torch.stack(new_values),
                            actions_t[seg][:, idx], b_logprobs[seg][:, idx], b_values[seg][:, idx],
                            advantages[seg][:, idx], returns[seg][:, idx],
                        ))
            else:
                order = rng.permutation(T * B)
                flat_obs = obs_t.reshape(T * B, *obs_shape)
                for mb in np.array_split(order, config.num_minibatches):
                    idx = torch.from_numpy(mb).to(device)
                    logits, values = agent(flat_obs[idx])
                    stats.append(_ppo_step(
                        config, optimizer, params, logits, values, actions_t.reshape(-1)[idx],
                        b_logprobs.reshape(-1)[idx], b_values.reshape(-1)[idx], advantages.reshape(-1)[idx],
                        returns.reshape(-1)[idx],
                    ))
        agent.eval()
        state.update += 1

        # ---- bookkeeping ------------------------------------------------------------------------------
        elapsed = time.perf_counter() - session_start_time
        sps = (state.global_step - session_start_step) / max(elapsed, 1e-9)
        mean_return = float(np.mean(state.recent_returns)) if state.recent_returns else float("nan")
        scalars = {
            "charts/episodic_return": mean_return,
            "charts/episodic_length": float(np.mean(state.recent_lengths)) if state.recent_lengths else float("nan"),
            "charts/learning_rate": optimizer.param_groups[0]["lr"],
            "charts/SPS": sps,
            **{f"losses/{k}": float(np.mean([s[k] for s in stats])) for k in stats[0]},
        }
        if state.update % config.log_every == 0 or state.update == config.num_updates:
            if progress:
                print(file=sys.stderr)
            log(f"update {state.update}/{config.num_updates} step {state.global_step} "
                f"return {mean_return:.3f} sps {sps:,.0f} "
                + " ".join(f"{k.split('/')[1]} {v:.4f}" for k, v in scalars.items() if k.startswith("losses/")))
        if wandb_run is not None:
            wandb_run.log(scalars, step=state.global_step)
        bar(state.global_step, sps, f"return {mean_return:.2f}")
        if state.update % snapshot_every == 0 or state.update == config.num_updates:
            _atomic_save(_cpu(agent.state_dict()), run_dir / SNAPSHOT_DIR / f"step{state.global_step:010d}.pt")
        finished = state.update == config.num_updates
        stopping = (stop_after_updates is not None and state.update >= stop_after_updates) or (
            stop_after_seconds is not None and time.perf_counter() - session_start_time >= stop_after_seconds)
        if finished or stopping or state.update % snapshot_every == 0 or \
                time.monotonic() - last_save > config.save_every_seconds:
            save_state()
            last_save = time.monotonic()
        if stopping and not finished:
            log(f"stopped at update {state.update}; resume with the same run dir")
            break
    bar(state.global_step, 0.0, force=True)
    return agent


def _cpu(tree: Any) -> Any:
    """A state dict (or optimizer state) with every tensor moved to the CPU, for device-independent files."""
    if isinstance(tree, torch.Tensor):
        return tree.cpu()
    if isinstance(tree, dict):
        return {k: _cpu(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_cpu(v) for v in tree)
    return tree


def _ppo_step(config, optimizer, params, logits, values, actions, old_logprobs, old_values, advantages, returns):
    """One gradient step of the clipped PPO objective on a minibatch (any leading shape)."""
    logp_all = torch.log_softmax(logits, dim=-1)
    logprobs = logp_all.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1).mean()
    log_ratio = logprobs - old_logprobs
    ratio = log_ratio.exp()
    if config.norm_adv and advantages.numel() > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    pg_loss = torch.max(-advantages * ratio, -advantages * ratio.clamp(1 - config.clip_coef, 1 + config.clip_coef)).mean()
    if config.clip_vloss:
        clipped = old_values + (values - old_values).clamp(-config.clip_coef, config.clip_coef)
        v_loss = 0.5 * torch.max((values - returns) ** 2, (clipped - returns) ** 2).mean()
    else:
        v_loss = 0.5 * ((values - returns) ** 2).mean()
    loss = pg_loss - config.ent_coef * entropy + config.vf_coef * v_loss
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(params, config.max_grad_norm)
    optimizer.step()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean().item()
        clipfrac = ((ratio - 1).abs() > config.clip_coef).float().mean().item()
    return {"policy_loss": pg_loss.item(), "value_loss": v_loss.item(), "entropy": entropy.item(),
            "approx_kl": approx_kl, "clipfrac": clipfrac}
