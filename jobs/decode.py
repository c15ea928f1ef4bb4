"""Decode stage as a Spark job: catalog -> chunks, audio, rejects (stage=decode).

    spark-submit jobs/decode.py --corpus data/sample --root runs/sample [--config run.toml]

The corpus and run root are local paths or gs:// URLs. Logs the stage's
summary (files, rejects by reason, chunks, padding per bucket) as one JSON
line on stdout. The logic is galvasr.decode.run_decode.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from galvasr.config import load_config
from galvasr.decode import run_decode
from galvasr.spark import get_spark


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, help="corpus root: items/<identifier>/...")
    parser.add_argument("--root", required=True, help="run root holding the catalog table")
    parser.add_argument("--config", type=Path, help="TOML config; its [decode] table is used")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = load_config(args.config)
    spark = get_spark("galvasr-decode")
    summary = run_decode(
        spark, args.corpus, args.root, config.decode, items_dir=config.ingest.items_dir
    )
    print(summary.to_json(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
