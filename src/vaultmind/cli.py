"""The command line: parse flags, make one library call, format the result.

Exit codes: 0 ok, 1 a user error (one line on stderr), 2 a usage error.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import wraps
from pathlib import Path
from typing import Any

import click

import vaultmind

VAULT = click.argument("vault", type=click.Path(file_okay=False, path_type=Path))


def state_dir_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Where the store lives (default: VAULT/.vaultmind). Use it for a read-only vault.",
    )(f)


def model_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--model",
        default=None,
        metavar="CHANNELS",
        help="Retrieval channels joined by +: e5 (multilingual-e5-small), use (multilingual USE), "
             "st:NAME (a sentence-transformers model name or folder, loaded offline) and bm25 "
             "(words by their lemmas). Default use+bm25 (measured best); one name (e.g. --model use) is that channel alone.",
    )(f)


def device_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--device",
        type=click.Choice(vaultmind.DEVICES),
        default=None,
        help="Where torch models embed: auto (default: a CUDA or Apple MPS GPU when torch sees one, "
             "else the CPU), cpu, cuda or mps.",
    )(f)


def limit_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-n", "--limit", type=click.IntRange(min=1), default=10, show_default=True,
                        help="How many notes to show.")(f)


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON for scripts.")(f)


def user_errors(f: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's named errors into a one-line message and exit code 1."""

    @wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except vaultmind.VaultmindError as e:
            raise click.ClickException(str(e)) from e

    return wrapper


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(vaultmind.__version__, prog_name="vaultmind")
@click.option("-v", "--verbose", count=True, help="Log what the library does (-vv for debug).")
def main(verbose: int) -> None:
    """See the scenes, blind spots and training chips in an Obsidian vault — offline."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


# ------------------------------------------------------------------ index


class _Bar:
    """A progress bar per stage on a TTY; silent otherwise or with --quiet."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.stage = ""
        self.shown = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        if stage != self.stage:
            self.close()
            self.stage, self.shown = stage, 0
            self.bar = click.progressbar(length=total, label=f"{stage:<8}", file=sys.stderr, show_eta=True)
            self.bar.__enter__()
        self.bar.update(done - self.shown)
        self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@main.command()
@VAULT
@state_dir_option
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Processes for parsing (default: one per CPU core; 1 = no extra processes).")
@model_option
@device_option
@click.option("--no-embed", is_flag=True, help="Skip chunking and embedding (links, tags and the graph only).")
@click.option("--no-scenes", is_flag=True, help="Do not find scenes now (`vaultmind scenes` finds them on demand).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--wait", type=click.FloatRange(min=0), default=10.0, show_default=True, metavar="SECONDS",
              help="How long to wait for another index of the same store to finish.")
@json_option
@user_errors
def index(vault: Path, state_dir: Path | None, workers: int | None, model: str | None, device: str | None,
          no_embed: bool, no_scenes: bool, quiet: bool, wait: float, as_json: bool) -> None:
    """Index VAULT: read every note, resolve links, embed new text, update the store.

    Incremental: unchanged notes are neither parsed nor embedded again. While `vaultmind
    watch` runs for the same store it keeps the store fresh, and index says so and exits 1.

    Example: vaultmind index ~/notes
    """
    bar = _Bar(enabled=not quiet and not as_json and sys.stderr.isatty())
    try:
        summary = vaultmind.index(vault, state_dir=state_dir, workers=workers, model=model, device=device,
                                  embed=False if no_embed else None, scenes=False if no_scenes else None,
                                  progress=bar, wait=wait)
    finally:
        bar.close()
    if as_json:
        emit_json(asdict(summary))
        return
    click.echo(
        f"{summary.notes} notes, {summary.canvases} canvases, {summary.attachments} attachments; "
        f"{summary.links} links ({summary.unresolved} unresolved); {summary.warnings} warnings; "
        f"{summary.seconds:.2f} s"
    )
    click.echo(
        f"  parsed {summary.parsed}, unchanged {summary.skipped}, removed {summary.removed}, "
        f"renamed {summary.renamed}; store: {summary.state_dir}"
    )
    if summary.model:
        seconds = summary.phases.get("embed", 0.0)
        click.echo(f"  {summary.chunks} chunks; {summary.embedded} new vectors in {seconds:.1f} s with {summary.model}")
    if "scenes" in summary.phases:
        click.echo(f"  {summary.scenes} scenes ({summary.phases['scenes']:.1f} s); list them with: vaultmind scenes {vault}")
    if summary.warnings:
        click.echo(f"  see the warnings with: vaultmind doctor {vault}")


# ------------------------------------------------------------------ ui


@main.command()
@VAULT
@state_dir_option
@model_option
@device_option
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True, help="Port to serve on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but this machine makes your notes reachable from the network.")
@click.option("--no-index", is_flag=True, help="Serve what the store holds without indexing first.")
@click.option("--open", "open_browser", is_flag=True, help="Open the app in the default browser.")
@user_errors
def ui(vault: Path, state_dir: Path | None, model: str | None, device: str | None, port: int, host: str,
       no_index: bool, open_browser: bool) -> None:
    """Serve the app for VAULT at http://127.0.0.1:8501, indexing it first (incrementally).

    Pages: Overview, Graph, Scenes, Blind spots, Search, Note, Chips, Health. Stop with Ctrl-C.

    Example: vaultmind ui ~/notes --port 8502
    """
    if host not in vaultmind.LOCAL_HOSTS:
        click.echo(f"warning: serving on {host}: anyone who can reach this machine on port {port} can read "
                   "your notes", err=True)
    if not no_index:
        status = vaultmind.watch_status(vault, state_dir=state_dir)
        if status.running:
            click.echo(f"vaultmind watch is running (pid {status.pid}): it keeps the index fresh", err=True)
        else:
            click.echo(f"indexing {vault} first (incremental)…", err=True)
            bar = _Bar(enabled=sys.stderr.isatty())
            try:
                summary = vaultmind.index(vault, state_dir=state_dir, model=model, device=device, progress=bar,
                                          wait=30.0)
            finally:
                bar.close()
            click.echo(f"  {summary.notes} notes, {summary.links} links, {summary.scenes} scenes; "
                       f"parsed {summary.parsed} in {summary.seconds:.1f} s", err=True)
    click.echo(f"serving the app at http://{host}:{port} (Ctrl-C to stop)", err=True)
    sys.exit(vaultmind.serve_app(vault, host=host, port=port, state_dir=state_dir, model=model,
                                 open_browser=open_browser))


# ------------------------------------------------------------------ watch, status


@main.command()
@VAULT
@state_dir_option
@model_option
@device_option
@click.option("--no-embed", is_flag=True, help="Keep links, tags and the graph fresh, without embedding.")
@click.option("--no-scenes", is_flag=True, help="Do not keep scenes fresh.")
@click.option("--print-service", "service", type=click.Choice(["systemd", "launchd", "auto"]), default=None,
              help="Print a systemd user unit (Linux) or launchd agent (macOS) that runs this command at "
                   "login, and exit; nothing is installed.")
@user_errors
def watch(vault: Path, state_dir: Path | None, model: str | None, device: str | None, no_embed: bool,
          no_scenes: bool, service: str | None) -> None:
    """Keep the index of VAULT fresh while you write: scan once, then index every change as it settles.

    Notes, links, vectors and the vector index follow each batch of changes within about a
    second; scenes and blind spots follow after a quiet spell (`watch_scene_delay`). One
    daemon per store; `vaultmind index` stands aside while it runs. Stop it with Ctrl-C or
    SIGTERM: it stops at the next safe point and exits 0. Log: STATE_DIR/watch.log.

    Example: vaultmind watch ~/notes
    """
    if service is not None:
        args = tuple(a for flag, a in ((no_embed, "--no-embed"), (no_scenes, "--no-scenes")) if flag)
        args += ("--state-dir", str(state_dir.expanduser().resolve())) if state_dir else ()
        args += ("--model", model) if model else ()
        args += ("--device", device) if device else ()
        click.echo(vaultmind.watch_service(vault, None if service == "auto" else service, args), nl=False)
        return
    _log_to_stderr()
    click.echo(f"watching {vault} (Ctrl-C to stop)", err=True)
    vaultmind.watch(vault, state_dir=state_dir, model=model, device=device, embed=False if no_embed else None,
                    scenes=False if no_scenes else None, log_file=True, signals=True)


def _log_to_stderr() -> None:
    logger = logging.getLogger("vaultmind")
    if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
               for h in logger.handlers + logging.getLogger().handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)


@main.command()
@VAULT
@state_dir_option
@json_option
@user_errors
def status(vault: Path, state_dir: Path | None, as_json: bool) -> None:
    """Say whether `vaultmind watch` runs for VAULT and what it did last.

    Example: vaultmind status ~/notes
    """
    info = vaultmind.watch_status(vault, state_dir=state_dir)
    if as_json:
        emit_json(asdict(info))
        return
    if info.running:
        click.echo(f"vaultmind watch is running: pid {info.pid}, since {_when(info.since)}; {info.state}")
        click.echo(f"  queue: {info.queue} paths waiting; notes: {info.notes}")
        click.echo(f"  stale: {', '.join(info.stale) if info.stale else 'nothing'}")
    else:
        last = f" (last run: pid {info.pid}, started {_when(info.since)})" if info.pid else ""
        click.echo(f"vaultmind watch is not running{last}; notes: {info.notes}")
    if info.last_batch:
        b = info.last_batch
        what = "full scan" if b.full_scan else "batch"
        click.echo(f"  last {what}: {_when(b.at)}, {b.files} files in {b.seconds:.2f} s "
                   f"({b.parsed} parsed, {b.removed} removed, {b.embedded} embedded)")
    if info.last_scenes:
        s = info.last_scenes
        how = "incrementally" if s.incremental else "in full"
        click.echo(f"  scenes: {s.scenes}, updated {how} at {_when(s.at)} in {s.seconds:.2f} s")
    if info.last_error:
        click.echo(f"  last error ({_when(info.error_at)}): {info.last_error}")
    click.echo(f"  log: {info.log}")


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "?"


# ------------------------------------------------------------------ doctor


@main.command()
@VAULT
@state_dir_option
@click.option("--verify", is_flag=True,
              help="Check that the store equals a fresh full index of the files; exit 1 and list the "
                   "differences when it does not.")
@model_option
@json_option
@user_errors
def doctor(vault: Path, state_dir: Path | None, verify: bool, model: str | None, as_json: bool) -> None:
    """List every warning from the last index, grouped by file; with --verify, check the store
    against a fresh full index of the files instead (--model: whose vectors to check).

    Example: vaultmind doctor ~/notes --verify
    """
    if verify:
        _verify(vault, state_dir, model, as_json)
        return
    if model is not None:
        raise click.UsageError("--model goes with --verify")
    warnings = vaultmind.doctor(vault, state_dir=state_dir)
    if as_json:
        emit_json([asdict(w) for w in warnings])
        return
    if not warnings:
        click.echo("No warnings: every file was read and parsed cleanly.")
        return
    current = None
    for w in warnings:
        if w.path != current:
            current = w.path
            click.echo(w.path)
        where = f" (line {w.line})" if w.line else ""
        click.echo(f"  {w.code}{where}: {w.message}")
    files = len({w.path for w in warnings})
    click.echo(f"{len(warnings)} warnings in {files} files")


_SHOWN_PER_TABLE = 20  # a stale store can differ in thousands of rows; --json lists them all


def _verify(vault: Path, state_dir: Path | None, model: str | None, as_json: bool) -> None:
    """`doctor --verify`: the differences (all of them with --json), a summary, exit 1 if any."""
    differences = vaultmind.verify(vault, state_dir=state_dir, model=model)
    if as_json:
        emit_json([asdict(d) for d in differences])
    else:
        _print_differences(differences)
    if differences:
        sys.exit(1)


def _print_differences(differences: list[vaultmind.Difference]) -> None:
    """Differences by table (the first few of each), then one line of counts per table."""
    if not differences:
        click.echo("The store equals a fresh full index of the files.")
        return
    by_table: dict[str, list[vaultmind.Difference]] = {}
    for d in differences:
        by_table.setdefault(d.table, []).append(d)
    for table, items in by_table.items():
        click.echo(table)
        for d in items[:_SHOWN_PER_TABLE]:
            click.echo(f"  {d.key}\n    expected: {d.expected}\n    found:    {d.found}")
        if len(items) > _SHOWN_PER_TABLE:
            click.echo(f"  … and {len(items) - _SHOWN_PER_TABLE} more in {table} (--json lists them all)")
    counts = ", ".join(f"{table} {len(items)}" for table, items in by_table.items())
    click.echo(f"{len(differences)} differences from a fresh full index: {counts}")


# ------------------------------------------------------------------ note


def _link_json(item: vaultmind.ResolvedLink) -> dict[str, Any]:
    return {
        "source": item.source,
        "target": item.link.target,
        "target_path": item.target_path,
        "kind": item.link.kind,
        "heading": item.link.heading,
        "block": item.link.block,
        "display": item.link.display,
        "line": item.link.line,
        "context": item.link.context,
    }


@main.command()
@VAULT
@click.argument("name")
@state_dir_option
@json_option
@user_errors
def note(vault: Path, name: str, state_dir: Path | None, as_json: bool) -> None:
    """Show one note: links out, backlinks, unresolved links, tags, aliases, turns.

    NAME is a vault path, a note title or an alias.

    Example: vaultmind note ~/notes "LTM_2"
    """
    report = vaultmind.note_report(vault, name, state_dir=state_dir)
    n = report.note
    if as_json:
        emit_json({
            "path": n.path,
            "title": n.title,
            "aliases": list(n.aliases),
            "tags": [t.name for t in n.tags],
            "private": n.private,
            "frontmatter": n.frontmatter,
            "headings": [asdict(h) for h in n.headings],
            "outgoing": [_link_json(l) for l in report.outgoing],
            "backlinks": [_link_json(l) for l in report.backlinks],
            "unresolved": [_link_json(l) for l in report.unresolved],
            "turns": [asdict(t) for t in n.turns],
            "commentary": [asdict(c) for c in n.commentary],
            "warnings": [asdict(w) for w in n.warnings],
        })
        return
    click.echo(click.style(n.path, bold=True) + (" (private)" if n.private else ""))
    if n.aliases:
        click.echo("aliases: " + ", ".join(n.aliases))
    if n.tags:
        click.echo("tags: " + " ".join(sorted({"#" + t.name for t in n.tags})))
    resolved = [l for l in report.outgoing if l.target_path is not None]
    click.echo(f"outgoing ({len(resolved)}):")
    for l in resolved:
        sub = f"#{l.link.heading}" if l.link.heading else (f"#^{l.link.block}" if l.link.block else "")
        click.echo(f"  → {l.target_path}{sub}  [{l.link.kind}, line {l.link.line}]")
    click.echo(f"unresolved ({len(report.unresolved)}):")
    for l in report.unresolved:
        click.echo(f"  ✗ {l.link.target}  [line {l.link.line}]")
    click.echo(f"backlinks ({len(report.backlinks)}):")
    for l in report.backlinks:
        click.echo(f"  ← {l.source}  [line {l.link.line}] {l.link.context[:80]}")
    if n.turns:
        click.echo(f"turns ({len(n.turns)}):")
        for t in n.turns:
            click.echo(f"  {t.index}. {t.role} {t.timestamp} uid={t.uid or '-'}: {t.text[:70]!r}")
    for w in n.warnings:
        click.echo(f"warning: {w.code}: {w.message}")


# ------------------------------------------------------------------ meaning


def _snippet(text: str, width: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@main.command()
@VAULT
@click.argument("query")
@limit_option
@model_option
@state_dir_option
@click.option("--explain", is_flag=True, help="Show where each channel ranked every hit, and its score.")
@json_option
@user_errors
def search(vault: Path, query: str, limit: int, model: str | None, state_dir: Path | None, explain: bool,
           as_json: bool) -> None:
    """Find the notes that answer QUERY (any language: a Russian query finds English notes and
    back), each with its best matching chunk. Every channel (by default USE on chunks, USE on
    whole notes and BM25 on lemmas) ranks the vault and the rankings are fused; --explain
    shows each channel's rank and score.

    Example: vaultmind search ~/notes "как пчёлы зимуют" --explain
    """
    hits = vaultmind.search(vault, query, limit=limit, model=model, state_dir=state_dir)
    if as_json:
        emit_json([{"note": h.note, "score": round(h.score, 4), "heading": h.heading, "text": h.text,
                    "line": h.line, "channels": {name: {"rank": c.rank, "score": round(c.score, 4)}
                                                 for name, c in h.channels.items()}} for h in hits])
        return
    names = sorted({name for h in hits for name in h.channels}, key=vaultmind.channel_order)
    for rank, hit in enumerate(hits, 1):
        where = f" › {hit.heading}" if hit.heading else ""
        click.echo(f"{rank:>2}. {hit.score:.3f}  {click.style(hit.note, bold=True)}{where}  (line {hit.line})")
        click.echo(f"      {_snippet(hit.text)}")
        if explain:
            click.echo("      " + click.style(_explained(hit, names), dim=True))


def _explained(hit: vaultmind.SearchHit, names: list[str]) -> str:
    """`e5 #3 (0.812) · use #1 (0.276) · bm25 –`: each channel's rank and score, – when it
    did not return the note among its best chunks."""
    parts = []
    for name in names:
        found = hit.channels.get(name)
        parts.append(f"{name} #{found.rank} ({found.score:.3f})" if found else f"{name} –")
    return " · ".join(parts)


@main.command()
@VAULT
@click.argument("name")
@limit_option
@model_option
@state_dir_option
@json_option
@user_errors
def related(vault: Path, name: str, limit: int, model: str | None, state_dir: Path | None, as_json: bool) -> None:
    """Notes most similar in meaning to note NAME, each marked linked or not linked, with the
    best matching pair of chunks.

    Example: vaultmind related ~/notes "LTM_2"
    """
    notes = vaultmind.related(vault, name, limit=limit, model=model, state_dir=state_dir)
    if as_json:
        emit_json([{
            "note": r.note, "score": round(r.score, 4), "linked": r.linked,
            "chunk": {"heading": r.chunk.heading, "text": r.chunk.text, "line": r.chunk.line},
            "other_chunk": {"heading": r.other_chunk.heading, "text": r.other_chunk.text, "line": r.other_chunk.line},
            "chunk_score": round(r.chunk.score, 4),
        } for r in notes])
        return
    for rank, r in enumerate(notes, 1):
        mark = "linked" if r.linked else click.style("not linked", fg="yellow")
        click.echo(f"{rank:>2}. {r.score:.3f}  {click.style(r.note, bold=True)}  [{mark}]")
        click.echo(f"      this:  {_snippet(r.chunk.text, 110)}")
        click.echo(f"      there: {_snippet(r.other_chunk.text, 110)}")


# ------------------------------------------------------------------ scenes


def _scene_json(scene: vaultmind.Scene) -> dict[str, Any]:
    return {"id": scene.id, "label": scene.label, "terms": list(scene.terms), "summary": scene.summary,
            "notes": list(scene.notes), "central": list(scene.central), "wanted": list(scene.wanted),
            "size": scene.size, "density": round(scene.density, 4),
            "cohesion": None if scene.cohesion is None else round(scene.cohesion, 4), "region": scene.region}


@main.command()
@VAULT
@click.option("--regions", is_flag=True, help="List regions (scenes grouped for zooming out) instead of scenes.")
@click.option("--unplaced", is_flag=True, help="List the notes that belong to no scene instead.")
@click.option("--refresh", is_flag=True, help="Find scenes again even if nothing changed.")
@model_option
@state_dir_option
@json_option
@user_errors
def scenes(vault: Path, regions: bool, unplaced: bool, refresh: bool, model: str | None, state_dir: Path | None,
           as_json: bool) -> None:
    """List the scenes of VAULT: groups of notes that form one concept cluster, found from
    links and meaning together. Largest first, with id, label, size, link density and central
    notes. Found again when the vault changed since `index`.

    Example: vaultmind scenes ~/notes --json
    """
    found = vaultmind.scene_map(vault, model=model, refresh=refresh, state_dir=state_dir)
    if unplaced:
        if as_json:
            emit_json(list(found.unplaced))
            return
        for path in found.unplaced:
            click.echo(path)
        return
    if regions:
        if as_json:
            emit_json([{"id": r.id, "label": r.label, "scenes": list(r.scenes), "size": r.size} for r in found.regions])
            return
        for region in found.regions:
            click.echo(f"R{region.id:<4} {region.size:>5} notes  {region.label}")
            click.echo(f"       scenes: {', '.join(map(str, region.scenes))}")
        return
    if as_json:
        emit_json([_scene_json(s) for s in found.scenes])
        return
    if not found.scenes:
        click.echo("no scenes: the notes have no links and no near neighbours in meaning yet")
    click.echo(f"{'id':>4}  {'size':>5}  {'density':>7}  label")
    for scene in found.scenes:
        click.echo(f"{scene.id:>4}  {scene.size:>5}  {scene.density:>7.2f}  {click.style(scene.label, bold=True)}")
        click.echo(f"{'':>22}central: {', '.join(scene.central)}")
    basis = f"links and meaning ({found.model})" if found.model else "links only (nothing embedded)"
    click.echo(f"{len(found.scenes)} scenes in {len(found.regions)} regions from {basis}; "
               f"{len(found.unplaced)} notes unplaced (see --unplaced)")


@main.command()
@VAULT
@click.argument("scene_id", metavar="ID", type=int)
@model_option
@state_dir_option
@json_option
@user_errors
def scene(vault: Path, scene_id: int, model: str | None, state_dir: Path | None, as_json: bool) -> None:
    """Show scene ID of VAULT: its summary, members by centrality, the links inside it and to
    other scenes, and its neighbouring scenes.

    Example: vaultmind scene ~/notes 3
    """
    report = vaultmind.scene_report(vault, scene_id, model=model, state_dir=state_dir)
    s = report.scene
    if as_json:
        emit_json(_scene_json(s) | {
            "centrality": {p: round(c, 4) for p, c in report.centrality.items()},
            "internal_links": [list(pair) for pair in report.internal_links],
            "external_links": [{"source": a, "target": b, "scene": other} for a, b, other in report.external_links],
            "neighbours": [{"scene": other, "links": int(n)} for other, n in report.neighbours],
        })
        return
    click.echo(click.style(f"scene {s.id}: {s.label}", bold=True))
    click.echo(f"  {s.summary}")
    cohesion = "—" if s.cohesion is None else f"{s.cohesion:.2f}"
    click.echo(f"  {s.size} notes, link density {s.density:.2f}, cohesion {cohesion}, region {s.region}")
    click.echo("members (most central first):")
    for path in s.notes:
        click.echo(f"  {report.centrality.get(path, 0.0):.3f}  {path}")
    if s.wanted:
        click.echo("wanted notes referenced here: " + ", ".join(s.wanted))
    click.echo(f"links inside: {len(report.internal_links)}; links to other scenes: {len(report.external_links)}")
    for source, target, other in report.external_links:
        where = f"scene {other}" if other is not None else "unplaced"
        click.echo(f"  {source} → {target}  ({where})")
    if report.neighbours:
        click.echo("neighbouring scenes: " + ", ".join(
            f"{other} ({n} link{'s' if n != 1 else ''})" for other, n in report.neighbours))


# ------------------------------------------------------------------ blind spots


def _spot_json(spot: vaultmind.BlindSpot) -> dict[str, Any]:
    return {"id": spot.id, "kind": spot.kind, "score": round(spot.score, 4), "title": spot.title,
            "notes": list(spot.notes), "evidence": list(spot.evidence), "suggestion": spot.suggestion}


@main.command()
@VAULT
@click.option("--kind", "kinds", multiple=True, type=click.Choice(vaultmind.BLIND_SPOT_KINDS), metavar="KIND",
              help="Only this kind (repeatable): " + ", ".join(vaultmind.BLIND_SPOT_KINDS) + ".")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=10, show_default=True,
              help="Most findings shown per kind.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print Markdown with wikilinks instead of a table.")
@click.option("--write-note", is_flag=True,
              help="Also write the findings into the vault as a note (setting report_note; "
                   "never overwrites a note vaultmind did not write).")
@click.option("--all", "include_dismissed", is_flag=True, help="Include findings you dismissed.")
@model_option
@state_dir_option
@json_option
@user_errors
def blindspots(vault: Path, kinds: tuple[str, ...], limit: int, as_markdown: bool, write_note: bool,
               include_dismissed: bool, model: str | None, state_dir: Path | None, as_json: bool) -> None:
    """Show the blind spots of VAULT: wanted notes and broken links, missing links, scene gaps,
    weakly coupled scenes, bridges, orphans, dead ends, stubs and unanswered questions — each
    ranked, with the evidence behind it and what to do. Every finding has an id for
    `vaultmind accept` / `vaultmind dismiss`.

    Example: vaultmind blindspots ~/notes --kind missing_link -n 5
    """
    spots = vaultmind.blind_spots(vault, kinds=list(kinds) or None, limit=limit, include_dismissed=include_dismissed,
                                  model=model, state_dir=state_dir)
    if write_note:
        path = vaultmind.write_report_note(vault, spots, state_dir=state_dir)
        click.echo(f"wrote {path}", err=True)
    if as_json:
        emit_json([_spot_json(s) for s in spots])
        return
    if as_markdown:
        click.echo(vaultmind.blind_spots_markdown(vault, spots, state_dir=state_dir))
        return
    if not spots:
        click.echo("no blind spots found")
        return
    kind = None
    for spot in spots:
        if spot.kind != kind:
            kind = spot.kind
            click.echo(click.style(f"\n{kind.replace('_', ' ')}", bold=True) + f" — {vaultmind.EXPLANATIONS[kind]}")
        click.echo(f"  {spot.score:.2f}  {click.style(spot.title, bold=True)}  [{spot.id}]")
        click.echo(f"        → {spot.suggestion}")


def _judge_command(verdict: str) -> Callable[..., Any]:
    @VAULT
    @click.argument("finding")
    @model_option
    @state_dir_option
    @json_option
    @user_errors
    def command(vault: Path, finding: str, model: str | None, state_dir: Path | None, as_json: bool) -> None:
        spot = vaultmind.judge(vault, finding, verdict, model=model, state_dir=state_dir)
        if as_json:
            emit_json({"verdict": verdict, "finding": _spot_json(spot)})
        else:
            click.echo(f"{verdict} {spot.id}: {spot.title}")

    return command


main.command(
    "accept",
    help="Mark blind spot FINDING (its id from `vaultmind blindspots`) as useful; kept as labelled data.\n\n"
         "Example: vaultmind accept ~/notes ml-3fa29c01d2",
)(_judge_command("accepted"))
main.command(
    "dismiss",
    help="Dismiss blind spot FINDING (its id from `vaultmind blindspots`): hidden from now on, kept as "
         "labelled data.\n\nExample: vaultmind dismiss ~/notes ml-3fa29c01d2",
)(_judge_command("dismissed"))


# ------------------------------------------------------------------ export


@main.group()
def export() -> None:
    """Export what vaultmind knows about a vault."""


@export.command("graph")
@VAULT
@click.option("--format", "fmt", type=click.Choice(vaultmind.GRAPH_FORMATS), default="json", show_default=True,
              help="json = networkx node-link data; graphml and gexf open in Gephi, yEd, Cytoscape.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of standard output.")
@state_dir_option
@user_errors
def export_graph(vault: Path, fmt: str, output: Path | None, state_dir: Path | None) -> None:
    """Export the link graph: one node per note, attachment and wanted note, one edge per link.

    Example: vaultmind export graph ~/notes --format graphml -o notes.graphml
    """
    text = vaultmind.export_graph(vault, fmt, state_dir=state_dir)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as e:
        raise click.ClickException(f"cannot write {output}: {e.strerror or e}") from e
    click.echo(f"wrote {output}", err=True)


def chip_filter_options(f: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--kind", "kinds", multiple=True, type=click.Choice(vaultmind.CHIP_KINDS),
                     help="Only chips of this kind (repeat for several): dialogue, note_qa, link_rationale, "
                          "scene_doc, probe."),
        click.option("--scene", type=int, default=None, metavar="ID",
                     help="Only the chips of this scene (a chip pack); ids from `vaultmind scenes`."),
        click.option("--lang", "langs", multiple=True, type=click.Choice(vaultmind.CHIP_LANGS),
                     help="Only chips in this language (repeat for several)."),
        click.option("--min-tokens", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Leave out chips shorter than this many tokens."),
        click.option("--max-tokens", type=click.IntRange(min=1), default=None,
                     help="Leave out chips longer than this many tokens."),
        model_option,
        state_dir_option,
    ]
    for option in reversed(options):
        f = option(f)
    return f


@export.command("chips")
@VAULT
@click.option("--format", "formats", multiple=True, default=("all",), show_default=True,
              type=click.Choice((*vaultmind.CHIP_FORMATS, "all")),
              help="openai (chat JSONL), trl (Hugging Face conversational and prompt-completion Parquet), "
                   "sharegpt and alpaca (with LLaMA-Factory's dataset_info.json), text (scene documents), "
                   "canonical (every field, JSONL + Parquet) or all; repeat for several.")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the dataset into (with README.md dataset card and manifest.json).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists (the old folder goes only once the new one is in place).")
@chip_filter_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@json_option
@user_errors
def export_chips(vault: Path, formats: tuple[str, ...], out: Path, overwrite: bool, kinds: tuple[str, ...],
                 scene: int | None, langs: tuple[str, ...], min_tokens: int, max_tokens: int | None,
                 model: str | None, state_dir: Path | None, quiet: bool, as_json: bool) -> None:
    """Export training chips: fine-tuning datasets made from the notes, each example with its
    scene and its provenance (note, sha256, lines, dialogue turn UIDs). Private notes never
    leave the vault; secrets are redacted; duplicates are removed; splits are by scene.

    Example: vaultmind export chips ~/notes --format trl --format openai --out ~/chips
    """
    bar = _Bar(enabled=not quiet and not as_json and sys.stderr.isatty())
    try:
        result = vaultmind.export_chips(vault, out, formats=formats, overwrite=overwrite, kinds=kinds or None,
                                        scene=scene, langs=langs or None, min_tokens=min_tokens,
                                        max_tokens=max_tokens, model=model, state_dir=state_dir, progress=bar)
    finally:
        bar.close()
    if as_json:
        emit_json({"out": str(result.out), "files": list(result.files), "rows": result.rows, "lost": result.lost,
                   "stats": {k: v for k, v in result.stats.items() if k not in ("dedup", "contamination")}})
        return
    stats = result.stats
    click.echo(f"wrote {result.out}")
    for kind, splits in stats["kinds"].items():
        if splits:
            click.echo(f"  {kind:<15} " + ", ".join(f"{n} {split}" for split, n in sorted(splits.items())))
    dedup, privacy = stats["dedup"], stats["privacy"]
    click.echo(f"  dedup: {dedup['exact_dropped']} exact and {dedup['near_dropped']} near duplicates dropped; "
               f"privacy: {privacy['private_notes']} private notes left out, {privacy['secrets_found']} secrets "
               f"found ({privacy['mode']}), {privacy['chips_dropped']} chips dropped")
    for fmt, lost in result.lost.items():
        for reason, n in lost.items():
            if n and reason not in ("not_chat", "not_document"):  # other kinds, not losses
                click.echo(f"  {fmt}: {n} chips left out ({reason.replace('_', ' ')})")
    if stats.get("stale_notes"):
        click.echo(f"  {len(stats['stale_notes'])} notes changed since the last index were left out; "
                   f"run: vaultmind index {vault}")
    click.echo(f"  dataset card: {result.out / 'README.md'}")


@main.command("chips")
@VAULT
@chip_filter_options
@click.option("-n", "--limit", type=click.IntRange(min=1), default=3, show_default=True,
              help="How many chips to show per kind.")
@json_option
@user_errors
def chips_command(vault: Path, kinds: tuple[str, ...], scene: int | None, langs: tuple[str, ...], min_tokens: int,
                  max_tokens: int | None, model: str | None, state_dir: Path | None, limit: int,
                  as_json: bool) -> None:
    """Preview training chips without writing anything: the first chips of each kind, with
    their scene, source and split. --json prints the canonical records (vaultmind.chip/1).

    Example: vaultmind chips ~/notes --kind dialogue -n 2
    """
    found = vaultmind.chips(vault, kinds=kinds or None, limit=limit, scene=scene, langs=langs or None,
                            min_tokens=min_tokens, max_tokens=max_tokens, model=model, state_dir=state_dir)
    if as_json:
        emit_json([vaultmind.chip_record(c) for c in found])
        return
    if not found:
        click.echo("no chips match")
        return
    for chip in found:
        where = f"{chip.source.path}:{chip.source.line_start}-{chip.source.line_end}"
        scene_text = f"scene {chip.scene.id} ({chip.scene.label})" if chip.scene.id is not None else "no scene"
        click.echo(click.style(f"\n{chip.kind}", bold=True) + f"  {chip.split}  {chip.tokens} tokens  {scene_text}")
        click.echo(f"  {where}  [{chip.chip_id}]")
        if chip.text is not None:
            click.echo(_indent(_shorten(chip.text, 600)))
        for message in chip.messages:
            click.echo(_indent(f"{message.role}: {_shorten(message.content, 400)}"))
        if chip.probe is not None:
            click.echo(f"  answer: {chip.probe.choices[chip.probe.answer]} (verified: {str(chip.probe.verified).lower()})")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.split("\n"))


if __name__ == "__main__":
    main()
