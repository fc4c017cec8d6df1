"""ad-bandit's card measure: the cut-context control keeps the last pulls in the first positions, and the
regret curves it reads are the environment's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mirl.tasks.icrl import card as C
from mirl.tasks.icrl import env as B


def test_the_cut_context_keeps_the_last_pulls_right_after_start():
    P, S = B.PAD, B.START
    tokens = torch.tensor([[S, 1, 2, 3, 4, 5, 6, P, P], [S, 7, 8, P, P, P, P, P, P], [S, P, P, P, P, P, P, P, P]])
    cut = C.recent_pulls(tokens, 4)
    assert cut.tolist() == [[S, 3, 4, 5, 6, P, P, P, P], [S, 7, 8, P, P, P, P, P, P], [S, P, P, P, P, P, P, P, P]]


@pytest.mark.slow
def test_an_untrained_agent_s_regret_curves_are_cumulative_and_near_uniform(monkeypatch):
    from mirl.tasks.icrl.agent import build

    monkeypatch.setattr(C, "EPISODES", 40)
    torch.manual_seed(0)
    agent = build().eval()
    curves = C.agent_regret(agent, seed=0)
    assert curves.shape == (40, B.HORIZON) and (np.diff(curves, axis=1) >= -1e-12).all()
    uniform = C.uniform_regret(0)[:, -1].mean()
    assert 0.5 * uniform < curves[:, -1].mean() < 1.5 * uniform  # an untrained net pulls about at random
    recent = C.agent_regret(agent, seed=0, recent=C.RECENT)
    assert recent.shape == curves.shape
    thompson = C.thompson_regret(0)
    assert thompson[:, -1].mean() < 0.4 * uniform
