"""The example family: a PPO agent on gymnasium's FrozenLake (random 5×5 maps, one per episode), asked how far it
is from the goal and whether it will get there. Written on mirl's task library, following docs/adding-a-family.md."""

from mirl.family import family_hooks

register_tasks, register_agents = family_hooks(__name__, agents="card:agent_specs")
