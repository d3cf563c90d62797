"""What a step's command hands back to :func:`repsub.cli.main` for its provenance records."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StepResult:
    """``read``: files the step found and read beyond its file arguments (checked and hashed as
    inputs); ``precision``: how an ablation step computed (its mode and error bound), replacing
    the loop's precision in the records; ``record``: fields every record of the step carries
    (a training's ``resumed_from`` and ``registration``, a checkpoint's ``normalisation``)."""

    read: list = field(default_factory=list)
    precision: dict | None = None
    record: dict = field(default_factory=dict)
