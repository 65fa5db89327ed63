"""The compiled strict NDJSON parser (``_strict_ndjson.c``), loaded where it was built — from a zip too, as on Glue."""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import tempfile
import zipimport
from pathlib import Path
from types import ModuleType
from typing import cast


def load_strict_parser() -> ModuleType | None:
    """The compiled parser, or None where it was not built (Arrow's reader then reads every block).

    Glue ships paybatch as a zip (``--extra-py-files``), and Python cannot load a compiled module
    from a zip: there it is copied out once, to a folder named by its content, and loaded from there.
    """
    try:
        from paybatch.convert import _strict_ndjson  # type: ignore[attr-defined]
    except ImportError:
        pass
    else:
        return cast(ModuleType, _strict_ndjson)
    loader = globals().get("__loader__")
    if not isinstance(loader, zipimport.zipimporter):
        return None
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        name = f"_strict_ndjson{suffix}"
        try:
            data = loader.get_data(f"{loader.prefix}{name}")
        except OSError:
            continue
        path = private_copy(name, data)
        spec = importlib.util.spec_from_file_location(f"{__package__}._strict_ndjson", path)
        if spec is None or spec.loader is None:
            return None
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except ImportError:  # built for another platform: Arrow's reader it is
            return None
        return module
    return None


def private_copy(name: str, data: bytes) -> Path:
    """``data`` as a file of this user's own, made once per machine and content, checked before each use.

    The folder is this user's alone (mode 700, owner checked), so nobody else can plant a module there.
    """
    folder = Path(tempfile.gettempdir()) / f"paybatch-native-{os.getuid()}-{hashlib.sha256(data).hexdigest()[:16]}"
    folder.mkdir(mode=0o700, exist_ok=True)
    mine = folder.stat()
    if mine.st_uid != os.getuid() or mine.st_mode & 0o077:
        folder = Path(tempfile.mkdtemp(prefix="paybatch-native-"))
    path = folder / name
    if not path.is_file() or path.read_bytes() != data:
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_bytes(data)
        partial.replace(path)  # whole or not at all, whichever process writes it first
    return path


STRICT_PARSER = load_strict_parser()
