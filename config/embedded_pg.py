"""An embedded PostgreSQL for machines without a database server (DATABASE_URL unset).

pgserver ships PostgreSQL binaries in a wheel; the server keeps running between
processes and is reused by whoever asks for the same data directory.
"""

from pathlib import Path


def embedded_database_url(data_dir: Path) -> str:
    import warnings

    # platformdirs warns that XDG_RUNTIME_DIR is unset on servers; it does not matter here.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    try:
        import pgserver
    except ImportError as exc:  # pgserver ships wheels for CPython <= 3.12 only
        raise RuntimeError(
            "DATABASE_URL is not set and the embedded PostgreSQL (pgserver) is not installed: "
            "use Python 3.12, or set DATABASE_URL to a PostgreSQL server"
        ) from exc

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    # pgserver's URI is postgresql://postgres:@/postgres?host=<socket dir>
    return server.get_uri()
