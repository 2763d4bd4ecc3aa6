"""Attribute inference: a curious server predicts users' private attribute (gender, age group) from their features.

Threat model: the server knows the attribute of a public share of the users (those who disclosed it, e.g.
in a profile; `public_users` draws them per seed), fits a logistic regression from those users' features
(what it recovered of each: e.g. the multi-hot of the item ids an attack marked, or the recovered p_u)
to their attribute, and predicts it for everyone else. The regularisation strength is chosen by
cross-validation (held-out log loss) on the public users alone: the server has no other labels.

Scored on the predicted users by AUC (two classes: ROC AUC of the second class's probability; more: the
mean one-vs-rest AUC over the classes the public users show, so an age bucket nobody public has counts
against the server only through accuracy), beside the majority-class baseline: AUC 0.5 and the accuracy
of always guessing the public users' most common class.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MaxAbsScaler

#: Inverse regularisation strengths tried, and the folds of the public users they are compared on.
REGULARISATION = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
FOLDS = 3
_PUBLIC_STREAM = 0x4154


@dataclass(frozen=True)
class AttributeScore:
    """How well the attribute of the predicted (non-public) users was inferred, and the baseline beside it."""

    auc: float
    accuracy: float
    majority_accuracy: float  # always guessing the public users' most common class
    public: int  # users whose attribute the server knew
    predicted: int  # users it predicted
    regularisation: float  # the C cross-validation chose


def public_users(count: int, fraction: float, seed: int) -> np.ndarray:
    """A bool per user: does the server know its attribute. round(fraction · count) users, drawn per seed."""
    if not 0 < fraction < 1:
        raise ValueError(f"the public fraction must be in (0, 1), not {fraction}")
    rng = np.random.default_rng([seed, _PUBLIC_STREAM])
    public = np.zeros(count, dtype=bool)
    public[rng.choice(count, size=max(1, round(fraction * count)), replace=False)] = True
    return public


def one_vs_rest_auc(labels: np.ndarray, probabilities: np.ndarray, classes: np.ndarray) -> float:
    """ROC AUC of `probabilities` (columns = `classes`) for `labels`: two classes, the second's; more, the mean
    one-vs-rest AUC over the classes that have both members and non-members among `labels` (NaN if none)."""
    if len(classes) == 2:
        is_second = labels == classes[1]
        return float(roc_auc_score(is_second, probabilities[:, 1])) if 0 < is_second.sum() < len(labels) else np.nan
    aucs = [
        roc_auc_score(labels == value, probabilities[:, column])
        for column, value in enumerate(classes)
        if 0 < (labels == value).sum() < len(labels)
    ]
    return float(np.mean(aucs)) if aucs else np.nan


def classifier(regularisation: float) -> Pipeline:
    """Each feature scaled to [-1, 1] (a multi-hot stays as it is), then an L2 logistic regression (multinomial)."""
    return make_pipeline(MaxAbsScaler(), LogisticRegression(C=regularisation, max_iter=2000))


def choose_regularisation(features: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """The C of `REGULARISATION` with the lowest mean held-out log loss over `FOLDS` folds of (features, labels).

    Log loss, not AUC: on separable data every C ranks perfectly, and only the probabilities tell the strongly
    regularised model (which predicts the majority class) from the one that fits. A held-out user of a class
    the fold's training part lacks is left out of that fold's loss.
    """
    folds = list(KFold(FOLDS, shuffle=True, random_state=seed).split(features))
    losses = []
    for regularisation in REGULARISATION:
        fold_losses = []
        for train, held_out in folds:
            if len(np.unique(labels[train])) < 2:
                continue
            model = classifier(regularisation).fit(features[train], labels[train])
            seen = held_out[np.isin(labels[held_out], model.classes_)]
            probabilities = model.predict_proba(features[seen])
            fold_losses.append(log_loss(labels[seen], probabilities, labels=model.classes_))
        losses.append(np.mean(fold_losses) if fold_losses else np.inf)
    return REGULARISATION[int(np.argmin(losses))]


def infer_attribute(features: np.ndarray, labels: np.ndarray, public: np.ndarray, seed: int) -> AttributeScore:
    """Train on the `public` users' (features, labels), predict the others; their AUC beside the majority class.

    `features` is [users, f], `labels` one attribute value per user, `public` a bool per user.
    """
    labels = np.asarray(labels).astype(str)
    if len(features) != len(labels) or len(labels) != len(public):
        raise ValueError(f"{len(features)} feature rows, {len(labels)} labels and {len(public)} public flags differ")
    known, unknown = labels[public], labels[~public]
    if len(np.unique(known)) < 2 or not len(unknown):
        raise ValueError("attribute inference needs public users of at least two classes and users to predict")
    regularisation = choose_regularisation(features[public], known, seed)
    model = classifier(regularisation).fit(features[public], known)
    probabilities = model.predict_proba(features[~public])
    values, counts = np.unique(known, return_counts=True)
    return AttributeScore(
        auc=one_vs_rest_auc(unknown, probabilities, model.classes_),
        accuracy=float((model.classes_[probabilities.argmax(1)] == unknown).mean()),
        majority_accuracy=float((unknown == values[counts.argmax()]).mean()),
        public=int(public.sum()),
        predicted=int((~public).sum()),
        regularisation=regularisation,
    )
