"""The chain behind a file as a Provenance Run Crate (Workflow Run RO-Crate family).

Auditors' tools read RO-Crate, not repsub's ``.prov.json`` records. This turns
the chain that ``audit`` walks into one: the Snakefile is the workflow, each
``python -m repsub STEP`` a tool (and a step of the workflow), and each step's
execution a ``CreateAction`` whose objects are the files it read (with their
sha256) and its parameters, and whose results are the files it wrote. A
``ControlAction`` ties each execution to its step, an ``OrganizeAction`` (the
run of Snakemake) to the run of the workflow. The files are copied into the
crate beside ``ro-crate-metadata.json``, so the crate stands alone; the data source stays where it is and is
named with the sha256 that ``prepare`` recorded.

Only a chain that audits clean is exported: a crate never vouches for a file
that changed after it was made.
"""

import json
import os
from pathlib import Path

from .errors import UserError
from .io import sha256_file

PROFILES = ["https://w3id.org/ro/wfrun/process/0.5", "https://w3id.org/ro/wfrun/workflow/0.5",
            "https://w3id.org/ro/wfrun/provenance/0.5", "https://w3id.org/workflowhub/workflow-ro-crate/1.0"]
WORKFLOW = Path(__file__).resolve().parent.parent / "Snakefile"


def _executions(records: dict) -> list:
    """One entry per step execution (the outputs of one command share one record's fields),
    in the order they ran."""
    runs = {}
    for path, record in records.items():
        key = (record["command"], record["started"], record["ended"], json.dumps(record.get("argv")))
        runs.setdefault(key, {"record": record, "folder": path.parent})
    return sorted(runs.values(), key=lambda run: (run["record"]["ended"], run["record"]["started"]))


def check_crate_folder(out_dir):
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UserError(f"--ro-crate {out_dir} exists and is not an empty folder; name a new folder")


def write_run_crate(walk, target, out_dir):
    """Write the Provenance Run Crate of ``target``'s chain (``walk``: its audit, which
    must be clean) into ``out_dir`` (new or empty)."""
    from rocrate.model import ContextEntity
    from rocrate.rocrate import ROCrate

    assert walk.ok, "only a chain that audits clean is exported"
    out_dir = Path(out_dir)
    executions = _executions(walk.records)
    files = {(run["folder"] / name).resolve(): digest for run in executions
             for kind in ("inputs", "outputs") for name, digest in run["record"][kind].items()}
    root = Path(os.path.commonpath([p.parent for p in files]))

    crate = ROCrate()
    crate.root_dataset["conformsTo"] = [{"@id": uri} for uri in PROFILES]
    crate.root_dataset["name"] = f"repsub provenance of {Path(target).name}"
    entities = {}
    for path, digest in files.items():
        if sha256_file(path) != digest:  # a step's other outputs are not on the audited chain: check them here
            raise UserError(f"{path} changed since it was made; rebuild it before exporting the provenance")
        entities[path] = crate.add_file(path, dest_path=path.relative_to(root).as_posix(), properties={
            "sha256": digest, "contentSize": str(path.stat().st_size)})
    workflow = crate.add_workflow(WORKFLOW, dest_path="Snakefile", main=True, lang="snakemake", properties={
        "name": "repsub Snakemake workflow",
        "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"]})  # HowTo: it lists its steps

    tools, steps, controls = {}, {}, []
    for position, run in enumerate(executions):
        record, folder = run["record"], run["folder"]
        command = record["command"]
        if command not in tools:
            tools[command] = crate.add(ContextEntity(crate, f"#tool-{command}", properties={
                "@type": "SoftwareApplication", "name": f"python -m repsub {command}"}))
            steps[command] = crate.add(ContextEntity(crate, f"#step-{command}", properties={
                "@type": "HowToStep", "name": command, "position": str(len(steps)),
                "workExample": {"@id": tools[command].id}}))
        code = record["code"]
        settings = {**{f"parameter {k}": json.dumps(v, sort_keys=True) for k, v in record["parameters"].items()},
                    "repsub_sha256": code.get("repsub_sha256"), "git_commit": code.get("git_commit"),
                    "device": record.get("device"), "host": record.get("host")}
        values = [crate.add(ContextEntity(crate, f"#pv-{position}-{name.replace(' ', '-')}", properties={
            "@type": "PropertyValue", "name": name, "value": str(value)})) for name, value in settings.items()]
        action = crate.add_action(tools[command], identifier=f"#run-{position}-{command}",
                                  object=[entities[(folder / n).resolve()] for n in record["inputs"]] + values,
                                  result=[entities[(folder / n).resolve()] for n in record["outputs"]],
                                  properties={"name": f"run of repsub {command}",
                                              "description": " ".join(map(str, record.get("argv") or [])),
                                              "startTime": record["started"], "endTime": record["ended"]})
        controls.append(crate.add(ContextEntity(crate, f"#control-{position}-{command}", properties={
            "@type": "ControlAction", "name": f"orchestrate {command}", "instrument": {"@id": steps[command].id},
            "object": {"@id": action.id}})))
    workflow["hasPart"] = [{"@id": tool.id} for tool in tools.values()]
    workflow["step"] = [{"@id": step.id} for step in steps.values()]

    sources = _data_sources(crate, walk.records)
    target_entity = entities[Path(target).resolve()]
    run = crate.add_action(workflow, identifier="#workflow-run", object=sources, result=[target_entity],
                           properties={"name": f"run of the repsub workflow that made {Path(target).name}",
                                       "startTime": executions[0]["record"]["started"],
                                       "endTime": executions[-1]["record"]["ended"]})
    engine = crate.add(ContextEntity(crate, "#snakemake", properties={
        "@type": "SoftwareApplication", "name": "Snakemake"}))
    crate.add(ContextEntity(crate, "#snakemake-run", properties={
        "@type": "OrganizeAction", "name": "run of Snakemake", "instrument": {"@id": engine.id},
        "result": {"@id": run.id}, "object": [{"@id": c.id} for c in controls]}))
    crate.write(out_dir)
    return out_dir / "ro-crate-metadata.json"


def _data_sources(crate, records):
    """The data each prepare step read, named with the sha256 it recorded (left in place)."""
    from rocrate.model import ContextEntity

    sources = []
    for path, record in records.items():
        if record["command"] == "prepare" and path.name == "manifest.json":
            manifest = json.loads(path.read_text())
            where = manifest["options"].get("root") or "scikit-learn's digits"
            sources.append(crate.add(ContextEntity(crate, f"#source-{manifest['source_sha256'][:16]}", properties={
                "@type": "Dataset", "name": f"{manifest['source']} at {where}",
                "identifier": f"sha256:{manifest['source_sha256']}"})))
    return sources
