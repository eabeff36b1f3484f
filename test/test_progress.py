"""Progress lines: only for long runs, one plain line every few seconds, with what a CI log reader wants."""

import logging

from octopus_pack.progress import PackingProgress


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_short_runs_print_nothing_and_long_runs_a_line_every_interval(caplog):
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    progress = PackingProgress(total_files=1000, total_bytes=400_000_000, interval=5.0, clock=clock)
    clock.now += 2
    progress.advance(100, 50_000_000)
    assert caplog.records == []
    clock.now += 3
    progress.advance(150, 50_000_000)
    clock.now += 1
    progress.advance(50, 20_000_000)
    assert [record.getMessage() for record in caplog.records] == [
        "Packed 250 of 1,000 files, 100.0 of 400.0 MB, 20.0 MB/s, about 15 s left",
    ]
    assert "\r" not in caplog.text
