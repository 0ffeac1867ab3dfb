"""Labels skig writes for groups of values (cohorts, legends, group tables), never equal to a user's value.

Users' values get one distinct label each; the labels skig invents ("other", "missing") are qualified when a value
already reads the same, and carry what they stand for so that code never recognises them by their text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence

#: Label of rows with no value.
MISSING = "missing"
#: Label of values pooled together (small groups, categories beyond the largest).
OTHER = "other"


class InventedLabel(str):
    """A label skig made up, not a user's value: the text shown, and ``kind`` (``"pooled"`` or ``"missing"``).

    It compares and hashes as its text, so it works as a dict key or a legend label; code that must tell it from a
    user's value of the same text asks ``isinstance(label, InventedLabel)``, never the text.
    """

    kind: str

    def __new__(cls, text: str, kind: str) -> InventedLabel:
        label = super().__new__(cls, text)
        label.kind = kind
        return label

    def __reduce__(self):
        return (InventedLabel, (str(self), self.kind))


def distinct_label(text: str, taken: Collection[str], qualifier: str) -> str:
    """``text`` if no label in ``taken`` reads the same, else ``"text (qualifier)"``, ``"text (qualifier 2)"``, ...

    >>> distinct_label("other", {"rent", "other"}, "pooled")
    'other (pooled)'
    >>> distinct_label("other", {"other", "other (pooled)"}, "pooled")
    'other (pooled 2)'
    """
    taken = {str(label) for label in taken}
    label, count = text, 1
    while label in taken:
        label = f"{text} ({qualifier}{f' {count}' if count > 1 else ''})"
        count += 1
    return label


def pooled_label(taken: Collection[str]) -> InventedLabel:
    """The label of pooled values, ``"other"`` unless a label in ``taken`` reads so (then ``"other (pooled)"``)."""
    return InventedLabel(distinct_label(OTHER, taken, "pooled"), "pooled")


def missing_label(taken: Collection[str]) -> InventedLabel:
    """The label of missing values, ``"missing"`` unless a label in ``taken`` reads so (``"missing (no value)"``)."""
    return InventedLabel(distinct_label(MISSING, taken, "no value"), "missing")


def value_labels(values: Sequence, text: Callable[[object], str] = str) -> list[str]:
    """One label per value, as ``text`` writes it, made distinct where two different values read the same.

    Values that ``text`` writes alike (the number 1 and the string ``"1"``; 1.0001 and 1.0002 at three significant
    digits) are written in full instead (``repr`` of strings, ``str`` of numbers); any still alike get a counter.

    >>> value_labels([1, "1", "rent"])
    ['1', "'1'", 'rent']
    """
    labels = [text(value) for value in values]
    counts = Counter(labels)
    if len(counts) == len(labels):
        return labels
    labels = [_full_text(value) if counts[label] > 1 else label for value, label in zip(values, labels, strict=True)]
    taken = set(labels)
    seen: set[str] = set()
    distinct = []
    for label in labels:
        if label in seen:
            label = distinct_label(label, taken | seen, "value")
        seen.add(label)
        distinct.append(label)
    return distinct


def _full_text(value) -> str:
    if isinstance(value, str):
        return repr(value)
    return str(value)
