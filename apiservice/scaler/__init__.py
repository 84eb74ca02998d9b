"""KEDA external scaler: a gRPC server (grpcio, asyncio) over the metrics Provider.

externalscaler.proto is Surge's own statement of KEDA's wire contract; the committed
externalscaler_pb2*.py are generated from it with

    python -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. \\
        apiservice/scaler/externalscaler.proto

run from the repository root (or `python -m apiservice.scaler.generate`, which does the
same). metadata.py reads a trigger, streams.py pushes StreamIsActive on snapshot changes,
server.py serves the four methods.
"""
