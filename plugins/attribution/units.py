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
from mirl.units import pool

from .common import ROLLOUT_ENVS as SCAN_ENVS
from .common import ROLLOUT_STEPS as SCAN_STEPS
from .common import affordable_steps, play, unit_index, unit_shape


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
            scores[hook] = variance if view.spec.unit_level == "element" else \
                pool(variance[None], view.spec.unit_level, hook)[0]
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
        units = sum(int(np.prod(unit_shape(view, h))) for h in hooks)
        steps = affordable_steps(view, units + 1)  # the rollout, then one replay per unit
        obs, starts, base_logp, means = self._rollout(view, hooks, steps)
        scores = {}
        for hook in hooks:
            shape = unit_shape(view, hook)
            effect = np.zeros(int(np.prod(shape)))
            for unit in range(len(effect)):
                index = unit_index(view, hook, unit)

                def ablate(act: torch.Tensor, _name: str, index=index, mean=means[hook]) -> torch.Tensor:
                    act = act.clone()
                    act[index] = mean[index[1:]]
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

        sums: dict[str, torch.Tensor] = {}

        def record(act: torch.Tensor, name: str) -> None:
            sums[name] = sums.get(name, 0) + act.detach().double().sum(0)

        observations, start_flags, logps, state = [], [], [], None

        def act(obs_t, starts_t):
            nonlocal state
            logits, _, state = view.agent.act(obs_t, state, starts_t)
            observations.append(obs_t)
            start_flags.append(starts_t)
            logps.append(torch.log_softmax(logits.float(), -1))
            return logits

        with torch.no_grad(), view.agent.hooks([(h, record) for h in hooks]):
            play(view, steps, act)
        rows = SCAN_ENVS * steps
        means = {h: (s / rows).float() for h, s in sums.items()}
        return observations, start_flags, torch.stack(logps), means
