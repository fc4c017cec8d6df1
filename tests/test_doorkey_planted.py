"""Planting has_key (doorkey): the plants' patch algebra, refusals of plants that do not fit, the trainer's
determinism across a stop and resume, interchange accuracy, and the planted tasks' metrics on known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mirl.errors import MirlError
from mirl.tasks.doorkey import env as D
from mirl.tasks.doorkey import planted as P
from mirl.tasks.doorkey.agent import build
from mirl.tasks.doorkey.tasks import HasKeyPlanted, SubspacePlanted, orthonormal_columns, principal_angles

SHA = "ab" * 32


def test_a_channel_plant_swaps_its_channels_and_its_complement_swaps_the_rest():
    into, donor = torch.randn(5, *P.PLANT_SHAPE), torch.randn(5, *P.PLANT_SHAPE)
    patched = P.CHANNEL_PLANT.patch(into, donor)
    planted = list(P.PLANTED)
    others = [c for c in range(P.PLANT_SHAPE[0]) if c not in P.PLANTED]
    assert torch.equal(patched[:, planted], donor[:, planted]) and torch.equal(patched[:, others], into[:, others])
    complement = P.CHANNEL_PLANT.patch(donor, into)  # everything but the plant from the donor
    assert torch.equal(complement[:, planted], into[:, planted]) and torch.equal(complement[:, others], donor[:, others])


def test_a_subspace_plant_moves_only_the_span_of_its_basis():
    basis = P.subspace_basis()
    assert basis.shape == (P.SUBSPACE_DIM, int(np.prod(P.PLANT_SHAPE))) == (144, 1152)
    assert np.allclose(basis @ basis.T, np.eye(P.SUBSPACE_DIM), atol=1e-10)
    rotation = P.channel_rotation()
    assert np.linalg.norm(rotation, axis=0).max() < 0.8  # no channel axis lies near the plant: aligned with none
    # the same channel subspace at every position: channel c at position p is row-block j, column c·36 + p
    assert np.allclose(basis.reshape(4, 36, 32, 36)[:, 5, :, 5], rotation)
    assert not basis.reshape(4, 36, 32, 36)[:, 5, :, 6].any()
    plant = P.subspace_plant()
    into, donor = torch.randn(5, *P.PLANT_SHAPE, dtype=torch.float64), torch.randn(5, *P.PLANT_SHAPE, dtype=torch.float64)
    q = torch.from_numpy(basis)
    patched = plant.patch(into, donor).flatten(1)
    assert torch.allclose(patched @ q.T, donor.flatten(1) @ q.T)  # the plant's coordinates come from the donor
    rest = lambda x: x - (x @ q.T) @ q  # noqa: E731
    assert torch.allclose(rest(patched), rest(into.flatten(1)))  # and nothing else moves


def test_plants_that_do_not_fit_the_layer_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r"planted channels \[40\] are outside encoder.conv1.hook_out's 32 channels"):
        P.Plant(channels=(0, 40)).check(P.PLANT_SHAPE)
    with pytest.raises(ValueError, match=r"needs a \[k, 1152\] basis, got \[4, 100\]"):
        P.Plant(basis=np.zeros((4, 100))).check(P.PLANT_SHAPE)
    with pytest.raises(MirlError, match="unknown planting setting"):
        P.PlantConfig.from_dict({"plnat": "channels"})
    with pytest.raises(MirlError, match="plant must be 'channels' or 'subspace'"):
        P.PlantConfig.from_dict({"plant": "diagonal"})


@pytest.mark.parametrize("plant", ["channels", "subspace"])
def test_planting_is_deterministic_and_a_resumed_run_equals_an_unbroken_one(plant, tmp_path):
    torch.set_num_threads(1)
    config = P.PlantConfig(plant=plant, total_steps=6, batch=16, pool_episodes=12, dagger_episodes=2, dagger_at=(0.5,))
    quiet = lambda line: None  # noqa: E731
    unbroken = P.train_plant(config, build, tmp_path / "a", log=quiet)
    P.train_plant(config, build, tmp_path / "b", log=quiet, stop_after_steps=2)
    resumed = P.train_plant(config, build, tmp_path / "b", resume=True, log=quiet)
    assert unbroken.finished and resumed.finished and resumed.step == 6
    for (name, a), b in zip(unbroken.agent.state_dict().items(), resumed.agent.state_dict().values()):
        assert torch.equal(a, b), name
    assert set(unbroken.losses) == ({"behaviour", "iit", "exclusive", "decoy"} if plant == "channels"
                                    else {"behaviour", "iit", "exclusive"})
    other = P.PlantConfig(plant=plant, total_steps=7, batch=16, pool_episodes=12, dagger_episodes=2, dagger_at=(0.5,))
    with pytest.raises(MirlError, match="trained with other settings"):
        P.train_plant(other, build, tmp_path / "b", resume=True, log=quiet)
    with pytest.raises(MirlError, match="no planting state"):
        P.train_plant(config, build, tmp_path / "c", resume=True, log=quiet)


def test_interchange_accuracy_of_no_patch_is_how_often_the_base_action_suits_c():
    torch.manual_seed(0)
    net = build().eval()
    pool = P.state_pool(8, seed=0, episodes=30)
    pairs = P.PairSet.draw(pool, 200, seed=1)
    assert all(pool.has_key[b] != pool.has_key[s] for b, s in zip(pairs.bases, pairs.sources))
    assert all(c.carrying == pool.states[s].carrying for c, s in zip(pairs.cfs, pairs.sources))
    none = P.interchange_accuracy(net, pairs, lambda cache: [])
    base_obs, _, cf_obs = pairs.obs
    with torch.no_grad():
        chosen = net(base_obs)[0].argmax(-1).numpy()
    best = [D.expert_actions(c) for c in pairs.cfs]
    keep = [i for i in range(200) if not best[i] & D.expert_actions(pool.states[pairs.bases[i]])]
    assert none == pytest.approx(np.mean([chosen[i] in best[i] for i in keep]))
    # with the agent's own behaviour as the target, patching the whole input layer's successor from the source
    # leaves nothing of the base downstream except what the source and the counterfactual share
    whole = P.interchange_accuracy(net, pairs, P.channel_edits({P.PLANT_HOOK: list(range(32))}), target="agent",
                                   changing_only=False)
    assert 0.0 <= whole <= 1.0
    curve = P.iia_curve(net, pairs, [(P.PLANT_HOOK, c) for c in range(32)], percents=(1, 50))
    assert set(curve) == {1, 50} and all(0.0 <= v <= 1.0 for v in curve.values())


# ---- the planted tasks' metrics on known answers (no agent needed) -----------------------------------------


@pytest.mark.slow
def test_haskey_planted_auroc_is_one_for_the_truth_and_chance_for_random_or_shuffled_scores():
    task = HasKeyPlanted(SHA)
    curve = {k: 0.5 for k in (1, 2, 5, 10, 20, 50)}
    truth = np.isin(np.arange(32), P.PLANTED).astype(float)
    perfect = task.score_ranking(truth, curve, seed=0)
    assert perfect.score == 1.0 and perfect.metrics["auroc_vs_decoys"] == 1.0 and perfect.ci[0] == 1.0
    rng = np.random.default_rng(0)
    # one AUROC of 4 planted vs 28 other channels has sd 0.157 under chance, so a mean of 100 has sd 0.016: the
    # bound is 3 sd (each scoring bootstraps its CI, ~35 ms)
    random = [task.score_ranking(rng.standard_normal(32), curve, seed=0).score for _ in range(100)]
    shuffled = [task.score_ranking(rng.permutation(truth), curve, seed=0).score for _ in range(100)]
    assert abs(np.mean(random) - 0.5) < 0.05 and abs(np.mean(shuffled) - 0.5) < 0.05
    decoys_first = np.isin(np.arange(32), P.DECOYS) * 2.0 + truth  # decoys above the planted channels
    fooled = task.score_ranking(decoys_first, curve, seed=0)
    assert fooled.metrics["auroc_vs_decoys"] == 0.0 and fooled.score == pytest.approx(24 / 28)
    assert fooled.metrics["iia_auc"] == 0.5


def test_subspace_geometry_helpers():
    q = P.subspace_basis().T
    assert np.allclose(principal_angles(q, q), 0.0, atol=1e-5)
    other = orthonormal_columns(np.random.default_rng(0).standard_normal((q.shape[0], 4)))
    orthogonal = orthonormal_columns(other - q @ (q.T @ other))
    assert np.allclose(principal_angles(q, orthogonal), 90.0, atol=1e-5)
    padded = np.c_[q[:, :1] * 3.0, q[:, :1], np.zeros((q.shape[0], 2))]  # rank 1 however many columns
    assert orthonormal_columns(padded).shape == (q.shape[0], 1)
    assert orthonormal_columns(np.zeros((q.shape[0], 4))).shape == (q.shape[0], 0)
    task = SubspacePlanted(SHA)
    report = task.score_hits(np.ones(100), 0.1, q, seed=0)
    assert report.score == 1.0 and report.metrics["overlap"] == pytest.approx(1.0)
    assert report.metrics["largest_principal_angle"] == pytest.approx(0.0, abs=1e-4)
    report = task.score_hits(np.r_[np.ones(10), np.zeros(90)], 0.1, orthogonal, seed=0)
    assert report.score == pytest.approx(0.1) and report.metrics["overlap"] == pytest.approx(0.0, abs=1e-10)


def test_haskey_locate_metric_known_answers_and_unit_ordering():
    from mirl.calibration import unit_ordering
    from mirl.tasks.doorkey.tasks import HasKeyLocate

    task = HasKeyLocate(SHA)
    perfect = task.score_hits(np.ones((6, 300)), floor=0.2, seed=0)
    assert perfect.score == 1.0 and perfect.normalized_score == 1.0 and len(perfect.instances) == 300
    rng = np.random.default_rng(0)
    at_floor = task.score_hits((rng.random((6, 4000)) < 0.2).astype(float), floor=0.2, seed=0)
    assert abs(at_floor.normalized_score) < 0.03 and at_floor.ci[0] < 0.2 < at_floor.ci[1]
    assert at_floor.metrics["iia_10pct"] == pytest.approx(0.2, abs=0.03)
    # orderings: best first across hooks, constant scores broken by a seeded shuffle
    order = unit_ordering({"a": np.array([0.1, 0.9]), "b": np.array([0.5])}, {"a": 2, "b": 1}, seed=0)
    assert order == [("a", 1), ("b", 0), ("a", 0)]
    ties = [unit_ordering({"a": np.zeros(8)}, {"a": 8}, seed=s) for s in range(3)]
    assert ties[0] == unit_ordering({"a": np.zeros(8)}, {"a": 8}, seed=0) and ties[0] != ties[1]
