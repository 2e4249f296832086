"""The Arrow side of the chip export: the explicit Parquet schema of each format and a writer
that takes rows a batch at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any



def row_schemas() -> dict[str, Any]:
    """The Arrow schema of each dataset config's rows: written as such to Parquet, declared in
    the card for the JSON files so that `datasets` casts them instead of guessing."""
    import pyarrow as pa

    text, number = pa.string(), pa.int64()
    chat = pa.list_(pa.struct([("role", text), ("content", text)]))
    meta = [("chip_id", text), ("kind", text), ("lang", text), ("scene_id", number), ("scene_label", text),
            ("source_path", text), ("note_sha256", text), ("tokens", number)]
    return {
        "openai": pa.schema([("messages", pa.list_(pa.struct([("role", text), ("content", text),
                                                               ("weight", number)])))]),
        "trl": pa.schema([("messages", chat), *meta]),
        "trl_prompt_completion": pa.schema([("prompt", chat), ("completion", chat), *meta]),
        "sharegpt": pa.schema([("conversations", pa.list_(pa.struct([("from", text), ("value", text)]))),
                               ("system", text), ("chip_id", text)]),
        "alpaca": pa.schema([(name, text) for name in ("instruction", "input", "output", "system")]),
        "text": pa.schema([("text", text)]),
        "canonical": canonical_schema(pa.json_()),  # in JSON Lines `source.ids` stays an object
        "probes": pa.schema([("chip_id", text), ("type", text), ("question", text), ("choices", pa.list_(text)),
                             ("answer", number), ("verified", pa.bool_()), ("source_path", text),
                             ("scene_id", number)]),
    }


def canonical_schema(ids: Any) -> Any:
    """The canonical record field for field; a message's missing weight is null."""
    import pyarrow as pa

    text, number, strings = pa.string(), pa.int64(), pa.list_(pa.string())
    return pa.schema([
        ("chip_id", text), ("schema_version", text), ("kind", text), ("lang", text),
        ("messages", pa.list_(pa.struct([("role", text), ("content", text), ("origin", text), ("weight", number)]))),
        ("text", text),
        ("commentary", pa.list_(pa.struct([("after_turn", number), ("text", text), ("line", number)]))),
        ("probe", pa.struct([("type", text), ("question", text), ("choices", strings), ("answer", number),
                             ("verified", pa.bool_())])),
        ("source", pa.struct([("path", text), ("note_sha256", text), ("line_start", number), ("line_end", number),
                              ("turn_uids", strings), ("timestamps", strings), ("ids", ids), ("notes", strings)])),
        ("scene", pa.struct([("id", number), ("label", text), ("context_notes", strings)])),
        ("links", strings),
        ("tokens", pa.struct([("count", number), ("tokenizer", text)])),
        ("dedup", pa.struct([("exact_hash", text), ("near_cluster", text), ("canonical", pa.bool_())])),
        ("split", text),
        ("privacy", pa.struct([("redactions", number)])),
        ("build", pa.struct([("vaultmind_version", text), ("settings_hash", text)])),
    ])


def parquet(path: Path, schema: Any, rows: Any) -> int:
    with ParquetBatches(path, schema) as table:
        for row in rows:
            table.add(row)
    return table.count


class ParquetBatches:
    """Rows to a Parquet file a batch at a time (a large vault's rows never sit in memory all at
    once); no rows, no file."""

    BATCH = 4096

    def __init__(self, path: Path, schema: Any) -> None:
        self.path, self.schema = path, schema
        self.rows: list[dict[str, Any]] = []
        self.writer: Any = None
        self.count = 0

    def __enter__(self) -> ParquetBatches:
        return self

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.count += 1
        if len(self.rows) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.rows:
            return
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self.path, self.schema)
        self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
        self.rows = []

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        try:
            if kind is None:
                self._flush()
        finally:
            if self.writer is not None:
                self.writer.close()
