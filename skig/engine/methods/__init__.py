"""The attribution methods, one module each, and the registry that maps ``method=`` names to them.

Adding a method: one module with an :class:`AttributionMethod` subclass, one entry in :data:`METHODS`, its docs.
"""

from ._base import AttributionMethod, Problem, outputs_and_base_values
from ._expected import ExpectedGradients
from ._guided import GuidedIntegratedGradients, guided_integrated_gradients
from ._ig import IntegratedGradients
from ._smoothgrad import SAMPLE_AGGREGATES, SmoothGrad, SmoothGradSquared, VarGrad, aggregate_samples, noisy_copies

#: ``method=`` name -> method class.
METHODS: dict[str, type[AttributionMethod]] = {
    method.name: method
    for method in (
        IntegratedGradients,
        SmoothGrad,
        SmoothGradSquared,
        VarGrad,
        ExpectedGradients,
        GuidedIntegratedGradients,
    )
}
#: Methods that draw random numbers when explaining.
STOCHASTIC_METHODS = tuple(name for name, method in METHODS.items() if method.stochastic)

__all__ = [
    "METHODS",
    "SAMPLE_AGGREGATES",
    "STOCHASTIC_METHODS",
    "AttributionMethod",
    "ExpectedGradients",
    "GuidedIntegratedGradients",
    "IntegratedGradients",
    "Problem",
    "SmoothGrad",
    "SmoothGradSquared",
    "VarGrad",
    "aggregate_samples",
    "guided_integrated_gradients",
    "noisy_copies",
    "outputs_and_base_values",
]
