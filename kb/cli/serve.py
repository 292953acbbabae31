"""``kb serve``: the web UI and JSON API on the development server."""

from __future__ import annotations

import click

from kb.cli.root import main, settings_of


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option("--debug", is_flag=True, help="Flask debug mode (never in production).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, debug: bool) -> None:
    """Serve the search web UI and JSON API (development server; see the README for gunicorn).

    With auth_mode 'auto' (the default), a loopback address means local single-user mode (no
    login) and any other address means accounts (log in; create users with 'kb user add').
    """
    import ipaddress

    from webui import create_app

    settings = settings_of(ctx)
    mode = settings.auth_mode
    if mode == "auto":
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        mode = "local" if loopback else "accounts"
    click.echo(
        f"auth: {mode}"
        + (
            f" (one local user with the {settings.local_role} role, no login)"
            if mode == "local"
            else ""
        ),
        err=True,
    )
    app = create_app(settings, test_config={"KB_AUTH_MODE": mode}, warm_up=True)
    app.run(host=host, port=port, debug=debug, use_reloader=False)
