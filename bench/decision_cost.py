"""CPU per routing decision: `RoutingPolicy.decide` with the real catalog, no I/O.

Measures what a router spends choosing a model once the prompt is classified: candidates,
capability checks, expected quality, override, exploration draw and the fallback chain. The
classifier is left out (bench/bench_classifier.py measures it). Run it on two trees to compare:

    .venv/bin/python bench/decision_cost.py [--rounds 20000]

Cases: plain text; text with sampling controls; tools; an image; a forced model; a key limited
to two models. Trees without capabilities (before issue 18) run the plain cases only. Trees with
the learned quality model (issue 15) add: plain text decided by a learned model (the bandit,
Thompson draw and budget included), and what the router adds per request for it whatever
decides: the context vector of a classified prompt and its float16 encoding for the event.
"""

from __future__ import annotations

import argparse
import inspect
import random
import time
from typing import Any

import numpy as np

from schemas.messages import ChatMessage, RouteConstraints
from shared.routing.catalog import load_catalog
from shared.routing.classifier import Classification
from shared.routing.policy import RoutingPolicy

PROVIDERS = frozenset({"anthropic", "google", "openrouter"})
TEXT = [ChatMessage(role="user", content="Explain the difference between TCP and UDP.")]


def _cases() -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = {
        "plain text": {},
        "forced model": {"constraints": RouteConstraints(model="claude-haiku-4-5")},
    }
    try:
        from schemas.messages import GenerationOptions, ImagePart, ToolSpec
        from shared.routing.capabilities import Needs
    except ImportError:
        return cases
    image = [
        ChatMessage(
            role="user",
            content="What is this?",
            images=[ImagePart(url="https://example.com/cat.png")],
        )
    ]
    tools = GenerationOptions(tools=[ToolSpec(name="get_weather")])
    sampled = GenerationOptions(temperature=0.2, stop=["END"])
    cases["plain text"] = {"needs": Needs.of(TEXT, GenerationOptions())}
    cases["sampling"] = {"needs": Needs.of(TEXT, sampled)}
    cases["tools"] = {"needs": Needs.of(TEXT, tools)}
    cases["image"] = {"needs": Needs.of(image, GenerationOptions())}
    cases["forced model"]["needs"] = Needs.of(TEXT, GenerationOptions())
    cases["two allowed models"] = {
        "constraints": RouteConstraints(allowed_models=["gemini-2.5-flash", "claude-haiku-4-5"]),
        "needs": Needs.of(TEXT, GenerationOptions()),
    }
    return cases


def _time(policy: RoutingPolicy, kwargs: dict[str, Any], rounds: int) -> float:
    """The fastest of 5 runs, in microseconds of this process's CPU per decision (the
    machine is shared: the minimum is the figure least disturbed by other processes)."""
    classification = Classification("analysis", "medium", ())
    rng = random.Random(0)
    runs = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(rounds):
            policy.decide(classification, 120, 512, rng, **kwargs)
        runs.append((time.process_time() - started) / rounds * 1e6)
    return min(runs)


def _learned_cases(catalog: Any) -> dict[str, dict[str, Any]]:
    try:
        from shared.routing.bandit.chooser import ExplorationBudget
        from shared.routing.bandit.context import context_vector
        from shared.routing.bandit.quality_model import QualityModel
        from shared.routing.capabilities import Needs
        from shared.routing.learned_choice import Scoring
    except ImportError:
        return {}
    from schemas.messages import GenerationOptions

    x = context_vector(_classification(with_embedding=True), [TEXT[0].content])
    budget = ExplorationBudget(share=0.3, saved_usd=1e9)  # every draw affordable
    scoring = Scoring(QualityModel.prior(catalog), x, version=1, budget=budget)
    return {"learned model": {"needs": Needs.of(TEXT, GenerationOptions()), "scoring": scoring}}


def _classification(with_embedding: bool = False) -> Classification:
    if not with_embedding:
        return Classification("analysis", "medium", ())
    embedding = np.random.default_rng(0).standard_normal(256).astype(np.float32)
    embedding /= np.linalg.norm(embedding)
    probabilities = {"analysis": 0.7, "factual": 0.2, "chat": 0.1}
    return Classification("analysis", "medium", (), probabilities, 0.3, embedding)


def _context_cost(rounds: int) -> float | None:
    """Microseconds per request for the context vector and its float16 encoding."""
    try:
        from shared.routing.bandit.context import context_vector
        from shared.routing.stored_features import encode_features
    except ImportError:
        return None
    classification = _classification(with_embedding=True)
    texts = [TEXT[0].content]
    runs = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(rounds):
            encode_features(context_vector(classification, texts))
        runs.append((time.process_time() - started) / rounds * 1e6)
    return min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20_000)
    args = parser.parse_args()
    catalog = load_catalog()
    policy = RoutingPolicy(catalog, PROVIDERS, exploration_rate=0.05)
    takes_needs = "needs" in inspect.signature(policy.decide).parameters
    print(
        f"{len(catalog.models)} catalog models, {args.rounds} decisions per run, "
        "CPU time, best of 5"
    )
    for name, case in {**_cases(), **_learned_cases(catalog)}.items():
        kwargs = case if takes_needs else {k: v for k, v in case.items() if k != "needs"}
        print(f"{name:<20} {_time(policy, kwargs, args.rounds):8.1f} us/decision")
    context = _context_cost(args.rounds)
    if context is not None:
        print(f"{'context + encoding':<20} {context:8.1f} us/request (every request)")


if __name__ == "__main__":
    main()
