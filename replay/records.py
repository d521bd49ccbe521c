"""The generic replay format, and the catalog a replay routes over.

A dataset becomes a list of `ReplayRecord`: a prompt, and for each model its recorded outcome
(0..1) and its cost in USD. Models of public benchmarks are mostly not in our catalog, so each
replay builds its own (`replay_catalog`) from what the dataset itself says about price.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import fmean

from schemas.messages import ChatMessage
from shared.routing.catalog import Catalog, ModelSpec
from shared.routing.tokens import estimate_tokens

REPLAY_PROVIDER = "simulated"
# Priors of a replay catalog: only the reference model is expected to clear the default floor
# of 0.8, so a cold start routes everything to it, as a new deployment routes to its premium
# model. Everything cheaper must earn its traffic from feedback.
REFERENCE_PRIOR = 0.9
OTHER_PRIOR = 0.7


@dataclass(frozen=True, slots=True)
class ReplayRecord:
    """One prompt and what each model did with it. `group` is a report label only.

    `quality` is 0..1 (correctness, or a judge score scaled to 0..1); `cost_usd` is what the
    answer cost. `group` (benchmark or subject name) is never shown to the router: it would
    name the answer's difficulty, not describe the prompt.
    """

    uid: str
    messages: tuple[ChatMessage, ...]
    quality: Mapping[str, float]
    cost_usd: Mapping[str, float]
    group: str = ""

    @property
    def prompt_tokens(self) -> int:
        return sum(estimate_tokens(m.content) for m in self.messages)


@dataclass(slots=True)
class ReplayDataset:
    """Records plus what the report needs to read them.

    `graded` means quality is a judge's score rather than correctness; feedback is then a 1-5
    score (`feedback`). `notes` say where costs come from.
    """

    name: str
    records: list[ReplayRecord]
    models: tuple[str, ...]
    reference_model: str
    graded: bool = False
    notes: list[str] = field(default_factory=list)
    published: dict[str, object] = field(default_factory=dict)

    def feedback(self, quality: float) -> tuple[int, bool | None]:
        """(quality_score 1-5, is_correct) as a user would report this outcome."""
        if self.graded:
            return max(1, min(5, math.ceil(quality * 5))), None
        correct = quality >= 0.5
        return (5 if correct else 1), correct


def user_messages(turns: Sequence[str]) -> tuple[ChatMessage, ...]:
    """Prompt turns as user messages (the recorded answers differ per model, so none is kept)."""
    return tuple(ChatMessage(role="user", content=t) for t in turns if t.strip())


def replay_catalog(dataset: ReplayDataset, max_tokens: int) -> Catalog:
    """A catalog of the dataset's models, priced from the dataset's own mean cost per prompt.

    Per-token price = mean cost per prompt / mean request tokens (prompt estimate + max_tokens),
    the same for input and output, so that `ModelSpec.cost` of a typical prompt is that model's
    mean recorded cost and the policy ranks models as the dataset's prices do. The routed
    prompt's own recorded cost is only charged after the decision, never used to make it.
    """
    records = dataset.records
    tokens = fmean(r.prompt_tokens for r in records) + max_tokens
    mean_cost = {
        m: fmean(r.cost_usd[m] for r in records if m in r.cost_usd) for m in dataset.models
    }
    ranked = sorted(dataset.models, key=lambda m: mean_cost[m])
    specs = []
    for position, model in enumerate(ranked):
        tier = ("cheap", "middle", "premium")[min(2, 3 * position // len(ranked))]
        price = mean_cost[model] / tokens * 1_000_000
        prior = REFERENCE_PRIOR if model == dataset.reference_model else OTHER_PRIOR
        specs.append(
            ModelSpec(
                id=model,
                provider=REPLAY_PROVIDER,
                vendor_model=model,
                tier=tier,
                input_per_mtok=price,
                output_per_mtok=price,
                context_window=10_000_000,
                max_output_tokens=max(max_tokens, 8192),
                quality={"default": prior},
                source=f"replay of {dataset.name}: mean recorded cost per prompt",
            )
        )
    return Catalog(default_premium_model=dataset.reference_model, models=specs)
