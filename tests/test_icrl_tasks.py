"""icrl/arm-value-readout-v1: exact arm values from the history, disjoint bandits, and what ad-bandit's residual
stream holds of them (ridge-probe ~0.95, random 0)."""

from __future__ import annotations

import numpy as np
import pytest

from mirl.tasks.icrl import env as B
from mirl.tasks.icrl.tasks import history_states

READOUT = "icrl/arm-value-readout-v1"
pytestmark = pytest.mark.xdist_group("scored-icrl")


def test_the_arm_values_are_the_posterior_means_of_the_history_in_the_context():
    tokens, labels = history_states(0, 50, "test")
    for i, (row, t) in enumerate(zip(tokens, labels["step"])):
        pulls = row[1:t + 1]  # START, then t pulls
        assert (row[t + 1:] == B.PAD).all() and (pulls != B.PAD).all()
        arm, reward = (pulls - 1) // 2, (pulls - 1) % 2
        n, wins = np.bincount(arm, minlength=B.ARMS), np.bincount(arm, weights=reward, minlength=B.ARMS)
        np.testing.assert_allclose(labels["arm_values"][i], (1 + wins) / (2 + n))
    np.testing.assert_array_equal(labels["pulls"].sum(1), labels["step"])


@pytest.mark.slow
def test_ad_bandit_holds_the_arm_values_and_random_reads_nothing(scored):
    probe = scored(READOUT, "ridge-probe", 0)  # measured 0.946 (layer 1's residual stream at the current pull)
    assert probe.status == "ok" and probe.normalized_score > 0.85, probe.metrics
    random = scored(READOUT, "random", 0)
    assert random.status == "ok" and random.score == 0.0 and random.metrics["r2_raw"] < 0
