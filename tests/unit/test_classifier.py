"""The trained prompt classifier: its result, its evidence, clear prompts in several languages."""

from __future__ import annotations

import numpy as np
import pytest

from schemas.messages import ChatMessage
from shared.routing.catalog import COMPLEXITIES, PATTERNS
from shared.routing.classifier import Classification, analyse, classify
from shared.routing.embedder import DIM


def test_result_shape_and_evidence() -> None:
    result = classify("Write a Python function that returns the n-th Fibonacci number.")
    assert isinstance(result, Classification)
    assert result.pattern in PATTERNS
    assert result.complexity in COMPLEXITIES
    assert set(result.probabilities) <= set(PATTERNS)
    assert abs(sum(result.probabilities.values()) - 1.0) < 1e-3
    assert result.pattern == max(result.probabilities, key=result.probabilities.__getitem__)
    assert result.signals[0] == f"p:{result.pattern}={result.probabilities[result.pattern]:.2f}"
    assert result.failure_share is not None and 0.0 <= result.failure_share <= 1.0
    assert result.embedding is not None and result.embedding.shape == (DIM,)
    with pytest.raises(AttributeError):
        result.pattern = "code"  # type: ignore[misc]


def test_analyse_is_the_same_model_on_one_text() -> None:
    text = "Solve for x: 3x + 10 = 25"
    found = analyse(text)
    result = classify(text)
    assert np.array_equal(found.embedding, result.embedding)
    assert result.probabilities[result.pattern] == pytest.approx(
        float(found.prediction.probabilities.max()), abs=1e-4
    )


def test_the_last_user_turn_leads_and_earlier_turns_count() -> None:
    messages = [
        ChatMessage(role="system", content="You are a helpful assistant."),
        ChatMessage(role="user", content="Write a Python function to merge two sorted lists."),
        ChatMessage(role="assistant", content="def merge(a, b): ..."),
        ChatMessage(role="user", content="Now make it handle None inputs too."),
    ]
    alone = classify("Now make it handle None inputs too.")
    in_context = classify(messages)
    assert in_context.probabilities["code"] > alone.probabilities["code"]


def test_long_prompts_are_classified_quickly_enough_to_finish() -> None:
    result = classify("Write a story about a lighthouse keeper. " * 2000)
    assert result.pattern in PATTERNS
