"""Prompt classification: which kind of work a prompt asks for (pattern) and how hard it is.

A trained model, not word lists (`shared.routing.prompt_model`, trained by `python -m
training.train` on public labelled prompts; data and sources in training/data/SOURCES.md):
- the pattern is the most probable one of a logistic regression over the prompt's embedding,
  hashed tokens and character shares (`shared.routing.features`; computed on the hot path
  from sums remembered per chunk of text, `shared.routing.chunk_scores`);
- the complexity level cuts a predicted share of models that fail the prompt, fitted to
  per-prompt outcomes of public benchmarks, into low / medium / high.

The decision explains itself: `probabilities` per pattern, and `signals` naming the most
probable patterns, the tokens that pushed most toward the chosen one, and the predicted
failure share. The last user message decides; earlier turns and the system prompt count half,
so a follow-up such as "now make it shorter" keeps the conversation's pattern.

For other consumers (the bandit): `Classification.embedding` is the prompt's 256-d vector and
`probabilities` / `failure_share` are stable features; `analyse(text)` gives both for one text.
Measured in docs/classifier.md (`python -m training.evaluate`, bench/bench_classifier.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from schemas.messages import ChatMessage
from shared.routing.chunk_scores import chunk_scorer
from shared.routing.embedder import FloatVector, get_embedder
from shared.routing.heap import hand_back_freed_heap
from shared.routing.prompt_model import Prediction, PromptModel, load_model

_CONTEXT_WEIGHT = 0.5  # earlier turns and the system prompt


@dataclass(frozen=True, slots=True)
class Classification:
    """What a prompt asks for and how hard it is, with the evidence.

    `probabilities` maps every pattern the model knows to its probability (they sum to 1);
    `failure_share` is the predicted share of models that get such a prompt wrong (0-1);
    `embedding` is the last user turn's 256-d L2-normalised vector (None when not computed).
    """

    pattern: str
    complexity: str
    signals: tuple[str, ...]
    probabilities: Mapping[str, float] = field(default_factory=dict)
    failure_share: float | None = None
    embedding: FloatVector | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Analysis:
    """One text's embedding and the model's prediction for it."""

    embedding: FloatVector
    prediction: Prediction
    evidence: tuple[str, ...]


def analyse(text: str, model: PromptModel | None = None, *, evidence: bool = True) -> Analysis:
    """Embed and score one text (no turn handling); `evidence=False` skips the strongest
    tokens (a third of the work on a short prompt), which only explanations show."""
    model = model or load_model()
    scored = chunk_scorer(model).score(text)  # = model.scores(prompt_features(embedder, text))
    prediction = model.prediction(scored.scores)
    if not evidence:
        return Analysis(scored.embedding, prediction, ())
    embedder = get_embedder()
    top = int(np.argmax(prediction.probabilities))
    tokens = (embedder.token_text(t).strip() for t, _ in model.token_evidence(scored.ids, top))
    # Byte pieces ("<0xE8>") and bare spaces explain nothing to a reader.
    found = tuple(f"token:{t}" for t in tokens if t and not t.startswith("<0x"))
    return Analysis(scored.embedding, prediction, found)


def preload() -> None:
    """Load the embedder and the model now, not on the first request (about 0.3 s), then hand
    back to the system the heap that loading freed: parsing the tokenizer and the artifact
    leaves about 12 MB that glibc would otherwise keep mapped in the process."""
    analyse("preload")
    hand_back_freed_heap()


def classify(messages: Sequence[ChatMessage] | str, *, evidence: bool = True) -> Classification:
    """Classify a prompt (plain text, or chat messages of which the last user turn leads).

    With `evidence=False` (the router's hot path: only previews show signals) the signals
    name the probable patterns and the failure share but no tokens."""
    model = load_model()
    main, context = (messages, "") if isinstance(messages, str) else split_turns(messages)
    found = analyse(main, model, evidence=evidence)
    probabilities = found.prediction.probabilities
    if context.strip():
        earlier = analyse(context, model, evidence=False).prediction.probabilities
        probabilities = probabilities + _CONTEXT_WEIGHT * earlier
        probabilities = probabilities / probabilities.sum()
    # Eight numbers: plain Python is cheaper than numpy calls here.
    values = probabilities.tolist()
    order = sorted(range(len(values)), key=lambda i: -values[i])
    pattern = model.patterns[order[0]]
    by_pattern = {p: round(v, 4) for p, v in zip(model.patterns, values, strict=True)}
    signals = (
        *(f"p:{model.patterns[i]}={values[i]:.2f}" for i in order[:3]),
        *found.evidence,
        f"failure_share:{found.prediction.failure_share:.2f}",
    )
    return Classification(
        pattern,
        found.prediction.complexity,
        signals,
        by_pattern,
        round(found.prediction.failure_share, 4),
        found.embedding,
    )


def split_turns(messages: Sequence[ChatMessage]) -> tuple[str, str]:
    """(the last user message, the other non-assistant turns joined)."""
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    if not users:
        return "\n".join(m.content for m in messages), ""
    last = users[-1]
    earlier = (m.content for i, m in enumerate(messages) if i != last and m.role != "assistant")
    return messages[last].content, "\n".join(earlier)
