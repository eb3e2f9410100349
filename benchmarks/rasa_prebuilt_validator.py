"""`rasa` with one change, for the chat-latency experiment only: action-server responses are validated with a
validator built once, instead of ``jsonschema.validate()`` per response.

    .venv-rasa/bin/python benchmarks/rasa_prebuilt_validator.py run ...   (same arguments as `rasa`)

Rasa 3.6 checks every custom action's response with ``jsonschema.validate(result, schema)``
(``RemoteAction._validate_action_result``). That function first re-validates the *schema itself* against the
JSON Schema meta-schema (``check_schema``; draft 2020-12, since Rasa's schema names none), every call, on the
server's event loop. The check below is the same (same schema, same validator class, same error message);
only the per-call meta-schema check is gone. benchmarks/chat_latency.py runs this as a third bot ("ours,
prebuilt validator") to measure how much of our turn's extra time that check is. Never used in production.
"""

from __future__ import annotations

import sys
from typing import Any


def patch() -> None:
    from jsonschema import ValidationError, validators
    from rasa.core.actions import action as rasa_action
    from rasa.shared.constants import DOCS_BASE_URL

    schema = rasa_action.RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)  # once
    validator = cls(schema)

    def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        try:
            validator.validate(result)
            return True
        except ValidationError as e:  # as RemoteAction does
            e.message += (
                ". Failed to validate Action server response from API, make sure your response from the Action "
                f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
            )
            raise e

    rasa_action.RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]


if __name__ == "__main__":
    patch()
    from rasa.__main__ import main

    sys.argv[0] = "rasa"
    sys.exit(main())
