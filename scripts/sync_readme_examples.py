"""Rewrite every README block that names an example file (`# examples/...`) with that file's text.

The suite fails when the README's copy of an example differs from the file
(tests/test_readme_examples.py); run this after editing an example: `python3 scripts/sync_readme_examples.py`.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```(\w+)\n# (examples/\S+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    synced = BLOCK.sub(lambda m: f"```{m[1]}\n# {m[2]}\n{(ROOT / m[2]).read_text()}```", text)
    if synced != text:
        readme.write_text(synced)
        print("README.md: examples synced")


if __name__ == "__main__":
    main()
