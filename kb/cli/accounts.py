"""Administration: ``kb db``, ``kb user``, ``kb token``, ``kb audit``."""

from __future__ import annotations

import sys

import click

from kb.cli.root import main, settings_of, store_of
from kb.roles import ROLES


@main.group()
def db() -> None:
    """Store schema migrations (Alembic)."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Migrate the store (KB_DATABASE_URL) to the current schema; run once per deploy."""
    from kb.migrate import head_revision, migrate

    settings = settings_of(ctx.find_root())
    migrate(settings.resolved_database_url)
    click.echo(f"store at revision {head_revision()}")


@db.command("check")
@click.pass_context
def db_check(ctx: click.Context) -> None:
    """Exit 1 when the store is behind the code's schema."""
    from kb.migrate import current_revision, head_revision

    settings = settings_of(ctx.find_root())
    current, head = current_revision(settings.resolved_database_url), head_revision()
    click.echo(f"store revision {current or '(none)'}, code revision {head}")
    ctx.exit(0 if current == head else 1)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@main.group()
def user() -> None:
    """Built-in accounts: add, list, disable, change passwords."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="The account's role.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input instead of prompting.",
)
@click.option(
    "--sso", is_flag=True, help="An account that logs in through the SSO proxy only (no password)."
)
@click.pass_context
def user_add(ctx: click.Context, name: str, role: str, password_stdin: bool, sso: bool) -> None:
    """Create account NAME with a role."""
    from kb.accounts import add_user, audit

    store = store_of(ctx)
    add_user(store, name, role, None if sso else _read_password(password_stdin))
    audit(store, "cli", "admin", "user_add", name, detail={"role": role})
    click.echo(f"user {name} added ({role})")


@user.command("list")
@click.pass_context
def user_list(ctx: click.Context) -> None:
    """List accounts with their roles."""
    from kb.accounts import list_users

    for u in list_users(store_of(ctx)):
        state = "disabled" if u["disabled"] else "active"
        click.echo(
            f"{u['name']:<24} {u['role']:<9} {state:<9} {'password' if u['password'] else 'sso-only'}  "
            f"last login {u['last_login_at'] or '-'}"
        )


@user.command("disable")
@click.argument("name")
@click.pass_context
def user_disable(ctx: click.Context, name: str) -> None:
    """Disable account NAME and revoke its API tokens."""
    from kb.accounts import audit, disable_user

    store = store_of(ctx)
    disable_user(store, name)
    audit(store, "cli", "admin", "user_disable", name)
    click.echo(f"user {name} disabled")


@user.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@click.pass_context
def user_role(ctx: click.Context, name: str, role: str) -> None:
    """Change the role of account NAME (its login sessions end at once)."""
    from kb.accounts import audit, set_role

    store = store_of(ctx)
    set_role(store, name, role)
    audit(store, "cli", "admin", "user_role", name, detail={"role": role})
    click.echo(f"role of {name} changed to {role}")


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def user_passwd(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set the password of account NAME."""
    from kb.accounts import audit, set_password

    store = store_of(ctx)
    set_password(store, name, _read_password(password_stdin))
    audit(store, "cli", "admin", "user_passwd", name)
    click.echo(f"password of {name} changed")


@main.group()
def token() -> None:
    """API tokens for scripts (sent as 'Authorization: Bearer ...')."""


@token.command("create")
@click.argument("name")
@click.option("--label", default="script", show_default=True, help="What the token is for.")
@click.pass_context
def token_create(ctx: click.Context, name: str, label: str) -> None:
    """Create a token acting as user NAME; it is printed once and stored only hashed."""
    from kb.accounts import audit, create_token

    store = store_of(ctx)
    value = create_token(store, name, label)
    audit(store, "cli", "admin", "token_create", name, detail={"label": label})
    click.echo(value)


@token.command("list")
@click.pass_context
def token_list(ctx: click.Context) -> None:
    """List tokens (never their values)."""
    from kb.accounts import list_tokens

    for t in list_tokens(store_of(ctx)):
        click.echo(
            f"{t['id']:>4}  {t['user']:<20} {t['label']:<20} {'revoked' if t['revoked'] else 'active':<8} "
            f"last used {t['last_used_at'] or '-'}"
        )


@token.command("revoke")
@click.argument("token_id", type=int)
@click.pass_context
def token_revoke(ctx: click.Context, token_id: int) -> None:
    """Revoke token TOKEN_ID."""
    from kb.accounts import audit, revoke_token

    store = store_of(ctx)
    revoke_token(store, token_id)
    audit(store, "cli", "admin", "token_revoke", str(token_id))
    click.echo(f"token {token_id} revoked")


@main.command(name="audit")
@click.option("--actor", help="Only this user.")
@click.option(
    "--action", help="Only this action (login, login_failed, view_restricted, case_save, ...)."
)
@click.option("--limit", default=50, show_default=True, type=int, help="How many events.")
@click.pass_context
def audit_command(ctx: click.Context, actor: str | None, action: str | None, limit: int) -> None:
    """Show the audit log: logins, failures, views of restricted cases and every write."""
    from kb.accounts import audit_events

    for e in audit_events(store_of(ctx), limit, actor, action):
        click.echo(
            f"{e['at']:%Y-%m-%d %H:%M:%S}  {e['actor']:<16} {e['role']:<9} {e['action']:<16} "
            f"{e['target']}  {e['address']}"
        )
