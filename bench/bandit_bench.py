"""The bandit's two costs that have goals (issue 15): scoring per request, and a retrain.

    .venv/bin/python bench/bandit_bench.py score [--rounds 5000]
    .venv/bin/python bench/bandit_bench.py retrain [--rows 1000000] [--arrays]

`score`: CPU per request of what the router adds to a decision for the bandit, with the real
catalog (every model a candidate): the context vector of a classified prompt, and `choose`
(scoring every candidate, the Thompson draw and the budget). Classification itself is
bench/bench_classifier.py's. Goal: <= 0.1 ms. The first line times one small numpy operation:
scoring is some forty of them, so on a busy machine its figure scales the rest.
`retrain`: one `retrain_quality_model` over N synthetic rated requests spread over the catalog's
models (random contexts of the real layout, outcomes from a hidden logistic rule), starting from
the cold-start prior: wall time, CPU time and the process's peak RSS. `--arrays` feeds
`QualityModel.updated_arrays` (rows already grouped as arrays, as a store can return them)
instead of one `Outcome` per row. Goal: <= 30 s and <= 2 GB for 1M rows.
"""

from __future__ import annotations

import argparse
import random
import resource
import time

import numpy as np

from shared.routing.bandit.chooser import ExplorationBudget, choose
from shared.routing.bandit.context import CONTEXT_SIZE, EMBEDDING_SLICE, context_vector
from shared.routing.bandit.outcomes import Outcome
from shared.routing.bandit.params import BanditParams
from shared.routing.bandit.quality_model import QualityModel
from shared.routing.catalog import load_catalog
from shared.routing.classifier import classify
from shared.routing.learning import expected_cost
from shared.routing.retrain import retrain_quality_model

PROMPTS = [
    "Explain the difference between TCP and UDP.",
    "Write a Python function that merges two sorted lists.",
    "Translate 'good morning, how are you?' into German.",
    "Summarise the plot of Hamlet in three sentences.",
]


def score(rounds: int) -> None:
    catalog = load_catalog()
    rng = random.Random(0)
    model = QualityModel.prior(catalog)
    # A learned model, not the diagonal prior: same cost, but say so honestly.
    xs = [context_vector(classify(p), [p]) for p in PROMPTS]
    model = model.updated(
        Outcome(m.id, xs[i % len(xs)], float(rng.random() < 0.8))
        for i, m in enumerate(catalog.models * 20)
    )
    classified = [classify(p) for p in PROMPTS]
    costs = {m.id: expected_cost(m) for m in catalog.models}
    budget = ExplorationBudget()
    target = BanditParams().quality_target

    def vector(i: int) -> object:
        return context_vector(classified[i % 4], [PROMPTS[i % 4]])

    def greedy(i: int) -> object:
        return choose(catalog.models, model, xs[i % 4], target, rng, None, costs=costs)

    def thompson(i: int) -> object:
        return choose(catalog.models, model, xs[i % 4], target, rng, budget, costs=costs)

    small = np.ones(18)

    def one_numpy_call(i: int) -> object:
        return small + i

    for name, work in (
        ("(one small numpy call, for scale)", one_numpy_call),
        ("context vector", vector),
        ("choose (greedy, no budget)", greedy),
        ("choose (Thompson + budget)", thompson),
    ):
        for i in range(200):
            work(i)
        start = time.process_time()
        for i in range(rounds):
            work(i)
        per = (time.process_time() - start) / rounds * 1e6
        print(f"{name:30} {per:8.1f} us CPU per request ({len(catalog.models)} candidates)")


def retrain(rows: int, arrays: bool) -> None:
    catalog = load_catalog()
    models = [m.id for m in catalog.models]
    rng = np.random.default_rng(0)
    x = np.zeros((rows, CONTEXT_SIZE), dtype=np.float32)
    x[:, 0] = 1.0
    x[:, EMBEDDING_SLICE] = rng.normal(0.0, 1.0, (rows, EMBEDDING_SLICE.stop - 1))
    x[:, -1] = rng.normal(0.0, 0.5, rows)
    x[np.arange(rows), 1 + EMBEDDING_SLICE.stop - 1 + rng.integers(0, 9, rows)] = 1.0
    which = rng.integers(0, len(models), rows)
    hidden = rng.normal(0.0, 0.3, (len(models), CONTEXT_SIZE))
    logits = np.einsum("nd,nd->n", x, hidden[which]) + 1.0
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logits))).astype(np.float64)
    model = QualityModel.prior(catalog)
    print(f"{rows} rated rows over {len(models)} models, context {CONTEXT_SIZE} numbers")
    wall, cpu = time.perf_counter(), time.process_time()
    if arrays:
        batches = {r: (x[which == r].astype(np.float64), y[which == r]) for r in range(len(models))}
        fitted = model.updated_arrays(batches)
    else:
        outcomes = [Outcome(models[w], x[i], float(y[i])) for i, w in enumerate(which)]
        fitted = retrain_quality_model(model, outcomes)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    path = "arrays" if arrays else "one Outcome per row"
    print(
        f"retrain: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {rss:.0f} MB ({path}); "
        f"{fitted.counts.sum()} learned"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("score")
    s.add_argument("--rounds", type=int, default=5000)
    r = sub.add_parser("retrain")
    r.add_argument("--rows", type=int, default=1_000_000)
    r.add_argument("--arrays", action="store_true")
    args = parser.parse_args()
    if args.what == "score":
        score(args.rounds)
    else:
        retrain(args.rows, args.arrays)


if __name__ == "__main__":
    main()
