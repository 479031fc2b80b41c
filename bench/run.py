"""Run every benchmark in bench/ and write their results to bench/results.json."""

from __future__ import annotations

import importlib.util
import json
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    sys.path.insert(0, str(HERE))
    results = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.node()} {platform.machine()} {platform.processor()}"}
    for path in sorted(HERE.glob("*.py")):
        if path.name == "run.py":
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not hasattr(module, "main"):  # a helper module (flops.py)
            continue
        print(f"== {path.name}", file=sys.stderr)
        results[path.stem] = module.main()
    (HERE / "results.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {HERE / 'results.json'}")


if __name__ == "__main__":
    main()
