"""The shipped Sokoban agents: the checkpoint is the card's, and the card's behaviour reproduces."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mirl.agents import sha256_file
from mirl.tasks.sokoban import agent as A
from mirl.tasks.sokoban import env as S
from mirl.tasks.sokoban import tasks as T


@pytest.mark.slow
def test_the_feed_forward_baseline_solves_held_out_two_box_levels_as_its_card_says():
    spec = A.spec_ff()
    card = json.loads(spec.card_path.read_text())
    assert sha256_file(spec.checkpoint_path) == card["sha256"]
    agent = spec.build()
    agent.load_state_dict(torch.load(spec.checkpoint_path, map_location="cpu", weights_only=True))
    agent.eval()
    levels = S.level_pool("test", 2)[:300]
    first = T.play(agent, levels, seed=3)
    rate = first.terminated.mean()
    assert abs(rate - card["metrics"]["test_solved_2box"]) < 0.05 and rate > 0.9
    # no state: thinking changes nothing (on the first 100 levels: a play's draws depend on its batch size)
    plain, thinking = (T.play(agent, levels[:100], seed=3, thinking=k) for k in (0, 4))
    np.testing.assert_array_equal(plain.terminated, thinking.terminated)
    np.testing.assert_array_equal(plain.lengths, thinking.lengths)
    assert first.lengths[first.terminated].mean() < 30  # solved levels take ~optimal walks, not wandering
