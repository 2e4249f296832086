"""Secrets out of training chips: credentials found by detect-secrets' plugins (and, on request,
e-mail addresses and phone numbers), replaced by `[REDACTED:<type>]` or the chip dropped.

detect-secrets scans line by line; a private key block spans lines, so its span is widened here to
the whole block. Nothing is verified against a service: the scan never touches the network."""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from vaultmind.errors import ExportError
from vaultmind.types import Chip

log = logging.getLogger(__name__)

MODES = ("redact", "drop")
PHONE_REGION = "RU"  # numbers written without a country code are read as Russian ones
PHONE_HINT = "pip install phonenumberslite==9.0.42"

# Named, not "all that are installed", so a detect-secrets upgrade cannot change what is found.
# Left out: IPPublicDetector (an address is not a credential). The high-entropy plugins see quoted
# strings here; `_unquoted_base64` adds unquoted words outside links (hex stays quoted-only: in notes
# unquoted hex is commit hashes and checksums).
PLUGINS = (
    "ArtifactoryDetector", "AWSKeyDetector", "AzureStorageKeyDetector", "Base64HighEntropyString",
    "BasicAuthDetector", "CloudantDetector", "DiscordBotTokenDetector", "GitHubTokenDetector",
    "GitLabTokenDetector", "HexHighEntropyString", "IbmCloudIamDetector", "IbmCosHmacDetector",
    "JwtTokenDetector", "KeywordDetector", "MailchimpDetector", "NpmDetector", "OpenAIDetector",
    "PrivateKeyDetector", "PypiTokenDetector", "SendGridDetector", "SlackDetector", "SoftlayerDetector",
    "SquareOAuthDetector", "StripeDetector", "TelegramBotTokenDetector", "TwilioKeyDetector",
)
# detect-secrets' false-positive heuristics, minus the allowlist pragma (a note is not code) and
# minus verification (which would send candidate secrets to their services). Its
# `is_indirect_reference` (`secret = get_secret()`) is applied to keyword findings only, in
# `_widened`: run on every line it costs four times the whole scan (its regex is quadratic).
FILTERS = tuple(f"detect_secrets.filters.heuristic.{name}" for name in (
    "is_sequential_string", "is_potential_uuid", "is_likely_id_string", "is_templated_secret",
    "is_prefixed_with_dollar_sign", "is_not_alphanumeric_string",
))
# The keyword plugin picks its rules by file name; config-file rules catch `password: x` and
# `password = x` without quotes, as people write them in notes.
_SCAN_AS = "note.yaml"
# Same-length English stand-ins, so the keyword plugin reads Russian and offsets do not move.
_RUSSIAN_KEYWORDS = {"пароль": "passwd", "секрет": "secret"}
_RUSSIAN = re.compile("|".join(_RUSSIAN_KEYWORDS), re.IGNORECASE)
# Types that also fire on things a vendor-specific plugin names better.
_GENERIC = {"secret_keyword", "base64_high_entropy_string", "hex_high_entropy_string", "ibm_cloud_iam_key"}
_CONTACTS = {"email", "phone"}
_MIN_UNQUOTED = 20  # shorter unquoted words are names and identifiers, not keys
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+/=.")
_LINE = re.compile(r"[^\r\n]+")
# What a text needs for any plugin to fire: a word of the keyword plugin's deny list (the other
# keyword-based plugins need one too, or a value of 20+ characters), a URL with credentials, a key
# block; or a long token (20+ characters, or 10+ mixing letters and digits). Plain substring tests
# on the lower-cased text: a regex alternation of these words ran at a few MB/s.
_DENY = ("api_key", "apikey", "auth_key", "authkey", "service_key", "servicekey", "account_key", "accountkey",
         "db_key", "dbkey", "database_key", "databasekey", "priv_key", "privkey", "private_key", "privatekey",
         "client_key", "clientkey", "db_pass", "dbpass", "database_pass", "databasepass", "key_pass", "keypass",
         "password", "passwd", "pwd", "secret", "contraseña", "contrasena", "пароль", "секрет",
         "private key", "putty-user-key-file")
_TOKEN_RUN = re.compile(r"[A-Za-z0-9_\-+/=.:]{20,}")
_TOKEN_RUN = re.compile(r"[A-Za-z0-9_\-+/=.:]+")  # maximal runs: no backtracking over a long one
_LETTER = re.compile(r"[A-Za-z]")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*-----")
_KEY_BODY = re.compile(r"(?:\r?\n[ \t]*(?:[A-Za-z0-9+/=]+|[\w-]+:[^\r\n]*)[ \t]*)*")
_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,}(?![\w-])")


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret found in a text: its type (`github_token`, `email`...) and its span there."""

    type: str
    start: int
    end: int


def find_secrets(text: str, *, contacts: bool = False) -> list[Secret]:
    """The secrets in `text`, sorted and not overlapping; `contacts` adds e-mails and phones."""
    with _settings():
        return _scan([text], contacts)[0]


def flagged(texts: Mapping[str, str], *, contacts: bool = False) -> set[str]:
    """The keys of the texts in which anything is found: chips made only from other texts need
    no scan of their own (their strings are pieces of those texts and of vaultmind's templates)."""
    with _settings():
        return {key for key, text in texts.items() if any(_scan([text], contacts))}


def redact(text: str, secrets: Iterable[Secret]) -> str:
    """`text` with each secret's span replaced by `[REDACTED:<type>]`."""
    parts, last = [], 0
    for secret in _merged(secrets):
        parts += [text[last:secret.start], f"[REDACTED:{secret.type}]"]
        last = secret.end
    return "".join(parts) + text[last:]


def scrub_chip(chip: Chip, *, mode: str = "redact", contacts: bool = False) -> tuple[Chip | None, Counter[str]]:
    """Scan every string a chip carries. `redact` returns the chip with each secret replaced
    (`redactions` grows by their number; hashes and id are left for the caller to recompute);
    `drop` returns None if anything was found. The counter counts secrets by type."""
    return next(scrub_chips([chip], mode=mode, contacts=contacts))


def scrub_chips(chips: Iterable[Chip], *, mode: str = "redact",
                contacts: bool = False) -> Iterator[tuple[Chip | None, Counter[str]]]:
    """`scrub_chip` for many chips, with detect-secrets set up once for all of them."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    with _settings():
        for chip in chips:
            yield _scrub(chip, mode, contacts)


def _scrub(chip: Chip, mode: str, contacts: bool) -> tuple[Chip | None, Counter[str]]:
    texts: list[str] = []
    _map_strings(chip, lambda s: texts.append(s) or s)
    found = _scan(texts, contacts)
    counts = Counter(secret.type for secrets in found for secret in secrets)
    if not counts:
        return chip, counts
    if mode == "drop":
        log.debug("dropped chip %s from %s: %s", chip.chip_id, chip.source.path, dict(counts))
        return None, counts
    clean = iter([redact(text, secrets) for text, secrets in zip(texts, found)])
    scrubbed = _map_strings(chip, lambda _: next(clean))
    return replace(scrubbed, redactions=chip.redactions + counts.total()), counts


def _map_strings(chip: Chip, fn: Callable[[str], str]) -> Chip:
    """The chip with `fn` applied to every string it carries, always in the same order."""
    probe = chip.probe and replace(chip.probe, question=fn(chip.probe.question),
                                   choices=tuple(fn(c) for c in chip.probe.choices))
    return replace(
        chip,
        messages=tuple(replace(m, content=fn(m.content)) for m in chip.messages),
        text=None if chip.text is None else fn(chip.text),
        commentary=tuple(replace(c, text=fn(c.text)) for c in chip.commentary),
        probe=probe,
        scene=replace(chip.scene, label=fn(chip.scene.label),
                      context_notes=tuple(fn(t) for t in chip.scene.context_notes)),
    )


@contextlib.contextmanager
def _settings() -> Iterator[None]:
    # detect-secrets keeps its settings in a global, and setting them is slow: once per batch
    from detect_secrets.settings import transient_settings

    config = {"plugins_used": [{"name": name} for name in PLUGINS], "filters_used": [{"path": p} for p in FILTERS]}
    with transient_settings(config):
        yield


def _scan(texts: Sequence[str], contacts: bool) -> list[list[Secret]]:
    found = [_credentials(text) if text.strip() else [] for text in texts]
    if contacts:
        found = [spans + _contacts(text) for spans, text in zip(found, texts)]
    return [_merged(spans) for spans in found]


def _credentials(text: str) -> list[Secret]:
    if not _maybe(text):  # most notes: nothing any plugin could match, decided in C in one pass
        return []
    spans = []
    for match in _LINE.finditer(text):
        offset, line = match.start(), match.group()
        plugins, unquoted = _line_findings(line)
        spans.extend(Secret(kind, offset + start, offset + end) for kind, start, end in unquoted)
        for kind, value in plugins:
            places = [m.start() for m in re.finditer(re.escape(value), line)] if value else []
            if not places:
                log.warning("%s found but not located in its line; redacting the whole line", kind)
                spans.append(Secret(kind, offset, offset + len(line)))
            for start in places:
                span = _widened(kind, text, line, offset, start, start + len(value))
                if span is not None:
                    spans.append(span)
    return spans


def _maybe(text: str) -> bool:
    """Whether any plugin could fire on `text` (see `_DENY`)."""
    low = text.lower()
    if any(word in low for word in _DENY) or ("://" in low and "@" in low) or _TOKEN_RUN.search(text):
        return True
    return any(len(run) >= 10 and _LETTER.search(run) and any(c.isdigit() for c in run)
               for run in _TOKEN_RUN.findall(text))


@functools.lru_cache(maxsize=65_536)
def _line_findings(line: str) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, int, int], ...]]:
    """(type, value as reported) of every plugin finding in one line, and the unquoted
    high-entropy words in it (type, start, end). Chips repeat the same lines
    (a section is an answer and part of a scene document; a system turn is on every chip of a
    note), so each distinct line is scanned once; a line with no word a plugin could match (no
    long token with a digit, no keyword such as password/key/token, no URL) is not scanned."""
    if not _maybe(line):
        return (), ()
    # The public `scan_line` names a file that makes the keyword plugin require quotes, and its
    # eager search lets the high-entropy plugins flag every word, so lines go through the same
    # per-line step `scan_file` uses (detect-secrets is pinned; tests cover this call).
    from detect_secrets.core.scan import _process_line_based_plugins

    scanned = _RUSSIAN.sub(lambda m: _RUSSIAN_KEYWORDS[m[0].lower()], line)
    plugins = tuple((_slug(found.type), found.secret_value or "")
                    for found in _process_line_based_plugins([(1, scanned)], _SCAN_AS))
    return plugins, tuple((s.type, s.start, s.end) for s in _unquoted_base64(line))


def _unquoted_base64(text: str) -> list[Secret]:
    """detect-secrets' base64 entropy test on unquoted words (its own eager search skips the
    entropy limit and so reports every word); words in links are left alone (ids, hashes)."""
    from detect_secrets.filters.heuristic import is_potential_uuid, is_sequential_string
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString

    plugin = Base64HighEntropyString()
    runs = re.compile(f"[{re.escape(plugin.charset)}]{{{_MIN_UNQUOTED},}}")
    return [Secret("base64_high_entropy_string", word.start() + run.start(), word.start() + run.end())
            for word in re.finditer(r"\S+", text) if "://" not in word[0] and not word[0].startswith("www.")
            for run in runs.finditer(word[0])
            if plugin.calculate_shannon_entropy(run[0]) > plugin.entropy_limit
            and not is_sequential_string(run[0]) and not is_potential_uuid(run[0])]


def _widened(kind: str, text: str, line: str, offset: int, start: int, end: int) -> Secret | None:
    """The whole secret around what a plugin reported (plugins report a prefix, a key block's
    first line, or the rest of a line after `password:`), or None for prose after a keyword."""
    if kind == "private_key":
        return Secret(kind, *_key_block(text, offset + start))
    if kind == "secret_keyword":
        from detect_secrets.filters.heuristic import is_indirect_reference

        if is_indirect_reference(line):
            return None
        if start and line[start - 1] in "'\"`":
            return Secret(kind, offset + start, offset + end)
        word = line[start:end].split()[0]
        # `Secret: we walk at dawn` is prose; an unquoted password has a digit or a symbol.
        return None if word.isalpha() else Secret(kind, offset + start, offset + start + len(word))
    while start and line[start - 1] in _TOKEN_CHARS:
        start -= 1
    while end < len(line) and line[end] in _TOKEN_CHARS:
        end += 1
    while end > start + 1 and line[end - 1] == ".":  # a full stop after the token
        end -= 1
    return Secret(kind, offset + start, offset + end)


def _key_block(text: str, start: int) -> tuple[int, int]:
    """A key block from its BEGIN line to its END line, or to the last line that looks like key
    material (base64 or a `Header: value`) when the END line is missing."""
    if text[max(0, start - 5):start] == "-----":
        start -= 5
    end = _PEM_END.search(text, start)
    if end is not None:
        return start, end.end()
    line_end = _LINE.match(text, start)
    return start, _KEY_BODY.match(text, line_end.end() if line_end else start).end()


def _contacts(text: str) -> list[Secret]:
    spans = [Secret("email", m.start(), m.end()) for m in _EMAIL.finditer(text)]
    try:
        import phonenumbers
    except ImportError as e:
        raise ExportError(f"finding phone numbers needs phonenumbers: {PHONE_HINT}") from e
    matches = phonenumbers.PhoneNumberMatcher(text, PHONE_REGION, leniency=phonenumbers.Leniency.VALID)
    return spans + [Secret("phone", m.start, m.end) for m in matches]


def _merged(secrets: Iterable[Secret]) -> list[Secret]:
    """Overlapping spans joined into one, named by the most specific type among them."""
    out: list[tuple[int, int, list[Secret]]] = []
    for secret in sorted(secrets, key=lambda s: (s.start, s.end)):
        if out and secret.start < out[-1][1]:
            start, end, group = out[-1]
            out[-1] = (start, max(end, secret.end), group + [secret])
        else:
            out.append((secret.start, secret.end, [secret]))
    return [Secret(min(group, key=_specificity).type, start, end) for start, end, group in out]


def _specificity(secret: Secret) -> tuple[int, int, str]:
    """A vendor's credential type first, then a generic one, then a contact; then the longest."""
    rank = 2 if secret.type in _CONTACTS else 1 if secret.type in _GENERIC else 0
    return rank, secret.start - secret.end, secret.type


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
