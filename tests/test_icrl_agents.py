"""ad-bandit as shipped: pinned, and its card shows in-context RL — on unseen bandits its regret approaches its
source algorithm's, far below uniform pulls, and most of that is lost with its context cut to the last pulls."""

from __future__ import annotations

import torch

from mirl.agents import sha256_file
from mirl.pins import read_pins
from mirl.pluginhost import get_agents
from mirl.tasks.icrl import agent as A
from mirl.transformer import READ, hook_names


def test_ad_bandit_is_pinned_and_learns_in_context():
    spec = get_agents().get("ad-bandit")
    card = spec.read_card()
    assert sha256_file(spec.checkpoint_path) == card["sha256"] == read_pins(spec.folder)["ad-bandit"]
    assert card["parameters"] < 200_000 and card["bytes"] <= 5 * 1024 * 1024
    assert len(card.get("training_checkpoints", [])) >= 10
    m = card["metrics"]
    assert m["regret_100"] < 0.4 * m["uniform_regret_100"]
    assert m["regret_100"] < 1.5 * m["thompson_regret_100"]
    assert m["last4_regret_100"] > 1.5 * m["regret_100"]  # the improvement needs the history
    assert m["regret_10"] / 10 > 2 * (m["regret_100"] - m["regret_50"]) / 50  # regret per pull falls in context
    agent = spec.build()
    agent.load_state_dict(torch.load(spec.checkpoint_path, map_location="cpu", weights_only=True))
    assert list(agent.hook_points()) == [n for base in hook_names(A.MODEL.n_layers) for n in (base, base + READ)]
    assert agent.hook_points()["blocks.1.hook_resid_post" + READ] == (A.MODEL.d_model,)
