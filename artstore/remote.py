"""Remote references through fsspec: list a prefix, pin each object's identity, read
exactly that object later (or fail loudly if it changed).

s3fs and gcsfs are optional (extras ``s3`` and ``gcs``) and imported on first use.
Credentials and endpoints come from the backends' usual environment (AWS_* including
AWS_ENDPOINT_URL, STORAGE_EMULATOR_HOST, GOOGLE_APPLICATION_CREDENTIALS) and from
``[remote "s3"]`` / ``[remote "gs"]`` sections of the store config.
"""

import base64
import os
import posixpath
from urllib.parse import urlsplit

from .errors import IntegrityError, InvalidInput, NotFound, RemoteUnavailable

SYNCABLE = {"s3", "gs", "gcs", "file"}
_EXTRA = {"s3": ("s3fs", "s3"), "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs")}
READ_BLOCK = 8 << 20

# Seconds a request to S3 or GCS may wait for the endpoint to connect or to answer before
# it is made again ("timeout" in a [remote "s3"] / [remote "gs"] section). These bound the
# time between bytes, never a transfer's length: a 64 MiB pack on a slow link takes as
# long as it takes. With the tries below, an endpoint that accepts connections and never
# answers is given up (exit 7) after about 4 x 10 s on S3 and 6 x 10 s plus gcsfs's own
# back-off (~33 s) on GCS, instead of the 7.5 minutes s3fs's and botocore's retries
# multiplied to (5 x 3 x 30 s).
ANSWER_TIMEOUT = 10
S3_TRIES = 2  # s3fs's own loop, each a botocore call of 2 attempts (max_attempts 1 retry)


# Keyword arguments filesystem() gives s3fs / gcsfs itself. Given again in a [remote ...]
# section they were a TypeError ("got multiple values", exit 1), or a timeout of text
# that aiohttp could not compare (exit 7, "check the network"): refused, exit 5.
_SET_HERE = {
    "s3": {"skip_instance_cache", "use_listings_cache", "client_kwargs", "config_kwargs"},
    "gs": {"version_aware", "skip_instance_cache", "use_listings_cache", "requests_timeout"},
}
_SET_HERE["gcs"] = _SET_HERE["gs"]


class RemoteObject:
    """One listed object: its URI, its path under the listed prefix, size and identity."""

    def __init__(self, uri, relative, size, identity):
        self.uri = uri
        self.relative = relative
        self.size = size
        self.identity = identity


def scheme_of(uri):
    return urlsplit(uri).scheme.lower() if "://" in uri else ""


def is_uri(value):
    return isinstance(value, str) and "://" in value and bool(scheme_of(value))


def _strip(uri):
    """fsspec's path for a URI: bucket/key for buckets, the local path for file://: all
    that follows "scheme://", as fsspec strips it. Not a URL parse: the URI of a listed
    object is its prefix's and its key joined, and keys and file names may hold '?' and
    '#' ('s3://b/pre/a#1.txt' parsed as a URL is 'b/pre/a', another object, and a fetch
    of it said the object "changed since it was logged")."""
    rest = uri.split("://", 1)[1]
    if scheme_of(uri) == "file":
        return rest[len("localhost"):] if rest.startswith("localhost/") else rest
    return rest.rstrip("/")


def filesystem(scheme, options=None):
    """A fresh fsspec filesystem for ``scheme`` (no cached listings: drift must be seen)."""
    options = dict(options or {})
    timeout = _timeout(options.pop("timeout", ANSWER_TIMEOUT), scheme) if scheme != "file" else None
    taken = sorted(set(options) & _SET_HERE.get(scheme, set()))
    if taken:
        section = "gs" if scheme == "gcs" else scheme
        raise InvalidInput(f'{taken[0]} in [remote "{section}"] of the store config is set by artstore; remove it '
                           "(the option 'timeout' sets how long a request waits)")
    if scheme in _EXTRA:
        module = _EXTRA[scheme][0]
        try:
            if module == "gcsfs":
                # Without this, every bucket lookup stalls on a gRPC probe of the real service.
                os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
            fs_module = __import__(module)
        except ImportError:
            raise InvalidInput(_needs_extra(scheme)) from None
        fs_class = fs_module.S3FileSystem if scheme == "s3" else fs_module.GCSFileSystem
        options = _typed_options("gs" if scheme == "gcs" else scheme, fs_class, options)
    if scheme == "s3":
        endpoint = options.pop("endpoint_url", None) or os.environ.get("AWS_ENDPOINT_URL")
        client_kwargs = {"endpoint_url": endpoint} if endpoint else {}
        # References pin object versions; a store remote (sync/) has no use for them, and a
        # versioned listing costs more (on moto, 8x for a folder of large packs).
        versions = options.pop("version_aware", True)
        config = {"connect_timeout": timeout, "read_timeout": timeout, "retries": {"max_attempts": 1}}
        factory = _stall_bounded_sockets(timeout)
        if factory is not None and _aiobotocore_takes_socket_factory():  # it makes aiohttp's connector with it
            config["connector_args"] = {"socket_factory": factory}
        fs = fs_module.S3FileSystem(
            version_aware=versions, skip_instance_cache=True, use_listings_cache=False,
            client_kwargs=client_kwargs, config_kwargs=config, **options,
        )
        fs.retries = S3_TRIES
        return fs
    if scheme in ("gs", "gcs"):
        if "token" not in options and os.environ.get("STORAGE_EMULATOR_HOST") and not os.environ.get(
            "GOOGLE_APPLICATION_CREDENTIALS"
        ):
            options["token"] = "anon"
        if os.environ.get("STORAGE_EMULATOR_HOST") and "endpoint_url" not in options:
            options["endpoint_url"] = os.environ["STORAGE_EMULATOR_HOST"]
        # A bounded wait for an answer, not for a whole request: gcsfs hands a number to
        # aiohttp as the limit of the request's total time, upload included, and does not
        # retry when it runs out, so a 50 MiB upload part failed on a link slower than
        # 14 Mbit/s. aiohttp starts the read timeout once the body is sent.
        import aiohttp

        options["requests_timeout"] = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        # gcsfs logs a request out of retries with its traceback; with no handler anywhere,
        # Python's last resort printed it on stderr above the command's one-line error.
        # Records still reach the handlers an application configures.
        import logging

        logger = logging.getLogger("gcsfs")
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())
        # No listings cache, as for S3: gcsfs otherwise answers a listing, and an info of
        # anything under a folder it has listed, from that listing, so a ref or folder made
        # since (by this process or a teammate's) was not there for a pull or a CAS retry.
        return _stall_bounded(fs_module, timeout, version_aware=True, skip_instance_cache=True,
                              use_listings_cache=False, **options)
    if scheme == "file":
        import fsspec

        return fsspec.filesystem("file", skip_instance_cache=True)
    raise InvalidInput(f"artstore cannot sync {scheme}:// references; log it with sync off")


# Options a config section gives s3fs / gcsfs through keyword arguments their __init__
# does not name (s3fs hands its other keywords to aiobotocore's session).
_PASSED_ON = {"s3": {"profile"}, "gs": set()}
# Named options that take Python objects, not text: a config file cannot give them.
_NOT_TEXT = {"session", "loop", "asynchronous", "s3_additional_kwargs", "session_kwargs", "client_kwargs",
             "config_kwargs"}


def _typed_options(section, fs_class, options):
    """The options of a [remote "s3"] / [remote "gs"] section as the filesystem class takes
    them. A config file gives every value as text, and s3fs took ``anon = false`` or
    ``use_ssl = false`` as true (a non-empty string): an option whose default is a bool or
    a number is parsed as one. A name the class does not take was passed on and ignored
    (a typo of ``endpoint_url`` sent requests to AWS): it is refused, naming the section."""
    import configparser
    import inspect

    named = {}
    for klass in fs_class.__mro__:
        init = vars(klass).get("__init__")
        if init is None or klass is object:
            continue
        for name, param in inspect.signature(init).parameters.items():
            if name != "self" and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                named.setdefault(name, param.default)
    where = f'[remote "{section}"] of the store config'
    out = {}
    for name, value in options.items():
        if not isinstance(value, str):  # given by artstore itself, already typed
            out[name] = value
            continue
        if name in _NOT_TEXT:
            raise InvalidInput(f"{name} in {where} cannot be given in a config file; remove it")
        if name not in named and name not in _PASSED_ON[section]:
            known = sorted(set(named) - _NOT_TEXT - _SET_HERE[section] - {"timeout"} | _PASSED_ON[section])
            raise InvalidInput(f"unknown option {name!r} in {where}; it takes timeout, {', '.join(known)}")
        default = named.get(name)
        text = value.strip()
        if isinstance(default, bool):
            flag = configparser.ConfigParser.BOOLEAN_STATES.get(text.lower())
            if flag is None:
                raise InvalidInput(f"{name} in {where} is {value!r}; give true or false")
            out[name] = flag
        elif isinstance(default, (int, float)):
            try:
                out[name] = type(default)(text)
            except ValueError:
                raise InvalidInput(f"{name} in {where} is {value!r}; give a number") from None
        else:
            out[name] = value
    return out


def _stall_bounded_sockets(seconds):
    """A socket factory for aiohttp (under s3fs and gcsfs) whose connections give up a
    send the peer has not acknowledged for ``seconds`` (TCP_USER_TIMEOUT; None where
    there is none, off Linux). aiohttp bounds no write, and starts sock_read only once a
    body is sent: an upload to an endpoint that stopped taking it (a hung proxy, a link
    gone dead mid-push) waited for ever on S3 and GCS alike, never exit 7."""
    import inspect
    import socket

    import aiohttp

    # aiohttp takes a socket factory from 3.12; s3fs and gcsfs accept older ones (their
    # connections then keep the stall unbounded rather than fail with a TypeError).
    if not hasattr(socket, "TCP_USER_TIMEOUT") or \
            "socket_factory" not in inspect.signature(aiohttp.TCPConnector.__init__).parameters:
        return None

    def new_socket(addr_info):
        family, type_, proto, _name, _address = addr_info
        sock = socket.socket(family=family, type=type_, proto=proto)
        if family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, max(1, int(seconds * 1000)))
        return sock

    return new_socket


_stall_bounded_class = None  # made once, on the first GCS filesystem (gcsfs is imported then)


def _stall_bounded(gcsfs, seconds, **kwargs):
    """A GCSFileSystem whose aiohttp session has _stall_bounded_sockets. gcsfs takes no
    socket factory: its connector is made here, when gcsfs makes its session (a connector
    needs the running loop). A store that gives its own connector, or uses a client
    certificate (gcsfs makes the connector then), keeps gcsfs's."""
    global _stall_bounded_class
    factory = _stall_bounded_sockets(seconds)
    if factory is None:
        return gcsfs.GCSFileSystem(**kwargs)
    if _stall_bounded_class is None:

        class StallBounded(gcsfs.GCSFileSystem):
            async def _set_session(self):
                made = getattr(self, "_artstore_socket_factory", None)
                # (getattr: gcsfs releases before client certificates have no such attribute)
                if made is None or self._session is not None or "connector" in self.session_kwargs \
                        or getattr(self, "_use_client_cert", False):
                    return await super()._set_session()
                import aiohttp

                given = self.session_kwargs
                self.session_kwargs = {**given, "connector": aiohttp.TCPConnector(socket_factory=made)}
                try:  # the session owns the connector and closes it
                    return await super()._set_session()
                finally:
                    self.session_kwargs = given

        _stall_bounded_class = StallBounded
    fs = _stall_bounded_class(**kwargs)
    fs._artstore_socket_factory = factory  # read when the first request makes the session
    return fs


def _aiobotocore_takes_socket_factory():
    """Whether this aiobotocore passes a socket factory on to aiohttp (2.22 and later):
    an older one refuses the unknown connector argument, and S3 would not work at all."""
    from aiobotocore.config import AioConfig

    try:
        AioConfig(connector_args={"socket_factory": None})
    except Exception:  # botocore's ParamValidationError, by its own name
        return False
    return True


def missing_extra(url):
    """What to install for ``url``'s scheme when its package is missing here, else None.
    Looked up without importing it (gcsfs alone takes a second to import)."""
    scheme = scheme_of(url) if is_uri(url) else "file"
    if scheme not in _EXTRA:
        return None
    import importlib.util

    try:
        found = importlib.util.find_spec(_EXTRA[scheme][0]) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, a broken package
        found = False
    return None if found else _needs_extra(scheme)


def _needs_extra(scheme):
    extra = _EXTRA[scheme][1]
    return f"{scheme}:// URLs need the '{extra}' extra: pip install 'artstore[{extra}]'"


def _timeout(value, scheme):
    """The ``timeout`` option (seconds; a config file gives it as text). The error names
    the section to fix: a store may have both an s3 and a gs section."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = None
    if seconds is None or not 0 < seconds <= 3600:
        section = "gs" if scheme == "gcs" else scheme
        raise InvalidInput(f'timeout {value!r} in [remote "{section}"] of the store config must be a number of '
                           "seconds, above 0 and at most 3600")
    return seconds


def _unavailable(uri, exc):
    """Map a backend's exception to the ArtstoreError a user can act on."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    lowered = text.lower()
    bucket_missing = "nosuchbucket" in lowered or (
        "bucket" in lowered and ("not exist" in lowered or "not found" in lowered)
    )
    if not bucket_missing and (isinstance(exc, FileNotFoundError) or "nosuchkey" in lowered):
        return NotFound(f"{uri} does not exist ({text})")
    if bucket_missing:
        return RemoteUnavailable(f"the bucket of {uri} does not exist ({text}); check the URI")
    # s3fs and gcsfs name a 401/403 PermissionError; its text is the service's own (a HEAD's
    # bare "Forbidden", a GetObject's or a listing's "Access Denied" or "The AWS Access Key
    # Id you provided does not exist in our records"), so the type decides, not the words
    # (on a bucket: a local file's PermissionError is no matter of credentials).
    refused = isinstance(exc, PermissionError) and scheme_of(uri) in ("s3", "gs", "gcs")
    if (refused or "credential" in lowered or "accessdenied" in lowered
            or "access denied" in lowered or "forbidden" in lowered or "403" in lowered):
        return RemoteUnavailable(f"access to {uri} was refused ({text}); check the credentials")
    return RemoteUnavailable(f"cannot reach {uri} ({text}); check the endpoint and the network")


def identity_of(scheme, info):
    """What pins one object: S3 ETag + VersionId, GCS md5/crc32c + generation, file size + mtime."""
    if scheme == "s3":
        version = info.get("VersionId")
        return {"etag": (info.get("ETag") or "").strip('"') or None,
                "version_id": version if version and version != "null" else None}
    if scheme in ("gs", "gcs"):
        generation = info.get("generation")
        return {"md5": info.get("md5Hash"), "crc32c": info.get("crc32c"),
                "generation": str(generation) if generation else None}
    mtime = info.get("mtime")
    return {"mtime_ns": int(mtime * 1e9) if isinstance(mtime, (int, float)) else None}


def _bucket_exists(fs, path):
    bucket = path.split("/", 1)[0]
    try:
        return fs.exists(bucket)
    except Exception:  # noqa: BLE001 - any failure here means we cannot say it exists
        return False


def list_objects(uri, max_objects, options=None):
    """RemoteObjects under ``uri`` (a prefix or one object), or None if there are more
    than ``max_objects``. Raises NotFound if nothing is there."""
    scheme = scheme_of(uri)
    fs = filesystem(scheme, options)
    path = _strip(uri)
    try:
        try:
            info = fs.info(path)
        except FileNotFoundError:
            info = None
        if info is not None and info.get("type") == "file":
            return [RemoteObject(uri, posixpath.basename(path), info.get("size") or 0, identity_of(scheme, info))]
        try:
            found = fs.find(path, detail=True)
        except FileNotFoundError:  # gcsfs, listing a bucket that does not exist
            found = {}
    except (NotFound, InvalidInput):
        raise
    except Exception as exc:  # backends raise many kinds; each becomes one clear line
        raise _unavailable(uri, exc) from None
    if not found:
        if scheme != "file" and not _bucket_exists(fs, path):
            raise RemoteUnavailable(f"the bucket of {uri} does not exist or cannot be reached; check the URI")
        raise NotFound(f"nothing exists at {uri}; check the URI")
    if len(found) > max_objects:
        return None
    base = uri.rstrip("/")
    out = []
    for name, info in sorted(found.items()):
        if info.get("type") != "file":
            continue
        rel = name[len(path):].lstrip("/")
        out.append(RemoteObject(f"{base}/{rel}", rel, info.get("size") or 0, identity_of(scheme, info)))
    return out


def _check_current(fs, scheme, uri, path, identity, size):
    """Raise IntegrityError if the object at ``uri`` is no longer the recorded one."""
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise IntegrityError(f"{uri} was deleted since it was logged") from None
    now = identity_of(scheme, info)
    changed = (info.get("size") or 0) != size or any(
        identity.get(k) is not None and now.get(k) != identity.get(k) for k in identity
    )
    if changed:
        raise IntegrityError(f"{uri} changed since it was logged (was {identity}, now {now})")


def open_exact(uri, identity, size, options=None):
    """A binary file object reading exactly the recorded object, else IntegrityError."""
    scheme = scheme_of(uri)
    fs = filesystem(scheme, options)
    path = _strip(uri)
    try:
        if scheme == "s3" and identity.get("version_id"):
            try:
                return fs.open(path, "rb", version_id=identity["version_id"])
            except FileNotFoundError:
                raise IntegrityError(f"{uri}: version {identity['version_id']} no longer exists") from None
        if scheme in ("gs", "gcs") and identity.get("generation"):
            try:
                _check_current(fs, scheme, uri, path, identity, size)
                return fs.open(path, "rb")
            except IntegrityError:
                # The live object changed; an older generation is still readable when the
                # bucket keeps versions.
                try:
                    return fs.open(f"{path}#{identity['generation']}", "rb")
                except FileNotFoundError:
                    raise IntegrityError(
                        f"{uri} changed or was deleted since it was logged and generation "
                        f"{identity['generation']} is not kept"
                    ) from None
        _check_current(fs, scheme, uri, path, identity, size)
        return fs.open(path, "rb")
    except (IntegrityError, NotFound, InvalidInput):
        raise
    except Exception as exc:
        raise _unavailable(uri, exc) from None


class VerifiedReader:
    """Reads a pinned object and checks size and content digest (md5 where the backend
    records one) once the end is reached."""

    def __init__(self, uri, identity, size, options=None):
        self.uri = uri
        self.identity = identity
        self.size = size
        self._f = open_exact(uri, identity, size, options)
        import hashlib  # loads OpenSSL (10 ms at start-up otherwise): only when an object is read

        self._md5 = hashlib.md5(usedforsecurity=False)
        self._read = 0

    def readinto(self, view):
        try:
            data = self._f.read(len(view))
        except Exception as exc:
            raise _unavailable(self.uri, exc) from None
        n = len(data)
        view[:n] = data
        self._md5.update(data)
        self._read += n
        if n == 0:
            self._finish()
        return n

    def _finish(self):
        if self._read != self.size:
            raise IntegrityError(f"{self.uri} changed: {self._read} bytes read, {self.size} recorded")
        expected = _expected_md5(self.identity)
        if expected is not None and self._md5.digest() != expected:
            raise IntegrityError(f"{self.uri} changed: its content does not match the recorded checksum")

    def close(self):
        self._f.close()


def _expected_md5(identity):
    if identity.get("md5"):
        return base64.b64decode(identity["md5"])
    etag = identity.get("etag")
    if etag and "-" not in etag and len(etag) == 32:  # a multipart ETag is not an md5
        return bytes.fromhex(etag)
    return None


def check(uri, identity, size, options=None):
    """None if the recorded object is still the one at ``uri``, else the problem text."""
    scheme = scheme_of(uri)
    try:
        fs = filesystem(scheme, options)
        path = _strip(uri)
        if scheme == "s3" and identity.get("version_id"):
            try:
                info = fs.info(path, version_id=identity["version_id"])
            except FileNotFoundError:
                return f"{uri}: version {identity['version_id']} was deleted"
            if (info.get("size") or 0) != size:
                return f"{uri}: version {identity['version_id']} has a different size"
            return None
        _check_current(fs, scheme, uri, path, identity, size)
    except IntegrityError as exc:
        return str(exc)
    except (NotFound, InvalidInput):
        raise
    except Exception as exc:
        raise _unavailable(uri, exc) from None
    return None
