"""Task family `sokoban`: batched Sokoban, the recurrent agent `sokoban-drc`, its feed-forward baseline
`sokoban-ff` and the planning tasks (see README.md)."""

from mirl.family import family_hooks

register_tasks, register_agents = family_hooks(__name__, agents="card:agent_specs")
