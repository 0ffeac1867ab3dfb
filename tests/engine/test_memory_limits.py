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


def test_rows_that_cannot_fit_are_refused_before_any_work(monkeypatch):
    """The rows' own arrays (inputs, attributions, the result) are checked against the limit before anything runs."""
    import numpy as np
    import torch

    import skig
    from skig.engine import _gradients

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    X = np.random.RandomState(0).normal(size=(200_000, 30)).astype(np.float32)
    explainer = skig.Explainer(model).fit(X[:500])
    flags = [param.requires_grad for param in model.parameters()]
    monkeypatch.setattr(_gradients, "memory_headroom", lambda: (300 * 2**20, "a test limit of 300 MiB"))
    expected = r"explaining 200,000 rows needs about .* MiB .*a test limit of 300 MiB.*parts of at most"
    with pytest.raises(MemoryError, match=expected):
        explainer.explain(X)
    assert [param.requires_grad for param in model.parameters()] == flags
    # As many rows as the message says fit are explained.
    assert len(explainer.explain(X[:20_000]).values) == 20_000


def test_a_limit_that_leaves_no_room_says_so(monkeypatch):
    import numpy as np
    import torch

    import skig
    from skig.engine import _gradients

    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    X = np.random.RandomState(0).normal(size=(100, 4))
    explainer = skig.Explainer(model).fit(X)
    monkeypatch.setattr(_gradients, "memory_headroom", lambda: (100 * 2**20, "a test limit"))
    with pytest.raises(MemoryError, match="no rows can be explained in this process; raise the limit"):
        explainer.explain(X)


def test_an_explanation_reads_the_memory_limits_once(monkeypatch):
    """Checking that the rows fit and sizing the passes share one reading of the limits (four files a reading);
    outside an explanation every call reads them anew."""
    import numpy as np
    import torch

    import skig
    from skig.engine import _gradients

    reads = []
    real = _gradients._read_headroom
    monkeypatch.setattr(_gradients, "_read_headroom", lambda: reads.append(1) or real())
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    X = np.random.RandomState(0).normal(size=(50, 4))
    explainer = skig.Explainer(model, rule="gausslegendre", n_steps=8).fit(X)
    reads.clear()
    explainer.explain(X)
    assert len(reads) == 1
    _gradients.memory_headroom()
    _gradients.memory_headroom()
    assert len(reads) == 3
    with _gradients.one_memory_reading(), _gradients.one_memory_reading():  # nested: still the outer reading
        first = _gradients.memory_headroom()
        assert _gradients.memory_headroom() is first
    assert len(reads) == 4


def test_limit_files_are_read_as_the_kernel_writes_them(tmp_path):
    from skig.engine import _gradients

    limit = tmp_path / "memory.max"
    for text, expected in (("max\n", None), ("1073741824\n", 2**30), ("", None), ("junk\n", None)):
        limit.write_text(text)
        assert _gradients._read_int(str(limit)) == expected
    assert _gradients._read_int(str(tmp_path / "absent")) is None
    try:
        with open("/proc/meminfo") as file:
            line = next(line for line in file if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        pytest.skip("no MemAvailable in /proc/meminfo here")
    # The machine's free memory moves between the two readings: the same order of magnitude, in bytes.
    assert abs(_gradients._meminfo_available() - int(line.split()[1]) * 1024) < 2**30
