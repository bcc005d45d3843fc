"""Entries as editors send them: validation with Vietnamese field errors, YAML text, atomic files.

Field names are those of ARCHITECTURE §3 (``assistant.kb.schema.Entry``); the API adds server-side
fields (``version``, ``updated_by``…) that never reach the files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from assistant.kb.schema import TOPICS, Entry, LegalDocument

#: File order of the fields (ARCHITECTURE §3, then ``review_note``).
FIELDS: tuple[str, ...] = (
    "id", "topic", "title", "questions", "answer", "spoken_answer", "legal_basis", "procedure_code", "agency",
    "fees", "processing_time", "online", "effective_from", "reviewed_at", "status", "review_note",
)
#: Fields the API adds; accepted in bodies and ignored (they never reach the files).
SERVER_FIELDS = frozenset({"version", "has_draft", "published", "draft_complete", "updated_by", "updated_at",
                           "errors", "flags", "rebase_needed"})
FIELD_NAMES = {
    "id": "mã mục", "topic": "chủ đề", "title": "tiêu đề", "questions": "câu hỏi mẫu", "answer": "câu trả lời",
    "spoken_answer": "câu trả lời nói", "legal_basis": "căn cứ pháp lý", "procedure_code": "mã thủ tục",
    "agency": "cơ quan giải quyết", "fees": "lệ phí", "processing_time": "thời hạn giải quyết",
    "online": "làm trực tuyến", "effective_from": "ngày áp dụng", "reviewed_at": "ngày rà soát",
    "status": "trạng thái", "review_note": "ghi chú rà soát", "document": "văn bản", "article": "điều khoản",
}
#: Vietnamese messages of pydantic's own error types (our validators already speak Vietnamese).
MESSAGES = {
    "missing": "bắt buộc phải có",
    "too_short": "cần ít nhất {min_length} mục",
    "string_too_short": "không được để trống",
    "string_type": "phải là chuỗi ký tự",
    "list_type": "phải là một danh sách",
    "dict_type": "phải là một ánh xạ {{document, article}}",
    "model_type": "phải là một ánh xạ {{document, article}}",
    "bool_type": "phải là true hoặc false",
    "bool_parsing": "phải là true hoặc false",
    "date_type": "phải là ngày dạng YYYY-MM-DD",
    "date_parsing": "phải là ngày dạng YYYY-MM-DD",
    "date_from_datetime_parsing": "phải là ngày dạng YYYY-MM-DD",
    "date_from_datetime_inexact": "phải là ngày dạng YYYY-MM-DD",
    "literal_error": "phải là một trong: {expected}",
    "enum": "phải là một trong: {expected}",
    "string_pattern_mismatch": "chỉ gồm chữ thường không dấu, số và dấu gạch dưới (ví dụ cu_tru_dang_ky_tam_tru)",
    "extra_forbidden": "trường không được phép",
}


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """``[{field, message}]`` in Vietnamese; ``field`` is a dotted path such as ``legal_basis.0.article``."""
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        kind = err["type"]
        if kind == "value_error":
            msg = str(err["msg"]).removeprefix("Value error, ")
        elif kind in MESSAGES:
            ctx = {k: v for k, v in (err.get("ctx") or {}).items()}
            try:
                msg = MESSAGES[kind].format(**ctx)
            except (KeyError, IndexError):
                msg = MESSAGES[kind].split(":")[0]
        else:
            msg = f"giá trị không hợp lệ ({kind})"
        out.append({"field": ".".join(loc) or "entry", "message": f"{field_label(loc)}: {msg}"})
    return out


def field_label(loc: list[str]) -> str:
    """``legal_basis.0.document`` → ``căn cứ pháp lý 1, văn bản``."""
    if not loc or loc[0] not in FIELD_NAMES:
        return loc[0] if loc else "mục"
    label = FIELD_NAMES[loc[0]]
    if len(loc) > 1 and loc[1].isdigit():
        label += f" {int(loc[1]) + 1}"
    if len(loc) > 2 and loc[-1] in FIELD_NAMES:
        label += f", {FIELD_NAMES[loc[-1]]}"
    return label


def clean_input(data: dict[str, Any]) -> dict[str, Any]:
    """Only the entry's fields, empty optional strings dropped, in file order."""
    out: dict[str, Any] = {}
    for name in FIELDS:
        if name not in data:
            continue
        value = data[name]
        if isinstance(value, str):
            value = value.strip().replace("\r\n", "\n")
            if not value and name in ("procedure_code", "agency", "fees", "processing_time", "review_note"):
                continue
        if value is None:
            continue
        if name == "questions" and isinstance(value, list):
            value = [q.strip() if isinstance(q, str) else q for q in value]
            value = [q for q in value if q != ""]
        out[name] = value
    return out


def validate_entry(data: dict[str, Any], documents: dict[str, LegalDocument]) -> tuple[Entry | None, list[dict]]:
    """The entry, or field errors: schema, and every cited document registered (a missing legal basis is invalid)."""
    data = {k: v for k, v in data.items() if k not in SERVER_FIELDS}
    extra = sorted(set(data) - set(FIELDS))
    errors = [{"field": k, "message": f"{k}: trường không được phép"} for k in extra]
    try:
        entry = Entry.model_validate(clean_input(data))
    except ValidationError as exc:
        return None, errors + field_errors(exc)
    for i, lb in enumerate(entry.legal_basis):
        if lb.document not in documents:
            errors.append({"field": f"legal_basis.{i}.document", "message": f"{field_label(['legal_basis', str(i), 'document'])}: "
                           f"{lb.document} chưa có trong sổ đăng ký văn bản (documents.yaml)"})
    return (None if errors else entry), errors


def entry_data(entry: Entry) -> dict[str, Any]:
    """The entry as JSON-ready data in file order (no ``None`` fields)."""
    dumped = entry.model_dump(mode="json", exclude_none=True)
    return {k: dumped[k] for k in FIELDS if k in dumped}


def content_hash(data: dict[str, Any] | None) -> str:
    if data is None:
        return "new"
    return hashlib.sha256(json.dumps(data, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def entry_yaml(data: dict[str, Any]) -> str:
    """YAML text of an entry in file order; multi-line strings as literal blocks, dates as dates."""
    ordered: dict[str, Any] = {}
    for k in FIELDS:
        if k not in data:
            continue
        value = data[k]
        if k in ("effective_from", "reviewed_at") and isinstance(value, str):
            value = dt.date.fromisoformat(value)
        ordered[k] = value
    return yaml.dump(ordered, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=110, indent=2)


def entry_path(kb_dir: Path, topic: str, entry_id: str) -> Path:
    if topic not in TOPICS:
        raise ValueError(f"chủ đề không hợp lệ {topic!r}")
    return kb_dir / "entries" / topic / f"{entry_id}.yaml"


def current_umask() -> int:
    """The process umask, read without changing it (``/proc``; ``os.umask`` twice elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # not thread-safe, hence the /proc route first
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode ``open()`` would give a new file (``0o666`` less the umask)."""
    return 0o666 & ~current_umask()


def new_dir_mode() -> int:
    """The mode ``mkdir`` would give a new folder (``0o777`` less the umask)."""
    return 0o777 & ~current_umask()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` so that readers see the old or the new content, never a mix.

    Temporary file in the same folder (with the replaced file's mode, or the umask's for a new
    file: ``mkstemp`` alone would make it 0600), ``fsync``, ``rename``, ``fsync`` of the folder.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = new_file_mode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fsync_file(path)  # a folder opened read-only can be fsynced on Linux
