"""What caching activations costs: ``run_with_cache`` of 3 hook points against a plain forward of the same module
(batch 64, CPU, ``torch.no_grad()``), with nnsight's ``trace`` alongside for reference.

The machine is small and shared, so one variant is never timed minutes after another: every round times each
variant once, back to back, in a rotating order, and the ratio is the median over rounds of the per-round
ratios, which a load spike hitting one round cannot move.
"""

from __future__ import annotations

import copy
import statistics
import time
from typing import Callable

import pytest
import torch

from mirl.nets import GridCNN, ImpalaCNN

# timed in rounds by pytest-benchmark, which times nothing under xdist: CI runs these apart (-m timed)
pytestmark = pytest.mark.timed

MAX_OVERHEAD_RATIO = 1.10
BATCH = 64

# name: (agent factory, observation factory, the 3 hook points to cache, rounds)
CASES = {
    # CleanRL's procgen agent on 64×64 frames: ~50 ms per forward on 2 idle cores, 10× that while another
    # process holds a core (oneDNN's threads wait for each other), so enough rounds to outvote such spells.
    "impala": (
        lambda: ImpalaCNN(),
        lambda: torch.randint(0, 256, (BATCH, 3, 64, 64), dtype=torch.uint8),
        ["encoder.stack0.hook_out", "encoder.stack1.res1.hook_out", "dense.hook_out"],
        20,
    ),
    # The small-grid case is where per-hook Python overhead would show: ~1 ms per forward.
    "grid": (
        lambda: GridCNN(in_channels=5, size=8, num_actions=4, channels=32, layers=3),
        lambda: torch.rand(BATCH, 5, 8, 8),
        ["encoder.conv0.hook_out", "encoder.conv2.hook_out", "dense.hook_out"],
        300,
    ),
}


def _setup(case: str):
    make_agent, make_obs, names, rounds = CASES[case]
    torch.manual_seed(0)
    return make_agent().eval(), make_obs(), names, rounds


class Interleaved:
    """Times several variants in rotating order, once each per round; keeps every time."""

    def __init__(self, variants: dict[str, Callable[[], object]]):
        self.variants = variants
        self.times: dict[str, list[float]] = {name: [] for name in variants}
        self._round = 0

    def round(self) -> None:
        names = list(self.variants)
        shift = self._round % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            self.variants[name]()
            self.times[name].append(time.perf_counter() - started)
        self._round += 1

    def ratio(self, name: str, baseline: str = "plain") -> float:
        return statistics.median(t / b for t, b in zip(self.times[name], self.times[baseline]))

    def record(self, benchmark) -> None:
        for name, times in self.times.items():
            benchmark.extra_info[f"{name}_median_ms"] = round(statistics.median(times) * 1000, 3)
            if name != "plain":
                benchmark.extra_info[f"{name}_ratio"] = round(self.ratio(name), 4)
        benchmark.extra_info["rounds"] = len(self.times["plain"])


def _run(benchmark, timer: Interleaved, rounds: int) -> None:
    timer.round()  # warm-up: first calls pay for oneDNN kernel selection and allocator growth
    timer.times = {name: [] for name in timer.variants}
    benchmark.pedantic(timer.round, rounds=rounds, iterations=1)
    timer.record(benchmark)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_run_with_cache_overhead(benchmark, case):
    agent, obs, names, rounds = _setup(case)
    with torch.no_grad():
        _, cache = agent.run_with_cache(obs, names=names)
        assert set(cache) == set(names)
        timer = Interleaved(
            {"plain": lambda: agent(obs), "ours": lambda: agent.run_with_cache(obs, names=names)}
        )
        _run(benchmark, timer, rounds)
    ratio = timer.ratio("ours")
    print(f"\n{case}: plain {benchmark.extra_info['plain_median_ms']} ms, run_with_cache ratio {ratio:.3f}")
    assert ratio <= MAX_OVERHEAD_RATIO, f"{case}: run_with_cache of 3 hook points is {ratio:.3f}× a plain forward"


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_nnsight_overhead_for_reference(benchmark, case):
    """nnsight's trace saving the same 3 activations; reported next to ours, not asserted."""
    nnsight = pytest.importorskip("nnsight")
    agent, obs, names, rounds = _setup(case)
    # NNsight patches every submodule's forward in place, so it wraps a copy: plain and ours stay untouched.
    wrapped = nnsight.NNsight(copy.deepcopy(agent))
    envoys = [wrapped]
    for name in names:
        envoy = wrapped
        for part in name.split("."):
            envoy = getattr(envoy, part)
        envoys.append(envoy)

    def nnsight_trace() -> list[torch.Tensor]:
        # nnsight runs the with-block's body on its own, so names bound inside it need not reach this frame;
        # a list from outside does.
        saved: list[torch.Tensor] = []
        with wrapped.trace(obs):
            for envoy in envoys[1:]:
                saved.append(envoy.output.save())
        return saved

    with torch.no_grad():
        _, cache = agent.run_with_cache(obs, names=names)
        for name, act in zip(names, nnsight_trace()):
            torch.testing.assert_close(act, cache[name])  # both read the same activations
        timer = Interleaved(
            {
                "plain": lambda: agent(obs),
                "ours": lambda: agent.run_with_cache(obs, names=names),
                "nnsight": nnsight_trace,
            }
        )
        _run(benchmark, timer, max(3, rounds // 4))  # a reference figure, not asserted: fewer rounds do
    benchmark.extra_info["nnsight_version"] = nnsight.__version__
    print(f"\n{case}: ours {timer.ratio('ours'):.3f}, nnsight {timer.ratio('nnsight'):.3f} (× plain forward)")


@pytest.mark.slow
def test_transformer_run_with_cache_against_transformer_lens_s_own(benchmark):
    """A decision-transformer-sized model (2 layers, d_model 64, 60 tokens: 20 steps of 3): mirl's
    ``run_with_cache`` of 3 hook points against TransformerLens's own on the same model."""
    from mirl.transformer import TransformerAgent, TransformerConfig

    config = TransformerConfig(n_layers=2, d_model=64, n_heads=4, d_head=16, d_mlp=256, d_vocab=64, n_ctx=60)
    agent = TransformerAgent(config, action_tokens=range(4)).eval()
    x = torch.randint(0, config.d_vocab, (BATCH, config.n_ctx), generator=torch.Generator().manual_seed(0))
    names = ["blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z", "blocks.1.hook_resid_post"]
    with torch.no_grad():
        timer = Interleaved({"plain": lambda: agent.model.run_with_cache(x, names_filter=names),
                             "ours": lambda: agent.run_with_cache(x, names=names)})
        _run(benchmark, timer, 60)
    ratio = timer.ratio("ours")
    print(f"\ntransformer: TransformerLens run_with_cache {benchmark.extra_info['plain_median_ms']} ms, ours {ratio:.3f}×")
    assert ratio <= MAX_OVERHEAD_RATIO, f"mirl's run_with_cache is {ratio:.3f}× TransformerLens's own"
