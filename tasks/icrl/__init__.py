"""Task family `icrl`: in-context reinforcement learning — algorithm distillation (Laskin et al. 2022) on
Bernoulli bandits (see README.md)."""

from mirl.family import family_hooks

register_tasks, register_agents = family_hooks(__name__, agents="card:agent_specs")
