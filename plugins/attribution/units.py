"""`activation-variance` and `ablation-scan`: two classic ways to rank units without knowing what they mean.

- activation-variance: a unit that barely varies over the states a task draws from cannot carry much about
  them; the score is each unit's variance over the train split (for channel units: the mean over positions).
- ablation-scan: mean-ablate one unit at a time while the agent replays the observations of its own train-env
  rollout (recurrent agents carry their edited state along), and score the unit by the mean KL divergence of the
  policy from the unablated one: how much the agent's behaviour depends on it.
"""

from __future__ import annotations

import numpy as np

from mirl.method import Method
from mirl.schemas import MethodInfo, UnitScores

SCAN_ENVS, SCAN_STEPS = 32, 16  # the replayed rollout (at most): envs × steps forward rows per unit


def _unit_shape(view, hook: str) -> tuple[int, ...]:
    shape = tuple(view.hook_points[hook])
    return shape[:1] if view.spec.unit_level == "channel" else shape


class ActivationVariance(Method):
    info = MethodInfo(
        name="activation-variance",
        version="1",
        answer_kinds=["unit_scores"],
        description="Each unit's activation variance over the train split (channel units: the mean over "
        "positions); a label-free baseline",
        references=["Morcos et al. 2018, On the importance of single directions for generalization "
                    "(arXiv 1803.06959)"],
        hyperparameters={"states": "the task's whole train split"},
        compute="the train split's forward passes; no gradient, no env step beyond the split",
    )

    def solve(self, view):
        hooks = list(view.hook_points)
        data = view.train_data(hooks=hooks)
        scores = {}
        for hook in hooks:
            variance = np.asarray(data.activations[hook], dtype=np.float64).var(axis=0)
            scores[hook] = variance.reshape(variance.shape[0], -1).mean(1) if view.spec.unit_level == "channel" \
                else variance
        return UnitScores(scores=scores)


class AblationScan(Method):
    info = MethodInfo(
        name="ablation-scan",
        version="1",
        answer_kinds=["unit_scores"],
        description="Mean-ablate each unit in turn while the agent replays its own train-env rollout; score = "
        "mean KL(policy ‖ ablated policy)",
        references=["Olah et al. 2018, The Building Blocks of Interpretability (Distill)",
                    "Meyes et al. 2019, Ablation studies in artificial neural networks (arXiv 1901.08644)"],
        hyperparameters={"envs": SCAN_ENVS, "steps": SCAN_STEPS, "ablation": "mean over the replayed states",
                         "effect": "KL divergence of the action distribution, mean over states"},
        compute=f"one rollout of {SCAN_ENVS} envs × up to {SCAN_STEPS} steps (fewer where the task's forward-pass "
        "budget requires), replayed once per unit",
    )

    def solve(self, view):
        import torch

        agent = view.agent
        hooks = list(view.hook_points)
        units = sum(int(np.prod(_unit_shape(view, h))) for h in hooks)
        # as many replay steps as nine tenths of the forward-pass budget allows (2 to SCAN_STEPS)
        steps = int(np.clip(0.9 * view.spec.budget.forward_passes // ((units + 1) * SCAN_ENVS), 2, SCAN_STEPS))
        obs, starts, base_logp, means = self._rollout(view, hooks, steps)
        scores = {}
        for hook in hooks:
            shape = _unit_shape(view, hook)
            effect = np.zeros(int(np.prod(shape)))
            for unit in range(len(effect)):
                index = np.unravel_index(unit, shape)

                def ablate(act: torch.Tensor, _name: str, index=index, mean=means[hook]) -> torch.Tensor:
                    act = act.clone()
                    act[(slice(None), *index)] = mean[index]
                    return act

                with agent.hooks([(hook, ablate)]):
                    logp = self._replay(agent, obs, starts)
                kl = (base_logp.exp() * (base_logp - logp)).sum(-1)
                effect[unit] = float(kl.mean())
            scores[hook] = effect.reshape(shape)
        return UnitScores(scores=scores)

    @staticmethod
    def _replay(agent, obs, starts):
        import torch

        state, out = None, []
        with torch.no_grad():
            for t in range(len(obs)):
                logits, _, state = agent.act(obs[t], state, starts[t])
                out.append(torch.log_softmax(logits.float(), -1))
        return torch.stack(out)

    def _rollout(self, view, hooks, steps: int):
        """The unablated rollout: observations, episode starts, log-policy and each hook's mean activation."""
        import torch

        env = view.make_env(SCAN_ENVS)
        x, _ = env.reset(seed=int(view.rng.integers(2**31)))
        generator = torch.Generator().manual_seed(int(view.rng.integers(2**31)))
        starts = np.ones(SCAN_ENVS, dtype=bool)
        sums: dict[str, torch.Tensor] = {}

        def record(act: torch.Tensor, name: str) -> None:
            sums[name] = sums.get(name, 0) + act.detach().double().sum(0)

        observations, start_flags, state, logps = [], [], None, []
        with torch.no_grad(), view.agent.hooks([(h, record) for h in hooks]):
            for _ in range(steps):
                obs_t, starts_t = torch.from_numpy(np.asarray(x)), torch.from_numpy(starts.copy())
                logits, _, state = view.agent.act(obs_t, state, starts_t)
                logp = torch.log_softmax(logits.float(), -1)
                actions = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(1).numpy()
                observations.append(obs_t)
                start_flags.append(starts_t)
                logps.append(logp)
                x, _, terminated, truncated, _ = env.step(actions)
                starts = np.asarray(terminated) | np.asarray(truncated)
        rows = SCAN_ENVS * steps
        means = {h: (s / rows).float() for h, s in sums.items()}
        return observations, start_flags, torch.stack(logps), means
