"""Task family `smoke`: a 7×7 grid, a planted-encoder agent, one task per answer kind (see README.md)."""

from mirl.family import family_hooks

register_tasks, register_agents = family_hooks(__name__, agents="card:agent_specs")
