"""Property columns, bit-sliced indexes and value dictionaries <-> manifest tree + blobs.

Representations are saved as they are (which string values earned a bitmap, array lengths
including growth slack), so a loaded shard behaves exactly like the saved one, not just answers
the same. Derived caches that cost nothing to lose (a dictionary's substring-match memo) are not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from indexes.shard.bsi import BitSlicedIndex
from indexes.shard.property_index import (
    NEVER_WRITTEN,
    BoolColumn,
    Column,
    NumericColumn,
    SetColumn,
    StringColumn,
    new_column,
)
from indexes.shard.value_dictionary import ValueDictionary
from indexes.snapshot.blobs import BlobReader, BlobWriter
from indexes.snapshot.codec_schema import value_type_from_plain, value_type_to_plain
from indexes.snapshot.fields import require, require_fields

BSI_FIELDS = frozenset({"exists", "negative", "slices", "values", "present", "min_ever", "max_ever"})
DICTIONARY_FIELDS = frozenset({"values", "_codes", "_matches"})
_COLUMN_FIELDS = frozenset({"value_type", "written_ts"})
COLUMN_FIELDS: dict[type, frozenset[str]] = {
    StringColumn: _COLUMN_FIELDS | {"dictionary", "bitmaps", "holders", "has_bitmap", "code_of", "exists"},
    BoolColumn: _COLUMN_FIELDS | {"true", "false", "exists"},
    NumericColumn: _COLUMN_FIELDS | {"bsi"},
    SetColumn: _COLUMN_FIELDS | {"dictionary", "bitmaps", "exists"},
}


# --- per-customer arrays ----------------------------------------------------------------------
def write_padded(values: np.ndarray, fill: Any, blobs: BlobWriter) -> dict[str, Any]:
    """A per-customer array without its trailing `fill` entries (arrays grow in 64k-id steps, so a
    small shard's arrays are mostly slack); its length is kept, and restored on load."""
    filled = np.flatnonzero(values != fill)
    used = int(filled[-1]) + 1 if len(filled) else 0
    return {"head": blobs.array(values[:used]), "length": len(values)}


def read_padded(tree: dict[str, Any], fill: Any, dtype: type, blobs: BlobReader) -> np.ndarray:
    head = blobs.array(tree["head"], dtype)
    length = tree["length"]
    require(isinstance(length, int) and len(head) <= length, "per-customer array: head longer than the array")
    if len(head) == length:
        return head
    values = np.full(length, fill, dtype=dtype)
    values[: len(head)] = head
    return values


# --- bit-sliced index ------------------------------------------------------------------------
def write_bsi(bsi: BitSlicedIndex, blobs: BlobWriter) -> dict[str, Any]:
    require_fields(bsi, BSI_FIELDS)
    return {
        "exists": blobs.bitmap(bsi.exists),
        "negative": blobs.bitmap(bsi.negative),
        "slices": blobs.bitmaps(bsi.slices),
        "values": write_padded(bsi.values, 0, blobs),
        "present": write_padded(bsi.present, False, blobs),
        "min_ever": bsi.min_ever,
        "max_ever": bsi.max_ever,
    }


def read_bsi(tree: dict[str, Any], blobs: BlobReader) -> BitSlicedIndex:
    bsi = BitSlicedIndex()
    bsi.exists = blobs.bitmap(tree["exists"])
    bsi.negative = blobs.bitmap(tree["negative"])
    bsi.slices = blobs.bitmaps(tree["slices"])
    bsi.values = read_padded(tree["values"], 0, np.int64, blobs)
    bsi.present = read_padded(tree["present"], False, np.bool_, blobs)
    bsi.min_ever, bsi.max_ever = tree["min_ever"], tree["max_ever"]
    require(all(b is None or type(b) is int for b in (bsi.min_ever, bsi.max_ever)), "bsi: bad value bounds")
    require(len(bsi.values) == len(bsi.present), "bsi: values and present differ in length")
    require(not bsi.exists or bsi.exists.max() < len(bsi.values), "bsi: an id beyond the value array")
    return bsi


# --- value dictionary ------------------------------------------------------------------------
def write_dictionary(dictionary: ValueDictionary, blobs: BlobWriter) -> int:
    require_fields(dictionary, DICTIONARY_FIELDS)
    return blobs.strings(dictionary.values)


def read_dictionary(ref: Any, blobs: BlobReader) -> ValueDictionary:
    dictionary = ValueDictionary()
    values = blobs.strings(ref)
    codes = dict(zip(values, range(len(values)), strict=True))  # the reverse map in one C loop
    require(len(codes) == len(values) and all(type(v) is str for v in values), "dictionary: not distinct strings")
    dictionary.values = values
    dictionary._codes = codes
    return dictionary


# --- property columns ------------------------------------------------------------------------
def write_column(column: Column, blobs: BlobWriter) -> dict[str, Any]:
    kind = type(column)
    require(kind in COLUMN_FIELDS, f"no snapshot codec for column class {kind.__name__}")
    require_fields(column, COLUMN_FIELDS[kind])
    tree: dict[str, Any] = {
        "class": kind.__name__,
        "type": value_type_to_plain(column.value_type),
        "written_ts": write_padded(column.written_ts, NEVER_WRITTEN, blobs),
    }
    if isinstance(column, StringColumn):
        tree["dictionary"] = write_dictionary(column.dictionary, blobs)
        tree["bitmap_codes"] = blobs.array(np.fromiter(column.bitmaps, dtype=np.int64, count=len(column.bitmaps)))
        tree["bitmaps"] = blobs.bitmaps(column.bitmaps.values())
        tree["holders"] = blobs.array(column.holders)
        tree["has_bitmap"] = blobs.array(column.has_bitmap)
        tree["code_of"] = write_padded(column.code_of, -1, blobs)
        tree["exists"] = blobs.bitmap(column.exists)
    elif isinstance(column, BoolColumn):
        tree.update(true=blobs.bitmap(column.true), false=blobs.bitmap(column.false), exists=blobs.bitmap(column.exists))
    elif isinstance(column, NumericColumn):
        tree["bsi"] = write_bsi(column.bsi, blobs)
    else:
        assert isinstance(column, SetColumn)
        tree["dictionary"] = write_dictionary(column.dictionary, blobs)
        tree["bitmaps"] = blobs.bitmaps(column.bitmaps)
        tree["exists"] = blobs.bitmap(column.exists)
    return tree


def read_column(tree: dict[str, Any], blobs: BlobReader) -> Column:
    column = new_column(value_type_from_plain(tree["type"]))
    require(type(column).__name__ == tree["class"], f"column class {tree['class']} does not fit its type")
    column.written_ts = read_padded(tree["written_ts"], NEVER_WRITTEN, np.int64, blobs)
    if isinstance(column, StringColumn):
        column.dictionary = read_dictionary(tree["dictionary"], blobs)
        codes = blobs.array(tree["bitmap_codes"], np.int64).tolist()
        column.bitmaps = dict(zip(codes, blobs.bitmaps(tree["bitmaps"]), strict=True))
        column.holders = blobs.array(tree["holders"], np.int32)
        column.has_bitmap = blobs.array(tree["has_bitmap"], np.bool_)
        column.code_of = read_padded(tree["code_of"], -1, np.int32, blobs)
        column.exists = blobs.bitmap(tree["exists"])
        require(len(column.has_bitmap) == len(column.holders) + 1, "string column: has_bitmap length")
        require(len(column.holders) <= len(column.dictionary), "string column: more holder counts than values")
        require(len(column.code_of) <= len(column.written_ts), "string column: code array longer than the clock")
    elif isinstance(column, BoolColumn):
        column.true, column.false = blobs.bitmap(tree["true"]), blobs.bitmap(tree["false"])
        column.exists = blobs.bitmap(tree["exists"])
    elif isinstance(column, NumericColumn):
        column.bsi = read_bsi(tree["bsi"], blobs)
    else:
        assert isinstance(column, SetColumn)
        column.dictionary = read_dictionary(tree["dictionary"], blobs)
        column.bitmaps = blobs.bitmaps(tree["bitmaps"])
        column.exists = blobs.bitmap(tree["exists"])
        require(len(column.bitmaps) <= len(column.dictionary), "set column: more bitmaps than values")
    return column
