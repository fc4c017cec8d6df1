"""What recording costs: ``collect`` against a bare act-and-step loop, and resident memory when collecting
100k steps of a 32×8×8 activation (400 MB of float16) in RAM and streamed to disk.

Run as a script (``python test_rollout_speed.py ram|disk OUT_DIR``) this file measures the memory of one
collection in a fresh process; the test below starts it that way.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import torch
import pytest
from torch import nn

from mirl.hooked import HookedAgent, HookPoint
from mirl.rollouts import collect

# timed in rounds by pytest-benchmark, which times nothing under xdist: CI runs these apart (-m timed)
pytestmark = pytest.mark.timed

NUM_ENVS = 64
SPEED_STEPS = 313  # × 64 envs ≈ 20k env steps
HOOKS = ["encoder.hook_out", "dense.hook_out"]  # the biggest activation the smoke agent has, and one more
TARGET_RATIO = 0.8
# The smoke agent's forward is ~3 µs per env step, so writing each step's observation, labels and 56 KB of
# activations to fresh memory is a visible share: a 2-vCPU VM measured 0.68-0.72. The floor catches real
# regressions (a second forward pass would bring the ratio to ~0.45); under the target a warning says so.
MIN_RATIO = 0.55
MEMORY_STEPS = 100_000
MEMORY_LIMIT_MB = 1024


# ---- throughput -----------------------------------------------------------------------------------------


def measure_ratio(benchmark, agent, make_env, hooks: list[str], steps: int) -> float:
    """collect's throughput over a bare act-and-step loop's, for the same agent, envs and batch size."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # both loops alike; a second thread only adds noise on a shared machine
    try:
        bare_seconds: list[float] = []
        collect_seconds: list[float] = []

        def bare_loop() -> None:
            """The floor: act greedily and step, recording nothing."""
            env = make_env()
            obs, _ = env.reset(seed=0)
            started = time.perf_counter()
            with torch.no_grad():
                for _ in range(steps):
                    logits, _value = agent(torch.from_numpy(obs))
                    obs, *_ = env.step(logits.argmax(-1).numpy())
            bare_seconds.append(time.perf_counter() - started)

        def recorded() -> None:
            env = make_env()
            started = time.perf_counter()
            r = collect(agent, env, episodes=10**9, hooks=hooks, seed=0, greedy=True, max_steps=steps)
            collect_seconds.append(time.perf_counter() - started)
            assert r.actions.shape == (steps, NUM_ENVS)

        # The bare loop runs as the untimed setup of each round, so the two interleave and share the machine's
        # load; each side's best round is compared.
        benchmark.pedantic(recorded, setup=bare_loop, rounds=5, warmup_rounds=1, iterations=1)
    finally:
        torch.set_num_threads(threads)
    env_steps = steps * NUM_ENVS
    ratio = min(bare_seconds) / min(collect_seconds)
    benchmark.extra_info.update(
        env_steps=env_steps, hooks=hooks, bare_steps_per_second=round(env_steps / min(bare_seconds)),
        collect_steps_per_second=round(env_steps / min(collect_seconds)), throughput_ratio=round(ratio, 3),
        target_ratio=TARGET_RATIO,
    )
    print(f"\nbare {env_steps / min(bare_seconds):,.0f} steps/s, collect {env_steps / min(collect_seconds):,.0f} "
          f"steps/s, ratio {ratio:.2f} (target {TARGET_RATIO})")
    return ratio


def test_collect_throughput_smoke_agent(benchmark):
    """The worst case: a ~3 µs-per-step agent, where storing each step is a visible share of the cost."""
    from mirl.pluginhost import get_tasks
    from mirl.tasks.smoke.env import SmokeGridVecEnv

    agent = get_tasks().get("smoke/goal-readout-v1").load_agent()
    ratio = measure_ratio(benchmark, agent, lambda: SmokeGridVecEnv(NUM_ENVS), HOOKS, SPEED_STEPS)
    assert ratio >= MIN_RATIO, f"collect runs at {ratio:.2f}× the bare loop's speed"
    if ratio < TARGET_RATIO:
        warnings.warn(f"collect runs at {ratio:.2f}× the bare loop's speed, under the {TARGET_RATIO} target")


@pytest.mark.slow
def test_collect_throughput_pixel_agent(benchmark):
    """A real-size case: the CoinRun strided CNN on procgen CoinRun, recording a conv block and the dense layer."""
    from mirl.tasks.coinrun.agent import build
    from mirl.tasks.coinrun.env import CoinRunVecEnv

    torch.manual_seed(0)
    agent = build().eval()
    ratio = measure_ratio(
        benchmark, agent, lambda: CoinRunVecEnv(NUM_ENVS), ["encoder.conv2.hook_out", "dense.hook_out"], 60
    )
    # alone on an idle 2-vCPU VM 0.95-0.96, yet 0.77 once in an idle CI's timed phase (5 rounds of 60 steps are
    # short): the target is a warning; the floor, as for the smoke agent, catches a second forward pass (~0.5)
    assert ratio >= MIN_RATIO, f"collect runs at {ratio:.2f}× the bare loop's speed"
    if ratio < TARGET_RATIO:
        warnings.warn(f"collect runs at {ratio:.2f}× the bare loop's speed, under the {TARGET_RATIO} target")


# ---- memory ---------------------------------------------------------------------------------------------


class GridVecEnv:
    """A tiny 8×8 random-goal grid in mirl's vectorized-env protocol: obs [3, 8, 8] uint8 (agent, goal, a
    constant plane), reward 1 at the goal, episodes truncated after 64 steps."""

    SIZE, LIMIT = 8, 64
    MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]])

    def __init__(self, num_envs: int):
        self.num_envs = num_envs
        self.single_observation_space = None
        self.single_action_space = None
        self.rng = np.random.default_rng(0)
        self.agent = np.zeros((num_envs, 2), dtype=np.int64)
        self.goal = np.zeros((num_envs, 2), dtype=np.int64)
        self.steps = np.zeros(num_envs, dtype=np.int64)

    def _draw(self, mask: np.ndarray) -> None:
        n = int(mask.sum())
        self.agent[mask] = self.rng.integers(0, self.SIZE, size=(n, 2))
        self.goal[mask] = self.rng.integers(0, self.SIZE, size=(n, 2))
        self.steps[mask] = 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros((self.num_envs, 3, self.SIZE, self.SIZE), dtype=np.uint8)
        rows = np.arange(self.num_envs)
        obs[rows, 0, self.agent[:, 0], self.agent[:, 1]] = 1
        obs[rows, 1, self.goal[:, 0], self.goal[:, 1]] = 1
        obs[:, 2] = 1
        return obs

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self._draw(np.ones(self.num_envs, dtype=bool))
        return self._obs(), {}

    def step(self, actions):
        self.agent = np.clip(self.agent + self.MOVES[actions], 0, self.SIZE - 1)
        self.steps += 1
        terminated = (self.agent == self.goal).all(axis=1)
        truncated = ~terminated & (self.steps >= self.LIMIT)
        done = terminated | truncated
        if done.any():
            self._draw(done)
        return self._obs(), terminated.astype(np.float32), terminated, truncated, {}

    def labels(self):
        return {"agent_cell": self.agent[:, 0] * self.SIZE + self.agent[:, 1]}

    def get_state(self):
        return {"agent": self.agent.copy(), "goal": self.goal.copy(), "steps": self.steps.copy(),
                "rng": self.rng.bit_generator.state}

    def set_state(self, state):
        self.agent, self.goal, self.steps = state["agent"].copy(), state["goal"].copy(), state["steps"].copy()
        self.rng.bit_generator.state = state["rng"]


class ConvAgent(HookedAgent):
    """obs [B, 3, 8, 8] → conv 3→32 (hook [B, 32, 8, 8]) → policy 4 / value 1."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 32, 3, padding=1)
        self.hook_conv = HookPoint((32, 8, 8))  # [batch, 32, 8, 8]
        self.policy = nn.Linear(32 * 8 * 8, 4)
        self.value = nn.Linear(32 * 8 * 8, 1)
        self.setup_hooks()

    def forward(self, obs):
        h = self.hook_conv(torch.relu(self.conv(obs.float()))).flatten(1)
        return self.policy(h), self.value(h).squeeze(-1)


def _rss_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, in MB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports kB


def measure_memory(mode: str, out_dir: str) -> dict:
    """Collect MEMORY_STEPS steps at ``hook_conv`` in this process; report baseline and peak RSS."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    agent = ConvAgent().eval()
    collect(agent, GridVecEnv(NUM_ENVS), 10**9, ["hook_conv"], max_steps=2)  # torch's one-off allocations
    baseline = _rss_mb("VmRSS")
    started = time.perf_counter()
    r = collect(agent, GridVecEnv(NUM_ENVS), 10**9, ["hook_conv"], max_steps=-(-MEMORY_STEPS // NUM_ENVS),
                out_dir=out_dir if mode == "disk" else None)
    seconds = time.perf_counter() - started
    act = r.activations["hook_conv"]
    assert act.dtype == np.float16 and act.shape[2:] == (32, 8, 8)
    assert act[-1].any()  # the last step was really recorded
    return {
        "mode": mode,
        "env_steps": int(act.shape[0] * act.shape[1]),
        "activation_mb": act.nbytes / 2**20,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": _rss_mb("VmHWM"),
        "memory_mapped": isinstance(act, np.memmap),
        "seconds": seconds,
    }


@pytest.mark.slow
def test_activation_memory_stays_bounded(benchmark, tmp_path):
    def run(mode: str) -> dict:
        with tempfile.TemporaryDirectory(dir=tmp_path) as out_dir:
            done = subprocess.run([sys.executable, __file__, mode, out_dir], capture_output=True, text=True,
                                  timeout=300)
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout.strip().splitlines()[-1])

    results = {}

    def both() -> None:
        results.update(ram=run("ram"), disk=run("disk"))

    benchmark.pedantic(both, rounds=1, iterations=1)
    for mode, m in results.items():
        growth = m["peak_rss_mb"] - m["baseline_rss_mb"]
        benchmark.extra_info[mode] = {k: round(v, 1) if isinstance(v, float) else v for k, v in m.items()}
        print(f"\n{mode}: {m['env_steps']:,} steps, {m['activation_mb']:.0f} MB of float16 activations, "
              f"baseline {m['baseline_rss_mb']:.0f} MB, peak {m['peak_rss_mb']:.0f} MB (+{growth:.0f} MB), "
              f"{m['seconds']:.1f} s")
        assert m["env_steps"] >= MEMORY_STEPS
        assert m["peak_rss_mb"] < MEMORY_LIMIT_MB
    ram, disk = results["ram"], results["disk"]
    # in RAM: the float16 activations and obs once, plus a block, never float32 copies or a second full copy
    assert ram["peak_rss_mb"] - ram["baseline_rss_mb"] < 1.3 * ram["activation_mb"] + 100
    # streamed to disk: memory stays flat
    assert disk["memory_mapped"] and disk["peak_rss_mb"] - disk["baseline_rss_mb"] < 200


if __name__ == "__main__":
    print(json.dumps(measure_memory(sys.argv[1], sys.argv[2])))
