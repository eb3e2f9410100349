"""bot/web_chat_scale.py's settings and its fork-safe client manager (the end-to-end behaviour with two Rasa
workers is tests/faults/test_scale_out.py). The module imports nothing of Rasa's, so it runs here too."""

from __future__ import annotations

import multiprocessing

import pytest

from bot import web_chat_scale as scale


def test_transports_setting() -> None:
    assert scale.transports({}) is None
    assert scale.transports({scale.TRANSPORTS_ENV: " "}) is None
    assert scale.transports({scale.TRANSPORTS_ENV: "websocket"}) == ["websocket"]
    assert scale.transports({scale.TRANSPORTS_ENV: "websocket, polling"}) == ["websocket", "polling"]
    with pytest.raises(ValueError, match="websocket and/or polling"):
        scale.transports({scale.TRANSPORTS_ENV: "websockets"})


def test_without_a_redis_url_nothing_changes() -> None:
    assert scale.server_options({}) == {}
    assert scale.open_pages({}) is None
    with pytest.raises(ValueError, match="redis://"):
        scale.redis_url({scale.REDIS_URL_ENV: "http://127.0.0.1:6379/0"})


def test_server_options_with_redis() -> None:
    options = scale.server_options({scale.REDIS_URL_ENV: "redis://127.0.0.1:1/3", scale.TRANSPORTS_ENV: "websocket"})
    assert options["transports"] == ["websocket"]
    manager = options["client_manager"]
    assert manager.redis_url == "redis://127.0.0.1:1/3" and manager.channel == scale.PUBSUB_CHANNEL
    assert "socket_timeout" not in manager.redis_options  # an idle subscriber must not time out


def _host_id_in_child(manager: object, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    out.put(manager.host_id)  # type: ignore[attr-defined]


def test_each_forked_worker_has_its_own_host_id() -> None:
    """Workers forked after the manager was made must not share its id, or each drops the others' messages."""
    manager = scale.server_options({scale.REDIS_URL_ENV: "redis://127.0.0.1:1/0"})["client_manager"]
    parent = manager.host_id
    assert parent and manager.host_id == parent  # stable within a process
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    children = [ctx.Process(target=_host_id_in_child, args=(manager, out)) for _ in range(2)]
    for child in children:
        child.start()
    ids = {out.get(timeout=30) for _ in children}
    for child in children:
        child.join(timeout=30)
    assert len(ids) == 2 and parent not in ids
