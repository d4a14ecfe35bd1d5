"""One isolated session per package, plus lint. `nox` runs them all (the test command).

Every install goes through constraints.txt, which pins the torch pair that lies on this disk:
any other torch would pull a multi-GB CUDA build.
"""

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "core", "image", "audio", "report"]

PYTHON = "3.11"
CONSTRAINTS = ("-c", "constraints.txt")


def install(session: nox.Session, *packages: str) -> None:
    editable = [arg for package in packages for arg in ("-e", f"packages/{package}")]
    session.install(*CONSTRAINTS, *editable)


def pytest(session: nox.Session, *paths: str) -> None:
    session.run("pytest", "-m", "not gpu", *paths, *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install(*CONSTRAINTS, "ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON, tags=["tests"])
def core(session: nox.Session) -> None:
    """mpq-core with torch (device, autocast), Ray (the Ray backend) and the cross-package tests
    in tests/."""
    install(session, "mpq-core[torch,test,ray]")
    pytest(session, "packages/mpq-core/tests", "tests")


@nox.session(python=PYTHON, tags=["tests"])
def image(session: nox.Session) -> None:
    """mpq-image; the only session that may install TensorFlow (through the hific extra)."""
    install(session, "mpq-core", "mpq-image[hific,offline-deep,test]")
    pytest(session, "packages/mpq-image/tests")


@nox.session(python=PYTHON, tags=["tests"])
def audio(session: nox.Session) -> None:
    install(session, "mpq-core", "mpq-audio[test]")
    pytest(session, "packages/mpq-audio/tests")


@nox.session(python=PYTHON, tags=["tests"])
def report(session: nox.Session) -> None:
    """mpq-report without torch or any modality package, as a report-only user has it."""
    install(session, "mpq-core", "mpq-report[test]")
    pytest(session, "packages/mpq-report/tests")
