"""``path_segments``: the linear segments of paths as both exact engines cut them, and the chain's gradients on them."""

from __future__ import annotations

import numpy as np
import torch
from exact_helpers import frozen_copy, random_rows
from torch import nn

from skig.engine.exact import path_segments, read_chain


def test_both_engines_cut_paths_into_the_same_segments_that_tile_each_path():
    torch.manual_seed(5)
    module = frozen_copy(nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2)))
    ends, starts = random_rows(12, 4), random_rows(12, 4, seed=2)
    chain = read_chain(module, starts, ends)
    assert chain is not None
    by_chain = path_segments(module, starts, ends, chain=chain, max_points=64)
    general = path_segments(module, starts, ends, chain=None, max_points=64)
    assert general.gradients is None
    assert torch.equal(by_chain.path, general.path) and by_chain.path.unique().numel() == 12
    np.testing.assert_allclose(by_chain.lo.numpy(), general.lo.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(by_chain.hi.numpy(), general.hi.numpy(), rtol=0, atol=1e-12)
    for segments in (by_chain, general):
        same = segments.path[1:] == segments.path[:-1]
        assert torch.equal(segments.hi[:-1][same], segments.lo[1:][same])  # each path tiled, in order
        assert (segments.lo[1:][~same] == 0).all() and (segments.hi[:-1][~same] == 1).all()
        assert segments.lo[0] == 0 and segments.hi[-1] == 1 and (segments.lo < segments.hi).all()
    # The chain's gradient on each segment is the module's at the segment's midpoint.
    middle = (by_chain.lo + by_chain.hi) / 2
    points = (starts[by_chain.path] + middle.unsqueeze(1) * (ends - starts)[by_chain.path]).requires_grad_(True)
    (expected,) = torch.autograd.grad(module(points)[:, 1].sum(), points)
    grad_out = torch.tensor([[0.0, 1.0]], dtype=torch.float64).expand(len(middle), 2)
    found = by_chain.gradients(grad_out, slice(0, len(middle)))
    np.testing.assert_allclose(found.numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)


def test_no_paths_no_segments():
    module = frozen_copy(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)))
    empty = torch.zeros(0, 3, dtype=torch.float64)
    segments = path_segments(module, empty, empty, chain=None, max_points=8)
    assert segments.lo.numel() == segments.hi.numel() == segments.path.numel() == 0
