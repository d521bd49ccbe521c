"""Run services with the prompt classifier replaced: the baseline of bench/cpu_per_request.py.

The router's CPU per request with the trained classifier minus this baseline's is what the
classifier costs. Two baselines:
- `lexicon`: the former hand-written rules (`shared.routing.rules`), as the router classified
  before the trained model (pattern and complexity only: no probabilities, no embedding);
- `constant`: every prompt is `general` / `low` with no evidence (classification costs nothing;
  the bandit's context then holds a one-hot pattern and zeros for the embedding).
The rest of the command line is `optimizer`'s (its trailing `optimizer serve router` is what
bench/cpu_per_request.py looks for in a process's command line):

    PYTHONPATH=. .venv/bin/python bench/router_baseline.py lexicon optimizer serve router
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from schemas.messages import ChatMessage
from shared.routing import classifier, rules


def _lexicon(messages: Sequence[ChatMessage] | str, **_: object) -> classifier.Classification:
    found = rules.classify(messages)
    return classifier.Classification(found.pattern, found.complexity, found.signals)


def _constant(messages: Sequence[ChatMessage] | str, **_: object) -> classifier.Classification:
    return classifier.Classification("general", "low", ())


BASELINES = {"lexicon": _lexicon, "constant": _constant}


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in BASELINES or argv[1] != "optimizer":
        raise SystemExit(__doc__)
    # Before the services are imported: they bind `classify` by name when they are.
    classifier.classify = BASELINES[argv[0]]  # type: ignore[assignment]
    classifier.preload = lambda: None  # no weights to load
    from services.cli import main as optimizer

    return optimizer(argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
