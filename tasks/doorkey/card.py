"""The cards of `doorkey-ppo` and the planted agents: success on held-out reset seeds, and how well has_key's
plant (or, on doorkey-ppo, the same channels and subspace for contrast) carries the variable: interchange
accuracy against random unit sets of its size, the decoys, correlation rankings."""

from __future__ import annotations

import functools

import numpy as np
import torch

from mirl.tasklib import measured_facts

from . import env as doorkey
from .agent import CHANNELS, PLANTED_IDS, SIZE, planted_spec, spec

EVAL_EPISODES = 500
CARD_PAIRS, RANDOM_SETS = 1000, 20
ONE_SEED = ("iia_random_max", "correlation_ranking_auroc", "decoy_decoding_accuracy", "decoy_correlation_mean",
            "planted_correlation_mean")  # statistics of one pool (seed 0's), not means over instances


def episodes(agent, greedy: bool, seed: int, episodes: int = EVAL_EPISODES, num_envs: int = 50):
    """Held-out-seed episodes (MiniGrid's step limit), the first ``episodes`` to start: (reached the goal,
    length) per episode."""
    from mirl.interventions import run_episodes

    env = doorkey.DoorKeyVecEnv(num_envs, size=SIZE, seed=seed, split="test")
    out = run_episodes(agent, env, episodes, seed=seed, greedy=greedy, record_labels=False)
    return out.terminated, out.lengths


@functools.lru_cache(maxsize=2)  # doorkey-ppo's card measures the channel plant and the subspace on the same pairs
def card_pairs(seed: int = 0):
    """The cards' (base, source, c) pairs: distinct states of expert episodes on held-out reset seeds."""
    from mirl.seeding import derive_seed

    from .planted import PairSet, state_pool

    pool = state_pool(SIZE, derive_seed(seed, "card-pool"), 300, split="test")
    return pool, PairSet.draw(pool, CARD_PAIRS, derive_seed(seed, "card-pairs"))


def plant_facts(agent, plant: str, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Per held-out pair whose expert action changes: the interchange hits of the plant, their mean over random
    unit sets / subspaces of its size and, for channels, of the decoys; and the pool's statistics: the best random
    set, how well the decoys decode has_key, how a correlation ranking of the layer's channels fares."""
    from mirl.probes import fit_logistic
    from mirl.scoring import auroc
    from mirl.seeding import derive_seed

    from . import planted as P

    pool, pairs = card_pairs(seed)
    rng = np.random.default_rng(derive_seed(seed, "card-random-sets"))
    plant_obj = P.CHANNEL_PLANT if plant == "channels" else P.subspace_plant()
    hits = {"iia_plant": P.interchange_hits(agent, pairs, P.plant_edits(plant_obj))}
    if plant == "channels":
        others = [c for c in range(CHANNELS) if c not in P.PLANTED]
        sets = [sorted(rng.choice(others, len(P.PLANTED), replace=False).tolist()) for _ in range(RANDOM_SETS)]
        random = [P.interchange_hits(agent, pairs, P.channel_edits({P.PLANT_HOOK: c})) for c in sets]
    else:
        random = [P.interchange_hits(agent, pairs, P.plant_edits(P.Plant(basis=P.subspace_basis(
            P.channel_rotation(seed=int(rng.integers(2**31))))))) for _ in range(RANDOM_SETS)]
    hits["iia_random_mean"] = np.mean(random, axis=0)
    stats = {"iia_random_max": float(np.max(np.mean(random, axis=1)))}
    # the layer's channels ranked by |corr(spatial mean, has_key)| over the held-out pool
    with torch.no_grad():
        _, cache = agent.run_with_cache(torch.from_numpy(doorkey.observe(pool.states)), names=[P.PLANT_HOOK])
    means = cache[P.PLANT_HOOK].mean(dim=(2, 3)).numpy().astype(np.float64)
    has_key = pool.has_key.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):  # a dead (constant) channel correlates with nothing
        corr = np.nan_to_num(np.abs([np.corrcoef(means[:, c], has_key)[0, 1] for c in range(CHANNELS)]))
    if plant == "channels":
        stats["correlation_ranking_auroc"] = auroc(np.isin(np.arange(CHANNELS), P.PLANTED), corr)
        hits["iia_decoys"] = P.interchange_hits(agent, pairs, P.channel_edits({P.PLANT_HOOK: list(P.DECOYS)}))
        train_pool = P.state_pool(SIZE, derive_seed(seed, "card-decoy-train"), 300)
        _, train_cache = agent.run_with_cache(torch.from_numpy(doorkey.observe(train_pool.states)), names=[P.PLANT_HOOK])
        decoys = list(P.DECOYS)
        w, b = fit_logistic(train_cache[P.PLANT_HOOK][:, decoys].mean(dim=(2, 3)).numpy(),
                            train_pool.has_key.astype(np.int64), 2)
        predicted = (means[:, decoys] @ w + b).argmax(1)
        stats["decoy_decoding_accuracy"] = float((predicted == pool.has_key).mean())
        stats["decoy_correlation_mean"] = float(corr[decoys].mean())
        stats["planted_correlation_mean"] = float(corr[list(P.PLANTED)].mean())
    return hits, stats


def measured(agent, plants: dict[str, str], lengths: tuple[str, ...]) -> dict:
    """The card's facts over three seeds (``measured_facts``): success with sampled and greedy actions (seed s
    plays from 2s and 2s + 1; seed 0's plays are the one-seed card's) and mean lengths of the ``lengths`` modes;
    for each ``plants`` prefix → plant, its per-pair interchange hits (pairs clustered by their base state), and
    seed 0's pool statistics."""
    plays, plant_hits = {}, {}

    def play(mode: str, seed: int):
        if (mode, seed) not in plays:
            plays[mode, seed] = episodes(agent, mode == "greedy", 2 * seed + (mode == "greedy"))
        return plays[mode, seed]

    def success(mode: str):
        return lambda seed: (play(mode, seed)[0], np.arange(EVAL_EPISODES))  # a reset seed each

    def length(mode: str):
        def values(seed: int):
            reached, steps = play(mode, seed)
            return steps[reached], np.flatnonzero(reached)

        return values

    def hits(plant: str, name: str):
        def values(seed: int):
            if (plant, seed) not in plant_hits:
                plant_hits[plant, seed] = plant_facts(agent, plant, seed)
            pairs = card_pairs(seed)[1]
            return plant_hits[plant, seed][0][name], pairs.bases[pairs.changing]

        return values

    measures = {"success_sampled": success("sampled"), "success_greedy": success("greedy"),
                **{f"mean_length_{mode}": length(mode) for mode in lengths}}
    names = ("iia_plant", "iia_random_mean", "iia_decoys")
    for prefix, plant in plants.items():
        measures.update({f"{prefix}{name}": hits(plant, name) for name in names
                         if plant == "channels" or name != "iia_decoys"})
    facts = measured_facts(measures)
    for prefix, plant in plants.items():
        facts["metrics"].update({f"{prefix}{k}": v for k, v in plant_hits[plant, 0][1].items()})
    return facts


def quoted(facts: dict, name: str, percent: bool = False) -> str:
    value, (low, high) = facts["metrics"][name], facts["intervals"][name]
    return f"{value:.1%} [{low:.1%}, {high:.1%}]" if percent else f"{value:.3f} [{low:.3f}, {high:.3f}]"


EVALUATION = (f"3 seeds × {EVAL_EPISODES} DoorKey-8x8 episodes each on held-out reset seeds (≥ 10⁹; the 8×8 layout "
              "space is small, so these are new seeds more than new layouts), MiniGrid's step limit, pooled; "
              f"interchange accuracy on 3 seeds × {CARD_PAIRS} (base, source) pairs of distinct held-out expert "
              "states (only pairs whose expert action on the counterfactual differs from the base's); 95% CIs "
              "resample episodes and base states; " + ", ".join(ONE_SEED) + ": seed 0's pool only")
ENVIRONMENT = {"size": SIZE, "observation": "MiniGrid full encoding, one-hot 21 planes, interior"}


def evaluate(agent) -> dict:
    # the planted cards' numbers for the same channels and subspace of this naturally trained agent (contrast)
    facts = measured(agent, {"contrast_channels_": "channels", "contrast_subspace_": "subspace"},
                     ("sampled", "greedy"))
    m = facts["metrics"]

    def q(name):
        return quoted(facts, f"contrast_{name}")

    return {
        **facts, "evaluation": EVALUATION, "environment": ENVIRONMENT,
        "behavioural_facts": [
            f"reaches the goal in {quoted(facts, 'success_sampled', True)} of held-out episodes (sampled actions; "
            f"greedy {quoted(facts, 'success_greedy', True)})",
            f"contrast with doorkey-planted: patching channels 0–3 of encoder.conv1 gives interchange accuracy "
            f"{q('channels_iia_plant')} (random 4-channel sets {q('channels_iia_random_mean')}, best of seed 0's "
            f"{RANDOM_SETS} {m['contrast_channels_iia_random_max']:.3f}; channels 4–7 {q('channels_iia_decoys')}, "
            f"decoding has_key at {m['contrast_channels_decoy_decoding_accuracy']:.1%}); the planted subspace "
            f"{q('subspace_iia_plant')} (random {q('subspace_iia_random_mean')})",
        ],
    }


def evaluate_planted(agent, plant: str) -> dict:
    facts = measured(agent, {"": plant}, ("greedy",))
    m = facts["metrics"]
    where = ("channels 0–3 of encoder.conv1 (decoys: channels 4–7)" if plant == "channels" else
             "a 4-dimensional subspace of encoder.conv1's 32-dimensional channel space at every position, in a "
             "fixed random rotation (planted.subspace_basis)")
    lines = [f"reaches the goal in {quoted(facts, 'success_sampled', True)} of held-out episodes (sampled; greedy "
             f"{quoted(facts, 'success_greedy', True)})",
             f"has_key planted in {where}: interchange accuracy {quoted(facts, 'iia_plant')} on the held-out pairs "
             f"whose expert action changes, vs {quoted(facts, 'iia_random_mean')} for {RANDOM_SETS} random sets of "
             f"the same size (the best of seed 0's: {m['iia_random_max']:.3f})"]
    if plant == "channels":
        lines.append(f"decoys: interchange accuracy {quoted(facts, 'iia_decoys')}, yet they decode has_key at "
                     f"{m['decoy_decoding_accuracy']:.1%} (a logistic probe on their spatial means); "
                     f"|corr(channel mean, has_key)| ranks the planted channels at AUROC "
                     f"{m['correlation_ranking_auroc']:.2f} against the layer's other channels, decoys among them")
    return {**facts, "evaluation": EVALUATION, "environment": ENVIRONMENT, "behavioural_facts": lines}


def agent_specs() -> list:
    """doorkey-ppo and the two planted agents as the family registers them: their specs with these cards' measures."""
    return [spec(evaluate), *(planted_spec(plant, evaluate_planted) for plant in PLANTED_IDS)]
