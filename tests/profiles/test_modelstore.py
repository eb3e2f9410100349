"""The one model store (profiles.modelstore) behind the recommender registry and the analyses: layout, version
ids, atomic writes, the CURRENT pointer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiles.modelstore import (
    METADATA_FILE,
    MODEL_FILE,
    POINTER_FILE,
    ModelNotFound,
    ModelStore,
    StoreError,
    fingerprint,
)


def test_layout_versions_and_pointer(tmp_path: Path) -> None:
    store = ModelStore(lambda: tmp_path)
    assert store.models() == [] and store.current("m") is None
    a = store.save("m", {"w": 1}, {"note": "first"}, version=store.new_version(["m"], tag="abcd1234"))
    b = store.save("m", {"w": 2}, {}, version=store.new_version(["m"], tag="abcd1234"))
    assert a.endswith("Z-abcd1234") and b == f"{a}-2"  # same second, same data: a counter, still sorted by age
    assert store.list_versions("m") == [a, b] and store.models() == ["m"]
    assert {p.name for p in (tmp_path / "m" / a).iterdir()} == {MODEL_FILE, METADATA_FILE}
    assert json.loads((tmp_path / "m" / a / METADATA_FILE).read_text()) == {"note": "first", "version": a}
    assert store.current("m") is None  # saving does not make a version current

    store.set_current("m", b)
    assert (tmp_path / "m" / POINTER_FILE).read_text() == f"{b}\n"
    loaded = store.load("m", b)
    assert (loaded.name, loaded.version, loaded.model) == ("m", b, {"w": 2})
    assert store.previous("m", b) == a and store.previous("m", a) is None
    assert [p.name for p in (tmp_path / "m").iterdir() if p.name.startswith(".")] == []  # nothing left staged


def test_errors_change_nothing(tmp_path: Path) -> None:
    store = ModelStore(lambda: tmp_path)
    version = store.save("m", 1, {}, version="20260101T000000Z")
    with pytest.raises(StoreError, match="already exists"):
        store.save("m", 2, {}, version=version)
    with pytest.raises(ModelNotFound):
        store.set_current("m", "nope")
    with pytest.raises(ModelNotFound):
        store.load("m", "nope")
    assert store.load("m", version).model == 1 and store.current("m") is None
    (tmp_path / "m" / ".half-written").mkdir()  # a staging folder is never a version
    assert store.list_versions("m") == [version]


def test_fingerprint_covers_files_in_order_and_extra(tmp_path: Path) -> None:
    one, two = tmp_path / "1", tmp_path / "2"
    one.write_bytes(b"a")
    two.write_bytes(b"b")
    assert fingerprint([one, two]) != fingerprint([two, one])
    assert fingerprint([one], b"x") != fingerprint([one])
    assert len(fingerprint()) == 64
