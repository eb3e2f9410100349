"""Rasa 3.6 validates every action-server response with ``jsonschema.validate(result, schema)``
(``RemoteAction._validate_action_result``). That call first checks the *schema itself* against the JSON
Schema meta-schema, on every response, on the server's event loop: ~20 ms of CPU per custom action here,
the largest part of a custom-action turn's cost (README, Benchmarks).

``install()`` swaps in the same check with a validator built once: same schema, same validator class, same
error and message; only the repeated meta-schema check is gone. Rasa 3.6.21 is the last open-source release,
so the patched method cannot change under us; ``install()`` refuses any other Rasa version.
Imported by bot/components.py, so it is active wherever our model is loaded.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

PATCHED_RASA_VERSION = "3.6.21"


def install() -> bool:
    """Replace ``RemoteAction._validate_action_result`` with a prebuilt-validator version (idempotent).

    Returns ``True`` when installed, ``False`` (and a warning) on another Rasa version.
    """
    import rasa
    from jsonschema import ValidationError, validators
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    if getattr(RemoteAction._validate_action_result, "_nova_prebuilt", False):
        return True
    if rasa.__version__ != PATCHED_RASA_VERSION:
        logger.warning("response validation left as Rasa ships it: written for Rasa %s, found %s",
                       PATCHED_RASA_VERSION, rasa.__version__)
        return False
    schema = RemoteAction.action_response_format_spec()
    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)  # once, instead of once per response
    validator = validator_class(schema)

    def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        try:
            validator.validate(result)
            return True
        except ValidationError as e:  # exactly as RemoteAction reports it
            e.message += (
                ". Failed to validate Action server response from API, make sure your response from the Action "
                f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
            )
            raise e

    _validate_action_result._nova_prebuilt = True  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    return True
