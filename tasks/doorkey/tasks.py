"""The doorkey tasks: localize `has_key` in a naturally trained agent, and where the truth is planted.

- ``doorkey/haskey-locate-v1`` (unit_scores, ``doorkey-ppo``): rank the conv channels; scored by the IIA of
  patching the top k% from source into base (registered once doorkey-ppo ships).
- ``doorkey/haskey-planted-v1`` (unit_scores, ``doorkey-planted``): rank the channels of ``encoder.conv1``; the
  truth is channels 0–3, and channels 4–7 are decoys that decode has_key but do nothing.
- ``doorkey/subspace-planted-v1`` (readout as a featurizer, ``doorkey-planted-subspace``): return a 4-dimensional
  subspace of ``encoder.conv1``; patching it from source into base must carry has_key.

States are distinct states of expert and ε-noisy expert episodes: methods get the train reset seeds (< 10⁹), the
scorer draws its pairs from the held-out seeds. A pair's IIA target is the expert's optimal actions on the
counterfactual (a planted agent's behaviour is the expert's). Each task registers once its agent is pinned.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from mirl.pins import read_pins
from mirl.schemas import AgentRef, Budget, MetricSpec, Normalization, TaskSpec
from mirl.scoring import ScoreReport
from mirl.seeding import derive_seed, test_seed, train_seed
from mirl.task import Task, TaskView, TrainData
from mirl.tasklib import ReadoutTask, bootstrap_rng, decode, mean_report, top_units

from . import env as doorkey
from . import planted as P

SIZE = doorkey.DEFAULT_SIZE  # as the agents (agent.py, which imports torch: listing tasks must not)

FOLDER = Path(__file__).parent
IIA_PERCENTS = (1, 2, 5, 10, 20, 50)
TEST_PAIRS = 1000
POOL_EPISODES = 300  # expert + noisy episodes per split: ~2,400 distinct 8×8 states
REFERENCES = [
    "Geiger et al. 2022, Inducing causal structure for interpretable neural networks (IIT; arXiv 2112.00826)",
    "Gupta et al. 2024, InterpBench: semi-synthetic transformers for evaluating mechanistic interpretability "
    "techniques (arXiv 2407.14494)",
    "Mueller et al. 2025, MIB: a mechanistic interpretability benchmark (arXiv 2504.13151)",
]
PLANT_HOOKS = {P.PLANT_HOOK: list(P.PLANT_SHAPE)}


def agent_ref(agent_id: str, sha256: str) -> AgentRef:
    return AgentRef(id=agent_id, checkpoint=f"{agent_id}.pt", sha256=sha256, card=f"{agent_id}.card.json")


@functools.lru_cache(maxsize=4)
def pool_for(seed: int, split: str, layouts: str | None = None) -> P.Pool:
    # on a fifth of the layouts, 300 episodes find too few distinct states: their space is small
    return P.state_pool(SIZE, seed, POOL_EPISODES * (3 if layouts else 1), split=split, layouts=layouts)


class DoorKeyTask(Task):
    folder = FOLDER
    held_out_layouts = False  # train and test states from disjoint layouts (doorkey.layout_split), not only seeds

    def layouts(self, split: str) -> str | None:
        return split if self.held_out_layouts else None

    def build_agent(self):
        from .agent import build

        return build()

    def train_pool(self, view: TaskView) -> P.Pool:
        return pool_for(derive_seed(view.train_seed, "pool"), "train", self.layouts("train"))

    def train_data(self, view: TaskView, n: int, hooks: list[str]) -> TrainData:
        """Distinct train-seed states (shuffled, seeded) with ``state_labels``."""
        pool = self.train_pool(view)
        rows = np.random.default_rng(derive_seed(view.train_seed, "rows")).permutation(len(pool.states))[:n]
        return labelled_states(view.agent, [pool.states[i] for i in rows], hooks)

    def interchange_pairs(self, view: TaskView, n: int):
        """Train-seed (base, source, counterfactual) observations with opposite has_key; c = the base with the
        source's key state."""
        pairs = P.PairSet.draw(self.train_pool(view), n, derive_seed(view.train_seed, "pairs"))
        return tuple(t.numpy() for t in pairs.obs)

    def make_train_env(self, view: TaskView, num_envs: int):
        from mirl.envs import BudgetedEnv

        return BudgetedEnv(doorkey.DoorKeyVecEnv(num_envs, size=SIZE, seed=derive_seed(view.train_seed, "env") % 2**31,
                                                 split="train", layouts=self.layouts("train")), view.meter)

    def test_pairs(self, seed: int) -> P.PairSet:
        s = test_seed(seed)
        return P.PairSet.draw(pool_for(derive_seed(s, "pool"), "test", self.layouts("test")), TEST_PAIRS,
                              derive_seed(s, "pairs"))


def key_door_class(has_key: np.ndarray, door_open: np.ndarray) -> np.ndarray:
    """0: no key; 1: the key, door closed; 2: the door open (DoorKey opens it with the key, which is kept)."""
    return np.asarray(has_key, dtype=np.int64) + np.asarray(door_open, dtype=np.int64)


CONTROL_SEED = 7  # the control task's random function of (agent cell, direction)
KEY_DOOR_PRIOR = (0.56, 0.28, 0.16)  # about the train pool's class frequencies, which the control labels copy


def control_class(states: list) -> np.ndarray:
    """Hewitt & Liang's control task for ``key_door``: each (agent cell, direction) — a nuisance "type" the
    agent's layers represent — gets a fixed random class drawn with the real classes' frequencies, so only a
    probe that memorises types can decode it."""
    types = np.array([(s.agent[0] * 16 + s.agent[1]) * 4 + s.direction for s in states])
    table = np.random.default_rng(CONTROL_SEED).choice(3, size=16 * 16 * 4, p=KEY_DOOR_PRIOR)
    return table[types]


def labelled_states(agent, states: list, hooks: list[str]) -> TrainData:
    """States with labels ``has_key`` and ``door_open`` (0/1), ``key_door`` (``key_door_class``),
    ``control_key_door`` (``control_class``) and ``expert_action`` (the smallest optimal action), and the
    agent's activations at ``hooks``."""
    import torch

    obs = doorkey.observe(states)
    activations = {}
    if hooks:
        with torch.no_grad():
            _, cache = agent.run_with_cache(torch.from_numpy(obs), names=hooks)
        activations = {h: cache[h].numpy() for h in hooks}
    has_key = np.array([s.carrying for s in states], dtype=np.int64)
    door_open = np.array([s.door_open for s in states], dtype=np.int64)
    labels = {"has_key": has_key, "door_open": door_open, "key_door": key_door_class(has_key, door_open),
              "control_key_door": control_class(states),
              "expert_action": np.array([min(doorkey.expert_actions(s)) for s in states], dtype=np.int64)}
    return TrainData(obs=obs, labels=labels, activations=activations)


# ----------------------------------------------------------------------------------------------------
# 1. haskey-locate (the naturally trained agent)

CONV_HOOKS = {f"encoder.conv{i}.hook_out": list(P.PLANT_SHAPE) for i in range(3)}
RANDOM_ORDERINGS = 10


class HasKeyLocate(DoorKeyTask):
    """Rank the natural agent's conv channels by how much they carry has_key; scored by interchange."""

    def __init__(self, sha256: str):
        units = sum(shape[0] for shape in CONV_HOOKS.values())
        self.spec = TaskSpec(
            id="doorkey/haskey-locate-v1",
            title="Locate has_key in a naturally trained DoorKey agent",
            question="Which channels of doorkey-ppo's conv layers carry whether it holds the key?",
            description=f"Score the {units} channels of encoder.conv0, conv1 and conv2 in doorkey-ppo (trained with "
            "PPO, nothing planted). The scorer patches the top 1, 2, 5, 10, 20 and 50% of channels (all positions) "
            "from a source state into a base state whose has_key differs, on 1,000 held-out pairs, and counts the "
            "pairs where the patched agent takes the greedy action it takes on the counterfactual (the base with "
            "the source's key state), among the pairs where that action differs from its action on the base. "
            f"Primary: the mean over k of that interchange-intervention accuracy, normalised between "
            f"{RANDOM_ORDERINGS} random channel orderings (0, measured per scoring) and 1.",
            answer_kind="unit_scores", unit_level="channel", offers=["interchange_pairs"],
            agent=agent_ref("doorkey-ppo", sha256), hook_points=CONV_HOOKS, target="has_key", primary_metric="iia_auc",
            metrics=[
                MetricSpec(name="iia_auc", higher_is_better=True, description="mean IIA over the top-k% patches"),
                *[MetricSpec(name=f"iia_{k}pct", higher_is_better=True, description=f"IIA with the top {k}% patched")
                  for k in IIA_PERCENTS],
                MetricSpec(name="iia_auc_random_orderings", higher_is_better=True,
                           description=f"the floor: mean over {RANDOM_ORDERINGS} random orderings"),
            ],
            normalization=Normalization(floor=None, ceiling=1.0, floor_source="random channel orderings, measured "
                                        "by the scorer", ceiling_source="every changing pair acts as on c at every k"),
            budget=Budget(env_steps=100_000, forward_passes=2_000_000, wall_seconds=600.0),
            train_size=2000, test_size=TEST_PAIRS, references=REFERENCES,
        )

    def hits(self, unedited: P.UneditedPass, order: list[tuple[str, int]]) -> np.ndarray:
        """[k, pairs] hits of the top-k% patches (the changing pairs depend on the agent alone: aligned)."""
        rows = []
        for k in IIA_PERCENTS:
            units: dict[str, list[int]] = {}
            for hook, channel in top_units(order, k, at_least_one=True):
                units.setdefault(hook, []).append(channel)
            rows.append(P.interchange_hits(unedited.agent, unedited.pairs, P.channel_edits(units), target="agent",
                                           unedited=unedited))
        return np.stack(rows)

    def score(self, answer, seed: int) -> ScoreReport:
        from mirl.calibration import unit_ordering

        counts = {h: shape[0] for h, shape in CONV_HOOKS.items()}
        unedited = P.UneditedPass(self.load_agent(), self.test_pairs(seed))
        rng = np.random.default_rng(derive_seed(seed, "random-orderings"))
        floor = float(np.mean([self.hits(unedited, unit_ordering(
            {h: rng.random(n) for h, n in counts.items()}, counts, seed)).mean() for _ in range(RANDOM_ORDERINGS)]))
        return self.score_hits(self.hits(unedited, unit_ordering(answer.scores, counts, seed)), floor, seed)

    def score_hits(self, hits: np.ndarray, floor: float, seed: int) -> ScoreReport:
        # each pair's mean over k: the primary score is their mean
        return mean_report(hits.mean(0), seed, name="iia_auc", floor=floor, ceiling=1.0, metrics={
            "iia_auc_random_orderings": floor, **{f"iia_{k}pct": float(row.mean()) for k, row in zip(IIA_PERCENTS, hits)}})


# ----------------------------------------------------------------------------------------------------
# 3. state-readout

READOUT_HOOKS = {"encoder.conv2.hook_out": list(P.PLANT_SHAPE), "dense.hook_out": [128]}


class StateReadout(DoorKeyTask, ReadoutTask):
    """Decode has_key and door_open, with selectivity against a control task. v1 draws test states from held-out
    reset seeds, whose states partly recur in training (the 8×8 layout space is small); v2 from held-out layouts."""

    def __init__(self, agent_id: str, sha256: str, held_out_layouts: bool = False):
        self.held_out_layouts = held_out_layouts
        held_out = ("held-out layouts (a fifth of the door positions, never in the train split: "
                    "doorkey.layout_split)" if held_out_layouts else "held-out reset seeds")
        self.spec = TaskSpec(
            id=f"doorkey/state-readout-v{2 if held_out_layouts else 1}",
            title="Read has_key and door_open out of a DoorKey agent",
            question=f"Do {agent_id}'s last conv layer and dense layer say whether it holds the key and whether the "
            "door is open?",
            description="Decode, from encoder.conv2 or dense, the class key_door = has_key + door_open (0: no key, "
            "1: the key and a closed door, 2: the door open — DoorKey opens it with the key, which is kept): a "
            "readout with 3 outputs, argmax. Test states: distinct states of expert and noisy-expert episodes on "
            f"{held_out}. Primary: the mean of the has_key and door_open accuracies implied by the "
            "predicted class, normalised between the majority class (0) and 1. Control task (Hewitt & Liang 2019): "
            "the runner fits the method again on control_key_door — a fixed random class per (agent cell, "
            "direction) with the real class frequencies — and reports selectivity = score − control score.",
            answer_kind="readout", agent=agent_ref(agent_id, sha256), hook_points=READOUT_HOOKS, target="key_door",
            control_target="control_key_door", output_dim=3, primary_metric="accuracy",
            metrics=[
                MetricSpec(name="accuracy", higher_is_better=True, description="mean of the two accuracies"),
                MetricSpec(name="has_key_accuracy", higher_is_better=True, description=""),
                MetricSpec(name="door_open_accuracy", higher_is_better=True, description=""),
                MetricSpec(name="majority_accuracy", higher_is_better=True, description="the floor"),
                MetricSpec(name="selectivity", higher_is_better=True,
                           description="accuracy − the same method's accuracy on the control task"),
            ],
            normalization=Normalization(floor=None, ceiling=1.0, floor_source="the train split's majority class",
                                        ceiling_source="perfect decoding"),
            budget=Budget(env_steps=100_000, forward_passes=200_000, wall_seconds=300.0),
            train_size=2000, test_size=1500 if held_out_layouts else 2000, references=REFERENCES + [
                "Hewitt & Liang 2019, Designing and interpreting probes with control tasks (arXiv 1909.03368)"],
        )

    def test_states(self, agent, seed: int, hooks: list[str]) -> TrainData:
        pool = pool_for(derive_seed(seed, "pool"), "test", self.layouts("test"))
        rows = np.random.default_rng(derive_seed(seed, "rows")).permutation(len(pool.states))[:self.spec.test_size]
        return labelled_states(agent, [pool.states[i] for i in rows], hooks)

    def score_outputs(self, outputs: np.ndarray, states: TrainData, seed: int) -> ScoreReport:
        train_pool = pool_for(derive_seed(train_seed(seed), "pool"), "train", self.layouts("train"))  # the view's
        return self.score_classes(outputs.argmax(1), states.labels["key_door"], majority_class(train_pool), seed)

    def score_control(self, answer, seed: int) -> ScoreReport:
        states = self.test_states(self.load_agent(), test_seed(seed), list(answer.weights))
        predicted = decode(answer, states.activations, len(states)).argmax(1)
        return self.score_classes(predicted, states.labels["control_key_door"], 0, seed)

    def score_classes(self, predicted: np.ndarray, labels: np.ndarray, majority: int, seed: int) -> ScoreReport:
        """Per state, the mean of the has_key and door_open hits implied by the predicted key_door class."""

        def hits(classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return (np.minimum(classes, 1) == np.minimum(labels, 1)), ((classes == 2) == (labels == 2))

        key, door = hits(predicted)
        floor_key, floor_door = hits(np.full_like(labels, majority))
        floor = float((floor_key.mean() + floor_door.mean()) / 2)
        return mean_report((key.astype(float) + door) / 2, seed, name="accuracy", floor=floor, ceiling=1.0, metrics={
            "has_key_accuracy": float(key.mean()), "door_open_accuracy": float(door.mean()), "majority_accuracy": floor})


def majority_class(pool: P.Pool) -> int:
    door_open = np.array([s.door_open for s in pool.states])
    return int(np.bincount(key_door_class(pool.has_key, door_open), minlength=3).argmax())


# ----------------------------------------------------------------------------------------------------
# 2. haskey-planted


class HasKeyPlanted(DoorKeyTask):
    """Rank the planted agent's conv1 channels by how much they carry has_key; the truth is planted."""

    def __init__(self, sha256: str):
        channels = P.PLANT_SHAPE[0]
        self.spec = TaskSpec(
            id="doorkey/haskey-planted-v1",
            title="Find the channels where has_key was planted",
            question="Which channels of the planted DoorKey agent's encoder.conv1 carry whether it holds the key?",
            description=f"Score each of the {channels} channels of encoder.conv1 in doorkey-planted. The agent was "
            f"distilled from a BFS expert with interchange-intervention training so that has_key lives in channels "
            f"{list(P.PLANTED)} (patching them from a source state makes it act as if it had the source's key state) and "
            f"nowhere else in the layer; channels {list(P.DECOYS)} are decoys, trained to decode has_key while being "
            "causally inert. Primary: AUROC of the scores against the planted channels, every other channel "
            "(decoys included) a negative, normalised so that 0.5 (chance) → 0 and 1 → 1. Also reported: the AUROC "
            "of planted against decoys alone, and the interchange-intervention accuracy (IIA) when the top 1, 2, 5, "
            "10, 20 and 50% of channels are patched on 1,000 held-out (base, source) pairs whose expert action "
            "changes.",
            answer_kind="unit_scores", unit_level="channel", offers=["interchange_pairs"],
            agent=agent_ref("doorkey-planted", sha256), hook_points=PLANT_HOOKS, target="has_key",
            primary_metric="auroc",
            metrics=[
                MetricSpec(name="auroc", higher_is_better=True, description="planted channels vs all others"),
                MetricSpec(name="auroc_vs_decoys", higher_is_better=True,
                           description="planted channels vs the decoys only (0: every decoy ranked above every "
                                       "planted channel)"),
                MetricSpec(name="iia_auc", higher_is_better=True, description="mean IIA over the top-k% patches"),
                *[MetricSpec(name=f"iia_{k}pct", higher_is_better=True, description=f"IIA with the top {k}% patched")
                  for k in IIA_PERCENTS],
            ],
            normalization=Normalization(floor=0.5, ceiling=1.0, floor_source="chance AUROC",
                                        ceiling_source="the planted channels ranked first"),
            budget=Budget(env_steps=100_000, forward_passes=2_000_000, wall_seconds=600.0),
            train_size=2000, test_size=channels, references=REFERENCES,
        )

    def score(self, answer, seed: int) -> ScoreReport:
        from mirl.calibration import unit_ordering

        order = [c for _, c in unit_ordering(answer.scores, {P.PLANT_HOOK: P.PLANT_SHAPE[0]}, seed)]
        agent = self.load_agent()
        pairs = self.test_pairs(seed)
        unedited = P.UneditedPass(agent, pairs)
        curve = {}
        for k in IIA_PERCENTS:
            top = top_units(order, k, at_least_one=True)
            curve[k] = float(P.interchange_hits(agent, pairs, P.channel_edits({P.PLANT_HOOK: top}),
                                                unedited=unedited).mean())
        return self.score_ranking(np.asarray(answer.scores[P.PLANT_HOOK], dtype=np.float64), curve, seed)

    def score_ranking(self, scores: np.ndarray, curve: dict[int, float], seed: int) -> ScoreReport:
        from mirl.scoring import auroc, pairwise_auroc

        channels = len(scores)
        truth = np.isin(np.arange(channels), P.PLANTED)
        decoys = np.isin(np.arange(channels), P.DECOYS)
        value = auroc(truth, scores)
        # CI: resample the channels within the planted and the other group (AUROC needs both)
        rng = bootstrap_rng(seed)
        pos, neg = np.flatnonzero(truth), np.flatnonzero(~truth)
        draws = [(rng.choice(pos, len(pos)), rng.choice(neg, len(neg))) for _ in range(1000)]
        boot = pairwise_auroc(scores[np.array([d[0] for d in draws])], scores[np.array([d[1] for d in draws])])
        keep = truth | decoys
        return ScoreReport(
            metrics={"auroc": value, "auroc_vs_decoys": auroc(truth[keep], scores[keep]),
                     "iia_auc": float(np.mean(list(curve.values()))), **{f"iia_{k}pct": v for k, v in curve.items()}},
            score=value, ci=(float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))), n=channels,
            floor=0.5, ceiling=1.0,
        )

    def oracle_answer(self, view: TaskView):
        from mirl.schemas import UnitScores

        return UnitScores(scores={P.PLANT_HOOK: np.isin(np.arange(P.PLANT_SHAPE[0]), P.PLANTED).astype(float)})


# ----------------------------------------------------------------------------------------------------
# 4. subspace-planted

RANDOM_SUBSPACES = 10


def orthonormal_columns(weights: np.ndarray, tolerance: float = 1e-6) -> np.ndarray:
    """[features, r] orthonormal basis of the span of ``weights``' columns (r = its numerical rank, ≥ 0)."""
    u, s, _ = np.linalg.svd(np.asarray(weights, dtype=np.float64), full_matrices=False)
    return u[:, s > tolerance * max(1.0, float(s.max(initial=0.0)))]


def principal_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Principal angles (degrees, ascending) between the spans of orthonormal columns ``a`` and ``b``."""
    if a.shape[1] == 0 or b.shape[1] == 0:
        return np.full(max(a.shape[1], b.shape[1], 1), 90.0)
    cosines = np.clip(np.linalg.svd(a.T @ b, compute_uv=False), -1.0, 1.0)
    return np.degrees(np.arccos(cosines))


class SubspacePlanted(DoorKeyTask):
    """Find the 4-dimensional subspace of conv1 where has_key was planted, aligned with no unit."""

    def __init__(self, sha256: str):
        features = int(np.prod(P.PLANT_SHAPE))
        self.spec = TaskSpec(
            id="doorkey/subspace-planted-v1",
            title="Find the rotated subspace where has_key was planted",
            question="Which linear subspace of the planted DoorKey agent's encoder.conv1 carries whether it holds "
            "the key?",
            description=f"doorkey-planted-subspace was distilled from a BFS expert with interchange-intervention "
            f"training so that has_key (with the key's cell) lives in a {P.SUBSPACE_DIM}-dimensional subspace of "
            f"encoder.conv1's flattened {features} dimensions: at every one of its {P.PLANT_SHAPE[1] * P.PLANT_SHAPE[2]} "
            f"positions, the same {P.CHANNEL_SUBSPACE_DIM}-dimensional subspace of the {P.PLANT_SHAPE[0]}-dimensional "
            "channel space, the first axes of a fixed random rotation, so no channel holds it. "
            f"Answer: a readout whose weights[{P.PLANT_HOOK!r}] is [{features}, {P.SUBSPACE_DIM}]; its columns span "
            "the proposed subspace (the scorer orthonormalises them; zero or dependent columns propose a smaller "
            "one; the bias is ignored). The scorer patches that subspace from source into base (base + P(source − "
            "base), P the projector) on 1,000 held-out (base, source) pairs whose expert action changes. Primary: "
            "the interchange-intervention accuracy (IIA), normalised between random subspaces of the same dimension "
            "(0, measured by the scorer) and 1. Principal angles to the planted subspace are reported.",
            answer_kind="readout", offers=["interchange_pairs"], agent=agent_ref("doorkey-planted-subspace", sha256),
            hook_points=PLANT_HOOKS, target="has_key", output_dim=P.SUBSPACE_DIM, primary_metric="iia",
            metrics=[
                MetricSpec(name="iia", higher_is_better=True, description="IIA of the proposed subspace"),
                MetricSpec(name="iia_random_subspace", higher_is_better=True,
                           description=f"the floor: mean IIA of {RANDOM_SUBSPACES} random subspaces of that dimension"),
                MetricSpec(name="subspace_dim", higher_is_better=True, description="rank of the proposed weights"),
                MetricSpec(name="overlap", higher_is_better=True,
                           description="mean squared cosine of the principal angles to the planted subspace"),
                MetricSpec(name="largest_principal_angle", higher_is_better=False, description="degrees"),
            ],
            normalization=Normalization(floor=None, ceiling=1.0, floor_source="random subspaces of the answer's "
                                        "dimension, measured by the scorer", ceiling_source="perfect IIA"),
            budget=Budget(env_steps=100_000, forward_passes=2_000_000, wall_seconds=600.0),
            train_size=2000, test_size=TEST_PAIRS, references=REFERENCES,
        )

    def score(self, answer, seed: int) -> ScoreReport:
        basis = orthonormal_columns(answer.weights[P.PLANT_HOOK])
        agent = self.load_agent()
        pairs = self.test_pairs(seed)
        unedited = P.UneditedPass(agent, pairs)

        def hits(q: np.ndarray) -> np.ndarray:
            if q.shape[1] == 0:  # nothing patched
                return P.interchange_hits(agent, pairs, lambda cache: [], unedited=unedited)
            return P.interchange_hits(agent, pairs, P.plant_edits(P.Plant(basis=q.T)), unedited=unedited)

        rng = np.random.default_rng(derive_seed(seed, "random-subspaces"))
        features = basis.shape[0]
        floor = float(np.mean([hits(orthonormal_columns(rng.standard_normal((features, max(1, basis.shape[1])))))
                               .mean() for _ in range(RANDOM_SUBSPACES)]))
        return self.score_hits(hits(basis), floor, basis, seed)

    def score_hits(self, hits: np.ndarray, floor: float, basis: np.ndarray, seed: int) -> ScoreReport:
        angles = principal_angles(basis, P.subspace_basis().T)
        return mean_report(hits, seed, name="iia", floor=floor, ceiling=1.0, metrics={
            "iia_random_subspace": floor, "subspace_dim": float(basis.shape[1]),
            "overlap": float(np.sum(np.cos(np.radians(angles)) ** 2) / P.SUBSPACE_DIM),
            "largest_principal_angle": float(angles.max())})

    def oracle_answer(self, view: TaskView):
        from mirl.schemas import Readout

        return Readout(weights={P.PLANT_HOOK: P.subspace_basis().T}, bias=np.zeros(P.SUBSPACE_DIM))


# The agents as shipped (pins.json beside their cards); None until one ships, and its task waits for it.
PINS = read_pins(FOLDER)
DOORKEY_PPO_SHA256, PLANTED_SHA256, SUBSPACE_SHA256 = (
    PINS.get(agent_id) for agent_id in ("doorkey-ppo", "doorkey-planted", "doorkey-planted-subspace"))


def tasks() -> list[Task]:
    out: list[Task] = []
    if DOORKEY_PPO_SHA256:
        out.append(HasKeyLocate(DOORKEY_PPO_SHA256))
        out.append(StateReadout("doorkey-ppo", DOORKEY_PPO_SHA256))
        out.append(StateReadout("doorkey-ppo", DOORKEY_PPO_SHA256, held_out_layouts=True))
    if PLANTED_SHA256:
        out.append(HasKeyPlanted(PLANTED_SHA256))
    if SUBSPACE_SHA256:
        out.append(SubspacePlanted(SUBSPACE_SHA256))
    return out


TASKS = tasks()
