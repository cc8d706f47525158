"""summary.json of a sweep, typed: what `sweep.summary.summarize` writes and
`engine.reader.RunReader.summary` reads back (the report, the terminal, the viewer,
sensitivity).

Contrast rows and curves name their arms by columns (`treatment_cell`, `control_cell`:
persona, model, platform, strategy; persona ``*`` when pooled over personas); the key strings
`treatment` and `control` stay as their names. A summary written before the columns existed
is read by deriving them from the keys (`engine.reader.cell_from_key`). The nested statistics
(an estimate's value and interval, a trend, a curve's bands) stay dicts as summarize writes
them; every model tolerates fields added by a later version.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from valuespectrum.engine.reader import CellColumns, cell_from_key

#: The analysis plan of a summary written before plans were recorded.
DEFAULT_PLAN = {"estimand": "delta", "reading": "unpaired", "alpha": 0.05, "declared": True,
                "departs": []}


class SummaryRow(BaseModel):
    """A row of summary.json; fields a later version adds are kept, not refused."""

    model_config = ConfigDict(extra="allow")


class _Arms(SummaryRow):
    """A row that compares two cells, named by key and stored as columns."""

    kind: str
    role: str | None = None
    treatment: str
    control: str
    treatment_cell: CellColumns
    control_cell: CellColumns

    @model_validator(mode="before")
    @classmethod
    def _columns_from_keys(cls, data: Any) -> Any:
        """An older summary names the arms by key only: derive the columns once, here."""
        if isinstance(data, dict):
            for side in ("treatment", "control"):
                if data.get(f"{side}_cell") is None and side in data:
                    try:
                        data = {**data, f"{side}_cell": cell_from_key(data[side])}
                    except ValueError as e:
                        raise ValueError(f"{side}: {e}") from None
        return data


class ContrastRow(_Arms):
    """One comparison read on one estimand in one reading (paired or unpaired)."""

    estimand: str | None = None
    reading: str | None = None
    diff: float | None = None
    ci: list[float | None] = [None, None]
    p_value: float | None = None
    p_adjusted: float | None = None
    min_p: float | None = None
    df: float | None = None
    se: float | None = None
    n: int | None = None
    n_treatment: int | None = None
    n_control: int | None = None
    pairs: int | None = None
    personas: int | None = None
    family: str = "exploratory"
    reason: str | None = None
    cannot_reach: str | None = None

    def same_comparison(self, other: ContrastRow) -> bool:
        return (self.treatment, self.control, self.kind) == (other.treatment, other.control,
                                                             other.kind)


class CurveRow(_Arms):
    """Both arms' yes-rate per scroll bin and their difference, with simultaneous bands."""

    edges: list[float] = []
    treatment_rate: dict[str, Any] = {}
    control_rate: dict[str, Any] = {}
    difference: dict[str, Any] = {}
    paired: bool = False
    final_gap: float | None = None
    half_gap_scroll: float | None = None


class ArmStats(SummaryRow):
    """The statistics of a cell or of a group (the nested estimates stay dicts:
    ``{"value": x, "ci": [lo, hi]}``, a trend's slope and p, ...)."""

    model: str
    platform: str
    strategy: str
    style: str | None = None
    control: bool = False
    trials: int = 0
    excluded: list[dict[str, Any]] = []
    session: dict[str, Any] | None = None
    exposure: dict[str, Any] | None = None
    exposure_values: dict[str, Any] | None = None
    last_window: dict[str, Any] | None = None
    base_rate: float | None = None
    yes_rate_first: dict[str, Any] | None = None
    yes_rate_last: dict[str, Any] | None = None
    delta: dict[str, Any] | None = None
    increase_pooled: dict[str, Any] | None = None
    i_avg: dict[str, Any] | None = None
    i_avg_null: float | None = None
    i_avg_cumulative: dict[str, Any] | None = None
    i_avg_cumulative_null: float | None = None
    trend: dict[str, Any] | None = None
    value_share: dict[str, Any] | None = None
    invalid_answers: int = 0
    steps: int = 0
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_share: float | None = None

    @model_validator(mode="after")
    def _style(self) -> ArmStats:
        if self.style is None:  # summaries written before platforms had names
            self.style = self.platform
        return self


class CellRow(ArmStats):
    """One cell: persona x model x platform x strategy."""

    cell: str
    persona: str
    value_drift: dict[str, Any] | None = None
    failed_trials: int = 0

    @property
    def columns(self) -> CellColumns:
        return CellColumns(persona=self.persona, model=self.model, platform=self.platform,
                           strategy=self.strategy)


class GroupRow(ArmStats):
    """A model x platform x strategy pooled over personas (persona ``*``)."""

    personas: int = 1

    @property
    def columns(self) -> CellColumns:
        return CellColumns(persona="*", model=self.model, platform=self.platform,
                           strategy=self.strategy)


class SweepSummary(SummaryRow):
    """summary.json of a sweep run."""

    kind: Literal["sweep"] = "sweep"
    name: str
    window: int
    scrolls: int
    analysis: dict[str, Any] | None = None
    trial_statuses: dict[str, int] = {}
    definitions: dict[str, str] = {}
    contrasts: list[ContrastRow] = []
    curves: list[CurveRow] = []
    cells: list[CellRow] = []
    groups: list[GroupRow] = []

    @property
    def plan(self) -> dict[str, Any]:
        """The analysis plan it was read under (the defaults for older summaries)."""
        return self.analysis or DEFAULT_PLAN

    def cell(self, key: str) -> CellRow | None:
        """The cell named `key`, or None."""
        return next((c for c in self.cells if c.cell == key), None)

    def several_personas(self) -> bool:
        return len({c.persona for c in self.cells}) > 1
