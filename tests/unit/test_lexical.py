"""The context's lexical counts: what each pattern counts, where they sit, and that the layout
change is refused by a model of the previous layout."""

import json
import math
import struct
import zlib

import numpy as np
import pytest

from shared.routing.bandit.context import CONTEXT_SIZE, LEXICAL_SLICE, context_vector
from shared.routing.bandit.lexical import LEXICAL_NAMES, WINDOW, lexical_features
from shared.routing.bandit.quality_model import FORMAT, ModelFormatError, QualityModel
from shared.routing.catalog import PATTERNS, load_catalog
from shared.routing.classifier import Classification


def counts(text: str) -> dict[str, int]:
    """Each feature turned back into its count (the features are log(1 + count) / 2)."""
    return {
        name: round(math.expm1(2 * value))
        for name, value in zip(LEXICAL_NAMES, lexical_features([text]), strict=True)
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tell me a story about a cat", {"numbers": 0, "operators": 0, "steps": 0, "code": 0}),
        ("Tom has 12 apples and eats 3.5. How many are left?",
         {"numbers": 3, "operators": 0, "steps": 2, "questions": 1}),  # 3.5: two digit runs
        ("Solve 3x + 4 = 19 and 7 - 2, then 8-5", {"numbers": 7, "operators": 4}),
        ("Is x \u2264 y? Compute \u221a2 \u00d7 3 or \\frac{1}{2}",
         {"operators": 4, "questions": 1, "code": 4}),
        ("A state-of-the-art, well-known model", {"operators": 0}),
        ("def f(x):\n    return {x};", {"code": 5}),
        ("Steps:\n1. mix\n2. bake\n- serve", {"numbers": 2, "steps": 3}),
        ("Why? How? \u4ec0\u4e48\uff1f", {"questions": 3}),
    ],
)  # fmt: skip
def test_each_pattern_counts_what_it_names(text: str, expected: dict[str, int]) -> None:
    found = counts(text)
    assert {name: found[name] for name in expected} == expected


def test_counts_add_up_over_the_request_texts() -> None:
    one = counts("What is 2 + 2?")
    both = dict(zip(LEXICAL_NAMES, lexical_features(["What is 2 + 2?"] * 2), strict=True))
    assert {n: round(math.expm1(2 * v)) for n, v in both.items()} == {
        n: 2 * c for n, c in one.items()
    }


def test_a_long_text_is_read_in_a_window_and_its_counts_scaled() -> None:
    sentence = "Add 1 and 2. "
    short, long = lexical_features([sentence * 10]), lexical_features([sentence * 1000])
    assert len(sentence * 1000) > 10 * WINDOW
    # 1000 sentences hold 100 times the counts of 10: the window's estimate is within a few %.
    for few, many in zip(short, long, strict=True):
        assert math.expm1(2 * many) == pytest.approx(100 * math.expm1(2 * few), rel=0.05)


def test_lexical_features_fill_their_slice_of_the_context() -> None:
    classification = Classification("math", "medium", (), {p: float(p == "math") for p in PATTERNS})
    plain = context_vector(classification, ["Tell me about cats"])
    mathy = context_vector(classification, ["Compute 12 * 7 + 3 = ? Then 4 / 2 = ?"])
    assert plain.shape == mathy.shape == (CONTEXT_SIZE,)
    assert LEXICAL_SLICE.stop == CONTEXT_SIZE and LEXICAL_SLICE.stop - LEXICAL_SLICE.start == 5
    assert not plain[LEXICAL_SLICE][:2].any()  # no numbers, no operators
    # 5 numbers, 5 operators: log(6) / 2 each
    np.testing.assert_allclose(mathy[LEXICAL_SLICE][:2], math.log(6) / 2, rtol=1e-6)
    before = np.arange(CONTEXT_SIZE) < LEXICAL_SLICE.start
    np.testing.assert_array_equal(plain[before][:-1], mathy[before][:-1])  # all but the length


def test_a_model_of_the_previous_layout_is_refused() -> None:
    """A model written by the 43-number layout (no lexical counts) must not load."""
    model = QualityModel.prior(load_catalog())
    data = zlib.decompress(model.to_bytes()[len(FORMAT) :])
    (size,) = struct.unpack_from("<I", data)
    old = json.loads(data[4 : 4 + size]) | {"context_version": "ctx1-bias-pca32-patterns9-loglen"}
    head = json.dumps(old).encode()
    stale = FORMAT + zlib.compress(struct.pack("<I", len(head)) + head + data[4 + size :])
    with pytest.raises(ModelFormatError, match="ctx1"):
        QualityModel.from_bytes(stale)
