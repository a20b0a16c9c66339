"""Snapshot files from the outside: frost.verify() and the header facts that
`python -m frost info` shows (docs/format.md is the layout read here).

verify() of a format-2 file is MapImage.verify() over a private mapping (every
byte and reference reachable, the body checksum when the image has one); of a format-1 file it is
frost.load() itself -- the one validation there is (header, checksum, every
record, reference and table) -- into a scoped store that is freed at once.
read_header() only decodes the 128-byte header (and format 1's section
table), so it works on files this Python cannot load.
"""
import errno
import os
import stat
import struct

from frost import _frost, _mapped
from frost._fd import Fd

MAGIC = b"FROSTSNP"
MAGIC_V2 = _mapped.MAGIC_V2
_HEADER_V2 = struct.Struct("<8sIIQQ16sQQ16sQQ32x")   # store/frost_map.h, frost_map_header_t
_HEADER = struct.Struct("<8sQIIIBBBBIIQQq16sQQQ24x")
_SECTION = struct.Struct("<IIQQ")
_SECTION_NAMES = {0x45474D49: "image", 0x4B4C5542: "bulk"}
assert _HEADER.size == _HEADER_V2.size == 128


def verify(path, *, progress=None):
    """Check a snapshot file completely, before any use: all of it at once.

    Format 2: every byte and reference reachable from the root, the tables
    and the body checksum (what frost.load() leaves to each access; an image
    copied out of frost.share's sealed memory has no body checksum, so only
    its structure is checked). Format 1:
    the image is built in memory (copied, as by load) and freed.

    Returns None when the file is a valid snapshot this process can load;
    raises frost.SnapshotError (a ValueError) naming the first problem found
    (corrupt, truncated, another format version, Python version or
    platform), or OSError when the file cannot be read. progress(done,
    total): as for frost.load().
    """
    if progress is not None and not callable(progress):
        raise TypeError(f"verify() progress must be a callable(done, total) or None, "
                        f"not {type(progress).__name__}")
    image, _ = _mapped.open_image(os.fspath(path))
    if image is not None:   # format 2
        image.verify(progress)
        return
    store = _frost.load(path, lifetime="scoped", progress=progress)
    store.close()


def read_header(path):
    """The header facts of a snapshot file (a dict), without validating the
    records; SnapshotError if it has no frost header, OSError if unreadable.
    "magic" says which layout the other facts are: FROSTMAP (format 2) or
    FROSTSNP (format 1), whatever version number the file claims. A section
    table that does not lie inside the file is not read (no "sections")."""
    path = os.fspath(path)   # never an int: that would read (and close) an fd
    with Fd(os.open, path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY) as opened:
        fd = opened.fd
        st = os.fstat(fd)   # of what was opened: no FIFO swapped in after a check
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if not stat.S_ISREG(st.st_mode):
            raise _frost.SnapshotError(f"not a frost snapshot: not a regular file "
                                       f"(a device, FIFO or socket): {os.fsdecode(path)}")
        head = _mapped.pread(fd, _HEADER.size, 0, path)
        file_size = st.st_size
        if head.startswith(MAGIC_V2) and len(head) == _HEADER_V2.size:
            return _header_v2(head, file_size)
        if len(head) < _HEADER.size or not head.startswith(MAGIC):
            raise _frost.SnapshotError(f"not a frost snapshot (no {MAGIC.decode()} or "
                                       f"{MAGIC_V2.decode()} header): {os.fsdecode(path)}")
        (_, checksum, version, header_size, byte_order, pointer_size, digit_bits, hash_bits, _,
         hexversion, nsections, _, size_in_header, _, hash_algorithm, root, nrecords,
         section_table) = _HEADER.unpack(head)
        sections = {}
        if (version == 1 and byte_order == 0x01020304 and 0 < nsections <= 64
                and section_table + nsections * _SECTION.size <= file_size):
            raw = _mapped.pread(fd, nsections * _SECTION.size, section_table, path)
            for i in range(len(raw) // _SECTION.size):
                sid, _, offset, size = _SECTION.unpack_from(raw, i * _SECTION.size)
                sections[_SECTION_NAMES.get(sid, f"0x{sid:08x}")] = {"offset": offset, "size": size}
    return {
        "magic": MAGIC.decode(),
        "format_version": version,
        "python": f"{hexversion >> 24}.{(hexversion >> 16) & 0xFF}.{(hexversion >> 8) & 0xFF}",
        "platform": f"{pointer_size * 8}-bit "
                    + ("little-endian" if byte_order == 0x01020304 else "other byte order"),
        "int_digit_bits": digit_bits,
        "hash_bits": hash_bits,
        "hash_algorithm": hash_algorithm.rstrip(b"\0").decode("ascii", "replace"),
        "file_size": file_size,
        "file_size_in_header": size_in_header,
        "checksum": f"{checksum:016x}",
        "records": nrecords,
        "sections": sections,
        "root_reference": root,
        "header_size": header_size,
    }


def is_mapped(header):
    """Whether read_header's facts are format 2's (FROSTMAP), whatever the version field."""
    return header["magic"] == MAGIC_V2.decode()


def _header_v2(head, file_size):
    (_, version, header_size, image_size, root, hash_key, body_checksum, header_checksum,
     store_id, nnodes, flags) = _HEADER_V2.unpack(head)
    return {
        "magic": MAGIC_V2.decode(),
        "format_version": version,
        "file_size": file_size,
        "image_size": image_size,
        "header_size": header_size,
        "root_reference": root,
        "body_checksum": f"{body_checksum:016x}",
        "header_checksum": f"{header_checksum:016x}",
        "store_id": store_id.hex(),
        "nodes": nnodes,
        "flags": flags,
    }
