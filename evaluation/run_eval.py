"""Answer-quality evaluation of the knowledge engine.

    .venv/bin/python -m evaluation.run_eval [--out evaluation/reports] [--dev PATH]

Sets: the shared development set (``../shared/eval/dev.jsonl``: topics and cited documents), our
held-out in-scope questions and our out-of-scope questions (``evaluation/datasets/``), and each of
them again with every diacritic removed. Metrics: topic@1, doc-hit@3 (a top-3 result cites a document
the reference cites), MRR@5 (first result citing a reference document; topic match where no documents
are labelled), declined rates, per-topic table and confusion matrix. Writes ``eval.json`` and
``eval.md``. A keyword baseline is scored on the same sets for comparison.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from assistant.config import get_settings
from assistant.kb.schema import TOPICS
from assistant.qa.engine import QAEngine
from assistant.text import strip_accents
from evaluation.keyword_baseline import keyword_topic

HERE = Path(__file__).resolve().parent
TARGETS = {"topic_at_1": 0.95, "doc_hit_at_3": 0.85, "out_of_scope_declined": 0.95, "max_drop_no_diacritics": 0.02}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_sets(dev_path: Path) -> dict[str, list[dict[str, Any]]]:
    sets: dict[str, list[dict[str, Any]]] = {}
    if dev_path.exists():
        sets["dev"] = [{"id": d["id"], "question": d["question"], "topics": d["topics"],
                        "documents": d.get("documents", []), "in_scope": True} for d in read_jsonl(dev_path)]
    sets["heldout"] = [{**d, "documents": [], "in_scope": True}
                       for d in read_jsonl(HERE / "datasets" / "in_scope_heldout.jsonl")]
    sets["out_of_scope"] = [{**d, "topics": [], "documents": [], "in_scope": False}
                            for d in read_jsonl(HERE / "datasets" / "out_of_scope.jsonl")]
    for name in list(sets):
        sets[f"{name}_no_diacritics"] = [{**d, "question": strip_accents(d["question"])} for d in sets[name]]
    return sets


def score_item(item: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    refs = set(item["documents"])
    results = record["results"]
    cited = [{c["document"] for c in r["citations"]} for r in results]
    doc_rank = next((i + 1 for i, docs in enumerate(cited) if docs & refs), None) if refs else None
    topic_rank = next((i + 1 for i, r in enumerate(results) if r["topic"] in item["topics"]), None)
    rank = doc_rank if refs else topic_rank
    return {
        "id": item["id"],
        "question": item["question"],
        "ref_topics": item["topics"],
        "topic": record["topic"],
        "entry_id": record.get("entry_id"),
        "abstained": record["abstained"],
        "reason": record.get("reason"),
        "confidence": record["confidence"],
        "topic_ok": record["topic"] in item["topics"],
        "doc_hit3": bool(doc_rank and doc_rank <= 3) if refs else None,
        "rr": 1.0 / rank if rank else 0.0,
        "baseline_topic": keyword_topic(item["question"]),
    }


def summarise(rows: list[dict[str, Any]], in_scope: bool) -> dict[str, Any]:
    n = len(rows)
    out: dict[str, Any] = {"n": n, "declined": sum(r["abstained"] for r in rows) / n if n else 0.0}
    if in_scope:
        docs = [r["doc_hit3"] for r in rows if r["doc_hit3"] is not None]
        out.update({
            "topic_at_1": sum(r["topic_ok"] for r in rows) / n,
            "doc_hit_at_3": sum(docs) / len(docs) if docs else None,
            "mrr_at_5": sum(r["rr"] for r in rows) / n,
            "answered_topic_ok": (sum(r["topic_ok"] for r in rows if not r["abstained"])
                                  / max(1, sum(not r["abstained"] for r in rows))),
            "baseline_topic_at_1": sum(r["baseline_topic"] in r["ref_topics"] for r in rows) / n,
        })
        per_topic: dict[str, Any] = {}
        for t in TOPICS:
            sub = [r for r in rows if r["ref_topics"] and r["ref_topics"][0] == t]
            if sub:
                d = [r["doc_hit3"] for r in sub if r["doc_hit3"] is not None]
                per_topic[t] = {"n": len(sub), "topic_at_1": sum(r["topic_ok"] for r in sub) / len(sub),
                                "doc_hit_at_3": sum(d) / len(d) if d else None,
                                "declined": sum(r["abstained"] for r in sub) / len(sub)}
        out["per_topic"] = per_topic
        confusion: dict[str, Counter] = defaultdict(Counter)
        for r in rows:
            confusion[r["ref_topics"][0]][r["topic"] or "null"] += 1
        out["confusion"] = {k: dict(v) for k, v in confusion.items()}
    else:
        kinds: dict[str, list[bool]] = defaultdict(list)
        for r, item_kind in ((r, r.get("kind")) for r in rows):
            kinds[item_kind or "?"].append(r["abstained"])
        out["declined_by_kind"] = {k: sum(v) / len(v) for k, v in kinds.items()}
        out["reasons"] = dict(Counter(r["reason"] for r in rows))
    return out


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Answer-quality evaluation", "", f"Index `{report['index_version']}`, "
             f"{report['entries']} entries, evaluated {report['evaluated_at']}.", "",
             "| set | n | topic@1 | keyword baseline topic@1 | doc-hit@3 | MRR@5 | declined |",
             "|---|---|---|---|---|---|---|"]
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    for name, s in report["sets"].items():
        lines.append(f"| {name} | {s['n']} | {fmt(s.get('topic_at_1'))} | {fmt(s.get('baseline_topic_at_1'))} | "
                     f"{fmt(s.get('doc_hit_at_3'))} | {fmt(s.get('mrr_at_5'))} | {fmt(s['declined'])} |")
    lines += ["", "## Targets", ""]
    for k, v in report["targets"].items():
        lines.append(f"- {k}: {v['value']:.3f} (target {v['target']}) — {'met' if v['met'] else 'NOT met'}")
    for name in ("dev", "heldout"):
        if name not in report["sets"]:
            continue
        s = report["sets"][name]
        lines += ["", f"## Per topic ({name})", "", "| topic | n | topic@1 | doc-hit@3 | declined |", "|---|---|---|---|---|"]
        for t, v in s["per_topic"].items():
            lines.append(f"| {t} | {v['n']} | {fmt(v['topic_at_1'])} | {fmt(v['doc_hit_at_3'])} | {fmt(v['declined'])} |")
        cols = list(TOPICS) + ["null"]
        lines += ["", f"Confusion ({name}; rows = reference, columns = predicted):", "",
                  "| | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for t, row in s["confusion"].items():
            lines.append(f"| {t} | " + " | ".join(str(row.get(c, 0)) for c in cols) + " |")
    if "out_of_scope" in report["sets"]:
        lines += ["", "## Out of scope, declined by kind", ""]
        for k, v in report["sets"]["out_of_scope"]["declined_by_kind"].items():
            lines.append(f"- {k}: {v:.3f}")
    lines += ["", "## Topic misses (dev by id, held-out with text)", ""]
    for r in report.get("misses", [])[:40]:
        lines.append(f"- `{r['id']}` ref {r['ref_topics']} → {r['topic']} ({r['reason']}, conf {r['confidence']:.2f}): "
                     f"{(r['question'] or '(dev question, see ../shared/eval/dev.jsonl)')[:100]}")
    return "\n".join(lines) + "\n"


def evaluate(engine: QAEngine, sets: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    report: dict[str, Any] = {"index_version": engine.version, "entries": len(engine.corpus.served_entries),
                              "evaluated_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "sets": {}}
    all_rows: dict[str, list[dict[str, Any]]] = {}
    for name, items in sets.items():
        rows = []
        for item in items:
            record = {"id": item["id"], **engine.answer(item["question"]).to_dict()}
            row = score_item(item, record)
            row["kind"] = item.get("kind")
            if name.startswith("dev"):  # the shared dev set is evaluation-only: keep its text out of the repo
                row["question"] = None
            rows.append(row)
        all_rows[name] = rows
        report["sets"][name] = summarise(rows, items[0]["in_scope"] if items else True)
    s = report["sets"]
    targets = {}
    if "dev" in s:
        targets["dev topic@1"] = (s["dev"]["topic_at_1"], TARGETS["topic_at_1"], True)
        targets["dev doc-hit@3"] = (s["dev"]["doc_hit_at_3"], TARGETS["doc_hit_at_3"], True)
        targets["dev topic@1 drop without diacritics"] = (
            s["dev"]["topic_at_1"] - s["dev_no_diacritics"]["topic_at_1"], TARGETS["max_drop_no_diacritics"], False)
    targets["out-of-scope declined"] = (s["out_of_scope"]["declined"], TARGETS["out_of_scope_declined"], True)
    targets["out-of-scope declined without diacritics"] = (
        s["out_of_scope_no_diacritics"]["declined"], TARGETS["out_of_scope_declined"], True)
    targets["heldout topic@1"] = (s["heldout"]["topic_at_1"], TARGETS["topic_at_1"], True)
    report["targets"] = {k: {"value": v, "target": t, "met": (v >= t) if higher else (v <= t)}
                         for k, (v, t, higher) in targets.items()}
    report["misses"] = [r for r in all_rows.get("dev", []) + all_rows["heldout"] if not r["topic_ok"]]
    report["rows"] = all_rows
    return report


def main() -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "reports")
    parser.add_argument("--dev", type=Path, default=settings.shared_dir / "eval" / "dev.jsonl")
    args = parser.parse_args()
    engine = QAEngine.load(settings)
    report = evaluate(engine, load_sets(args.dev))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "eval.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    (args.out / "eval.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report).split("## Per topic")[0])


if __name__ == "__main__":
    main()
