"""The settings of each stage, with the only defaults in code (torch-free).

Each stage (training, AM/IAM, ablation) takes one frozen dataclass, built from
the JSON object its command receives as ``--settings``. It refuses unknown keys
and checks its own values, so a setting has one home here, one in the config
schema (whose defaults a test keeps equal to these) and none in the rules.
"""

from dataclasses import asdict, dataclass, fields

from .errors import UserError

# How a unit's image is made for RS: optimised (AM, IAM), the starting noise, or the
# evaluation image that excites it most (repsub.baselines).
METHODS = ("am", "iam", "noise", "top_image")
METHOD_NAMES = {"am": "AM", "iam": "IAM", "noise": "noise", "top_image": "top image"}  # as figures and tables write them
OPTIMISED = ("am", "iam")  # the methods that optimise an image, step by step
RS_ORDER_METHOD = "iam"  # cumulative ablation's RS orders rank units by this method's RS (the paper's IAM)
# What one conv unit's activation is: its map's spatial mean (the paper's) or max.
UNITS = ("spatial_mean", "spatial_max")
# Numeric precision of the optimisation loops (training, AM); auto resolves per device.
PRECISIONS = ("auto", "fp32", "bf16")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


# Upper bounds, the same in the schema: a count far beyond any real one (batch sizes, steps,
# repeats) would only allocate without end; a seed must fit the generators (32 bits);
# padding and jitter beyond 64 pixels leave nothing of a 32-pixel image.
MAX_COUNT = 1 << 20
MAX_SEED = (1 << 32) - 1
MAX_PIXELS = 64


class Settings:
    """``from_dict`` and the checks that every stage's settings share."""

    STAGE = ""

    @classmethod
    def from_dict(cls, values: dict):
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise UserError(f"unknown {cls.STAGE} setting(s) {', '.join(unknown)} in --settings; the settings are "
                            f"{', '.join(known)}")
        return cls(**values)

    def as_dict(self) -> dict:
        return asdict(self)

    def _fail(self, name, what):
        raise UserError(f"{self.STAGE}.{name} must be {what}, got {getattr(self, name)!r}; fix the config")

    def _integers(self, least, *names, optional=False, most=MAX_COUNT):
        for name in names:
            value = getattr(self, name)
            if optional and value is None:
                continue
            if not _is_int(value) or not least <= value <= most:
                self._fail(name, ("a positive integer" if least else "a non-negative integer") + f" up to {most}"
                           + (" or null" if optional else ""))

    def _numbers(self, low, high, *names, open_low=False):
        for name in names:
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value <= high and (
                value > low if open_low else value >= low)
            if not ok:
                self._fail(name, f"a number from {low} to {high}" if high != float("inf") else
                           "a positive number" if open_low else "a non-negative number")

    def _booleans(self, *names):
        for name in names:
            if not isinstance(getattr(self, name), bool):
                self._fail(name, "true or false")

    def _layer_caps(self, name):
        """A mapping of layer names to a positive integer or null (every unit), or null."""
        value = getattr(self, name)
        if value is None:
            return
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and (v is None or (_is_int(v) and 1 <= v <= MAX_COUNT)) for k, v in value.items()):
            self._fail(name, "a mapping of layer names to a positive integer or null, or null")

    def max_units(self, layer):
        """How many units of ``layer`` to analyse (None: all): the layer's own cap, else the study-wide one."""
        return (self.max_units_by_layer or {}).get(layer, self.max_units_per_layer)

    def _choice(self, name, options):
        if getattr(self, name) not in options:
            self._fail(name, " or ".join(options))


@dataclass(frozen=True)
class TrainSettings(Settings):
    STAGE = "train"
    epochs: int = 10
    batch_size: int = 128
    eval_batch_size: int = 1000
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    warmup_fraction: float = 0.2
    crop_padding: int = 0
    flip: bool = False
    resume: bool = False  # save each epoch and resume after a kill

    def __post_init__(self):
        self._integers(1, "epochs", "batch_size", "eval_batch_size")
        self._integers(0, "crop_padding", most=MAX_PIXELS)
        self._numbers(0, float("inf"), "lr", open_low=True)
        self._numbers(0, float("inf"), "weight_decay")
        self._numbers(0, 1, "momentum", "label_smoothing", "warmup_fraction")
        self._booleans("nesterov", "flip", "resume")


@dataclass(frozen=True)
class AMSettings(Settings):
    STAGE = "am"
    steps: int = 64
    lr: float = 0.05
    noise_seed: int = 0
    chunk_size: int = 256
    optimise: str = "pre_relu"  # the ReLU has no gradient while a unit is silent
    compare: str = "post_relu"  # the paper compares positive activations
    trace_every: int = 8
    jitter: int = 0  # roll each step's input by up to this many pixels (lucent's jitter)
    parameterisation: str = "pixel"  # what Adam updates: the pixels, or lucent's Fourier spectrum
    transforms: tuple = ()  # each step's random scale and/or rotate, beside jitter (repsub.transforms)
    iam_others: str = "compared"  # IAM's other units: in the space RS compares (or the optimised one, as first)
    record_steps: tuple | None = None  # steps whose substitution matrix is kept (None: 0, 1, 2, 4, ... and the last)
    max_units_per_layer: int | None = None  # a seeded subset of each layer's units
    max_units_by_layer: dict | None = None  # per-layer caps that replace max_units_per_layer
    rs_tolerance: float = 0.0  # RS counts near-ties within this relative tolerance (a sensitivity analysis)

    def __post_init__(self):
        self._integers(1, "steps", "chunk_size", "trace_every")
        self._numbers(0, 0.5, "rs_tolerance")
        self._integers(1, "max_units_per_layer", optional=True)
        self._layer_caps("max_units_by_layer")
        self._integers(0, "noise_seed", most=MAX_SEED)
        self._integers(0, "jitter", most=MAX_PIXELS)
        self._numbers(0, float("inf"), "lr", open_low=True)
        self._choice("optimise", ("pre_relu", "post_relu"))
        self._choice("compare", ("pre_relu", "post_relu"))
        self._choice("iam_others", ("compared", "optimised"))
        self._choice("parameterisation", ("pixel", "fourier"))
        object.__setattr__(self, "transforms", tuple(self.transforms) if isinstance(self.transforms, list)
                           else self.transforms)  # JSON gives a list
        if not isinstance(self.transforms, tuple) or not all(t in ("scale", "rotate") for t in self.transforms):
            self._fail("transforms", "a list of scale and rotate")
        if self.record_steps is not None:
            object.__setattr__(self, "record_steps", tuple(self.record_steps) if isinstance(
                self.record_steps, (list, tuple)) else self.record_steps)  # JSON gives a list
            if not isinstance(self.record_steps, tuple) or not all(
                    _is_int(s) and 0 <= s <= self.steps for s in self.record_steps):
                self._fail("record_steps", f"a list of steps from 0 to steps ({self.steps}), or null")


# How ablation computes the ablated networks (repsub/ablation_precision.py says why)
ABLATION_PRECISIONS = ("fp32", "checked_tf32", "checked_bf16")


@dataclass(frozen=True)
class AblationSettings(Settings):
    STAGE = "ablation"
    max_images: int | None = None  # a stratified subset of the evaluation split
    max_units_per_layer: int | None = None  # single-unit ablation of a seeded subset of units
    max_units_by_layer: dict | None = None  # per-layer caps that replace max_units_per_layer
    masks_per_pass: int = 16
    fractions: tuple = (0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    random_repeats: int = 5
    tie_repeats: int = 5  # seeded tie-breaks of an order whose scores tie (runs once without ties)
    seed: int = 0
    precision: str = "fp32"  # or checked_bf16 / checked_tf32 (repsub/ablation_precision.py)

    def __post_init__(self):
        if self.precision not in ABLATION_PRECISIONS:
            self._fail("precision", f"one of {', '.join(ABLATION_PRECISIONS)}")
        if isinstance(self.fractions, list):  # JSON gives a list
            object.__setattr__(self, "fractions", tuple(self.fractions))
        self._integers(1, "max_images", "max_units_per_layer", optional=True)
        self._layer_caps("max_units_by_layer")
        self._integers(1, "masks_per_pass", "random_repeats", "tie_repeats")
        self._integers(0, "seed", most=MAX_SEED)
        if not isinstance(self.fractions, tuple) or len(self.fractions) < 2 or not all(
                isinstance(f, (int, float)) and not isinstance(f, bool) and 0 <= f <= 1 for f in self.fractions):
            self._fail("fractions", "a list of at least two fractions in [0, 1]")
