"""Trust: skig must never give a wrong answer without an error when users hold their data the way real users do.

Each test names the user-visible wrong answer it guards against: the wrong column, the wrong applicant, a model shared
with other threads, a baseline no applicant could have, silent NaN or zero gradients, and sklearn contract gaps.
Every expectation comes from an independent oracle: the model's own predictions, a closed form or a sequential run.
"""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

import skig

# --------------------------------------------------------------------------------------------------- 1. wrong column


@pytest.fixture(scope="module")
def loans():
    """Loan applications as a lender holds them: the label and an audit column sit beside the model's inputs."""
    rng = np.random.RandomState(0)
    n = 120
    frame = pd.DataFrame(
        {
            "addr_state": rng.choice(["CA", "NY", "TX"], size=n),
            "int_rate": rng.uniform(5, 25, size=n),
            "default": rng.randint(0, 2, size=n),
            "term": rng.choice([" 36 months", " 60 months"], size=n),
            "income": rng.lognormal(11, 0.5, size=n),
        },
        index=pd.Index(rng.permutation(np.arange(5000, 5000 + n)), name="loan_id"),
    )
    logit = 0.2 * (frame["int_rate"] - 15) - 1.5e-5 * (frame["income"] - 60000) + (frame["term"] == " 60 months")
    frame["default"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


@pytest.fixture(scope="module")
def loan_pipe(loans):
    """Fitted on only its three inputs, in an order other than the ColumnTransformer's."""
    pipe = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), ["int_rate", "income"]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["term"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression()),
        ]
    )
    return pipe.fit(loans[["income", "term", "int_rate"]], loans["default"])


@pytest.fixture(scope="module")
def loan_explainer(loan_pipe, loans):
    with pytest.warns(UserWarning) as record:
        explainer = skig.Explainer(loan_pipe, n_steps=8, baseline="median").fit(loans)
    return explainer, [str(warning.message) for warning in record]


class TestWrongColumn:
    """Extra, missing or reordered columns must never shift an attribution onto another column."""

    def test_fit_warns_naming_the_dropped_columns(self, loan_explainer):
        _, messages = loan_explainer
        dropped = [message for message in messages if "does not read" in message]
        assert len(dropped) == 1, messages
        assert "'addr_state'" in dropped[0] and "'default'" in dropped[0]
        for model_column in ("int_rate", "income", "term"):
            assert f"'{model_column}'" not in dropped[0].split("does not read")[1]

    def test_columns_are_the_models_inputs_in_its_order(self, loan_explainer, loan_pipe, loans):
        explainer, _ = loan_explainer
        with pytest.warns(UserWarning, match="addr_state"):
            exp = explainer.explain(loans.iloc[:20])
        assert list(exp.values.columns) == list(loan_pipe.feature_names_in_) == ["income", "term", "int_rate"]
        assert "addr_state" not in exp.values.columns and "default" not in exp.values.columns
        assert list(exp.data.columns) == list(loan_pipe.feature_names_in_)
        np.testing.assert_array_equal(explainer.feature_names_in_, loan_pipe.feature_names_in_)

    def test_attributions_equal_the_logistic_closed_form(self, loan_explainer, loan_pipe, loans):
        explainer, _ = loan_explainer
        rows = loans.iloc[:25]
        with pytest.warns(UserWarning, match="addr_state"):
            exp = explainer.explain(rows)
        prep, clf = loan_pipe[:-1], loan_pipe[-1]
        encoded = prep.transform(rows[list(loan_pipe.feature_names_in_)])
        encoded_names = prep.get_feature_names_out()
        np.testing.assert_array_equal(explainer.encoded_feature_names_, encoded_names)
        baseline = explainer.encoded_baseline_.to_numpy()[0]
        # In logit space a logistic regression is linear: IG is exactly coef * (x - baseline), per encoded column.
        per_encoded = clf.coef_[0] * (encoded - baseline)
        expected = pd.DataFrame(
            {
                "income": per_encoded[:, list(encoded_names).index("num__income")],
                "term": per_encoded[:, [name.startswith("cat__term") for name in encoded_names]].sum(axis=1),
                "int_rate": per_encoded[:, list(encoded_names).index("num__int_rate")],
            },
            index=rows.index,
        )
        pd.testing.assert_frame_equal(exp.values, expected, check_names=False, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(exp.predictions, loan_pipe.decision_function(rows), rtol=1e-5, atol=1e-6)
        assert exp.delta.abs().max() < 1e-5

    def test_reordered_frame_with_extra_column_gives_identical_values(self, loan_explainer, loan_pipe, loans):
        explainer, _ = loan_explainer
        inputs = loans[list(loan_pipe.feature_names_in_)]
        expected = explainer.explain(inputs)
        shuffled = loans[["term", "int_rate", "addr_state", "income"]].assign(note="x")
        with pytest.warns(UserWarning, match=r"addr_state.*note|note.*addr_state"):
            got = explainer.explain(shuffled)
        pd.testing.assert_frame_equal(got.values, expected.values, check_exact=True)
        pd.testing.assert_series_equal(got.predictions, expected.predictions, check_exact=True)
        pd.testing.assert_frame_equal(got.data, expected.data)

    def test_one_applicant_as_a_series_is_that_applicant(self, loan_explainer, loans):
        explainer, _ = loan_explainer
        label = loans.index[7]
        with pytest.warns(UserWarning, match="addr_state"):
            expected = explainer.explain(loans.loc[[label]])
        with pytest.warns(UserWarning, match="addr_state"):
            got = explainer.explain(loans.loc[label])
        assert list(got.values.index) == [label]
        # A Series knows its label but not the frame's index name.
        pd.testing.assert_frame_equal(got.values, expected.values, check_exact=True, check_names=False)

    def test_missing_model_column_is_named(self, loan_explainer, loans):
        explainer, _ = loan_explainer
        with pytest.raises(ValueError, match=r"missing columns \['term'\]"):
            explainer.explain(loans.drop(columns="term"))


class IntLabelled(torch.nn.Module):
    """A plain module whose weights make every input column distinguishable."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 1).double()
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[1.0, -2.0, 3.0, -4.0]]))
            self.linear.bias.zero_()

    def forward(self, x):
        return torch.tanh(self.linear(x)) + 0.1 * (x**2).sum(1, keepdim=True)


@pytest.fixture(scope="module")
def int_frame():
    rng = np.random.RandomState(1)
    return pd.DataFrame(rng.normal(size=(30, 4)), columns=[0, 1, 2, 3])


class TestIntegerColumnLabels:
    def test_reordered_columns_are_matched_by_label(self, int_frame):
        explainer = skig.Explainer(IntLabelled(), n_steps=16).fit(int_frame)
        expected = explainer.explain(int_frame)
        got = explainer.explain(int_frame[[3, 1, 0, 2]])
        pd.testing.assert_frame_equal(got.values, expected.values, check_exact=True)
        pd.testing.assert_series_equal(got.predictions, expected.predictions, check_exact=True)
        with torch.no_grad():
            truth = IntLabelled()(torch.tensor(int_frame.to_numpy()))[:, 0].numpy()
        np.testing.assert_allclose(got.predictions.to_numpy(), truth, rtol=1e-12)

    def test_output_columns_are_the_labels_as_text(self, int_frame):
        explainer = skig.Explainer(IntLabelled(), n_steps=4).fit(int_frame)
        exp = explainer.explain(int_frame.iloc[:3])
        assert list(exp.values.columns) == ["0", "1", "2", "3"]
        assert list(explainer.get_feature_names_out()) == ["0", "1", "2", "3"]

    def test_mixed_str_and_int_labels_are_refused(self, int_frame):
        mixed = int_frame.rename(columns={2: "debt"})
        with pytest.raises(TypeError, match=r"several types"):
            skig.Explainer(IntLabelled()).fit(mixed)
        explainer = skig.Explainer(IntLabelled(), n_steps=4).fit(int_frame)
        with pytest.raises(TypeError, match=r"several types"):
            explainer.explain(mixed)

    def test_missing_label_is_named(self, int_frame):
        explainer = skig.Explainer(IntLabelled(), n_steps=4).fit(int_frame)
        with pytest.raises(ValueError, match=r"missing columns \['2'\]"):
            explainer.explain(int_frame.drop(columns=2))


# ------------------------------------------------------------------------------------------------- 2. wrong applicant


class Scorer(torch.nn.Module):
    """A small float64 MLP: one raw output, so its prediction is easy to recompute by hand."""

    def __init__(self, n_features=4, seed=3):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.body = torch.nn.Sequential(torch.nn.Linear(n_features, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        with torch.no_grad():
            for param in self.body.parameters():
                param.copy_(torch.randn(param.shape, generator=generator))
        self.double()

    def forward(self, x):
        return self.body(x)


@pytest.fixture(scope="module")
def applicants():
    """Applicants keyed by id 1000..1099, in shuffled order: position and label never agree."""
    rng = np.random.RandomState(2)
    index = pd.Index(rng.permutation(np.arange(1000, 1100)), name="applicant_id")
    return pd.DataFrame(rng.normal(size=(100, 4)), columns=["age", "income", "debt", "score"], index=index)


@pytest.fixture(scope="module")
def applicant_exp(applicants):
    model = Scorer()
    return model, skig.Explainer(model, n_steps=16).fit(applicants).explain(applicants)


def _model_output(model, rows: pd.DataFrame) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor(rows.to_numpy(dtype=np.float64)))[:, 0].numpy()


class TestWrongApplicant:
    """A row selected by an applicant id must be that applicant's row, whatever the frame's order."""

    @pytest.mark.parametrize("label", [1000, 1042, 1099])
    def test_loc_is_the_labelled_applicant(self, applicant_exp, applicants, label):
        model, exp = applicant_exp
        row = exp.loc[label]
        assert list(row.values.index) == [label]
        expected = _model_output(model, applicants.loc[[label]])
        np.testing.assert_allclose(row.predictions.to_numpy(), expected, rtol=1e-12)
        pd.testing.assert_frame_equal(row.data, applicants.loc[[label]], check_names=False)
        assert applicants.index.get_loc(label) != label - 1000 or label == 1000  # the test must be able to fail

    def test_iloc_is_the_first_row_of_the_shuffled_frame(self, applicant_exp, applicants):
        model, exp = applicant_exp
        first = exp.iloc[0]
        assert first.values.index[0] == applicants.index[0] != 1000
        np.testing.assert_allclose(first.predictions.to_numpy(), _model_output(model, applicants.iloc[[0]]))

    def test_every_prediction_is_its_own_rows(self, applicant_exp, applicants):
        model, exp = applicant_exp
        pd.testing.assert_index_equal(exp.values.index, applicants.index)
        np.testing.assert_allclose(exp.predictions.to_numpy(), _model_output(model, applicants), rtol=1e-12)

    @pytest.mark.parametrize("key", [0, 1042, -1])
    def test_bare_integer_is_refused_pointing_to_loc_and_iloc(self, applicant_exp, key):
        _, exp = applicant_exp
        with pytest.raises(TypeError, match=r"(?s)loc.*iloc"):
            exp[key]

    def test_reason_code_rows_are_labels(self, applicant_exp, applicants):
        _, exp = applicant_exp
        table = skig.reason_codes(exp, n=2)
        assert set(table["row"]) <= set(applicants.index)
        assert table["row"].iloc[0] == applicants.index[0]
        for record in table.itertuples():
            by_label = exp.loc[record.row]
            assert record.contribution == by_label.values[record.feature].item()
            assert record.value == applicants.loc[record.row, record.feature]
            top = by_label.values.iloc[0].sort_values(ascending=False)
            assert top.index[record.rank - 1] == record.feature


# ------------------------------------------------------------------------------------- 3. one model, several callers


class Shared(torch.nn.Module):
    """An MLP in training, as a model being fine-tuned while it serves explanations."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(7)
        self.body = torch.nn.Sequential(
            torch.nn.Linear(4, 16),
            torch.nn.ReLU(),
            torch.nn.Dropout(0.5),
            torch.nn.Linear(16, 16),
            torch.nn.ReLU(),
            torch.nn.Dropout(0.3),
            torch.nn.Linear(16, 1),
        )
        with torch.no_grad():
            for param in self.body.parameters():
                param.copy_(torch.randn(param.shape, generator=generator) * 0.6)

    def forward(self, x):
        return self.body(x)


def _make_shared():
    model = Shared().train()
    model.body[0].weight.requires_grad_(False)  # a frozen first layer, as in transfer learning
    model.body[5].eval()  # a submodule whose mode differs from its parent's
    model.calls = {"forward": 0}
    lock = threading.Lock()

    def count(_module, _inputs, _output):
        with lock:
            model.calls["forward"] += 1

    model.body[3].register_forward_hook(count)
    return model


def _module_state(model):
    return {
        "training": {name: sub.training for name, sub in model.named_modules()},
        "requires_grad": {name: p.requires_grad for name, p in model.named_parameters()},
        "forward_hooks": {name: dict(sub._forward_hooks) for name, sub in model.named_modules()},
        "forward_pre_hooks": {name: dict(sub._forward_pre_hooks) for name, sub in model.named_modules()},
        "backward_hooks": {name: dict(sub._backward_hooks) for name, sub in model.named_modules()},
        "devices": {name: t.device for name, t in [*model.named_parameters(), *model.named_buffers()]},
        "values": {name: t.detach().clone() for name, t in model.state_dict().items()},
    }


def _assert_same_state(model, before):
    after = _module_state(model)
    for key in ("training", "requires_grad", "forward_hooks", "forward_pre_hooks", "backward_hooks", "devices"):
        assert after[key] == before[key], key
    for name, value in before["values"].items():
        assert torch.equal(after["values"][name], value), name


@pytest.fixture(scope="module")
def shared_rows():
    rng = np.random.RandomState(4)
    return pd.DataFrame(rng.normal(size=(24, 4)), columns=["a", "b", "c", "d"])


class TestOneModelSeveralCallers:
    """Explaining while others explain (with another gradient rule) or train must give the sequential answer."""

    def test_concurrent_explanations_and_training_equal_the_sequential_run(self, shared_rows):
        model = _make_shared()
        before = _module_state(model)
        standard = skig.Explainer(model, n_steps=16, gradient_rule="standard", baseline="zero").fit(shared_rows)
        deconv = skig.Explainer(model, n_steps=16, gradient_rule="deconv", baseline="zero").fit(shared_rows)
        expected_standard = standard.explain(shared_rows).values
        expected_deconv = deconv.explain(shared_rows).values
        assert not np.allclose(expected_standard, expected_deconv), "the two rules must differ for the test to bite"
        _assert_same_state(model, before)

        training_inputs = torch.tensor(shared_rows.to_numpy(), dtype=torch.float32)
        original_modes = {name: sub.training for name, sub in model.named_modules()}
        n_rounds = 3
        results: dict[str, list] = {"standard": [], "deconv": []}
        errors: list[BaseException] = []
        barrier = threading.Barrier(3)
        stop = threading.Event()

        def explain(explainer, key):
            try:
                for _ in range(n_rounds):
                    barrier.wait()
                    results[key].append(explainer.explain(shared_rows).values)
            except BaseException as error:  # reported by the main thread
                errors.append(error)
                barrier.abort()

        def train():
            try:
                for _ in range(n_rounds):
                    barrier.wait()
                    deadline = time.monotonic() + 0.3
                    while time.monotonic() < deadline and not stop.is_set():
                        model.train()
                        model(training_inputs).pow(2).mean().backward()  # dropout on: a real training pass
                        model.zero_grad(set_to_none=True)
                        for name, sub in model.named_modules():
                            sub.training = original_modes[name]
            except BaseException as error:  # reported by the main thread
                errors.append(error)
                barrier.abort()

        threads = [
            threading.Thread(target=explain, args=(standard, "standard")),
            threading.Thread(target=explain, args=(deconv, "deconv")),
            threading.Thread(target=train),
        ]
        for thread in threads:
            thread.start()
        for thread in threads[:2]:
            thread.join(timeout=60)
        stop.set()
        threads[2].join(timeout=60)
        assert not errors, errors
        assert len(results["standard"]) == len(results["deconv"]) == n_rounds
        for got in results["standard"]:
            pd.testing.assert_frame_equal(got, expected_standard, check_exact=True)
        for got in results["deconv"]:
            pd.testing.assert_frame_equal(got, expected_deconv, check_exact=True)
        _assert_same_state(model, before)
        assert all(p.grad is None for p in model.parameters())

    @pytest.mark.parametrize("method", ["ig", "smoothgrad", "guided"])
    def test_one_explainer_shared_by_threads_equals_the_sequential_run(self, shared_rows, method):
        model = _make_shared()
        explainer = skig.Explainer(model, method=method, n_steps=8, n_samples=4, random_state=0, baseline="zero")
        explainer.fit(shared_rows)
        parts = [shared_rows.iloc[i::3] for i in range(3)]
        expected = [explainer.explain(part).values for part in parts]
        got: list = [None] * 3
        errors: list[BaseException] = []
        barrier = threading.Barrier(3)

        def run(position):
            try:
                barrier.wait()
                for _ in range(2):
                    got[position] = explainer.explain(parts[position]).values
            except BaseException as error:  # reported by the main thread
                errors.append(error)

        threads = [threading.Thread(target=run, args=(position,)) for position in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
        for position in range(3):
            pd.testing.assert_frame_equal(got[position], expected[position], check_exact=True)

    @pytest.mark.parametrize("outer_rule, inner_rule", [("deconv", "standard"), ("standard", "deconv")])
    def test_gradient_rules_never_reach_an_explanation_in_progress(self, shared_rows, outer_rule, inner_rule):
        """An explanation run from inside another one's forward pass (the model's own hook) keeps its own rule."""
        model = _make_shared()
        explainers = {
            rule: skig.Explainer(model, n_steps=16, gradient_rule=rule, baseline="zero").fit(shared_rows)
            for rule in ("standard", "deconv")
        }
        expected = {rule: explainer.explain(shared_rows).values for rule, explainer in explainers.items()}
        nested: dict[str, object] = {"armed": False, "result": None}

        def interleave(_module, _inputs):
            # Runs inside the outer explanation's forward pass, while its ReLU rule (if any) is installed.
            if nested["armed"]:
                nested["armed"] = False
                nested["result"] = explainers[inner_rule].explain(shared_rows).values

        model.body[0].register_forward_pre_hook(interleave)
        before = _module_state(model)
        nested["armed"] = True
        outer = explainers[outer_rule].explain(shared_rows).values
        assert nested["result"] is not None, "the inner explanation ran inside the outer one"
        pd.testing.assert_frame_equal(nested["result"], expected[inner_rule], check_exact=True)
        pd.testing.assert_frame_equal(outer, expected[outer_rule], check_exact=True)
        _assert_same_state(model, before)


# ------------------------------------------------------------------------------------------------- 4. sane baselines


@pytest.fixture(scope="module")
def grades():
    """A categorical column with no majority (C 40%, B 35%, A 25%) and numeric columns with missing values."""
    rng = np.random.RandomState(5)
    n = 200
    grade = np.array(["A"] * 50 + ["B"] * 70 + ["C"] * 80, dtype=object)
    frame = pd.DataFrame(
        {
            "grade": grade[rng.permutation(n)],
            "income": rng.lognormal(11, 0.6, size=n),
            "dti": rng.gamma(2.0, 8.0, size=n),
        }
    )
    frame.loc[rng.choice(n, 30, replace=False), "income"] = np.nan
    frame.loc[rng.choice(n, 20, replace=False), "dti"] = np.nan
    logit = (frame["grade"] == "C") * 1.0 - (frame["grade"] == "A") * 0.8 + 0.03 * frame["dti"].fillna(16) - 0.5
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    pipe = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["income", "dti"]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["grade"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression()),
        ]
    ).fit(frame, y)
    assert frame["grade"].value_counts(normalize=True).max() < 0.5
    return frame, pipe


def _one_hot_block(explainer) -> np.ndarray:
    names = list(explainer.encoded_feature_names_)
    return explainer.encoded_baseline_.to_numpy()[:, [name.startswith("cat__grade") for name in names]]


class TestSaneBaselines:
    """A baseline is an applicant who could exist: not 40% of one grade and 35% of another."""

    @pytest.mark.parametrize("statistic", ["median", "mean"])
    def test_statistic_baseline_is_a_raw_applicant(self, grades, statistic):
        X, pipe = grades
        explainer = skig.Explainer(pipe, baseline=statistic, n_steps=8).fit(X)
        baseline = explainer.baseline_
        assert isinstance(baseline, pd.DataFrame) and baseline.shape == (1, 3)
        assert list(baseline.columns) == ["grade", "income", "dti"]
        assert baseline["grade"].iloc[0] == "C"
        for column in ("income", "dti"):
            expected = X[column].median() if statistic == "median" else X[column].mean()
            assert np.isfinite(expected)
            np.testing.assert_allclose(baseline[column].iloc[0], expected, rtol=1e-12)

    @pytest.mark.parametrize("statistic", ["median", "mean"])
    def test_encoded_baseline_has_exactly_one_category(self, grades, statistic):
        X, pipe = grades
        explainer = skig.Explainer(pipe, baseline=statistic, n_steps=8).fit(X)
        block = _one_hot_block(explainer)
        assert block.shape == (1, 3)
        np.testing.assert_array_equal(block, [[0.0, 0.0, 1.0]])
        # The encoded baseline is what the pipeline makes of the raw one.
        np.testing.assert_allclose(explainer.encoded_baseline_.to_numpy(), pipe[:-1].transform(explainer.baseline_))

    def test_explanation_carries_the_baseline_and_its_value(self, grades):
        X, pipe = grades
        explainer = skig.Explainer(pipe, baseline="median", n_steps=8).fit(X)
        exp = explainer.explain(X.iloc[:10])
        assert exp.base_value_label == "f(baseline)"
        assert list(exp.baseline.columns) == ["grade", "income", "dti", "weight"]
        pd.testing.assert_frame_equal(exp.baseline.drop(columns="weight"), explainer.baseline_)
        np.testing.assert_array_equal(exp.baseline["weight"], [1.0])
        np.testing.assert_allclose(exp.base_values, pipe.decision_function(explainer.baseline_)[0], rtol=1e-6)

    @pytest.mark.parametrize(
        "features, weight_column",
        [(["age", "weight", "height"], "baseline_weight"), (["weight", "baseline_weight"], "baseline_weight_2")],
    )
    def test_a_feature_named_weight_is_never_replaced_by_the_baseline_weights(self, features, weight_column):
        """The user's own column called ``weight`` keeps its baseline value; the weights take the next free name, as
        the last column."""
        torch.manual_seed(0)
        X = pd.DataFrame(np.random.RandomState(0).normal(size=(40, len(features))) + 5.0, columns=features)
        model = torch.nn.Sequential(torch.nn.Linear(len(features), 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
        explainer = skig.Explainer(model, baseline="median").fit(X)
        shown = explainer.explain(X.iloc[:3]).baseline
        assert list(shown.columns) == [*features, weight_column]
        pd.testing.assert_frame_equal(shown.iloc[:, :-1], explainer.baseline_)
        np.testing.assert_allclose(shown["weight"], X["weight"].median())  # the feature, not the weight 1.0
        np.testing.assert_array_equal(shown[weight_column], [1.0])

    def test_expected_gradients_label_its_base_value_as_an_expectation(self, grades):
        X, pipe = grades
        explainer = skig.Explainer(pipe, method="expected", baseline="sample", n_baselines=16, n_samples=32)
        exp = explainer.set_params(random_state=0).fit(X).explain(X.iloc[:5])
        assert exp.base_value_label == "E[f(background)]"
        background = explainer.baseline_
        expected = np.average(pipe.decision_function(background), weights=explainer.baseline_weights_)
        np.testing.assert_allclose(exp.base_values, expected, rtol=1e-6)

    def test_sample_baseline_rows_are_rows_of_x(self, grades):
        X, pipe = grades
        explainer = skig.Explainer(pipe, baseline="sample", n_baselines=12, random_state=0, n_steps=4).fit(X)
        baseline = explainer.baseline_
        assert baseline.shape == (12, 3)
        keys = {tuple(row) for row in X.astype(object).where(X.notna(), "<NA>").itertuples(index=False)}
        for row in baseline.astype(object).where(baseline.notna(), "<NA>").itertuples(index=False):
            assert tuple(row) in keys, row
        np.testing.assert_allclose(explainer.encoded_baseline_.to_numpy(), pipe[:-1].transform(baseline))
        np.testing.assert_allclose(explainer.baseline_weights_, np.full(12, 1 / 12))

    def test_kmeans_gives_one_raw_row_per_centroid(self, grades):
        X, pipe = grades
        explainer = skig.Explainer(pipe, baseline="kmeans", n_baselines=5, random_state=0, n_steps=4).fit(X)
        assert len(explainer.baseline_) == len(explainer.encoded_baseline_) == len(explainer.baseline_weights_) == 5
        assert set(explainer.baseline_["grade"]) <= {"A", "B", "C"}
        assert explainer.baseline_[["income", "dti"]].notna().all().all()
        np.testing.assert_allclose(explainer.baseline_weights_.sum(), 1.0)
        exp = explainer.explain(X.iloc[:3])
        assert len(exp.baseline) == 5 and "weight" in exp.baseline.columns


# ------------------------------------------------------------------------------------------------ 5. silent nonsense


class LogOfFirst(torch.nn.Module):
    """``log(x0) + x1 - x2``: NaN where x0 < 0, -inf where x0 == 0."""

    def forward(self, x):
        return torch.log(x[:, :1]) + x[:, 1:2] - 0.5 * x[:, 2:3]


class SqrtOfSquare(torch.nn.Module):
    """``sqrt(x0**2 - 1) + x1``: finite for |x0| >= 1, NaN strictly between -1 and 1."""

    def forward(self, x):
        return torch.sqrt(x[:, :1] ** 2 - 1) + x[:, 1:2] * x[:, 2:3]


class Rounded(torch.nn.Module):
    """A score rounded to whole points: its gradient is zero everywhere, though its output changes."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 1)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[3.0, -2.0, 1.5]]))
            self.linear.bias.zero_()

    def forward(self, x):
        return torch.round(self.linear(x))


@pytest.fixture(scope="module")
def positive_rows():
    rng = np.random.RandomState(6)
    frame = pd.DataFrame(
        {"x0": rng.uniform(1.5, 3.0, size=20), "x1": rng.normal(size=20), "x2": rng.normal(size=20)},
        index=pd.Index([f"app{i:02d}" for i in rng.permutation(20)], name="applicant"),
    )
    return frame


class TestSilentNonsense:
    def test_nan_output_rows_are_refused_by_label(self, positive_rows):
        explainer = skig.Explainer(LogOfFirst(), n_steps=8).fit(positive_rows)
        bad = positive_rows.copy()
        bad_labels = [bad.index[3], bad.index[11]]
        bad.loc[bad_labels, "x0"] = -1.0
        with pytest.raises(ValueError) as info:
            explainer.explain(bad)
        message = str(info.value)
        for label in bad_labels:
            assert repr(label) in message, message
        good_labels = [label for label in bad.index if label not in bad_labels]
        assert not any(repr(label) in message for label in good_labels), message

    def test_non_finite_output_at_the_baseline_is_refused(self, positive_rows):
        explainer = skig.Explainer(LogOfFirst(), baseline="zero", n_steps=8).fit(positive_rows)
        with pytest.raises(ValueError, match="baseline"):
            explainer.explain(positive_rows)

    def test_nan_on_part_of_the_path_gives_nan_rows_and_a_warning(self, positive_rows):
        X = positive_rows.copy()
        crossing = [X.index[2], X.index[7], X.index[15]]
        X.loc[crossing, "x0"] = -X.loc[crossing, "x0"]  # still |x0| >= 1.5: finite at the row, NaN half-way
        baseline = positive_rows.iloc[[0]]
        explainer = skig.Explainer(SqrtOfSquare(), baseline=baseline, n_steps=16).fit(positive_rows)
        with pytest.warns(UserWarning) as record:
            exp = explainer.explain(X)
        messages = [str(warning.message) for warning in record if "NaN" in str(warning.message)]
        assert len(messages) == 1, [str(warning.message) for warning in record]
        for label in crossing:
            assert repr(label) in messages[0]
        assert exp.values.loc[crossing].isna().all().all()
        fine = X.drop(index=crossing)
        assert np.isfinite(exp.values.loc[fine.index].to_numpy()).all()
        # The other rows are what explaining them alone gives.
        alone = explainer.explain(fine)
        pd.testing.assert_frame_equal(exp.values.loc[fine.index], alone.values, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(alone.delta, 0.0, atol=1e-5)
        # No finite number comes out of the NaN rows: importance is their NaN, or the other rows' mean only.
        importance = exp.importance()
        fine_mean = alone.values.abs().mean(axis=0)
        as_zero = exp.values.fillna(0.0).abs().mean(axis=0)
        for name, value in importance.items():
            assert np.isnan(value) or np.isclose(value, fine_mean[name], rtol=1e-12), name
            assert not (np.isclose(value, as_zero[name], rtol=1e-12) and as_zero[name] != fine_mean[name]), name

    def test_nan_rows_get_no_adverse_action_reasons(self, positive_rows):
        """A row whose attributions are NaN must never get reasons (they would be its columns in column order)."""
        X = positive_rows.copy()
        crossing = X.index[4]
        X.loc[crossing, "x0"] = -X.loc[crossing, "x0"]
        explainer = skig.Explainer(SqrtOfSquare(), baseline=positive_rows.iloc[[0]], n_steps=16).fit(positive_rows)
        with pytest.warns(UserWarning, match=re.escape(repr(crossing))):
            exp = explainer.explain(X)
        try:
            with pytest.warns(UserWarning, match=re.escape(repr(crossing))):
                table = skig.reason_codes(exp, n=3)
        except ValueError as error:  # refusing the whole table, naming the row, is as good
            assert repr(crossing) in str(error)
            return
        assert crossing not in set(table["row"]), table[table["row"] == crossing]
        assert np.isfinite(table["contribution"].to_numpy(dtype=np.float64)).all()
        fine = skig.reason_codes(exp.loc[X.index != crossing], n=3)
        pd.testing.assert_frame_equal(table.reset_index(drop=True), fine.reset_index(drop=True))

    def test_zero_gradient_model_is_refused_at_fit(self):
        X = np.random.RandomState(7).normal(size=(30, 3)) * 3
        with pytest.raises(TypeError, match=r"gradient is zero"):
            skig.Explainer(Rounded()).fit(X)

    @pytest.mark.parametrize(
        "column, values",
        [
            ("grade", lambda n: np.array(["A", "B", "C"] * n)[:n]),
            ("opened", lambda n: pd.date_range("2020-01-01", periods=n, freq="D")),
        ],
        ids=["string", "datetime"],
    )
    def test_non_numeric_column_for_a_plain_module_is_named(self, positive_rows, column, values):
        n = len(positive_rows)
        bad = positive_rows.drop(columns="x2").assign(**{column: values(n)})
        with pytest.raises(ValueError, match=rf"column '{column}'"):
            skig.Explainer(LogOfFirst()).fit(bad)
        explainer = skig.Explainer(LogOfFirst(), n_steps=4).fit(positive_rows)
        with pytest.raises(ValueError, match=r"column 'x2'.*holds"):
            explainer.explain(positive_rows.assign(x2=values(n)))

    @pytest.mark.parametrize("name", ["n_steps", "max_steps", "n_samples", "n_baselines", "batch_size"])
    def test_bool_is_not_a_count(self, positive_rows, name):
        params = {name: True, **({"n_steps": "auto"} if name == "max_steps" else {})}
        with pytest.raises((TypeError, ValueError), match=name):
            skig.Explainer(LogOfFirst(), **params).fit(positive_rows)

    @pytest.mark.parametrize("params", [{"n_steps": 10**7}, {"n_steps": "auto", "max_steps": 10**7}])
    def test_absurd_step_counts_are_refused_before_any_work(self, positive_rows, params):
        explainer = skig.Explainer(LogOfFirst(), **params)
        started = time.perf_counter()
        with pytest.raises(InvalidParameterError, match=rf"'{next(reversed(params))}'"):
            explainer.fit(positive_rows)
        assert not hasattr(explainer, "n_features_in_")
        # Refused up front: no time was spent on the steps (a generous bound, never a timing assertion on work).
        assert time.perf_counter() - started < 30


# ----------------------------------------------------------------------------------------------- 6. contract gaps


class FourLogits(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x):
        return self.linear(x)


class TestContractGaps:
    def test_clone_keeps_pandas_output(self, applicants):
        explainer = skig.Explainer(Scorer(), n_steps=8).set_output(transform="pandas")
        copy = clone(explainer)
        assert copy.model is explainer.model
        out = copy.fit(applicants).transform(applicants.iloc[:5])
        assert isinstance(out, pd.DataFrame)
        pd.testing.assert_index_equal(out.index, applicants.index[:5])
        assert list(out.columns) == list(applicants.columns)
        expected = explainer.fit(applicants).explain(applicants.iloc[:5]).values
        pd.testing.assert_frame_equal(out, expected, check_exact=True)

    def test_skorch_classes_that_do_not_match_the_outputs_are_refused(self, applicants):
        from skorch import NeuralNetClassifier

        net = NeuralNetClassifier(FourLogits, classes=[0, 1, 2], criterion=torch.nn.CrossEntropyLoss)
        net.initialize()
        assert list(net.classes_) == [0, 1, 2]
        X = applicants.to_numpy(dtype=np.float32).copy()
        assert net.predict_proba(X).shape[1] == 4, "skorch itself does not notice: explaining would mislabel classes"
        with pytest.raises(ValueError, match=r"(?s)3 classes.*4 class outputs"):
            skig.Explainer(net).fit(X)


def test_adverse_action_marks_an_unexplained_applicant_as_unknown_not_as_having_no_reasons():
    index = pd.Index([7, 3, 9], name="application")
    values = pd.DataFrame({"Income": [0.2, np.nan, -0.1], "Debt": [0.1, np.nan, 0.3]}, index=index)
    exp = skig.Explanation(values, pd.Series(0.1, index=index), pd.Series([0.4, 0.5, 0.3], index=index), values)
    with pytest.warns(UserWarning, match=r"rows \[3\] have NaN attributions"):
        notice = skig.adverse_action(exp, n=2)
    assert pd.isna(notice.loc[3, "n_reasons"]) and notice.loc[[7, 9], "n_reasons"].tolist() == [2, 1]
    assert notice.loc[3, ["reason_1", "reason_2"]].isna().all()
