"""skig: Integrated Gradients for differentiable tabular models, the scikit-learn way.

``skig.Explainer(model).fit(X_train).explain(X)`` returns attributions on the user's raw columns.
"""

from . import plots
from ._explainer import Explainer
from ._explanation import Explanation
from ._selection import FeatureSelector
from ._version import __version__
from .models import ModelChangedError
from .reporting import adverse_action, drift, quality, reason_codes, report, write_csv

__all__ = [
    "Explainer",
    "Explanation",
    "FeatureSelector",
    "ModelChangedError",
    "__version__",
    "adverse_action",
    "drift",
    "plots",
    "quality",
    "reason_codes",
    "report",
    "write_csv",
]
