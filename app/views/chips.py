"""Chips: training examples made from the notes. Choose kinds, filters and privacy; build a
preview of each kind with the split statistics; export the formats to a folder (with its
dataset card) and download it as a zip.

Data: `vaultmind.build_chip_set` (the preview and statistics, built only on a button press and
then cached per store state), `vaultmind.export_chips` (the export), `vaultmind.overview` (the
store's state and place), `vaultmind.scene_map` (the scene filter's labels).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

import vaultmind
from common import clear_errors, header, lazy_model, model_name, open_links, state_dir, vault

PREVIEW = 20  # chips of each kind kept for the preview
SPLIT_COLOURS = {"train": "#4c78a8", "validation": "#f58518", "probe": "#54a24b"}
LANG_NAMES = {"ru": "Russian", "en": "English", "other": "other scripts"}
ROLE_AVATARS = {"system": ":material/settings:", "user": ":material/person:", "assistant": ":material/smart_toy:"}


def kind_name(kind: str) -> str:
    return kind.replace("_", " ")


def chip_config(root: str | Path, secrets: str, contacts: bool, system: bool) -> vaultmind.Config:
    """The vault's settings with the privacy choices made on this page."""
    return vaultmind.load_config(Path(root)).with_overrides(chip_secrets=secrets, chip_contacts=contacts,
                                                            chip_system=system)


def chip_filters(options: tuple) -> dict:
    """The API's filter arguments from the page's hashable `options`."""
    kinds, scene, langs, min_tokens, max_tokens = options
    return dict(kinds=list(kinds) or None, scene=scene, langs=list(langs) or None, min_tokens=min_tokens,
                max_tokens=max_tokens)


@st.cache_data(show_spinner="Building the chips (about a minute for 10,000 notes)…", show_time=True, max_entries=8)
def built(vault_path: str, state: str | None, model: str | None, stamp: tuple, options: tuple, privacy: tuple) -> dict:
    """The chips of these options, built once per store state (`stamp`) and model and kept for
    every session: the first chips of each kind, the statistics, and one row per chip for the plots."""
    box = st.empty()  # made and emptied in here, so a cached run replays to nothing
    bar = box.progress(0.0, text="Reading the notes…")

    def progress(stage: str, done: int, total: int) -> None:
        bar.progress(min(done / total, 1.0) if total else 0.0, text=f"{stage.capitalize()}…")

    found = vaultmind.build_chip_set(vault_path, **chip_filters(options), embedder=lazy_model(), state_dir=state,
                                     config=chip_config(vault_path, *privacy), progress=progress)
    box.empty()
    preview: dict[str, list[vaultmind.Chip]] = {}
    for chip in found.chips:
        chosen = preview.setdefault(chip.kind, [])
        if len(chosen) < PREVIEW:
            chosen.append(chip)
    rows = pd.DataFrame({
        "kind": [kind_name(c.kind) for c in found.chips], "split": [c.split for c in found.chips],
        "tokens": [c.tokens for c in found.chips],
    })
    return {"preview": preview, "stats": found.stats, "rows": rows}


def show_chip(chip: vaultmind.Chip) -> None:
    with st.container(border=True):
        scene = f"scene {chip.scene.id} «{chip.scene.label}»" if chip.scene.id is not None else "no scene"
        st.markdown(f"**{chip.split}** · {chip.tokens} tokens · {LANG_NAMES.get(chip.lang, chip.lang)} · {scene}")
        source = chip.source
        open_links([source.path])
        more = f"; drawn from {len(source.notes)} notes" if len(source.notes) > 1 else ""
        st.caption(f"lines {source.line_start}–{source.line_end}{more} · id `{chip.chip_id}`"
                   + (f" · {chip.redactions} secrets redacted" if chip.redactions else ""))
        if chip.probe is not None:
            probe = chip.probe
            choices = "\n".join(f"- ✅ **{choice}**" if i == probe.answer else f"- {choice}"
                                for i, choice in enumerate(probe.choices))
            st.markdown(f"**{kind_name(probe.type)}** (not yet reviewed by you)\n\n{probe.question}\n\n{choices}")
        elif chip.messages:
            for message in chip.messages:
                with st.chat_message(message.role, avatar=ROLE_AVATARS.get(message.role)):
                    st.caption(f"{message.role}, written by {message.origin}")
                    text = message.content if len(message.content) <= 3000 else message.content[:3000] + " …"
                    st.markdown(text.replace("\n", "  \n") if message.origin == "vaultmind" else text)
        if chip.text:
            with st.container(height=320):
                st.markdown(chip.text if len(chip.text) <= 6000 else chip.text[:6000] + " …")
        if chip.commentary:
            with st.expander("The author's commentary (kept apart, never a message)"):
                for part in chip.commentary:
                    st.caption(f"after turn {part.after_turn}, line {part.line}")
                    st.markdown(part.text)


def show_stats(stats: dict, rows: pd.DataFrame | None, where: str) -> None:
    """The split statistics: chips per kind and split, scene groups, dedup, privacy, tokens."""
    counts = pd.DataFrame([{"kind": kind_name(kind), "split": split, "chips": n}
                           for kind, splits in stats.get("kinds", {}).items() for split, n in splits.items()])
    total = int(counts["chips"].sum()) if len(counts) else 0
    groups = stats.get("splits", {}).get("groups", {})
    dedup, privacy = stats.get("dedup", {}), stats.get("privacy", {})
    metrics = st.columns(5)
    metrics[0].metric("Chips", f"{total:,}")
    metrics[1].metric("Notes used", f"{stats.get('notes_used', 0):,} of {stats.get('notes', 0):,}")
    metrics[2].metric("Scenes: train / validation", f"{groups.get('train', 0):,} / {groups.get('validation', 0):,}",
                      help="No scene is in two splits: a chip's scene decides its split.")
    metrics[3].metric("Duplicates: exact / near",
                      f"{dedup.get('exact_dropped', 0):,} / {dedup.get('near_dropped', 0):,}",
                      help="Duplicates dropped; one chip of each duplicate group is kept")
    metrics[4].metric("Private notes left out", f"{privacy.get('private_notes', 0):,}",
                      help=f"Secrets found: {privacy.get('secrets_found', 0)} ({privacy.get('mode')}); "
                           f"chips dropped for a secret: {privacy.get('chips_dropped', 0)}")
    if not total:
        st.info("No chips with these choices.")
        return
    order = [kind_name(k) for k in vaultmind.CHIP_KINDS]
    left, right = st.columns(2)
    by_split = px.bar(counts, x="chips", y="kind", color="split", orientation="h", color_discrete_map=SPLIT_COLOURS,
                      category_orders={"split": list(SPLIT_COLOURS)}, title="Chips per kind and split")
    by_split.update_layout(height=320, margin=dict(l=0, r=0, t=40, b=0), yaxis_title=None, legend_title=None,
                           yaxis=dict(categoryorder="array", categoryarray=order, autorange="reversed"))
    left.plotly_chart(by_split, width="stretch", key=f"{where}_chip_split_plot")
    if rows is not None and len(rows):
        tokens = px.box(rows, x="tokens", y="kind", color="split", color_discrete_map=SPLIT_COLOURS,
                        category_orders={"split": list(SPLIT_COLOURS)}, title="Tokens per chip", points="outliers")
        tokens.update_layout(height=320, margin=dict(l=0, r=0, t=40, b=0), yaxis_title=None, legend_title=None,
                             yaxis=dict(categoryorder="array", categoryarray=order, autorange="reversed"))
        right.plotly_chart(tokens, width="stretch", key=f"{where}_chip_token_plot")
    contamination = stats.get("contamination", {}).get("dropped", 0)
    written = stats.get("model_written", {})
    st.caption(
        f"Validation share {stats.get('splits', {}).get('validation_share')}, split "
        f"{stats.get('splits', {}).get('method')}. {contamination} train chips dropped for sharing a "
        f"{stats.get('contamination', {}).get('ngram', 13)}-word run with a probe. Turns a model wrote: "
        + ", ".join(f"{n} in {split}" for split, n in written.items())
        + f". Tokenizer: {stats.get('tokenizer')}."
    )
    if stats.get("stale_notes"):
        st.warning(f"{len(stats['stale_notes'])} notes changed since the last index and were left out: "
                   + ", ".join(stats["stale_notes"][:10]) + (" …" if len(stats["stale_notes"]) > 10 else ""))
    with st.expander("Counts as a table"):
        table = counts.pivot_table(index="kind", columns="split", values="chips", fill_value=0)
        table = table[[s for s in SPLIT_COLOURS if s in table.columns]].reset_index()
        st.dataframe(table, hide_index=True, width="stretch", key=f"{where}_chip_count_table")


def zipped(folder: Path, files: tuple[str, ...]) -> bytes:
    """The exported files as one zip, made when the download is clicked."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in files:
            archive.write(folder / name, f"{folder.name}/{name}")
    return buffer.getvalue()


def show_export(result: vaultmind.ExportResult) -> None:
    out = Path(result.out)
    if not (out / "manifest.json").is_file():
        st.warning(f"The export in `{out}` is gone; export again.")
        return
    st.success(f"Wrote {len(result.files)} files to `{out}`")
    st.download_button(f"Download {out.name}.zip", data=lambda: zipped(out, result.files), file_name=f"{out.name}.zip",
                       mime="application/zip", icon=":material/download:", key="chip_zip", on_click="ignore")
    rows = pd.DataFrame([{"dataset": config, "split": split, "rows": n}
                         for config, splits in result.rows.items() for split, n in splits.items()])
    lost = pd.DataFrame([{"dataset": config, "reason": reason.replace("_", " "), "chips": n}
                         for config, reasons in result.lost.items() for reason, n in reasons.items()])
    left, right = st.columns(2)
    with left:
        st.markdown("**Rows per dataset and split**")
        table = rows.pivot_table(index="dataset", columns="split", values="rows", fill_value=0)
        table = table[[s for s in SPLIT_COLOURS if s in table.columns]].reset_index()
        st.dataframe(table, hide_index=True, width="stretch", key="chip_rows_table")
    with right:
        st.markdown("**Left out by each dataset** (a format that cannot hold a chip)")
        if len(lost):
            st.dataframe(lost, hide_index=True, width="stretch", key="chip_lost_table")
        else:
            st.caption("nothing")
    card, files, statistics = st.tabs(["Dataset card", f"Files ({len(result.files)})", "Split statistics"])
    with card:
        text = (out / "README.md").read_text(encoding="utf-8") if (out / "README.md").is_file() else ""
        front, body = "", text
        if text.startswith("---\n") and "\n---\n" in text[4:]:
            front, body = text[4:].split("\n---\n", 1)
        if front:
            with st.expander("Hugging Face metadata (front matter)"):
                st.code(front, language="yaml")
        with st.container(height=600, border=True):
            st.markdown(body)
    with files:
        st.dataframe(pd.DataFrame({"file": result.files,
                                   "bytes": [(out / f).stat().st_size if (out / f).exists() else None
                                             for f in result.files]}),
                     hide_index=True, width="stretch", key="chip_files_table")
    with statistics:
        show_stats(result.stats, None, "export")


header("Chips", "Training chips made from your notes: choose what to make, look at it, export it")

with clear_errors(), st.spinner("Reading the scenes (after a change to the vault they are found again)…"):
    config = vaultmind.load_config(vault())
    state = vaultmind.overview(vault(), state_dir=state_dir(), config=config)
    found_scenes = vaultmind.scene_map(vault(), embedder=lazy_model(), state_dir=state_dir())
labels = {s.id: s.label for s in found_scenes.scenes}

st.subheader("What to make")
top = st.columns([0.45, 0.3, 0.25])
kinds = top[0].multiselect("Kinds", vaultmind.CHIP_KINDS, default=list(vaultmind.CHIP_KINDS), format_func=kind_name,
                           key="chip_kinds", help="dialogue: saved chats; note qa: sections as questions and answers; "
                           "link rationale: why you linked two notes; scene doc: a scene's notes as text; "
                           "probe: evaluation checks from held-out scenes")
scene = top[1].selectbox("Scene", [None, *labels], key="chip_scene",
                         format_func=lambda s: "every scene" if s is None else f"{s} · {labels[s]}",
                         help="One scene's chips make a chip pack")
langs = top[2].multiselect("Languages", vaultmind.CHIP_LANGS, default=list(vaultmind.CHIP_LANGS), key="chip_langs",
                           format_func=lambda lang: LANG_NAMES.get(lang, lang),
                           help="The script most of a chip's letters are in")
middle = st.columns([0.2, 0.2, 0.3, 0.3])
min_tokens = middle[0].number_input("Fewest tokens", min_value=0, value=0, step=50, key="chip_min_tokens")
max_tokens = middle[1].number_input("Most tokens", min_value=0, value=0, step=100, key="chip_max_tokens",
                                    help="0: no limit")
secrets = middle[2].radio("Secrets the scan finds", ("redact", "drop"), key="chip_secrets", horizontal=True,
                          index=("redact", "drop").index(config.chip_secrets),
                          format_func=lambda m: {"redact": "redact them", "drop": "drop the chip"}[m],
                          help="API keys, tokens, passwords and private keys, found by detect-secrets' plugins")
contacts = middle[3].checkbox("Also redact e-mails and phone numbers", value=config.chip_contacts, key="chip_contacts")
system = middle[3].checkbox("Start chat chips with a system turn", value=config.chip_system, key="chip_system",
                            help="The scene's label and summary, the note's title and its neighbours' titles")
st.caption("Private notes (`private: true` or `#private`) never reach a chip, whatever you choose here.")

if not kinds or not langs:
    st.info("Choose at least one kind and one language.")
    st.stop()
if max_tokens and max_tokens < min_tokens:
    st.error(f"Most tokens ({max_tokens}) is below fewest tokens ({min_tokens}).")
    st.stop()

every_kind, every_lang = set(kinds) == set(vaultmind.CHIP_KINDS), set(langs) == set(vaultmind.CHIP_LANGS)
options = (tuple(() if every_kind else kinds), scene, tuple(() if every_lang else langs), int(min_tokens),
           int(max_tokens) or None)
privacy = (secrets, contacts, system)
stamp = (state.indexed_at, state.changed, found_scenes.run)  # what the chips depend on in the store
key = (str(vault()), state_dir(), model_name(), stamp, options, privacy)

preview_tab, export_tab = st.tabs(["Preview", "Export"])

with preview_tab:
    requested = st.session_state.setdefault("chip_requested", [])
    if st.button("Build the chips", type="primary", key="chip_build", icon=":material/construction:",
                 help="Reads every note and curates the chips: a few seconds here, about a minute on 10,000 notes"):
        requested.append(key)
    if key not in requested:
        st.info("Press **Build the chips** to see examples of each kind and the split statistics. "
                "Nothing is written; exporting is in the *Export* tab.")
    else:
        with clear_errors():
            chip_set = built(*key)
        show_stats(chip_set["stats"], chip_set["rows"], "preview")
        present = [k for k in vaultmind.CHIP_KINDS if chip_set["preview"].get(k)]
        if present:
            shown = st.columns([0.25, 0.75])[0].number_input("Examples per kind", min_value=1, max_value=PREVIEW,
                                                             value=3, key="chip_shown")
            for kind, tab in zip(present, st.tabs([kind_name(k) for k in present])):
                with tab:
                    for chip in chip_set["preview"][kind][: int(shown)]:
                        show_chip(chip)

with export_tab:
    formats = st.multiselect("Formats", vaultmind.CHIP_FORMATS, default=list(vaultmind.CHIP_FORMATS),
                             key="chip_formats",
                             help="openai: OpenAI fine-tuning; trl: TRL and Hugging Face datasets (Parquet); "
                                  "sharegpt and alpaca: LLaMA-Factory, Axolotl; text: continued pretraining; "
                                  "canonical: every field of every chip")
    folder = st.text_input("Export to the folder", value=str(Path(state.state_dir) / "chips"), key="chip_folder",
                           help="Written atomically: the folder holds either the old export or the whole new one")
    target = Path(folder).expanduser().resolve()
    occupied = target.is_dir() and any(target.iterdir())
    problem, overwrite = None, False
    if not folder.strip():
        problem = "Name a folder to export to."
    elif target.exists() and not target.is_dir():
        problem = f"`{target}` is a file; choose a folder."
    elif occupied and not (target / "manifest.json").is_file():  # replacing it would delete the author's files
        problem = f"`{target}` holds files that are not a vaultmind export; choose an empty or a new folder."
    if problem:
        st.error(problem)
    elif occupied:
        overwrite = st.checkbox(f"Replace the earlier export in `{target}`", key="chip_overwrite")
    if vault() in target.parents and Path(state.state_dir) not in (target, *target.parents):
        st.warning("This folder is inside the vault: Obsidian will show the export's README.md as a note.")
    if st.button("Export", type="primary", key="chip_export", icon=":material/save:",
                 disabled=bool(problem) or not formats or (occupied and not overwrite)):
        bar = st.progress(0.0, text="Reading the notes…")

        def progress(stage: str, done: int, total: int) -> None:
            bar.progress(min(done / total, 1.0) if total else 0.0, text=f"{stage.capitalize()}…")

        with clear_errors(), st.spinner("Exporting…", show_time=True):
            st.session_state["chip_result"] = vaultmind.export_chips(
                vault(), target, formats=formats, overwrite=overwrite, **chip_filters(options), embedder=lazy_model(),
                state_dir=state_dir(), config=chip_config(vault(), *privacy), progress=progress,
            )
        bar.empty()
    if "chip_result" in st.session_state:
        show_export(st.session_state["chip_result"])
