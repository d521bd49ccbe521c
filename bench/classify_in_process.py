"""The router's classification work per request, in-process: trained model against the baselines.

What the router does per request before deciding, timed with the process CPU clock (median of 5
x 2,000 calls) for the bodies of bench/classifier_in_router.py: `classify(..., evidence=False)`
and the bandit's context vector, with the trained classifier, with the former lexicon rules
(`shared.routing.rules`) and with a constant classification. Unlike a whole stack under wrk,
this resolves tens of microseconds on a loaded machine. First, 3,000 distinct training prompts
classified from empty memos and then again (what prompts the router has never seen cost).
Nothing asserts.

    PYTHONPATH=. .venv/bin/python bench/classify_in_process.py
"""

from __future__ import annotations

import gzip
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench.classifier_in_router import LONG, SHORT
from schemas.messages import ChatMessage
from shared.routing import rules
from shared.routing.bandit.context import context_vector
from shared.routing.classifier import Classification, classify


def cpu_us(work: Callable[[], object], calls: int = 2000) -> float:
    for _ in range(100):
        work()
    runs = []
    for _ in range(5):
        started = time.process_time_ns()
        for _ in range(calls):
            work()
        runs.append((time.process_time_ns() - started) / calls / 1000)
    return statistics.median(runs)


def variants(messages: list[ChatMessage]) -> dict[str, Callable[[], Classification]]:
    def lexicon() -> Classification:
        found = rules.classify(messages)
        return Classification(found.pattern, found.complexity, found.signals)

    return {
        "trained": lambda: classify(messages, evidence=False),
        "lexicon": lexicon,
        "constant": lambda: Classification("general", "low", ()),
    }


def first_sight(count: int) -> None:
    """CPU per prompt of `count` distinct training prompts from empty memos, then again."""
    path = Path(__file__).resolve().parents[1] / "training" / "data" / "train.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        texts = list(dict.fromkeys(str(json.loads(line)["text"]) for line in handle))[:count]
    for label in ("first sight", "again"):
        started = time.process_time_ns()
        for text in texts:
            classify(text, evidence=False)
        cpu = (time.process_time_ns() - started) / len(texts) / 1000
        print(f"{count} distinct training prompts, {label}: {cpu:.0f} us per prompt")


def main() -> int:
    first_sight(3000)  # before anything else fills the memos
    for label, text in (("short", SHORT), ("2,000 characters", LONG)):
        costs = {
            name: cpu_us(lambda make=make, text=text: context_vector(make(), [text]))
            for name, make in variants([ChatMessage(role="user", content=text)]).items()
        }
        print(f"{label}: " + ", ".join(f"{name} {us:.0f} us" for name, us in costs.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
