"""Fuzz hubfw's untrusted-input decoders: the OTA upgrade file parser, the OTA server and the SE endpoint.

Usage (from the repository root, with the project's virtualenv):

    .venv/bin/python tools/fuzz.py ota-file --runs 100000
    .venv/bin/python tools/fuzz.py zcl-ota --runs 100000
    .venv/bin/python tools/fuzz.py zcl-han --runs 100000
    .venv/bin/python tools/fuzz.py gbcs --runs 100000
    .venv/bin/python tools/fuzz.py zcl-ota --replay tests/tools/fuzz/crashers/zcl-ota/crash-….bin

Targets (properties in each module's docstring):
    ota-file   OtaImage.parse, `image inspect`'s summary and admit()      (tools/fuzzlib/ota_file.py)
    zcl-ota    HubCore.handle/run_due: the OTA server on the real ImageStore, in scenarios (tools/fuzzlib/zcl_ota.py)
    zcl-han    HubCore.handle/run_due/send_gbcs: the SE endpoint (Basic, Time, Metering, Tunneling, suite-1 Key
               Establishment) and the CBKE rule, from four senders, some holding keys (tools/fuzzlib/zcl_han.py)
    gbcs       GBCS framing (message_length, parse_message, GeneralSigning.parse) and find_device_alert from a
               random sender: never credited to another device, never a mis-signed "valid" (tools/fuzzlib/gbcs.py)

Engines (--engine):
    atheris    coverage-guided (libFuzzer through atheris: `pip install atheris`, CPython 3.11 wheels
               for Linux x86-64); hubfw instrumented (and construct for ota-file); a structure-aware
               custom mutator mixed with libFuzzer's own; libFuzzer's chatter goes to a log file
               (path printed)
    mutate     no extra dependency: seeded byte and structure mutations of the corpus, keeping inputs
               that produce an outcome not seen before; reproducible from --seed
    auto       atheris when it is installed, else mutate (the default)

Every run starts from the seed corpus (valid images / valid request scenarios built with
hubfw.ota.image.build_image and zigpy's schemas, recorded Key Establishment exchanges) plus the
regression crashers. Each new kind of failure is minimised and saved to tests/tools/fuzz/crashers/<target>/
(change with --crashers, or --no-save), where tests/tools/fuzz replays it on every `make test`. The summary
gives inputs run, runs/s, unique failures with their first traceback, outcomes by kind (the rejections
by error class and message, numbers blanked) and, under atheris, libFuzzer's coverage. Exit status 0
only if no input failed.

100 000 inputs take about 2 minutes for ota-file, 6 for zcl-ota and 3 to 4 for zcl-han on one core of a
shared 2-core machine (ota-file: ~800 inputs/s under atheris, ~2000/s with mutate; zcl-ota: ~285/s
either way; zcl-han: ~525/s under atheris, ~450/s with mutate).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from fuzzlib.engine import CRASHERS_ROOT, Session, Stats, Target, fuzz_with_mutator, load_inputs, run_input, save_input

TARGET_MODULES = {"ota-file": "fuzzlib.ota_file", "zcl-ota": "fuzzlib.zcl_ota", "zcl-han": "fuzzlib.zcl_han",
                  "gbcs": "fuzzlib.gbcs"}
INSTRUMENTED = {"ota-file": ["hubfw", "construct"], "zcl-ota": ["hubfw"], "zcl-han": ["hubfw"], "gbcs": ["hubfw"]}
"""Packages atheris instruments for coverage: hubfw, and construct under the file parser. zigpy is left
out: instrumenting it halves the ZCL target's speed for little more reach into hubfw's decoder."""
SHOWN_KINDS = 40
_COVERAGE = re.compile(rb"cov: (\d+) ft: (\d+)")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Hostile input makes the hub log every refused exchange; the fuzzer's own report says what matters.
    logging.getLogger("hubfw").setLevel(logging.ERROR)
    if args.replay:
        return replay(_load_target(args.target), args.replay)
    if _engine(args.engine) == "atheris":
        return fuzz_atheris(args)
    target = _load_target(args.target)
    session = _session(target, args)
    print(f"target {target.name}, engine mutate, seed {args.seed}, {args.runs} inputs", flush=True)
    started = time.perf_counter()
    corpus = target.seeds() + load_inputs(_crashers_dir(target, args))
    stats = fuzz_with_mutator(session, args.runs, args.seed, corpus, _progress(started, lambda: None))
    print("\n".join(summary(target, "mutate", stats, time.perf_counter() - started, None)))
    return 1 if stats.failures else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("target", choices=sorted(TARGET_MODULES))
    parser.add_argument("--runs", type=int, default=100_000, help="inputs to run (default 100000)")
    parser.add_argument("--engine", choices=("auto", "atheris", "mutate"), default="auto")
    parser.add_argument("--seed", type=int, default=1, help="RNG seed (libFuzzer's -seed under atheris)")
    parser.add_argument("--corpus", type=Path, help="atheris working corpus directory (default: a temporary one)")
    parser.add_argument(
        "--crashers", type=Path, help="where new failures are saved (default tests/tools/fuzz/crashers/<target>)"
    )
    parser.add_argument("--no-save", action="store_true", help="do not save failing inputs")
    parser.add_argument("--replay", nargs="+", type=Path, metavar="FILE", help="run these inputs and show each verdict")
    return parser


def _engine(requested: str) -> str:
    if requested != "auto":
        return requested
    try:
        importlib.import_module("atheris")
    except ImportError:
        return "mutate"
    return "atheris"


def _load_target(name: str) -> Target:
    return importlib.import_module(TARGET_MODULES[name]).TARGET


def _crashers_dir(target: Target, args: argparse.Namespace) -> Path:
    return args.crashers or CRASHERS_ROOT / target.name


def _session(target: Target, args: argparse.Namespace) -> Session:
    return Session(target, None if args.no_save else _crashers_dir(target, args))


def replay(target: Target, paths: list[Path]) -> int:
    failed = 0
    for path in paths:
        verdict = run_input(target, path.read_bytes())
        if verdict.failure is None:
            print(f"{path}: ok")
            for outcome in verdict.outcomes:
                print(f"    {outcome}")
        else:
            failed += 1
            print(f"{path}: FAILURE {verdict.failure.signature}\n{verdict.failure.detail}")
    return 1 if failed else 0


def summary(target: Target, engine: str, stats: Stats, seconds: float, coverage: str | None) -> list[str]:
    lines = [
        f"== {target.name} ({engine}) ==",
        f"inputs run: {stats.inputs} in {seconds:.1f} s ({stats.inputs / max(seconds, 1e-9):.0f}/s)",
        f"unique failures: {len(stats.failures)} ({stats.failing_inputs} failing inputs)",
    ]
    for signature, found in stats.failures.items():
        saved = f", saved as {found.saved}" if found.saved else ""
        lines.append(f"  FAILURE {signature} x{found.inputs}{saved}")
        lines.extend(f"    {line}" for line in found.failure.detail.splitlines()[-12:])
    if coverage is not None:
        lines.append(f"coverage: {coverage}")
    by_class: Counter[str] = Counter()
    for outcome, count in stats.outcomes.items():
        by_class[_outcome_class(outcome)] += count
    lines.append(f"outcomes by class ({len(by_class)}):")
    lines.extend(f"  {count:9d}  {name}" for name, count in by_class.most_common())
    lines.append(f"outcomes by kind ({len(stats.outcomes)}):")
    lines.extend(f"  {count:9d}  {outcome}" for outcome, count in stats.outcomes.most_common(SHOWN_KINDS))
    if len(stats.outcomes) > SHOWN_KINDS:
        lines.append(f"  … and {len(stats.outcomes) - SHOWN_KINDS} rarer kinds")
    return lines


def _outcome_class(outcome: str) -> str:
    """'parse: ImageFormatError: …' -> 'parse: ImageFormatError'; 'image_block -> X' -> 'X' without details."""
    if " -> " in outcome:
        return outcome.split(" -> ", 1)[1]
    return ":".join(outcome.split(":", 2)[:2])


def _progress(started: float, coverage: Callable[[], str | None]) -> Callable[[Stats], None]:
    def show(stats: Stats) -> None:
        rate = stats.inputs / max(time.perf_counter() - started, 1e-9)
        extra = coverage()
        print(
            f"  {stats.inputs} inputs, {rate:.0f}/s, {len(stats.failures)} unique failures"
            + (f", {extra}" if extra else ""),
            flush=True,
        )

    return show


# ------------------------------------------------------------------ atheris


def fuzz_atheris(args: argparse.Namespace) -> int:
    """libFuzzer drives; our own counter stops the run after --runs inputs and prints the summary."""
    try:
        import atheris
    except ImportError:
        print("fuzz: atheris is not installed (pip install atheris), or use --engine mutate", file=sys.stderr)
        return 2

    with atheris.instrument_imports(include=INSTRUMENTED[args.target]):
        target = _load_target(args.target)
    session = _session(target, args)
    seeds = target.seeds()
    corpus_dir = args.corpus or Path(tempfile.mkdtemp(prefix=f"hubfw-fuzz-{target.name}-"))
    for data in seeds:
        save_input(corpus_dir, data, "seed-")
    crashers = _crashers_dir(target, args)
    log_path = corpus_dir.parent / f"{corpus_dir.name}.libfuzzer.log"
    print(f"target {target.name}, engine atheris, seed {args.seed}, {args.runs} inputs", flush=True)
    print(f"corpus {corpus_dir}; libFuzzer log {log_path}", flush=True)
    log = open(log_path, "wb")  # noqa: SIM115 - libFuzzer writes to it until the process ends
    os.dup2(log.fileno(), 2)

    def coverage() -> str | None:
        matches = _COVERAGE.findall(log_path.read_bytes()[-16384:])
        return f"cov {int(matches[-1][0])} ft {int(matches[-1][1])} (libFuzzer)" if matches else None

    started = time.perf_counter()
    progress = _progress(started, coverage)
    report_every = max(args.runs // 10, 1)

    def test_one_input(data: bytes) -> None:
        session.execute(data)
        if session.stats.inputs % report_every == 0:
            progress(session.stats)
        if session.stats.inputs >= args.runs:
            print("\n".join(summary(target, "atheris", session.stats, time.perf_counter() - started, coverage())))
            sys.stdout.flush()
            os._exit(1 if session.stats.failures else 0)

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        """Half libFuzzer's own mutations, half the target's structure-aware ones."""
        rng = random.Random(seed)
        if rng.random() < 0.5:
            return atheris.Mutate(data, max_size)
        return target.mutate(data, rng, seeds)[:max_size]

    libfuzzer_args = [sys.argv[0], f"-seed={args.seed}", f"-max_len={target.max_len}", str(corpus_dir)]
    if crashers.is_dir():
        libfuzzer_args.append(str(crashers))
    atheris.Setup(libfuzzer_args, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()
    return 1  # not reached: test_one_input ends the process


if __name__ == "__main__":
    sys.exit(main())
