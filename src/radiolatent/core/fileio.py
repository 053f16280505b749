"""Writing outputs safely: a failure never leaves a half-written file in place."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import glob
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from radiolatent.core.errors import InputError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only on success.

    The result gets the mode an ordinary `open(path, "w")` would give: an overwritten
    file keeps its mode, a new one gets 0666 less the umask (mkstemp's 0600 would
    otherwise survive the rename and hide outputs from everyone else).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        # the pid in the name tells a later writer whether the temporary file is orphaned
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        exc.target = path  # type: ignore[attr-defined]  # for the CLI's one-line message
        raise
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, _target_mode(path))
        os.replace(tmp_path, path)
    except OSError as exc:
        exc.target = path  # type: ignore[attr-defined]
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


#: failures of the disk or of permissions, not of the program: the CLI reports them in one line.
WRITE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO})


def write_failure(exc: OSError) -> str | None:
    """A one-line message for a write that the disk or permissions refused, naming the
    output (not its temporary file); None for other errors."""
    if exc.errno not in WRITE_ERRORS:
        return None
    target = getattr(exc, "target", None) or exc.filename or "output"
    return f"{target}: cannot be written ({os.strerror(exc.errno)}); nothing half-written was left in its place"


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Delete temporary files of `path` left by writers that were killed (SIGKILL, power
    loss: no `finally` ran). Only files whose writer process no longer exists go."""
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.[^.]+\.part$")
    removed = []
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
        match = pattern.match(candidate.name)
        if match and not _process_exists(int(match.group(1))):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _target_mode(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


def current_umask() -> int:
    """The process umask. Linux reports it in /proc; elsewhere it is read by setting and
    restoring it (there is no getter), which is not thread-safe, hence /proc first."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output(path: str | Path, kind: str = "file") -> Path:
    """Refuse, before any work, an output path that cannot be written.

    `kind` is "file" (must not be a folder) or "dir" (must not be a file). Either way
    the nearest existing parent must be a writable folder, so the parents can be made.
    Nothing is created here.
    """
    if kind not in ("file", "dir"):
        raise ValueError(f"kind must be 'file' or 'dir', not {kind!r}")
    path = Path(path)
    if kind == "file" and path.is_dir():
        raise InputError(path, "is a folder; expected a file name")
    if kind == "dir" and path.exists() and not path.is_dir():
        raise InputError(path, "is a file; expected a folder")
    # an existing output folder is written into; anything else is made in its parent
    parent = path.absolute() if kind == "dir" and path.is_dir() else path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(path, f"cannot be made: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(path, f"cannot be written: no write permission in {parent}")
    return path


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_csv(frame, path: str | Path) -> Path:
    """A DataFrame as CSV, written atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)


def save_figure(fig, path: str | Path, tight_layout: bool = True, **savefig_kwargs) -> Path:
    """Write a matplotlib figure atomically (PNG unless `format` says otherwise) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    if tight_layout:
        fig.tight_layout()
    savefig_kwargs.setdefault("format", "png")
    if savefig_kwargs["format"] == "png":  # the mark that lets a rerun replace it (is_own_file)
        savefig_kwargs.setdefault("metadata", {"Software": PNG_SOFTWARE})
    with atomic_path(path) as tmp:
        fig.savefig(tmp, **savefig_kwargs)
    plt.close(fig)
    return path


# --- the output policy (docs/files.md, "Whose files may be replaced") ----------------------

#: the file that marks a folder as written by radiolatent, and by which command.
FOLDER_MARK = ".radiolatent"
#: PNGs written by radiolatent carry this in their `Software` text chunk.
PNG_SOFTWARE = "radiolatent"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclasses.dataclass(frozen=True)
class Output:
    """One path a command writes: a file of a form ("csv", "png", "parquet", "jsonl",
    "json"), or a folder (form "dir"), named by the option that gave it."""

    path: Path
    form: str
    option: str

    @property
    def is_dir(self) -> bool:
        return self.form == "dir"


def claim_outputs(outputs: list[Output], inputs: list[Path], command: str, overwrite: bool = False) -> None:
    """Refuse, before any work, outputs that would destroy something: an output that is
    an input, two outputs on one path, an existing file that is not radiolatent's own
    kind of output, a non-empty folder this command did not write. `--overwrite` lifts
    the last two; nothing lifts the first two."""
    seen: dict[str, Output] = {}
    for out in outputs:
        check_output(out.path, "dir" if out.is_dir else "file")
        key = _identity(out.path)
        if key in seen and seen[key].option != out.option:
            raise InputError(out.path, f"is both {seen[key].option} and {out.option}; give them different names")
        if key in seen and seen[key].form != out.form:
            raise InputError(out.path, f"{out.option} would write two files here; give it another name")
        seen[key] = out
        for source in inputs:
            if _identity(source) == key:
                raise InputError(out.path, f"{out.option} is also an input of this command; write elsewhere")
        if not overwrite:
            _check_not_foreign(out, command)


def _identity(path: Path) -> str:
    """Paths that name the same file compare equal (links, `./`, `..` resolved)."""
    return os.path.normcase(os.path.realpath(path))


def _check_not_foreign(out: Output, command: str) -> None:
    if out.is_dir:
        others = folder_entries(out.path)
        mark = folder_command(out.path)
        if others and not (mark == command or command.startswith(f"{mark} ")):
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise InputError(
                out.path,
                f"folder is not empty ({shown}) and was not written by `radiolatent {command}`; "
                "choose a new folder or pass {overwrite} to write into it",
                ("overwrite",),
            )
        return
    if out.path.exists() and not is_own_file(out.path, out.form):
        raise InputError(
            out.path,
            f"exists and is not a {out.form.upper()} written by radiolatent; "
            "choose another name or pass {overwrite} to replace it",
            ("overwrite",),
        )


def folder_entries(path: str | Path) -> list[str]:
    """The names in a folder, less radiolatent's own mark and temporary files."""
    path = Path(path)
    if not path.is_dir():
        return []
    return sorted(p.name for p in path.iterdir() if p.name != FOLDER_MARK and not p.name.endswith(".part"))


def folder_command(path: str | Path) -> str | None:
    """The command whose mark the folder holds, or None (no mark, or not ours). A run
    folder from before the marks (metrics.csv beside checkpoint/ or model/) is "train"'s."""
    path = Path(path)
    try:
        doc = json.loads((path / FOLDER_MARK).read_text())
    except (OSError, ValueError):
        legacy_run = (path / "metrics.csv").is_file() and any((path / d).is_dir() for d in ("checkpoint", "model"))
        return "train" if legacy_run else None
    return doc.get("command") if isinstance(doc, dict) else None


def mark_folder(path: str | Path, command: str) -> None:
    """Mark a folder as written by `command` (kept if already there: a rerun resumes)."""
    path = Path(path)
    if folder_command(path) != command:
        write_text(path / FOLDER_MARK, json.dumps({"written_by": "radiolatent", "command": command}) + "\n")


def is_own_file(path: str | Path, form: str) -> bool:
    """Whether an existing file is radiolatent's own kind of output of this form, which a
    rerun may replace. Read from the file itself, a few kilobytes at most."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(8192)
    except OSError:
        return False
    check = _OWN_FORMS.get(form)
    return bool(check and check(path, head))


def _own_png(path: Path, head: bytes) -> bool:
    return head.startswith(_PNG_SIGNATURE) and b"Software\x00" + PNG_SOFTWARE.encode() in head


def _own_parquet(path: Path, head: bytes) -> bool:
    if not head.startswith(b"PAR1"):
        return False
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        names = set(pq.read_schema(path).names)
    except Exception:  # pyarrow raises several types for a damaged file
        return False
    return {"id", "set", "model"} <= names


#: the column names radiolatent writes: identifiers, no spaces
_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def _own_csv(path: Path, head: bytes) -> bool:
    """A CSV cannot carry a mark: a table whose header is two or more column names of
    the kind radiolatent writes (identifiers) is taken for one of ours; anything else
    (notes, prose, binary data, a one-column list) is not."""
    if b"\0" in head:
        return False
    try:
        first = head.decode("utf-8").splitlines()[0] if head else ""
    except (UnicodeDecodeError, IndexError):
        return False
    names = first.split(",")
    return len(names) >= 2 and all(_COLUMN_NAME.fullmatch(name) for name in names)


def _own_jsonl(path: Path, head: bytes) -> bool:
    """A label store: empty, or its first line is a label record (a crash may have cut
    a one-line store short, so a prefix of a record counts)."""
    if not head.strip():
        return True
    first = head.split(b"\n", 1)[0].strip()
    try:
        doc = json.loads(first)
    except ValueError:
        return first.startswith(b'{"id"') and b"\n" not in head.strip()
    return isinstance(doc, dict) and "id" in doc and "score" in doc


def _own_json(path: Path, head: bytes) -> bool:
    try:
        doc = json.loads(path.read_bytes()) if path.stat().st_size < 1 << 20 else None
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict)


def _own_ecsv(path: Path, head: bytes) -> bool:
    return head.startswith(b"# %ECSV")


_OWN_FORMS = {
    "png": _own_png,
    "parquet": _own_parquet,
    "csv": _own_csv,
    "ecsv": _own_ecsv,
    "jsonl": _own_jsonl,
    "json": _own_json,
}
