"""A worker process unpickles an explainer once, by the fingerprint of its bytes, whatever the tasks that ask."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pandas as pd
import pytest

from skig._distributed import _partition
from skig._distributed._partition import KEEP_LOADED, fingerprint, loaded_explainer


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch):
    monkeypatch.setattr(_partition, "_LOADED", type(_partition._LOADED)())


def test_fingerprint_is_of_the_bytes():
    a, b = pickle.dumps({"weights": [1.0, 2.0]}), pickle.dumps({"weights": [1.0, 2.5]})
    assert fingerprint(a) == fingerprint(bytes(a)) and fingerprint(a) != fingerprint(b)


def test_loaded_once_then_the_same_object():
    loads = []

    def load():
        loads.append(1)
        return object()

    first = loaded_explainer("k", load)
    assert loaded_explainer("k", load) is first and len(loads) == 1
    assert loaded_explainer("other", load) is not first and len(loads) == 2


def test_threads_asking_at_once_get_one_object():
    barrier = threading.Barrier(4)
    got = []

    def load():
        barrier.wait()  # every thread is loading at once: only one result may be kept
        return object()

    threads = [threading.Thread(target=lambda: got.append(loaded_explainer("k", load))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(obj) for obj in got}) == 1


def test_keeps_the_most_recent_explainers():
    for i in range(KEEP_LOADED + 2):
        loaded_explainer(f"k{i}", object)
    assert list(_partition._LOADED) == [f"k{i}" for i in range(2, KEEP_LOADED + 2)]
    loaded_explainer("k2", object)  # used again: now the most recent, so the next eviction spares it
    loaded_explainer("new", object)
    assert "k2" in _partition._LOADED and "k3" not in _partition._LOADED


def test_missing_strings_become_nan_objects_as_pandas_reads_them():
    values = ["own", None, "rent"]
    rows = pd.DataFrame(
        {"x": [1.0, 2.0, 3.0], "home": pd.array(values, dtype="string[pyarrow]"), "job": values},
        index=pd.Index([7, 3, 5], name="row"),
    )
    out = _partition._numpy_missing(rows)
    assert out["home"].dtype == object and out["home"].iloc[0] == "own" and np.isnan(out["home"].iloc[1])
    pd.testing.assert_series_equal(out["job"], rows["job"])  # pandas' own strings (NaN for missing) as they are
    assert out.index.equals(rows.index)
    pd.testing.assert_series_equal(out["x"], rows["x"])
