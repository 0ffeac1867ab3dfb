"""Feature interactions for :meth:`Explainer.explain`: Integrated Hessians (``method="ig"``) and Expected Hessians
(``method="expected"``) per row, on the columns the attributions are reported on.

The engine (:mod:`skig.engine._interactions`) computes the matrices of straight lines; this module decides which
lines a row's matrix averages (its baselines, or its background rows) and refuses what has no interactions.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from .engine import METHODS, piecewise_linear_violations
from .engine._interactions import interaction_matrices
from .engine._log_rules import MAX_LOG_NODES
from .engine._paths import expected_paths
from .engine._threads import operator_threads
from .models import PredictionOnly

#: Nodes of each log-weighted rule on smooth networks when ``n_steps="auto"``.
AUTO_NODES = 64


def check_interactions(explainer) -> None:
    """Refuse interactions for methods and gradient rules they do not apply to, saying what would do."""
    if METHODS[explainer.method].interaction_lines is None:
        having = " or ".join(repr(name) for name, method in METHODS.items() if method.interaction_lines)
        raise ValueError(
            f"interactions=True needs method={having} (Integrated or Expected Hessians): method="
            f"{explainer.method!r} is not an integral of the model's gradient along straight paths, so it has no "
            "Hessian counterpart whose rows sum to its attributions."
        )
    if explainer.gradient_rule != "standard":
        raise ValueError(
            f"interactions=True needs the model's true gradient and Hessian, but gradient_rule="
            f"{explainer.gradient_rule!r} replaces the gradient; use gradient_rule='standard'."
        )


def interaction_lines(explainer, problem, method) -> tuple[torch.Tensor, torch.Tensor]:
    """Which baselines each row's lines start from (n, L) and their weights (n, L).

    ``method="ig"``: every baseline with its weight. ``method="expected"``: every background row with its weight
    when ``n_samples`` covers the background, else the background rows of the row's keyed Sobol pairs (the ones
    exact Expected IG integrates), equally weighted. Call it before ``method.attribute``: it draws the same seed.
    """
    n_rows, n_baselines = problem.n_rows, len(problem.baselines)
    device = problem.inputs.device
    every = torch.arange(n_baselines, device=device).expand(n_rows, n_baselines)
    weights = problem.baseline_weights.double().expand(n_rows, n_baselines)
    if method.interaction_lines == "baselines" or explainer.n_samples >= n_baselines:
        return every, weights
    seed = copy.deepcopy(method).draw_seed()
    paths = expected_paths(
        problem.inputs,
        problem.baselines,
        problem.baseline_weights,
        problem.targets,
        n_samples=explainer.n_samples,
        rule="gausslegendre",
        seed=seed,
        keys=problem.row_keys,
    )
    picked = paths.start_index.reshape(n_rows, -1)
    return picked, torch.full(picked.shape, 1.0 / picked.shape[1], dtype=torch.float64, device=device)


def interaction_values(explainer, problem, lines: tuple[torch.Tensor, torch.Tensor], method) -> np.ndarray:
    """Each row's interaction matrix on the reported columns: (n, R, R) float64, integrated as ``method`` (the
    attribution method of the same explanation) integrates its lines: exactly or by quadrature."""
    exact = method.integration.exact
    if not exact:
        probe = problem.inputs[:8]
        if not piecewise_linear_violations(PredictionOnly(problem.module), probe):
            raise ValueError(
                f"interactions=True on a piecewise-linear network needs rule='auto' or 'exact': its Hessian is zero "
                f"almost everywhere, so rule={explainer.rule!r} would miss every interaction; exact integration finds "
                "them where units switch along the path."
            )
    # Each coordinate of the input space (encoded columns, then looked-up vectors' coordinates) to its reported column.
    groups = np.asarray(explainer.encoded_feature_groups_)[explainer.input_space_.encoded_column()]
    groups = torch.as_tensor(groups, dtype=torch.long)
    n_raw = len(explainer.get_feature_names_out())
    to_raw = torch.zeros(len(groups), n_raw, dtype=torch.float64)
    to_raw[torch.arange(len(groups)), groups] = 1.0
    n_steps = explainer.n_steps if isinstance(explainer.n_steps, int) else AUTO_NODES
    starts_of, weights = lines
    with operator_threads():  # no passes to share out: torch's operators on skig's threads
        values = interaction_matrices(
            problem, starts_of, weights, to_raw, exact=exact, n_nodes=min(int(n_steps), MAX_LOG_NODES)
        )
    return values.numpy()
