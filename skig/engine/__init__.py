"""The pure-torch engine: quadrature, paths, batched gradients and the methods built from them."""

from ._gradients import Paths, chunk_points, evaluate, frozen, path_gradients
from ._methods import integrated_gradients, straight_paths
from ._quadrature import RULES, quadrature

__all__ = [
    "RULES",
    "Paths",
    "chunk_points",
    "evaluate",
    "frozen",
    "integrated_gradients",
    "path_gradients",
    "quadrature",
    "straight_paths",
]
