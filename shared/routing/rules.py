"""The former prompt classifier: hand-written rules over a lexicon (`shared.routing.lexicon`).

The router now uses the trained model of `shared.routing.classifier`; these rules stay as the
baseline it is measured against (bench/eval_classifier.py) and are not on the hot path.

Rules, not a model: every decision is explainable from `Classification.signals`, costs tens of
microseconds for a typical prompt and needs no download. Rules see whole tokens and token
sequences, never raw substrings, so "capital" does not contain "api" and "classify these
emails" is not code. Measured in docs/classifier.md (bench/eval_classifier.py).

How a pattern is chosen:
- Each pattern has words and phrases with weights (`shared.routing.lexicon`). A *task verb*
  ("summarize", "translate", "implement") says what to do and weighs more than a *topic word*
  ("python", "equation"), which only says what the prompt is about.
- A task verb opening a sentence gets a bonus: prompts state their task first. When the very
  first words ask to summarize or extract, what follows is material to work on, and its topic
  words count half ("summarize this python file" is summarization; "write a python function
  that summarizes" is code).
- The last user message decides; earlier turns and the system prompt count half, so that a
  follow-up such as "now make it shorter" keeps the conversation's pattern.
- Below a minimum score the prompt is `general`; ties go to the more specific task.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from schemas.messages import ChatMessage
from shared.routing import lexicon as lex
from shared.routing.catalog import COMPLEXITIES, PATTERNS
from shared.routing.classifier import split_turns

# Long prompts put the instruction at the start or the end; the middle is pasted material.
# Reading only these parts bounds the cost per prompt whatever its length.
_HEAD_CHARS = 2000
_TAIL_CHARS = 600
_LEAD_CHARS = 600  # task verbs are looked for in the sentences starting here
_CONTEXT_WEIGHT = 0.5  # earlier turns and the system prompt
_LEAD_BONUS = 2.0
_MIN_SCORE = 2.0  # below this nothing specific was asked: `general`
_MANY_QUANTITIES = 3  # word problems state several numbers; prose rarely does
# Tasks performed on supplied material. Translation is not one: "translate this to Python"
# is about code.
_MATERIAL_TASKS = frozenset({"summarization", "extraction"})
_MATERIAL_DISCOUNT = 0.5

# Punctuation becomes space; "+", "#" and "'" stay inside tokens (c++, c#, don't).
_TO_SPACE = str.maketrans({c: " " for c in string.punctuation if c not in "+#'"})
_SENTENCES = re.compile(r"[.!?:;\n]+")
_OPENERS = frozenset({"please", "can", "could", "would", "will", "you", "kindly", "now", "then"})
_PRIORITY = {p: i for i, p in enumerate(lex.TIE_ORDER)}


def _rule_index() -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    """Rules by a word they need, so that a prompt only tries the rules its words allow."""
    by_word: dict[str, list[int]] = {}
    always = []
    for index, rule in enumerate(lex.RULES):
        if isinstance(rule, lex.Lit):
            words: frozenset[str] = rule.gate
        elif isinstance(rule, lex.Raw):
            words = rule.words
        elif isinstance(rule, lex.Near):
            words = rule.second  # the objects ("json", "french") are rarer than the verbs
        else:
            words = rule.first
        if words:
            for word in words:
                by_word.setdefault(word, []).append(index)
        else:
            always.append(index)
    return {w: tuple(i) for w, i in by_word.items()}, tuple(always)


_BY_WORD, _ALWAYS = _rule_index()
# Sets, not dicts: frozenset.intersection(dict) walks the whole dict; two sets walk the smaller.
_LEXICON_WORDS = frozenset(lex.WORDS)
_WORD_HITS = {w: tuple((p, wt, f"{p}:{w}") for p, wt in hits) for w, hits in lex.WORDS.items()}
_RULE_KEYS = tuple(f"{rule.pattern}:{rule.name}" for rule in lex.RULES)
_RULE_WORDS = frozenset(_BY_WORD)


@dataclass(frozen=True, slots=True)
class RuleClassification:
    """What a prompt asks for. `signals` name the rules that fired, strongest first."""

    pattern: str
    complexity: str
    signals: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Text:
    """One text prepared once for every rule: raw lower-cased, tokens, joined tokens."""

    raw: str
    words: list[str]
    tokens: frozenset[str]
    joined: str  # " w1 w2 ... wn ": token sequences are matched as substrings of this
    chars: frozenset[str]

    @classmethod
    def of(cls, text: str) -> _Text:
        if len(text) > _HEAD_CHARS + _TAIL_CHARS:
            text = text[:_HEAD_CHARS] + "\n" + text[-_TAIL_CHARS:]
        raw = text.lower()
        words = raw.translate(_TO_SPACE).split()
        return cls(raw, words, frozenset(words), " " + " ".join(words) + " ", frozenset(raw))

    def openings(self) -> Iterator[tuple[int, str]]:
        """(offset, first ~80 characters) of each sentence in the head of the text."""
        offset = 0
        for sentence in _SENTENCES.split(self.raw[:_LEAD_CHARS]):
            stripped = sentence.strip()
            if stripped:
                yield offset, stripped[:80]
            offset += len(sentence) + 1


def classify(messages: Sequence[ChatMessage] | str) -> RuleClassification:
    """Classify a prompt (plain text, or chat messages of which the last user turn leads)."""
    main, context = (messages, "") if isinstance(messages, str) else split_turns(messages)
    scores: dict[str, float] = {}
    signals: dict[str, float] = {}
    text = _Text.of(main)
    _score(text, 1.0, scores, signals, lead=True)
    if context:
        _score(_Text.of(context), _CONTEXT_WEIGHT, scores, signals, lead=False)
    pattern = _best(scores)
    complexity, why = _complexity(text, main, pattern)
    ordered = sorted(signals, key=lambda s: -signals[s])
    return RuleClassification(pattern, complexity, (*ordered[:6], *why))


def _add(
    scores: dict[str, float], signals: dict[str, float], pattern: str, weight: float, key: str
) -> None:
    """Count `weight` for `pattern`, remembering the signal `key` ("pattern:rule") that fired."""
    scores[pattern] = scores.get(pattern, 0.0) + weight
    if signals.get(key, 0.0) < weight:
        signals[key] = weight


def _score(
    text: _Text, scale: float, scores: dict[str, float], signals: dict[str, float], *, lead: bool
) -> None:
    # Each word or rule counts once: a long prompt repeating "function" is no more "code".
    for word in text.tokens & _LEXICON_WORDS:
        for pattern, weight, key in _WORD_HITS[word]:
            _add(scores, signals, pattern, weight * scale, key)
    quantities = len([t for t in text.tokens if t[0].isdigit()])
    if quantities >= _MANY_QUANTITIES:
        _add(scores, signals, "math", 2 * scale, f"math:quantities:{quantities}")
    openings = list(text.openings())
    candidates = set(_ALWAYS)
    for word in text.tokens & _RULE_WORDS:
        candidates.update(_BY_WORD[word])
    for index in sorted(candidates):
        rule = lex.RULES[index]
        if _fires(rule, text, openings):
            _add(scores, signals, rule.pattern, rule.weight * scale, _RULE_KEYS[index])
    if lead:
        _lead(openings, scale, scores, signals)


def _fires(rule: lex.Rule, text: _Text, openings: list[tuple[int, str]]) -> bool:
    # Plain loops rather than any(<generator>): this runs for every candidate rule of every
    # prompt, and a generator costs more than the substring tests it wraps.
    if isinstance(rule, lex.Lit):
        return _has_any(text.joined, rule.needles) and not _has_any(text.joined, rule.unless)
    if isinstance(rule, lex.Raw):
        for chars in rule.chars:
            if chars.isdisjoint(text.chars):
                return False
        if _has_any(text.raw, rule.needles):
            return True
        return rule.regex is not None and rule.regex.search(text.raw) is not None
    if isinstance(rule, lex.Near):
        if rule.first.isdisjoint(text.tokens):
            return False
        words, span = text.words, rule.gap + 2
        for i, word in enumerate(words):
            if word in rule.first and not rule.second.isdisjoint(words[i + 1 : i + span]):
                return True
        return False
    for _, opening in openings:
        if opening.split(" ", 1)[0] in rule.first and rule.regex.search(opening):
            return True
    return False


def _has_any(haystack: str, needles: Sequence[str]) -> bool:
    for needle in needles:  # noqa: SIM110 - a loop is faster than any(<generator>) here
        if needle in haystack:
            return True
    return False


def _lead(
    openings: list[tuple[int, str]],
    scale: float,
    scores: dict[str, float],
    signals: dict[str, float],
) -> None:
    """Bonus for task verbs that open a sentence; discount material after an opening task."""
    seen: set[str] = set()
    for offset, opening in openings:
        verb = next((w for w in opening.split()[:3] if w not in _OPENERS), "")
        pattern = lex.LEAD_VERBS.get(verb.strip(string.punctuation))
        if not pattern or pattern in seen:
            continue
        seen.add(pattern)
        _add(scores, signals, pattern, _LEAD_BONUS * scale, f"{pattern}:lead:{verb}")
        if offset == 0 and pattern in _MATERIAL_TASKS:
            for other in scores:
                if other != pattern:
                    scores[other] *= _MATERIAL_DISCOUNT


def _best(scores: dict[str, float]) -> str:
    if not scores:
        return "general"
    pattern = max(scores, key=lambda p: (scores[p], -_PRIORITY[p]))
    return pattern if scores[pattern] >= _MIN_SCORE else "general"


def _complexity(text: _Text, main: str, pattern: str) -> tuple[str, tuple[str, ...]]:
    """low / medium / high from length, the number of asks and constraints, and hard topics.

    Points: length of the last turn (0 under 160 characters, 1 under 1,200, 2 under 4,000,
    3 beyond); +1 for three or more questions or listed asks; +1 per kind of explicit
    constraint or rigour cue (at most 2); +1 for code or math that is usually multi-step.
    0-1 is low, 2-3 medium, 4 or more high.
    """
    chars = len(main)
    points = 0 if chars < 160 else 1 if chars < 1200 else 2 if chars < 4000 else 3
    why = [f"length:{chars}"]
    asks = text.raw.count("?")
    if asks < 3 and "\n" in main:
        asks += sum(map(_is_list_item, main[:4000].splitlines()))
    if asks >= 3:
        points += 1
        why.append("asks:several")
    cues = [name for name, needles in lex.RIGOUR.items() if _has_any(text.joined, needles)]
    if cues:
        points += min(2, len(cues))
        why.extend(f"rigour:{c}" for c in cues)
    if pattern in ("code", "math") and _has_any(text.joined, lex.MULTI_STEP):
        points += 1
        why.append("multi-step")
    level = COMPLEXITIES[0] if points <= 1 else COMPLEXITIES[1] if points <= 3 else COMPLEXITIES[2]
    return level, tuple(why)


def _is_list_item(line: str) -> bool:
    head = line.lstrip()[:4]
    if head[:1] in ("-", "*", "\u2022"):
        return head[1:2] == " "
    digits = len(head) - len(head.lstrip("0123456789"))
    return 0 < digits < len(head) and head[digits] in ".)"


if set(lex.TIE_ORDER) != set(PATTERNS):  # a catalog pattern without a tie-break rank
    raise RuntimeError("shared.routing.lexicon.TIE_ORDER must list every catalog pattern")
