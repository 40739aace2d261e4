"""Write environment.yml from requirements.lock so conda users get exactly the same pins."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEADER = """# Conda environment with the same exact pins as requirements.lock (written by `make lock`;
# a test keeps the two in sync). conda env create -f environment.yml && conda activate lend-an-ear
name: lend-an-ear
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
"""


def main() -> None:
    pins = [
        line.strip()
        for line in (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    body = "".join(f"      - {pin}\n" for pin in pins) + "      - -e .\n"
    (REPO / "environment.yml").write_text(HEADER + body, encoding="utf-8")


if __name__ == "__main__":
    main()
