# ruff: noqa: RUF001 - prompts in other scripts use their own punctuation and letters
"""The classifier's hot path (sums per chunk) gives what the plain feature computation gives."""

from __future__ import annotations

import numpy as np
import pytest

from shared.routing.chunk_scores import ChunkScorer
from shared.routing.classifier import analyse
from shared.routing.embedder import get_embedder, words
from shared.routing.features import (
    BUCKETS,
    PromptFeatures,
    prompt_features,
    spans_grams,
    word_grams,
)
from shared.routing.prompt_model import PromptModel, load_model

PROMPTS = (
    "Write a Python function that checks whether a string is a palindrome.",
    "Schreibe ein Gedicht über den Herbst im Stil von Rilke.",
    "Resuelve la ecuación 3x + 7 = 22 y explica cada paso.",
    "東京から大阪までの距離は何キロですか？簡単に説明してください。",
    "请把下面这段话翻译成英文：我今天很高兴。",
    "Напиши короткий рассказ о маяке и его смотрителе.",
    "ما هي عاصمة أستراليا؟ أجب بجملة واحدة.",
    "ΓΡΆΨΕ ΈΝΑ ΠΟΊΗΜΑ ΓΙΑ ΤΟΝ ΚΌΣΜΟ ΚΑΙ ΤΟΥΣ ΑΝΘΡΏΠΟΥΣ: İstanbul, Straße, ǅemal.",
    "इस पाठ का सारांश तीन वाक्यों में लिखिए।",
    "def merge(a, b):\n\tif not a:\n\t\treturn b  # __dunder__ x_y ```code```\n",
    "Summarize: " + "The committee met on Tuesday, and (after long debate) voted 7-2. " * 150,
    "x" * 3000 + " tail words after a very long unbroken run",
    "?!… 🙂🙂 ...",
    "",
    "   \n\t  ",
)


def reference_evidence(
    model: PromptModel, features: PromptFeatures, pattern: int
) -> list[tuple[int, float]]:
    """Distinct tokens whose unigram row pushes most toward `pattern`: a plain loop."""
    rows = model.sparse[features.tokens, :-1]
    push = rows[:, pattern] - rows.mean(axis=1)
    found: list[tuple[int, float]] = []
    for i in np.argsort(-push, kind="stable"):
        if push[i] <= 0 or len(found) == 3:
            break
        token = int(features.ids[i])
        if all(token != t for t, _ in found):
            found.append((token, float(push[i])))
    return found


def reference_scores(model: PromptModel, features: PromptFeatures) -> np.ndarray:
    """`PromptModel.scores` in float64: its float32 sums of thousands of hashed rows are off by
    up to 2e-4 on a long prompt, the hot path's float64 sums by under 1e-6."""
    sparse = model.sparse.astype(np.float64)
    return (
        model.dense.astype(np.float64) @ features.dense
        + model.bias
        + sparse[features.tokens].sum(axis=0) * features.token_weight
        + sparse[features.grams].sum(axis=0) * features.gram_weight
    )


def assert_same_as_reference(scorer: ChunkScorer, model: PromptModel, text: str) -> None:
    features = prompt_features(get_embedder(), text)
    expected = model.prediction(reference_scores(model, features))
    scored = scorer.score(text)
    found = model.prediction(scored.scores)
    np.testing.assert_allclose(found.probabilities, expected.probabilities, rtol=0, atol=1e-6)
    assert found.failure_share == pytest.approx(expected.failure_share, abs=1e-6)
    np.testing.assert_allclose(scored.scores, model.scores(features), rtol=0, atol=1e-3)
    assert np.array_equal(scored.embedding, features.embedding)
    assert np.array_equal(scored.ids, features.ids)
    top = int(np.argmax(found.probabilities))
    evidence = model.token_evidence(scored.ids, top)
    expected_evidence = reference_evidence(model, features, top)
    assert [t for t, _ in evidence] == [t for t, _ in expected_evidence]
    np.testing.assert_allclose([p for _, p in evidence], [p for _, p in expected_evidence])


@pytest.mark.parametrize("text", PROMPTS)
def test_scores_equal_the_plain_computation(text: str) -> None:
    model = load_model()
    scorer = ChunkScorer(model, get_embedder())
    assert_same_as_reference(scorer, model, text)  # chunks learned on first sight
    assert_same_as_reference(scorer, model, text)  # and read back from the table


@pytest.mark.parametrize(("limit", "word_limit"), [(40, 1000), (1000, 30)])
def test_a_full_table_starts_afresh_with_the_same_results(limit: int, word_limit: int) -> None:
    model = load_model()
    scorer = ChunkScorer(model, get_embedder(), limit=limit, word_limit=word_limit)
    for text in PROMPTS * 2:
        assert_same_as_reference(scorer, model, text)


def test_analyse_uses_the_loaded_model() -> None:
    model = load_model()
    text = "Erkläre, wie ein Kühlschrank funktioniert."
    expected = model.predict(prompt_features(get_embedder(), text))
    found = analyse(text, model).prediction
    np.testing.assert_allclose(found.probabilities, expected.probabilities, atol=1e-6)
    assert found.complexity == expected.complexity


@pytest.mark.parametrize("text", PROMPTS)
def test_n_grams_of_many_words_at_once_are_those_of_each_word(text: str) -> None:
    found = words(text)
    if not found:
        return
    grams, starts = spans_grams(found, BUCKETS)
    ends = [*starts.tolist()[1:], len(grams)]
    for word, start, end in zip(found, starts.tolist(), ends, strict=True):
        spanned = grams[start:end].ravel()
        assert sorted(spanned[spanned != BUCKETS].tolist()) == sorted(word_grams(word).tolist())
    assert (grams != BUCKETS).sum() == sum(word_grams(word).size for word in found)


def test_chunks_learned_after_another_thread_started_a_fresh_table() -> None:
    model = load_model()
    scorer = ChunkScorer(model, get_embedder())
    text = PROMPTS[1]
    scorer.score(text)
    chunks = text.split()
    old = scorer._table
    found = [old.index.get(chunk) for chunk in chunks[:3]] + [None]
    scorer._table = scorer._fresh_table()  # what a thread meeting a full table does
    table, entries = scorer._learn(chunks, found, old.generation)
    assert table is scorer._table
    assert entries == [table.index[chunk] for chunk in chunks]
    assert_same_as_reference(scorer, model, text)
