"""`counterfactual-goal`: how much each maze agent follows a goal put where it never was in training.

For maze/misgen-predict. From the train env's mazes (goal on the corner square), the method builds inputs with
the goal moved to a square off the start→corner path and the agent standing on the decision square (where the
ways to that goal and to the corner part), and reads each agent's probability of the move toward the goal. An
agent that follows the goal there should reach off-path goals before the corner; the prediction is the mean
probability. One forward pass per maze and agent: it uses the weights on constructed inputs, never the test
mazes. A behavioural reference, not an interpretability method: internals-based answers should beat it. The maze family
registers it, since it builds its inputs with the maze environment's own code (a method plugin sees a task only
through its view).
"""

from __future__ import annotations

import numpy as np

from mirl.method import Method
from mirl.schemas import AgentPredictions, MethodInfo

MAZES = 256


class CounterfactualGoal(Method):
    info = MethodInfo(
        name="counterfactual-goal",
        version="1",
        answer_kinds=["agent_predictions"],
        families=["maze"],
        description="P(move toward a goal moved off the corner path, at the decision square), per agent",
        stochastic=True,
        references=["Mini, Trott, Turner et al. 2023, Understanding and Controlling a Maze-Solving Policy Network "
                    "(arXiv 2310.08043): the decision square"],
        hyperparameters={"mazes": MAZES, "goal": "a random open square off the start→corner path"},
        compute=f"{MAZES} env resets and one forward pass per maze and agent",
    )

    def solve(self, view):
        import torch

        from .env import MOVES, maze_labels, observe

        env = view.make_env(MAZES)
        obs, _ = env.reset(seed=int(view.rng.integers(2**31)))
        walls = np.pad(obs[:, 0] > 0, ((0, 0), (1, 1), (1, 1)), constant_values=True)  # the border is implicit
        goals, squares, toward = [], [], []
        for i in range(MAZES):
            options = [tuple(int(v) + 1 for v in sq) for sq in np.argwhere(~walls[i, 1:-1, 1:-1])]
            view.rng.shuffle(options)
            for goal in options:
                facts = maze_labels(walls[i], goal)
                if facts["goal_on_corner_path"] or facts["decision_square"] == goal:
                    continue
                path = facts["path_to_goal"]
                decision = facts["decision_square"]
                step = np.subtract(path[path.index(decision) + 1], decision)
                goals.append(goal)
                squares.append(decision)
                toward.append(int(np.flatnonzero((MOVES == step).all(1))[0]))
                break
        inputs = torch.from_numpy(observe(walls[: len(goals)], np.array(squares), np.array(goals)))
        rows = np.arange(len(goals))
        values = {}
        for agent_id, agent in view.agents.items():
            with torch.no_grad():
                logits, _ = agent(inputs)
            values[agent_id] = float(torch.softmax(logits, -1).numpy()[rows, toward].mean())
        return AgentPredictions(values=values)
