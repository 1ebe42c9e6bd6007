"""The one clock. Every time-dependent operation asks it for the time.

- `DEBITO_CLOCK` (an ISO date or instant) freezes it for a whole process, so a
  test can stand on a chosen day.
- `DEBITO_CLOCK_FILE` names a file holding an ISO date or instant that every
  process of a cluster reads on each call (cheap: one `stat`, the content is
  cached until the file changes). `debito run` and the test clusters set it to
  `var/clock`; `debito demo` writes the days of its walk into it, so the whole
  cluster lives those days, then removes it. No file, or an empty one: the
  real time.

Operations that walk through time may also take an explicit `as_of` date.
"""
import os
from datetime import date, datetime, time, timezone
from pathlib import Path

from common.config import env

_cache = {}


def parse(value):
    """An ISO date (noon UTC) or instant (UTC when it has no offset)."""
    value = value.strip()
    moment = datetime.fromisoformat(value) if "T" in value else datetime.combine(
        date.fromisoformat(value), time(12, 0))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def clock_file():
    path = env("DEBITO_CLOCK_FILE")
    return Path(path) if path else None


def _from_file():
    path = clock_file()
    if path is None:
        return None
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    key = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    if key not in _cache:
        content = path.read_text().strip()
        _cache.clear()
        _cache[key] = parse(content) if content else None
    return _cache[key]


def now():
    frozen = env("DEBITO_CLOCK")
    if frozen:
        return parse(frozen)
    return _from_file() or datetime.now(timezone.utc)


def wall():
    """The machine's real time, whatever `DEBITO_CLOCK` says: for liveness only (a worker's
    heartbeat, a timeout), never for a business date."""
    return datetime.now(timezone.utc)


def today():
    return now().date()


def set_clock(moment):
    """Move every process reading `DEBITO_CLOCK_FILE` to `moment` (a date or
    an instant); None gives them the real time back."""
    path = clock_file()
    if path is None:
        raise RuntimeError("DEBITO_CLOCK_FILE is not set: there is no cluster clock to move")
    if moment is None:
        path.unlink(missing_ok=True)
        return
    value = moment.isoformat() if isinstance(moment, (date, datetime)) else str(moment)
    parse(value)  # refuse what no process could read
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(value + "\n")
    os.replace(temporary, path)
