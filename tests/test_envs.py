"""Each rule's conda env holds every third-party package its command imports.

No conda channel is reachable here, so the envs cannot be built in CI; this
checks statically what can be checked: the env files parse and pin every
package, and the imports reachable from each rule's command are all in its env.
"""

import ast
import re
import sys

import pytest
import yaml

from conftest import REPO

PACKAGE = REPO / "repsub"
IMPORT_TO_PIP = {"sklearn": "scikit-learn", "PIL": "pillow", "yaml": "pyyaml"}
ENTRY_MODULES = ("commands", "summary_commands")  # scanned per step: only module-level imports and the step's function


def env_packages(path):
    spec = yaml.safe_load(path.read_text())
    pins = [d for d in spec["dependencies"] if isinstance(d, str)]
    pins += [p for d in spec["dependencies"] if isinstance(d, dict) for p in d["pip"]]
    return pins


def rules():
    """(rule name, env file, repsub step) for every rule that runs a command."""
    found = []
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule )", smk.read_text()):
            name = re.match(r"rule (\w+):", block)
            step = re.search(r'"python -m repsub ([\w-]+)', block)
            if name and step:
                env = re.search(r'conda:\s*\n\s*"([^"]+)"', block)
                found.append((name.group(1), env and (smk.parent / env.group(1)).resolve(), step.group(1)))
    return found


def imports_of(node):
    """(absolute third-party names, relative repsub module names) imported under ``node``."""
    external, internal = set(), set()
    for item in ast.walk(node):
        if isinstance(item, ast.Import):
            external |= {alias.name.split(".")[0] for alias in item.names}
        elif isinstance(item, ast.ImportFrom):
            if item.level:
                internal |= {item.module} if item.module else {alias.name for alias in item.names}
            else:
                external.add(item.module.split(".")[0])
    return external, internal


def step_function(step):
    name = step.replace("-", "_") + "_command"
    for module in ENTRY_MODULES:
        tree = ast.parse((PACKAGE / f"{module}.py").read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                top = ast.Module(body=[n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))],
                                 type_ignores=[])
                return [node, top]
    raise AssertionError(f"no function {name} for step {step}")


def third_party_imports(step):
    external, queue, seen = set(), [], set()
    for node in step_function(step):
        names, modules = imports_of(node)
        external |= names
        queue += modules
    while queue:
        module = queue.pop()
        if module in seen:
            continue
        seen.add(module)
        names, modules = imports_of(ast.parse((PACKAGE / f"{module}.py").read_text()))
        external |= names
        queue += modules
    return {IMPORT_TO_PIP.get(n, n) for n in external if n not in sys.stdlib_module_names}


ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_file_parses_and_pins_every_package(path):
    pins = env_packages(path)
    assert pins
    for pin in pins:
        assert re.fullmatch(r"[\w.\-]+==?[\w.]+", pin), f"{path.name}: {pin!r} is not pinned"


def test_every_rule_names_an_env():
    found = rules()
    assert len(found) >= 10
    for rule, env, _ in found:
        assert env is not None and env.is_file(), rule


@pytest.mark.parametrize("rule, env, step", rules(), ids=lambda v: v if isinstance(v, str) else "")
def test_rule_env_holds_every_package_its_command_imports(rule, env, step):
    pinned = {re.split(r"==?", pin)[0].lower() for pin in env_packages(env)}
    missing = third_party_imports(step) - pinned
    assert not missing, f"rule {rule} runs 'repsub {step}', which imports {missing} not in {env.name}"


def test_statistics_env_needs_no_torch():
    assert "torch" not in third_party_imports("stats") | third_party_imports("figures")
