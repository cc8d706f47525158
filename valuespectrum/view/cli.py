"""`vspec view RUN_DIR [RUN_DIR ...] [--port] [--open] [--export DIR]`."""

from __future__ import annotations

from pathlib import Path

import typer

from valuespectrum.console import console, fail


def view_command(
    run_dirs: list[Path] = typer.Argument(..., help="run directories (or folders of them) "
                                                    "written by `vspec run`"),
    port: int = typer.Option(8765, "--port", help="port on 127.0.0.1 (0: any free port)"),
    open_browser: bool = typer.Option(False, "--open", help="open the runs page in a browser"),
    export: Path | None = typer.Option(None, "--export", help="write a static site into this "
                                       "folder (opens from disk, no server) and exit"),
) -> None:
    """Look at runs in a browser: statistics, charts, each trial's screenshots and answers."""
    from valuespectrum.view.sources import ViewError, open_runs

    try:
        runs = open_runs(run_dirs)
        if export is not None:
            from valuespectrum.view.export import export_site

            done = export_site(runs, export, progress=lambda m: console.print(m, highlight=False))
            console.print(f"wrote {done['pages']} pages and {done['files']} images to "
                          f"{done['out']}; open {Path(done['out']) / 'index.html'}",
                          highlight=False)
            return
    except ViewError as e:
        fail(str(e))
    serve(runs, port, open_browser)


def serve(runs: dict, port: int, open_browser: bool) -> None:
    """Serve the viewer on 127.0.0.1 until interrupted."""
    import socket
    import threading
    import webbrowser

    import uvicorn

    from valuespectrum.view.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(128)  # connections wait in the backlog until the app is up
    except OSError as e:
        sock.close()
        fail(f"cannot listen on 127.0.0.1:{port} ({e.strerror}); choose another --port")
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    server = uvicorn.Server(uvicorn.Config(create_app(runs), log_level="warning",
                                           access_log=False))
    console.print(f"vspec view: {url} ({len(runs)} run{'s' if len(runs) != 1 else ''}; "
                  "Ctrl-C stops)", highlight=False, soft_wrap=True)
    if open_browser:
        def opener() -> None:
            while not server.started and not server.should_exit:
                threading.Event().wait(0.05)
            if server.started:
                webbrowser.open(url)

        threading.Thread(target=opener, daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
