"""Load and validate the knowledge base, reporting problems as ``file:line: message``."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from assistant.errors import CorpusError
from assistant.kb.schema import (
    TOPICS,
    DocumentStatus,
    Entry,
    LegalDocument,
    OutOfScopeGroup,
    RedirectGroup,
)
from assistant.text import fold

DOCUMENTS_FILE = "documents.yaml"
REDIRECTS_FILE = "other_agencies.yaml"
OUT_OF_SCOPE_FILE = "out_of_scope.yaml"
ENTRIES_DIR = "entries"

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    """One finding of the validator. Warnings do not make the corpus invalid."""

    path: Path
    line: int
    message: str
    warning: bool = False

    def format(self, root: Path | None = None) -> str:
        shown = self.path
        if root is not None:
            try:
                shown = self.path.relative_to(root)
            except ValueError:
                pass
        prefix = "warning: " if self.warning else ""
        return f"{shown}:{self.line}: {prefix}{self.message}"


@dataclass
class Corpus:
    """Everything in ``knowledge_base/``, validated."""

    root: Path
    entries: list[Entry]
    documents: dict[str, LegalDocument]
    redirects: list[RedirectGroup]
    out_of_scope: list[OutOfScopeGroup]
    files: dict[str, Path] = field(default_factory=dict)
    version: str = ""
    warnings: list[Problem] = field(default_factory=list)

    @property
    def served_entries(self) -> list[Entry]:
        return [e for e in self.entries if e.served]

    def entry(self, entry_id: str) -> Entry:
        for e in self.entries:
            if e.id == entry_id:
                return e
        raise KeyError(entry_id)

    def superseded_citations(self, entry: Entry) -> list[str]:
        """Superseded or expired documents the entry cites without having been reviewed since the change."""
        return sorted({lb.document for lb in entry.legal_basis
                       if is_stale_citation(self.documents, lb.document, entry.reviewed_at)})


def is_stale_citation(documents: dict[str, LegalDocument], number: str, reviewed_at: Any) -> bool:
    """A citation is stale when its document was replaced and the entry was not reviewed after that.

    Entries may cite a replaced document on purpose (to explain the former rule); once an editor has
    reviewed the entry after the successor took effect, the citation is no longer flagged.
    """
    doc = documents.get(number)
    if doc is None or doc.status not in (DocumentStatus.superseded, DocumentStatus.expired):
        return False
    successors = [documents.get(n) for n in doc.superseded_by]
    dates = [s.effective_from for s in successors if s is not None and s.effective_from is not None]
    if not dates or reviewed_at is None:
        return True
    try:
        return reviewed_at < max(dates)
    except TypeError:
        return True


def _locate(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """1-based line of the YAML node at a pydantic error location (best effort)."""
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == part]
            if not match:
                return line
            key, node = match[0]
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _read_yaml(path: Path, problems: list[Problem]) -> tuple[Any, yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.append(Problem(path, 1, f"tệp không phải UTF-8: {exc.reason}"))
        return None, None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problems.append(Problem(path, line, f"lỗi cú pháp YAML: {getattr(exc, 'problem', exc)}"))
        return None, None
    return data, node


def _build(model: type[M], data: Any, node: yaml.Node | None, path: Path, problems: list[Problem],
           base_loc: tuple[Any, ...] = ()) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = base_loc + tuple(err["loc"])
            where = ".".join(str(p) for p in err["loc"]) or "mục"
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(Problem(path, _locate(node, loc), f"{where}: {msg}"))
        return None


def _load_groups(path: Path, model: type[M], problems: list[Problem]) -> list[M]:
    if not path.exists():
        problems.append(Problem(path, 1, "thiếu tệp"))
        return []
    data, node = _read_yaml(path, problems)
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
        problems.append(Problem(path, 1, "tệp phải có khóa 'groups' là một danh sách"))
        return []
    out = []
    for i, item in enumerate(data["groups"]):
        built = _build(model, item, node, path, problems, ("groups", i))
        if built is not None:
            out.append(built)
    return out


def _load_documents(path: Path, problems: list[Problem]) -> dict[str, LegalDocument]:
    if not path.exists():
        problems.append(Problem(path, 1, "thiếu sổ đăng ký văn bản"))
        return {}
    data, node = _read_yaml(path, problems)
    if not isinstance(data, dict) or not isinstance(data.get("documents"), list):
        if data is not None:
            problems.append(Problem(path, 1, "tệp phải có khóa 'documents' là một danh sách"))
        return {}
    docs: dict[str, LegalDocument] = {}
    for i, item in enumerate(data["documents"]):
        doc = _build(LegalDocument, item, node, path, problems, ("documents", i))
        if doc is None:
            continue
        if doc.number in docs:
            problems.append(Problem(path, _locate(node, ("documents", i)), f"văn bản trùng: {doc.number}"))
        docs[doc.number] = doc
    for doc in docs.values():
        for other in doc.superseded_by + doc.amended_by:
            if other not in docs:
                problems.append(Problem(path, 1, f"{doc.number}: văn bản thay thế/sửa đổi {other} chưa có trong sổ"))
    return docs


def _check_entry(entry: Entry, path: Path, node: yaml.Node | None, problems: list[Problem]) -> None:
    if path.stem != entry.id:
        problems.append(Problem(path, _locate(node, ("id",)), f"id '{entry.id}' phải trùng tên tệp '{path.stem}'"))
    if path.parent.name != entry.topic:
        problems.append(Problem(path, _locate(node, ("topic",)),
                                f"mục chủ đề '{entry.topic}' phải nằm trong thư mục entries/{entry.topic}/"))


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def _check_citations(data: dict[str, Any], path: Path, node: yaml.Node | None, docs: dict[str, LegalDocument],
                     problems: list[Problem]) -> None:
    """Every cited document must be in the registry; citing superseded law is flagged."""
    basis = data.get("legal_basis")
    if not isinstance(basis, list):
        return
    for i, lb in enumerate(basis):
        number = lb.get("document") if isinstance(lb, dict) else None
        if not isinstance(number, str):
            continue
        line = _locate(node, ("legal_basis", i, "document"))
        doc = docs.get(number)
        if doc is None:
            problems.append(Problem(path, line, f"văn bản {number} chưa có trong {DOCUMENTS_FILE}"))
        elif is_stale_citation(docs, number, _as_date(data.get("reviewed_at"))):
            successor = ", ".join(doc.superseded_by) or "?"
            problems.append(Problem(path, line, f"trích dẫn văn bản đã hết hiệu lực {number} "
                                                f"(thay bởi {successor}) mà mục chưa được rà soát từ đó", warning=True))


def load_corpus(root: Path, *, strict: bool = True) -> Corpus:
    """Load ``knowledge_base/``. With ``strict``, any problem raises :class:`CorpusError`."""
    corpus, problems = _load(root)
    errors = [p for p in problems if not p.warning]
    if strict and errors:
        raise CorpusError([p.format(root) for p in errors])
    return corpus


def validate(root: Path) -> list[Problem]:
    """All problems and warnings of a knowledge base, errors first."""
    _, problems = _load(root)
    return sorted(problems, key=lambda p: (p.warning, str(p.path), p.line))


def _load(root: Path) -> tuple[Corpus, list[Problem]]:
    problems: list[Problem] = []
    if not root.is_dir():
        raise CorpusError([f"{root}:1: thư mục kho tri thức không tồn tại"])
    docs = _load_documents(root / DOCUMENTS_FILE, problems)
    entries: list[Entry] = []
    files: dict[str, Path] = {}
    digest = hashlib.sha256()
    entry_dir = root / ENTRIES_DIR
    paths = sorted(entry_dir.glob("*/*.yaml")) + sorted(entry_dir.glob("*/*.yml"))
    for stray in sorted(set(entry_dir.glob("**/*")) - set(paths)):
        if stray.is_file():
            problems.append(Problem(stray, 1, "tệp lạ trong entries/: mỗi mục là entries/<chủ đề>/<id>.yaml"))
    for path in paths:
        if path.parent.name not in TOPICS:
            problems.append(Problem(path, 1, f"thư mục chủ đề không hợp lệ '{path.parent.name}'"))
            continue
        data, node = _read_yaml(path, problems)
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.append(Problem(path, 1, "một mục phải là một ánh xạ YAML (khóa: giá trị)"))
            continue
        _check_citations(data, path, node, docs, problems)
        entry = _build(Entry, data, node, path, problems)
        if entry is None:
            continue
        _check_entry(entry, path, node, problems)
        if entry.id in files:
            problems.append(Problem(path, 1, f"id trùng với {files[entry.id]}"))
            continue
        files[entry.id] = path
        entries.append(entry)
    redirects = _load_groups(root / REDIRECTS_FILE, RedirectGroup, problems)
    oos = _load_groups(root / OUT_OF_SCOPE_FILE, OutOfScopeGroup, problems)
    for extra in (DOCUMENTS_FILE, REDIRECTS_FILE, OUT_OF_SCOPE_FILE):
        if (root / extra).exists():
            digest.update(extra.encode() + b"\0" + (root / extra).read_bytes())
    _check_duplicate_questions(entries, files, problems)
    corpus = Corpus(root, entries, docs, redirects, oos, files, digest.hexdigest()[:16],
                    [p for p in problems if p.warning])
    return corpus, problems


def _check_duplicate_questions(entries: list[Entry], files: dict[str, Path], problems: list[Problem]) -> None:
    """The same example question under two entries makes retrieval ambiguous."""
    owners: dict[str, set[str]] = defaultdict(set)
    for e in entries:
        for q in e.questions:
            owners[fold(q)].add(e.id)
    for q, ids in sorted(owners.items()):
        if len(ids) > 1:
            first = sorted(ids)[0]
            problems.append(Problem(files[first], 1, f"câu hỏi mẫu '{q}' có ở nhiều mục: {', '.join(sorted(ids))}"))
