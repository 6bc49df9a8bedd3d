"""scikit-learn estimators around fastann models: `SKLearnClassifier` and `SKLearnRegressor` (the signatures of Keras
3's `keras.wrappers`), so that scikit-learn's tools (`GridSearchCV`, `cross_val_score`, `Pipeline`, ...) can tune and
evaluate a fastann network. Needs scikit-learn: `pip install fastann[sklearn]`.

    def build(X, y, units=32, activation="relu", learning_rate=1e-3):
        model = Sequential([Dense(units, input_dim=X.shape[1], activation=activation),
                            Dense(y.shape[1], activation="softmax")])
        model.compile(optimizer=Adam(learning_rate), loss="categorical_crossentropy")
        return model

    search = GridSearchCV(SKLearnClassifier(build, fit_kwargs={"epochs": 20}),
                          {"model_kwargs__units": [16, 64], "fit_kwargs__batch_size": [16, 64]}, cv=3)

`model` is a build function, called as `model(X=X, y=y, **model_kwargs)` with the training data (for a classifier, y
one-hot encoded: `y.shape[1]` is the number of classes; for a regressor, y as a 2-D array) and returning a compiled
`fastann.models.Sequential`; or a compiled model, which each fit copies (same architecture, fresh weights, same
compile configuration) unless `warm_start=True`.

Hyperparameters: the build function's arguments are tuned as `model_kwargs__<name>` and fit's as `fit_kwargs__<name>`
(`epochs`, `batch_size`, ...); a whole dict can also be given, as with Keras 3 (`{"model_kwargs": [{...}, {...}]}`).
"""

from __future__ import annotations

import numpy as np

from . import losses as _losses
from .models import Sequential

try:
    import sklearn
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
except ImportError:  # the classes exist without scikit-learn; making one raises ImportError
    sklearn = None

    class BaseEstimator:
        pass

    class ClassifierMixin:
        pass

    class RegressorMixin:
        pass

__all__ = ["SKLearnClassifier", "SKLearnRegressor"]

_NESTED = ("model_kwargs", "fit_kwargs")


def _validate_data(estimator, X, y="no_validation", reset=True, **check_params):
    """scikit-learn's input validation (sets/checks n_features_in_ and feature_names_in_), across its versions."""
    try:
        from sklearn.utils.validation import validate_data  # scikit-learn >= 1.6
    except ImportError:
        return estimator._validate_data(X, y, reset=reset, **check_params)
    return validate_data(estimator, X, y, reset=reset, **check_params)


def _copy_compiled(model: Sequential) -> Sequential:
    """A new model with `model`'s architecture, fresh weights and its compile configuration (a fresh optimizer)."""
    copy = Sequential.from_config(model.get_config())
    if model.optimizer is not None:
        opt = model.optimizer
        copy.compile(optimizer=type(opt)(**opt.get_config()), loss=model.loss, metrics=list(model.compiled_metrics))
    return copy


class _SKLearnWrapper(BaseEstimator):
    """What the classifier and the regressor share: building the model, fit, parameters."""

    def __init__(self, model, warm_start=False, model_kwargs=None, fit_kwargs=None):
        if sklearn is None:
            raise ImportError(f"fastann.wrappers.{type(self).__name__} needs scikit-learn: "
                              "pip install fastann[sklearn]  (or: pip install scikit-learn)")
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs

    # --- parameters: build-function and fit arguments are tunable as model_kwargs__<name> / fit_kwargs__<name> ---
    def get_params(self, deep=True) -> dict:
        params = super().get_params(deep=False)
        if deep:
            for head in _NESTED:
                if isinstance(params.get(head), dict):
                    params.update({f"{head}__{k}": v for k, v in params[head].items()})
        return params

    def set_params(self, **params):
        """Sets parameters; `model_kwargs__units=64` sets one entry of model_kwargs (added if absent), and
        `fit_kwargs__epochs=20` one of fit_kwargs, so GridSearchCV can tune them one by one."""
        plain, nested = {}, {}
        for key, value in params.items():
            head, sep, name = key.partition("__")
            if sep and head in _NESTED:
                if not name:
                    raise ValueError(f"invalid parameter {key!r} for {type(self).__name__}: no name after '__'")
                nested.setdefault(head, {})[name] = value
            else:
                plain[key] = value
        super().set_params(**plain)
        for head, updates in nested.items():
            current = getattr(self, head)
            if current is None:
                current = {}
            if not isinstance(current, dict):
                raise ValueError(f"cannot set {head}__{next(iter(updates))}: {head} is {current!r}, not a dict")
            setattr(self, head, {**current, **updates})  # a new dict: never change the one the caller passed
        return self

    # --- fit ----------------------------------------------------------------------------------------------------
    def _build_model(self, X, y_for_build):
        """The model to train: the previous one (warm_start), a copy of the given model, or the build function's."""
        name = type(self).__name__
        if self.warm_start and getattr(self, "model_", None) is not None:
            return self.model_
        if isinstance(self.model, Sequential):
            if self.model_kwargs:
                raise ValueError(f"{name}: model_kwargs are the build function's arguments, but model is a model "
                                 "instance; pass a function that builds the model to use them")
            model = self.model if self.warm_start else _copy_compiled(self.model)
        elif callable(self.model):
            kwargs = self.model_kwargs or {}
            if not isinstance(kwargs, dict):
                raise TypeError(f"{name}: model_kwargs must be a dict or None, got {type(kwargs).__name__}")
            model = self.model(X=X, y=y_for_build, **kwargs)
            if not isinstance(model, Sequential):
                raise TypeError(f"{name}: the build function returned {type(model).__name__}; it must return a "
                                "compiled fastann.models.Sequential")
        else:
            raise TypeError(f"{name}: model must be a compiled fastann.models.Sequential or a function returning "
                            f"one (called as model(X=X, y=y, **model_kwargs)), got {type(self.model).__name__}")
        if not model._core.compiled:
            raise ValueError(f"{name}: the model is not compiled; call model.compile(optimizer=..., loss=...) "
                             "before returning it")
        return model

    def _fit_model(self, model, X, target, fit_params):
        fit_kwargs = self.fit_kwargs or {}
        if not isinstance(fit_kwargs, dict):
            raise TypeError(f"{type(self).__name__}: fit_kwargs must be a dict or None, got "
                            f"{type(fit_kwargs).__name__}")
        kwargs = {"verbose": 0, **fit_kwargs, **fit_params}
        history = model.fit(X, target, **kwargs)
        self.model_ = model
        self.history_ = history.history
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return getattr(self, "model_", None) is not None

    def _raw_predict(self, X):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        X = _validate_data(self, X, reset=False, dtype=np.float32)
        return self.model_.predict(X, verbose=0)


class SKLearnClassifier(ClassifierMixin, _SKLearnWrapper):
    """A scikit-learn classifier around a fastann model.

    Args:
        model: a function building and compiling the model, called as `model(X=X, y=y, **model_kwargs)` with y
            one-hot encoded (`y.shape[1]` classes); or a compiled `Sequential`, copied (same architecture and
            compile configuration, fresh weights) at each fit unless `warm_start`.
        warm_start: keep training the fitted model (or, for a model instance, the instance itself) on the next fit.
        model_kwargs: keyword arguments of the build function (tunable one by one as `model_kwargs__<name>`).
        fit_kwargs: keyword arguments of `model.fit` (`epochs`, `batch_size`, `validation_split`, `callbacks`, ...;
            tunable as `fit_kwargs__<name>`). Those given to `fit` itself take precedence; `verbose` defaults to 0.

    The labels may be of any type (strings, integers, ...). The model is trained on one-hot targets when its last
    layer has one unit per class (categorical_crossentropy), on class indices with
    sparse_categorical_crossentropy, and on 0/1 when a binary problem has a single sigmoid output
    (binary_crossentropy). `predict_proba` returns the class probabilities in the order of `classes_`.

    Attributes after fit: `model_` (the trained Sequential), `history_` (History.history), `classes_`,
    `n_features_in_` (and `feature_names_in_` for a DataFrame).
    """

    def fit(self, X, y, **fit_params):
        """Builds (or copies) the model and trains it on X and y; keyword arguments go to `model.fit`."""
        from sklearn.utils.multiclass import check_classification_targets

        X, y = _validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        classes, y_index = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"{type(self).__name__}: y holds only one class ({classes[0]!r}); a classifier needs "
                             "at least two classes")
        if (self.warm_start and self.__sklearn_is_fitted__()
                and not (len(classes) == len(self.classes_) and np.all(classes == self.classes_))):
            raise ValueError(f"{type(self).__name__}: warm_start needs the classes of the previous fit "
                             f"({list(self.classes_)}), got {list(classes)}")
        onehot = np.eye(len(classes), dtype=np.float32)[y_index]
        model = self._build_model(X, onehot)
        target = self._target_for(model, y_index, onehot)
        self.classes_ = classes
        return self._fit_model(model, X, target, fit_params)

    def _target_for(self, model, y_index, onehot):
        """y as this model trains on it: class indices (sparse_categorical_crossentropy), one-hot (one output unit
        per class) or 0/1 (a binary problem with one output unit)."""
        n_classes = onehot.shape[1]
        outputs = model._core.output_dim
        if outputs == n_classes:
            if isinstance(_losses.get(model.loss), _losses.SparseCategoricalCrossentropy):
                return y_index.astype(np.float32)
            return onehot
        if outputs == 1 and n_classes == 2:
            return y_index.astype(np.float32).reshape(-1, 1)
        binary = " (or 1 with a sigmoid and binary_crossentropy)" if n_classes == 2 else ""
        raise ValueError(f"{type(self).__name__}: the model has {outputs} output units but y has {n_classes} "
                         f"classes; give the last layer {n_classes} units{binary}: y.shape[1] in the build function")

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in the order of `classes_`. A single sigmoid
        output p gives [1 - p, p]; rows are normalised to sum to 1 (a softmax after `from_logits` losses)."""
        raw = self._raw_predict(X).astype(np.float64)
        from_logits = _losses.get(self.model_.loss).from_logits
        if raw.shape[1] == 1:
            p = raw[:, 0]
            if from_logits:
                p = 1.0 / (1.0 + np.exp(-p))
            p = np.clip(p, 0.0, 1.0)
            return np.column_stack([1.0 - p, p])
        if from_logits:
            raw = np.exp(raw - raw.max(axis=1, keepdims=True))
        p = np.clip(raw, 0.0, None)
        total = p.sum(axis=1, keepdims=True)
        return np.divide(p, total, out=np.full_like(p, 1.0 / p.shape[1]), where=total > 0)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each sample (labels from `classes_`)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class SKLearnRegressor(RegressorMixin, _SKLearnWrapper):
    """A scikit-learn regressor around a fastann model.

    Args:
        model: a function building and compiling the model, called as `model(X=X, y=y, **model_kwargs)` with y as a
            2-D array (`y.shape[1]` outputs); or a compiled `Sequential`, copied at each fit unless `warm_start`.
        warm_start, model_kwargs, fit_kwargs: as for `SKLearnClassifier`.

    y may be 1-D (one target: `predict` returns 1-D) or 2-D (several targets). `score` is R^2.
    Attributes after fit: `model_`, `history_`, `n_features_in_` (and `feature_names_in_`).
    """

    def fit(self, X, y, **fit_params):
        """Builds (or copies) the model and trains it on X and y; keyword arguments go to `model.fit`."""
        X, y = _validate_data(self, X, y, dtype=np.float32, multi_output=True, y_numeric=True)
        target = np.asarray(y, dtype=np.float32)
        one_target = target.ndim == 1
        if one_target:
            target = target.reshape(-1, 1)
        model = self._build_model(X, target)
        if model._core.output_dim != target.shape[1]:
            raise ValueError(f"{type(self).__name__}: the model has {model._core.output_dim} output units but y has "
                             f"{target.shape[1]} target(s); give the last layer y.shape[1] units in the build "
                             "function")
        self._one_target = one_target
        return self._fit_model(model, X, target, fit_params)

    def predict(self, X) -> np.ndarray:
        """The model's predictions: shape (n_samples,) when fit saw a 1-D y, else (n_samples, n_targets)."""
        out = self._raw_predict(X).astype(np.float64)  # the model computes in float32
        return out[:, 0] if self._one_target else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": True}
