"""Regenerate mesh_pb2.py / mesh_pb2.pyi from mesh.proto (needs grpcio-tools).

    python -m exo_gay.mesh.regenerate

The generated module is committed.  protoc stamps it with a runtime check that refuses any
protobuf older than the protoc that made it (7.x here); exo's legacy tree pins protobuf 5.28,
and our servicer runs inside exo's process, so the check is stripped: the code protoc emits
(a serialized descriptor fed to google.protobuf.internal.builder) works on protobuf >= 4.21.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main() -> int:
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I.", "--python_out=.", "--pyi_out=.",
                    "exo_gay/mesh/mesh.proto"], cwd=ROOT, check=True)
    path = os.path.join(HERE, "mesh_pb2.py")
    text = open(path, encoding="utf-8").read()
    text = text.replace("from google.protobuf import runtime_version as _runtime_version\n", "")
    text = re.sub(r"_runtime_version\.ValidateProtobufRuntimeVersion\(.*?\n\)\n", "", text, flags=re.S)
    text = text.replace("# NO CHECKED-IN PROTOBUF GENCODE\n",
                        "# Post-processed by exo_gay/mesh/regenerate.py (runtime version check removed).\n")
    open(path, "w", encoding="utf-8").write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
