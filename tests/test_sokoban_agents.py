"""The shipped Sokoban agents: the checkpoint is the card's, and the card's behaviour reproduces."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mirl.agents import sha256_file
from mirl.tasks.sokoban import agent as A


@pytest.mark.slow
def test_the_feed_forward_baseline_solves_held_out_two_box_levels_as_its_card_says():
    spec = A.spec_ff()
    card = json.loads(spec.card_path.read_text())
    assert sha256_file(spec.checkpoint_path) == card["sha256"]
    agent = spec.build()
    agent.load_state_dict(torch.load(spec.checkpoint_path, map_location="cpu", weights_only=True))
    agent.eval()
    levels = A.level_pool("test", 2)[:300]
    first = A.play(agent, levels, seed=3)
    rate = first["solved"].mean()
    assert abs(rate - card["metrics"]["test_solved_2box"]) < 0.05 and rate > 0.9
    again = A.play(agent, levels, seed=3, thinking=4)  # no state: thinking changes nothing
    np.testing.assert_array_equal(first["solved"], again["solved"])
    np.testing.assert_array_equal(first["length"], again["length"])
    assert first["length"][first["solved"]].mean() < 30  # solved levels take ~optimal walks, not wandering
