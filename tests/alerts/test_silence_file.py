"""The silences file: what is written reads back, expired and malformed entries don't."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from ollama_proxy.alerts import silence_file
from ollama_proxy.alerts.lifecycle import MAX_SILENCES, Silence


def silence(expires_at: float, **extra: object) -> Silence:
    return Silence({"model": "m"}, expires_at=expires_at, created_at=0.0, **extra)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field_and_drops_the_expired(tmp_path: Path) -> None:
    path = tmp_path / "s" / silence_file.FILE_NAME
    kept = silence(200.0, rule="queue_full", comment="maintenance")
    silence_file.save(path, [kept, silence(50.0)])
    [loaded] = silence_file.load(path, now=100.0)
    assert loaded.to_dict() == kept.to_dict()
    assert silence_file.load(tmp_path / "absent.json", now=0.0) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"version": 2, "silences": []}',
        b'{"version": 1, "silences": {}}',
        b'{"version": 1, "silences": [{"id": "1"}]}',
        b'{"version": 1, "silences": [{"id": "1", "expires_at": 9, "created_at": 0,'
        b' "matchers": {"model": 3}}]}',
        b'{"version": 1, "silences": [{"id": "1", "expires_at": 9, "created_at": 0,'
        b' "rule": ["x"]}]}',
    ],
)
def test_a_file_of_another_shape_is_refused(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / silence_file.FILE_NAME
    path.write_bytes(body)
    with pytest.raises(ValueError):
        silence_file.load(path, now=0.0)


def test_what_is_read_is_bounded(tmp_path: Path) -> None:
    long = "x" * 600
    many = [silence(10.0, comment=long, rule=long) for _ in range(MAX_SILENCES + 5)]
    path = tmp_path / silence_file.FILE_NAME
    path.write_bytes(silence_file.document(many))
    loaded = silence_file.load(path, now=0.0)
    assert len(loaded) == MAX_SILENCES
    assert max(len(s.comment) for s in loaded) == 500 and len(loaded[0].rule or "") == 500
    path.write_bytes(b" " * (silence_file.MAX_FILE_BYTES + 1))
    with pytest.raises(ValueError, match="larger than"):
        silence_file.load(path, now=0.0)
    assert orjson.loads(silence_file.document([]))["silences"] == []
