"""What a step's command hands back to :func:`repsub.cli.main` for its provenance records."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StepResult:
    """``precision``: how an ablation step computed (its mode and error bound), replacing
    the loop's precision in the records; ``record``: fields every record of the step carries
    (a training's ``resumed_from`` and ``registration``, a checkpoint's ``normalisation``)."""

    precision: dict | None = None
    record: dict = field(default_factory=dict)
