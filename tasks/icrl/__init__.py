"""Task family `icrl`: in-context reinforcement learning — algorithm distillation (Laskin et al. 2022) on
Bernoulli bandits. It registers its agents and tasks once its first agent ships."""
