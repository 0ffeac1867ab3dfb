"""Integrated Gradients (Sundararajan et al., 2017), averaged over weighted baselines."""

from __future__ import annotations

from typing import ClassVar

import torch

from ._base import AttributionMethod, Problem


class IntegratedGradients(AttributionMethod):
    """``sum_j w_j (x - b_j) * integral_0^1 grad f(b_j + a (x - b_j)) da`` for every row."""

    name: ClassVar[str] = "ig"
    label: ClassVar[str] = "Integrated Gradients"
    interaction_lines: ClassVar[str | None] = "baselines"

    def attribute(self, problem: Problem) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.arange(problem.n_rows, device=problem.inputs.device)
        lines = self.integration.lines(problem, problem.inputs, problem.targets)
        return self.integration.run(
            lines, lambda: problem.predictions, problem.base_values, rows, problem.n_rows, problem.eps
        )
