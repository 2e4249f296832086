"""The chip export as a post-training engineer gets it: the files written by
`vaultmind.export_chips` go straight into TRL's `SFTTrainer`, loaded with `datasets.load_dataset`
exactly as shipped (no renaming, no editing), and a tiny randomly initialised causal LM trains on
them for two steps with a finite loss. Nothing is downloaded: the tokenizer is the default
embedding model's (XLM-R SentencePiece, built offline by `e5.tokenizer_dir`) with a ChatML
template, and the model is built from a config."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

import vaultmind

from .conftest import SAMPLE_VAULT, HashEmbedder

pytestmark = pytest.mark.slow

trl = pytest.importorskip("trl")
transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

MAX_LENGTH = 256
# ChatML as Phi-4 writes it (`<|im_start|>role<|im_sep|>content<|im_end|>`): a special token, not
# "\n", ends the generation prompt, so the SentencePiece tokenizer cuts the prompt alone and the
# prompt + completion at the same place. The assistant's turn, its end-of-turn token included,
# is inside {% generation %}, so TRL's `assistant_only_loss` can mask everything else.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant<|im_sep|>' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '<|im_sep|>' + message['content'] + '<|im_end|>' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant<|im_sep|>' }}{% endif %}"
)


@pytest.fixture
def offline(monkeypatch):
    """`datasets` and `huggingface_hub` read the offline switches when imported (TRL imported
    them at collection), so both the environment and the imported settings are set."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(name, "1")
    import datasets
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    return datasets


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    """The `trl` and `text` chips of an indexed copy of the sample vault (the test embedder,
    passed in: a module fixture runs outside conftest's per-test `hash_embedder`)."""
    root = tmp_path_factory.mktemp("chips")
    vault, state, embedder = root / "vault", root / "state", HashEmbedder()
    shutil.copytree(SAMPLE_VAULT, vault, ignore=shutil.ignore_patterns(".vaultmind"))
    vaultmind.index(vault, state_dir=state, embedder=embedder)
    out = root / "out"
    vaultmind.export_chips(vault, out, formats=["trl", "text"], state_dir=state, embedder=embedder)
    return out


@pytest.fixture(scope="module")
def tokenizer():
    from vaultmind.embed.e5 import tokenizer_dir

    folder = tokenizer_dir()
    tok = transformers.PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"),
                                               bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                               pad_token="<pad>")
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_sep|>", "<|im_end|>"]})
    tok.chat_template = CHAT_TEMPLATE
    return tok


def tiny_model(tokenizer):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True,
    )
    return transformers.LlamaForCausalLM(config)


def train_two_steps(tokenizer, dataset, output_dir: Path, **config):
    args = trl.SFTConfig(
        output_dir=str(output_dir), max_steps=2, per_device_train_batch_size=2, max_length=MAX_LENGTH,
        report_to=[], save_strategy="no", logging_steps=1, use_cpu=True, bf16=False,
        activation_checkpointing=False, dataloader_num_workers=0, seed=0, **config,
    )
    trainer = trl.SFTTrainer(model=tiny_model(tokenizer), args=args, train_dataset=dataset,
                             processing_class=tokenizer)
    trainer.train()
    assert trainer.state.global_step == 2
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses), trainer.state.log_history
    return trainer


def short(dataset):
    """Rows whose chip fits the context (the `tokens` metadata column counts the content; the
    template adds a few tokens per turn): a long chip cut at 256 tokens can lose every assistant
    token, and a batch with no token to learn has no loss. Selecting rows, not editing them."""
    return dataset.filter(lambda tokens: tokens <= MAX_LENGTH - 64, input_columns="tokens")


def test_conversational_parquet_trains_as_shipped(export, tokenizer, offline, tmp_path):
    dataset = offline.load_dataset("parquet", data_files={"train": str(export / "trl/train.parquet")},
                                   split="train", cache_dir=str(tmp_path / "hf"))
    assert {"messages", "chip_id", "kind", "source_path"} <= set(dataset.column_names)
    assert set(dataset["kind"]) >= {"dialogue", "note_qa", "link_rationale"}
    first = dataset[0]["messages"]
    assert {m["role"] for m in first} <= {"system", "user", "assistant"} and first[-1]["role"] == "assistant"
    trainer = train_two_steps(tokenizer, short(dataset), tmp_path / "run", assistant_only_loss=True)
    labels = trainer.train_dataset[0]["labels"]  # the assistant's tokens only
    assert -100 in labels and any(t != -100 for t in labels)


def test_prompt_completion_parquet_trains_as_shipped(export, tokenizer, offline, tmp_path):
    files = {"train": str(export / "trl/prompt_completion/train.parquet")}
    dataset = offline.load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "hf"))
    assert {"prompt", "completion"} <= set(dataset.column_names)
    trainer = train_two_steps(tokenizer, short(dataset), tmp_path / "run")
    assert trainer.completion_only_loss  # TRL's default for prompt-completion data


def test_text_jsonl_trains_as_shipped(export, tokenizer, offline, tmp_path):
    dataset = offline.load_dataset("json", data_files=str(export / "text/train.jsonl"), split="train",
                                   cache_dir=str(tmp_path / "hf"))
    assert dataset.column_names == ["text"] and len(dataset) >= 2
    train_two_steps(tokenizer, dataset, tmp_path / "run")  # dataset_text_field="text" is the default
