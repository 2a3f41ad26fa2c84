"""Generate the Python protobuf and gRPC modules from proto/segments/v1/*.proto.

    python -m proto.generate          # rewrite proto/segments/v1/*_pb2*.py(i)
    python -m proto.generate --check  # exit 1 when the checked-in modules differ from a fresh run

protoc names imports after the proto path (`from segments.v1 import records_pb2`); the modules live in
the `proto` package, so those imports are rewritten to `from proto.segments.v1 import ...`. Other
languages generate from the same .proto files with `-I proto` and need no rewrite (README, "API").
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
PACKAGE_DIR = PROTO_ROOT / "segments" / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
_IMPORT = re.compile(r"^from segments\.v1 import ", re.MULTILINE)


def proto_files() -> list[Path]:
    return sorted(PACKAGE_DIR.glob("*.proto"))


def generate_into(out_dir: Path) -> dict[str, str]:
    """Run protoc into `out_dir`; return {file name: text} of the generated modules, imports rewritten."""
    include = Path(protoc.__file__).resolve().parent / "_proto"  # google/protobuf/*.proto
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(path.relative_to(PROTO_ROOT)) for path in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed (see its message above)")
    generated: dict[str, str] = {}
    for path in sorted((out_dir / "segments" / "v1").iterdir()):
        if path.name.endswith(GENERATED_SUFFIXES):
            generated[path.name] = _IMPORT.sub("from proto.segments.v1 import ", path.read_text())
    return generated


def checked_in() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(PACKAGE_DIR.iterdir()) if path.name.endswith(GENERATED_SUFFIXES)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the checked-in modules, write nothing")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate_into(Path(tmp))
    if args.check:
        stale = sorted(set(fresh) ^ set(checked_in()) | {n for n in fresh if checked_in().get(n) != fresh[n]})
        if stale:
            print("stale generated modules (run `python -m proto.generate`): " + ", ".join(stale), file=sys.stderr)
            return 1
        print(f"{len(fresh)} generated modules are up to date")
        return 0
    for name in set(checked_in()) - set(fresh):
        (PACKAGE_DIR / name).unlink()
    for name, text in fresh.items():
        (PACKAGE_DIR / name).write_text(text)
    print(f"wrote {len(fresh)} modules to {PACKAGE_DIR.relative_to(PROTO_ROOT.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
