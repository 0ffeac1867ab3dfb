"""The SmoothGrad family over IG: IG of noisy copies of each row, reduced to their mean, mean of squares or variance.

SmoothGrad (Smilkov et al., 2017), SmoothGrad² and VarGrad (Adebayo et al., 2018), as Captum's NoiseTunnel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import torch

from .._draws import keyed_normals
from .._gradients import evaluate, row_blocks
from ._base import AttributionMethod, Problem, blockwise

#: How each SmoothGrad variant reduces the IG attributions of a row's noisy copies.
SAMPLE_AGGREGATES = ("smoothgrad", "smoothgrad_sq", "vargrad")


def noisy_copies(
    inputs: torch.Tensor, noise_std: torch.Tensor, n_samples: int, seed: int, keys: np.ndarray
) -> torch.Tensor:
    """``n_samples`` copies of each row with Gaussian noise of per-feature standard deviation ``noise_std``.

    Each row's noise is drawn in float64 on the CPU from ``seed`` and its own key, so results depend neither on
    device or dtype nor on the other rows explained with it.

    Returns
    -------
    Tensor of shape (n * n_samples, d)
        Copies of row ``i`` at positions ``i * n_samples`` to ``(i + 1) * n_samples - 1``.
    """
    n_rows, n_features = inputs.shape
    noise = torch.from_numpy(keyed_normals(keys, seed, n_samples * n_features).reshape(n_rows, n_samples, n_features))
    noise = (noise * noise_std.detach().double().cpu()).to(device=inputs.device, dtype=inputs.dtype)
    return (inputs.unsqueeze(1) + noise).reshape(-1, n_features)


def aggregate_samples(attributions: torch.Tensor, n_samples: int, how: str) -> torch.Tensor:
    """Reduce the attributions of each row's ``n_samples`` consecutive copies: mean, mean of squares or variance.

    ``"vargrad"`` is the population variance (as Captum's NoiseTunnel), so it is 0, not NaN, for one sample.
    """
    per_row = attributions.reshape(-1, n_samples, attributions.shape[1])
    if how == "smoothgrad":
        return per_row.mean(1)
    if how == "smoothgrad_sq":
        return per_row.square().mean(1)
    if how == "vargrad":
        return per_row.var(1, correction=0)
    raise ValueError(f"how must be one of {list(SAMPLE_AGGREGATES)}, got {how!r}.")


class SmoothGrad(AttributionMethod):
    """IG of ``n_samples`` noisy copies of each row (noise ``noise_level * noise_scale``), averaged.

    Its ``delta`` is the quadrature error plus the smoothing offset ``mean f(x + noise) - f(x)``.

    Parameters
    ----------
    params : mapping
        Reads ``n_samples`` (noisy copies per row) and ``noise_level``; the per-feature noise scale is handed to the
        method as ``noise_scale`` (learned in ``fit``).
    """

    name: ClassVar[str] = "smoothgrad"
    label: ClassVar[str] = "SmoothGrad (Integrated Gradients of noisy copies, averaged)"
    stochastic: ClassVar[bool] = True
    parameters: ClassVar[dict[str, str]] = {
        "n_samples": "noisy copies per row",
        "noise_level": "noise standard deviation, as a multiple of each column's standard deviation",
    }
    sample_parameter: ClassVar[str | None] = "n_samples"

    @classmethod
    def points_per_row(cls, params, points_per_path: int, n_baselines: int) -> int:
        return params["n_samples"] * points_per_path * n_baselines

    def __init__(self, params: Mapping, integration, random_state=None, *, noise_scale=None) -> None:
        super().__init__(params, integration, random_state)
        self.noise_std = torch.as_tensor(params["noise_level"] * noise_scale, dtype=torch.float64)

    def attribute(self, problem: Problem) -> tuple[torch.Tensor, torch.Tensor]:
        n_copies, seed = self.params["n_samples"], self.draw_seed()
        blocks = row_blocks(problem.n_rows, n_copies, problem.max_points)
        return blockwise(problem.n_rows, blocks, lambda block: self._block(problem.rows(block), n_copies, seed))

    def _block(self, problem: Problem, n_copies: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        ends = noisy_copies(problem.inputs, self.noise_std, n_copies, seed, problem.row_keys)
        ends_targets = problem.targets.repeat_interleave(n_copies)

        def end_values():
            return evaluate(problem.scalar_fn, ends, ends_targets, problem.max_points).double()

        lines = self.integration.lines(problem, ends, ends_targets)
        rows = torch.arange(problem.n_rows, device=problem.inputs.device)
        values, steps = self.integration.run(
            lines,
            end_values,
            problem.base_values.repeat_interleave(n_copies),
            rows.repeat_interleave(n_copies),
            problem.n_rows,
            problem.eps,
        )
        return aggregate_samples(values, n_copies, self.name), steps


class SmoothGradSquared(SmoothGrad):
    """The mean of the squared IG attributions of the noisy copies: a magnitude, not additive."""

    name: ClassVar[str] = "smoothgrad_sq"
    label: ClassVar[str] = "SmoothGrad² (Integrated Gradients of noisy copies, mean of squares)"
    additive: ClassVar[bool] = False
    non_additive_values: ClassVar[str] = "mean squares of attributions over noisy copies"


class VarGrad(SmoothGrad):
    """The (population) variance of the IG attributions of the noisy copies: a spread, not additive."""

    name: ClassVar[str] = "vargrad"
    label: ClassVar[str] = "VarGrad (variance of the Integrated Gradients of noisy copies)"
    additive: ClassVar[bool] = False
    non_additive_values: ClassVar[str] = "variances of attributions over noisy copies"
