"""The benchmark's input trees: built once from seeded generators, cached on disk, reused while complete."""

import itertools
import json
import math
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

CORPUS_NAMES = ("stdlib", "node_modules", "large", "tiny")
MIB = 1024 * 1024

# What a typical Bitbucket JavaScript app packs: `npm install` of these pinned packages (their own dependencies
# are whatever npm resolves for them; the manifest records the resulting file count and size). About 26,700
# files, 130 MB, up to 9 folders deep.
NODE_PACKAGES = {
    "webpack": "5.94.0", "webpack-cli": "5.1.4", "typescript": "5.6.2", "eslint": "8.57.1",
    "@babel/core": "7.25.2", "@babel/preset-env": "7.25.4", "@babel/preset-react": "7.24.7",
    "react": "18.3.1", "react-dom": "18.3.1", "@mui/material": "6.1.1", "@emotion/react": "11.13.3",
    "@emotion/styled": "11.13.0", "rxjs": "7.8.1", "date-fns": "3.6.0", "core-js": "3.38.1",
    "lodash": "4.17.21", "moment": "2.30.1", "jest": "29.7.0",
}  # fmt: skip
# Measured on that tree, for the synthetic stand-in used where npm is missing: file size quantiles
# (fraction, bytes), how many files sit at each depth, the largest files, and files per folder.
NODE_SIZE_QUANTILES = ((0.0, 0), (0.1, 92), (0.25, 165), (0.5, 608), (0.75, 1870), (0.9, 6042), (0.99, 50952),
                       (0.999, 400654), (1.0, 1_000_000))  # fmt: skip
NODE_DEPTHS = {2: 3320, 3: 6065, 4: 8050, 5: 6058, 6: 2537, 7: 659, 8: 74, 9: 3}
NODE_LARGEST = (8928146, 6076659, 2212540, 1578343, 1493806, 1300000, 1200000, 1100000)
NODE_FILES_PER_FOLDER = 9

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


def recipes_for(names: list[str], quick: bool, synthetic_node_modules: bool = False) -> list[Recipe]:
    """The recipes for the chosen corpora; --quick shrinks the generated ones for a smoke run.

    node_modules is a real `npm install` when npm is on PATH, else (or when asked) a synthetic tree with the
    same file sizes and depths.
    """
    large_mb = 100 if quick else 1024
    tiny_count = 5_000 if quick else 50_000
    stdlib_dir = stdlib_source()
    use_npm = shutil.which("npm") is not None and not synthetic_node_modules
    every = {
        "stdlib": Recipe(
            "stdlib",
            "stdlib",
            {"source": str(stdlib_dir), "python": sys.version.split()[0]},
            lambda dest: copy_stdlib(stdlib_dir, dest),
        ),
        "node_modules": Recipe(
            "node_modules",
            "node_modules-npm" if use_npm else "node_modules-synthetic",
            {"packages": NODE_PACKAGES} if use_npm else {"files": sum(NODE_DEPTHS.values()), "seed": 4},
            npm_install if use_npm else (lambda dest: build_synthetic_node_modules(dest, seed=4)),
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


def npm_install(dest: Path) -> None:
    """`npm install` the pinned packages in a scratch project beside dest; dest becomes its node_modules."""
    project = dest.with_name(dest.name + ".npm")
    if project.exists():
        shutil.rmtree(project)
    project.mkdir(parents=True)
    manifest = {"name": "octopus-pack-bench", "version": "1.0.0", "private": True, "dependencies": NODE_PACKAGES}
    (project / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    command = ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"]
    done = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"benchmark: `npm install` failed ({done.stderr.strip()[-500:]}); "
                 "rerun with --synthetic-node-modules to use a generated tree instead")
    (project / "node_modules").rename(dest)
    shutil.rmtree(project)


def build_synthetic_node_modules(dest: Path, seed: int) -> None:
    """A tree shaped like a real node_modules: its file sizes, depths and folder sizes, JS-like text content."""
    rng = random.Random(seed)
    text_pool = b"".join(TextGenerator(rng).chunks(16 * MIB))
    depths = [depth for depth, count in NODE_DEPTHS.items() for _ in range(count)]
    rng.shuffle(depths)
    sizes = [_size_from_quantiles(rng.random()) for _ in depths]
    for index, size in enumerate(NODE_LARGEST):
        sizes[index * 97] = size
    folders: dict[int, tuple[Path, int]] = {}  # depth -> (folder being filled, files in it)
    for index, (depth, size) in enumerate(zip(depths, sizes, strict=True)):
        folder, used = folders.get(depth, (None, NODE_FILES_PER_FOLDER))
        if used >= NODE_FILES_PER_FOLDER:
            folder = dest.joinpath(*(f"pkg{rng.randrange(400)}" if level == 0 else f"d{rng.randrange(6)}"
                                     for level in range(depth - 1)), f"f{index}")
            folder.mkdir(parents=True, exist_ok=True)
            used = 0
        folders[depth] = (folder, used + 1)
        start = rng.randrange(len(text_pool) - size)  # every size is far below the pool's 16 MiB
        content = text_pool[start : start + size]
        (folder / f"m{index}.{rng.choice(('js', 'js', 'js', 'ts', 'map', 'json', 'md'))}").write_bytes(content)


def _size_from_quantiles(fraction: float) -> int:
    """Invert the measured size distribution, interpolating log-linearly between quantiles."""
    for (low_q, low), (high_q, high) in itertools.pairwise(NODE_SIZE_QUANTILES):
        if fraction <= high_q:
            share = (fraction - low_q) / (high_q - low_q)
            return int(math.expm1(math.log1p(low) + share * (math.log1p(high) - math.log1p(low))))
    return NODE_SIZE_QUANTILES[-1][1]


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
