"""Word lists and phrase rules behind `shared.classifier`. Data, kept apart from the logic.

Weights: 3 = a task verb or a word that on its own names the task ("summarize", "haiku");
2 = a strong topic word ("python", "equation"); 1 = a hint that needs company ("function",
"script", "story" are also ordinary English). Words are matched as whole tokens, phrases as
regular expressions with word boundaries, both on lower-cased text.
"""

from __future__ import annotations

import re

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
_LANGUAGE_ALT = "|".join(_LANGUAGES.split())
_PROGRAMMING = r"python|javascript|typescript|java|c\+\+|c#|golang|go|rust|ruby|php|sql|bash|shell"

_BY_PATTERN: dict[str, dict[float, str]] = {
    "code": {
        3: "debug debugging refactor compile compiler traceback segfault stacktrace regex "
        "unittest pytest leetcode",
        2: "python javascript typescript java c++ c# golang kotlin php sql html css bash "
        "powershell api apis sdk algorithm algorithms recursion recursive array arrays "
        "functions boolean strings loop loops coding programming programmer bug bugs "
        "exception runtime syntax dataframe pandas numpy docker kubernetes git github npm "
        "frontend backend endpoint linter",
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


def _phrase(
    pattern: str, weight: float, name: str, *alternatives: str
) -> tuple[str, str, float, str]:
    return "|".join(alternatives), pattern, weight, name


# (regex, pattern, weight, signal name). Phrases carry meaning single words cannot. The
# classifier compiles them with re.MULTILINE: "^" is the start of any line.
# fmt: off
PHRASES: tuple[tuple[str, str, float, str], ...] = (
    _phrase(
        "code", 3, "code-syntax",
        r"```",
        r"^\s*(?:def|class|import|from \S+ import|#include|public static|const|let|var) ",
    ),
    _phrase("code", 1, "code-punctuation", r"[;{}]\s*$", r"==|!=|=>|\+\+", r"\w\(\)"),
    _phrase(
        "code", 2, "language-artifact",
        rf"\b(?:{_PROGRAMMING}) (?:script|program|code|function|class|file)\b",
    ),
    _phrase(
        "code", 3, "build-software",
        r"\b(?:write|create|implement|build|develop|generate|fix|optimi[sz]e)\b(?: \S+){0,4} "
        r"(?:function|program|class|method|code|api|query|regex|website|module|algorithm|app)\b",
    ),
    _phrase(
        "code", 2, "cs-term",
        r"\b(?:linked list|binary (?:search )?tree|hash ?map|data structure)",
        r"\b(?:dynamic programming|time complexity|space complexity|unit tests?)\b",
        r"\bo\([a-z0-9 ^*+log]+\)",
    ),
    _phrase(
        "math", 2, "expression",
        r"\d\s*[-+*/\u00d7\u00f7^]\s*\d",  # 3 + 4, 6 x 7 written with the times sign
        r"\b\d*[a-z]\^\d",
        r"\bf\([a-z0-9]\)",
        r"\b\d*[a-z] ?[=<>] ?-?\d",
    ),
    _phrase("math", 1, "money-amount", r"\$ ?\d"),
    _phrase("math", 2, "how-many", r"\bhow (?:many|much)\b"),
    _phrase("math", 2, "point", r"\(\s*-?\d+(?:\.\d+)?\s*,\s*-?\d+(?:\.\d+)?\s*\)"),
    _phrase("math", 2, "math-phrase", r"\bsquare root\b", r"\bword problem\b"),
    _phrase(
        "creative", 4, "roleplay",
        r"\b(?:act|acting|behave) as\b",
        r"\b(?:take on|assume|embrace|play) the (?:role|persona)\b",
    ),
    _phrase(
        "creative", 3, "in-character",
        r"\b(?:yourself|you) as an? \b", r"\bpretend to be\b", r"^as an? [a-z]+(?: [a-z]+)?,",
    ),
    _phrase(
        "creative", 3, "write-prose",
        r"\b(?:write|compose|draft|craft|create|structure|construct)\b(?: \S+){0,4} "
        r"(?:email|letter|paragraph|essay|article|review|post|story|poem|speech|announcement|"
        r"script|headline|description|bio|proposal|toast|invitation|newsletter|slogan)\b",
    ),
    _phrase(
        "creative", 3, "fiction",
        r"\bshort story\b", r"\bin the style of\b", r"\bonce upon a time\b",
    ),
    _phrase("creative", 2, "you-are", r"\byou are an? \b"),
    _phrase("analysis", 2, "what-if", r"\bwhat if\b"),
    _phrase("analysis", 2, "differences", r"\bdifferences? between\b", r"\bcompared (?:to|with)\b"),
    _phrase("analysis", 1, "should", r"\b(?:should|would) (?:we|i|they|it)\b"),
    _phrase(
        "analysis", 2, "reasoning",
        r"\brelationship between\b", r"\btrue, false,? or\b", r"\bbased on (?:the|these)\b",
    ),
    _phrase(
        "factual", 2, "wh-question",
        r"(?:^|[.?!] )what (?:is|was|were|does)\b",
        r"(?:^|[.?!] )(?:who|when|where) (?:is|are|was|were|did|does)\b",
    ),
    _phrase("factual", 1, "explain", r"\bexplain\b(?! (?:your|why|how you))", r"^what are\b"),
    _phrase(
        "factual", 2, "how-it-works",
        r"^how (?:does|do) \S+(?: \S+){0,4} work\b",
        r"\b(?:explain|describe|outline) (?:the )?"
        r"(?:process|concept|basics|principles?|mechanism|theory|stages)\b",
    ),
    _phrase(
        "factual", 2, "quiz-question",
        r"\bwhich of the following\b", r"\btell me about\b", r"\bwhat does \S+ mean\b",
    ),
    _phrase("factual", 1, "choices", r"^\s*\(?[a-d][).]\s"),
    _phrase(
        "summarization", 2, "condense",
        r"\b(?:key|main) (?:points|takeaways|ideas)\b",
        r"\bin (?:one|a few|two|three) sentences?\b",
    ),
    _phrase("summarization", 3, "tldr", r"\btl;?dr\b"),
    _phrase("translation", 2, "to-language", rf"\b(?:into|to|in) (?:{_LANGUAGE_ALT})\b"),
    _phrase("translation", 3, "how-to-say", r"\bhow do (?:you|i) say\b"),
    _phrase("extraction", 3, "entities", r"\bnamed entit(?:y|ies)\b", r"\bkey[- ]value\b"),
    _phrase(
        "extraction", 3, "structured-output",
        r"\b(?:list|find) all\b",
        r"\b(?:as|in|into) (?:json|csv|a table|yaml)\b",
        r"\b(?:output|return|present|format|generate)\b(?: \S+){0,5} (?:json|csv|yaml|table)\b",
    ),
    _phrase(
        "extraction", 2, "label-or-count",
        r"\bon a scale of\b",
        r"\bcount (?:how many|the (?:number|occurrences))\b",
        r"\bassign (?:them|each)\b",
    ),
    _phrase(
        "extraction", 1, "given-text",
        r"\b(?:the|these) (?:following|given|presented|provided|below|above) (?:texts?|passage|"
        r"paragraph|article|data|documents?|records|reviews|sentences|information)\b",
    ),
    _phrase(
        "extraction", 2, "from-text",
        r"\bfrom the (?:following|given|above|provided|attached) (?:text|passage|paragraph|"
        r"article|data|document|records|reviews|sentences|email)",
    ),
    _phrase(
        "general", 2, "advice",
        r"^(?:how (?:can|do|should) i|what are (?:some|the best) ways)\b",
        r"\b(?:effective|best|good) (?:ways?|strategies|tips|practices|habits)\b",
    ),
)
# fmt: on

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

# Complexity cues: (regex on lower-cased text, name).
RIGOUR: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"\b(?:must|must not|should not|without using|at least|at most|no more than|"
            r"fewer than|exactly|only use)\b"
        ),
        "constraints",
    ),
    (
        re.compile(
            r"\b(?:step[- ]by[- ]step|explain your reasoning|justify|prove|rigorous\w*|"
            r"in detail|detailed|comprehensive|thorough\w*)\b"
        ),
        "depth",
    ),
    (
        re.compile(
            r"\b(?:trade-?offs?|optimi[sz]\w+|edge cases?|scalab\w+|concurren\w+|"
            r"thread-safe|distributed)\b"
        ),
        "engineering",
    ),
)
LIST_ITEM_RE = re.compile(r"(?m)^\s*(?:\d+[.)]|[-*•])\s+\S")
MULTI_STEP_RE = re.compile(
    r"\b(?:step[- ]by[- ]step|prove|proof|optimi[sz]e|complexity|edge cases?|dynamic programming|"
    r"recursion|system design|concurren\w+|multi-step|derive)\b"
)
