"""The exception tree. The CLI turns each of these into a one-line message and exit code 1."""

from __future__ import annotations


class VaultmindError(Exception):
    """Base of every error vaultmind raises on purpose."""


class VaultNotFound(VaultmindError):
    def __init__(self, path: str) -> None:
        super().__init__(f"vault not found: {path} is not a folder")


class NotIndexed(VaultmindError):
    def __init__(self, vault: str) -> None:
        super().__init__(f"{vault} has not been indexed yet; run `vaultmind index {vault}` first")


class NoteNotFound(VaultmindError):
    def __init__(self, name: str, suggestions: tuple[str, ...] = ()) -> None:
        hint = f" (did you mean: {', '.join(suggestions)}?)" if suggestions else ""
        super().__init__(f"no note named {name!r} in the vault{hint}")
        self.name = name
        self.suggestions = suggestions


class NotEmbedded(VaultmindError):
    def __init__(self, vault: str, model_id: str, note: str | None = None) -> None:
        what = f"note {note!r} has no vectors" if note else "nothing is embedded"
        if not model_id:  # the channels name no embedding model (bm25 alone)
            super().__init__(f"{what}: the channels name no embedding model (bm25 alone compares no notes); "
                             f"use --model use+bm25 (the default), use, e5 or e5+use+bm25")
            return
        super().__init__(
            f"{what} for model {model_id}; run `vaultmind index {vault}` (without --no-embed, "
            f"with the same --model) first"
        )


class SceneNotFound(VaultmindError):
    def __init__(self, scene_id: int, known: tuple[int, ...] = ()) -> None:
        hint = f"; scene ids are {', '.join(map(str, sorted(known)))}" if known else ""
        super().__init__(f"no scene {scene_id}{hint} (`vaultmind scenes VAULT` lists them)")
        self.scene_id = scene_id


class FindingNotFound(VaultmindError):
    def __init__(self, finding: str) -> None:
        super().__init__(f"no blind spot with id {finding!r}; `vaultmind blindspots VAULT` lists them with their ids")
        self.finding = finding


class StoreError(VaultmindError):
    """The store cannot be opened or written (locked, corrupt, read-only, too new)."""


class DaemonRunning(VaultmindError):
    """`vaultmind watch` keeps this store up to date, so a one-off writer stands aside."""

    def __init__(self, state_dir: str, holder: str) -> None:
        super().__init__(
            f"vaultmind watch is running for this store ({state_dir}: {holder}) and keeps it up to date; "
            "`vaultmind status VAULT` shows what it is doing, stop it to index by hand"
        )


class ConfigError(VaultmindError):
    """A setting has a bad value or `vaultmind.toml` cannot be read."""


class ExportError(VaultmindError):
    """An export cannot be written in the requested format."""


class ModelError(VaultmindError):
    """An embedding model cannot be installed, converted or loaded."""
