"""Train galvasr's acoustic model: ``python -m accel.train --config small`` (resumes)."""

from __future__ import annotations

import argparse

from galvasr.model.train import get_config, train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", default="small", help="module in galvasr/model/configs (small, tiny)"
    )
    args = parser.parse_args(argv)
    train(get_config(args.config))


if __name__ == "__main__":
    main()
