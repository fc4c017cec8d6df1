"""Attention heads and neurons as units: a unit_scores task may score heads (TransformerLens's head axis of
attn.hook_z / hook_pattern) or neurons; answers are validated per unit, edits select units on their axis, and
the unit-scoring methods' shapes follow."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from mirl.errors import InvalidAnswerError
from mirl.interventions import apply_edit
from mirl.schemas import AgentRef, Budget, Edit, MetricSpec, Normalization, TaskSpec, UnitScores
from mirl.task import _check_edit, validate_answer
from mirl.tasklib import mean_ablation
from mirl.transformer import TransformerAgent, TransformerConfig

CONFIG = TransformerConfig(n_layers=1, d_model=32, n_heads=4, d_head=8, d_mlp=64, d_vocab=20, n_ctx=12)
Z, PATTERN, MLP = "blocks.0.attn.hook_z", "blocks.0.attn.hook_pattern", "blocks.0.mlp.hook_post"
HOOKS = {Z: [12, 4, 8], PATTERN: [4, 12, 12]}


def spec(unit_level: str = "head", hooks: dict | None = None) -> TaskSpec:
    return TaskSpec(
        id="dt/heads-locate-v1", title="t", question="q", answer_kind="unit_scores", unit_level=unit_level,
        agent=AgentRef(id="a", checkpoint="a.pt", sha256="0" * 64, card="a.card.json"),
        hook_points=HOOKS if hooks is None else hooks, target="heads", primary_metric="auroc",
        metrics=[MetricSpec(name="auroc", higher_is_better=True, description="")],
        normalization=Normalization(floor=0.5, ceiling=1.0, floor_source="chance", ceiling_source="truth"),
        budget=Budget(env_steps=0, forward_passes=1000, wall_seconds=60.0), train_size=10, test_size=10)


def test_a_head_task_takes_one_score_per_head():
    task = spec()
    validate_answer(task, UnitScores(scores={Z: np.arange(4.0), PATTERN: np.arange(4.0)}))
    with pytest.raises(InvalidAnswerError, match=r"scores\['blocks.0.attn.hook_z'\] has shape \[12\], expected \[4\] "
                                                 r"\(one score per head\)"):
        validate_answer(task, UnitScores(scores={Z: np.arange(12.0), PATTERN: np.arange(4.0)}))
    neurons = spec("neuron", {MLP: [12, 64]})
    validate_answer(neurons, UnitScores(scores={MLP: np.zeros(64)}))


def test_a_head_task_offers_only_hooks_with_heads():
    with pytest.raises(ValidationError, match="blocks.0.hook_resid_post has no attention heads"):
        spec(hooks={"blocks.0.hook_resid_post": [12, 32]})


def test_an_edit_selects_heads_on_their_axis():
    task = spec()
    _check_edit(task, 0, Edit(hook=Z, op="set", value=0.0, channels=[3], axis=1))
    with pytest.raises(InvalidAnswerError, match=r"edits\[0\] at blocks.0.attn.hook_z: unit\(s\) \[4\] out of range "
                                                 r"0..3 on axis 1"):
        _check_edit(task, 0, Edit(hook=Z, op="set", value=0.0, channels=[4], axis=1))
    with pytest.raises(InvalidAnswerError, match="axis 3 is outside blocks.0.attn.hook_z's 3 axes"):
        _check_edit(task, 0, Edit(hook=Z, op="set", value=0.0, channels=[0], axis=3))
    with pytest.raises(ValidationError, match="positions select along the spatial axes after axis 0"):
        Edit(hook=Z, op="set", value=0.0, channels=[0], axis=1, positions=[(0,)])
    act = torch.randn(2, 12, 4, 8)
    means = torch.randn(12, 4, 8)
    out = apply_edit(act, Edit(hook=Z, op="mean_ablate", channels=[1, 3], axis=1, vector=means.numpy()))
    expected = act.clone()
    expected[:, :, [1, 3]] = means[:, [1, 3]]
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_mean_ablating_a_head_is_removing_its_attention_output():
    agent = TransformerAgent(CONFIG, [3, 4, 5]).eval()
    x = torch.randint(0, 20, (6, 12), generator=torch.Generator().manual_seed(0))
    zeros = {Z: np.zeros((12, 4, 8), dtype=np.float32)}
    [edit] = mean_ablation([(Z, 2)], zeros, [Z], axes={Z: 1})
    assert edit.axis == 1 and edit.channels == [2]
    with torch.no_grad():
        with agent.hooks([(Z, lambda act, _n: apply_edit(act, edit))]):
            ablated = agent(x)[0]

        def zero_head(act, _name):
            act = act.clone()
            act[:, :, 2] = 0
            return act

        with agent.hooks([(Z, zero_head)]):
            torch.testing.assert_close(agent(x)[0], ablated, rtol=0, atol=0)
        assert not torch.allclose(agent(x)[0], ablated)


def test_unit_scoring_methods_shape_their_scores_per_head():
    from mirl.plugins.attribution.common import unit_shape
    from mirl.plugins.baselines.random import RandomMethod

    view = types.SimpleNamespace(spec=spec(), hook_points={k: tuple(v) for k, v in HOOKS.items()},
                                 answer_kind="unit_scores", rng=np.random.default_rng(0))
    assert unit_shape(view, Z) == (4,) and unit_shape(view, PATTERN) == (4,)
    answer = RandomMethod().solve(view)
    validate_answer(view.spec, answer)
    assert {h: s.shape for h, s in answer.scores.items()} == {Z: (4,), PATTERN: (4,)}
