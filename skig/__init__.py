"""skig: Integrated Gradients for differentiable tabular models, the scikit-learn way.

``skig.Explainer(model).fit(X_train).explain(X)`` returns attributions on the user's raw columns.
"""

from . import plots
from ._explainer import Explainer
from ._explanation import Explanation
from ._selection import FeatureSelector
from .models import ModelChangedError
from .reporting import adverse_action, drift, quality, reason_codes, report, write_csv

__version__ = "0.1.0"

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
