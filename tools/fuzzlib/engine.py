"""What both fuzz targets share: judge one input, mutate, minimise, keep crashers, count outcomes.

A target's `check(data)` returns outcome labels ("accepted", "ImageFormatError: bad magic 0x#…")
and raises `PropertyViolation` when the code under test misbehaves without crashing (a reply with
the wrong TSN, a two-line error message). Any other exception escaping `check` is a crash. Both
count as failures; a failure's *signature* (exception type and the hubfw line it came from, or the
violated property) is what makes two failing inputs the same bug.

The dependency-free engine here (`fuzz_with_mutator`) mutates a corpus with a seeded RNG and keeps
inputs that produce an outcome not seen before, so runs are reproducible from the seed; the
coverage-guided engine (atheris, see fuzz.py) drives the same `Session`.
"""

from __future__ import annotations

import hashlib
import random
import re
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing hubfw here would keep atheris from instrumenting it
    from hubfw.errors import HubfwError

REPO_ROOT = Path(__file__).resolve().parents[2]
HUBFW_ROOT = REPO_ROOT / "hubfw"
CRASHERS_ROOT = REPO_ROOT / "tests" / "tools" / "fuzz" / "crashers"

Mutator = Callable[[bytes, random.Random, Sequence[bytes]], bytes]


class PropertyViolation(Exception):
    """The input made the code under test break a promised property (without crashing).

    `kind` names the property and is the same for every input that breaks it in the same way.
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


@dataclass(frozen=True)
class Target:
    """One fuzz target: what to run on an input, where to start, how to mutate structurally."""

    name: str
    check: Callable[[bytes], Sequence[str]]
    seeds: Callable[[], list[bytes]]
    mutate: Mutator
    max_len: int


@dataclass(frozen=True)
class Failure:
    signature: str
    detail: str


@dataclass(frozen=True)
class Verdict:
    outcomes: tuple[str, ...]
    failure: Failure | None


def run_input(target: Target, data: bytes) -> Verdict:
    """Run one input; every exception other than a PropertyViolation is a crash."""
    try:
        outcomes = tuple(target.check(data))
    except PropertyViolation as exc:
        return Verdict((), Failure(f"property: {exc.kind}", str(exc)))
    except Exception as exc:  # noqa: BLE001 - catching everything is the point: each one is a finding
        return Verdict((), Failure(crash_signature(exc), "".join(traceback.format_exception(exc))))
    return Verdict(outcomes, None)


def crash_signature(exc: BaseException) -> str:
    """Exception type plus the innermost hubfw frame it passed through (else the innermost frame)."""
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [frame for frame in frames if Path(frame.filename).is_relative_to(HUBFW_ROOT)]
    where = (ours or frames)[-1] if frames else None
    if where is None:
        return name
    path = Path(where.filename)
    shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path.name
    return f"{name} at {shown}:{where.lineno} in {where.name}"


_NUMBERS = re.compile(
    r"(?P<eui64>\b[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){7}\b)|(?P<hex>0x[0-9A-Fa-f]+)|(?P<digest>\b[0-9a-f]{12,}\b)|\d+"
)
_BLANKS = {"eui64": "<eui64>", "hex": "0x#", "digest": "<hex>"}
_LEAKS = ("Error in path", "stream read less", "Traceback", "Container:", "object at 0x", "(parsing)", "(building)")


def message_kind(exc: BaseException) -> str:
    """'Class: message' with the numbers blanked, so rejections of one kind count together."""
    text = _NUMBERS.sub(lambda match: _BLANKS.get(match.lastgroup or "", "#"), str(exc))
    return f"{type(exc).__name__}: {text}"


def judge_rejection(exc: HubfwError, where: str) -> str:
    """A clean rejection has one non-empty line of its own words; returns its kind, else raises."""
    text = str(exc)
    if not text.strip():
        raise PropertyViolation(f"{where} raised {type(exc).__name__} with an empty message", repr(exc))
    if "\n" in text or "\r" in text:
        raise PropertyViolation(f"{where} raised {type(exc).__name__} with a multi-line message", repr(text))
    leaked = [marker for marker in _LEAKS if marker in text]
    if leaked:
        raise PropertyViolation(f"{where} leaked library internals into {type(exc).__name__}", repr(text))
    return message_kind(exc)


# ------------------------------------------------------------------ mutation

_INTERESTING = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF)


def mutate_bytes(data: bytes, rng: random.Random, pool: Sequence[bytes], max_len: int) -> bytes:
    """One to four stacked byte-level mutations (the libFuzzer repertoire, minus its coverage)."""
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        _MUTATIONS[rng.randrange(len(_MUTATIONS))](buffer, rng, pool)
    return bytes(buffer[:max_len])


def _flip_bit(buffer: bytearray, rng: random.Random, pool: Sequence[bytes]) -> None:
    if buffer:
        buffer[rng.randrange(len(buffer))] ^= 1 << rng.randrange(8)


def _set_byte(buffer: bytearray, rng: random.Random, pool: Sequence[bytes]) -> None:
    if buffer:
        buffer[rng.randrange(len(buffer))] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFF, rng.randrange(256)))


def _set_integer(buffer: bytearray, rng: random.Random, pool: Sequence[bytes]) -> None:
    """Overwrite a little-endian 16/32-bit field with a boundary value (sizes, offsets, lengths)."""
    width = rng.choice((2, 4))
    if len(buffer) < width:
        return
    value = rng.choice((*_INTERESTING, len(buffer), len(buffer) - 1, len(buffer) + 1, rng.getrandbits(32)))
    offset = rng.randrange(len(buffer) - width + 1)
    buffer[offset : offset + width] = (value % (1 << (8 * width))).to_bytes(width, "little")


def _insert(buffer: bytearray, rng: random.Random, pool: Sequence[bytes]) -> None:
    at = rng.randrange(len(buffer) + 1)
    buffer[at:at] = rng.randbytes(rng.choice((1, 1, 2, 4, rng.randrange(1, 64))))


def _delete(buffer: bytearray, rng: random.Random, pool: Sequence[bytes]) -> None:
    if buffer:
        start = rng.randrange(len(buffer))
        del buffer[start : start + rng.choice((1, 1, 2, 4, rng.randrange(1, 64)))]


def _duplicate(buffer: bytearray, rng: random.Random, pool: Sequence[bytes]) -> None:
    if buffer:
        start = rng.randrange(len(buffer))
        chunk = buffer[start : start + rng.randrange(1, 64)]
        at = rng.randrange(len(buffer) + 1)
        buffer[at:at] = chunk


def _truncate(buffer: bytearray, rng: random.Random, pool: Sequence[bytes]) -> None:
    if buffer:
        del buffer[rng.randrange(len(buffer)) :]


def _splice(buffer: bytearray, rng: random.Random, pool: Sequence[bytes]) -> None:
    """Crossover: this input's head with another corpus input's tail."""
    if pool:
        other = rng.choice(pool)
        cut, other_cut = rng.randrange(len(buffer) + 1), rng.randrange(len(other) + 1)
        buffer[cut:] = other[other_cut:]


_MUTATIONS = (_flip_bit, _set_byte, _set_integer, _insert, _delete, _duplicate, _truncate, _splice)


# ------------------------------------------------------------------ a fuzzing session


@dataclass
class FoundFailure:
    failure: Failure
    inputs: int = 0
    saved: Path | None = None


@dataclass
class Stats:
    inputs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: dict[str, FoundFailure] = field(default_factory=dict)

    @property
    def failing_inputs(self) -> int:
        return sum(found.inputs for found in self.failures.values())


class Session:
    """Runs inputs, counts outcomes, and minimises and saves the first input of each new failure."""

    def __init__(self, target: Target, crashers: Path | None, minimize_runs: int = 2000) -> None:
        self.target = target
        self.crashers = crashers
        self.minimize_runs = minimize_runs
        self.stats = Stats()

    def execute(self, data: bytes) -> Verdict:
        verdict = run_input(self.target, data)
        self.stats.inputs += 1
        self.stats.outcomes.update(verdict.outcomes)
        if verdict.failure is not None:
            self._record(data, verdict.failure)
        return verdict

    def _record(self, data: bytes, failure: Failure) -> None:
        found = self.stats.failures.get(failure.signature)
        if found is None:
            smallest = minimize(self.target, data, failure.signature, self.minimize_runs)
            found = FoundFailure(run_input(self.target, smallest).failure or failure)
            found.saved = save_input(self.crashers, smallest, "crash-") if self.crashers is not None else None
            self.stats.failures[failure.signature] = found
        found.inputs += 1


def minimize(target: Target, data: bytes, signature: str, max_runs: int) -> bytes:
    """Drop ever smaller chunks while the input still fails the same way (a bounded ddmin)."""
    runs = 0
    chunk = max(len(data) // 2, 1)
    while chunk >= 1 and runs < max_runs:
        start = 0
        while start < len(data) and runs < max_runs:
            candidate = data[:start] + data[start + chunk :]
            runs += 1
            failure = run_input(target, candidate).failure
            if failure is not None and failure.signature == signature:
                data = candidate
            else:
                start += chunk
        chunk //= 2
    return data


def save_input(directory: Path, data: bytes, prefix: str = "") -> Path:
    """Store an input under a name derived from its content (so saving twice keeps one file)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{prefix}{hashlib.sha1(data).hexdigest()[:16]}.bin"
    path.write_bytes(data)
    return path


def load_inputs(directory: Path) -> list[bytes]:
    """Every file of a corpus directory, in name order (none if it does not exist)."""
    if not directory.is_dir():
        return []
    return [path.read_bytes() for path in sorted(directory.iterdir()) if path.is_file()]


def fuzz_with_mutator(
    session: Session, runs: int, seed: int, corpus: Iterable[bytes], progress: Callable[[Stats], None] | None = None
) -> Stats:
    """Run the corpus, then seeded structural and byte mutations of it, `runs` inputs in all.

    Without coverage feedback, an input joins the pool when it produces an outcome label no earlier
    input produced: a cheap stand-in that still walks the parser deeper over time.
    """
    rng = random.Random(seed)
    target = session.target
    pool = [data for data in corpus if len(data) <= target.max_len]
    replayed = len(pool)
    seen: set[str] = set()
    report_every = max(runs // 10, 1)
    for index in range(runs):
        mutated = index >= replayed
        data = target.mutate(rng.choice(pool), rng, pool) if mutated else pool[index]
        verdict = session.execute(data)
        if mutated and verdict.failure is None and not seen.issuperset(verdict.outcomes):
            pool.append(data)
        seen.update(verdict.outcomes)
        if progress is not None and (index + 1) % report_every == 0:
            progress(session.stats)
    return session.stats
