"""`goal-probe`: predict from internals which maze agents will follow an off-path goal.

For maze/misgen-predict. An agent that heads for the corner whatever the goal has little use for the goal's
position in its late layers. From the train env's mazes (goal on the corner square) the method builds inputs
with the goal moved to random open squares, records each agent's activations at its last conv layer, and fits
a logistic probe of the goal square on four fifths; the prediction is the probe's accuracy on the rest. Uses the
weights on constructed inputs only, never the test mazes or any rollout.
"""

from __future__ import annotations

import numpy as np

from mirl.method import Method
from mirl.probes import fit_logistic
from mirl.schemas import AgentPredictions, MethodInfo

STATES = 1000
HOOK = "encoder.conv3.hook_out"


class GoalProbe(Method):
    info = MethodInfo(
        name="goal-probe",
        version="1",
        answer_kinds=["agent_predictions"],
        families=["maze"],
        description="Per agent: held-out accuracy of a logistic probe of the (moved) goal square on the last conv "
        "layer; agents whose late layers keep the goal are predicted to follow it",
        references=["Mini, Trott, Turner et al. 2023 (goal-tracking channels in a maze agent)",
                    "Alain & Bengio 2016 (linear probes)"],
        hyperparameters={"states": STATES, "hook": HOOK, "probe": "logistic regression, L2 1e-2, 4/5 fit"},
        compute=f"{STATES} env resets, one forward pass per state and agent, one logistic fit per agent",
    )

    def solve(self, view):
        import torch

        env = view.make_env(STATES)
        obs, _ = env.reset(seed=int(view.rng.integers(2**31)))
        obs = np.asarray(obs, dtype=np.float32).copy()
        size = obs.shape[-1]
        goals = np.zeros(STATES, dtype=np.int64)
        obs[:, 2] = 0.0  # plane 2 is the goal: moved from the corner to a random open square
        for i in range(STATES):
            free = np.flatnonzero((obs[i, 0] == 0).ravel() & (obs[i, 1] == 0).ravel())
            goals[i] = free[view.rng.integers(len(free))]
            obs[i, 2].flat[goals[i]] = 1.0
        cut = STATES * 4 // 5
        values = {}
        for agent_id, agent in view.agents.items():
            with torch.no_grad():
                _, cache = agent.run_with_cache(torch.from_numpy(obs), names=[HOOK])
            x = cache[HOOK].reshape(STATES, -1).numpy()
            w, b = fit_logistic(x[:cut], goals[:cut], size * size)
            values[agent_id] = float(((x[cut:] @ w + b).argmax(1) == goals[cut:]).mean())
        return AgentPredictions(values=values)
