"""``Event.resolve_by_type`` with a cache (issues 11 and 12: per-turn cost).

Rasa 3.6 turns every stored event back into its class by walking *all* subclasses of ``Event`` (recursively,
through ``inspect.isabstract``) until one has the event's ``type_name``: ~30 classes for each of the ~40
events a turn deserialises (the in-memory and Redis tracker stores keep trackers as JSON), 244,200 calls of
``all_subclasses`` for 200 balance turns, ~8 ms per turn under the profiler. The answer only changes when a
new ``Event`` subclass is defined, so the class found for each type name is kept until then (a hook on
``Event.__init_subclass__`` clears the cache). Unknown names still go through Rasa's own code (its default,
``topic`` and ValueError behaviour unchanged).

Runs inside the Rasa process (Python 3.10): Rasa's own modules and the standard library only.
"""

from __future__ import annotations

from typing import Any

from rasa.shared.core.events import Event

_installed = False
_found: dict[str, type] = {}
_original = Event.resolve_by_type


def _resolve_by_type(type_name: Any, default: Any = None) -> Any:
    """The ``Event`` subclass Rasa's ``resolve_by_type`` returns for ``type_name`` (cached when found).

    Raises ValueError for an unknown name without ``default``, as Rasa's does."""
    if not isinstance(type_name, str):  # an unhashable name (malformed JSON) cannot be a key: Rasa's answer
        return _original(type_name, default)
    cls = _found.get(type_name)
    if cls is None:
        cls = _original(type_name, default)
        if cls is not None and cls is not default:
            _found[type_name] = cls
    return cls


def _clear_on_new_subclass(cls: type, **kwargs: Any) -> None:
    """A new ``Event`` subclass may come first in Rasa's walk: forget what was found."""
    _found.clear()
    super(Event, cls).__init_subclass__(**kwargs)


def install() -> None:
    """Give ``Event`` the cached ``resolve_by_type``. Idempotent."""
    global _installed
    if _installed:
        return
    Event.__init_subclass__ = classmethod(_clear_on_new_subclass)  # type: ignore[assignment]
    Event.resolve_by_type = staticmethod(_resolve_by_type)  # type: ignore[method-assign,assignment]
    _installed = True
