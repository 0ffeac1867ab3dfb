"""Fingerprints: SHA-256 digests that identify the model, the data and the settings behind an explanation.

The same model gives the same digest in any process (a canonical byte stream, never ``repr`` or ``id``); any changed
weight, fitted statistic or setting gives another.
"""

from __future__ import annotations

import datetime
import hashlib
import platform
import struct
from collections.abc import Mapping
from numbers import Integral

import numpy as np
import pandas as pd

from ._settings import NO_EFFECT

#: Packages besides skig whose versions can change an explanation's numbers.
VERSIONED = ("torch", "numpy", "pandas", "scikit-learn", "skorch", "scipy")


def digest(obj) -> str:
    """The SHA-256 of ``obj``'s canonical bytes, as 64 hexadecimal characters.

    Torch modules hash every parameter and buffer by name (in sorted order, with dtype and shape); scikit-learn
    estimators, Pipelines and ColumnTransformers hash their class, their parameters and every fitted attribute
    (``name_``); a skorch net hashes its class and fitted ``module_``. Arrays and tensors hash their dtype, shape and
    bytes; DataFrames their column names, dtypes, index and values; floats their exact binary value.
    """
    hasher = hashlib.sha256()
    _feed(hasher, obj, set())
    return hasher.hexdigest()


def _tag(hasher, kind: str, payload: bytes = b"") -> None:
    # type tag and length first: ("ab", "c") and ("a", "bc") never give the same stream
    hasher.update(kind.encode() + b":" + struct.pack("<Q", len(payload)) + payload)


def _feed(hasher, obj, seen: set[int]) -> None:
    import torch

    if obj is None or isinstance(obj, (bool, np.bool_)):
        _tag(hasher, "const", repr(None if obj is None else bool(obj)).encode())
    elif isinstance(obj, (Integral, np.integer)):
        _tag(hasher, "int", str(int(obj)).encode())
    elif isinstance(obj, (float, np.floating)):
        _tag(hasher, "float", float(obj).hex().encode())
    elif isinstance(obj, str):
        _tag(hasher, "str", obj.encode("utf-8", "surrogatepass"))
    elif isinstance(obj, bytes):
        _tag(hasher, "bytes", obj)
    elif isinstance(obj, torch.Tensor):
        tensor = obj.detach().cpu().contiguous().reshape(-1)
        _tag(hasher, "tensor", f"{tensor.dtype}{tuple(obj.shape)}".encode())
        _tag(hasher, "data", tensor.view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, np.ndarray):
        _feed_array(hasher, obj, seen)
    elif isinstance(obj, (pd.DataFrame, pd.Series, pd.Index)):
        _feed_pandas(hasher, obj, seen)
    elif isinstance(obj, Mapping):
        _tag(hasher, "map", str(len(obj)).encode())
        for key in sorted(obj, key=str):
            _feed(hasher, str(key), seen)
            _feed(hasher, obj[key], seen)
    elif isinstance(obj, (list, tuple)):
        _tag(hasher, type(obj).__name__, str(len(obj)).encode())
        for item in obj:
            _feed(hasher, item, seen)
    elif isinstance(obj, (set, frozenset)):
        _feed(hasher, sorted(obj, key=repr), seen)
    elif id(obj) in seen:
        _tag(hasher, "cycle", _type_name(obj).encode())
    else:
        seen.add(id(obj))
        _feed_object(hasher, obj, seen)


def _feed_array(hasher, array: np.ndarray, seen: set[int]) -> None:
    _tag(hasher, "array", f"{array.dtype.str}{array.shape}".encode())
    if array.dtype == object:
        for item in array.reshape(-1):
            _feed(hasher, item, seen)
    else:
        _tag(hasher, "data", np.ascontiguousarray(array).tobytes())


def _feed_pandas(hasher, obj, seen: set[int]) -> None:
    frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
    if isinstance(obj, pd.Index):
        frame = obj.to_frame(index=False)
    _tag(hasher, type(obj).__name__)
    _feed(hasher, [str(name) for name in frame.columns], seen)
    _feed(hasher, [str(dtype) for dtype in frame.dtypes], seen)
    if not isinstance(obj, pd.Index):
        _feed(hasher, obj.index, seen)
    # pandas' own row hash (fixed key, so the same in every process), per column: categories hash by value
    for name in frame.columns:
        column = frame[name]
        _tag(hasher, "column", pd.util.hash_pandas_object(column, index=False).to_numpy().tobytes())


def _feed_object(hasher, obj, seen: set[int]) -> None:
    import torch

    _tag(hasher, "object", _type_name(obj).encode())
    if isinstance(obj, torch.nn.Module):
        # the architecture too (same weights through Tanh instead of ReLU is another model), then the numbers
        _feed(hasher, [(name, _type_name(part), part.extra_repr()) for name, part in obj.named_modules()], seen)
        named = dict(obj.named_parameters(remove_duplicate=False))
        named.update({f"buffer:{name}": value for name, value in obj.named_buffers(remove_duplicate=False)})
        _feed(hasher, named, seen)
    elif isinstance(getattr(obj, "module_", None), torch.nn.Module):  # a fitted skorch net: its weights
        _feed(hasher, obj.module_, seen)
    elif isinstance(obj, np.random.RandomState):
        _feed(hasher, obj.get_state(), seen)
    elif isinstance(obj, np.dtype):
        _tag(hasher, "dtype", obj.str.encode())
    elif callable(obj) and hasattr(obj, "__qualname__"):
        _tag(hasher, "callable", f"{getattr(obj, '__module__', '')}.{obj.__qualname__}".encode())
    elif hasattr(obj, "get_params"):  # a scikit-learn estimator: parameters, then every fitted attribute
        _feed(hasher, obj.get_params(deep=False), seen)
        fitted = {name: value for name, value in vars(obj).items() if name.endswith("_") and not name.startswith("_")}
        _feed(hasher, fitted, seen)
    elif hasattr(obj, "__dict__"):
        _feed(hasher, {name: value for name, value in vars(obj).items() if not name.startswith("__")}, seen)
    else:
        _tag(hasher, "value", str(obj).encode())


def _type_name(obj) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def file_digest(path) -> str:
    """The SHA-256 of a file's bytes, or of a directory's files (relative paths and bytes, in sorted order)."""
    from pathlib import Path

    path = Path(path)
    hasher = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        _tag(hasher, "file", file.relative_to(path).as_posix().encode() if path.is_dir() else b"")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                hasher.update(block)
    return hasher.hexdigest()


def settings_digest(explainer) -> str:
    """The SHA-256 of the explainer's settings that change its numbers (not where or how fast it runs)."""
    params = explainer.get_params(deep=False)
    return digest({name: value for name, value in params.items() if name not in NO_EFFECT})


def versions() -> dict[str, str]:
    """Versions of Python and of the packages that can change the numbers (those installed)."""
    from importlib.metadata import PackageNotFoundError, version

    from .._version import __version__

    found = {"python": platform.python_version(), "skig": __version__}
    for package in VERSIONED:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found


def fit_fingerprint(explainer, reference) -> dict[str, object]:
    """What :meth:`Explainer.fit` records as ``fingerprint_``: digests of the model, the reference rows and the
    settings, with the seed, the package versions and the time (UTC)."""
    seed = explainer.random_state
    return {
        "model": digest(explainer.model),
        "reference_data": digest(reference),
        "settings": settings_digest(explainer),
        "random_state": int(seed) if isinstance(seed, Integral) else (None if seed is None else digest(seed)),
        "versions": versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def fingerprint(explainer, X=None) -> dict[str, object]:
    """The fitted explainer's fingerprint, with the digest of the data explained (``X``) and of the model now.

    Parameters
    ----------
    explainer : Explainer
        A fitted explainer.
    X : DataFrame or array-like, default=None
        The rows explained; their digest is added as ``data``.

    Returns
    -------
    dict
        ``explainer.fingerprint_`` (``model``, ``reference_data``, ``settings``: SHA-256 digests; ``random_state``,
        ``versions``, ``created``), plus ``data`` when ``X`` is given and ``model_changed_since_fit``: whether the
        model's weights now differ from those fitted. ``model`` is the digest of the model as it is now (an
        explanation reflects the weights at the time of the call); when it changed, ``model_at_fit`` is the
        fitted one's.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(explainer)
    record = dict(explainer.fingerprint_)
    if X is not None:
        record["data"] = digest(X)
    now = digest(explainer.model)
    record["model_changed_since_fit"] = now != record["model"]
    if record["model_changed_since_fit"]:
        record["model_at_fit"], record["model"] = record["model"], now
    return record
