"""Turn measurements into the report: a results table, the product targets with PASS/FAIL, text or Markdown."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from benchmarking.corpora import Corpus
from benchmarking.measure import Measurement

PASS, FAIL, NOT_MEASURED = "PASS", "FAIL", "N/A"
RSS_LIMIT_MB = 64
NUPKG_SLOWDOWN_LIMIT = 1.10
LARGE_MIN_MB_PER_S = 150

RESULT_HEADERS = ("corpus", "level", "tool", "wall s", "runs s", "MB/s", "CPU s", "peak mem MB",
                  "output MB", "time/zip", "size/zip", "valid")  # fmt: skip
CORPUS_HEADERS = ("corpus", "files", "MB", "path")


@dataclass(frozen=True)
class TargetCheck:
    """One product target and how this run did against it."""

    target: str
    verdict: str  # PASS, FAIL or N/A (a row it needs was not measured)
    detail: str


@dataclass
class Report:
    """Everything one benchmark run prints; rendered as fixed-width text and, on request, Markdown."""

    context: list[tuple[str, str]]
    corpora: list[Corpus]
    rows: list[Measurement]
    notes: list[str] = field(default_factory=list)
    delta: dict[str, object] | None = None
    delta_note: str | None = None

    def targets(self) -> list[TargetCheck]:
        return evaluate_targets(self.rows)

    def to_text(self) -> str:
        lines = [f"{key}: {value}" for key, value in self.context]
        lines += ["", "Corpora", *fixed_width(CORPUS_HEADERS, corpus_cells(self.corpora))]
        lines += ["", "Results", *fixed_width(RESULT_HEADERS, result_cells(self.rows))]
        lines += [f"  ! {problem}" for problem in problems(self.rows)]
        lines += ["", "Targets"]
        lines += [f"  {check.verdict:<4}  {check.target}  ({check.detail})" for check in self.targets()]
        lines += ["", "Delta (octodiff)", *self._delta_lines("  ")]
        lines += ["", *self.notes] if self.notes else []
        return "\n".join(lines) + "\n"

    def to_markdown(self) -> str:
        lines = ["# octopus-pack benchmark", ""]
        lines += [f"- **{key}**: {value}" for key, value in self.context]
        lines += ["", "## Corpora", "", *markdown_table(CORPUS_HEADERS, corpus_cells(self.corpora))]
        lines += ["", "## Results", "", *markdown_table(RESULT_HEADERS, result_cells(self.rows))]
        lines += ["", *[f"- ⚠ {problem}" for problem in problems(self.rows)]] if problems(self.rows) else []
        lines += ["", "## Targets", "", *markdown_table(("verdict", "target", "measured"), target_cells(self))]
        lines += ["", "## Delta (octodiff)", "", *self._delta_markdown()]
        lines += ["", *[f"- {note}" for note in self.notes]] if self.notes else []
        return "\n".join(lines) + "\n"

    def _delta_lines(self, indent: str) -> list[str]:
        if self.delta is None:
            return [f"{indent}{self.delta_note or 'not requested (--delta)'}"]
        width = max((len(key) for key in self.delta), default=0)
        values = [f"{indent}{key:<{width}}  {format_value(value)}" for key, value in self.delta.items()]
        return [f"{indent}{self.delta_note}", *values]

    def _delta_markdown(self) -> list[str]:
        if self.delta is None:
            return [self.delta_note or "Not requested (`--delta`)."]
        table = markdown_table(("measure", "value"), [[key, format_value(v)] for key, v in self.delta.items()])
        return [f"{self.delta_note}:", "", *table]


# --------------------------------------------------------------------------- cells


def corpus_cells(corpora: Sequence[Corpus]) -> list[list[str]]:
    return [[c.name, f"{c.file_count:,}", f"{c.total_mb:,.1f}", str(c.path)] for c in corpora]


def result_cells(rows: Sequence[Measurement]) -> list[list[str]]:
    """One line per measurement; ratios against `zip` at the same corpus and level."""
    cells = []
    for row in rows:
        reference = find(rows, row.corpus, row.level, "zip")
        cells.append([
            row.corpus,
            row.level,
            row.label,
            f"{row.wall_s:.2f}",
            row.spread,
            f"{row.mb_per_s:,.1f}" if row.ok else "-",
            f"{row.cpu_s:.2f}",
            f"{row.peak_rss_mb:.1f}",
            f"{row.output_bytes / 1024 / 1024:,.1f}" if row.ok else "-",
            ratio_cell(row, reference, lambda m: m.wall_s),
            ratio_cell(row, reference, lambda m: m.output_bytes),
            validity_cell(row),
        ])  # fmt: skip
    return cells


def ratio_cell(row: Measurement, reference: Measurement | None, value: Callable[[Measurement], float]) -> str:
    if not (row.ok and reference and reference.ok and value(reference)):
        return "-"
    return f"{value(row) / value(reference):.3f}"


def validity_cell(row: Measurement) -> str:
    if row.problem:
        return "FAILED" if row.verified is None else "INVALID"
    return "ok" if row.verified else "-"


def problems(rows: Sequence[Measurement]) -> list[str]:
    return [f"{row.corpus}@{row.level} {row.label}: {row.problem}" for row in rows if row.problem]


def target_cells(report: Report) -> list[list[str]]:
    return [[f"**{check.verdict}**", check.target, check.detail] for check in report.targets()]


def format_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


# --------------------------------------------------------------------------- layout


def fixed_width(headers: Sequence[str], cells: list[list[str]]) -> list[str]:
    """A plain text table: text columns left-aligned, numeric ones right-aligned."""
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    numeric = numeric_columns(len(headers), cells)

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  " + "  ".join(parts).rstrip()

    return [line(headers), "  " + "  ".join("-" * width for width in widths), *map(line, cells)]


def markdown_table(headers: Sequence[str], cells: list[list[str]]) -> list[str]:
    numeric = numeric_columns(len(headers), cells)
    rule = ["---:" if num else "---" for num in numeric]
    return ["| " + " | ".join(row) + " |" for row in [list(headers), rule, *cells]]


def numeric_columns(count: int, cells: list[list[str]]) -> list[bool]:
    """Columns of numbers (a "-" for a missing value allowed) get right-aligned."""
    columns = [[row[i] for row in cells if row[i] != "-"] for i in range(count)]
    return [all(_is_number(text) for text in column) for column in columns]


def _is_number(text: str) -> bool:
    return text.replace(",", "").replace(".", "", 1).isdigit()


# --------------------------------------------------------------------------- targets


def find(rows: Sequence[Measurement], corpus: str, level: str, tool: str) -> Measurement | None:
    return next((r for r in rows if (r.corpus, r.level, r.tool) == (corpus, level, tool)), None)


def evaluate_targets(rows: Sequence[Measurement]) -> list[TargetCheck]:
    """The product's performance targets, each judged only from rows this run actually measured."""
    checks = [
        ratio_target(rows, "node_modules", "optimal", "wall", 0.33, "pipe zip wall ≤ 0.33× zip -6"),
        ratio_target(rows, "node_modules", "optimal", "size", 1.0, "pipe zip size ≤ zip -6"),
        ratio_target(rows, "stdlib", "optimal", "wall", 0.22, "pipe zip wall ≤ 0.22× zip -6"),
        ratio_target(rows, "stdlib", "optimal", "size", 1.0, "pipe zip size ≤ zip -6"),
        ratio_target(rows, "stdlib", "fast", "wall", 0.25, "pipe zip wall ≤ 0.25× zip -1"),
        ratio_target(rows, "stdlib", "fast", "size", 1.05, "pipe zip size ≤ 1.05× zip -1"),
        throughput_target(rows, "large", "optimal", LARGE_MIN_MB_PER_S),
    ]
    corpora = list(dict.fromkeys(row.corpus for row in rows))
    levels = list(dict.fromkeys(row.level for row in rows))
    checks += [rss_target(rows, corpus) for corpus in corpora]
    checks += [nupkg_target(rows, corpus, level) for corpus in corpora for level in levels]
    return checks


def _ours_or_verdict(row: Measurement | None, target: str) -> TargetCheck | None:
    """A ready verdict when our row is missing (N/A) or broken (FAIL); None when it can be judged."""
    if row is None:
        return TargetCheck(target, NOT_MEASURED, "not measured in this run")
    if not row.ok:
        return TargetCheck(target, FAIL, f"{row.label} failed: {row.problem}")
    return None


def ratio_target(rows: Sequence[Measurement], corpus: str, level: str, what: str, limit: float,
                 wording: str) -> TargetCheck:  # fmt: skip
    target = f"{corpus}@{level}: {wording}"
    ours, reference = find(rows, corpus, level, "pipe-zip"), find(rows, corpus, level, "zip")
    verdict = _ours_or_verdict(ours, target)
    if verdict:
        return verdict
    if reference is None or not reference.ok:
        return TargetCheck(target, NOT_MEASURED, "no successful zip run to compare with")
    assert ours is not None
    if what == "wall":
        ratio = ours.wall_s / reference.wall_s
        detail = f"{ratio:.3f}×: {ours.wall_s:.2f} s vs {reference.wall_s:.2f} s"
    else:
        ratio = ours.output_bytes / reference.output_bytes
        detail = f"{ratio:.4f}×: {ours.output_bytes:,} B vs {reference.output_bytes:,} B"
    return TargetCheck(target, PASS if ratio <= limit else FAIL, detail)


def throughput_target(rows: Sequence[Measurement], corpus: str, level: str, minimum: float) -> TargetCheck:
    target = f"{corpus}@{level}: pipe zip ≥ {minimum:.0f} MB/s"
    ours = find(rows, corpus, level, "pipe-zip")
    verdict = _ours_or_verdict(ours, target)
    if verdict:
        return verdict
    assert ours is not None
    return TargetCheck(target, PASS if ours.mb_per_s >= minimum else FAIL, f"{ours.mb_per_s:,.1f} MB/s")


def rss_target(rows: Sequence[Measurement], corpus: str) -> TargetCheck:
    target = f"{corpus}: pipe peak memory ≤ {RSS_LIMIT_MB} MB"
    ours = [row for row in rows if row.corpus == corpus and row.tool in ("pipe-zip", "pipe-nupkg")]
    if not ours:
        return TargetCheck(target, NOT_MEASURED, "not measured in this run")
    if not any(row.ok for row in ours):
        return TargetCheck(target, FAIL, "no successful pipe run")
    worst = max((row for row in ours if row.ok), key=lambda row: row.peak_rss_kb)
    verdict = PASS if worst.peak_rss_mb <= RSS_LIMIT_MB else FAIL
    return TargetCheck(target, verdict, f"highest {worst.peak_rss_mb:.1f} MB, {worst.label}@{worst.level}")


def nupkg_target(rows: Sequence[Measurement], corpus: str, level: str) -> TargetCheck:
    target = f"{corpus}@{level}: pipe nupkg wall ≤ {NUPKG_SLOWDOWN_LIMIT:.2f}× pipe zip wall"
    nupkg, plain = find(rows, corpus, level, "pipe-nupkg"), find(rows, corpus, level, "pipe-zip")
    verdict = _ours_or_verdict(nupkg, target) or _ours_or_verdict(plain, target)
    if verdict:
        return verdict
    assert nupkg is not None and plain is not None
    ratio = nupkg.wall_s / plain.wall_s
    detail = f"{ratio:.3f}×: {nupkg.wall_s:.2f} s vs {plain.wall_s:.2f} s"
    return TargetCheck(target, PASS if ratio <= NUPKG_SLOWDOWN_LIMIT else FAIL, detail)
