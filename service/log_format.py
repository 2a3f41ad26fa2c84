"""How `segments serve` writes its logs to stderr: `--log-format text` (for people) or `json` (for collectors).

json: one object per line, keys `ts` (UTC, ISO 8601 with milliseconds), `level`, `logger`, `msg`, then any
fields the call passed with `extra=` (e.g. the RPC log's `method`, `code`, `duration_ms`, `peer`), and
`exc` with the traceback when there is one. A log pipeline (Loki, Elasticsearch, CloudWatch) can then
filter on fields instead of parsing sentences.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_FIELD_CHARS = 4_096  # a field is a value for filtering, not a payload: long reprs are cut

# Attributes every LogRecord has; anything else on a record came from `extra=` and is a field.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _field_value(value: Any) -> Any:
    """JSON scalars as they are; anything else as its (bounded) text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= MAX_FIELD_CHARS else text[:MAX_FIELD_CHARS] + "..."


def _fields(record: logging.LogRecord) -> list[tuple[str, Any]]:
    """What the call passed with `extra=`; private attributes (Ray stamps `_ray_timestamp_ns` on every
    record) are not fields."""
    return [(key, value) for key, value in vars(record).items()
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_")]


class JsonLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _fields(record):
            if key not in entry:
                entry[key] = _field_value(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["exc"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, allow_nan=False, default=str)


class TextLogFormatter(logging.Formatter):
    """The classic line, with `extra=` fields appended as key=value so neither format loses them."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [f"{key}={_field_value(value)}" for key, value in _fields(record)]
        return f"{line} [{' '.join(fields)}]" if fields else line


def configure_logging(log_format: str, level: str = "INFO", stream: TextIO | None = None) -> None:
    """Route the root logger to `stream` (stderr) in `log_format`; replaces handlers set before."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log_format must be one of {', '.join(LOG_FORMATS)} (got {log_format!r})")
    if level not in LOG_LEVELS:
        raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)} (got {level!r})")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonLogFormatter() if log_format == "json" else TextLogFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
