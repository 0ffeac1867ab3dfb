"""The pure-torch engine: quadrature, paths, batched gradients, gradient rules and the methods built from them."""

from ._compose import METHODS, STOCHASTIC_METHODS, attribute, baseline_output
from ._gradients import Paths, chunk_points, evaluate, frozen, input_gradients, path_gradients
from ._methods import (
    SAMPLE_AGGREGATES,
    aggregate_samples,
    guided_integrated_gradients,
    integrated_gradients,
    noisy_copies,
    refine_steps,
)
from ._paths import allocate, expected_paths, sobol_points, straight_paths
from ._quadrature import RULES, quadrature
from ._rules import GRADIENT_RULES, functional_relu_calls, gradient_rule

__all__ = [
    "GRADIENT_RULES",
    "METHODS",
    "RULES",
    "SAMPLE_AGGREGATES",
    "STOCHASTIC_METHODS",
    "Paths",
    "aggregate_samples",
    "allocate",
    "attribute",
    "baseline_output",
    "chunk_points",
    "evaluate",
    "expected_paths",
    "frozen",
    "functional_relu_calls",
    "gradient_rule",
    "guided_integrated_gradients",
    "input_gradients",
    "integrated_gradients",
    "noisy_copies",
    "path_gradients",
    "quadrature",
    "refine_steps",
    "sobol_points",
    "straight_paths",
]
