/* Small files read and hashed with the GIL released: see artstore/readahead.py.
 *
 * read_small(paths, stats) -> (list of bytes or None, bytes of 32-byte BLAKE3 digests)
 *
 * stats[i] is the walk's (size, mtime_ns, ctime_ns, inode, device) of paths[i]. A file
 * is read only if it is a regular file of that size, mtime, inode and device when opened,
 * read whole in one read, and unchanged (size, mtime, ctime, link count, inode, device)
 * and still linked after the read: the checks of artstore.ingest._check_read. Any other
 * file gives None (its digest slot is zeros), and the caller reads it itself, which
 * raises the error that applies or reads the file as it now is. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "_blake3/blake3.h"

typedef struct {
    const char *path;
    long long size, mtime_sec, mtime_nsec;
    unsigned long long ino, dev;
    PyObject *buf; /* size + 1 bytes: a file that grew fills the last one */
    int ok;
} item_t;

/* The time as seconds and nanoseconds, compared field by field: a time past 2262 (a
 * touch -d 2300) does not fit in nanoseconds in 64 bits. */
static int same_time(struct timespec a, struct timespec b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

/* *v = the int o, for a field of the walk's stat: 1 if it fits, 0 if it does not (the file
 * is then left to the caller: a stat that Python holds as a larger int), -1 on an error. */
static int as_field(PyObject *o, long long *v, int is_unsigned) {
    if (is_unsigned) {
        if (!PyLong_Check(o)) {
            PyErr_SetString(PyExc_TypeError, "an inode or device is not an int");
            return -1;
        }
        unsigned long long u = PyLong_AsUnsignedLongLong(o);
        if (u == (unsigned long long)-1 && PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_OverflowError)) return -1;
            PyErr_Clear();
            return 0;
        }
        *v = (long long)u;
        return 1;
    }
    int overflow;
    *v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (*v == -1 && PyErr_Occurred()) return -1;
    return overflow == 0;
}

static int read_one(item_t *it, uint8_t *digest) {
    int fd;
    do {
        fd = open(it->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return 0;
    struct stat o, a;
    int ok = 0;
    ssize_t r;
    if (fstat(fd, &o) != 0 || !S_ISREG(o.st_mode)) goto done;
    if (o.st_size != it->size || o.st_mtim.tv_sec != it->mtime_sec || o.st_mtim.tv_nsec != it->mtime_nsec ||
        (unsigned long long)o.st_ino != it->ino || (unsigned long long)o.st_dev != it->dev)
        goto done;
    do {
        r = read(fd, PyBytes_AS_STRING(it->buf), (size_t)it->size + 1);
    } while (r < 0 && errno == EINTR);
    if (r != it->size) goto done;
    if (fstat(fd, &a) != 0 || a.st_nlink == 0) goto done;
    if (a.st_size != o.st_size || !same_time(a.st_mtim, o.st_mtim) || !same_time(a.st_ctim, o.st_ctim) ||
        a.st_nlink != o.st_nlink || a.st_ino != o.st_ino || a.st_dev != o.st_dev)
        goto done;
    blake3_hasher hasher;
    blake3_hasher_init(&hasher);
    blake3_hasher_update(&hasher, PyBytes_AS_STRING(it->buf), (size_t)it->size);
    blake3_hasher_finalize(&hasher, digest, BLAKE3_OUT_LEN);
    ok = 1;
done:
    close(fd);
    return ok;
}

static PyObject *read_small(PyObject *self, PyObject *args) {
    PyObject *path_list, *stat_list, *paths = NULL, *stats = NULL, *encoded = NULL, *datas = NULL,
             *digests = NULL, *result = NULL;
    item_t *items = NULL;
    Py_ssize_t n = 0;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &path_list, &PyList_Type, &stat_list)) return NULL;
    /* Tuples of the lists' items: an __fspath__ or __index__ called below could change the
     * lists (and free items borrowed from them), not these. */
    if (!(paths = PyList_AsTuple(path_list)) || !(stats = PyList_AsTuple(stat_list))) goto fail;
    n = PyTuple_GET_SIZE(paths);
    if (PyTuple_GET_SIZE(stats) != n) {
        PyErr_SetString(PyExc_ValueError, "paths and stats differ in length");
        n = 0;
        goto fail;
    }
    items = PyMem_Calloc(n ? n : 1, sizeof(item_t));
    if (!items) {
        n = 0;
        PyErr_NoMemory();
        goto fail;
    }
    /* The encoded paths are kept alive here: the loop reads them without the GIL. */
    if (!(encoded = PyList_New(n))) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *p = NULL, *st = PyTuple_GET_ITEM(stats, i);
        if (!PyUnicode_FSConverter(PyTuple_GET_ITEM(paths, i), &p)) goto fail;
        PyList_SET_ITEM(encoded, i, p);
        items[i].path = PyBytes_AS_STRING(p);
        if (!PyTuple_Check(st) || PyTuple_GET_SIZE(st) < 5) {
            PyErr_SetString(PyExc_TypeError, "a stat is (size, mtime_ns, ctime_ns, inode, device)");
            goto fail;
        }
        long long mtime_ns;
        int fits = as_field(PyTuple_GET_ITEM(st, 0), &items[i].size, 0), f;
        if (fits < 0) goto fail;
        if (!fits || items[i].size < 0 || items[i].size >= PY_SSIZE_T_MAX / 2) {
            PyErr_SetString(PyExc_ValueError, "a file size out of range");
            goto fail;
        }
        if ((f = as_field(PyTuple_GET_ITEM(st, 1), &mtime_ns, 0)) < 0) goto fail;
        fits &= f;
        if ((f = as_field(PyTuple_GET_ITEM(st, 3), (long long *)&items[i].ino, 1)) < 0) goto fail;
        fits &= f;
        if ((f = as_field(PyTuple_GET_ITEM(st, 4), (long long *)&items[i].dev, 1)) < 0) goto fail;
        fits &= f;
        if (!fits) continue;  /* no buffer: not read, the caller reads it */
        items[i].mtime_sec = mtime_ns / 1000000000LL;
        items[i].mtime_nsec = mtime_ns % 1000000000LL;
        if (items[i].mtime_nsec < 0) {  /* before 1970: tv_nsec is still 0..999999999 */
            items[i].mtime_sec -= 1;
            items[i].mtime_nsec += 1000000000LL;
        }
        if (!(items[i].buf = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)items[i].size + 1))) goto fail;
    }
    if (!(digests = PyBytes_FromStringAndSize(NULL, n * BLAKE3_OUT_LEN))) goto fail;
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(digests);
    memset(out, 0, (size_t)n * BLAKE3_OUT_LEN);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++)
        if (items[i].buf) items[i].ok = read_one(&items[i], out + i * BLAKE3_OUT_LEN);
    Py_END_ALLOW_THREADS
    if (!(datas = PyList_New(n))) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *b = items[i].buf;
        items[i].buf = NULL;
        if (b && items[i].ok && _PyBytes_Resize(&b, (Py_ssize_t)items[i].size) == 0) {
            PyList_SET_ITEM(datas, i, b);  /* _PyBytes_Resize set b to NULL on failure */
        } else {
            Py_XDECREF(b);
            if (PyErr_Occurred()) goto fail;
            PyList_SET_ITEM(datas, i, Py_NewRef(Py_None));
        }
    }
    result = PyTuple_Pack(2, datas, digests);
fail:
    for (Py_ssize_t i = 0; i < n; i++) Py_XDECREF(items[i].buf);
    PyMem_Free(items);
    Py_XDECREF(paths);
    Py_XDECREF(stats);
    Py_XDECREF(encoded);
    Py_XDECREF(datas);
    Py_XDECREF(digests);
    return result;
}

static PyMethodDef methods[] = {
    {"read_small", read_small, METH_VARARGS,
     "read_small(paths, stats) -> (list of bytes or None, concatenated 32-byte BLAKE3 digests)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_readahead", NULL, -1, methods};

PyMODINIT_FUNC PyInit__readahead(void) { return PyModule_Create(&module); }
