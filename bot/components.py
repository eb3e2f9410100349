"""Custom Rasa graph components (registered with Rasa's default recipe; listed in config.yml)."""

from __future__ import annotations

import logging
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from scipy.sparse import csr_matrix, hstack

from bot import response_validation

logger = logging.getLogger(__name__)

# Loaded wherever our model is (config.yml names a class of this module): speed up Rasa's check of every
# action-server response (see bot/response_validation.py).
response_validation.install()

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
