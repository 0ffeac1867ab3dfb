"""The pure-torch engine: quadrature, paths, batched gradients, gradient rules, integration and the methods."""

from ._device import module_device, module_placement, private_copy, resolve_device
from ._draws import keyed_normals, keyed_uniforms, row_keys
from ._gradient_rules import GRADIENT_RULES, functional_relu_calls, gradient_rule
from ._gradients import Paths, chunk_points, evaluate, input_gradients, path_gradients
from ._integration import AdaptiveSteps, ExactIntegration, FixedSteps, Integrator, refine_steps
from ._paths import allocate, expected_paths, sobol_points, straight_paths
from ._quadrature import QUADRATURE_RULES, quadrature
from .exact import EXACT_ENGINES, ModuleReading, exact_path_integrals, piecewise_linear_violations, read_module
from .methods import (
    METHODS,
    SAMPLE_AGGREGATES,
    STOCHASTIC_METHODS,
    AttributionMethod,
    Problem,
    aggregate_samples,
    guided_integrated_gradients,
    noisy_copies,
    outputs_and_base_values,
)

__all__ = [
    "EXACT_ENGINES",
    "AdaptiveSteps",
    "ExactIntegration",
    "FixedSteps",
    "ModuleReading",
    "read_module",
    "GRADIENT_RULES",
    "METHODS",
    "QUADRATURE_RULES",
    "SAMPLE_AGGREGATES",
    "STOCHASTIC_METHODS",
    "AttributionMethod",
    "Integrator",
    "Paths",
    "Problem",
    "aggregate_samples",
    "allocate",
    "chunk_points",
    "evaluate",
    "exact_path_integrals",
    "expected_paths",
    "functional_relu_calls",
    "gradient_rule",
    "guided_integrated_gradients",
    "input_gradients",
    "keyed_normals",
    "keyed_uniforms",
    "module_device",
    "module_placement",
    "noisy_copies",
    "outputs_and_base_values",
    "path_gradients",
    "piecewise_linear_violations",
    "private_copy",
    "quadrature",
    "refine_steps",
    "resolve_device",
    "row_keys",
    "sobol_points",
    "straight_paths",
]
