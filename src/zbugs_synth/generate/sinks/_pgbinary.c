/*
 * _pgbinary: rows of the generator's CSV re-encoded as PostgreSQL's binary COPY format.
 *
 * Why: the server parses CSV text (line and quote scanning, then strtod for every timestamp) at
 * about 1.7x the CPU it spends receiving the same rows in binary (bench/bench_copy_format.py:
 * 0.60x for issue and comment). A direct load is CPU-bound on the server, so the client does the
 * cheap part instead: one pass with memchr over the quoted text, numbers parsed once.
 *
 * Why from CSV rather than from the kernel: the CSV bytes are the dataset's definition (the files
 * generate-synthetic writes, the bytes both kernel twins are tested on). Decoding them exactly as
 * COPY ... (FORMAT csv) would keeps "the same rows as loading the CSVs" true by construction,
 * with the kernels untouched.
 *
 * The CSV subset decoded is COPY's CSV with its defaults: delimiter ',', quote and escape '"',
 * NULL the empty unquoted field, rows ended by '\n'. As in PostgreSQL, a quote may open anywhere
 * in a field, a doubled quote inside quotes is one quote, and an empty field is NULL only if no
 * quote was seen. Column kinds ('t' text, 'b' boolean, 'f' float8, 'i' int4) come from the
 * caller (zbugs_synth.generate.sinks.pgbinary, checked against the live catalog by the tests).
 * Non-text values are accepted only in the forms the generator writes (see parse_*); anything
 * else is an error naming the row and field, never a guess.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *src;
    int64_t len, pos;
    uint8_t *dst;
    int64_t cap, out;
    int64_t row, field; /* where an error happened (1-based row, 0-based field) */
    const char *error;
    int full; /* the output has no room for the row being encoded */
    int64_t row_out, row_pos; /* where that row starts, in dst and src */
} Enc;

static inline void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

/* The bytes that end an unquoted run: delimiter, row end, quote, carriage return. */
static const uint8_t special[256] = {[','] = 1, ['\n'] = 1, ['"'] = 1, ['\r'] = 1};

/* Decode one CSV field at e->pos into dst (which has room: the caller checked), ending at ',' or
 * '\n' (the byte is consumed and returned in *end). Returns the decoded length, or -1 for NULL,
 * or -2 on error (e->error set) or when `room` is too small (e->full set). */
static int64_t field(Enc *e, uint8_t *dst, int64_t room, uint8_t *end)
{
    const uint8_t *s = e->src;
    int64_t p = e->pos, n = 0;
    int quoted = 0;
    for (;;) {
        if (p >= e->len) {
            e->error = "the data ends inside a row";
            return -2;
        }
        uint8_t c = s[p];
        if (c == '"') {
            quoted = 1;
            p++;
            for (;;) { /* inside quotes: copy up to the next quote */
                const uint8_t *q = memchr(s + p, '"', (size_t)(e->len - p));
                if (q == NULL) {
                    e->error = "a quoted field is not closed";
                    return -2;
                }
                int64_t k = q - (s + p);
                if (n + k > room) {
                    e->full = 1;
                    return -2;
                }
                memcpy(dst + n, s + p, (size_t)k);
                n += k;
                p += k + 1;
                if (p < e->len && s[p] == '"') { /* a doubled quote: one quote */
                    if (n + 1 > room) {
                        e->full = 1;
                        return -2;
                    }
                    dst[n++] = '"';
                    p++;
                    continue;
                }
                break; /* the closing quote */
            }
            continue;
        }
        if (c == ',' || c == '\n') {
            *end = c;
            e->pos = p + 1;
            return (n == 0 && !quoted) ? -1 : n;
        }
        if (c == '\r') { /* COPY refuses it unquoted when rows end with '\n' */
            e->error = "an unquoted carriage return";
            return -2;
        }
        /* An unquoted run (ids, numbers): find its end, then copy it at once. */
        int64_t q = p + 1;
        while (q < e->len && !special[s[q]])
            q++;
        if (n + (q - p) > room) {
            e->full = 1;
            return -2;
        }
        memcpy(dst + n, s + p, (size_t)(q - p));
        n += q - p;
        p = q;
    }
}

/* Digits only, with an optional '-': the form the kernel writes timestamps in (write_uint). */
static int parse_float8(const uint8_t *t, int64_t n, double *out)
{
    int64_t i = 0;
    int neg = 0;
    if (n > 0 && t[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i < n && n - i <= 18) {
        int64_t v = 0;
        int64_t j = i;
        for (; j < n && t[j] >= '0' && t[j] <= '9'; j++)
            v = v * 10 + (t[j] - '0');
        if (j == n) {
            /* An integer below 10^18 converts exactly when under 2^53, and otherwise rounds to
             * nearest like float8in's strtod; "-0" stays negative zero as strtod keeps it. */
            double d = (double)v;
            *out = neg ? -d : d;
            return 0;
        }
    }
    /* Anything else the way float8in reads it (strtod, correctly rounded), finite values only. */
    char tmp[64];
    if (n == 0 || n >= (int64_t)sizeof tmp || memchr(t, ',', (size_t)n) != NULL)
        return -1; /* a comma: strtod would read it as a decimal point under some LC_NUMERIC, COPY never */
    memcpy(tmp, t, (size_t)n);
    tmp[n] = 0;
    char *endp;
    errno = 0;
    double d = strtod(tmp, &endp);
    if (endp != tmp + n || errno != 0 || d != d || d > 1.7976931348623157e308 || d < -1.7976931348623157e308)
        return -1;
    *out = d;
    return 0;
}

static int parse_int4(const uint8_t *t, int64_t n, int32_t *out)
{
    int64_t i = 0, v = 0;
    int neg = 0;
    if (n > 0 && (t[0] == '-' || t[0] == '+')) {
        neg = t[0] == '-';
        i = 1;
    }
    if (i == n || n - i > 10)
        return -1;
    for (; i < n; i++) {
        if (t[i] < '0' || t[i] > '9')
            return -1;
        v = v * 10 + (t[i] - '0');
    }
    if (neg)
        v = -v;
    if (v < INT32_MIN || v > INT32_MAX)
        return -1;
    *out = (int32_t)v;
    return 0;
}

static int parse_bool(const uint8_t *t, int64_t n, uint8_t *out)
{
    if ((n == 4 && memcmp(t, "true", 4) == 0) || (n == 1 && t[0] == 't')) {
        *out = 1;
        return 0;
    }
    if ((n == 5 && memcmp(t, "false", 5) == 0) || (n == 1 && t[0] == 'f')) {
        *out = 0;
        return 0;
    }
    return -1;
}

/* A non-text value's binary form into out (at most 8 bytes): returns its length, or 0 with *error
 * set when the text is not one the column's type reads the same way. */
static int convert(char kind, const uint8_t *t, int64_t n, uint8_t out[8], const char **error)
{
    if (kind == 'f') {
        double d;
        uint64_t bits;
        if (parse_float8(t, n, &d) != 0) {
            *error = "not a number";
            return 0;
        }
        memcpy(&bits, &d, 8);
        put64(out, bits);
        return 8;
    }
    if (kind == 'i') {
        int32_t v;
        if (parse_int4(t, n, &v) != 0) {
            *error = "not an integer";
            return 0;
        }
        put32(out, (uint32_t)v);
        return 4;
    }
    if (kind == 'b') {
        if (parse_bool(t, n, out) != 0) {
            *error = "not true or false";
            return 0;
        }
        return 1;
    }
    *error = "an unknown column kind";
    return 0;
}

/* Room for n more bytes of output, else the row being encoded does not fit (see encode). */
#define ROOM(n)                        \
    do {                               \
        if (e->cap - e->out < (n)) {   \
            e->full = 1;               \
            return -1;                 \
        }                              \
    } while (0)

/* Encode rows of src until it ends or the output is full; returns the number of rows, or -1 with
 * e->error or e->full set (full: e->out and e->pos are then those of the last whole row). */
static int64_t encode_rows(Enc *e, const char *kinds, int64_t nk, int64_t first_number)
{
    const int16_t nf = (int16_t)(nk + (first_number >= 0 ? 1 : 0));
    uint8_t scratch[64]; /* a non-text field, before conversion */
    while (e->pos < e->len) {
        e->row_out = e->out;
        e->row_pos = e->pos;
        e->row++;
        e->field = 0;
        ROOM(2 + (first_number >= 0 ? 8 : 0));
        put16(e->dst + e->out, (uint16_t)nf);
        e->out += 2;
        if (first_number >= 0) {
            int64_t v = first_number + e->row - 1;
            if (v > INT32_MAX) {
                e->error = "the row number is past the integer range";
                return -1;
            }
            put32(e->dst + e->out, 4);
            put32(e->dst + e->out + 4, (uint32_t)v);
            e->out += 8;
        }
        for (int64_t k = 0; k < nk; k++) {
            e->field = k;
            uint8_t end = 0;
            ROOM(4);
            uint8_t *len_at = e->dst + e->out;
            e->out += 4;
            int64_t n;
            if (kinds[k] == 't') {
                n = field(e, e->dst + e->out, e->cap - e->out, &end);
                if (n == -2)
                    return -1;
                if (n > INT32_MAX) {
                    e->error = "a field is over 2 GB";
                    return -1;
                }
                put32(len_at, n < 0 ? 0xFFFFFFFFu : (uint32_t)n);
                if (n > 0)
                    e->out += n;
            } else {
                n = field(e, scratch, (int64_t)sizeof scratch, &end);
                if (n == -2) {
                    if (e->full) { /* a value longer than any number: not the output's fault */
                        e->full = 0;
                        e->error = "a value too long for its column's type";
                    }
                    return -1;
                }
                if (n < 0) {
                    put32(len_at, 0xFFFFFFFFu);
                } else {
                    uint8_t value[8];
                    const int len = convert(kinds[k], scratch, n, value, &e->error);
                    if (len == 0)
                        return -1;
                    ROOM(len);
                    put32(len_at, (uint32_t)len);
                    memcpy(e->dst + e->out, value, (size_t)len);
                    e->out += len;
                }
            }
            if (end != (k == nk - 1 ? '\n' : ',')) {
                e->error = k == nk - 1 ? "a row has more fields than the table's columns"
                                       : "a row has fewer fields than the table's columns";
                return -1;
            }
        }
    }
    return e->row;
}

/* encode_rows; when the output fills up, the rows before the one that did not fit (e->full stays
 * set: the caller sends them and calls again for the rest). */
static int64_t encode(Enc *e, const char *kinds, int64_t nk, int64_t first_number)
{
    int64_t rows = encode_rows(e, kinds, nk, first_number);
    if (rows < 0 && e->full) {
        e->out = e->row_out;
        e->pos = e->row_pos;
        rows = e->row - 1;
    }
    return rows;
}

/* encode(src, kinds, dst, first_number) -> (bytes written, rows, bytes of src read): as many whole
 * rows as dst has room for (first_number >= 0: each row numbered from it, in a leading int4). */
static PyObject *py_encode(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "encode(src, kinds, dst, first_number)");
        return NULL;
    }
    Py_buffer src, kinds, dst;
    if (PyObject_GetBuffer(args[0], &src, PyBUF_SIMPLE) != 0)
        return NULL;
    if (PyObject_GetBuffer(args[1], &kinds, PyBUF_SIMPLE) != 0) {
        PyBuffer_Release(&src);
        return NULL;
    }
    if (PyObject_GetBuffer(args[2], &dst, PyBUF_WRITABLE) != 0) {
        PyBuffer_Release(&src);
        PyBuffer_Release(&kinds);
        return NULL;
    }
    long long first = PyLong_AsLongLong(args[3]);
    PyObject *result = NULL;
    if (first == -1 && PyErr_Occurred())
        goto done;
    if (first < -1 || first > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "first_number: -1, or an int4 to number the rows from");
        goto done;
    }
    if (kinds.len == 0 || kinds.len > 1000) {
        PyErr_SetString(PyExc_ValueError, "kinds: one letter per column");
        goto done;
    }
    Enc e = {src.buf, src.len, 0, dst.buf, dst.len, 0, 0, 0, NULL, 0, 0, 0};
    int64_t rows;
    Py_BEGIN_ALLOW_THREADS
    rows = encode(&e, kinds.buf, kinds.len, first);
    Py_END_ALLOW_THREADS
    if (rows < 0) {
        PyErr_Format(PyExc_ValueError, "row %lld, field %lld: %s", (long long)e.row, (long long)e.field + 1,
                     e.error);
        goto done;
    }
    result = Py_BuildValue("(LLL)", (long long)e.out, (long long)rows, (long long)e.pos);
done:
    PyBuffer_Release(&src);
    PyBuffer_Release(&kinds);
    PyBuffer_Release(&dst);
    return result;
}

static PyMethodDef methods[] = {
    {"encode", (PyCFunction)(void (*)(void))py_encode, METH_FASTCALL,
     "encode(src, kinds, dst, first_number) -> (bytes written, rows, bytes read): CSV rows as binary COPY tuples"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_pgbinary", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__pgbinary(void)
{
    return PyModule_Create(&module);
}
