"""Regenerates the committed gRPC modules from externalscaler.proto (grpcio-tools).

    python -m apiservice.scaler.generate

which runs, from the repository root,

    python -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. \\
        apiservice/scaler/externalscaler.proto

The proto is compiled under its repository path so that the generated service module
imports its messages as `apiservice.scaler.externalscaler_pb2`, not as a top-level module.
`--out DIR` writes elsewhere (the tests compare a fresh generation with the committed one).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO = "apiservice/scaler/externalscaler.proto"
GENERATED = (
    "apiservice/scaler/externalscaler_pb2.py",
    "apiservice/scaler/externalscaler_pb2_grpc.py",
)


def generate(out: Path) -> None:
    from grpc_tools import protoc

    out.mkdir(parents=True, exist_ok=True)
    args = ["grpc_tools.protoc", f"-I{ROOT}", f"--python_out={out}", f"--grpc_python_out={out}"]
    if protoc.main([*args, str(ROOT / PROTO)]) != 0:
        raise RuntimeError(f"protoc failed on {PROTO}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apiservice.scaler.generate")
    parser.add_argument("--out", type=Path, default=ROOT, help="output root (default: the repo)")
    generate(parser.parse_args(argv).out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
