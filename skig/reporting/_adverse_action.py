"""The adverse-action export: one line per applicant with the ranked reason texts, ready to merge into a notice."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd

from ._format import outcome_text
from ._reason_codes import check_reason_arguments, ranked_reasons, unexplained_rows, warn_unmapped


def adverse_action(
    exp,
    reasons: Mapping[str, str | Mapping[str, str]] | Callable[[str, object], str] | None = None,
    *,
    n: int = 4,
    direction: str = "increase",
    min_contribution: float = 0.0,
) -> pd.DataFrame:
    """The principal reasons of every applicant, one line each, indexed like ``exp``.

    Where :func:`reason_codes` gives one line per (applicant, reason) with the numbers behind it, this gives what a
    notice prints: the applicant's reason texts in order, one column per rank.

    Parameters
    ----------
    exp : Explanation
        Attributions of the applicants, e.g. of the probability of default.
    reasons : mapping or callable, default=None
        Reason text per feature (``{"Debt": "Excessive obligations"}``) or a callable ``(feature, value) -> str``.
        A feature without a text (missing from the mapping, or an empty text) is listed under its name, with a
        warning that lists every such feature. None lists feature names. An entry
        ``{"text": "Debt-to-income ratio too high", "missing": "No debt-to-income ratio on file"}`` names the
        missing-value case apart.
    n : int, default=4
        Most reasons per applicant (US Regulation B: no more than four are useful to the applicant).
    direction : {"increase", "decrease"}, default="increase"
        The adverse direction of the explained output: ``"increase"`` when higher is worse (probability of
        default), ``"decrease"`` when lower is (a score).
    min_contribution : float, default=0.0
        Smallest adverse contribution listed, in the units of the attributions (0.01 is 1 percentage point of a
        probability): smaller ones are not principal reasons, so an applicant may get fewer than ``n``.

    Returns
    -------
    DataFrame indexed like ``exp.values``
        ``prediction`` (the explained output), ``n_reasons``, then ``reason_1`` ... ``reason_n`` (texts, most
        adverse first) and ``feature_1`` ... ``feature_n`` (the features behind them). Ranks beyond an applicant's
        reasons are missing (empty in a CSV file). Two features with the same text give one reason: the next
        adverse feature takes the freed rank, so a notice never repeats a reason. Only features that push the
        output in the adverse direction are listed. ``attrs["outcome"]`` says what ``prediction`` is ("the
        probability of default", from the explainer's ``outcome``).

    See Also
    --------
    reason_codes : One line per (applicant, reason), with raw values and contributions.

    Examples
    --------
    >>> import pandas as pd
    >>> import skig
    >>> exp = skig.Explanation(
    ...     values=pd.DataFrame({"Income": [0.20, -0.1], "Debt": [0.05, 0.3]}, index=[101, 102]),
    ...     base_values=pd.Series([0.1, 0.1], index=[101, 102]),
    ...     predictions=pd.Series([0.35, 0.3], index=[101, 102]),
    ...     data=pd.DataFrame({"Income": [80, 200], "Debt": [900, 4000]}, index=[101, 102]),
    ... )
    >>> notice = skig.adverse_action(exp, {"Income": "Income too low", "Debt": "Debt too high"}, n=2)
    >>> notice.loc[101, ["reason_1", "reason_2"]].tolist(), notice.loc[102, "reason_1"], notice["n_reasons"].tolist()
    (['Income too low', 'Debt too high'], 'Debt too high', [2, 1])
    """
    check_reason_arguments(n, direction, reasons, min_contribution)
    index = exp.values.index
    if not index.is_unique:
        duplicated = index[index.duplicated()].unique().tolist()[:5]
        raise ValueError(
            f"the explanation's index has duplicated labels {duplicated}; each applicant needs its own label "
            "(e.g. an application id) for a notice to be matched to them."
        )
    ranked = ranked_reasons(exp, len(exp.feature_names), direction, reasons, min_contribution)
    ranked = ranked.drop_duplicates(["row", "reason"], keep="first")  # ranks are already in order within a row
    ranked["rank"] = ranked.groupby("row", sort=False).cumcount() + 1
    ranked = ranked[ranked["rank"] <= n]
    if reasons is not None:
        warn_unmapped(sorted(set(ranked.loc[~ranked["mapped"], "feature"].astype(str))))

    positions = pd.Series(range(len(index)), index=index)
    table = pd.DataFrame({"prediction": exp.predictions.to_numpy()}, index=index)
    table.attrs["outcome"] = outcome_text(exp)
    counts = ranked.groupby("row", sort=False).size()
    # A row without attributions has no known reasons, not zero: NA, so a notice merge cannot read it as "none".
    table["n_reasons"] = pd.array(counts.reindex(index, fill_value=0).to_numpy(), dtype="Int64")
    table.loc[unexplained_rows(exp), "n_reasons"] = pd.NA
    for column in ("reason", "feature"):
        for rank in range(1, n + 1):
            chosen = ranked[ranked["rank"] == rank]
            filled = pd.Series([None] * len(index), index=range(len(index)), dtype=object)
            filled[positions.loc[chosen["row"]].to_numpy()] = chosen[column].astype(str).to_numpy()
            table[f"{column}_{rank}"] = filled.to_numpy()
    return table
