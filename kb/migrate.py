"""Schema migrations (Alembic) for production stores: ``kb db upgrade`` brings a database to the
current models; ``kb db check`` says whether it is behind. The default SQLite store is created
directly from the models and stamped, so both paths end at the same schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import create_engine, inspect

from kb.settings import Settings
from kb.store import Store

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply every migration up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def migrate(url: str) -> str | None:
    """Bring the store to the newest schema; a store made before migrations existed is adopted."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            current = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    if current is None and "cases" in tables:
        _adopt(url)  # a store created from the models before migrations existed
    elif current != head_revision():
        upgrade(url)
    return head_revision()


def _adopt(url: str) -> None:
    """Create the tables an early store lacks (only missing ones), then mark it as current."""
    import kb.accounts  # noqa: F401
    import kb.activity  # noqa: F401
    from kb.store import Base

    engine = create_engine(url)
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()
    command.stamp(alembic_config(url), "head")


def pending_changes(url: str) -> list[object]:
    """Differences between the database and the models (empty when the migrations are complete)."""
    import kb.accounts  # noqa: F401
    import kb.activity  # noqa: F401
    from kb.store import Base

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))
    finally:
        engine.dispose()


def open_store(settings: Settings) -> Store:
    """The store named by the settings, migrated to the current schema (activity tables included).

    Migrations run under a lock in the data folder, so several processes starting at once on one
    host do not race; on several hosts run ``kb db upgrade`` once at deploy time.
    """
    import kb.accounts  # noqa: F401  (registers the account and audit tables)
    import kb.activity  # noqa: F401  (registers the search-log and feedback tables)

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.data_dir / "migrate.lock"), timeout=120):
        migrate(settings.resolved_database_url)
    return Store(settings.resolved_database_url, settings.db_pool_size, settings.db_max_overflow)
