"""The task library: the task shapes every family repeats, each with its scorer and statistics, so that a family
writes only what is particular to its environment and questions.

- ``ReadoutTask``: decode a variable from activations on held-out states (``decode``: a linear answer's outputs);
- ``sample_states`` / ``pick_states``: labelled states from the agent's own play;
- ``SteeringTask``: an edit's outcomes in the environment against size-matched random edits;
- ``AblationCurveTask``: rank channels, scored by ablating the top k% (``top_units``, ``mean_ablation``);
- ``measured_facts``: an agent card's facts as means with cluster-bootstrap CIs over fresh episodes of several seeds;
- ``mean_report`` / ``statistic_report``: the one way to build a ``ScoreReport`` (CIs drawn from
  ``bootstrap_rng(seed)``), ``rate_curve_ci`` for curves of rates.

Heavy imports (torch, environments) stay inside the methods a family implements, so registering tasks is fast.
"""

from mirl.tasklib.cards import measured_facts
from mirl.tasklib.readout import ReadoutTask, decode
from mirl.tasklib.reports import bootstrap_rng, mean_report, rate_curve_ci, statistic_report
from mirl.tasklib.states import pick_states, sample_states
from mirl.tasklib.steering import SteeringTask
from mirl.tasklib.units import ABLATE_PERCENTS, AblationCurveTask, mean_ablation, top_units, units_by_hook

__all__ = ["ABLATE_PERCENTS", "AblationCurveTask", "ReadoutTask", "SteeringTask", "bootstrap_rng", "decode",
           "mean_ablation", "mean_report", "measured_facts", "pick_states", "rate_curve_ci", "sample_states",
           "statistic_report", "top_units", "units_by_hook"]
