"""Push several packages one after another over one connection, and say truthfully how far a failure got."""

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from octopus_pack.errors import PipeError
from octopus_pack.octopus.push import OctopusPush
from octopus_pack.octopus.push_result import PackageOutcome, PushResult, Transfer
from octopus_pack.package_result import PackageResult


@dataclass(frozen=True)
class Pushed:
    package: PackageResult
    result: PushResult


def push_in_order(octopus: OctopusPush, packages: Sequence[PackageResult]) -> list[Pushed]:
    """Push each package in the order given; a refusal stops the run, naming what is already in Octopus.

    A re-run then finishes the rest: the packages already there are found identical and not uploaded again.
    """
    done: list[Pushed] = []
    for index, package in enumerate(packages):
        try:
            done.append(Pushed(package, octopus.push(package)))
        except PipeError as error:
            if len(packages) == 1:
                raise
            raise PipeError(_stopped_part_way(str(error), done, package, packages[index + 1:])) from None
    return done


def tally(pushed: Sequence[Pushed]) -> str:
    """'2 uploaded (1 as a delta), 1 already there with identical content': what the closing line counts."""
    counts = Counter(item.result.package.outcome for item in pushed)
    deltas = sum(item.result.package.transfer is Transfer.DELTA for item in pushed)
    parts = []
    if counts[PackageOutcome.UPLOADED]:
        parts.append(f"{counts[PackageOutcome.UPLOADED]} uploaded" + (f" ({deltas} as a delta)" if deltas else ""))
    for outcome, words in _SETTLED_WITHOUT_UPLOAD.items():
        if counts[outcome]:
            parts.append(f"{counts[outcome]} {words}")
    return ", ".join(parts)


_SETTLED_WITHOUT_UPLOAD = {
    PackageOutcome.IDENTICAL: "already there with identical content",
    PackageOutcome.KEPT: "already there with other content, kept (OVERWRITE_MODE IgnoreIfExists)",
    PackageOutcome.SKIPPED: "with build information only (PUSH_PACKAGE is false)",
}


def _stopped_part_way(error: str, done: Sequence[Pushed], failed: PackageResult,
                      not_tried: Sequence[PackageResult]) -> str:
    total = len(done) + 1 + len(not_tried)
    there = f"{_names(item.package for item in done)} {'is' if len(done) == 1 else 'are'} in Octopus" if done \
        else "none is in Octopus yet"
    rest = f", and {_names(not_tried)} {'was' if len(not_tried) == 1 else 'were'} not tried" if not_tried else ""
    return (f"{error.rstrip('.')}. Pushed {len(done)} of {total} packages, 1 failed: {there}; "
            f"{failed.upload_name} failed{rest}. Run the step again to push the rest: packages already in Octopus "
            "with identical content are not uploaded again.")


def _names(packages: Iterable[PackageResult]) -> str:
    return ", ".join(package.upload_name for package in packages)
