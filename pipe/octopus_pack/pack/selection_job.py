"""File selection as work for another process, so the tree is walked while the pipe is still starting.

That process's logging is not the pipe's (it was forked before the toolkit set logging up), so what selection
logs there (a broken link skipped, say) is kept and sent back with the files, to be logged here in order.
"""

import logging
import pickle
from collections.abc import Iterator
from contextlib import contextmanager

from octopus_pack.pack import selection
from octopus_pack.pack.selection import NeverPack, Selection, SourceFile, select_files
from octopus_pack.pack.workers import Received, Result

_Note = tuple[str, int, str]  # (logger name, level, message)


def selection_work(base: str, includes: list[str], excludes: list[str], *, nuget_layout: bool,
                   never_pack: NeverPack) -> tuple:
    """The work tuple for run_selection: select_files(...) with these arguments."""
    return base, includes, excludes, nuget_layout, never_pack


def run_selection(work: tuple) -> Result:
    """The other process's side: select the files, keeping selection's log records.

    The files travel as columns (a tuple of each field), which pickle 7x faster than the NamedTuples and are
    made into files again without a tuple per file in between.
    """
    base, includes, excludes, nuget_layout, never_pack = work
    notes: list[_Note] = []
    with _kept_logs(notes):
        chosen = select_files(base, includes, excludes, nuget_layout=nuget_layout, never_pack=never_pack)
    columns = list(zip(*chosen.files, strict=True)) or [()] * len(SourceFile._fields)
    payload = pickle.dumps((columns, chosen.unmatched_includes, notes), protocol=pickle.HIGHEST_PROTOCOL)
    return Result((), [[payload]])


def selection_from(result: Received) -> Selection:
    """This side: the Selection the other process made, its log lines given to this process's logging."""
    columns, unmatched, notes = pickle.loads(result.chunks[0])
    for name, level, message in notes:
        logger = logging.getLogger(name)
        if logger.isEnabledFor(level):
            logger.log(level, "%s", message)
    relative, target, size, mtime, mode = columns
    one_of_each = {value: value for value in set(mode)}  # pickle makes an int per file; selection shared them
    return Selection(list(map(SourceFile, relative, target, size, mtime, map(one_of_each.__getitem__, mode))),
                     unmatched)


@contextmanager
def _kept_logs(notes: list[_Note]) -> Iterator[None]:
    """Collect selection's log records, at every level, into notes instead of handling them."""
    logger = logging.getLogger(selection.__name__)
    keeper = _Keeper(notes)
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(keeper)
    try:
        yield
    finally:
        logger.removeHandler(keeper)
        logger.setLevel(level)
        logger.propagate = propagate


class _Keeper(logging.Handler):
    def __init__(self, notes: list[_Note]) -> None:
        super().__init__(logging.DEBUG)
        self.notes = notes

    def emit(self, record: logging.LogRecord) -> None:
        self.notes.append((record.name, record.levelno, record.getMessage()))
