"""Expected Integrated Gradients (Erion et al., 2021): IG averaged over a background distribution.

(background row, alpha) pairs are stratified, never drawn independently; see :func:`~skig.engine.expected_paths`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch

from ...baselines import BASELINE_STATISTICS
from .._gradients import path_gradients, row_blocks
from .._paths import expected_paths
from ._base import AttributionMethod, Problem, blockwise


class ExpectedGradients(AttributionMethod):
    """IG averaged over the fitted background with ``n_samples`` (background row, alpha) pairs per row.

    The base value is the background's weighted mean output; ``delta`` is the sampling (or quadrature) error.
    """

    name: ClassVar[str] = "expected"
    label: ClassVar[str] = "Expected Integrated Gradients (averaged over a background distribution)"
    interaction_lines: ClassVar[str | None] = "background"
    stochastic: ClassVar[bool] = True
    parameters: ClassVar[dict[str, str]] = {"n_samples": "(background row, alpha) pairs per row"}
    sample_parameter: ClassVar[str | None] = "n_samples"
    uses_steps: ClassVar[bool] = False  # its budget is n_samples pairs per row
    base_value_label: ClassVar[str] = "E[f(background)]"
    # The sampling error over the background dominates: at the same n_samples, exact lines cut the RMSE by a fifth
    # at 3 to 50 times the time, where Gauss-Legendre with 4x the samples does better for less
    # (benchmarks/bench_expected_rule.py, docs/methods.md). rule="exact" still integrates every line exactly.
    auto_exact: ClassVar[bool] = False

    @classmethod
    def points_per_row(cls, params, points_per_path: int, n_baselines: int) -> int:
        return params["n_samples"]

    @classmethod
    def check(cls, params: Mapping) -> None:
        baseline = params["baseline"]
        if isinstance(baseline, str) and baseline in BASELINE_STATISTICS:
            raise ValueError(
                f"method='expected' averages over a background distribution, but baseline={baseline!r} is "
                "a single row; use baseline='sample' (n_baselines rows drawn from X), 'kmeans' (n_baselines "
                "weighted centroids) or reference rows (with optional baseline_weights)."
            )
        if isinstance(params["n_steps"], str) and params["rule"] != "exact":
            raise ValueError(
                "n_steps='auto' does not apply to method='expected', whose budget is n_samples path points per "
                "row; give n_samples instead, or use method='ig' with a background for exact quadrature."
            )

    def attribute(self, problem: Problem) -> tuple[torch.Tensor, torch.Tensor]:
        """Attributions and, per row, the model evaluations its pairs took (``n_samples``), or under exact
        integration the linear segments its lines crossed."""
        n_pairs, seed = self.params["n_samples"], self.draw_seed()
        if self.integration.exact:
            # The exact engine sizes its own chunks and memory: blocks only bound the sampled lines held at once.
            blocks = row_blocks(problem.n_rows, n_pairs, max(problem.max_points, _EXACT_BLOCK_LINES))
            return blockwise(
                problem.n_rows, blocks, lambda block: self._exact_block(problem.rows(block), n_pairs, seed)
            )
        blocks = row_blocks(problem.n_rows, n_pairs, max(problem.max_points, n_pairs))
        pairs = torch.full((problem.n_rows,), n_pairs, dtype=torch.long)
        return blockwise(
            problem.n_rows, blocks, lambda block: (self._block(problem.rows(block), n_pairs, seed), pairs[block])
        )

    def _block(self, problem: Problem, n_pairs: int, seed: int) -> torch.Tensor:
        paths = expected_paths(
            problem.inputs,
            problem.baselines,
            problem.baseline_weights,
            problem.targets,
            n_samples=n_pairs,
            rule=self.integration.rule,
            seed=seed,
            keys=problem.row_keys,
        )
        return path_gradients(problem.scalar_fn, paths, problem.max_points, problem.progress)

    def _exact_block(self, problem: Problem, n_pairs: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Each sampled (row, background row) line integrated exactly: only the background is sampled.

        With at least as many pairs as background rows, every background row is used once with its weight, so the
        expectation over the background is exact too; otherwise each row's background rows are the first
        coordinates of its keyed Sobol pairs (stratified over the weights). Returns the attributions and the
        linear segments integrated per row (over all its lines).
        """
        background = problem.baselines
        if n_pairs >= len(background):
            lines = self.integration.lines(problem, problem.inputs, problem.targets)
            return lines.exact(torch.arange(problem.n_rows, device=problem.inputs.device))
        paths = expected_paths(
            problem.inputs,
            background,
            problem.baseline_weights,
            problem.targets,
            n_samples=n_pairs,
            rule="gausslegendre",  # only the pairs' background rows are used, not their alphas
            seed=seed,
            keys=problem.row_keys,
        )
        picked = paths.start_index  # (n, n_pairs): the background row of each pair
        values, segments = self.integration.integrals(
            problem,
            background[picked.reshape(-1)],
            problem.inputs.repeat_interleave(n_pairs, 0),
            problem.targets.repeat_interleave(n_pairs),
        )
        return values.view(problem.n_rows, n_pairs, -1).mean(1), segments.view(problem.n_rows, n_pairs).sum(1)


# Sampled lines held at once by exact Expected IG (their ends and results: 2 x 65,536 x d values).
_EXACT_BLOCK_LINES = 2**16
