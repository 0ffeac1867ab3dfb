"""batch_size="auto" respects the process's own memory limits, or refuses to start saying what to set."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import resource, sys
    import numpy as np, torch, skig

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    rows = np.random.default_rng(0).normal(size=(4_000, 20)).astype(np.float32)
    explainer = skig.Explainer(net, method=sys.argv[2], rule=sys.argv[3], n_samples=8).fit(rows[:200])
    explainer.explain(rows[:32])  # everything loaded and compiled before the limit
    with open("/proc/self/statm") as file:
        size = int(file.read().split()[0]) * resource.getpagesize()
    limit = size + int(float(sys.argv[1]) * 2**20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
    try:
        exp = explainer.explain(rows)
    except MemoryError as error:
        print("REFUSED", error)
    else:
        print("DONE", float(exp.delta.abs().max()))
    """
)


def run(headroom_mib, method="ig", rule="exact"):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.getcwd())
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(headroom_mib), method, rule],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and RLIMIT_AS")
def test_too_little_address_space_is_refused_before_starting_with_what_to_set():
    out = run(100)
    assert out.startswith("REFUSED"), out
    assert "RLIMIT_AS" in out and "ulimit -v" in out and "batch_size=" in out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and RLIMIT_AS")
@pytest.mark.parametrize(("method", "rule"), [("ig", "exact"), ("smoothgrad", "gausslegendre"), ("guided", "auto")])
def test_under_an_address_space_limit_the_run_fits(method, rule):
    out = run(1024, method, rule)
    assert out.startswith("DONE"), out
