"""The README's set-up commands and CI stay in step."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up and run", 1)[1]
    return re.findall(r"```bash\n(.+?)\n```", section)[:2]


def test_ci_runs_exactly_the_readme_test_command():
    run_cmd, test_cmd = readme_commands()
    assert "pytest" in test_cmd and any(f"laser_jax.{m}" in run_cmd for m in ("main", "compare", "best_of_n"))
    ci_lines = [l.strip() for l in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_cmd.strip() in ci_lines


def test_readme_first_command_names_an_existing_config():
    run_cmd, _ = readme_commands()
    config = re.search(r"--config (\S+)", run_cmd).group(1).split(":")[0]  # path[:argument]
    assert (ROOT / config).exists()
