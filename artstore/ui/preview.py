"""What a file page shows: the capped head of a file, and how it may be served.

A preview reads at most PREVIEW_BYTES of the file (the first chunks, each hash-checked on
read), never the whole file (mlflow#1077: previews that load 100 MB). Images are shown
inline only for PNG, JPEG, GIF and WebP whose bytes start as those formats do; everything
else, SVG included (it can carry script), is served as a download.
"""

import csv
import io
import json

PREVIEW_BYTES = 64 * 1024
CSV_ROWS = 50
# The raw endpoint serves these inline; their leading bytes must agree with the name.
INLINE_IMAGES = {
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    ".webp": ("image/webp", (b"RIFF",)),
}
_CSV = (".csv", ".tsv")
_JSON = (".json", ".jsonl", ".ndjson")


def extension(path):
    name = path.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def read_head(store, ref, path, cap=PREVIEW_BYTES):
    """(first ``cap`` bytes, truncated) of a stored file."""
    out = bytearray()
    chunks = store.read_asset(ref, path)
    try:
        for chunk in chunks:
            out += chunk[:cap + 1 - len(out)]
            if len(out) > cap:
                break
    finally:
        chunks.close()  # stops reading: the rest of the file is never touched
    return bytes(out[:cap]), len(out) > cap


def image_type(path, head):
    """The inline content type of an image file, or None."""
    known = INLINE_IMAGES.get(extension(path))
    if known is None:
        return None
    content_type, magics = known
    if not any(head.startswith(m) for m in magics):
        return None
    if content_type == "image/webp" and head[8:12] != b"WEBP":
        return None
    return content_type


def as_text(head, truncated):
    """The head as text, or None if it is not UTF-8 text (a cut mid-character at the cap
    is allowed)."""
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if truncated and exc.start >= len(head) - 3:
            return head[:exc.start].decode("utf-8")
        return None


def preview(path, head, truncated):
    """{"kind": "image"|"csv"|"json"|"text"|"binary", ...} for the file page."""
    if image_type(path, head):
        return {"kind": "image"}
    text = as_text(head, truncated)
    if text is None:
        return {"kind": "binary"}
    ext = extension(path)
    if ext in _CSV:
        lines = text.splitlines()
        if truncated and lines:
            lines = lines[:-1]  # the last line may be cut at the cap
        rows = list(csv.reader(io.StringIO("\n".join(lines[:CSV_ROWS + 1])),
                               delimiter="\t" if ext == ".tsv" else ","))
        return {"kind": "csv", "header": rows[0] if rows else [], "rows": rows[1:CSV_ROWS + 1],
                "more_rows": len(lines) > CSV_ROWS + 1 or truncated}
    if ext == ".json" and not truncated:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):
            pass  # shown as it is (RecursionError: "[[[[..." nested deeper than Python recurses)
    return {"kind": "json" if ext in _JSON else "text", "text": text}
