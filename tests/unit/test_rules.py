"""The former rule classifier (the baseline): patterns, complexity, substring traps."""

import time

import pytest

from schemas.messages import ChatMessage
from shared.routing.catalog import COMPLEXITIES, PATTERNS
from shared.routing.rules import RuleClassification as Classification
from shared.routing.rules import classify


@pytest.mark.parametrize(
    ("prompt", "pattern"),
    [
        ("Write a Python function that returns the n-th Fibonacci number.", "code"),
        ("Why does this raise a KeyError?\n```python\nd = {}\nprint(d['x'])\n```", "code"),
        ("Solve for x: 3x + 10 = 5(x - 2)", "math"),
        ("A shop sells 12 apples at $3 each and 5 pears at $2 each. How much is that?", "math"),
        ("Write a haiku about the sea at night.", "creative"),
        ("Pretend to be a pirate captain and greet your crew.", "creative"),
        ("Compare the pros and cons of nuclear and solar power.", "analysis"),
        ("What if the printing press had never been invented?", "analysis"),
        ("Who was the first president of the United States?", "factual"),
        (
            "Summarize the following article in three sentences: The council met on Monday ...",
            "summarization",
        ),
        ("Translate 'good morning, how are you?' into French.", "translation"),
        (
            "Extract every person and company named in this text and return them as JSON.",
            "extraction",
        ),
        ("Hi! Any tips for sleeping better?", "general"),
    ],
)
def test_patterns(prompt: str, pattern: str) -> None:
    assert classify(prompt).pattern == pattern


def test_capital_is_not_api() -> None:
    # "capital" contains the letters of "api": whole words only.
    result = classify("What is the capital of Australia?")
    assert result.pattern == "factual"
    assert "code:api" not in result.signals


def test_classifying_emails_is_not_code() -> None:
    result = classify(
        "Classify these emails as spam or not spam: 1) You won a prize 2) Meeting at 3"
    )
    assert result.pattern == "extraction"


def test_summarize_a_python_file_is_summarization() -> None:
    # The task verb decides; the file being Python is only the topic.
    prompt = "Summarize this python file for a new colleague:\nimport os\n\ndef main():\n    pass\n"
    assert classify(prompt).pattern == "summarization"


def test_writing_code_that_summarizes_is_code() -> None:
    assert classify("Write a Python function that summarizes a list of numbers.").pattern == "code"


def test_translating_code_between_languages_is_not_translation() -> None:
    assert (
        classify(
            "Implement this JavaScript function in Python: function f(x) { return x * 2; }"
        ).pattern
        == "code"
    )


def test_last_user_turn_leads_and_context_counts() -> None:
    messages = [
        ChatMessage(role="system", content="You are a helpful assistant."),
        ChatMessage(role="user", content="Write a Python function to merge two sorted lists."),
        ChatMessage(role="assistant", content="def merge(a, b): ..."),
        ChatMessage(role="user", content="Now make it handle None inputs too."),
    ]
    assert classify(messages).pattern == "code"


def test_result_shape() -> None:
    result = classify("Explain how vaccines work.")
    assert isinstance(result, Classification)
    assert result.pattern in PATTERNS
    assert result.complexity in COMPLEXITIES
    assert all(isinstance(s, str) for s in result.signals)
    with pytest.raises(AttributeError):
        result.pattern = "code"  # type: ignore[misc]


def test_unclear_prompt_is_general() -> None:
    assert classify("ok").pattern == "general"


def test_complexity_grows_with_size_and_demands() -> None:
    short = classify("What is 2 + 2?")
    long = classify(
        "Design a distributed rate limiter in Go. It must be thread-safe, handle edge cases such "
        "as clock skew, and you should explain your reasoning step by step, with the trade-offs.\n"
        + "\n".join(
            f"{i}. requirement number {i} about throughput and latency" for i in range(1, 8)
        )
        + "\nAlso include unit tests and analyse the time complexity."
    )
    assert short.complexity == "low"
    assert long.complexity == "high"


def test_is_fast() -> None:
    prompts = ["Write a Python function to reverse a linked list."] * 200
    started = time.perf_counter()
    for p in prompts:
        classify(p)
    per_prompt = (time.perf_counter() - started) / len(prompts)
    # Not a benchmark (see bench/bench_classifier.py): a guard against an accidental 100x.
    assert per_prompt < 0.005
