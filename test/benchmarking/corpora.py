"""The benchmark's input trees: built once from seeded generators, cached on disk, reused while complete."""

import json
import os
import random
import shutil
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

CORPUS_NAMES = ("stdlib", "large", "tiny")
MIB = 1024 * 1024

# Bump when a generator changes, so cached trees built by the old code are rebuilt rather than reused.
RECIPE_VERSION = 1


@dataclass(frozen=True)
class Corpus:
    """A finished input tree: every tool packs `path`, and outputs are checked against `files`."""

    name: str
    path: Path
    files: tuple[str, ...]  # POSIX paths relative to `path`, as they should appear in a package
    total_bytes: int

    @property
    def file_count(self) -> int:
        return len(self.files)

    @property
    def total_mb(self) -> float:
        return self.total_bytes / MIB


@dataclass(frozen=True)
class Recipe:
    """How to build one corpus; `params` goes into the cache manifest so a changed recipe rebuilds."""

    name: str
    cache_key: str
    params: dict[str, object]
    build: Callable[[Path], None] = field(compare=False)


# --------------------------------------------------------------------------- recipes


def recipes_for(names: list[str], quick: bool) -> list[Recipe]:
    """The recipes for the chosen corpora; --quick shrinks the generated ones for a smoke run."""
    large_mb = 100 if quick else 1024
    tiny_count = 5_000 if quick else 50_000
    stdlib_dir = stdlib_source()
    every = {
        "stdlib": Recipe(
            "stdlib",
            "stdlib",
            {"source": str(stdlib_dir), "python": sys.version.split()[0]},
            lambda dest: copy_stdlib(stdlib_dir, dest),
        ),
        "large": Recipe(
            "large",
            f"large-{large_mb}mb",
            {"total_mb": large_mb, "files": 4, "seed": 1},
            lambda dest: build_large_files(dest, large_mb * MIB, file_count=4, seed=1),
        ),
        "tiny": Recipe(
            "tiny",
            f"tiny-{tiny_count}",
            {"files": tiny_count, "max_bytes": 4096, "per_dir": 100, "seed": 2},
            lambda dest: build_tiny_files(dest, tiny_count, seed=2),
        ),
    }
    return [every[name] for name in names]


def stdlib_source() -> Path:
    """Where the running interpreter keeps its standard library."""
    return Path(sysconfig.get_paths()["stdlib"])


# --------------------------------------------------------------------------- cache


def prepare_corpus(recipe: Recipe, corpora_dir: Path, log: Callable[[str], None]) -> Corpus:
    """Reuse the cached tree when its manifest matches the recipe and the tree still matches the manifest."""
    tree = corpora_dir / recipe.cache_key
    manifest_path = corpora_dir / f"{recipe.cache_key}.json"
    expected = {"recipe_version": RECIPE_VERSION, "params": recipe.params}
    cached = _read_manifest(manifest_path)
    if cached and tree.is_dir() and {k: cached.get(k) for k in expected} == expected:
        corpus = scan_corpus(recipe.name, tree)
        if (corpus.file_count, corpus.total_bytes) == (cached.get("file_count"), cached.get("total_bytes")):
            log(f"corpus {recipe.name}: reusing {tree} ({corpus.file_count:,} files, {corpus.total_mb:,.0f} MB)")
            return corpus
        log(f"corpus {recipe.name}: cached tree no longer matches its manifest, rebuilding")

    manifest_path.unlink(missing_ok=True)
    partial = corpora_dir / f"{recipe.cache_key}.partial"
    for stale in (tree, partial):
        if stale.exists():
            shutil.rmtree(stale)
    log(f"corpus {recipe.name}: building {tree} ...")
    started = time.perf_counter()
    partial.parent.mkdir(parents=True, exist_ok=True)
    recipe.build(partial)
    partial.rename(tree)
    corpus = scan_corpus(recipe.name, tree)
    manifest = {**expected, "file_count": corpus.file_count, "total_bytes": corpus.total_bytes}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    seconds = time.perf_counter() - started
    log(f"corpus {recipe.name}: built {corpus.file_count:,} files, {corpus.total_mb:,.0f} MB in {seconds:.1f} s")
    return corpus


def _read_manifest(path: Path) -> dict[str, object] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def scan_corpus(name: str, root: Path) -> Corpus:
    """List the files a packer should include: what os.walk reports as files, sizes of what they point to."""
    files: list[str] = []
    total = 0
    for relative, full in _walk_files(root):
        files.append(relative)
        total += full.stat().st_size
    return Corpus(name, root, tuple(sorted(files)), total)


def _walk_files(root: Path) -> Iterator[tuple[str, Path]]:
    for directory, _dirnames, filenames in os.walk(root):
        for filename in filenames:
            full = Path(directory, filename)
            yield full.relative_to(root).as_posix(), full


def warm_page_cache(corpus: Corpus) -> float:
    """Read every file once, untimed by the benchmark, so every tool then reads from the page cache."""
    started = time.perf_counter()
    for relative in corpus.files:
        with open(corpus.path / relative, "rb") as handle:
            while handle.read(MIB):
                pass
    return time.perf_counter() - started


# --------------------------------------------------------------------------- builders


def copy_stdlib(source: Path, dest: Path) -> None:
    """Copy the standard library without third-party packages, symlinks kept as links like the source."""

    def ignore_third_party(_directory: str, names: list[str]) -> set[str]:
        return {"site-packages", "dist-packages"}.intersection(names)

    shutil.copytree(source, dest, symlinks=True, ignore=ignore_third_party)


def build_large_files(dest: Path, total_bytes: int, file_count: int, seed: int) -> None:
    """A few big files, half log/source-like text that deflates ~3x, half incompressible random bytes."""
    rng = random.Random(seed)
    text = TextGenerator(rng)
    per_file = total_bytes // file_count
    for index in range(file_count):
        if index % 2 == 0:
            path, chunks = dest / "logs" / f"app-{index // 2}.log", text.chunks(per_file)
        else:
            path, chunks = dest / "blobs" / f"blob-{index // 2}.bin", random_chunks(rng, per_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)


def build_tiny_files(dest: Path, count: int, seed: int, per_dir: int = 100, max_bytes: int = 4096) -> None:
    """Many 0-4 KB files, ~100 per directory two levels deep, alternating text-like and random content."""
    rng = random.Random(seed)
    text_pool = b"".join(TextGenerator(rng).chunks(8 * MIB))
    for index in range(count):
        directory_index = index // per_dir
        directory = dest / f"d{directory_index // 20:03d}" / f"s{directory_index % 20:02d}"
        if index % per_dir == 0:
            directory.mkdir(parents=True, exist_ok=True)
        size = rng.randint(0, max_bytes)
        if rng.random() < 0.5:
            start = rng.randrange(len(text_pool) - max_bytes)
            name, content = f"file{index:05d}.txt", text_pool[start : start + size]
        else:
            name, content = f"file{index:05d}.bin", rng.randbytes(size)
        (directory / name).write_bytes(content)


def random_chunks(rng: random.Random, total_bytes: int, chunk_size: int = MIB) -> Iterator[bytes]:
    """Seeded random bytes (reproducible, unlike os.urandom), yielded in chunks to keep memory flat."""
    remaining = total_bytes
    while remaining > 0:
        size = min(chunk_size, remaining)
        yield rng.randbytes(size)
        remaining -= size


class TextGenerator:
    """Log- and source-like lines from a seeded vocabulary: deflate -6 gets ~3x, not a trivial repeat.

    Lines are drawn from a pool far larger than deflate's 32 KB window and each gets its own
    timestamp, so the text compresses like real logs and code rather than like a repeated block.
    """

    SYLLABLES = ("ka", "lo", "mi", "ter", "ran", "sio", "pe", "dat", "ex", "or",
                 "un", "qua", "bel", "tro", "vin", "as", "ne", "xy", "ph", "stu")  # fmt: skip
    LEVELS = ("INFO ", "DEBUG", "WARN ", "ERROR", "TRACE")
    KEYWORDS = ("def", "if", "return", "for", "while", "yield", "assert")

    def __init__(self, rng: random.Random, vocabulary: int = 1000, pool: int = 5000) -> None:
        self.rng = rng
        self.words = self._make_words(vocabulary)
        self.lines = [self._make_line() for _ in range(pool)]

    def chunks(self, total_bytes: int, lines_per_chunk: int = 4096) -> Iterator[bytes]:
        """Exactly `total_bytes` of text, as chunks of whole lines (the last one cut to fit)."""
        remaining = total_bytes
        clock = 1_700_000_000.0
        while remaining > 0:
            parts = []
            for line in self.rng.choices(self.lines, k=lines_per_chunk):
                clock += self.rng.random() * 0.05
                parts.append(f"{clock:.3f} {line}\n")
            chunk = "".join(parts).encode()[:remaining]
            remaining -= len(chunk)
            yield chunk

    def _make_words(self, count: int) -> list[str]:
        words: set[str] = set()
        while len(words) < count:
            words.add("".join(self.rng.choice(self.SYLLABLES) for _ in range(self.rng.randint(1, 4))))
        return sorted(words)

    def _make_line(self) -> str:
        rng, words = self.rng, self.words
        kind = rng.random()
        if kind < 0.5:
            logger = ".".join(rng.sample(words, 3))
            message = " ".join(rng.sample(words, rng.randint(3, 9)))
            thread = f"{rng.choice(words)}-{rng.randint(1, 64)}"
            took = f"id={rng.randint(0, 10**6)} took={rng.randint(0, 5000)}ms"
            return f"{rng.choice(self.LEVELS)} [{thread}] {logger} - {message} {took}"
        if kind < 0.95:
            indent = "    " * rng.randint(0, 3)
            first, second, third = rng.sample(words, 3)
            return f"{indent}{rng.choice(self.KEYWORDS)} {first}_{second}({third}, {rng.randint(0, 999)}):"
        return f"{rng.choice(words)}={rng.getrandbits(64):016x} {rng.choice(words)}={rng.random():.6f}"
