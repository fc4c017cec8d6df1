"""Unit-scoring methods: which units matter, by activation statistics, by ablating them, or by
first-order (gradient) estimates of the policy's response to them."""

from mirl import hookimpl


@hookimpl
def register_methods(register):
    from .gradients import AttributionPatching, GradientXActivation, IntegratedGradients
    from .units import AblationScan, ActivationVariance

    register(ActivationVariance)
    register(AblationScan)
    register(GradientXActivation)
    register(IntegratedGradients)
    register(AttributionPatching)
