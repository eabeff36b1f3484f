"""Progress lines for long uploads: one every few seconds, never carriage returns."""

import logging
import time
from collections.abc import Callable

from octopus_pack.sizes import format_size

log = logging.getLogger(__name__)


class UploadProgress:
    """Called with the bytes sent so far; logs a line when `interval` seconds have passed since the last one.

    Bitbucket's log viewer shows every line, so a line per read (or a carriage-return bar) would flood it;
    short uploads finish before the first interval and print nothing here.
    """

    def __init__(self, what: str, total: int, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._what = what
        self._total = total
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._next_report = self._started + interval

    def __call__(self, sent: int) -> None:
        now = self._clock()
        if now < self._next_report:
            return
        self._next_report = now + self._interval
        sent = min(sent, self._total)
        percent = 100 * sent / self._total if self._total else 100
        rate = sent / max(now - self._started, 1e-9)
        log.info(
            f"Uploading {self._what}: {format_size(sent)} of {format_size(self._total)} ({percent:.0f}%, "
            f"{format_size(int(rate))}/s)"
        )
