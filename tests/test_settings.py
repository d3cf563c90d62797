"""Each stage's settings have one home in code (repsub.settings) and one in the schema,
with the same names and the same defaults, so neither can gain a setting the other lacks."""

import dataclasses

import pytest
import yaml

from conftest import REPO
from repsub.errors import UserError
from repsub.settings import AblationSettings, AMSettings, TrainSettings

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
ANALYSIS = SCHEMA["properties"]["analysis"]["properties"]
RUN_OVERRIDES = SCHEMA["properties"]["runs"]["items"]["properties"]["analysis"]["properties"]
# keys the workflow reads itself, which no stage's command takes
WORKFLOW_ONLY = {"am": {"methods"}}
STAGES = [(TrainSettings, SCHEMA["definitions"]["train"]), (AMSettings, ANALYSIS["am"]),
          (AblationSettings, ANALYSIS["ablation"])]


@pytest.mark.parametrize("settings, schema", STAGES, ids=lambda v: getattr(v, "STAGE", ""))
def test_schema_and_dataclass_hold_the_same_settings_and_defaults(settings, schema):
    properties = {k: v for k, v in schema["properties"].items() if k not in WORKFLOW_ONLY.get(settings.STAGE, ())}
    fields = {f.name: f.default for f in dataclasses.fields(settings)}
    assert set(fields) == set(properties)
    for name, default in fields.items():
        assert properties[name]["default"] == (list(default) if isinstance(default, tuple) else default), name


@pytest.mark.parametrize("stage, settings", [("am", AMSettings), ("ablation", AblationSettings)])
def test_a_run_can_override_only_settings_that_exist(stage, settings):
    assert set(RUN_OVERRIDES[stage]["properties"]) <= {f.name for f in dataclasses.fields(settings)}


@pytest.mark.parametrize("settings", [TrainSettings, AMSettings, AblationSettings])
def test_defaults_are_valid_and_unknown_keys_are_refused(settings):
    assert settings.from_dict({}) == settings()
    with pytest.raises(UserError, match=f"unknown {settings.STAGE} setting\\(s\\) colour in --settings"):
        settings.from_dict({"colour": 1})


@pytest.mark.parametrize("settings, values, message", [
    (TrainSettings, {"lr": 0}, "train.lr must be a positive number"),
    (TrainSettings, {"momentum": 2}, "train.momentum must be a number from 0 to 1"),
    (TrainSettings, {"flip": "yes"}, "train.flip must be true or false"),
    (AMSettings, {"optimise": "logits"}, "am.optimise must be pre_relu or post_relu"),
    (AblationSettings, {"fractions": [0.5]}, "ablation.fractions must be a list of at least two fractions"),
    (AblationSettings, {"max_images": 0}, "ablation.max_images must be a positive integer up to 1048576 or null"),
])
def test_bad_values_name_the_setting(settings, values, message):
    with pytest.raises(UserError, match=message):
        settings.from_dict(values)
