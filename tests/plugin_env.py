"""Make a test-only plugin distribution visible to importlib.metadata, without pip."""

from __future__ import annotations

from pathlib import Path

PLUGIN_SRC = Path(__file__).parent / "plugin_pkg"


def write_distribution(
    root: Path, entry_points: dict[str, str], name: str = "qa-sample-plugin"
) -> Path:
    """Create ``<name>-0.1.dist-info`` under ``root`` declaring ``qa.checks`` entry points."""
    dist = root / f"{name.replace('-', '_')}-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = ["[qa.checks]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return root
