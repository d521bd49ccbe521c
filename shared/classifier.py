"""Prompt classification: which kind of work a prompt asks for (pattern) and how hard it looks.

Rules, not a model: every decision is explainable from `Classification.signals`, costs tens of
microseconds and needs no download. The rules look at whole words and short phrases, never at
raw substrings, so "capital" does not contain "api" and "classify these emails" is not code.

How a pattern is chosen:
- Each pattern has a lexicon of words and phrases with weights. A *task verb* ("summarize",
  "translate", "extract", "implement") says what to do and weighs more than a *topic word*
  ("python", "equation"), which only says what the prompt is about; so "summarize this python
  file" is summarization, while "write a python function" is code.
- The instruction's opening verb gets a bonus: prompts state their task first.
- The last user message decides; earlier turns and the system prompt count half, so that a
  follow-up such as "now make it shorter" keeps the conversation's pattern.
- Below a minimum score the prompt is `general`; ties go to the more specific task.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from schemas.messages import ChatMessage
from shared import _lexicon as lex
from shared.catalog import COMPLEXITIES, PATTERNS

# Long prompts put the instruction at the start or the end; the middle is pasted material.
# Reading only these parts keeps the cost per prompt bounded whatever its length.
_HEAD_CHARS = 3000
_TAIL_CHARS = 1000
_CONTEXT_WEIGHT = 0.5  # earlier turns and the system prompt
_LEAD_BONUS = 2.0
_MIN_SCORE = 2.0  # below this nothing specific was asked: `general`
_MANY_QUANTITIES = 3
# Tasks performed on supplied material; when one opens the prompt the material's topic is
# discounted. Translation is not one: "translate this to Python" is about code.
_MATERIAL_TASKS = frozenset({"summarization", "extraction"})
_MATERIAL_DISCOUNT = 0.5

_TOKEN_RE = re.compile(r"[a-z][a-z0-9+#']*|\d+(?:[.,]\d+)?")
_SENTENCE_START_RE = re.compile(r"(?:^|[.!?:\n]\s*)([a-z]+)(?:\s+([a-z]+))?(?:\s+([a-z]+))?")
# Multiline: "^" anchors a line (a code line, a question on its own line), not only the text.
_PHRASES = [(re.compile(rx, re.M), pat, weight, name) for rx, pat, weight, name in lex.PHRASES]
# Politeness and modal openers are skipped to find the task verb ("could you please translate").
_OPENERS = frozenset({"please", "can", "could", "would", "will", "you", "kindly", "now", "then"})
# Earlier patterns win ties: a specific task beats the topic it is about.
_PRIORITY = {p: i for i, p in enumerate(lex.TIE_ORDER)}


@dataclass(frozen=True, slots=True)
class Classification:
    """What a prompt asks for. `signals` name the rules that fired, strongest first."""

    pattern: str
    complexity: str
    signals: tuple[str, ...]


def classify(messages: Sequence[ChatMessage] | str) -> Classification:
    """Classify a prompt (plain text, or chat messages of which the last user turn leads)."""
    if isinstance(messages, str):
        main, context = messages, ""
    else:
        main, context = _split_turns(messages)
    scores: dict[str, float] = {}
    signals: dict[str, float] = {}
    _score(main.lower(), 1.0, scores, signals, lead=True)
    if context:
        _score(context.lower(), _CONTEXT_WEIGHT, scores, signals, lead=False)
    pattern = _best(scores)
    complexity, why = _complexity(main, context, pattern)
    ordered = sorted(signals, key=lambda s: -signals[s])
    return Classification(pattern, complexity, (*ordered[:6], *why))


def _split_turns(messages: Sequence[ChatMessage]) -> tuple[str, str]:
    last_user = next(
        (i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "user"), -1
    )
    if last_user < 0:
        return "\n".join(m.content for m in messages), ""
    context = "\n".join(
        m.content for i, m in enumerate(messages) if i != last_user and m.role != "assistant"
    )
    return messages[last_user].content, context


def _clip(text: str) -> str:
    if len(text) <= _HEAD_CHARS + _TAIL_CHARS:
        return text
    return text[:_HEAD_CHARS] + "\n" + text[-_TAIL_CHARS:]


def _add(
    scores: dict[str, float], signals: dict[str, float], pattern: str, w: float, name: str
) -> None:
    scores[pattern] = scores.get(pattern, 0.0) + w
    signals[f"{pattern}:{name}"] = max(signals.get(f"{pattern}:{name}", 0.0), w)


def _score(
    text: str, scale: float, scores: dict[str, float], signals: dict[str, float], *, lead: bool
) -> None:
    text = _clip(text)
    # Each word or phrase counts once: a long prompt repeating "function" is no more "code".
    tokens = set(_TOKEN_RE.findall(text))
    for word in tokens.intersection(lex.WORDS):
        for pattern, weight in lex.WORDS[word]:
            _add(scores, signals, pattern, weight * scale, word)
    # Word problems state several quantities; prose rarely does.
    quantities = sum(1 for t in tokens if t[0].isdigit())
    if quantities >= _MANY_QUANTITIES:
        _add(scores, signals, "math", 2 * scale, f"quantities:{quantities}")
    for regex, pattern, weight, name in _PHRASES:
        if regex.search(text):
            _add(scores, signals, pattern, weight * scale, name)
    if lead:
        for position, pattern, verb in _lead_verbs(text):
            _add(scores, signals, pattern, _LEAD_BONUS * scale, f"lead:{verb}")
            if position == 0 and pattern in _MATERIAL_TASKS:
                # "Summarize this python file": what follows the verb is material to work
                # on, so its topic words count half against the task that opens the prompt.
                for other in scores:
                    if other != pattern:
                        scores[other] *= _MATERIAL_DISCOUNT


def _lead_verbs(text: str) -> Iterable[tuple[int, str, str]]:
    """(position, pattern, verb) of task verbs opening the prompt or one of its first sentences."""
    seen: set[str] = set()
    for match in _SENTENCE_START_RE.finditer(text, 0, 600):
        words = [w for w in match.groups() if w]
        verb = next((w for w in words if w not in _OPENERS), "")
        pattern = lex.LEAD_VERBS.get(verb)
        if pattern and pattern not in seen:
            seen.add(pattern)
            yield match.start(), pattern, verb


def _best(scores: dict[str, float]) -> str:
    if not scores:
        return "general"
    pattern = max(scores, key=lambda p: (scores[p], -_PRIORITY[p]))
    return pattern if scores[pattern] >= _MIN_SCORE else "general"


def _complexity(main: str, context: str, pattern: str) -> tuple[str, tuple[str, ...]]:
    """low / medium / high from length, the number of asks and constraints, and hard topics.

    Points: length (0 under ~40 tokens, 1 up to ~300, 2 up to ~1000, 3 beyond), +1 for several
    questions or a numbered list of asks, +1 per kind of explicit constraint or rigour cue (up to
    2), +1 for code or math that is usually multi-step. 0-1 is low, 2-3 medium, 4+ high.
    """
    text = _clip(main + "\n" + context if context else main)
    lowered = text.lower()
    chars = len(main) + len(context)
    points = 0 if chars < 160 else 1 if chars < 1200 else 2 if chars < 4000 else 3
    why = [f"length:{chars}"]
    asks = lowered.count("?") + len(lex.LIST_ITEM_RE.findall(text))
    if asks >= 3:
        points += 1
        why.append("asks:several")
    cues = {name for regex, name in lex.RIGOUR if regex.search(lowered)}
    if cues:
        points += min(2, len(cues))
        why.extend(f"rigour:{c}" for c in sorted(cues))
    if pattern in ("code", "math") and lex.MULTI_STEP_RE.search(lowered):
        points += 1
        why.append("multi-step")
    level = COMPLEXITIES[0] if points <= 1 else COMPLEXITIES[1] if points <= 3 else COMPLEXITIES[2]
    return level, tuple(why)


assert set(lex.TIE_ORDER) == set(PATTERNS), "every pattern needs a tie-break rank"
