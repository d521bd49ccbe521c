"""Where the labelled prompts come from: one entry per public file, with origin and licence.

Each source reads one file of a public repository snapshot (a bare git mirror: `git show
COMMIT:PATH`) or of the shared evaluation data, through a reader of `training.readers`. `role`
says what the rows are for: `train` rows fit the models; `heldout` rows come from sources never
trained on (no shared origin with any training source) and only measure accuracy.
training/data/SOURCES.md lists the same facts for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training import readers
from training.readers import Reader, Row, git_file


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    repo: str  # owner/name on GitHub, or "evaldata" for ../shared/evaldata
    commit: str
    path: str
    licence: str
    role: str  # "train" or "heldout"
    read: Reader


SELF_INSTRUCT = ("yizhongw/self-instruct", "0b26ccaa415992100fa32df62d41b994cf928e23")
HUMANEVAL_XL = ("FloatAI/humaneval-xl", "ad93b7c7a399eb9f01885b5cfa23a317115e10fa")
MATH_OCTOPUS = ("microsoft/MathOctopus", "4d385db696c420b212ccf861fcfab13c1499a576")
URL_NLP = ("google-research/url-nlp", "452a21ad3dae5668c06ceeac21ff073e1e40f9be")
MT_BENCH_ML = ("ServiceNow/FastChat", "57659b0588c8077b855f48ba9421bf31fbcd9f72")
WRITINGBENCH = ("X-PLUG/WritingBench", "ae2d5176449b7b769815482641d35926f26793eb")
CONALA = ("zorazrw/multilingual-conala", "b48112fe492432507d72004aafb6f0c399308333")
AQUA = ("deepmind/AQuA", "26b64ed1f22208c6742f47df547dfd65088ec30d")
XQUAD = ("deepmind/xquad", "60cac411649156efb6aab9dd4c9cde787a2c0345")
M_IFEVAL = ("lightblue-tech/M-IFEval", "0bc3143a919eef2f9ec64aa26da8a546086653de")
ROUTERDC = ("evaldata", "RouterDC 0e63989c5bf4363330b8a4616386e3f7f116d9f8")
# Prompts the project team wrote (training/data/authored/), one file per language: creative
# writing, translation, extraction, analysis, summaries and chat are thin in the public sets,
# and several languages have only math rows there. Read last, so that they never displace a
# public row in deduplication (the committed train rows stay as they were).
AUTHORED_DIR = Path(__file__).parent / "data" / "authored"
AUTHORED_LANGS = (
    "en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "tr", "ar", "zh", "ja", "ko",
    "hi", "bn", "ta", "te", "gu", "ur", "th", "vi", "id", "sw",
)  # fmt: skip

_T0_DIR = "data/finetuning/t0_train_50k/data_per_template/"
_T0_TEMPLATES = {
    "summarization": (
        "samsum_Summarize_",
        "samsum_Sum_up_the_following_dialogue",
        "xsum_DOC_tldr",
        "xsum_summarize_DOC",
        "xsum_article_DOC_summary",
        "cnn_dailymail_3_0_0_sum_in_brief",
        "cnn_dailymail_3_0_0_tldr_summary",
        "gigaword_generate_summary_for_this",
    ),
    "extraction": (
        "quoref_Find_Answer",
        "quoref_Read_And_Extract_",
        "quoref_Answer_Question_Given_Context",
    ),
    "factual": (
        "kilt_tasks_hotpotqa_straighforward_qa",
        "kilt_tasks_hotpotqa_combining_facts",
        "sciq_Direct_Question_Closed_Book_",
    ),
    "analysis": (
        "wiqa_effect_with_string_answer",
        "ropes_prompt_bottom_no_hint",
        "quartz_answer_question_below",
        "social_i_qa_I_was_wondering",
    ),
    "creative": (
        "samsum_Write_a_dialogue_that_match_this_summary",
        "gigaword_write_an_article",
        "cnn_dailymail_3_0_0_generate_story",
        "common_gen_Given_concepts_type_1",
    ),
}
_HUMANEVAL_XL_LANGS = {
    "Afrikaans": "af", "Arabic": "ar", "Bulgarian": "bg", "Chinese": "zh", "Dutch": "nl",
    "English": "en", "Estonian": "et", "Finnish": "fi", "French": "fr", "German": "de",
    "Greek": "el", "Hebrew": "he", "Hungarian": "hu", "Indonesian": "id", "Italian": "it",
    "Malay": "ms", "Persian": "fa", "Portuguese": "pt", "Russian": "ru", "Spanish": "es",
    "Tagalog": "tl", "Turkish": "tr", "Vietnamese": "vi",
}  # fmt: skip
# Python in full; other programming languages sampled (every 5th problem) for their syntax.
_HUMANEVAL_XL_CODE = {"python": 1, "javascript": 5, "java": 5, "go": 5, "csharp": 5, "ruby": 5}
_MSVAMP_LANGS = {
    "Bengali": "bn", "Chinese": "zh", "English": "en", "French": "fr", "German": "de",
    "Japanese": "ja", "Russian": "ru", "Spanish": "es", "Swahili": "sw", "Thai": "th",
}  # fmt: skip
_MGSM_LANGS = ("bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")
_MT_BENCH_LANGS = {
    "bengali": "bn", "de": "de", "es": "es", "fr": "fr", "gujarati": "gu", "hindi": "hi",
    "it": "it", "jp": "ja", "nl": "nl", "pt": "pt", "tamil": "ta", "thai": "th", "urdu": "ur",
}  # fmt: skip

TRAIN: tuple[Source, ...] = (
    Source(
        "humaneval",
        "openai/human-eval",
        "6d43fb980f9fee3c892a914eda09951f772ad10d",
        "data/HumanEval.jsonl.gz",
        "MIT",
        "train",
        readers.humaneval,
    ),
    *(
        Source(
            f"humaneval-xl-{code}-{lang}",
            *HUMANEVAL_XL,
            f"data/{code}/{language}.jsonl",
            "MIT",
            "train",
            readers.every(step, readers.humaneval_xl(lang)),
        )
        for code, step in _HUMANEVAL_XL_CODE.items()
        for language, lang in _HUMANEVAL_XL_LANGS.items()
    ),
    *(
        Source(
            f"humaneval-xl-description-{lang}",
            *HUMANEVAL_XL,
            f"data/python/{language}.jsonl",
            "MIT",
            "train",
            readers.every(2, readers.humaneval_xl_description(lang)),
        )
        for language, lang in _HUMANEVAL_XL_LANGS.items()
    ),
    Source(
        "conala-en",
        *CONALA,
        "dataset/train/train.json",
        "CC BY-SA 4.0",
        "train",
        readers.conala("en"),
    ),
    *(
        Source(
            f"mconala-{lang}",
            *CONALA,
            f"dataset/test/{lang}_test.json",
            "CC BY-SA 4.0",
            "train",
            readers.conala(lang),
        )
        for lang in ("es", "ja", "ru")
    ),
    *(
        Source(f"aqua-{split}", *AQUA, f"{split}.json", "Apache-2.0", "train", readers.aqua)
        for split in ("dev", "test")
    ),
    *(
        Source(
            f"msvamp-{lang}",
            *MATH_OCTOPUS,
            f"step1_supervised_finetuning/data/msvamp/test_{language}.json",
            "MIT (MathOctopus; SVAMP MIT)",
            "train",
            readers.every(2, readers.msvamp(lang)),
        )
        for language, lang in _MSVAMP_LANGS.items()
    ),
    *(
        Source(
            f"xquad-{lang}",
            *XQUAD,
            f"xquad.{lang}.json",
            "CC BY-SA 4.0",
            "train",
            readers.every(8, readers.xquad(lang)),
        )
        for lang in ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
    ),
    *(
        Source(
            f"xquad-translation-{lang}",
            *XQUAD,
            f"xquad.{lang}.json",
            "CC BY-SA 4.0 (phrasing ours)",
            "train",
            readers.translation_requests(lang),
        )
        for lang in ("en", "es", "de", "ru", "zh", "tr", "vi")
    ),
    *(
        Source(
            f"ifeval-{lang}",
            *M_IFEVAL,
            f"data/{lang}_input_data.jsonl",
            "Apache-2.0 (IFEval, M-IFEval)",
            "train",
            readers.ifeval(lang),
        )
        for lang in ("en", "es", "fr", "ja")
    ),
    Source(
        "belle-eval-zh",
        "LianjiaTech/BELLE",
        "645084d36454cdeb4e7f1ce9b2f3426bac39f1f9",
        "eval/eval_set.json",
        "ODC-By (DATA_LICENSE)",
        "train",
        readers.belle,
    ),
    *(
        Source(
            f"t0-{template}",
            *SELF_INSTRUCT,
            f"{_T0_DIR}{template}.jsonl",
            "Apache-2.0 (self-instruct repo; P3 templates Apache-2.0)",
            "train",
            readers.t0(pattern),
        )
        for pattern, templates in _T0_TEMPLATES.items()
        for template in templates
    ),
    Source(
        "self-instruct-seeds",
        *SELF_INSTRUCT,
        "data/seed_tasks.jsonl",
        "Apache-2.0",
        "train",
        readers.self_instruct_seeds,
    ),
    *(
        Source(
            f"authored-{lang}",
            "authored",
            "this repository",
            f"training/data/authored/{lang}.txt",
            "authored by the project team, licence as the project (Apache-2.0)",
            "train",
            readers.authored(lang),
        )
        for lang in AUTHORED_LANGS
    ),
)

# Held out: code, math and creative writing (the probe set's patterns), from sources that share
# no origin with any training source, in 25 languages. Never trained on; only measured.
HELDOUT: tuple[Source, ...] = (
    *(
        Source(
            f"mgsm-{lang}",
            *URL_NLP,
            f"mgsm/mgsm_{lang}.tsv",
            "CC BY 4.0",
            "heldout",
            readers.every(5, readers.mgsm(lang)),
        )
        for lang in _MGSM_LANGS
    ),
    *(
        Source(
            f"mt-bench-{lang}",
            *MT_BENCH_ML,
            f"fastchat/llm_judge/data/mt_bench_{folder}/question.jsonl",
            "Apache-2.0",
            "heldout",
            readers.mt_bench(lang),
        )
        for folder, lang in _MT_BENCH_LANGS.items()
    ),
    Source(
        "writingbench-literature",
        *WRITINGBENCH,
        "benchmark_query/requirement/length/length_subset.jsonl",
        "Apache-2.0",
        "heldout",
        readers.writingbench,
    ),
    Source(
        "mbpp-routerbench-train",
        *ROUTERDC,
        "routerbench_subset/mbpp_train.csv",
        "CC BY 4.0 (MBPP)",
        "heldout",
        readers.every(2, readers.routerbench_mbpp),
    ),
    Source(
        "mbpp-routerbench-test",
        *ROUTERDC,
        "routerbench_subset/mbpp_test.csv",
        "CC BY 4.0 (MBPP)",
        "heldout",
        readers.every(2, readers.routerbench_mbpp),
    ),
)

SOURCES: tuple[Source, ...] = (*TRAIN, *HELDOUT)


def read_source(source: Source, mirrors: Path, evaldata: Path) -> list[Row]:
    if source.repo == "evaldata":
        raw = (evaldata / source.path).read_bytes()
    elif source.repo == "authored":
        raw = (AUTHORED_DIR / Path(source.path).name).read_bytes()
    else:
        raw = git_file(mirrors, source.repo, source.commit, source.path)
    return list(source.read(raw, source.name))
