"""`rasa` as Rasa 3.6 ships it as far as action-response validation goes, for the chat-latency experiment only.

    .venv-rasa/bin/python benchmarks/rasa_stock_validation.py run ...   (same arguments as `rasa`)

Our model's custom component module (bot/components.py) installs bot/response_validation.py when the model
loads: Rasa then checks every action-server response with a validator built once, instead of
``jsonschema.validate()``, which re-checks the schema itself against the JSON Schema meta-schema on every
response. This wrapper turns that installation into a no-op before Rasa starts, so that
benchmarks/chat_latency.py can run our bot with stock validation as a third bot, in the same run, and measure
what the fix buys. Never used outside the benchmark.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the bot package
    from bot import response_validation

    response_validation.install = lambda: False  # bot/components.py calls it through the module attribute

    from rasa.__main__ import main

    sys.argv[0] = "rasa"
    sys.exit(main())
