"""Logging of the API process (``uvicorn --log-config api/logging.json``, as ``scripts/run.sh`` starts it).

The access log says method, path and status only: never the query string (staff searches carry e-mail
addresses and phone numbers, ``GET /customers?email=...``; other URLs may carry tokens), nor the client
address. ``httpx`` (the API's calls to Rasa, whose HTTP API takes its token as ``?token=``) logs warnings only.
"""

from __future__ import annotations

import logging
from typing import Final

LOG_CONFIG_FILE: Final = "api/logging.json"  # relative to the repository root


class AccessLogFilter(logging.Filter):
    """Rewrite uvicorn's access record ``(client, method, path?query, http_version, status)`` to
    ``"GET /customers 200"``: the query string and the client address are dropped. Other records pass as
    they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            _client, method, full_path, _version, status = args
            path = str(full_path).split("?", 1)[0]
            record.msg, record.args = "%s %s %s", (method, path, status)
        return True
