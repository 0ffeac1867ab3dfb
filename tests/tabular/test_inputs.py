"""``inputs=``: forward arguments mapped by name to their columns, for torch modules and skorch nets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from embedding_oracle import joint_ig
from torch import nn

import skig

TERMS = ["36 months", "60 months", "other"]


class NumCat(nn.Module):
    """``forward(x_num, x_cat)`` with one table per categorical column, then a ReLU MLP."""

    def __init__(self, cardinalities=(3, 4)):
        super().__init__()
        generator = torch.Generator().manual_seed(1)
        self.tables = nn.ModuleList([nn.Embedding(c, 2) for c in cardinalities])
        self.net = nn.Sequential(nn.Linear(2 + 2 * len(cardinalities), 10), nn.ReLU(), nn.Linear(10, 2))
        with torch.no_grad():
            for param in self.parameters():
                param.copy_(torch.randn(param.shape, generator=generator))

    def forward(self, x_num, x_cat):
        vectors = [table(x_cat[:, i]) for i, table in enumerate(self.tables)]
        return self.net(torch.cat([x_num, *vectors], dim=1))


@pytest.fixture(scope="module")
def frame():
    rng = np.random.RandomState(2)
    n = 80
    return pd.DataFrame(
        {
            "term": rng.choice(TERMS, n),
            "amount": rng.normal(size=n),
            "purpose": rng.randint(0, 4, n),
            "rate": rng.normal(size=n),
            "unused": rng.normal(size=n),
        },
        index=pd.Index(rng.permutation(n) + 500, name="id"),
    )


INPUTS = {"x_num": ["amount", "rate"], "x_cat": {"term": TERMS, "purpose": None}}


def oracle(model, explainer, X, logit=True):
    """The joint-space oracle on the flat matrix skig builds: amount, rate, term code, purpose code; explaining the
    logit of class 1 (a classifier's) or the module's raw output 1."""
    matrix = np.column_stack(
        [X["amount"], X["rate"], pd.Categorical(X["term"], categories=TERMS).codes, X["purpose"]]
    ).astype(float)
    baseline = explainer.encoded_baseline_.to_numpy()[0]

    def run(m, x):
        out = m(x[:, :2], x[:, 2:].long())
        return (out[:, 1] - out[:, 0]).unsqueeze(1) if logit else out[:, 1:]

    lookups = [(model.tables[0], [2]), (model.tables[1], [3])]
    return np.array(
        [
            joint_ig(model, run, lookups, [0, 1], row, baseline, n_columns=4, n_points=2**15, midpoint=True)[0]
            for row in matrix
        ]
    )


def test_torch_module_with_string_categories(frame):
    model = NumCat()
    with pytest.warns(UserWarning, match="unused"):
        explainer = skig.Explainer(model, inputs=INPUTS, target=1, output="raw").fit(frame)
    assert explainer.rule_ == "exact"
    X = frame.iloc[:5]
    with pytest.warns(UserWarning, match="unused"):
        exp = explainer.explain(X)
    assert list(exp.values.columns) == ["amount", "rate", "term", "purpose"]
    assert exp.delta.abs().max() < 1e-5
    np.testing.assert_allclose(exp.values.to_numpy(), oracle(model, explainer, X, logit=False), rtol=0, atol=3e-4)
    assert explainer.baseline_.loc[0, "term"] in TERMS


def test_skorch_net_with_dict_inputs(frame):
    skorch = pytest.importorskip("skorch")
    X = frame.drop(columns="unused")
    net = skorch.NeuralNetClassifier(
        NumCat, criterion=nn.CrossEntropyLoss, max_epochs=5, lr=0.05, train_split=None, verbose=0
    )
    codes = pd.Categorical(X["term"], categories=TERMS).codes
    torch.manual_seed(0)
    net.fit(
        {
            "x_num": X[["amount", "rate"]].to_numpy(dtype=np.float32),
            "x_cat": np.column_stack([codes, X["purpose"]]).astype(np.int64),
        },
        (X["amount"] > 0).astype(np.int64).to_numpy(),
    )
    explainer = skig.Explainer(net, inputs=INPUTS).fit(X)
    exp = explainer.explain(X.iloc[:5])
    assert exp.delta.abs().max() < 1e-5
    np.testing.assert_allclose(exp.values.to_numpy(), oracle(net.module_, explainer, X.iloc[:5]), rtol=0, atol=3e-4)
    # The prediction is the net's own: the logit of class 1 from the module's outputs, as skorch computes them.
    with torch.no_grad():
        logits = net.forward(
            {
                "x_num": X[["amount", "rate"]].to_numpy(dtype=np.float32)[:5],
                "x_cat": np.column_stack([codes, X["purpose"]]).astype(np.int64)[:5],
            }
        ).double()
    np.testing.assert_allclose(exp.predictions.to_numpy(), (logits[:, 1] - logits[:, 0]).numpy(), rtol=1e-5)


@pytest.mark.parametrize(
    "inputs, error, match",
    [
        ({"x_num": ["amount", "rate"], "x_cats": ["purpose"]}, ValueError, r"\['x_cats'\].*\['x_cat', 'x_num'\]"),
        ({"x_num": ["amount", "rate"], "x_cat": ["term", "purpose"]}, ValueError, r"'term'.*Categorical.*categories"),
        ({"x_num": ["amount", "nope"], "x_cat": ["purpose"]}, ValueError, r"nope"),
        ({"x_num": ["amount", "rate"], "x_cat": ["purpose", "rate"]}, ValueError, r"\['rate'\].*several"),
        (
            {"x_num": ["amount", "rate"]},
            ValueError,
            r"no columns to NumCat.forward's argument\(s\) \['x_cat'\].*"
            r"inputs=\{'x_num': \[...\], 'x_cat': \[...\]\}",
        ),
    ],
    ids=["unknown-argument", "strings-without-categories", "missing-column", "column-twice", "argument-left-out"],
)
def test_bad_inputs_are_named(frame, inputs, error, match):
    with pytest.raises(error, match=match):
        skig.Explainer(NumCat(), inputs=inputs).fit(frame)


def test_inputs_need_a_dataframe(frame):
    with pytest.raises(TypeError, match="DataFrame"):
        skig.Explainer(NumCat(), inputs=INPUTS).fit(frame.to_numpy())


def test_code_columns_read_as_floats_are_named(frame):
    """Codes held as floats (0.0, 1.0, ...: read from a CSV, or an encoder's output) reach the module as floats; the
    lookup's error names the argument and its columns, and says how to mark them as codes."""
    floats = frame.assign(purpose=frame["purpose"].astype(float))
    inputs = {"x_num": ["amount", "rate"], "x_cat": ["purpose", "unused"]}
    with pytest.raises(ValueError, match=r"'x_cat' from \['purpose', 'unused'\].*integer or Categorical dtype"):
        skig.Explainer(NumCat((4, 2)), inputs=inputs).fit(floats.assign(unused=1.0))
    # Marked as codes, the same columns explain.
    explainer = skig.Explainer(NumCat((4, 2)), inputs=inputs).fit(floats.astype({"purpose": int}).assign(unused=1))
    assert explainer.explain(floats.astype({"purpose": int}).assign(unused=1).iloc[:3]).delta.abs().max() < 1e-4


def test_codes_given_for_a_column_fitted_as_categories_are_named(frame):
    """A column fitted as categories (words) and then given as integer codes is refused as codes given for words,
    naming the column and its categories; codes show as integers."""
    explainer = skig.Explainer(NumCat(), inputs=INPUTS).fit(frame)
    coded = frame.assign(term=pd.Categorical(frame["term"], categories=TERMS).codes.astype(int))
    with pytest.raises(ValueError, match=r"'term' was fitted with the categories \['36 months', '60 months', "):
        explainer.explain(coded)
    unseen = frame.assign(term=frame["term"].where(frame.index != frame.index[0], "84 months"))
    with pytest.raises(ValueError, match=r"have codes \[-1\] \(values \['84 months'\]\)"):
        explainer.explain(unseen)


def test_a_missing_value_named_by_its_label_for_a_module_without_preprocessing(frame):
    explainer = skig.Explainer(NumCat(), inputs=INPUTS).fit(frame)
    bad = frame.copy()
    bad.loc[bad.index[3], "amount"] = np.nan
    with pytest.raises(ValueError) as info:
        explainer.explain(bad)
    message = str(info.value)
    assert f"NaN in columns ['amount'] (rows [{int(bad.index[3])}], 1 row(s))" in message, message
    assert "the model reads them as they are" in message, message


class ThreeArguments(nn.Module):
    """``forward(x_num, x_codes, x_more)``: two tables, one per code argument, then a linear score."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Embedding(4, 2), nn.Embedding(4, 2), nn.Linear(6, 1)

    def forward(self, x_num, x_codes, x_more):
        return self.out(torch.cat([x_num, self.a(x_codes[:, 0]), self.b(x_more[:, 0])], dim=1))


def test_codes_held_as_floats_beside_an_argument_of_codes_are_named_as_such(frame):
    """Torch's error for float indices names Long too: beside an argument passed as codes, it is still named as
    floats looked up (the argument holding them), not as integer numbers passed as codes."""
    floats = frame.assign(unused=frame["purpose"].astype(float))
    inputs = {"x_num": ["amount", "rate"], "x_codes": ["purpose"], "x_more": ["unused"]}
    with pytest.raises(ValueError, match=r"looks up floats.*'x_more' from \['unused'\]") as info:
        skig.Explainer(ThreeArguments(), inputs=inputs).fit(floats)
    assert "fails on integer codes" not in str(info.value)


def test_reference_rows_sorted_by_a_category_still_trace_its_lookup():
    """Reference data sorted by a categorical column (its first 256 rows all one category): its lookup is traced
    from rows drawn across the data, and the explanations are those of the same rows unsorted."""
    rng = np.random.RandomState(5)
    n = 600
    shuffled = pd.DataFrame(
        {
            "term": rng.choice(TERMS, n, p=[0.6, 0.3, 0.1]),
            "amount": rng.normal(size=n),
            "purpose": rng.randint(0, 4, n),
            "rate": rng.normal(size=n),
        },
        index=pd.Index([f"loan-{i}" for i in range(n)]),
    )
    ordered = shuffled.sort_values("term", kind="stable")
    assert ordered["term"].iloc[:256].nunique() == 1
    explainers = [skig.Explainer(NumCat(), inputs=INPUTS).fit(data) for data in (shuffled, ordered)]
    assert [lookup.columns for lookup in explainers[1].input_space_.lookups] == [(2,), (3,)]
    X = shuffled.iloc[:20]
    values = [explainer.explain(X).values for explainer in explainers]
    np.testing.assert_allclose(values[1].to_numpy(), values[0].to_numpy(), rtol=0, atol=1e-6)
    assert (values[1]["term"].abs() > 0).any()


def test_columns_that_move_together_over_few_reference_rows_are_told_apart():
    """On 3 reference rows the codes of two columns can equal each other up to a constant: a lookup is tied to the
    column other shuffles of the rows agree on, the one the full data ties it to."""
    rows = pd.DataFrame(
        {
            "term": ["36 months", "36 months", "60 months"],  # codes 0, 0, 1
            "amount": [0.3, -1.2, 0.8],
            "purpose": [0, 0, 1],  # the same codes: one shuffle of the rows moved both alike, and tied both to term
            "rate": [0.1, 0.5, -0.4],
        }
    )
    small = skig.Explainer(NumCat(), inputs=INPUTS).fit(rows)
    assert [lookup.columns for lookup in small.input_space_.lookups] == [(2,), (3,)]


def test_baseline_rows_with_a_category_the_net_never_saw_are_named(frame):
    baseline = frame.iloc[:2].assign(term=["84 months", "36 months"])
    with pytest.raises(ValueError, match=r"^baseline rows: column 'term'.*'84 months'"):
        skig.Explainer(NumCat(), inputs=INPUTS, baseline=baseline).fit(frame)


def test_categories_of_another_kind_than_the_values_are_named(frame):
    numbers_for_words = {"x_num": ["amount", "rate"], "x_cat": {"term": [36, 60, 0], "purpose": None}}
    with pytest.raises(ValueError, match=r"column 'term' holds words such as .* the categories for it are numbers"):
        skig.Explainer(NumCat(), inputs=numbers_for_words).fit(frame)


class NormedNumbers(NumCat):
    """The numeric argument normalised first: by batch norm (as fastai's TabularModel), by a linear layer, or by
    centring each row on its mean."""

    def __init__(self, how="batch norm"):
        super().__init__()
        self.how = how
        self.norm = nn.BatchNorm1d(2).eval() if how == "batch norm" else nn.Linear(2, 2)

    def forward(self, x_num, x_cat):
        if self.how == "centred":
            return super().forward(x_num - x_num.mean(1, keepdim=True) + 0.5, x_cat)
        return super().forward(self.norm(x_num), x_cat)


@pytest.mark.parametrize("how", ["batch norm", "linear", "centred"])
def test_integer_numbers_passed_as_codes_are_named_with_what_to_do(frame, how):
    """Integer columns given to an argument make it codes (torch.long); a net that normalises them fails, and the
    error says which argument got codes and to give numbers a float dtype."""
    whole = frame.assign(amount=(10 * frame["amount"]).round().astype(int), rate=frame["rate"].round().astype(int))
    with pytest.raises(ValueError, match=r"'x_num' from \['amount', 'rate'\].*float dtype"):
        skig.Explainer(NormedNumbers(how), inputs=INPUTS).fit(whole)
    floats = whole.astype({"amount": float, "rate": float})
    explainer = skig.Explainer(NormedNumbers(how), inputs=INPUTS, n_steps=256).fit(floats)
    assert explainer.explain(floats.iloc[:3]).delta.abs().max() < 1e-3


def test_zero_baseline_through_inputs_reads_zero_in_numeric_columns_and_no_category(frame, tmp_path):
    """baseline="zero" through inputs= is 0 in the numeric columns (they reach the module as they are) and the zero
    vector in embedding space for the categorical ones, which the report writes as such, not as a missing value."""
    explainer = skig.Explainer(NumCat(), inputs=INPUTS, baseline="zero").fit(frame)
    baseline = explainer.baseline_.iloc[0]
    assert baseline["amount"] == 0 and baseline["rate"] == 0, baseline
    assert pd.isna(baseline["term"]) and pd.isna(baseline["purpose"]), baseline
    html = skig.report(explainer, frame.iloc[:5], tmp_path / "report.html").read_text(encoding="utf-8")
    assert "zero vector (no category)" in html and ">missing<" not in html
