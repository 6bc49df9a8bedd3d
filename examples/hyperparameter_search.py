"""Hyperparameter search for an MLP on scikit-learn's handwritten digits (8x8 images, 10 classes), with GridSearchCV.

The knobs of the textbook's discussion: the number of hidden layers, the nodes per layer, the activation function,
the optimizer and its learning rate, the batch size and the number of epochs. Each of the 128 combinations is trained
on 2/3 of the training set and scored on the remaining 1/3, three times (3-fold cross-validation); the best is then
retrained on the whole training set and scored once on a held-out test set it has never seen.

    pip install fastann[sklearn] && python examples/hyperparameter_search.py        (about 10-20 s on 2 cores)
"""

import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split

import fastann
from fastann.layers import Dense
from fastann.models import Sequential
from fastann.optimizers import SGD, Adam
from fastann.wrappers import SKLearnClassifier


def build_model(X, y, layers=1, nodes=32, activation="relu", optimizer="adam", learning_rate=1e-3, seed=0):
    """The network for one combination. X and y are the training data of the fit (y one-hot: y.shape[1] classes)."""
    fastann.utils.set_random_seed(seed)  # the same initial weights for every combination: a fair comparison
    model = Sequential()
    model.add(Dense(nodes, input_dim=X.shape[1], activation=activation))
    for _ in range(layers - 1):
        model.add(Dense(nodes, activation=activation))
    model.add(Dense(y.shape[1], activation="softmax"))
    opt = {"sgd": SGD, "adam": Adam}[optimizer](learning_rate=learning_rate)
    model.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixel intensities 0..16 -> 0..1
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)

param_grid = {
    "model_kwargs__layers": [1, 2],                 # hidden layers
    "model_kwargs__nodes": [32, 128],               # nodes per hidden layer
    "model_kwargs__activation": ["relu", "tanh"],
    "model_kwargs__optimizer": ["sgd", "adam"],
    "model_kwargs__learning_rate": [1e-3, 1e-2],
    "fit_kwargs__batch_size": [16, 64],
    "fit_kwargs__epochs": [10, 30],
}
search = GridSearchCV(SKLearnClassifier(build_model, fit_kwargs={"seed": 0}), param_grid, cv=3)

start = time.perf_counter()
search.fit(X_train, y_train)
elapsed = time.perf_counter() - start
n_candidates = len(search.cv_results_["params"])
print(f"digits: {len(X_train)} training and {len(X_test)} test images of {X.shape[1]} pixels, 10 classes")
print(f"{n_candidates} combinations x 3 folds = {3 * n_candidates} fits (+1 refit) in {elapsed:.1f} s\n")

print("best hyperparameters:")
for key in param_grid:
    print(f"  {key.split('__', 1)[1]:<14} {search.best_params_[key]}")
print(f"cross-validation accuracy of the best: {search.best_score_:.4f}")
print(f"test accuracy of the best (retrained on the whole training set): {search.score(X_test, y_test):.4f}\n")

# What each knob does on its own: the mean cross-validation accuracy over all combinations with each value.
print("mean cross-validation accuracy by value (over all the other knobs):")
scores = search.cv_results_["mean_test_score"]
for key, values in param_grid.items():
    column = np.array([params[key] for params in search.cv_results_["params"]], dtype=object)
    means = ", ".join(f"{v}: {scores[column == v].mean():.3f}" for v in values)
    print(f"  {key.split('__', 1)[1]:<14} {means}")

print("\nthe five best combinations:")
for rank in np.argsort(-scores)[:5]:
    params = {k.split("__", 1)[1]: search.cv_results_["params"][rank][k] for k in param_grid}
    print(f"  {scores[rank]:.4f} +- {search.cv_results_['std_test_score'][rank]:.4f}  {params}")
