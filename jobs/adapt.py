"""The adapt stage as a job: self-training inside a run, then infer and align again with the model.

    spark-submit jobs/adapt.py --root runs/sample --set adapt.rounds=1 [--config run.toml]

Flags are those of ``galvasr adapt`` (``--help`` lists them); both are built from
the stage registry (galvasr.registry). Prints the stage's summary as one JSON line.
"""

import sys

from galvasr.registry import job_main

if __name__ == "__main__":
    sys.exit(job_main("adapt"))
