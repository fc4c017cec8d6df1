"""`mean-difference` and `probe-steering`: edits from a task's steering pairs.

Both read the task's pairs of train observations without and with its feature (the goal moved to the target,
the cheese removed, a wall on the shortcut square: ``view.steering_pairs``), build one direction per hook point
from the first half of the pairs, and keep the (hook, scale) whose edit makes the agent's policy on the plain
observations of the second half closest (mean KL) to its policy on the feature observations: an edit should
make the agent act as if the feature were there.

- mean-difference: the direction is mean activation with the feature minus without (Turner et al.'s cheese
  vector; Mini et al. 2023), added at scales 0.5–4.
- probe-steering: the direction is a logistic probe's weight vector separating the two sets of activations,
  added with a length of 1–16 standard deviations of the activations' projections on it (Li et al. 2023's
  inference-time intervention along probe directions).
- channel-clamp: the k channels whose activations change most with the feature (mean |with − without| over the
  paired states) are clamped to their mean activation with the feature, everywhere or at the one position that
  changes most (Mini et al. 2023 retarget a maze agent by clamping a channel at the target square).
"""

from __future__ import annotations

import numpy as np

from mirl.method import Method
from mirl.schemas import Edit, Intervention, MethodInfo

SCALES = (0.5, 1.0, 2.0, 4.0)
PROBE_SCALES = (1.0, 2.0, 4.0, 8.0, 16.0)
CLAMP_CHANNELS = (1, 2, 4, 8)
PAIRS = 600


def _activations(agent, obs: np.ndarray, hooks: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Log-policy and activations at ``hooks`` for a batch (recurrent agents: from their initial state)."""
    import torch

    with torch.no_grad():
        out, cache = agent.run_with_cache(torch.from_numpy(obs), names=hooks)
    return torch.log_softmax(out[0].float(), -1).numpy(), {h: a.double().numpy() for h, a in cache.items()}


def _edited_logp(agent, obs: np.ndarray, edits: list[Edit]) -> np.ndarray:
    import torch

    from mirl.interventions import EditHooks

    with torch.no_grad(), agent.hooks(EditHooks(edits).fwd()):
        out = agent(torch.from_numpy(obs))
    return torch.log_softmax(out[0].float(), -1).numpy()


def probe_direction(plain: np.ndarray, feature: np.ndarray, seed: int) -> np.ndarray | None:
    """The unit weight vector of a logistic probe separating flattened ``plain`` from ``feature`` activations,
    oriented so that the feature projects higher (None where the probe's weights vanish)."""
    from mirl.probes import fit_logistic

    x = np.concatenate([plain, feature]).reshape(len(plain) + len(feature), -1)
    y = np.repeat([0, 1], [len(plain), len(feature)])
    w, _ = fit_logistic(x, y, 2, seed=seed)
    direction = w[:, 1] - w[:, 0]
    norm = np.linalg.norm(direction)
    if norm == 0:
        return None
    direction /= norm
    return direction if (x[y == 1] @ direction).mean() >= (x[y == 0] @ direction).mean() else -direction


class _ContrastSteering(Method):
    def candidates(self, plain: dict[str, np.ndarray], feature: dict[str, np.ndarray],
                   view) -> list[Edit | list[Edit]]:
        """Candidate edits (one edit, or edits applied in order) built from the first half of the pairs'
        activations (hook → [n, *shape])."""
        raise NotImplementedError

    def solve(self, view):
        hooks = [h for h in view.hook_points if h != "hook_obs"]
        plain_obs, feature_obs = view.steering_pairs(min(PAIRS, view.spec.train_size))
        half = len(plain_obs) // 2
        _, plain_acts = _activations(view.agent, plain_obs[:half], hooks)
        _, feature_acts = _activations(view.agent, feature_obs[:half], hooks)
        target, _ = _activations(view.agent, feature_obs[half:], [])
        best = None
        for candidate in self.candidates(plain_acts, feature_acts, view):
            edits = candidate if isinstance(candidate, list) else [candidate]
            logp = _edited_logp(view.agent, plain_obs[half:], edits)
            kl = float((np.exp(target) * (target - logp)).sum(-1).mean())
            if best is None or kl < best[0]:
                best = (kl, edits)
        return Intervention(edits=best[1])


class MeanDifference(_ContrastSteering):
    info = MethodInfo(
        name="mean-difference",
        version="1",
        answer_kinds=["intervention"],
        requires=["steering_pairs"],
        description="Add the mean activation difference between observations with and without the task's feature "
        "(the 'cheese vector'), at the hook and scale that best make the policy act as if the feature were there",
        references=["Turner et al. 2023, Steering GPT-2-XL by adding an activation vector / Understanding and "
                    "controlling a maze-solving policy network (arXiv 2310.08043)"],
        hyperparameters={"pairs": PAIRS, "scales": list(SCALES), "selection": "mean KL(π(feature) ‖ π_edited(plain)) "
                         "on the held-out half of the pairs", "hooks": "every offered hook point except the observation"},
        compute=f"{PAIRS} steering pairs' forward passes, then hooks × {len(SCALES)} edited passes over half of them",
    )

    def candidates(self, plain, feature, view):
        return [Edit(hook=hook, op="add", vector=scale * (feature[hook].mean(0) - plain[hook].mean(0)))
                for hook in plain for scale in SCALES]


class ProbeSteering(_ContrastSteering):
    info = MethodInfo(
        name="probe-steering",
        version="1",
        answer_kinds=["intervention"],
        requires=["steering_pairs"],
        description="Add a logistic probe's direction (feature vs no feature) scaled to the activations' mean "
        "projection gap, at the hook and scale that best make the policy act as if the feature were there",
        references=["Li et al. 2023, Inference-Time Intervention: Eliciting Truthful Answers from a Language Model "
                    "(arXiv 2306.03341)", "Bush et al. 2025 (probe-direction steering of a Sokoban DRC)"],
        hyperparameters={"pairs": PAIRS, "scales_in_projection_sd": list(PROBE_SCALES),
                         "probe": "logistic regression, L2 1e-2", "selection": "as mean-difference"},
        compute=f"{PAIRS} steering pairs' forward passes, one logistic fit per hook, then hooks × "
        f"{len(PROBE_SCALES)} edited passes over half of them",
    )

    def candidates(self, plain, feature, view):
        out = []
        for hook in plain:
            shape = plain[hook].shape[1:]
            direction = probe_direction(plain[hook], feature[hook], seed=int(view.rng.integers(2**31)))
            if direction is None:
                continue
            spread = float((plain[hook].reshape(len(plain[hook]), -1) @ direction).std()) or 1.0
            out += [Edit(hook=hook, op="add", vector=scale * spread * direction.reshape(shape))
                    for scale in PROBE_SCALES]
        return out


class ChannelClamp(_ContrastSteering):
    info = MethodInfo(
        name="channel-clamp",
        version="1",
        answer_kinds=["intervention"],
        requires=["steering_pairs"],
        description="Clamp the k channels that change most with the task's feature to their mean activation with "
        "it (everywhere, or at the position that changes most), choosing hook, k and where by the same policy match",
        references=["Mini, Trott, Turner et al. 2023, Understanding and Controlling a Maze-Solving Policy Network "
                    "(arXiv 2310.08043)"],
        hyperparameters={"pairs": PAIRS, "channels": list(CLAMP_CHANNELS), "where": ["everywhere", "top position"],
                         "hooks": "every offered spatial hook point [C, H, W]", "selection": "as mean-difference"},
        compute=f"{PAIRS} steering pairs' forward passes, then hooks × {2 * len(CLAMP_CHANNELS)} edited passes over "
        "half of them",
    )

    def candidates(self, plain, feature, view):
        out = []
        for hook in plain:
            if plain[hook].ndim != 4:  # [n, C, H, W]: spatial hooks only
                continue
            change = np.abs(feature[hook] - plain[hook]).mean(0)  # [C, H, W], paired states
            target = feature[hook].mean(0)
            ranked = np.argsort(-change.reshape(len(change), -1).sum(1), kind="stable")
            for k in CLAMP_CHANNELS:
                channels = sorted(int(c) for c in ranked[:k])
                position = np.unravel_index(int(np.argmax(change[channels].sum(0))), change.shape[1:])
                out.append(Edit(hook=hook, op="patch", vector=target, channels=channels))
                out.append(Edit(hook=hook, op="patch", vector=target, channels=channels,
                                positions=[tuple(int(p) for p in position)]))
        return out
