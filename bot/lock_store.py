"""Rasa's Redis lock store, safe with several Rasa processes: each change of a conversation's ticket lock is atomic.

Rasa 3.6's ``RedisLockStore`` keeps a conversation's ticket lock as one JSON value and changes it by
read-modify-write (``issue_ticket``: get, add a ticket, set; ``cleanup``: get, remove the ticket, set, then
delete the lock if nobody waits; ``update_lock``: get, drop expired tickets, set). Inside one Rasa process these
run one at a time (synchronous Redis calls on one event loop). With several workers or replicas
(``RASA_WORKERS``, docs/DEPLOY.md) two processes interleave them for messages of the same conversation
arriving at once: one process's ``set`` overwrites a ticket the other just issued, or ``cleanup`` deletes the
lock while another process's ticket is waiting in it. The waiting turn then fails with Rasa's
``LockError("Could not acquire lock ...")`` (the customer gets bot/reliability.py's apology and the message is
not handled), or two turns of one conversation run at once. tests/faults/test_scale_out.py sent 8 messages to
one conversation over two workers and lost one this way.

:class:`AtomicRedisLockStore` runs each of those three operations under a short Redis mutex per conversation
(``SET NX PX`` through redis-py's ``Lock``, key ``<prefix>:mutex:<conversation id>``, held for the two or
three Redis calls of the operation, expiring after :data:`MUTEX_TTL_S` should its holder die). Everything else
is Rasa's: same keys, same tickets, same waiting. bot/endpoints.redis.yml names it as the lock store.

Runs inside the Rasa process (Python 3.10): imports Rasa's packages only, never ours.
"""

from __future__ import annotations

from typing import Any

from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore

MUTEX_TTL_S = 10.0  # a mutex whose holder died is free again after this long
MUTEX_WAIT_S = 10.0  # longest wait for the mutex before the operation fails (LockError, as Rasa's own errors)


class AtomicRedisLockStore(RedisLockStore):
    """``RedisLockStore`` whose ticket changes are atomic across processes (see the module docstring).

    Rasa creates a lock store named by module path with ``endpoint_config`` only; its ``url`` is the Redis
    host and its other keys are ``RedisLockStore``'s (``port``, ``db``, ``password``, ``use_ssl``,
    ``key_prefix``, ``socket_timeout``, ...). Raises what ``RedisLockStore`` raises for a bad configuration."""

    def __init__(self, endpoint_config: Any = None, **kwargs: Any) -> None:
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)

    def _mutex(self, conversation_id: str) -> Any:
        """A redis-py ``Lock`` guarding ``conversation_id``'s ticket lock (a context manager; raises
        ``redis.exceptions.LockError`` when not acquired within MUTEX_WAIT_S)."""
        return self.red.lock(f"{self.key_prefix}mutex:{conversation_id}", timeout=MUTEX_TTL_S,
                             blocking_timeout=MUTEX_WAIT_S, sleep=0.005)

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Rasa's ``issue_ticket`` under the conversation's mutex: the new ticket number.

        Raises:
            LockError: the mutex or Redis is unavailable (as Rasa's own ``issue_ticket`` does).
        """
        try:
            with self._mutex(conversation_id):
                return super().issue_ticket(conversation_id, lock_lifetime)
        except LockError:
            raise
        except Exception as exc:  # noqa: BLE001 - Rasa turns every storage failure into a LockError
            raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc

    def update_lock(self, conversation_id: str) -> None:
        """Rasa's ``update_lock`` (drop expired tickets) under the conversation's mutex; raises redis errors."""
        with self._mutex(conversation_id):
            super().update_lock(conversation_id)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Rasa's ``cleanup`` (remove the ticket; delete the lock if nobody waits) under the conversation's
        mutex; raises redis errors."""
        with self._mutex(conversation_id):
            super().cleanup(conversation_id, ticket_number)
