"""The release stage as a Spark job: segments -> release/<name>/ (shards, card, sums).

    spark-submit jobs/release.py --root runs/sample [--config run.toml] [--set SECTION.KEY=VALUE]

Flags are those of ``galvasr release`` (``--help`` lists them); both are built from
the stage registry (galvasr.registry). Prints the stage's summary as one JSON line.
"""

import sys

from galvasr.registry import job_main

if __name__ == "__main__":
    sys.exit(job_main("release"))
