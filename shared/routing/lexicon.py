"""Word lists and phrase rules behind `shared.routing.classifier`. Data, kept apart from the logic.

Weights: 3 = a task verb or a word that on its own names the task ("summarize", "haiku");
2 = a strong topic word ("python", "equation"); 1 = a hint that needs company ("function",
"script", "story" are also ordinary English).

Matching is on whole tokens of the lower-cased text with punctuation turned into spaces, so
"capital" never matches "api". Rules are of four kinds, chosen for speed: plain C-level
substring tests on the space-joined tokens (`Lit`), two word sets within a few words of each
other (`Near`), a regular expression on the raw text run only when a cheap gate passes (`Raw`),
and a regular expression on the first words of each sentence (`Start`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

# A specific task beats the topic it is about when scores tie.
TIE_ORDER = (
    "translation",
    "summarization",
    "extraction",
    "code",
    "math",
    "creative",
    "analysis",
    "factual",
    "general",
)

_LANGUAGES = (
    "english french spanish german italian portuguese chinese mandarin cantonese japanese korean "
    "russian arabic hindi dutch swedish norwegian danish finnish polish turkish greek hebrew "
    "latin vietnamese thai indonesian ukrainian czech persian swahili"
)
_PROGRAMMING = "python javascript typescript java c++ c# golang go rust ruby php sql bash shell"

_BY_PATTERN: dict[str, dict[float, str]] = {
    "code": {
        3: "debug debugging refactor compile compiler traceback segfault stacktrace regex "
        "unittest pytest leetcode",
        2: "python javascript typescript java c++ c# golang kotlin php sql html css bash "
        "powershell api apis sdk algorithm algorithms recursion recursive array arrays "
        "functions boolean strings loop loops coding programming programmer bug bugs "
        "exception runtime syntax dataframe pandas numpy docker kubernetes git github npm "
        "frontend backend endpoint linter hashmap",
        1: "code function method variable program software database query website app script "
        "stack queue hash pointer null implement implementation",
    },
    "math": {
        3: "calculate compute solve simplify differentiate factorize",
        2: "equation equations integral derivative probability percent percentage remainder "
        "fraction fractions ratio algebra calculus geometry theorem arithmetic polynomial "
        "inequality logarithm sqrt factorial triangle perimeter radius circumference "
        "hypotenuse multiply multiplied divided divisible math maths mathematical "
        "mathematics dice estimate estimation coordinates",
        1: "prime primes area sum average integer integers proof prove digits interest profit "
        "discount total numbers segment",
    },
    "creative": {
        3: "poem poems poetry haiku limerick sonnet lyrics screenplay fable slogan tagline "
        "jingle soliloquy",
        2: "story stories fiction fictional imagine pretend roleplay persona vivid narrative "
        "creative creatively imaginative blog essay speech toast tweet caption rhyme rhymes "
        "verse grammar grammatical proofread paraphrase rephrase rewrite",
        1: "novel character characters plot joke jokes headline email letter script dialogue "
        "scene metaphor",
    },
    "analysis": {
        3: "analyze analyse analyzing analysing analysis compare comparing contrast evaluate "
        "evaluating assess assessing critique critically",
        2: "comparison pros cons advantages disadvantages tradeoffs implications impact "
        "impacts consequences justify insights correlation strengths weaknesses swot "
        "interpret infer deduce puzzle riddle counterargument why reasons",
        1: "influence influenced argue argument arguments reasoning relationship "
        "factors logic logical hypothesis debate discuss",
    },
    "factual": {
        2: "define definition invented founded fact facts trivia",
        1: "meaning history historical capital population discovered century "
        "located origin physics chemistry biology quantum molecule molecules atom atoms "
        "cell cells dna gene genes planet planets orbit species evolution photosynthesis "
        "scientific science scientist geography country countries continent president king "
        "queen empire war wars ancient civilization energy earth climate",
    },
    "summarization": {
        3: "summarize summarise summary summarization summarisation tldr condense recap "
        "synopsis gist",
        1: "abstract overview shorten briefly",
    },
    "translation": {
        3: "translate translation translating translated translator",
        1: _LANGUAGES,
    },
    "extraction": {
        3: "extract extraction parse",
        2: "classify classifying categorize categorise entities entity json csv yaml tabulate "
        "sentiment",
        1: "label tag table fields identify categories category",
    },
    "general": {
        1: "hello hi hey thanks thank advice tips tip suggestions help improve ideas",
    },
}


def _words() -> dict[str, tuple[tuple[str, float], ...]]:
    table: dict[str, list[tuple[str, float]]] = {}
    for pattern, by_weight in _BY_PATTERN.items():
        for weight, words in by_weight.items():
            for word in words.split():
                table.setdefault(word, []).append((pattern, weight))
    return {word: tuple(hits) for word, hits in table.items()}


WORDS = _words()


def _expand(*parts: str) -> tuple[str, ...]:
    """Phrases from alternatives: _expand("take on|assume", "the role") -> 2 phrases."""
    return tuple(" ".join(words) for words in product(*(p.split("|") for p in parts)))


def needle(phrase: str) -> str:
    """What to look for in " w1 w2 ... wn ": a trailing "*" makes the last token a prefix."""
    return f" {phrase[:-1]}" if phrase.endswith("*") else f" {phrase} "


@dataclass(frozen=True, slots=True)
class Lit:
    """Any of these token sequences, unless one of `unless` is there too.

    `gate` holds one word of every phrase (its longest, usually its rarest): when none is a
    token of the text, no phrase can match and the substring tests are skipped.
    """

    pattern: str
    weight: float
    name: str
    needles: tuple[str, ...]
    gate: frozenset[str]
    unless: tuple[str, ...] = ()


def _lit(
    pattern: str, weight: float, name: str, phrases: Sequence[str], unless: Sequence[str] = ()
) -> Lit:
    gate = frozenset(max(p.rstrip("*").split(), key=len) for p in phrases)
    return Lit(pattern, weight, name, tuple(map(needle, phrases)), gate, tuple(map(needle, unless)))


@dataclass(frozen=True, slots=True)
class Near:
    """A word of `first` followed, within `gap` words, by a word of `second`."""

    pattern: str
    weight: float
    name: str
    first: frozenset[str]
    second: frozenset[str]
    gap: int = 0


@dataclass(frozen=True, slots=True)
class Raw:
    """Any `needle` in the raw text, or a match of `regex` on it.

    Tried only when the text holds one character of each set in `chars` and, when `words` is
    set, one of those words: cheap gates that spare the regular expressions most prompts.
    """

    pattern: str
    weight: float
    name: str
    needles: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None
    chars: tuple[frozenset[str], ...] = ()
    words: frozenset[str] = frozenset()


_DIGITS = frozenset("0123456789")


@dataclass(frozen=True, slots=True)
class Start:
    """A regex on the opening of a sentence (its first ~80 characters) starting with `first`."""

    pattern: str
    weight: float
    name: str
    first: frozenset[str]
    regex: re.Pattern[str]


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


Rule = Lit | Near | Raw | Start

RULES: tuple[Rule, ...] = (
    Raw("code", 3, "code-fence", needles=("```",), chars=(frozenset("`"),)),
    Raw("code", 3, "code-line", words=_set("def class import #include public const let var"),
        regex=re.compile(r"(?m)^[ \t]*(?:def|class|import|from \S+ import|#include|public static|"
                         r"const|let|var) ")),
    Raw("code", 1, "code-punctuation", needles=("==", "!=", "=>", "++", "()", ";\n", "{\n", "}\n"),
        chars=(frozenset("=!+(;{}"),)),
    Near("code", 2, "language-artifact", _set(_PROGRAMMING),
         _set("script program code function class file")),
    Near("code", 3, "build-software",
         _set("write create implement build develop generate fix optimize optimise"),
         _set("function program class method code api query regex website module algorithm app"),
         gap=4),
    _lit("code", 2, "cs-term", _expand("linked list|binary tree|binary search tree|hash map|"
        "data structure|data structures|dynamic programming|time complexity|space complexity|"
        "unit test|unit tests")),
    Raw("code", 2, "big-o", regex=re.compile(r"o\([a-z0-9 ^*+log]+\)"), words=_set("o")),
    Raw("math", 2, "expression", regex=re.compile(r"\d\s*[-+*/\u00d7\u00f7^]\s*\d"),
        chars=(frozenset("+-*/^\u00d7\u00f7"), _DIGITS)),
    Raw("math", 2, "algebra", regex=re.compile(r"[a-z]\^\d|f\([a-z0-9]\)|[a-z] ?[=<>] ?-?\d"),
        chars=(frozenset("^(=<>"), _DIGITS)),
    Raw("math", 1, "money-amount", regex=re.compile(r"\$ ?\d"), chars=(frozenset("$"), _DIGITS)),
    Raw("math", 2, "point", regex=re.compile(r"\(\s*-?\d+(?:\.\d+)?\s*,\s*-?\d"),
        chars=(frozenset("("), frozenset(","), _DIGITS)),
    _lit("math", 2, "how-many", ("how many", "how much")),
    _lit("math", 2, "math-phrase", ("square root", "word problem")),
    _lit("creative", 4, "roleplay", [
        *_expand("act|acting|behave", "as"),
        *_expand("take on|assume|embrace|play", "the", "role|persona"),
    ]),
    _lit("creative", 3, "in-character", [*_expand("yourself|you", "as", "a|an"), "pretend to be"]),
    Start("creative", 3, "as-a-role", _set("as"), re.compile(r"^as an? [a-z]+(?: [a-z]+)?,")),
    Near("creative", 3, "write-prose", _set("write compose draft craft create structure construct"),
         _set("email letter paragraph essay article review post story poem speech announcement "
              "script headline description bio proposal toast invitation newsletter slogan"),
         gap=4),
    _lit("creative", 3, "fiction", ("short story", "in the style of", "once upon a time")),
    _lit("creative", 2, "you-are", ("you are a", "you are an")),
    _lit("analysis", 2, "what-if", ("what if",)),
    _lit("analysis", 2, "differences", [*_expand("difference|differences", "between"),
                                        "compared to", "compared with"]),
    _lit("analysis", 1, "should", _expand("should|would", "we|i|they|it")),
    _lit("analysis", 2, "reasoning", ("relationship between", "true false or", "based on the",
        "based on these")),
    Start("factual", 2, "wh-question", _set("what who when where"), re.compile(
        r"^(?:what (?:is|was|were|does)|(?:who|when|where) (?:is|are|was|were|did|does))\b")),
    Start("factual", 1, "what-are", _set("what"), re.compile(r"^what are\b")),
    _lit("factual", 1, "explain", ("explain",), unless=_expand("explain", "your|why|how you")),
    Start("factual", 2, "how-it-works", _set("how"),
          re.compile(r"^how (?:does|do) \S+(?: \S+){0,4} work\b")),
    Near("factual", 2, "explain-the", _set("explain describe outline"),
         _set("process concept basics principle principles mechanism theory stages"), gap=1),
    _lit("factual", 2, "quiz-question", ("which of the following", "tell me about")),
    Start("factual", 2, "what-does-mean", _set("what"), re.compile(r"^what does \S+ mean\b")),
    Raw("factual", 1, "choices", needles=("\na) ", "\nb) ", "\n(a) ", "\na. ", "\nb. "),
        chars=(frozenset(")."),)),
    _lit("summarization", 2, "condense", [
        *_expand("key|main", "points|takeaways|ideas"),
        *_expand("in", "one|a few|two|three", "sentence|sentences"),
    ]),
    _lit("summarization", 3, "tldr", ("tl dr",)),
    Near("translation", 2, "to-language", _set("into to in"), _set(_LANGUAGES)),
    _lit("translation", 3, "how-to-say", ("how do you say", "how do i say")),
    _lit("extraction", 3, "entities", ("named entity", "named entities", "key value")),
    _lit("extraction", 3, "structured-output", [*_expand("list|find", "all"),
                                                *_expand("as|in|into", "json|csv|yaml|a table")]),
    Near("extraction", 2, "format-as", _set("output return present format generate"),
         _set("json csv yaml table"), gap=5),
    _lit("extraction", 2, "label-or-count", ("on a scale of", "count how many", "count the number",
        "count the occurrences", "assign them", "assign each")),
    Near("extraction", 1, "given-text", _set("following given presented provided below above"),
         _set("text texts passage paragraph article data document documents records reviews "
              "sentences information")),
    _lit("extraction", 2, "from-text",
         _expand("from the", "following|given|above|provided|attached")),
    Start("general", 2, "how-do-i", _set("how what"), re.compile(
        r"^(?:how (?:can|do|should) i|what are (?:some|the best) ways)\b")),
    _lit("general", 2, "advice", _expand("effective|best|good",
                                        "way|ways|strategies|tips|practices|habits")),
)  # fmt: skip

# The opening verb of the prompt (after "please", "can you", ...) names the task.
LEAD_VERBS: dict[str, str] = {
    **dict.fromkeys(("summarize", "summarise", "condense", "recap", "tldr"), "summarization"),
    **dict.fromkeys(("translate",), "translation"),
    **dict.fromkeys(
        ("extract", "parse", "classify", "categorize", "categorise", "identify", "tag"),
        "extraction",
    ),
    **dict.fromkeys(("implement", "debug", "refactor", "code", "program"), "code"),
    **dict.fromkeys(
        ("calculate", "compute", "solve", "simplify", "differentiate", "integrate", "factor"),
        "math",
    ),
    **dict.fromkeys(
        ("compose", "draft", "craft", "imagine", "pretend", "rhyme", "act", "embody", "roleplay"),
        "creative",
    ),
    **dict.fromkeys(
        ("analyze", "analyse", "compare", "contrast", "evaluate", "assess", "critique", "discuss"),
        "analysis",
    ),
    **dict.fromkeys(("define",), "factual"),
}

# Complexity cues, as phrases (a trailing "*" is a prefix): name -> needles.
_RIGOUR: dict[str, tuple[str, ...]] = {
    "constraints": ("must", "should not", "without using", "at least", "at most", "no more than",
                    "fewer than", "exactly", "only use"),
    "depth": ("step by step", "explain your reasoning", "justify", "prove", "rigorous*",
              "in detail", "detailed", "comprehensive", "thorough*"),
    "engineering": ("trade off*", "tradeoff*", "optimiz*", "optimis*", "edge case*", "scalab*",
                    "concurren*", "thread safe", "distributed"),
}  # fmt: skip
_MULTI_STEP: tuple[str, ...] = (
    "step by step", "prove", "proof", "optimiz*", "optimis*", "complexity", "edge case*",
    "dynamic programming", "recursion", "system design", "concurren*", "multi step", "derive",
)  # fmt: skip
RIGOUR = {name: tuple(map(needle, phrases)) for name, phrases in _RIGOUR.items()}
MULTI_STEP = tuple(map(needle, _MULTI_STEP))
