"""Causal-variable localization methods (issues 7 and 8): interchange interventions on the (base, source,
counterfactual) pairs a task offers (``view.interchange_pairs``), and the correlational baseline they should beat."""

from mirl import hookimpl


@hookimpl
def register_methods(register):
    from .das import DistributedAlignmentSearch
    from .scan import InterchangeScan, ProbeWeight, UnitCorrelation

    register(DistributedAlignmentSearch)
    register(InterchangeScan)
    register(UnitCorrelation)
    register(ProbeWeight)
