"""Chunking: streaming cuts equal whole-buffer cuts, and edits keep dedup."""

import io
import random

import pyfastcdc
from hypothesis import example, given, settings
from hypothesis import strategies as st

from artstore.config import DEFAULT_CHUNKING
from artstore.ingest import iter_blocks


def small_cdc():
    return pyfastcdc.FastCDC(256, min_size=64, max_size=1024)


@given(st.binary(max_size=20000), st.integers(min_value=1, max_value=3000),
       st.none() | st.integers(min_value=0, max_value=25000))
def test_block_reader_cuts_like_whole_buffer(data, block, size_hint):
    """Whatever the block size and however wrong the size hint (a file that grew or shrank)."""
    cdc = small_cdc()
    expected = [bytes(c.data) for c in cdc.cut_buf(data)]
    blocks, got = [], []
    previous = None
    for view, cuts in iter_blocks(io.BytesIO(data), cdc, block_size=block, size_hint=size_hint):
        blocks.append(bytes(view))
        got += [bytes(view[offset:offset + length]) for offset, length in cuts]
        assert [o for o, _ in cuts] == [sum(n for _, n in cuts[:i]) for i in range(len(cuts))]
        assert sum(n for _, n in cuts) == len(view), "a block is exactly its chunks"
        if previous is not None:
            # The block before stays intact while this one is produced (it may be hashed
            # on another thread meanwhile).
            assert bytes(previous[0]) == previous[1]
        previous = (view, bytes(view))
    assert got == expected
    assert b"".join(blocks) == data, "every byte once, in order"


def _chunk_ids(data):
    cdc = pyfastcdc.FastCDC(
        DEFAULT_CHUNKING["avg_size"], min_size=DEFAULT_CHUNKING["min_size"], max_size=DEFAULT_CHUNKING["max_size"]
    )
    return [bytes(view[o:o + n]) for view, cuts in iter_blocks(io.BytesIO(data), cdc) for o, n in cuts]


# Derandomized: how far a resync runs is a matter of chance (each cut that falls inside the
# next old chunk's minimum-size window carries it on), so a random draw could fail CI on a
# rare long run; the same 15 draws each time, and the cascades found so far as examples.
@settings(max_examples=15, deadline=None, derandomize=True)
@example(seed=89773, kind="insert", where=0.421875, length=136)  # 5 new chunks, 322 KB: a resync cascade
@example(seed=286, kind="insert", where=0.421875, length=2457)  # 9 new chunks, 522 KB
@given(
    st.integers(min_value=0, max_value=2**32),
    st.sampled_from(["insert", "delete", "overwrite"]),
    st.floats(min_value=0, max_value=1),
    st.integers(min_value=1, max_value=4096),
)
def test_an_edit_changes_a_bounded_number_of_chunks(seed, kind, where, length):
    rng = random.Random(seed)
    data = rng.randbytes(4 << 20)
    pos = int(where * (len(data) - length))
    if kind == "insert":
        edited = data[:pos] + rng.randbytes(length) + data[pos:]
    elif kind == "delete":
        edited = data[:pos] + data[pos + length:]
    else:
        edited = data[:pos] + rng.randbytes(length) + data[pos + length:]
    before = set(_chunk_ids(data))
    new = [c for c in _chunk_ids(edited) if c not in before]
    # A local edit disturbs the chunk it lands in and a few after it: the first new cut can
    # fall inside the next old chunk's minimum-size window, so resynchronising may take
    # several chunks (hypothesis found 5, then 9: a count of chunks has no useful bound).
    # What dedup loses is bytes, and they stay within three maximum chunks of the edit.
    assert sum(map(len, new)) <= length + 3 * DEFAULT_CHUNKING["max_size"]
