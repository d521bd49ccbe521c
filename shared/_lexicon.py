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
_PROGRAMMING = "python|javascript|typescript|java|c\\+\\+|c#|golang|go|rust|ruby|php|sql|bash|shell"

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
        "discount total numbers segment"
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
        3: "analyze analyse analyzing analysing analysis compare comparing contrast evaluate evaluating "
        "assess assessing critique critically",
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

# (regex, pattern, weight, signal name). Phrases carry meaning single words cannot.
PHRASES: tuple[tuple[str, str, float, str], ...] = (
    ("```|^\\s*(?:def|class|import|from \\S+ import|#include|public static|const|let|var) ",
     "code", 3, "code-syntax"),
    ("[;{}]\\s*$|==|!=|=>|\\+\\+|\\w\\(\\)", "code", 1, "code-punctuation"),
    (f"\\b(?:{_PROGRAMMING}) (?:script|program|code|function|class|file)\\b", "code", 2,
     "language-artifact"),
    ("\\b(?:write|create|implement|build|develop|generate|fix|optimi[sz]e)\\b(?: \\S+){0,4} "
     "(?:function|program|class|method|code|api|query|regex|website|module|algorithm|app)\\b",
     "code", 3, "build-software"),
    ("\\b(?:linked list|binary (?:search )?tree|hash ?map|data structure|dynamic programming|"
     "time complexity|space complexity|unit tests?|o\\([a-z0-9 ^*+log]+\\))", "code", 2, "cs-term"),
    ("\\d\\s*[-+*/×÷^]\\s*\\d|\\b\\d*[a-z]\\^\\d|\\bf\\([a-z0-9]\\)|\\b\\d*[a-z] ?[=<>] ?-?\\d",
     "math", 2, "expression"),
    ("\\$ ?\\d", "math", 1, "money-amount"),
    ("\\bhow (?:many|much)\\b", "math", 2, "how-many"),
    ("\\(\\s*-?\\d+(?:\\.\\d+)?\\s*,\\s*-?\\d+(?:\\.\\d+)?\\s*\\)", "math", 2, "point"),
    ("\\bsquare root\\b|\\bword problem\\b", "math", 2, "math-phrase"),
    ("\\b(?:act|acting|behave) as\\b|\\b(?:take on|assume|embrace|play) the (?:role|persona)\\b",
     "creative", 4, "roleplay"),
    ("\\b(?:yourself|you) as an? \\b|\\bpretend to be\\b|^as an? [a-z]+(?: [a-z]+)?,", "creative", 3,
     "in-character"),
    ("\\b(?:write|compose|draft|craft|create|structure|construct)\\b(?: \\S+){0,4} (?:email|letter|"
     "paragraph|essay|article|review|post|story|poem|speech|announcement|script|headline|"
     "description|bio|proposal|toast|invitation|newsletter|slogan)\\b", "creative", 3, "write-prose"),
    ("\\bshort story\\b|\\bin the style of\\b|\\bonce upon a time\\b", "creative", 3, "fiction"),
    ("\\byou are an? \\b", "creative", 2, "you-are"),
    ("\\bwhat if\\b", "analysis", 2, "what-if"),
    ("\\bdifferences? between\\b|\\bcompared (?:to|with)\\b", "analysis", 2, "differences"),
    ("\\b(?:should|would) (?:we|i|they|it)\\b", "analysis", 1, "should"),
    ("\\brelationship between\\b|\\btrue, false,? or\\b|\\bbased on (?:the|these)\\b", "analysis", 2,
     "reasoning"),
    ("(?:^|[.?!] )(?:what (?:is|was|were|does)|(?:who|when|where) (?:is|are|was|were|did|does))\\b",
     "factual", 2, "wh-question"),
    ("\\bexplain\\b(?! (?:your|why|how you))|^what are\\b", "factual", 1, "explain"),
    ("^how (?:does|do) \\S+(?: \\S+){0,4} work\\b|\\b(?:explain|describe|outline) (?:the )?(?:process|"
     "concept|basics|principles?|mechanism|theory|stages)\\b", "factual", 2, "how-it-works"),
    ("\\bwhich of the following\\b|\\btell me about\\b|\\bwhat does \\S+ mean\\b", "factual", 2,
     "quiz-question"),
    ("(?m)^\\s*\\(?[a-d][).]\\s", "factual", 1, "choices"),
    ("\\b(?:key|main) (?:points|takeaways|ideas)\\b|\\bin (?:one|a few|two|three) sentences?\\b",
     "summarization", 2, "condense"),
    ("\\btl;?dr\\b", "summarization", 3, "tldr"),
    (f"\\b(?:into|to|in) (?:{_LANGUAGE_ALT})\\b", "translation", 2, "to-language"),
    ("\\bhow do (?:you|i) say\\b", "translation", 3, "how-to-say"),
    ("\\bnamed entit(?:y|ies)\\b|\\bkey[- ]value\\b", "extraction", 3, "entities"),
    ("\\b(?:list|find) all\\b|\\b(?:as|in|into) (?:json|csv|a table|yaml)\\b|\\b(?:output|return|"
     "present|format|generate)\\b(?: \\S+){0,5} (?:json|csv|yaml|table)\\b", "extraction", 3,
     "structured-output"),
    ("\\bon a scale of\\b|\\bcount (?:how many|the (?:number|occurrences))\\b|\\bassign (?:them|each)\\b",
     "extraction", 2, "label-or-count"),
    ("\\b(?:the|these) (?:following|given|presented|provided|below|above) (?:texts?|passage|"
     "paragraph|article|data|documents?|records|reviews|sentences|information)\\b", "extraction",
     1, "given-text"),
    ("\\bfrom the (?:following|given|above|provided|attached) (?:text|passage|paragraph|article|"
     "data|document|records|reviews|sentences|email)", "extraction", 2, "from-text"),
    ("^(?:how (?:can|do|should) i|what are (?:some|the best) ways)\\b|\\b(?:effective|best|good) "
     "(?:ways?|strategies|tips|practices|habits)\\b", "general", 2, "advice"),
)

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
    (re.compile(r"\b(?:must|must not|should not|without using|at least|at most|no more than|"
                r"fewer than|exactly|only use)\b"), "constraints"),
    (re.compile(r"\b(?:step[- ]by[- ]step|explain your reasoning|justify|prove|rigorous\w*|"
                r"in detail|detailed|comprehensive|thorough\w*)\b"), "depth"),
    (re.compile(r"\b(?:trade-?offs?|optimi[sz]\w+|edge cases?|scalab\w+|concurren\w+|"
                r"thread-safe|distributed)\b"), "engineering"),
)
LIST_ITEM_RE = re.compile(r"(?m)^\s*(?:\d+[.)]|[-*•])\s+\S")
MULTI_STEP_RE = re.compile(
    r"\b(?:step[- ]by[- ]step|prove|proof|optimi[sz]e|complexity|edge cases?|dynamic programming|"
    r"recursion|system design|concurren\w+|multi-step|derive)\b"
)
