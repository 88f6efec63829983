"""print(), sys.stderr and the logging module, as lines in the step's log: shared by the code-step
runners and step projects."""

import io
import logging
import sys

from flowbox import _log

class _LogStream(io.TextIOBase):
    """A text stream that writes each complete line as one log line."""

    MAX_PARTIAL = 64 * 1024

    def __init__(self, level, name):
        super().__init__()
        self._level = level
        self._name = name
        self._partial = []
        self._partial_len = 0

    @property
    def name(self):
        return self._name

    @property
    def encoding(self):
        return "utf-8"

    @property
    def errors(self):
        return "strict"

    def writable(self):
        return True

    def isatty(self):
        return False

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        if "\n" not in s:
            self._partial.append(s)
            self._partial_len += len(s)
            if self._partial_len > self.MAX_PARTIAL:
                self.end_line()
            return len(s)
        lines = s.split("\n")
        lines[0] = "".join(self._partial) + lines[0]
        self._partial, self._partial_len = ([lines[-1]], len(lines[-1])) if lines[-1] else ([], 0)
        for line in lines[:-1]:
            _log.write(self._level, line)
        return len(s)

    def end_line(self):
        """Write out a last line that had no newline."""
        if self._partial:
            text = "".join(self._partial)
            self._partial, self._partial_len = [], 0
            _log.write(self._level, text)

    def flush(self):
        pass


class _LogHandler(logging.Handler):
    """The logging module's records as log lines, at their level."""

    def emit(self, record):
        try:
            message = self.format(record)
            if record.levelno >= logging.ERROR:
                level = _log.Level.ERROR
            elif record.levelno >= logging.WARNING:
                level = _log.Level.WARN
            elif record.levelno >= logging.INFO:
                level = _log.Level.INFO
            else:
                level = _log.Level.DEBUG
            _log.write(level, message)
        except Exception:  # noqa: BLE001 - logging must not fail the step
            self.handleError(record)


class _Formatter(logging.Formatter):
    def format(self, record):
        text = super().format(record)
        return text if record.name == "root" else f"{record.name}: {text}"


def install():
    """Route the logging module to the step's log (done once, when the component is built)."""
    handler = _LogHandler()
    handler.setFormatter(_Formatter("%(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def redirect():
    """For one run: stdout at info, stderr at warn. Returns the streams for `restore`."""
    out, err = _LogStream(_log.Level.INFO, "<stdout>"), _LogStream(_log.Level.WARN, "<stderr>")
    sys.stdout, sys.stderr = out, err
    return out, err


def restore(out, err):
    """Write out the last lines without a newline, and put the streams back."""
    out.end_line()
    err.end_line()
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
