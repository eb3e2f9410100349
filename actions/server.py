"""The action server: rasa-sdk's own server (``python -m rasa_sdk``, same arguments) that answers only callers
with the shared secret.

Run ``python -m actions.server --actions actions --port 5055`` (scripts/run.sh and tests/e2e/conftest.py do).
Every route except ``GET /health`` needs ``Authorization: Bearer <ACTION_SERVER_TOKEN>`` (what Rasa sends:
bot/endpoints*.yml); anything else gets ``401 {"error": ...}``. rasa-sdk 3.x has no caller check of its own,
and a hand-made tracker posted to ``/webhook`` would otherwise run any action as anyone.

Outside ``ENVIRONMENT=development`` the settings refuse the development default secret; an empty secret is
refused everywhere (start-up fails with a message).
"""

from __future__ import annotations

import ctypes
import hmac
import logging
import os
import secrets
import signal
import sys
from functools import partial
from typing import Any

from rasa_sdk import utils
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
from rasa_sdk.endpoint import create_app_for_serve, create_argument_parser, create_ssl_config
from rasa_sdk.executor import ActionExecutor, ActionExecutorRunResult
from rasa_sdk.interfaces import ActionExecutionRejection, ActionMissingDomainException, ActionNotFoundException
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic.worker.loader import AppLoader

from profiles.settings import DEV_ACTION_SERVER_TOKEN, Settings, get_settings

logger = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health"})  # the health check of run.sh and the e2e fixture


def authorized(header: str | None, secret: str) -> bool:
    """Is ``header`` exactly ``Bearer <secret>``? (constant-time comparison; an empty secret never matches)"""
    if not secret or not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer "):].encode(), secret.encode())


def require_secret(app: Sanic, secret: str) -> None:
    """Refuse (401) every request to ``app`` without the secret, except ``OPEN_PATHS``.

    Raises:
        ValueError: ``secret`` is empty.
    """
    if not secret:
        raise ValueError("ACTION_SERVER_TOKEN is empty: set it to a random secret (e.g. `openssl rand -hex 32`)")

    @app.on_request
    async def check_secret(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS or authorized(request.headers.get("Authorization"), secret):
            return None
        logger.warning("action server: %s %s refused: wrong or missing secret", request.method, request.path)
        return response.json({"error": "wrong or missing Authorization: Bearer <ACTION_SERVER_TOKEN>"}, status=401)


def secret_problem(settings: Settings) -> str | None:
    """Why the configured secret must not be used (empty; the development default outside development),
    or None."""
    if not settings.action_server_token:
        return "ACTION_SERVER_TOKEN is empty: set it to a random secret (e.g. `openssl rand -hex 32`)"
    if settings.environment != "development" and settings.action_server_token == DEV_ACTION_SERVER_TOKEN:
        return (f"ENVIRONMENT={settings.environment} but ACTION_SERVER_TOKEN is the development default: "
                "set it to a random secret (e.g. `openssl rand -hex 32`)")
    return None


REF_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # as bot/reliability.py: no 0/O, 1/I/L


def apology(ref: str) -> str:
    """What the customer reads when an action failed (the same words as the Rasa side, bot/reliability.py)."""
    return f"Sorry, something went wrong on our side. Please try again in a minute (ref {ref})."


class ApologizingExecutor(ActionExecutor):
    """rasa-sdk's executor where an action that raises (a database error, a bug) answers the customer with
    :func:`apology` and no events, instead of a 500 that Rasa logs and turns into silence.

    Rejections, unknown actions and a missing domain keep rasa-sdk's own answers (400/404/449). One log line
    per failure: the action, the exception's type and the reference; never the exception's text (SQL errors
    carry the statement's parameters: account numbers, e-mail addresses)."""

    async def run(self, action_call: dict[str, Any], *args: Any, **kwargs: Any) -> ActionExecutorRunResult | None:
        try:
            return await super().run(action_call, *args, **kwargs)
        except (ActionExecutionRejection, ActionNotFoundException, ActionMissingDomainException):
            raise
        except Exception as exc:  # noqa: BLE001 - every other failure becomes the apology
            ref = "".join(secrets.choice(REF_ALPHABET) for _ in range(6))
            logger.error("action %s failed (ref %s): %s", action_call.get("next_action"), ref, type(exc).__name__)
            return ActionExecutorRunResult(events=[], responses=[{"text": apology(ref)}])


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """In a Sanic worker: be sent SIGTERM when the process that started it (Sanic's manager) dies (Linux).

    Killed alone (SIGKILL, the OOM killer) the manager had no chance to stop its workers: they lived on, still
    listening on the port and answering with the old code beside the server supervisord started again, and
    `make stop` left them running (tests/faults/test_action_workers.py)."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        logger.warning("prctl(PR_SET_PDEATHSIG) failed: errno %s", ctypes.get_errno())
    elif os.getppid() == 1:  # the manager died before the call
        os.kill(os.getpid(), signal.SIGTERM)


def create_app(action_executor: ActionExecutor, **options: Any) -> Sanic:
    """rasa-sdk's app (``create_app_for_serve`` with ``options``) behind :func:`require_secret`.

    Module-level so Sanic's worker processes can build it again (the secret is read in each one)."""
    app = create_app_for_serve(action_executor, **options)
    settings = get_settings()
    problem = secret_problem(settings)
    if problem:
        raise ValueError(problem)
    require_secret(app, settings.action_server_token)
    app.register_listener(lambda _app, _loop: die_with_parent(), "before_server_start")  # workers only
    return app


def main(argv: list[str] | None = None) -> None:
    """Start the server with rasa-sdk's command-line arguments (``--actions``, ``--port``, ``--cors``, ...).

    Listens on ``$SANIC_HOST`` (default 0.0.0.0), like rasa-sdk. Exits with a message when the secret is
    missing or, outside development, the development default (``profiles.settings``)."""
    args = create_argument_parser().parse_args(argv)
    if args.grpc:
        sys.exit("ERROR: the gRPC action server is not supported (no secret check): drop --grpc")
    try:
        problem = secret_problem(get_settings())
    except ValueError as exc:  # the settings' own checks (JWT_SECRET, RASA_TOKEN outside development)
        problem = str(exc)
    if problem:
        sys.exit(f"ERROR: {problem}")
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), args.log_file, args.loglevel,
                                 args.logging_config_file)
    utils.update_sanic_log_level()

    executor = ApologizingExecutor()
    executor.register_package(args.actions_module or args.actions)
    loader = AppLoader(factory=partial(create_app, executor, cors_origins=args.cors, auto_reload=args.auto_reload,
                                       endpoints=args.endpoints))
    app = loader.load()
    host = os.environ.get("SANIC_HOST", "0.0.0.0")  # rasa-sdk's own variable, read as rasa-sdk reads it
    logger.info("action server on %s:%s (callers need the ACTION_SERVER_TOKEN secret)", host, args.port)
    app.prepare(host=host, port=args.port,
                ssl=create_ssl_config(args.ssl_certificate, args.ssl_keyfile, args.ssl_password),
                workers=utils.number_of_sanic_workers())
    Sanic.serve(primary=app, app_loader=loader)


if __name__ == "__main__":
    main()
