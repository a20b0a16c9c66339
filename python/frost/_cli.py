"""python -m frost: look into, check and make snapshot files (docs/cli.md).

    python -m frost info FILE            header facts, root type, objects by kind
    python -m frost verify FILE          full check; exit status 0 valid, 1 not
    python -m frost freeze IN OUT        JSON / JSON Lines / pickle -> snapshot
    python -m frost stats FILE           the loaded store's stats()

Exit status: 0 success, 1 a bad or unreadable file (one line on stderr saying
why), 2 a usage error. Progress goes to stderr: a bar when stderr is a
terminal, plain lines otherwise, nothing with --quiet.
"""
import argparse
import json
import os
import pickle
import sys
import time

import frost
from frost import _snapshotfile
from frost._fd import Fd

EXIT_OK, EXIT_BAD_FILE, EXIT_USAGE = 0, 1, 2

FORMATS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".jsonlines": "jsonl",
           ".pkl": "pickle", ".pickle": "pickle"}


class UsageError(Exception):
    """Wrong arguments: exit status 2."""


class BadFile(Exception):
    """A file that cannot be read, parsed, frozen or loaded: exit status 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):   # one line, not argparse's usage block
        raise UsageError(f"{message} (see `{self.prog} --help`)")


# ---------------------------------------------------------------------------
# progress on stderr


class Progress:
    """Reports one phase of work: a redrawn bar on a terminal, else nothing
    until the phase's closing line. Used as a frost progress callback, it is
    called only for large inputs (every 65,536 objects; reading: every MiB),
    so small ones print no bar."""

    def __init__(self, stream, enabled, label, unit):
        self.stream = stream
        self.enabled = enabled
        self.tty = enabled and stream.isatty()
        self.label = label
        self.unit = unit
        self.start = time.monotonic()
        self.drew = False

    def __call__(self, done, total):
        if not self.tty:
            return
        if total:
            frac = min(done / total, 1.0)
            width = 30
            fill = int(frac * width)
            text = (f"\r{self.label}: [{'#' * fill}{'.' * (width - fill)}] {frac * 100:5.1f}% "
                    f"({_count(done)} / {_count(total)} {self.unit})")
        else:
            text = f"\r{self.label}: {_count(done)} {self.unit}..."
        self.stream.write(text + "\x1b[K")
        self.stream.flush()
        self.drew = True

    def done(self, summary):
        if self.drew:
            self.stream.write("\r\x1b[K")
        if self.enabled:
            self.stream.write(f"{self.label}: {summary} ({time.monotonic() - self.start:.1f} s)\n")
            self.stream.flush()


def _count(n):
    return f"{n:,}"


def _size(n):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,} bytes" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


# ---------------------------------------------------------------------------
# info / verify / stats


def _root_summary(root):
    kind = type(root).__name__
    try:
        n = len(root)
    except TypeError:
        return kind
    noun = "item" if n == 1 else "items"
    if hasattr(root, "num_columns"):   # a frost.Table / MappedTable: rows of columns
        noun = "row" if n == 1 else "rows"
        return f"{kind} with {_count(n)} {noun} of {_count(root.num_columns)} columns"
    return f"{kind} with {_count(n)} {noun}"


def _load_facts(path):
    """(stats dict, root summary) of the loaded file; raises BadFile. A
    format-2 file is verified completely (load maps it without reading it)."""
    try:
        store = frost.load(path, lifetime="scoped")
        if isinstance(store, frost.MappedStore):
            store.verify()
    except (frost.SnapshotError, OSError) as exc:
        raise BadFile(_reason(exc, path)) from exc
    try:
        return store.stats(), _root_summary(store.root)
    finally:
        store.close()


def _file_size(path):
    """The size of `path` now; BadFile if it is gone (deleted or replaced by
    another program since it was read or written)."""
    try:
        return os.path.getsize(path)
    except OSError as exc:
        raise BadFile(_reason(exc, path)) from exc


def _reason(exc, path):
    if isinstance(exc, OSError) and exc.strerror:
        return f"{path}: {exc.strerror}"
    text = str(exc)
    # SnapshotError messages end in ": PATH": say the path first, once
    suffix = f": {path}"
    if text.endswith(suffix):
        text = text[: -len(suffix)]
    return f"{path}: {text}"


def cmd_info(args, out, err):
    path = args.file
    try:
        header = _snapshotfile.read_header(path)
    except (frost.SnapshotError, OSError) as exc:
        raise BadFile(_reason(exc, path)) from exc
    try:
        stats, root = _load_facts(path)
        load_error = None
    except BadFile as exc:
        stats, root, load_error = None, None, str(exc)
    if args.json:
        doc = dict(header, file=path, valid=load_error is None, error=load_error)
        if stats is not None:
            doc.update(root=root)
            if not _snapshotfile.is_mapped(header):
                doc.update(objects=stats["objects"], arena_bytes=stats["bytes"])
        json.dump(doc, out, indent=2)
        out.write("\n")
    elif _snapshotfile.is_mapped(header):
        rows = [
            ("file", f"{path} ({_size(header['file_size'])})"),
            ("format", "frost snapshot version 2 (mapped and read in place by every process)"),
            ("store id", header["store_id"]),
            ("nodes", _count(header["nodes"])),
        ]
        if stats is not None:
            rows += [("root", root),
                     ("in memory", f"{_size(header['file_size'])}, mapped (shared by every "
                                   f"process that loads it)"),
                     ("valid", "yes: every byte and reference checked")]
        else:
            rows.append(("valid", f"no: {load_error}"))
        for name, value in rows:
            out.write(f"{name:<11} {value}\n")
    else:
        sections = ", ".join(f"{name} {_size(s['size'])}" for name, s in header["sections"].items())
        rows = [
            ("file", f"{path} ({_size(header['file_size'])})"),
            ("format", f"frost snapshot version {header['format_version']}, {header['platform']}"),
            ("written by", f"CPython {header['python']} (hash {header['hash_algorithm']}, "
                           f"{header['int_digit_bits']}-bit int digits)"),
            ("sections", sections or "(unreadable)"),
            ("records", _count(header["records"])),
        ]
        if stats is not None:
            kinds = ", ".join(f"{k} {_count(v)}" for k, v in stats["objects"].items() if v)
            rows += [("root", root), ("objects", kinds or "none (only shared singletons)"),
                     ("in memory", f"{_size(stats['bytes'])} once loaded"),
                     ("valid", "yes: every check of frost.load passed")]
        else:
            rows.append(("valid", f"no: {load_error}"))
        for name, value in rows:
            out.write(f"{name:<11} {value}\n")
    return EXIT_OK if load_error is None else EXIT_BAD_FILE


def cmd_verify(args, out, err):
    path = args.file
    progress = Progress(err, not args.quiet, f"verifying {path}", "bytes")
    try:
        frost.verify(path, progress=progress)
    except (frost.SnapshotError, OSError) as exc:
        if progress.drew:
            err.write("\r\x1b[K")
        raise BadFile(_reason(exc, path)) from exc
    if progress.drew:
        err.write("\r\x1b[K")
    if not args.quiet:
        out.write(f"{path}: ok{_no_body_checksum_note(path)}\n")
    return EXIT_OK


def _no_body_checksum_note(path):
    """What verify could not check in an image that carries no body checksum."""
    try:
        header = _snapshotfile.read_header(path)
    except (frost.SnapshotError, OSError):
        return ""
    if _snapshotfile.is_mapped(header) and header["flags"] & 1:
        return (" (structure only: the image has no body checksum, as frost.share writes "
                "them for sealed memory)")
    return ""


def cmd_stats(args, out, err):
    stats, root = _load_facts(args.file)
    stats = dict(stats, root=root, file=args.file, file_size=_file_size(args.file))
    stats.pop("id", None)
    stats.pop("path", None)
    if args.json:
        json.dump(stats, out, indent=2)
        out.write("\n")
        return EXIT_OK
    out.write(f"{'file':<15} {args.file} ({_size(stats['file_size'])})\n")
    out.write(f"{'root':<15} {root}\n")
    if stats.get("format_version") == 2:
        out.write(f"{'format':<15} 2 (mapped in place)\n")
        out.write(f"{'bytes':<15} {_size(stats['bytes'])} mapped\n")
        out.write(f"{'store id':<15} {stats['store_id']}\n")
        return EXIT_OK
    out.write(f"{'bytes':<15} {_size(stats['bytes'])} used, {_size(stats['bytes_reserved'])} "
              f"reserved in {stats['chunks']} chunk(s) ({stats['backend']})\n")
    for kind, n in stats["objects"].items():
        out.write(f"{kind:<15} {_count(n)}\n")
    return EXIT_OK


# ---------------------------------------------------------------------------
# freeze


def _input_format(args):
    if args.format:
        return args.format
    if args.input == "-":
        raise UsageError("reading standard input needs --format json, jsonl or pickle")
    ext = os.path.splitext(args.input)[1].lower()
    if ext not in FORMATS:
        raise UsageError(f"cannot tell the format of {args.input!r} from its extension "
                         f"(known: {', '.join(sorted(FORMATS))}); pass --format json, jsonl "
                         f"or pickle")
    return FORMATS[ext]


class _CountingReader:
    """A binary file that reports the bytes read to a Progress, every MiB."""

    EVERY = 1 << 20

    def __init__(self, f, progress, total):
        self.f = f
        self.progress = progress
        self.total = total
        self.done = 0

    def _seen(self, n):
        before = self.done
        self.done += n
        if self.done // self.EVERY != before // self.EVERY:
            self.progress(self.done, self.total)

    def read(self, n=-1):
        data = self.f.read(n)
        self._seen(len(data))
        return data

    def readline(self, n=-1):
        data = self.f.readline(n)
        self._seen(len(data))
        return data

    def readinto(self, b):
        n = self.f.readinto(b)
        self._seen(n or 0)
        return n

    def peek(self, n=0):
        return self.f.peek(n)


def _read_input(path, fmt, progress):
    try:
        f = sys.stdin.buffer if path == "-" else open(path, "rb")
    except OSError as exc:
        raise BadFile(_reason(exc, path)) from exc
    total = None
    if path != "-":
        try:
            total = os.fstat(f.fileno()).st_size or None
        except OSError:
            total = None
    reader = _CountingReader(f, progress, total)
    try:
        if fmt == "json":
            chunks = []
            while True:
                block = reader.read(1 << 20)
                if not block:
                    break
                chunks.append(block)
            try:
                return json.loads(b"".join(chunks))
            except (ValueError, RecursionError) as exc:
                raise BadFile(f"{path}: not valid JSON: {exc}") from exc
        if fmt == "jsonl":
            items = []
            for lineno, line in enumerate(iter(reader.readline, b""), 1):
                if not line.strip():
                    continue
                try:
                    items.append(json.loads(line))
                except (ValueError, RecursionError) as exc:
                    raise BadFile(f"{path}:{lineno}: not valid JSON: {exc}") from exc
            return items
        try:
            return pickle.load(reader)
        except Exception as exc:   # pickle raises anything the file's code raises
            raise BadFile(f"{path}: cannot unpickle: {type(exc).__name__}: {exc}") from exc
    except OSError as exc:
        raise BadFile(_reason(exc, path)) from exc
    finally:
        if f is not sys.stdin.buffer:
            f.close()


def _same_file(a, b):
    """Whether paths a and b name one existing file (a link to it, another
    spelling of the path): cp's "are the same file"."""
    try:
        return a != "-" and os.path.samefile(a, b)
    except (OSError, ValueError):   # either missing (or a NUL in it): not the same existing file
        return False


def cmd_freeze(args, out, err):
    fmt = _input_format(args)
    if fmt == "pickle" and not args.allow_pickle:
        raise UsageError(f"{args.input} is a pickle: loading one runs whatever code the file "
                         f"names, so only load pickles you trust; pass --allow-pickle to go ahead")
    if args.output == "-":
        raise UsageError("OUT must be a file path (a snapshot is written to a temporary file, "
                         "then renamed)")
    if _same_file(args.input, args.output):
        raise UsageError(f"OUT is IN ({args.output}): the snapshot would replace the file it is "
                         f"made from; give another path")
    show = not args.quiet
    reading = Progress(err, show, f"reading {args.input}", "bytes")
    data = _read_input(args.input, fmt, reading)
    reading.done(f"{fmt}, {_root_summary(data)}")
    freezing = Progress(err, show, "freezing", "objects")
    seen = [0]

    def count(done, total):
        seen[0] = done
        freezing(done, total)
    try:
        store = frost.freeze(data, progress=count)
    except frost.FreezeError as exc:
        raise BadFile(f"{args.input}: {exc}") from exc
    del data
    try:
        freezing.done(f"{_count(seen[0])} objects, {_size(store.nbytes)}")
        saving = Progress(err, show, f"saving {args.output}", "items")
        try:
            store.save(args.output, progress=saving)
        except (frost.SnapshotError, OSError) as exc:
            raise BadFile(_reason(exc, args.output)) from exc
        written = _file_size(args.output)
        saving.done(_size(written))
    finally:
        store.close()
    if show:
        out.write(f"{args.output}: written ({_size(written)})\n")
    return EXIT_OK


# ---------------------------------------------------------------------------


def build_parser():
    parser = _Parser(
        prog="python -m frost",
        description="Look into, check and make frost snapshot files (docs/cli.md). "
                    "Exit status: 0 success, 1 bad or unreadable file, 2 usage error.")
    parser.add_argument("--version", action="version",
                        version=f"frost {getattr(frost, '__version__', 'unknown')}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("info", help="header facts, root type, objects by kind, validity",
                       description="Show what a snapshot file holds: format version, the "
                                   "CPython that wrote it, sizes, the root's type and the "
                                   "objects by kind; exit status 1 if this Python cannot load it.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(run=cmd_info)

    p = sub.add_parser("verify", help="check a snapshot completely (exit status 0 or 1)",
                       description="Check a snapshot file completely -- header, checksum, "
                                   "every record (format 1) or node (format 2), reference and "
                                   "table. "
                                   "Exit status 0 and 'FILE: ok' if valid, 1 and the reason "
                                   "on stderr if not.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(run=cmd_verify)

    p = sub.add_parser("freeze", help="make a snapshot from JSON, JSON Lines or a pickle",
                       description="Read IN (JSON: one document; JSON Lines: a list of one "
                                   "value per line; pickle: one object), freeze it and save "
                                   "it to OUT as a snapshot. The format comes from IN's "
                                   "extension (" + ", ".join(sorted(FORMATS)) + ") or "
                                   "--format; IN '-' reads standard input.")
    p.add_argument("input", metavar="IN")
    p.add_argument("output", metavar="OUT")
    p.add_argument("--format", choices=("json", "jsonl", "pickle"))
    p.add_argument("--allow-pickle", action="store_true",
                   help="allow a pickle input: unpickling runs code the file names, so use "
                        "this only for files you trust")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    p.set_defaults(run=cmd_freeze)

    p = sub.add_parser("stats", help="the loaded store's statistics",
                       description="Load a snapshot and show its store's stats(): bytes, "
                                   "chunks, objects by kind, the root's type.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(run=cmd_stats)
    return parser


def _one_line(message):
    """`message` with its control characters escaped as in a repr (\\n, \\x1b):
    a file's own strings (column names, formats) reach error messages, and an
    error is one line on stderr, with nothing for the terminal to obey."""
    text = str(message)
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def main(argv=None, out=None, err=None):
    """Run the command line; returns the exit status."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:   # --help, --version
            return exc.code if isinstance(exc.code, int) else EXIT_OK
        if args.command is None:
            raise UsageError("a COMMAND is needed: info, verify, freeze or stats "
                             "(see `python -m frost --help`)")
        return args.run(args, out, err)
    except UsageError as exc:
        err.write(f"frost: error: {_one_line(exc)}\n")
        return EXIT_USAGE
    except BadFile as exc:
        err.write(f"frost: {_one_line(exc)}\n")
        return EXIT_BAD_FILE
    except KeyboardInterrupt:
        err.write("frost: interrupted\n")
        return 130
    except BrokenPipeError:   # `python -m frost info F | head`: not an error of ours
        if out is sys.stdout:
            with Fd(os.open, os.devnull, os.O_WRONLY) as devnull:
                os.dup2(devnull.fd, sys.stdout.fileno())
        return EXIT_BAD_FILE
