"""The knob as an aggregate target: a cost weight per quality target, calibrated on recent traffic.

The goal the product is measured by is an aggregate one: the traffic as a whole keeps a share
of the best quality at as little cost as possible. Asking every single prompt to reach that
share of its best candidate over-delivers (most prompts' choice sits well above the bar) and
flips whole categories on a bar. The aggregate rule instead chooses, per prompt, the candidate
maximising

    predicted quality - weight x cost / baseline cost

(ties go to the cheapest), the cost normalised by the baseline model's cost of the same request,
and the weight is solved so that, over a window of the router's recent decisions,

    sum(predicted quality of the choice) >= quality_target x sum(predicted quality of the best).

This is the Lagrangian of "least cost at that aggregate quality": money goes where a unit of it
buys the most predicted quality.

`CostWeights` keeps the window, a ring buffer of each recent routed decision's candidates (their
predicted qualities and normalised costs, cheapest first; no prompt), and solves the weight by
bisection for any target asked, again only every `every` decisions (amortised: a solve reads the
window, a decision reads one cached number). A target other than the router's default (a key's
or a request's) gets its own weight on the same window: the weight at which the recent traffic,
had it all asked for that target, would have met it. Until the window holds `warmup` decisions
there is no weight and the caller uses the per-prompt rule (`chooser`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

MAX_WEIGHT = 1e6  # above this every request takes its cheapest candidate anyway
_MIN_WEIGHT = 1e-6  # below this every request takes its best candidate anyway
_TOLERANCE = 1e-3  # relative precision of a solved weight
_TARGETS_KEPT = 16  # distinct targets whose weights are cached (the oldest dropped first)


def kept_quality(qualities: Array, costs: Array, weight: float) -> float:
    """Sum over rows of the predicted quality of the candidate the rule picks at `weight`.

    Rows are requests, columns candidates cheapest first (padding: quality -inf); argmax keeps
    the first maximum, i.e. the cheapest on ties.
    """
    picked = np.argmax(qualities - weight * costs, axis=1)
    return float(np.take_along_axis(qualities, picked[:, None], axis=1).sum())


def solve_weight(qualities: Array, costs: Array, target: float, hint: float | None = None) -> float:
    """The largest weight whose choices keep `target` x the sum of each row's best quality.

    The kept quality only falls as the weight grows, so bisection (on a log scale, from a
    bracket around `hint` when given) finds it to `_TOLERANCE`; 0 when the target asks for the
    best everywhere, `MAX_WEIGHT` when the cheapest everywhere already meets it.
    """
    if target >= 1.0 or not len(qualities):
        return 0.0
    goal = target * float(qualities.max(axis=1).sum())

    def meets(weight: float) -> bool:
        return kept_quality(qualities, costs, weight) >= goal

    low = high = min(max(hint or 1.0, _MIN_WEIGHT), MAX_WEIGHT)
    if meets(high):
        while meets(high):
            low, high = high, high * 4.0
            if high > MAX_WEIGHT:
                return MAX_WEIGHT
    else:
        while not meets(low):
            high, low = low, low / 4.0
            if low < _MIN_WEIGHT:
                return 0.0
    while high > low * (1.0 + _TOLERANCE):
        middle = float(np.sqrt(low * high))
        low, high = (middle, high) if meets(middle) else (low, middle)
    return low


def normalised(costs: Sequence[float], baseline_cost: float) -> list[float]:
    """Costs as shares of the baseline's cost of the same request (its dearest when 0)."""
    scale = baseline_cost if baseline_cost > 0 else max(*costs, 1e-12)
    return [c / scale for c in costs]


def best_value(qualities: Sequence[float], prices: Sequence[float], order: Sequence[int]) -> int:
    """Index maximising quality - price, the first in `order` (the cheapest) on ties."""
    best, best_value_ = order[0], qualities[order[0]] - prices[order[0]]
    for i in order[1:]:
        value = qualities[i] - prices[i]
        if value > best_value_:
            best, best_value_ = i, value
    return best


class CostWeights:
    """One router's window of recent decisions and the cost weight per target (module doc).

    `window`: decisions kept; `every`: decisions between two solves of a target's weight;
    `warmup`: decisions needed before any weight is given (None: `every`).
    """

    def __init__(self, window: int = 500, every: int = 50, warmup: int | None = None) -> None:
        if window < 1 or every < 1:
            raise ValueError("the window and the solve interval must be positive")
        self.window, self.every = window, every
        self.warmup = every if warmup is None else warmup
        self._qualities = np.full((window, 1), -np.inf)
        self._costs = np.zeros((window, 1))
        self.decisions = 0  # recorded since start
        self._solved: dict[float, tuple[float, int]] = {}  # target -> (weight, decisions then)

    def record(self, qualities: Sequence[float], costs: Sequence[float]) -> None:
        """Add one routed decision: its candidates' predicted qualities and normalised costs,
        cheapest first."""
        k = len(qualities)
        if k > self._qualities.shape[1]:  # a request with more candidates than seen so far
            pad = k - self._qualities.shape[1]
            self._qualities = np.pad(self._qualities, ((0, 0), (0, pad)), constant_values=-np.inf)
            self._costs = np.pad(self._costs, ((0, 0), (0, pad)))
        row = self.decisions % self.window
        self._qualities[row, :k] = qualities
        self._qualities[row, k:] = -np.inf
        self._costs[row, :k] = costs
        self._costs[row, k:] = 0.0
        self.decisions += 1

    def weight(self, target: float) -> float | None:
        """The cost weight for `target` (None before `warmup` decisions), re-solved when the
        cached one is `every` decisions old."""
        if self.decisions < self.warmup:
            return None
        key = round(target, 4)
        cached = self._solved.get(key)
        if cached is not None and self.decisions - cached[1] < self.every:
            return cached[0]
        filled = min(self.decisions, self.window)
        weight = solve_weight(
            self._qualities[:filled], self._costs[:filled], key, cached[0] if cached else None
        )
        self._solved.pop(key, None)
        if len(self._solved) >= _TARGETS_KEPT:
            del self._solved[next(iter(self._solved))]
        self._solved[key] = (weight, self.decisions)
        return weight
