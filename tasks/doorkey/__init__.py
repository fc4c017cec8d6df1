"""Task family `doorkey`: MiniGrid DoorKey with exact causal variables and counterfactual states, for
causal-variable localization: the naturally trained `doorkey-ppo`, agents in which has_key was planted by
interchange-intervention training, and tasks that score localization against the plant (see README.md)."""

from mirl.family import family_hooks

register_tasks, register_agents = family_hooks(__name__, agents="card:agent_specs")
