"""A fixed workload of never-seen prompts, for counting instructions under valgrind.

Wall and CPU time on a shared machine move with its load; instruction counts do not. This runs
what `bench_classifier.py --never-seen` times (the training set's distinct texts shuffled with
seed 14, `--warm-up` of them classified once as earlier traffic, then `--count` prompts cut to
`--chars` characters, or joined to them, each classified once as the router calls it), so that
the instructions per never-seen prompt are (run - run with `--count 0`) / count:

    PYTHONHASHSEED=0 PYTHONPATH=. valgrind --tool=cachegrind --cache-sim=no \
        --cachegrind-out-file=/dev/null .venv/bin/python bench/classifier_instructions.py \
        --warm-up 1000 --chars 8000 --count 60

The cyclic garbage collector is off: when its full passes fall (each costs millions of
instructions) depends on every allocation since start, so with it on, a change of a few
instructions anywhere moves the count per prompt by several percent. Prints how many prompts
it classified; nothing asserts.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import random
from pathlib import Path

from shared.routing.classifier import classify, preload

TRAINING_TEXTS = Path(__file__).resolve().parents[1] / "training" / "data" / "train.jsonl.gz"


def workload(warm_up: int, chars: int, count: int) -> tuple[list[str], list[str]]:
    """(the warm-up texts, the timed prompts of `chars` characters)."""
    with gzip.open(TRAINING_TEXTS, "rt", encoding="utf-8") as handle:
        texts = list(dict.fromkeys(str(json.loads(line)["text"]) for line in handle))
    random.Random(14).shuffle(texts)
    unseen = texts[warm_up:]
    if chars <= 1000:
        cut = [text[:chars] for text in unseen[:2000] if len(text) >= chars]
        return texts[:warm_up], cut[:count]
    prompts, joined = [], ""
    for text in unseen[2000:]:
        if len(prompts) == count:
            break
        joined += text + "\n"
        if len(joined) >= chars:
            prompts.append(joined[:chars])
            joined = ""
    return texts[:warm_up], prompts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm-up", type=int, default=1000)
    parser.add_argument("--chars", type=int, default=200)
    parser.add_argument("--count", type=int, default=300, help="0: the warm-up alone")
    args = parser.parse_args(argv)
    gc.disable()
    warm, prompts = workload(args.warm_up, args.chars, args.count)
    preload()
    for text in warm:
        classify(text, evidence=False)
    for text in prompts:
        classify(text, evidence=False)
    print(f"{len(warm)} warm-up prompts, then {len(prompts)} of {args.chars} characters")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
