"""Custom Rasa graph components (registered with Rasa's default recipe; listed in config.yml)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.utils.tensorflow.constants import RANKING_LENGTH
from scipy.sparse import csr_matrix, hstack, vstack
from sklearn.linear_model import LogisticRegression

from bot import event_types, response_validation, rule_cache

logger = logging.getLogger(__name__)

# Loaded wherever our model is (config.yml names a class of this module): speed up Rasa's check of every
# action-server response (see bot/response_validation.py).
response_validation.install()
# ... and RulePolicy's parsing of its rule keys, which thrashed a cache smaller than our model's rules
# (see bot/rule_cache.py), and Rasa's lookup of an event's class by name (bot/event_types.py).
rule_cache.install()
event_types.install()

INTENT_RANKING_KEY = "intent_ranking"


def _no_intent() -> dict[str, Any]:
    return {INTENT_NAME_KEY: None, PREDICTED_CONFIDENCE_KEY: 0.0}


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class NovaLogisticRegressionClassifier(LogisticRegressionClassifier):
    """Rasa's LogisticRegressionClassifier that survives messages without features.

    An empty or whitespace-only message has no tokens, so the count-vector featurizers add no sentence
    features and Rasa's classifier builds a row narrower than the model ("X has N features, but
    LogisticRegression is expecting M"): the whole message fails and the REST channel answers ``[]``.
    Such a message gets no intent and confidence 0 here, so the FallbackClassifier after it predicts
    ``nlu_fallback`` and the fallback rule answers. Training is unchanged (same class, same estimator).
    """

    def _row(self, message: Message) -> csr_matrix:
        sparse = message.get_sparse_features(attribute=TEXT)[1]
        dense = message.get_dense_features(attribute=TEXT)[1]
        return hstack(
            [
                csr_matrix(sparse.features if sparse else []),
                csr_matrix(dense.features if dense else []),
            ]
        )

    def process(self, messages: list[Message]) -> list[Message]:
        """Classify the messages whose features fit the model; the others get no intent."""
        expected = getattr(self.clf, "n_features_in_", None)
        usable: list[Message] = []
        for message in messages:
            text = message.get(TEXT)
            if expected is not None and (
                not isinstance(text, str) or not text.strip() or self._row(message).shape[1] != expected
            ):
                logger.debug("No usable features for %r: no intent (the fallback answers).", text)
                message.set(INTENT, _no_intent(), add_to_output=True)
                message.set(INTENT_RANKING_KEY, [], add_to_output=True)
            else:
                usable.append(message)
        if usable:
            super().process(usable)
        return messages


def _softmax_probabilities(clf: LogisticRegression, X: Any, cache: dict[str, np.ndarray], key: str) -> np.ndarray:
    """``clf.predict_proba(X)`` of a multinomial logistic regression, without its per-call copy of the weights.

    scikit-learn computes ``X @ coef_.T``; for a sparse X scipy first copies ``coef_.T`` (a Fortran-ordered view,
    ~50k n-grams x ~95 intents, 38 MB) into C order: ~5 ms of every parse. The C-ordered copy is made once per
    model (in ``cache[key]``, which the component empties whenever it (re)trains or loads a model); the result
    is the same softmax.
    """
    classes = getattr(clf, "classes_", None)
    if classes is None or len(classes) <= 2:  # binary models use another formula: leave them to scikit-learn
        return clf.predict_proba(X)
    weights = cache.get(key)
    if weights is None:
        weights = cache[key] = np.ascontiguousarray(clf.coef_.T)
    scores = np.asarray(X @ weights) + clf.intercept_
    scores -= scores.max(axis=1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=1, keepdims=True)
    return scores


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class NovaSparseDenseClassifier(NovaLogisticRegressionClassifier):
    """Two logistic regressions, one on the sparse and one on the dense sentence features, probabilities mixed.

    Rasa's classifier fits one model on the sparse n-gram counts and the dense sentence embedding side by side;
    with one regularisation strength for both, the many sparse counts win and the embedding (unit length, small
    entries) is under-used: on a split of our training data that scored below the embedding alone (data/README.md,
    "NLU pipeline"). Here each kind of feature gets its own multinomial LR (``C`` for the sparse one,
    ``dense_C`` for the dense one) and the intent probabilities are ``dense_weight * p_dense + (1 - dense_weight)
    * p_sparse``: still a probability distribution, so the FallbackClassifier's threshold keeps its meaning.

    Without dense features (no dense featurizer in the pipeline) it is the sparse model alone. A message
    without usable features gets no intent, as in NovaLogisticRegressionClassifier.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **LogisticRegressionClassifier.get_default_config(),
            "C": 1.0,  # inverse regularisation of the sparse model (Rasa's LR: 1.0, not configurable there)
            "dense_C": 10.0,
            "dense_max_iter": 500,
            "dense_weight": 0.8,
        }

    def __init__(
        self, config: dict[str, Any], name: str, model_storage: ModelStorage, resource: Resource
    ) -> None:
        super().__init__(config, name, model_storage, resource)
        weight = float(self.config["dense_weight"])
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"{type(self).__name__}: dense_weight must be in [0, 1], got {weight}")
        self.dense_weight = weight
        self.clf.set_params(C=float(self.config["C"]))
        self.dense_clf: LogisticRegression | None = self._dense_model()
        self._weights_t: dict[str, np.ndarray] = {}  # C-ordered coef_.T per model (_softmax_probabilities)

    def _dense_model(self) -> LogisticRegression:
        return LogisticRegression(
            C=float(self.config["dense_C"]),
            solver="lbfgs",
            max_iter=int(self.config["dense_max_iter"]),
            class_weight="balanced",
            tol=self.config["tol"],
            random_state=self.config["random_state"],
        )

    @staticmethod
    def _sparse_row(message: Message) -> csr_matrix | None:
        sparse = message.get_sparse_features(attribute=TEXT)[1]
        return csr_matrix(sparse.features) if sparse else None

    @staticmethod
    def _dense_row(message: Message) -> np.ndarray | None:
        dense = message.get_dense_features(attribute=TEXT)[1]
        return np.asarray(dense.features, dtype=np.float64).reshape(1, -1) if dense else None

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if not examples:
            logger.debug("No intent examples: %s is not trained.", type(self).__name__)
            return self._resource
        y = [e.get(INTENT) for e in examples]
        self._weights_t.clear()
        sparse_rows = [self._sparse_row(e) for e in examples]
        dense_rows = [self._dense_row(e) for e in examples]
        if any(r is None for r in sparse_rows):
            raise ValueError(f"{type(self).__name__} needs sparse sentence features for every training example")
        self.clf.fit(vstack(sparse_rows).tocsr(), y)
        present = [r for r in dense_rows if r is not None]
        if len(present) == len(dense_rows):
            assert self.dense_clf is not None
            self.dense_clf.fit(np.vstack(present), y)
            if list(self.dense_clf.classes_) != list(self.clf.classes_):  # both sort the same labels
                raise RuntimeError("sparse and dense models disagree on the intents")
        else:
            logger.info("%s: no dense sentence features; the sparse model alone is used.", type(self).__name__)
            self.dense_clf = None
        self.persist()
        return self._resource

    def _features(self, message: Message) -> tuple[csr_matrix, np.ndarray | None] | None:
        """The message's sparse and dense sentence rows, or None when they do not fit the trained models
        (an empty message has none). Rasa combines the featurizers' matrices on every call: read them once."""
        text = message.get(TEXT)
        if not isinstance(text, str) or not text.strip():
            return None
        sparse = self._sparse_row(message)
        if sparse is None or sparse.shape[1] != getattr(self.clf, "n_features_in_", -1):
            return None
        dense = None
        if self.dense_clf is not None:
            dense = self._dense_row(message)
            if dense is None or dense.shape[1] != getattr(self.dense_clf, "n_features_in_", -1):
                return None
        return sparse, dense

    def probabilities(self, rows: list[tuple[csr_matrix, np.ndarray | None]]) -> np.ndarray:
        """Mixed intent probabilities of (sparse, dense) rows, [n, intents] in the order of ``self.clf.classes_``."""
        probas = _softmax_probabilities(self.clf, vstack([r[0] for r in rows]).tocsr(), self._weights_t, "sparse")
        if self.dense_clf is not None and self.dense_weight > 0:
            dense_rows = np.vstack([r[1] for r in rows if r[1] is not None])
            dense = _softmax_probabilities(self.dense_clf, dense_rows, self._weights_t, "dense")
            probas = self.dense_weight * dense + (1.0 - self.dense_weight) * probas
        return probas

    def process(self, messages: list[Message]) -> list[Message]:
        if getattr(self.clf, "classes_", None) is None:  # never trained (no intent examples)
            return messages
        usable, rows = [], []
        for message in messages:
            features = self._features(message)
            if features is None:
                logger.debug("No usable features for %r: no intent (the fallback answers).", message.get(TEXT))
                message.set(INTENT, _no_intent(), add_to_output=True)
                message.set(INTENT_RANKING_KEY, [], add_to_output=True)
            else:
                usable.append(message)
                rows.append(features)
        if not usable:
            return messages
        intents = self.clf.classes_
        for message, row in zip(usable, self.probabilities(rows), strict=True):
            ranking = sorted(
                ({INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: float(p)} for name, p in zip(intents, row, strict=True)),
                key=lambda e: -e[PREDICTED_CONFIDENCE_KEY],
            )
            message.set(INTENT, ranking[0], add_to_output=True)
            if self.config[RANKING_LENGTH] > 0:
                ranking = ranking[: self.config[RANKING_LENGTH]]
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    def persist(self) -> None:
        import skops.io as sio

        with self._model_storage.write_to(self._resource) as model_dir:
            sio.dump(self.clf, model_dir / f"{self._resource.name}.skops")
            if self.dense_clf is not None:
                sio.dump(self.dense_clf, model_dir / f"{self._resource.name}.dense.skops")

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> NovaSparseDenseClassifier:
        import skops.io as sio

        component = cls(config, execution_context.node_name, model_storage, resource)
        try:
            with model_storage.read_from(resource) as model_dir:
                models = {}
                for key, path in (
                    ("sparse", model_dir / f"{resource.name}.skops"),
                    ("dense", model_dir / f"{resource.name}.dense.skops"),
                ):
                    if not path.is_file():
                        continue
                    if sio.get_untrusted_types(file=path):  # only scikit-learn's own types are expected
                        raise ValueError(f"untrusted types in {path}")
                    models[key] = sio.load(path, trusted=[])
        except ValueError:
            logger.debug("No trained %s in the model storage: an untrained one is used.", cls.__name__)
            return component
        if "sparse" in models:
            component.clf = models["sparse"]
        component.dense_clf = models.get("dense")
        component._weights_t.clear()
        return component
