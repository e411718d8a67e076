"""One JSON line per event, carrying the FC request id, with secrets scrubbed from every line."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import threading
import time
from typing import Any, TextIO

from .redact import scrub, scrub_value

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
LOGGER_NAME = "taskwatch"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "requestId": getattr(record, "request_id", None) or request_id.get(),
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        # Scrubbed before encoding as well as after: a secret holding `"` or `\` is escaped by
        # the encoding and would no longer match its registered form.
        line = scrub_value(line)
        if record.exc_info and record.levelno >= logging.ERROR:
            # The type only: tracebacks and exception texts can carry URLs and headers.
            line["exception"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        try:
            text = json.dumps(line, ensure_ascii=False, default=str)
            text.encode("utf-8")  # a lone surrogate (legal in a JSON event) cannot be written as UTF-8
        except UnicodeEncodeError:
            text = json.dumps(line, ensure_ascii=True, default=str)
        return scrub(text)


class _LineHandler(logging.Handler):
    """Writes each line to the given stream, or to whatever sys.stderr is at the time (FC and pytest swap it)."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__()
        self.target = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = self.target or sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


_setup_lock = threading.Lock()


def setup(stream: TextIO | None = None, level: int = logging.INFO) -> logging.Logger:
    """Idempotent: FC reuses the process for many invocations, and `serve` calls it from many threads.

    Without a ``stream`` an existing handler is kept (it writes to the current sys.stderr anyway);
    with one, the handler is replaced.
    """
    logger = logging.getLogger(LOGGER_NAME)
    with _setup_lock:
        logger.setLevel(level)
        logger.propagate = False
        current = [h for h in logger.handlers if isinstance(h, _LineHandler)]
        if current and stream is None and all(h.target is None for h in current):
            return logger
        for old in current:
            logger.removeHandler(old)
        line_handler = _LineHandler(stream)
        line_handler.setFormatter(JsonFormatter())
        logger.addHandler(line_handler)
    return logger


def get() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


def event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    get().log(level, name, extra={"fields": fields})
