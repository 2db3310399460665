"""The shared journal: every batch of records, framed and fsynced, before any store sees it.

One log for all stores (`JOURNAL_DIR/segments/`): the journal writer appends frames to the
active segment and fsyncs; each store's shipper reads frames back from its own acknowledged
position (`JOURNAL_DIR/cursors/<store>.json`), so a store that is down or hung only lets its
cursor fall behind, on disk. A segment is deleted once it is sealed and every store's cursor
is past it.

Frame: a 24-byte header (magic, payload length, CRC-32 of records/time/payload, record count,
journal time in ms) and the payload (`journal.encode`). A frame is either whole and valid or
the segment ends there:
- an incomplete last frame is the torn tail of a crash mid-write (its records were never
  acknowledged to anyone, they are the ones a SIGKILL may lose);
- a bad magic, CRC or payload in the middle is corruption: the segment is copied to
  `JOURNAL_DIR/quarantine/`, counted, and readers go on with the next segment.

Blocking file work (`append`, `read`, `load`, `collect`) is meant for worker threads; the
index of segments is guarded by a lock so the loop can report backlog at any time.
"""

from __future__ import annotations

import os
import shutil
import struct
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson
import structlog

from ollama_proxy.files import write_atomic
from ollama_proxy.store.journal import Batch, decode

log = structlog.get_logger("ollama_proxy.store")

MAGIC = b"OLJ1"
HEADER = struct.Struct("<4sIIIq")  # magic, payload bytes, crc32, records, journal time (ms)
MAX_FRAME_BYTES = 256 * 1024 * 1024  # a length beyond this is corruption, not a frame
SUFFIX = ".seg"

# A position in the log: (segment name, byte offset). Names sort in write order.
Position = tuple[str, int]


def frame(payload: bytes, records: int, journaled_ms: int) -> bytes:
    """One frame: header and payload.

    >>> len(frame(b"{}", 0, 0)) == HEADER.size + 2
    True
    """
    crc = zlib.crc32(payload, zlib.crc32(struct.pack("<Iq", records, journaled_ms)))
    return HEADER.pack(MAGIC, len(payload), crc, records, journaled_ms) + payload


class Corrupt(Exception):
    """A frame that is not a torn tail: bad magic, length, CRC or payload."""


@dataclass
class Segment:
    name: str
    size: int = 0  # bytes of whole frames (the active segment: fsynced bytes)
    records: int = 0
    first_ms: int | None = None  # journal time of its first frame
    sealed: bool = False


@dataclass
class ReadResult:
    batch: Batch
    start: Position  # where this read started (after moving past finished segments)
    end: Position  # where the next read starts
    frames: int = 0
    first_ms: int | None = None
    corrupt: bool = False


class SegmentLog:
    """Segments of the shared journal, and a small index of them (size, records, first time).

    The index has one entry per segment on disk (segments roll at `segment_bytes` or
    `segment_age_s`): a few kB for hours of outage, while the records themselves stay on disk.
    """

    def __init__(
        self, root: Path, *, segment_bytes: int = 8 << 20, segment_age_s: float = 30.0
    ) -> None:
        self.directory = root / "segments"
        self.quarantine_dir = root / "quarantine"
        self.segment_bytes = segment_bytes
        self.segment_age_s = segment_age_s
        self._lock = threading.Lock()
        self._segments: dict[str, Segment] = {}
        self._active: str | None = None
        self._handle: int | None = None  # fd of the active segment
        self._opened_at = 0.0
        self._last_name = 0
        self._active_corrupt = False  # a reader found garbage in the active segment: roll
        self.quarantined = 0  # segments copied to quarantine/
        self.quarantined_records = 0  # records in them past the last good frame (at most)

    # --- start -------------------------------------------------------------------------------
    def load(self, floor: Iterable[str] = ()) -> None:
        """Index the segments a previous run left (all sealed); new names sort after `floor`
        (cursor names), so a clock set back never files new records behind an ack."""
        self.directory.mkdir(parents=True, exist_ok=True)
        names = [self._last_name, *(_number(n) for n in floor)]
        for path in sorted(self.directory.glob("*" + SUFFIX)):
            names.append(_number(path.name))
            segment = self._scan(path)
            if segment.size == 0 and segment.records == 0:
                path.unlink(missing_ok=True)  # empty or garbage only: nothing to ship
                continue
            self._segments[path.name] = segment
        for leftover in self.directory.glob("*.tmp"):
            leftover.unlink(missing_ok=True)
        self._last_name = max(names)

    def _scan(self, path: Path) -> Segment:
        """The whole frames of a segment, by header; the rest is a torn tail or corruption."""
        segment = Segment(path.name, sealed=True)
        total = path.stat().st_size
        with open(path, "rb") as handle:
            offset = 0
            while offset < total:
                header = handle.read(HEADER.size)
                if len(header) < HEADER.size:
                    break  # torn tail
                magic, length, _crc, records, ms = HEADER.unpack(header)
                if magic != MAGIC or length > MAX_FRAME_BYTES:
                    self._quarantine(path, f"bad frame header at byte {offset}")
                    break
                if offset + HEADER.size + length > total:
                    break  # torn tail
                handle.seek(length, os.SEEK_CUR)
                offset += HEADER.size + length
                segment.records += records
                if segment.first_ms is None:
                    segment.first_ms = ms
            segment.size = offset
        if 0 < segment.size < total and segment.name not in self._quarantined_names():
            log.info("journal_torn_tail", segment=path.name, bytes=total - segment.size)
        return segment

    # --- the writer ----------------------------------------------------------------------------
    def append(self, frames: list[bytes], records: list[int], journaled_ms: int) -> Position:
        """Append frames to the active segment and fsync; where the first one starts. Raises
        OSError (disk full, read-only, EIO) with the segment cut back to its last whole frame."""
        if self._handle is None or self._should_roll():
            self._roll()
        assert self._handle is not None and self._active is not None
        segment = self._segments[self._active]
        data = b"".join(frames)
        try:
            written = 0
            while written < len(data):
                written += os.write(self._handle, data[written:])
            os.fsync(self._handle)
        except OSError:
            self._seal_after_failure(segment)
            raise
        start = segment.size
        with self._lock:
            segment.records += sum(records)
            segment.size = start + len(data)
            if segment.first_ms is None:
                segment.first_ms = journaled_ms
        return (segment.name, start)

    def _should_roll(self) -> bool:
        active = self._segments.get(self._active or "")
        if active is None:
            return True
        too_old = time.monotonic() - self._opened_at >= self.segment_age_s and active.size > 0
        return active.size >= self.segment_bytes or too_old or self._active_corrupt

    def _roll(self) -> None:
        self.seal()
        self._last_name = max(self._last_name + 1, time.time_ns())
        name = f"{self._last_name:020d}{SUFFIX}"
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            _fsync_dir(self.directory)  # the new name survives a power loss too
        except OSError:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        with self._lock:
            self._segments[name] = Segment(name)
            self._active = name
            self._active_corrupt = False
        self._handle = fd
        self._opened_at = time.monotonic()

    def seal(self) -> None:
        """Close the active segment: readers may then read it to its end and move on."""
        if self._handle is not None:
            os.close(self._handle)
            self._handle = None
        with self._lock:
            if self._active is not None and self._active in self._segments:
                self._segments[self._active].sealed = True
            self._active = None

    def _seal_after_failure(self, segment: Segment) -> None:
        """A failed write may have left part of a frame: cut it, so the file ends whole."""
        assert self._handle is not None
        try:
            os.ftruncate(self._handle, segment.size)
        except OSError:
            pass  # a torn tail then, which readers stop at (it is never indexed)
        self.seal()

    # --- readers -------------------------------------------------------------------------------
    def start(self) -> Position:
        """The oldest position on disk (a store without a cursor starts there)."""
        with self._lock:
            names = sorted(self._segments)
        return (names[0], 0) if names else ("", 0)

    def end(self) -> Position:
        with self._lock:
            if not self._segments:
                return ("", 0)
            name = max(self._segments)
            return (name, self._segments[name].size)

    def normalise(self, position: Position) -> Position:
        """A position at the end of a sealed segment, or in a deleted one, moves on to the
        start of the next segment on disk (or stays when there is none yet)."""
        with self._lock:
            name, offset = position
            segment = self._segments.get(name)
            if segment is not None and not (segment.sealed and offset >= segment.size):
                return position
            later = sorted(n for n in self._segments if n > name)
        return (later[0], 0) if later else position

    def read(self, position: Position, max_records: int) -> ReadResult:
        """Frames from `position` until `max_records` (at least one frame) or the durable end."""
        position = self.normalise(position)
        name, offset = position
        with self._lock:
            segment = self._segments.get(name)
            limit = segment.size if segment is not None else 0
        batch = Batch([], [], [])
        result = ReadResult(batch, position, position)
        if segment is None or offset >= limit:
            return result
        path = self.directory / name
        with open(path, "rb") as handle:
            handle.seek(offset)
            while offset < limit and (result.frames == 0 or len(batch) < max_records):
                try:
                    part, size, ms = _read_frame(handle)
                except Corrupt as exc:
                    self._mark_corrupt(path, segment, offset, str(exc))
                    result.corrupt = True
                    result.end = (name, segment.size)
                    return result
                batch.requests.extend(part.requests)
                batch.metrics.extend(part.metrics)
                batch.contents.extend(part.contents)
                offset += size
                result.frames += 1
                if result.first_ms is None:
                    result.first_ms = ms
        result.end = (name, offset)
        return result

    def _mark_corrupt(self, path: Path, segment: Segment, offset: int, why: str) -> None:
        """Skip the rest of a segment that cannot be read (copied to quarantine/)."""
        before = _records_before(path, offset)
        with self._lock:
            lost = max(0, segment.records - before)
            segment.records = before
            segment.size = offset
            if segment.name == self._active:
                self._active_corrupt = True
        self.quarantined_records += lost
        self._quarantine(path, f"{why} at byte {offset}")

    def _quarantine(self, path: Path, why: str) -> None:
        if path.name in self._quarantined_names():
            return
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, self.quarantine_dir / path.name)
        self.quarantined += 1
        log.error("journal_segment_quarantined", segment=path.name, reason=why)

    def _quarantined_names(self) -> set[str]:
        if not self.quarantine_dir.is_dir():
            return set()
        return {p.name for p in self.quarantine_dir.iterdir()}

    # --- backlog -------------------------------------------------------------------------------
    def backlog(self, position: Position, consumed: int) -> tuple[int, int]:
        """Records and bytes after `position` (`consumed` records of its segment are before)."""
        records = size = 0
        with self._lock:
            for name, segment in self._segments.items():
                if name < position[0]:
                    continue
                if name == position[0]:
                    records += max(0, segment.records - consumed)
                    size += max(0, segment.size - position[1])
                else:
                    records += segment.records
                    size += segment.size
        return records, size

    def first_ms(self, position: Position) -> int | None:
        """Journal time of the first frame of the segment after `position`'s, if any."""
        with self._lock:
            later = sorted(n for n in self._segments if n > position[0])
            return self._segments[later[0]].first_ms if later else None

    def collect(self, positions: Iterable[Position]) -> int:
        """Delete sealed segments every position is past; how many were deleted."""
        floor = min(positions, default=None)
        if floor is None:
            return 0
        with self._lock:
            done = [
                name
                for name, seg in self._segments.items()
                if seg.sealed and (name < floor[0] or (name == floor[0] and floor[1] >= seg.size))
            ]
            for name in done:
                del self._segments[name]
        for name in done:
            (self.directory / name).unlink(missing_ok=True)
        return len(done)

    def segment_count(self) -> int:
        with self._lock:
            return len(self._segments)

    def close(self) -> None:
        self.seal()


def _read_frame(handle: object) -> tuple[Batch, int, int]:
    read = handle.read  # type: ignore[attr-defined]
    header = read(HEADER.size)
    if len(header) < HEADER.size:
        raise Corrupt("short header")
    magic, length, crc, records, ms = HEADER.unpack(header)
    if magic != MAGIC or length > MAX_FRAME_BYTES:
        raise Corrupt("bad frame header")
    payload = read(length)
    if len(payload) < length:
        raise Corrupt("short payload")
    if zlib.crc32(payload, zlib.crc32(struct.pack("<Iq", records, ms))) != crc:
        raise Corrupt("CRC mismatch")
    try:
        batch = decode(payload)
    except Exception as exc:  # a payload this release cannot read is corruption to it
        raise Corrupt(f"undecodable payload ({type(exc).__name__})") from exc
    return batch, HEADER.size + length, ms


def _records_before(path: Path, offset: int) -> int:
    """Records in the whole frames before `offset` (headers only)."""
    records = at = 0
    with open(path, "rb") as handle:
        while at < offset:
            header = handle.read(HEADER.size)
            if len(header) < HEADER.size:
                break
            _magic, length, _crc, count, _ms = HEADER.unpack(header)
            handle.seek(length, os.SEEK_CUR)
            at += HEADER.size + length
            records += count
    return records


def _number(name: str) -> int:
    head = name.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- cursors: each store's acknowledged position ---------------------------------------------
def load_cursor(path: Path) -> tuple[Position, int] | None:
    """A store's acknowledged position and the records of its segment before it."""
    try:
        data = orjson.loads(path.read_bytes())
        return (str(data["segment"]), int(data["offset"])), int(data.get("records", 0))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def save_cursor(path: Path, position: Position, consumed: int, url: str) -> None:
    """Atomically (rename), without fsync: a cursor lost to a power loss only makes the store
    receive some records again, which its idempotent inserts absorb."""
    document = {"segment": position[0], "offset": position[1], "records": consumed, "store": url}
    write_atomic(path, orjson.dumps(document))
