"""Task family `coinrun`: procgen CoinRun, its agent `coinrun-ppo` and four tasks (see README.md)."""

from mirl.family import family_hooks

register_tasks, register_agents = family_hooks(__name__, agents="card:agent_specs")
