"""A batch of request records as Arrow columns, the form chDB inserts without parsing text.

Most of a batch's columns hold one value in every row (the proxy's instance, the method, an
empty error, a node when there is one) or nothing at all (timings Ollama did not report).
Those are not converted value by value: a constant becomes one value repeated (a single
Arrow call), and a nullable field that is None throughout is left out of the insert, which
fills the column's NULL itself. Converting and inserting such columns cost as much as the
columns that carry data (CPU per column, not per distinct value).
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

from ollama_proxy.records import (
    NULLABLE_FLOAT_FIELDS,
    NULLABLE_INT_FIELDS,
    REQUEST_FIELDS,
    RequestRecord,
    is_constant,
    request_columns,
)

# Nullable columns with no DEFAULT in ClickHouse: left out of an insert, they read NULL,
# exactly what a column of None inserts (tests/store/test_arrow_batch.py checks the schema).
OMITTED_WHEN_EMPTY = frozenset(NULLABLE_FLOAT_FIELDS + NULLABLE_INT_FIELDS)


# The Arrow type of each kind of record value.
_ARROW = {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string()}


def _value_type(hint: Any) -> type | None:
    """The Python type of a record field's values, from its annotation; None for timestamps,
    left to Arrow's inference (which reads their zone from the values)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if typing.get_origin(hint) is not typing.Literal and args else hint
    if base is datetime:
        return None
    return base if base in _ARROW else str  # the Literal statuses are text


_HINTS = typing.get_type_hints(RequestRecord)
VALUE_TYPES: dict[str, type | None] = {name: _value_type(_HINTS[name]) for name in REQUEST_FIELDS}


@dataclass(frozen=True, slots=True)
class ArrowBatch:
    """The columns to insert (`names`, in `table`'s order) and the fields left out."""

    table: pa.Table
    names: tuple[str, ...]
    omitted: tuple[str, ...]


def arrow_batch(records: Sequence[RequestRecord]) -> ArrowBatch:
    """Every field of `records` as an Arrow column, but for nullable fields with no value.

    >>> from ollama_proxy.records import RequestRecord
    >>> batch = arrow_batch([RequestRecord(model="a", ttft_ms=1.0), RequestRecord(model="b")])
    >>> batch.table.column("model").to_pylist(), batch.table.column("ttft_ms").to_pylist()
    (['a', 'b'], [1.0, None])
    >>> "ttfb_ms" in batch.omitted, "ttfb_ms" in batch.names
    (True, False)
    """
    arrays, names, omitted = [], [], []
    for name, values in zip(REQUEST_FIELDS, request_columns(records), strict=True):
        array = _column(name, values)
        if array is None:
            omitted.append(name)
        else:
            arrays.append(array)
            names.append(name)
    return ArrowBatch(pa.Table.from_arrays(arrays, names=names), tuple(names), tuple(omitted))


def _column(name: str, values: list[Any]) -> pa.Array | None:
    """One field's Arrow array; None when the insert can leave the column out."""
    kind = VALUE_TYPES[name]
    typ = _ARROW[kind] if kind is not None else None
    constant = is_constant(values)
    first = values[0] if values else None
    if constant and first is None:
        return None if name in OMITTED_WHEN_EMPTY else pa.nulls(len(values))
    try:
        # repeated only when the value is of the field's own type (True is an int too, and
        # 1 == 1.0 == True: `is_constant` would take [True, 1] for one value)
        if constant and typ is not None and type(first) is kind:
            return _repeated(first, typ, len(values))
        return pa.array(values, type=typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        return pa.array(values)  # a value of another type (a replayed record): Arrow infers


def _repeated(value: Any, typ: pa.DataType, n: int) -> pa.Array:
    if typ == pa.string():
        # a dictionary of one: ClickHouse reads it into LowCardinality without hashing n copies
        indices = pa.array(np.zeros(n, dtype=np.int8))
        return pa.DictionaryArray.from_arrays(indices, pa.array([value], type=typ))
    return pa.repeat(pa.scalar(value, type=typ), n)
