"""fastann.wrappers: scikit-learn estimators around fastann models (GridSearchCV, estimator checks, clone/pickle)."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastann  # noqa: E402
from fastann import optimizers  # noqa: E402
from fastann.layers import Dense  # noqa: E402
from fastann.models import Sequential  # noqa: E402
from fastann.wrappers import SKLearnClassifier, SKLearnRegressor  # noqa: E402

SKLEARN_VERSION = tuple(int(p) for p in sklearn.__version__.split(".")[:2])
OPTIMIZERS = {"adam": optimizers.Adam, "sgd": optimizers.SGD, "rmsprop": optimizers.RMSprop}


def mlp(X, y, layers=1, units=32, activation="relu", optimizer="adam", learning_rate=1e-3,
        loss="categorical_crossentropy", output_activation="softmax", seed=0):
    """The textbook's knobs: hidden layers, nodes per layer, activation, optimizer and its learning rate. Seeded, so
    that a fit is repeatable (the estimator checks need it)."""
    fastann.utils.set_random_seed(seed)
    model = Sequential()
    for i in range(layers):
        model.add(Dense(units, activation=activation, **({"input_dim": X.shape[1]} if i == 0 else {})))
    model.add(Dense(y.shape[1], activation=output_activation))
    model.compile(optimizer=OPTIMIZERS[optimizer](learning_rate), loss=loss, metrics=["accuracy"])
    return model


def regression_mlp(X, y, units=32, learning_rate=1e-2, seed=0):
    fastann.utils.set_random_seed(seed)
    model = Sequential([Dense(units, input_dim=X.shape[1], activation="tanh"), Dense(y.shape[1])])
    model.compile(optimizer=optimizers.Adam(learning_rate), loss="mse")
    return model


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)


def _nonlinear_regression(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, 4))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.5 * X[:, 3] + 0.05 * rng.standard_normal(n)
    return train_test_split(X, y, test_size=0.25, random_state=0)


# --- GridSearchCV: the textbook's hyperparameter search ---------------------------------------------------------------

def test_grid_search_on_digits(digits):
    X_train, X_test, y_train, y_test = digits
    param_grid = [
        # network shape: layers, nodes, activation
        {"model_kwargs__layers": [1, 2], "model_kwargs__units": [16, 64],
         "model_kwargs__activation": ["relu", "tanh"]},
        # training: optimizer, learning rate, batch size, epochs
        {"model_kwargs__optimizer": ["sgd", "adam"], "model_kwargs__learning_rate": [1e-3, 1e-2],
         "fit_kwargs__batch_size": [16, 128], "fit_kwargs__epochs": [2, 10]},
    ]
    search = GridSearchCV(SKLearnClassifier(mlp, fit_kwargs={"epochs": 10, "batch_size": 32}), param_grid, cv=3)
    search.fit(X_train, y_train)

    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 8 + 16 and np.all(np.isfinite(scores))
    assert search.best_score_ == scores.max()
    majority = np.bincount(y_train).max() / len(y_train)
    assert majority < 0.15
    assert search.best_score_ > 0.85
    # The grid matters: the weakest setting (e.g. SGD at lr 1e-3 for 2 epochs) is far from the best.
    assert scores.min() < search.best_score_ - 0.2

    best = search.best_estimator_
    for key, value in search.best_params_.items():
        assert best.get_params()[key] == value
    dense = [lyr for lyr in best.model_.layers if isinstance(lyr, Dense)]
    assert len(dense) == best.model_kwargs.get("layers", 1) + 1
    assert dense[0].units == best.model_kwargs.get("units", 32) and dense[-1].units == 10
    assert len(best.history_["loss"]) == best.fit_kwargs["epochs"]

    predicted = search.predict(X_test)
    test_accuracy = search.score(X_test, y_test)
    assert test_accuracy == accuracy_score(y_test, predicted) > 0.85
    # Seeded build function: refitting the best parameters gives the same model.
    again = clone(best).fit(X_train, y_train)
    np.testing.assert_array_equal(again.predict_proba(X_test), best.predict_proba(X_test))


def test_grid_search_regressor():
    X_train, X_test, y_train, y_test = _nonlinear_regression()
    search = GridSearchCV(SKLearnRegressor(regression_mlp, fit_kwargs={"epochs": 60, "batch_size": 32}),
                          {"model_kwargs__units": [4, 64], "model_kwargs__learning_rate": [1e-3, 1e-2]}, cv=3)
    search.fit(X_train, y_train)
    assert search.best_params_ == {"model_kwargs__units": 64, "model_kwargs__learning_rate": 1e-2}
    prediction = search.predict(X_test)
    assert prediction.shape == y_test.shape and prediction.dtype == np.float64
    score = search.score(X_test, y_test)
    assert score == pytest.approx(r2_score(y_test, prediction))
    # The target is non-linear: the tuned network beats a linear model by far.
    linear = LinearRegression().fit(X_train, y_train).score(X_test, y_test)
    assert score > 0.9 and score > linear + 0.2


def test_keras_style_model_kwargs_dicts_in_the_grid(digits):
    X_train, _, y_train, _ = digits
    grid = {"model_kwargs": [{"units": 8, "activation": "tanh"}, {"units": 32}], "fit_kwargs": [{"epochs": 3}]}
    search = GridSearchCV(SKLearnClassifier(mlp), grid, cv=2).fit(X_train[:400], y_train[:400])
    assert len(search.cv_results_["params"]) == 2
    assert search.best_estimator_.model_.layers[0].units in (8, 32)


def test_in_a_pipeline_and_cross_val_score(digits):
    X_train, _, y_train, _ = digits
    pipe = make_pipeline(StandardScaler(), SKLearnClassifier(mlp, fit_kwargs={"epochs": 15}))
    scores = cross_val_score(pipe, X_train * 16, y_train, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85
    pipe.set_params(sklearnclassifier__model_kwargs__units=8)
    assert pipe.get_params()["sklearnclassifier__model_kwargs"] == {"units": 8}


# --- scikit-learn's estimator checks --------------------------------------------------------------------------------

# The checks that cannot pass, with the reason (xfail_strict: a check that starts passing fails here, to be updated).
EXPECTED_FAILED_CHECKS = {
    "SKLearnClassifier": {},
    "SKLearnRegressor": {},
}

class Named:
    """A build function whose repr is its name, so that the checks' test ids hold no memory address."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __repr__(self):
        return self.fn.__name__


CHECKED_ESTIMATORS = [
    SKLearnClassifier(Named(mlp), model_kwargs={"learning_rate": 1e-2}, fit_kwargs={"epochs": 30, "seed": 0}),
    SKLearnRegressor(Named(regression_mlp), fit_kwargs={"epochs": 50, "seed": 0}),
]

if SKLEARN_VERSION >= (1, 6):
    @parametrize_with_checks(CHECKED_ESTIMATORS,
                             expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS[type(est).__name__])
    def test_sklearn_estimator_checks(estimator, check):
        name = getattr(check, "func", check).__name__
        try:
            check(estimator)
        except AssertionError as error:
            if name == "check_methods_subset_invariance" and "not invariant when applied to a subset" in str(error):
                # The check compares with rtol=1e-7, under float32's epsilon (1.2e-7); fastann's predict sums
                # batches of up to 8 rows in another order than larger ones (another GEMM path), so a row's outputs
                # may differ in the last bit or two. Whether that shows depends on the data and the CPU's kernels.
                pytest.xfail("float32: predict on a subset of up to 8 rows may differ from the full batch by 1-2 ulp")
            raise
else:
    @pytest.mark.skip(reason="expected_failed_checks needs scikit-learn >= 1.6")
    def test_sklearn_estimator_checks():
        pass


# --- labels, outputs and losses -------------------------------------------------------------------------------------

def _blobs(n=240, seed=0, k=3):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, 4)) * 4
    idx = rng.integers(0, k, n)
    return (centers[idx] + rng.standard_normal((n, 4))).astype(np.float64), idx


def test_string_labels_and_predict_proba():
    X, idx = _blobs()
    labels = np.array(["setosa", "versicolor", "virginica"])[idx]
    seen = {}

    def build(X, y, **kwargs):
        seen["y"] = y
        return mlp(X, y, learning_rate=1e-2, **kwargs)

    clf = SKLearnClassifier(build, fit_kwargs={"epochs": 20}).fit(X, labels)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    # The build function sees y one-hot encoded (Keras 3's convention): y.shape[1] is the number of classes.
    np.testing.assert_array_equal(seen["y"], np.eye(3)[idx])
    assert clf.n_features_in_ == 4
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(proba, clf.model_.predict(X, verbose=0), atol=1e-6)
    predicted = clf.predict(X)
    np.testing.assert_array_equal(predicted, clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X, labels) == accuracy_score(labels, predicted) > 0.95


def test_sparse_categorical_crossentropy_trains_on_class_indices():
    X, idx = _blobs(seed=1)
    labels = idx * 10 + 5  # 5, 15, 25
    clf = SKLearnClassifier(mlp, model_kwargs={"loss": "sparse_categorical_crossentropy", "learning_rate": 1e-2},
                            fit_kwargs={"epochs": 20}).fit(X, labels)
    assert clf.model_.loss == "sparse_categorical_crossentropy"
    assert list(clf.classes_) == [5, 15, 25] and clf.score(X, labels) > 0.95
    # The same run on one-hot targets with categorical_crossentropy gives the same model.
    dense = SKLearnClassifier(mlp, model_kwargs={"learning_rate": 1e-2}, fit_kwargs={"epochs": 20}).fit(X, labels)
    np.testing.assert_allclose(clf.predict_proba(X), dense.predict_proba(X), atol=1e-5)


def test_binary_problem_with_one_sigmoid_output():
    X, idx = _blobs(k=2, seed=2)
    labels = np.where(idx == 1, "yes", "no")

    def build(X, y):
        fastann.utils.set_random_seed(0)
        model = Sequential([Dense(8, input_dim=X.shape[1], activation="relu"), Dense(1, activation="sigmoid")])
        model.compile(optimizer=optimizers.Adam(1e-2), loss="binary_crossentropy", metrics=["accuracy"])
        return model

    clf = SKLearnClassifier(build, fit_kwargs={"epochs": 20}).fit(X, labels)
    proba = clf.predict_proba(X)
    p = clf.model_.predict(X, verbose=0)[:, 0]
    np.testing.assert_allclose(proba, np.column_stack([1 - p, p]), atol=1e-6)
    assert list(clf.classes_) == ["no", "yes"]
    np.testing.assert_array_equal(clf.predict(X), np.where(p > 0.5, "yes", "no"))
    assert clf.history_["accuracy"][-1] > 0.95


def test_from_logits_outputs_become_probabilities():
    X, idx = _blobs(seed=3)
    clf = SKLearnClassifier(mlp, model_kwargs={"output_activation": None, "learning_rate": 1e-2,
                                               "loss": fastann.losses.CategoricalCrossentropy(from_logits=True)},
                            fit_kwargs={"epochs": 10}).fit(X, idx)
    logits = clf.model_.predict(X, verbose=0).astype(np.float64)
    softmax = np.exp(logits - logits.max(axis=1, keepdims=True))
    softmax /= softmax.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(X), softmax, atol=1e-9)
    assert clf.score(X, idx) > 0.9


def test_regressor_with_several_targets():
    X_train, X_test, y_train, y_test = _nonlinear_regression()
    Y_train = np.column_stack([y_train, -2 * y_train])
    reg = SKLearnRegressor(regression_mlp, fit_kwargs={"epochs": 40}).fit(X_train, Y_train)
    assert reg.model_.output_shape == (None, 2)
    assert reg.predict(X_test).shape == (len(X_test), 2)
    assert reg.score(X_test, np.column_stack([y_test, -2 * y_test])) > 0.8
    one = SKLearnRegressor(regression_mlp, fit_kwargs={"epochs": 2}).fit(X_train, y_train.reshape(-1, 1))
    assert one.predict(X_test).shape == (len(X_test), 1)


# --- building the model ---------------------------------------------------------------------------------------------

def _compiled_model():
    model = Sequential([Dense(16, input_dim=4, activation="relu", name="h"), Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.RMSprop(0.02, rho=0.8), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def test_a_model_instance_is_copied_for_each_fit():
    X, idx = _blobs(seed=4)
    model = _compiled_model()
    before = model.get_weights()
    clf = SKLearnClassifier(model, fit_kwargs={"epochs": 5})
    clf.fit(X, idx)
    assert clf.model_ is not model
    for a, b in zip(model.get_weights(), before):  # the given model is left alone
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0
    copy = clf.model_
    assert copy.get_config() == model.get_config()
    assert type(copy.optimizer) is optimizers.RMSprop and copy.optimizer.get_config() == model.optimizer.get_config()
    assert copy.metrics_names == ["loss", "accuracy"]
    assert copy.optimizer.iterations == 5 * int(np.ceil(len(X) / 32))
    first = clf.model_
    clf.fit(X, idx)
    assert clf.model_ is not first and clf.model_.optimizer.iterations == first.optimizer.iterations


def test_warm_start_continues_training():
    X, idx = _blobs(seed=5)
    clf = SKLearnClassifier(mlp, warm_start=True, fit_kwargs={"epochs": 2, "batch_size": 60})
    clf.fit(X, idx)
    model = clf.model_
    clf.fit(X, idx)
    assert clf.model_ is model and model.optimizer.iterations == 2 * 2 * 4
    with pytest.raises(ValueError, match="warm_start needs the classes"):
        clf.fit(X, idx + 1)
    # warm_start with a model instance trains that instance (Keras 3's documented behaviour).
    given = _compiled_model()
    SKLearnClassifier(given, warm_start=True, fit_kwargs={"epochs": 1}).fit(X, idx)
    assert given.optimizer.iterations == 8


def test_fit_kwargs_precedence_and_silence(capsys):
    X, idx = _blobs()
    clf = SKLearnClassifier(mlp, fit_kwargs={"epochs": 1})
    clf.fit(X, idx, epochs=3)
    assert len(clf.history_["loss"]) == 3 and clf.fit_kwargs == {"epochs": 1}
    assert capsys.readouterr().out == ""
    clf.fit(X, idx, verbose=2)
    assert "loss" in capsys.readouterr().out


def test_set_params_of_build_and_fit_arguments():
    kwargs = {"units": 16}
    est = SKLearnClassifier(mlp, model_kwargs=kwargs, fit_kwargs={"epochs": 2})
    params = est.get_params()
    assert params["model_kwargs__units"] == 16 and params["fit_kwargs__epochs"] == 2
    assert set(est.get_params(deep=False)) == {"model", "warm_start", "model_kwargs", "fit_kwargs"}
    est.set_params(model_kwargs__units=64, model_kwargs__activation="tanh", fit_kwargs__batch_size=8, warm_start=True)
    assert est.model_kwargs == {"units": 64, "activation": "tanh"}
    assert est.fit_kwargs == {"epochs": 2, "batch_size": 8} and est.warm_start is True
    assert kwargs == {"units": 16}  # the caller's dict is not changed
    SKLearnRegressor(regression_mlp).set_params(model_kwargs__units=3)  # from None
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(unitz=3)
    with pytest.raises(ValueError, match="no name after"):
        est.set_params(model_kwargs__=3)
    with pytest.raises(ValueError, match="not a dict"):
        SKLearnClassifier(mlp, model_kwargs=[1]).set_params(model_kwargs__units=3)


@pytest.mark.parametrize("model, kwargs, error, match", [
    (42, {}, TypeError, "must be a compiled fastann.models.Sequential or a function"),
    (lambda X, y: "not a model", {}, TypeError, "returned str"),
    (lambda X, y: Sequential([Dense(3)]), {}, ValueError, "not compiled"),
    (_compiled_model(), {"model_kwargs": {"units": 3}}, ValueError, "model_kwargs are the build function"),
    (mlp, {"model_kwargs": {"units": 3, "colour": "red"}}, TypeError, "colour"),
    (mlp, {"model_kwargs": "units=3"}, TypeError, "model_kwargs must be a dict"),
    (mlp, {"fit_kwargs": ["epochs", 3]}, TypeError, "fit_kwargs must be a dict"),
])
def test_bad_models_and_arguments(model, kwargs, error, match):
    X, idx = _blobs()
    with pytest.raises(error, match=match):
        SKLearnClassifier(model, **kwargs).fit(X, idx)


def test_output_units_must_match_the_classes():
    X, idx = _blobs()

    def four_outputs(X, y):
        model = Sequential([Dense(4, input_dim=X.shape[1], activation="softmax")])
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        return model

    with pytest.raises(ValueError, match="4 output units but y has 3 classes; give the last layer 3 units"):
        SKLearnClassifier(four_outputs).fit(X, idx)
    with pytest.raises(ValueError, match="1 output units but y has 2 target"):
        SKLearnRegressor(lambda X, y: _compiled_regression(1)).fit(X, np.column_stack([idx, idx]))
    with pytest.raises(ValueError, match="only one class"):
        SKLearnClassifier(mlp).fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="Unknown label type"):
        SKLearnClassifier(mlp).fit(X, X[:, 0])


def _compiled_regression(outputs):
    model = Sequential([Dense(outputs, input_dim=4)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_feature_count_is_checked_and_unfitted_raises():
    from sklearn.exceptions import NotFittedError

    X, idx = _blobs()
    clf = SKLearnClassifier(mlp, fit_kwargs={"epochs": 1})
    with pytest.raises(NotFittedError):
        clf.predict(X)
    clf.fit(X, idx)
    with pytest.raises(ValueError, match="X has 3 features, but SKLearnClassifier is expecting 4"):
        clf.predict(X[:, :3])


# --- clone and pickle -----------------------------------------------------------------------------------------------

def test_clone_and_pickle_unfitted():
    est = SKLearnClassifier(mlp, model_kwargs={"units": 8}, fit_kwargs={"epochs": 2})
    for copy in (clone(est), pickle.loads(pickle.dumps(est))):
        assert copy.get_params() == est.get_params()
        assert copy.model_kwargs is not est.model_kwargs
        assert not hasattr(copy, "model_")
    with_instance = SKLearnClassifier(_compiled_model())
    cloned = clone(with_instance)
    assert cloned.model is not with_instance.model
    assert cloned.model.get_config() == with_instance.model.get_config()
    X, idx = _blobs()
    cloned.fit(X, idx, epochs=1)
    assert with_instance.model.optimizer.iterations == 0


@pytest.mark.parametrize("cls, build, y_of", [
    (SKLearnClassifier, mlp, lambda idx: np.array(["a", "b", "c"])[idx]),
    (SKLearnRegressor, regression_mlp, lambda idx: idx * 0.5),
])
def test_pickle_fitted(cls, build, y_of):
    X, idx = _blobs()
    est = cls(build, fit_kwargs={"epochs": 3}).fit(X, y_of(idx))
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict(X), est.predict(X))
    assert copy.history_ == est.history_ and copy.n_features_in_ == 4
    assert copy.model_.get_config() == est.model_.get_config()
    cloned = clone(est)
    assert not hasattr(cloned, "model_") and cloned.get_params() == est.get_params()


def test_without_scikit_learn_a_clear_import_error():
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "import fastann.wrappers as w\n"
            "try:\n    w.SKLearnClassifier(lambda X, y: None)\n"
            "except ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "needs scikit-learn: pip install fastann[sklearn]" in out
