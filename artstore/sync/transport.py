"""Remote storage backends over fsspec: immutable objects written create-only, refs
replaced only by compare-and-swap.

Every backend answers the same five calls (read, read_range, list, put_new, and the ref
pair read_ref / write_ref). A ref's *token* is what the backend compares: the ETag on S3,
the generation on GCS, the BLAKE3 of the bytes on file://.
"""

import os
import threading
import time
import uuid
from urllib.parse import urlsplit

import blake3

from .. import remote as remote_refs
from ..errors import Conflict, InvalidInput, NotFound, RemoteUnavailable

LOCK_STALE_S = 60  # a file:// ref lock older than this was left by a killed process


class Transport:
    """A remote at ``url``. Subclasses set how writes are made conditional."""

    scheme = None

    def __init__(self, url, fs, root):
        self.url = url
        self._fs = fs  # an fsspec filesystem, or a function making one on first use (see fs)
        self._making = threading.Lock()
        self.root = root.rstrip("/")

    @property
    def fs(self):
        """The fsspec filesystem, made on first use: a GCS one looks for credentials when it
        is made (16 s where there are none, the metadata server included), and 'remote
        add', which only checks the URL, waited for it."""
        if callable(self._fs):
            with self._making:  # a push's reading thread and its main one may both ask
                if callable(self._fs):
                    self._fs = self._fs()
        return self._fs

    def path(self, key):
        return f"{self.root}/{key}"

    def why_empty(self):
        """Why the remote holds no format record, for the "no artstore remote" error."""
        return "nothing was pushed there yet"

    def _call(self, what, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (NotFound, Conflict, InvalidInput, FileNotFoundError, FileExistsError):
            raise
        except Exception as exc:  # every backend error: credentials, endpoint, bucket
            raise self._error(what, exc) from None

    def _error(self, what, exc):
        return remote_refs._unavailable(f"{self.url} ({what})", exc)

    def _write(self, key, fn, *args, local=None, **kwargs):
        """``_call`` for a write to a bucket: there a FileNotFoundError (S3's NoSuchBucket,
        GCS's 404 on the upload) means the bucket is missing, which is no local file's
        error (the CLI said "check the disk"), unless it is the ``local`` file sent that
        is gone (or S3 dropped a multipart upload under way)."""
        try:
            return self._call(key, fn, *args, **kwargs)
        except FileNotFoundError as exc:
            if (local is not None and not os.path.exists(local)) or "upload does not exist" in str(exc):
                raise
            raise RemoteUnavailable(f"the bucket of {self.url} does not exist ({type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0][:300] if str(exc) else key}); check the URI") from None

    def _read_ref_by_info(self, key, token_of):
        """(bytes, token) of a ref whose token is in the object's info (S3's ETag, GCS's
        generation), or (None, None). The info is read before the bytes: if the ref changes
        in between, the token is older than the bytes, so a compare-and-swap with it fails
        and the writer re-reads."""
        try:
            info = self._call(key, self.fs.info, self.path(key))
            data = self._call(key, self.fs.cat_file, self.path(key))
        except FileNotFoundError:
            return None, None
        return data, token_of(info)

    def read(self, key):
        """The bytes of an object (FileNotFoundError if absent)."""
        return self._call(key, self.fs.cat_file, self.path(key))

    def read_range(self, key, start, end):
        return self._call(key, self.fs.cat_file, self.path(key), start=start, end=end)

    def list(self, prefix):
        """Names of the objects directly under ``prefix`` (a folder key), [] if none."""
        try:
            entries = self._call(prefix, self.fs.ls, self.path(prefix), detail=False)
        except FileNotFoundError:
            return []
        # fsspec lists an object (not a folder) as itself: a stray file refs/x.json was taken
        # for a workspace, and refs/x.json/x.json then read (exit 4, "Not a directory").
        return sorted(e.rstrip("/").rsplit("/", 1)[-1] for e in entries if not self._is_self(e, prefix))

    def _is_self(self, entry, prefix):
        return entry.rstrip("/") == self.path(prefix).rstrip("/")

    def sizes(self, prefix):
        """{name: size} of the objects directly under ``prefix`` ({} if none)."""
        try:
            entries = self._call(prefix, self.fs.ls, self.path(prefix), detail=True)
        except FileNotFoundError:
            return {}
        return {e["name"].rstrip("/").rsplit("/", 1)[-1]: int(e.get("size") or 0) for e in entries
                if e.get("type") != "directory" and not self._is_self(e["name"], prefix)}

    def exists(self, key):
        return self._call(key, self.fs.exists, self.path(key))

    def put_new(self, key, data):
        """Write an immutable object, create-only. An object already there is left as it
        is (content-addressed: it holds the same bytes); returns whether it was written."""
        try:
            self._write(key, self.fs.pipe_file, self.path(key), data, mode="create")
            return True
        except FileExistsError:
            return False

    def put_new_file(self, key, local_path):
        """Upload a local file as an immutable object whose name is unique (a pack: named
        by the hash of its random header and index), streamed from disk."""
        self._write(key, self.fs.put_file, local_path, self.path(key), local=local_path)

    def delete(self, key):
        """Remove an object (remote gc only); an object already gone is fine."""
        try:
            self._call(key, self.fs.rm_file, self.path(key))
        except FileNotFoundError:
            pass

    def read_ref(self, key):
        """(bytes or None, token) of a mutable ref; token None when the ref does not exist."""
        raise NotImplementedError

    def write_ref(self, key, data, token):
        """Replace a ref only if it still has ``token`` (None: only if it does not exist);
        Conflict if someone changed it since it was read."""
        raise NotImplementedError

    def _stale(self, key):
        return Conflict(f"{self.url}: {key} was changed by someone else meanwhile; pull, then push again")


class FileTransport(Transport):
    """A directory. Create-only by link(2) of a complete temp file; refs under a lock
    file taken with O_EXCL, compared and replaced by rename."""

    scheme = "file"
    # A local folder's own errors: no network is involved, yet "check the endpoint and
    # the network" (exit 7) was the advice for a remote path that is a file or unreadable.
    LOCAL_ERRNOS = ("ENOTDIR", "EISDIR", "EACCES", "EPERM", "ENOSPC", "EDQUOT", "EROFS", "ENAMETOOLONG", "ELOOP")

    def why_empty(self):
        # A configured remote whose folder is gone is most often a share not mounted (or
        # a path mistyped): "nothing was pushed there yet" sent the user looking for a push.
        if not os.path.isdir(self.root):
            return f"the folder {self.root} does not exist; if it is on a share, check that the share is mounted"
        return super().why_empty()

    def _error(self, what, exc):
        import errno

        if isinstance(exc, OSError) and exc.errno is not None and \
                exc.errno in {getattr(errno, name, None) for name in self.LOCAL_ERRNOS}:
            from ..errors import from_os_error

            return from_os_error(exc, f"using remote {self.url} ({what})")
        return super()._error(what, exc)  # a share gone (ESTALE, EIO...): unavailable

    def _full(self, key):
        return os.path.join(self.root, *key.split("/"))

    def put_new(self, key, data):
        full = self._full(key)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        tmp = f"{full}.tmp-{uuid.uuid4().hex}"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, full)  # fails if the name exists: never replaces an object
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)

    def put_new_file(self, key, local_path):
        """Copy a local file in (streamed, not read into memory: several packs of 64 MiB
        upload at once), then link it into place create-only."""
        import shutil

        full = self._full(key)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        tmp = f"{full}.tmp-{uuid.uuid4().hex}"
        try:
            shutil.copyfile(local_path, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            try:
                os.link(tmp, full)
            except FileExistsError:
                pass
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass

    def delete(self, key):
        try:
            os.unlink(self._full(key))
        except FileNotFoundError:
            pass

    def read_ref(self, key):
        try:
            with open(self._full(key), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None, None
        return data, blake3.blake3(data).hexdigest()

    def write_ref(self, key, data, token):
        full = self._full(key)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        lock = full + ".lock"
        deadline = time.monotonic() + 30
        while True:
            try:
                fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                break
            except FileExistsError:
                try:
                    if time.time() - os.path.getmtime(lock) > LOCK_STALE_S:
                        os.unlink(lock)
                        continue
                except FileNotFoundError:
                    continue
                if time.monotonic() > deadline:
                    raise RemoteUnavailable(f"{self.url}: {key} stays locked; retry, or remove {lock}") from None
                time.sleep(0.05)
        try:
            os.close(fd)
            if self.read_ref(key)[1] != token:
                raise self._stale(key)
            tmp = f"{full}.tmp-{uuid.uuid4().hex}"
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, full)
        finally:
            os.unlink(lock)


class S3Transport(Transport):
    """S3: create-only by PutObject IfNoneMatch="*", refs by IfMatch=<ETag>.

    Reads and listings are one request each: s3fs's cat_file first asks an object's size
    (a HEAD, and a LIST as well when the object is missing) and its ls lists the parent
    folder again when a folder is empty, round trips that a push of one version paid
    five times before its first upload."""

    scheme = "s3"
    PAGE = 1000  # keys per listing request (S3's most)

    def _where(self, key):
        """(bucket, object key) of ``key``, exactly. Not s3fs's split_path: it reads
        "?versionId=" in a path as an object version and cuts it off the key, and a ref's
        key holds a workspace and an artifact name, which may hold '?' and '=' (a ref
        "m?versionId=1.json" was written as "m", which a pull never saw)."""
        bucket, _, name = self.path(key).partition("/")
        return bucket, name

    def _get(self, key):
        """(bytes, ETag) of an object by one GetObject: both of the same object version,
        where an info then a read could pair a newer body with an older ETag."""
        from fsspec.asyn import sync

        bucket, name = self._where(key)

        async def get():
            response = await self.fs._call_s3("get_object", Bucket=bucket, Key=name)
            try:
                return await response["Body"].read(), response["ETag"]
            finally:
                response["Body"].close()

        return self._call(key, sync, self.fs.loop, get)

    def read(self, key):
        return self._get(key)[0]

    def read_ref(self, key):
        try:
            return self._get(key)
        except FileNotFoundError:
            return None, None

    def _listing(self, prefix):
        """({name: size} of the objects, [names of the folders]) directly under ``prefix``,
        a page of up to 1,000 per request."""
        bucket, key = self._where(prefix)
        folder = key.rstrip("/") + "/"
        request = {"Bucket": bucket, "Prefix": folder, "Delimiter": "/", "MaxKeys": self.PAGE}
        sizes, folders = {}, []
        while True:
            try:
                page = self._call(prefix, self.fs.call_s3, "list_objects_v2", **request)
            except FileNotFoundError:  # no such bucket: nothing there
                return {}, []
            for item in page.get("Contents", []):
                if item["Key"] != folder:
                    sizes[item["Key"][len(folder):]] = int(item.get("Size") or 0)
            folders += [p["Prefix"][len(folder):].rstrip("/") for p in page.get("CommonPrefixes", [])]
            if not page.get("IsTruncated"):
                return sizes, folders
            request["ContinuationToken"] = page["NextContinuationToken"]

    def list(self, prefix):
        sizes, folders = self._listing(prefix)
        return sorted(set(sizes) | set(folders))

    def sizes(self, prefix):
        return self._listing(prefix)[0]

    def write_ref(self, key, data, token):
        match = {"IfNoneMatch": "*"} if token is None else {"IfMatch": token}
        try:
            self._write(key, self._put_ref, key, data, match)
        except FileExistsError:  # s3fs's name for 412 PreconditionFailed
            raise self._stale(key) from None

    def _put_ref(self, key, data, match):
        bucket, name = self._where(key)
        try:
            return self.fs.call_s3("put_object", Bucket=bucket, Key=name, Body=data, **match)
        except OSError as exc:
            # s3fs names a 412 FileExistsError on some paths and a plain OSError (EINVAL,
            # "At least one of the pre-conditions you specified did not hold") on others:
            # seen when two pushes move one alias at once. Either way the ref moved.
            if not isinstance(exc, FileExistsError) and "pre-conditions you specified did not hold" in str(exc):
                raise FileExistsError(str(exc)) from None
            raise


class GCSTransport(Transport):
    """GCS: create-only and refs by ifGenerationMatch (0 to create), on multipart uploads
    (the only upload the emulator checks the precondition on)."""

    scheme = "gs"

    def read_ref(self, key):
        return self._read_ref_by_info(key, lambda info: str(info["generation"]))

    def write_ref(self, key, data, token):
        import json
        from urllib.parse import quote

        bucket, name, _ = self.fs.split_path(self.path(key))
        meta = json.dumps({"name": name})
        body = (f"--==0==\nContent-Type: application/json; charset=UTF-8\n\n{meta}\n--==0==\n"
                "Content-Type: application/octet-stream\n\n").encode() + data + b"\n--==0==--"
        try:
            self._write(key, self.fs.call, "POST", f"{self.fs._location}/upload/storage/v1/b/{quote(bucket)}/o",
                       uploadType="multipart", ifGenerationMatch=token or "0",
                       headers={"Content-Type": 'multipart/related; boundary="==0=="'}, data=body,
                       json_out=True)
        except FileExistsError:  # gcsfs's name for 412 conditionNotMet
            raise self._stale(key) from None


def open_remote(url, options=None):
    """The Transport for a remote URL: file:///path or a plain path, s3://bucket/prefix,
    gs://bucket/prefix."""
    if not isinstance(url, str) or not url:
        raise InvalidInput("a remote needs a URL: file:///path, s3://bucket/prefix or gs://bucket/prefix")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("", "file"):
        path = parts.path if scheme else url
        if scheme == "file" and parts.netloc not in ("", "localhost"):
            raise InvalidInput(f"{url}: file:// URLs name a local path (file:///path)")
        if scheme == "file" and (parts.query or parts.fragment or url.endswith(("?", "#"))):
            # As for buckets: the tail after '?' or '#' was cut off silently and the push
            # went to the folder before it. A plain path takes any character.
            raise InvalidInput(f"{url}: a file:// URL holds no '?' or '#'; give the folder as a plain path")
        root = os.path.abspath(os.path.expanduser(path))
        return FileTransport(f"file://{root}", remote_refs.filesystem("file"), root)
    if scheme in ("s3", "gs", "gcs"):
        if not parts.netloc:
            raise InvalidInput(f"{url} names no bucket; write {scheme}://bucket/prefix")
        if "@" in parts.netloc or parts.query or parts.fragment or url.endswith(("?", "#")):
            # Only 'remote add' refused these: a push, pull, clone, verify or gc given the URL
            # itself sent "key:secret@bucket" to the backend as a bucket name (exit 7, "check
            # the network", the secret echoed on stderr), and a '?...' or '#...' tail was cut
            # off silently, so the objects went to the prefix before it. The URL is not
            # repeated here: it may hold a secret.
            raise InvalidInput(f"a {scheme}:// remote URL holds no credentials, '?' or '#' "
                               "(credentials come from the backend's environment); write "
                               f"{scheme}://bucket/prefix")
        prefix = parts.path[1:].rstrip("/")  # the root drops trailing slashes only
        if prefix and any(seg in ("", ".", "..") for seg in prefix.split("/")):
            # Keys are not paths: "p//q" and "a/../b" are keys of their own on S3, while
            # GCS wrote "p//q" as "p/q" and then listed "p//q" as empty (a push said it
            # sent a version that a clone of the same URL never saw, exit 0).
            raise InvalidInput(f"{url}: a remote prefix has no empty, '.' or '..' parts; write "
                               f"{scheme}://bucket/a/b")
        scheme = "gs" if scheme == "gcs" else scheme
        def make_fs():
            return remote_refs.filesystem(scheme, {**(options or {}), "version_aware": False} if scheme == "s3"
                                          else options)

        root = (parts.netloc + parts.path).rstrip("/")
        return (S3Transport if scheme == "s3" else GCSTransport)(f"{scheme}://{root}", make_fs, root)
    raise InvalidInput(f"artstore cannot use {scheme}:// as a remote; use file://, s3:// or gs://")
