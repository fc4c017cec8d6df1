"""`gradient-x-activation`, `integrated-gradients` and `attribution-patching`: first-order unit scores.

All three score units by how the agent's policy responds to them along its own train-env rollout (the states
ablation-scan replays; recurrent agents carry their state, detached between steps, so a unit is credited for
its effect on the action of the step it fires in). Unit-scoring tasks name no differentiable target (their
`target` is a description such as "buzzsaw detection"), so the target is the policy's: f = log π(a* | s), the
log-probability of the agent's greedy action a* at the unedited state. Per state, a unit's signed attribution
is summed over its positions where the task scores channels; a unit's score is the mean over states of its
absolute attribution.

- gradient-x-activation: ∂f/∂a · a (Shrikumar et al. 2016): the first-order change of f when the unit is
  zeroed.
- integrated-gradients: (a − b) · mean over α of ∂f/∂a at b + α(a − b) (Sundararajan et al. 2017), with the
  baseline b the mean activation over the envs at the same step (the scorers mean-ablate), α at the midpoints
  of 16 equal steps; the attributions of one hook sum to f(a) − f(b) up to the quadrature error.
- attribution-patching: (a_src − a) · ∂f/∂a (Nanda 2023; Syed et al. 2023): the first-order effect of
  patching the unit in from a source state, another env's activation at the same step (a fresh random pairing
  at every step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mirl.method import Method
from mirl.schemas import MethodInfo, UnitScores
from mirl.units import unit_axis

from .common import ROLLOUT_ENVS, ROLLOUT_STEPS, affordable_steps, play, unit_shape

if TYPE_CHECKING:
    import torch

IG_STEPS = 16
TARGET = "log π(a* | s), a* the greedy action of the unedited agent"
# what the three method cards share: the rollout the attributions are taken along, and how units are scored
ROLLOUT = {"envs": ROLLOUT_ENVS, "steps": ROLLOUT_STEPS, "target": TARGET,
           "channel_units": "signed attribution summed over positions, then |·|"}
ROLLOUT_COMPUTE = f"one rollout of {ROLLOUT_ENVS} envs × up to {ROLLOUT_STEPS} steps (fewer where the forward-pass " \
    "budget requires)"


def greedy_log_prob(logits: torch.Tensor, actions: torch.Tensor | None = None) -> torch.Tensor:
    """f per row: the log-probability of ``actions`` (default: the greedy ones)."""
    import torch

    logp = torch.log_softmax(logits.float(), -1)
    actions = logp.detach().argmax(-1) if actions is None else actions
    return logp.gather(1, actions[:, None]).squeeze(1)


def _as_leaf(act: torch.Tensor) -> torch.Tensor:
    # The agent's weights are frozen, so the first hook on the path has no graph yet: start one there. Later
    # hooks are already in the graph and stay in it, so a gradient reaches upstream units through them too.
    return act if act.requires_grad else act.detach().clone().requires_grad_(True)


@dataclass
class Step:
    """One rollout step with every hook's activation in the graph."""

    obs: torch.Tensor  # [B, *obs shape]
    state: tuple | None  # the recurrent state going in (detached), None for feed-forward agents
    starts: torch.Tensor  # [B] bool: episodes starting at obs
    logits: torch.Tensor  # [B, A], detached
    new_state: tuple | None
    acts: dict[str, torch.Tensor]  # hook → [B, *shape], detached
    grads: dict[str, torch.Tensor]  # hook → ∂f/∂activation [B, *shape]


def step_with_gradients(agent, hooks: list[str], obs, state, starts) -> Step:
    """One step of the agent, and the gradient of f (the greedy log-probability) at every hook's activation."""
    import torch

    cache: dict[str, torch.Tensor] = {}

    def capture(act: torch.Tensor, name: str):
        if not act.is_floating_point():
            return None
        cache[name] = _as_leaf(act)
        return cache[name]

    with torch.enable_grad():
        with agent.hooks([(h, capture) for h in hooks]):
            logits, _, new_state = agent.act(obs, state, starts)
        found = [h for h in hooks if h in cache]
        grads = torch.autograd.grad(greedy_log_prob(logits).sum(), [cache[h] for h in found], allow_unused=True)
    return Step(obs, state, starts, logits.detach(),
                None if new_state is None else tuple(s.detach() for s in new_state),
                {h: cache[h].detach() for h in found},
                {h: torch.zeros_like(cache[h]) if g is None else g for h, g in zip(found, grads)})


def integrated_gradients(agent, hook: str, obs, state, starts, baseline, actions, steps: int = IG_STEPS):
    """[B, *shape] attributions to ``hook``'s activation of f = log π(``actions``), from ``baseline`` (broadcast
    to the activation) along the straight path, midpoint rule with ``steps`` points: one forward and one
    backward pass of ``steps`` × B rows."""
    import torch

    batch = obs.shape[0]
    alphas = (torch.arange(steps, dtype=torch.float32) + 0.5) / steps
    path: dict[str, torch.Tensor] = {}

    def interpolate(act: torch.Tensor, _name: str) -> torch.Tensor:
        a = act.detach().reshape(steps, batch, *act.shape[1:])
        b = baseline.to(a.dtype).expand_as(a)
        alpha = alphas.to(a.dtype).view(steps, *([1] * (a.ndim - 1)))
        path["leaf"] = (b + alpha * (a - b)).reshape(act.shape).requires_grad_(True)
        path["delta"] = (a - b)[0]
        return path["leaf"]

    repeat = lambda t: t.repeat(steps, *([1] * (t.ndim - 1)))  # noqa: E731
    with torch.enable_grad(), agent.hooks([(hook, interpolate)]):
        logits, _, _ = agent.act(repeat(obs), None if state is None else tuple(repeat(s) for s in state),
                                 None if starts is None else repeat(starts))
        (grad,) = torch.autograd.grad(greedy_log_prob(logits, repeat(actions)).sum(), [path["leaf"]],
                                      allow_unused=True)
    if grad is None:  # the hook does not reach the policy
        return torch.zeros_like(path["delta"])
    return grad.reshape(steps, batch, *grad.shape[1:]).mean(0) * path["delta"]


class _GradientScores(Method):
    """Attributions along the agent's own rollout, accumulated into one score per unit."""

    def rows_per_state(self, hooks: list[str]) -> int:
        """Forward rows each rollout state costs (what sizes the rollout to the budget)."""
        return 1

    def attributions(self, view, step: Step) -> dict[str, torch.Tensor]:
        """Signed [B, *shape] attributions per hook for one rollout step."""
        raise NotImplementedError

    def solve(self, view):
        hooks = list(view.hook_points)
        level = view.spec.unit_level
        totals = {h: np.zeros(unit_shape(view, h)) for h in hooks}
        rows, state = 0, None

        def act(obs, starts):
            nonlocal rows, state
            step = step_with_gradients(view.agent, hooks, obs, state, starts)
            for hook, attr in self.attributions(view, step).items():
                attr = attr.detach().double()
                axis = unit_axis(level, hook, attr.shape[1:])
                if axis is not None:  # a unit's attribution: summed over the rest of its axes
                    attr = attr.movedim(1 + axis, 1)
                    attr = attr.reshape(attr.shape[0], attr.shape[1], -1).sum(-1)
                totals[hook] += attr.abs().sum(0).numpy()
            rows += obs.shape[0]
            state = step.new_state
            return step.logits

        play(view, affordable_steps(view, self.rows_per_state(hooks)), act)
        return UnitScores(scores={h: t / rows for h, t in totals.items()})


class GradientXActivation(_GradientScores):
    info = MethodInfo(
        name="gradient-x-activation",
        version="1",
        answer_kinds=["unit_scores"],
        description="|∂ log π(greedy action) / ∂a · a| per unit (channels: summed over positions first), mean "
        "over the agent's own train-env rollout",
        references=["Shrikumar et al. 2016, Not Just a Black Box: Learning Important Features Through Propagating "
                    "Activation Differences (arXiv 1605.01713)"],
        hyperparameters=ROLLOUT,
        compute=f"{ROLLOUT_COMPUTE}, one forward and one backward pass per step",
    )

    def attributions(self, view, step):
        return {h: step.grads[h] * step.acts[h] for h in step.grads}


class IntegratedGradients(_GradientScores):
    info = MethodInfo(
        name="integrated-gradients",
        version="1",
        answer_kinds=["unit_scores"],
        description="Integrated gradients of log π(greedy action) from the mean activation to the actual one, per "
        "unit and hook point, mean |attribution| over the agent's own train-env rollout",
        references=["Sundararajan, Taly & Yan 2017, Axiomatic Attribution for Deep Networks (arXiv 1703.01365)"],
        hyperparameters={**ROLLOUT, "path_points": IG_STEPS, "quadrature": "midpoint rule",
                         "baseline": "mean activation over the envs at the same step"},
        compute=f"{ROLLOUT_COMPUTE}; per step one plain pass plus {IG_STEPS} interpolated rows per state and hook "
        "point, each with a backward pass",
    )

    def rows_per_state(self, hooks):
        return 1 + IG_STEPS * len(hooks)

    def attributions(self, view, step):
        actions = step.logits.argmax(-1)
        return {h: integrated_gradients(view.agent, h, step.obs, step.state, step.starts,
                                        step.acts[h].mean(0, keepdim=True), actions) for h in step.acts}


class AttributionPatching(_GradientScores):
    info = MethodInfo(
        name="attribution-patching",
        version="1",
        answer_kinds=["unit_scores"],
        description="First-order effect on log π(greedy action) of patching each unit in from another state: "
        "|(a_src − a) · ∂f/∂a|, mean over the agent's own train-env rollout",
        references=["Nanda 2023, Attribution Patching: Activation Patching At Industrial Scale (neelnanda.io)",
                    "Syed, Rager & Conmy 2023, Attribution Patching Outperforms Automated Circuit Discovery "
                    "(arXiv 2310.10348)"],
        hyperparameters={**ROLLOUT,
                         "source": "another env's activation at the same step (a random permutation per step)"},
        compute=f"{ROLLOUT_COMPUTE}, one forward and one backward pass per step",
    )

    def attributions(self, view, step):
        source = view.rng.permutation(step.obs.shape[0])
        return {h: (step.acts[h][source] - step.acts[h]) * step.grads[h] for h in step.grads}
