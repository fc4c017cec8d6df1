"""The cards of `doorkey-ppo` and the planted agents: success on held-out reset seeds, and how well has_key's
plant (or, on doorkey-ppo, the same channels and subspace for contrast) carries the variable: interchange
accuracy against random unit sets of its size, the decoys, correlation rankings."""

from __future__ import annotations

import functools

import numpy as np
import torch

from . import env as doorkey
from .agent import CHANNELS, PLANTED_IDS, SIZE, planted_spec, spec

EVAL_EPISODES = 500


def success(agent, episodes: int = EVAL_EPISODES, greedy: bool = False, seed: int = 0,
            num_envs: int = 50) -> dict[str, float]:
    """Held-out-seed episodes (MiniGrid's step limit): the fraction reaching the goal, and their mean length;
    the first ``episodes`` episodes to start (``run_episodes``)."""
    from mirl.interventions import run_episodes

    env = doorkey.DoorKeyVecEnv(num_envs, size=SIZE, seed=seed, split="test")
    out = run_episodes(agent, env, episodes, seed=seed, greedy=greedy, record_labels=False)
    reached = out.terminated
    return {"success": float(reached.mean()),
            "mean_length": float(out.lengths[reached].mean()) if reached.any() else float("nan")}


def evaluate(agent) -> dict:
    sampled, greedy = success(agent), success(agent, greedy=True, seed=1)
    # the planted cards' numbers for the same channels and subspace of this naturally trained agent (contrast)
    contrast = {f"contrast_channels_{k}": v for k, v in plant_facts(agent, "channels").items()}
    contrast.update({f"contrast_subspace_{k}": v for k, v in plant_facts(agent, "subspace").items()
                     if not k.startswith("correlation")})
    return {
        "metrics": {"success_sampled": sampled["success"], "success_greedy": greedy["success"],
                    "mean_length_sampled": sampled["mean_length"], "mean_length_greedy": greedy["mean_length"],
                    **contrast},
        "evaluation": f"{EVAL_EPISODES} DoorKey-8x8 episodes each on held-out reset seeds (≥ 10⁹; the 8×8 layout "
                      "space is small, so these are new seeds more than new layouts), MiniGrid's step limit",
        "environment": {"size": SIZE, "observation": "MiniGrid full encoding, one-hot 21 planes, interior"},
        "behavioural_facts": [
            f"reaches the goal in {sampled['success']:.1%} of held-out episodes (sampled actions; greedy "
            f"{greedy['success']:.1%})",
            f"contrast with doorkey-planted: patching channels 0–3 of encoder.conv1 gives interchange accuracy "
            f"{contrast['contrast_channels_iia_plant']:.3f} (random 4-channel sets "
            f"{contrast['contrast_channels_iia_random_mean']:.3f}, max {contrast['contrast_channels_iia_random_max']:.3f}"
            f"; channels 4–7 {contrast['contrast_channels_iia_decoys']:.3f}, decoding has_key at "
            f"{contrast['contrast_channels_decoy_decoding_accuracy']:.1%}); the planted subspace "
            f"{contrast['contrast_subspace_iia_plant']:.3f} (random {contrast['contrast_subspace_iia_random_mean']:.3f})",
        ],
    }


CARD_PAIRS, RANDOM_SETS = 1000, 20


@functools.lru_cache(maxsize=2)  # doorkey-ppo's card measures the channel plant and the subspace on the same pairs
def card_pairs(seed: int = 0):
    """The cards' (base, source, c) pairs: distinct states of expert episodes on held-out reset seeds."""
    from mirl.seeding import derive_seed

    from .planted import PairSet, state_pool

    pool = state_pool(SIZE, derive_seed(seed, "card-pool"), 300, split="test")
    return pool, PairSet.draw(pool, CARD_PAIRS, derive_seed(seed, "card-pairs"))


def plant_facts(agent, plant: str, seed: int = 0) -> dict[str, float]:
    """Interchange accuracy of the plant, of random unit sets / subspaces of its size, of the decoys; how well the
    decoys decode has_key; and how a correlation ranking of the layer's channels fares against the plant."""
    from mirl.probes import fit_logistic
    from mirl.scoring import auroc
    from mirl.seeding import derive_seed

    from . import planted as P

    pool, pairs = card_pairs(seed)
    rng = np.random.default_rng(derive_seed(seed, "card-random-sets"))
    plant_obj = P.CHANNEL_PLANT if plant == "channels" else P.subspace_plant()
    facts = {"iia_plant": P.interchange_accuracy(agent, pairs, P.plant_edits(plant_obj))}
    if plant == "channels":
        others = [c for c in range(CHANNELS) if c not in P.PLANTED]
        sets = [sorted(rng.choice(others, len(P.PLANTED), replace=False).tolist()) for _ in range(RANDOM_SETS)]
        random_iia = [P.interchange_accuracy(agent, pairs, P.channel_edits({P.PLANT_HOOK: c})) for c in sets]
    else:
        random_iia = [P.interchange_accuracy(agent, pairs, P.plant_edits(P.Plant(basis=P.subspace_basis(
            P.channel_rotation(seed=int(rng.integers(2**31))))))) for _ in range(RANDOM_SETS)]
    facts["iia_random_mean"], facts["iia_random_max"] = float(np.mean(random_iia)), float(np.max(random_iia))
    # the layer's channels ranked by |corr(spatial mean, has_key)| over the held-out pool
    with torch.no_grad():
        _, cache = agent.run_with_cache(torch.from_numpy(doorkey.observe(pool.states)), names=[P.PLANT_HOOK])
    means = cache[P.PLANT_HOOK].mean(dim=(2, 3)).numpy().astype(np.float64)
    has_key = pool.has_key.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):  # a dead (constant) channel correlates with nothing
        corr = np.nan_to_num(np.abs([np.corrcoef(means[:, c], has_key)[0, 1] for c in range(CHANNELS)]))
    if plant == "channels":
        truth = np.isin(np.arange(CHANNELS), P.PLANTED)
        facts["correlation_ranking_auroc"] = auroc(truth, corr)
        facts["iia_decoys"] = P.interchange_accuracy(agent, pairs, P.channel_edits({P.PLANT_HOOK: list(P.DECOYS)}))
        train_pool = P.state_pool(SIZE, derive_seed(seed, "card-decoy-train"), 300)
        _, train_cache = agent.run_with_cache(torch.from_numpy(doorkey.observe(train_pool.states)), names=[P.PLANT_HOOK])
        decoys = list(P.DECOYS)
        w, b = fit_logistic(train_cache[P.PLANT_HOOK][:, decoys].mean(dim=(2, 3)).numpy(),
                            train_pool.has_key.astype(np.int64), 2)
        predicted = (means[:, decoys] @ w + b).argmax(1)
        facts["decoy_decoding_accuracy"] = float((predicted == pool.has_key).mean())
        facts["decoy_correlation_mean"] = float(corr[decoys].mean())
        facts["planted_correlation_mean"] = float(corr[list(P.PLANTED)].mean())
    return facts


def evaluate_planted(agent, plant: str) -> dict:
    sampled, greedy = success(agent), success(agent, greedy=True, seed=1)
    facts = plant_facts(agent, plant)
    where = ("channels 0–3 of encoder.conv1 (decoys: channels 4–7)" if plant == "channels" else
             "a 4-dimensional subspace of encoder.conv1's 32-dimensional channel space at every position, in a "
             "fixed random rotation (planted.subspace_basis)")
    lines = [f"reaches the goal in {sampled['success']:.1%} of held-out episodes (sampled; greedy "
             f"{greedy['success']:.1%})",
             f"has_key planted in {where}: interchange accuracy {facts['iia_plant']:.3f} on the held-out pairs "
             f"(of {CARD_PAIRS} drawn) whose expert action changes, vs {facts['iia_random_mean']:.3f} (max "
             f"{facts['iia_random_max']:.3f}) for {RANDOM_SETS} random sets of the same size"]
    if plant == "channels":
        lines.append(f"decoys: interchange accuracy {facts['iia_decoys']:.3f}, yet they decode has_key at "
                     f"{facts['decoy_decoding_accuracy']:.1%} (a logistic probe on their spatial means); "
                     f"|corr(channel mean, has_key)| ranks the planted channels at AUROC "
                     f"{facts['correlation_ranking_auroc']:.2f} against the layer's other channels, decoys "
                     "among them")
    return {
        "metrics": {"success_sampled": sampled["success"], "success_greedy": greedy["success"],
                    "mean_length_greedy": greedy["mean_length"], **facts},
        "evaluation": f"{EVAL_EPISODES} DoorKey-8x8 episodes each on held-out reset seeds; interchange accuracy on "
                      f"{CARD_PAIRS} (base, source) pairs of distinct held-out expert states (only pairs whose "
                      "expert action on the counterfactual differs from the base's)",
        "environment": {"size": SIZE, "observation": "MiniGrid full encoding, one-hot 21 planes, interior"},
        "behavioural_facts": lines,
    }


def agent_specs() -> list:
    """doorkey-ppo and the two planted agents as the family registers them: their specs with these cards' measures."""
    return [spec(evaluate), *(planted_spec(plant, evaluate_planted) for plant in PLANTED_IDS)]
