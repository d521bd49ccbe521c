"""The embedder: loads from the installed package with no network, and embeds sensibly."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from shared.routing.embedder import (
    DIM,
    HEAD_CHARS,
    ROW_CACHE,
    TAIL_CHARS,
    WordLlamaEmbedder,
    clip,
    embed,
    get_embedder,
    words,
)

ROOT = Path(__file__).parents[2]


def test_loads_and_embeds_with_the_network_unreachable() -> None:
    # A fresh interpreter where opening any socket fails and the hub is told to stay offline:
    # loading must not even try.
    script = textwrap.dedent(
        """
        import socket

        class NoNetwork(socket.socket):
            def connect(self, *args, **kwargs):
                raise OSError("network unreachable (test)")

            connect_ex = connect

        socket.socket = NoNetwork
        from shared.routing.embedder import embed
        vector = embed("Write a haiku about the sea.")
        print(vector.shape[0], round(float((vector ** 2).sum()), 3))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [str(DIM), "1.0"]


def test_vectors_are_normalised_and_deterministic() -> None:
    first = embed("Solve for x: 3x + 10 = 25")
    assert first.shape == (DIM,) and first.dtype == np.float32
    assert abs(float(np.linalg.norm(first)) - 1.0) < 1e-5
    assert np.array_equal(first, embed("Solve for x: 3x + 10 = 25"))


def test_related_prompts_are_closer_than_unrelated_ones() -> None:
    poem = embed("Write a poem about the ocean at night.")
    verse = embed("Compose a short poem about the sea under the moon.")
    code = embed("Fix the segmentation fault in this C function that frees a linked list.")
    assert float(poem @ verse) > float(poem @ code)


def test_empty_text_is_a_zero_vector() -> None:
    assert not embed("").any()
    assert not embed("   ").any()


def test_long_prompts_are_read_at_head_and_tail() -> None:
    long = "head " + "x" * 20_000 + " tail"
    read = clip(long)
    assert len(read) == HEAD_CHARS + TAIL_CHARS + 1
    assert read.startswith("head ") and read.endswith(" tail")


def test_words_split_scripts_without_spaces() -> None:
    assert words("写一首诗 about 3 cats!") == ["写", "一", "首", "诗", "about", "3", "cats", "!"]


def test_word_memo_is_bounded(monkeypatch) -> None:
    embedder = get_embedder()
    monkeypatch.setattr("shared.routing.embedder._MEMO_LIMIT", 3)
    embedder.token_ids("alpha beta gamma delta epsilon zeta")
    embedder.token_ids("eta theta iota kappa")
    assert len(embedder._memo) <= 4


@pytest.mark.parametrize("row_cache", [0, 3, ROW_CACHE])
def test_embeddings_are_the_float16_rows_summed_in_float32(row_cache: int) -> None:
    shared = get_embedder()
    embedder = WordLlamaEmbedder(shared.table, shared._tokenizer, row_cache=row_cache)
    for text in ("Write a poem about the sea.", "Écris un poème sur la mer, la mer, la mer.", ""):
        ids = embedder.token_ids(text)
        plain = shared.table[ids].astype(np.float32).sum(axis=0)
        expected = plain / np.float32(np.linalg.norm(plain)) if ids.size else plain
        assert np.array_equal(embedder.embed_ids(ids), expected)
        assert np.array_equal(embedder.embed_ids(ids), expected)  # from kept rows


def test_word_tokenization_gives_the_tokenizer_s_own_ids() -> None:
    embedder = get_embedder()
    text = (
        "Write a Python function: def f(x_1): return x**2 # ünïcödé Straße İstanbul ΣΟΦΟΣ "
        "東京から大阪まで 请把这段话翻译成英文 Напиши рассказ ما هي عاصمة इस पाठ का 🙂🙂 ... 12345 "
        "<s> </s> <unk> \u2581 xqzzvk"
    )
    found = [*words(text), "<s>", "</s>", "<unk>"]
    tokenizer = embedder._tokenizer
    expected = [
        np.asarray(tokenizer.encode(word, add_special_tokens=False).ids, dtype="<i4").tobytes()
        for word in found
    ]
    assert embedder.tokenize(found) == expected


def test_words_tokenized_together_get_the_ids_each_gets_alone(monkeypatch) -> None:
    embedder = get_embedder()
    tokenizer = embedder._tokenizer
    text = (
        "Write a Python function: def f(x_1): return x**2 # ünïcödé Straße İstanbul ΣΟΦΟΣ "
        "東京から大阪まで 请把这段话翻译成英文 Напиши рассказ ما هي عاصمة इस पाठ का 🙂🙂 ... 12345 "
        "xqzzvk antidisestablishmentarianism <0x41> \u00a0"
    )
    found = words(text)
    alone = [
        np.asarray(tokenizer.encode(word, add_special_tokens=False).ids, dtype="<i4").tobytes()
        for word in found
    ]
    with monkeypatch.context() as patched:  # in one call of the BPE model, not one by one
        patched.setattr(embedder, "_tokenize_each", None)
        assert embedder.tokenize(found) == alone
    # A word holding "▁" or a special token's text sends the words one by one: same ids.
    for odd in ("a\u2581b", "\u2581", "<s>"):
        mixed = [*found[:5], odd, *found[5:9]]
        expected = [*alone[:5], *embedder._tokenize_each([odd]), *alone[5:9]]
        assert embedder.tokenize(mixed) == expected
    assert embedder.tokenize([]) == []
