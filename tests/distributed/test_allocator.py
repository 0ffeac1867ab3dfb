"""glibc's thresholds inside skig's tasks (skig/_distributed/_allocator.py): raised where the environment fixed them
low, as Dask's nanny does, and put back as the environment set them; untouched elsewhere.

What glibc does is observed, not assumed: ``mallinfo2().hblks`` counts the blocks it mapped, ``arena`` the heap it
keeps. Each case runs in a fresh interpreter, since glibc reads the variables when a process starts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from skig._distributed import _allocator
from skig._distributed._allocator import GLIBC_DEFAULT, TASK_MMAP_THRESHOLD, fixed_thresholds

MODULE = Path(_allocator.__file__)

# Loads the module by path (no skig, no torch: a fast interpreter), then records, outside, inside two nested tasks,
# between their exits and after the last: whether a block of 256 KiB and one of 2 MiB were mapped, whether glibc's
# dynamic threshold is on (a 1 MiB block freed, then asked for again, comes from the heap), and the heap kept after
# freeing 4 MiB of 64 KiB blocks from its top (free bytes it holds).
PROBE = """
import ctypes, importlib.util, json, sys
spec = importlib.util.spec_from_file_location("allocator", sys.argv[1])
allocator = importlib.util.module_from_spec(spec)
spec.loader.exec_module(allocator)
libc = ctypes.CDLL(None)
names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in names]
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)

def mapped(size):
    before = libc.mallinfo2().hblks
    block = libc.malloc(size)
    during = libc.mallinfo2().hblks
    libc.free(block)
    return during > before

def dynamic():
    libc.free(libc.malloc(1 << 20))
    return not mapped(1 << 20)

def kept():
    blocks = [libc.malloc(64 * 1024) for _ in range(64)]
    for block in reversed(blocks):
        libc.free(block)
    return libc.mallinfo2().fordblks

def state():
    return {"256k": mapped(256 * 1024), "2m": mapped(2 << 20), "kept": kept()}

out = {"before": state()}
with allocator.task_allocator():
    with allocator.task_allocator():
        out["inside"] = state()
    out["one left"] = state()
out["after"] = state()
out["dynamic after"] = dynamic()
print(json.dumps(out))
"""


def probe(environ: dict[str, str]) -> dict:
    env = {"PATH": "/usr/bin:/bin", **environ}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(MODULE)], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout)


glibc = pytest.mark.skipif(_allocator._libc() is None, reason="glibc only")


@glibc
def test_nanny_setting_raised_inside_tasks_and_put_back():
    """Dask's nanny's MALLOC_TRIM_THRESHOLD_=65536: blocks of 256 KiB mapped outside, from the heap inside, until the
    last task leaves; then mapped again, and the heap trimmed at 64 KiB again."""
    seen = probe({"MALLOC_TRIM_THRESHOLD_": "65536"})
    assert seen["before"]["256k"] and seen["before"]["2m"] and seen["before"]["kept"] < 1 << 20
    for phase in ("inside", "one left"):
        assert not seen[phase]["256k"] and not seen[phase]["2m"]
        assert seen[phase]["kept"] >= 4 << 20  # freed heap kept (trim threshold 64 MiB)
    assert seen["after"]["256k"] and seen["after"]["2m"] and seen["after"]["kept"] < 1 << 20
    assert not seen["dynamic after"]  # the environment's fixed thresholds, as before


@glibc
def test_the_environments_own_thresholds_come_back():
    """An mmap threshold of 1 MiB from the environment (here through GLIBC_TUNABLES) is what is put back."""
    seen = probe({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1048576:glibc.malloc.trim_threshold=65536"})
    assert not seen["before"]["256k"] and seen["before"]["2m"]
    assert not seen["inside"]["2m"]
    assert not seen["after"]["256k"] and seen["after"]["2m"] and seen["after"]["kept"] < 1 << 20


@glibc
def test_glibcs_dynamic_threshold_left_alone():
    """No variable: glibc's dynamic threshold is on, and a task must not switch it off (any mallopt would)."""
    seen = probe({})
    assert seen["dynamic after"]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"OMP_NUM_THREADS": "1"}, None),
        ({"MALLOC_TRIM_THRESHOLD_": "65536"}, (GLIBC_DEFAULT, 65536)),
        ({"MALLOC_TOP_PAD_": "0"}, (GLIBC_DEFAULT, GLIBC_DEFAULT)),
        ({"MALLOC_MMAP_THRESHOLD_": "1048576", "MALLOC_TRIM_THRESHOLD_": "0x20000"}, (1 << 20, 1 << 17)),
        ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=4096"}, (GLIBC_DEFAULT, 4096)),
        ({"GLIBC_TUNABLES": "glibc.malloc.tcache_count=0"}, None),
        ({"MALLOC_TRIM_THRESHOLD_": "lots"}, None),
        ({"MALLOC_MMAP_THRESHOLD_": str(TASK_MMAP_THRESHOLD)}, None),
    ],
)
def test_fixed_thresholds_read_from_the_environment(environ, expected):
    assert fixed_thresholds(environ) == expected
