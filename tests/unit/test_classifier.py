# ruff: noqa: RUF001 - prompts in other scripts use their own punctuation and letters
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
        ChatMessage(role="user", content="Thanks! Now make it shorter."),
    ]
    alone = classify("Thanks! Now make it shorter.")
    in_context = classify(messages)
    assert in_context.probabilities["code"] > alone.probabilities["code"]


def test_long_prompts_are_classified_quickly_enough_to_finish() -> None:
    result = classify("Write a story about a lighthouse keeper. " * 2000)
    assert result.pattern in PATTERNS


# Clear prompts, several languages each; none of them is in the training data.
CLEAR = {
    "code": (
        "Write a Python function that checks whether a string is a palindrome.",
        "Escribe una función en JavaScript que ordene un arreglo de números de mayor a menor.",
        "Schreibe eine Java-Methode, die prüft, ob eine Zahl eine Primzahl ist.",
        "Écris une fonction Python qui renvoie la liste des doublons d'une liste.",
        "用Python写一个函数，计算列表中所有偶数的和。",
        "Напишите функцию на Python, которая переворачивает связанный список.",
    ),
    "math": (
        "A shop sells pencils at 3 for $1.20. How much do 15 pencils cost?",
        "Resuelve la ecuación 3x + 7 = 22 y explica cada paso.",
        "Ein Zug fährt 240 km in 3 Stunden. Wie hoch ist seine Durchschnittsgeschwindigkeit?",
        "Marie a 12 pommes et en donne un tiers à son frère. Combien lui en reste-t-il ?",
        "小明有15个苹果，吃了4个，又买了7个。他现在有多少个苹果？",
        "У Маши было 24 конфеты, она раздала их поровну 6 друзьям. Сколько конфет получил каждый?",
    ),
    "creative": (
        "Write a short poem about the first snow of winter.",
        "Escribe un cuento corto sobre un dragón que tiene miedo a la oscuridad.",
        "Schreibe ein Gedicht über das Meer bei Nacht.",
        "Écris une courte histoire sur un phare abandonné.",
        "写一首关于秋天的诗。",
        "Напиши короткий рассказ о коте, который умеет говорить.",
    ),
}


# Misses of the shipped model, kept visible (strict: a model that gets one right fails here
# until it is taken off this list). None today: the five of the previous model (a Spanish
# equation, short writing requests in German, Russian, French and Chinese) are right since the
# team's own prompts were added (docs/classifier.md, "Data and the test set").
KNOWN_MISSES: frozenset[str] = frozenset()


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        pytest.param(p, t, marks=[pytest.mark.xfail(strict=True)] if t in KNOWN_MISSES else [])
        for p, texts in CLEAR.items()
        for t in texts
    ],
)
def test_clear_prompts_in_several_languages(pattern: str, text: str) -> None:
    assert classify(text).pattern == pattern


def test_the_hot_path_skips_only_the_token_evidence() -> None:
    text = "Write a Python function that merges two sorted lists."
    full = classify(text)
    fast = classify(text, evidence=False)
    assert fast == Classification(
        full.pattern,
        full.complexity,
        tuple(s for s in full.signals if not s.startswith("token:")),
        full.probabilities,
        full.failure_share,
    )
    assert any(s.startswith("token:") for s in full.signals)
