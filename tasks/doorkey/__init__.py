"""Task family `doorkey` (issue 7, in progress): MiniGrid DoorKey with exact causal variables and counterfactual
states, for causal-variable localization with planted ground truth. The environment is built (env.py); the
agents and tasks follow, and register here once they ship."""
