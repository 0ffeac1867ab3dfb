"""Exact Integrated Gradients through piecewise-linear networks: paths cut where a unit changes its linear piece.

Two engines share one tracer (:mod:`._trace`), one crossing formula (:mod:`._crossings`) and one hinge backward
(:mod:`._steps`): the chain engine (:mod:`._chain`) for chains of affine layers and hinges, level by level, and the
general engine (:mod:`._general`) for any other piecewise-linear module, through recorded forward passes.
:func:`read_module` reads a module once (``fit`` does) and picks the engine; :func:`exact_path_integrals` integrates.
"""

from ._head_lines import Head
from ._integrals import exact_path_integrals
from ._reading import EXACT_ENGINES, ModuleReading, NotPiecewiseLinear, read_module
from ._segments import PathSegments, path_segments, read_chain
from ._steps import SMOOTH_ACTIVATIONS, Chain, Hinge, Smooth
from ._trace import piecewise_linear_violations

__all__ = [
    "EXACT_ENGINES",
    "SMOOTH_ACTIVATIONS",
    "Chain",
    "Head",
    "Hinge",
    "ModuleReading",
    "NotPiecewiseLinear",
    "PathSegments",
    "Smooth",
    "exact_path_integrals",
    "path_segments",
    "piecewise_linear_violations",
    "read_chain",
    "read_module",
]
