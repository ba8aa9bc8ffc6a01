/*
 * _ckernel: the C twin of kernel.py's `generate_range` and `ids_into`.
 *
 * Why C at all: numba costs ~0.8 CPU-s to import and ~0.6 s to initialise LLVM on the first call
 * of a cached function, on every run; this module loads in about a millisecond. `backend.py`
 * picks it when it was built and falls back to numba otherwise.
 *
 * The output must be byte-identical to the numba kernel (tests/generate/test_backends.py), so
 * every function below mirrors its kernel.py namesake statement by statement:
 *   - the same uint64 arithmetic, wrapping by design;
 *   - the same float operations in the same order, built with -ffp-contract=off so the compiler
 *     never fuses a multiply and an add (a fused multiply-add rounds once instead of twice);
 *   - the same libm functions: sqrt is exact under IEEE 754; `log` is the C library's, which
 *     numba's compiled code calls too (numba through its helper library, bound to glibc's older
 *     symbol version; this module to the default one: glibc computes both with the same code for
 *     x > 0, and a test compares them bit for bit rather than assume it).
 *
 * Arrays arrive through the plain buffer protocol, so building needs no NumPy headers. Shapes and
 * dtypes are checked on entry; the contents (piece and token indices) are trusted as built by
 * textpool.compile_pack, exactly as the numba kernel trusts them. The loop runs with the GIL
 * released: the driver calls it from several threads at once, each with its own output buffers.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- the calling convention: must match layout.py (the backend compares the exported sizes) --- */

enum {
    IP_USERS, IP_CREW, IP_T0, IP_SPAN, IP_TITLE_MAX, IP_DESC_MAX, IP_BODY_MAX,
    IP_LABEL_LOW, IP_LABEL_HIGH, IP_ISSUE_BOUND, IP_COMMENT_BOUND, IP_LABEL_BOUND,
    IP_SIZE
};
enum { FP_OPEN, FP_ASSIGNED, FP_PUBLIC, FP_LABEL_P, FP_CREW_ASSIGNEE, FP_SIZE };

/* Streams (rng.py). */
enum {
    S_PROJECT = 1, S_TITLE, S_DESC, S_OPEN, S_CREATED, S_CREATOR, S_ASSIGNED, S_ASSIGNEE,
    S_VISIBILITY, S_NCOMMENTS, S_COMMENT, S_NLABELS, S_LABELS, S_MODIFIED,
    S_TITLE_SLOTS, S_DESC_SLOTS, S_BODY_SLOTS,
    N_STREAMS = 20
};

/* Tables and the id layout (ids.py). */
enum { T_PROJECT = 1, T_LABEL = 2, T_ISSUE = 3, T_COMMENT = 4 };
#define MAGIC 0x2B5ULL
#define ID_LEN 21

/* Token kinds (textpool.py): tok_b < 0 marks a slot filled at run time. */
#define TOK_COMPONENT (-1)

#define DAY_MS 86400000.0

/* ---- rng: every random value is a pure function of (key, counter) (rng.py) --------------------- */

#define GOLDEN 0x9E3779B97F4A7C15ULL

/* SplitMix64's finalizer: a bijection on 64-bit words with good avalanche. */
static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline uint64_t draw(uint64_t k, uint64_t counter)
{
    return mix64(k + (counter + 1) * GOLDEN);
}

/* A double in [0, 1) with 53 random bits (the conversion is exact: the value is below 2**53). */
static inline double uniform(uint64_t k, uint64_t counter)
{
    return (double)(draw(k, counter) >> 11) * (1.0 / 9007199254740992.0);
}

/* An integer in [0, n): Lemire's multiply-shift on the high 32 bits, as kernel.below. */
static inline int64_t below(uint64_t k, uint64_t counter, int64_t n)
{
    uint64_t hi = (draw(k, counter) >> 32) * (uint64_t)n;
    return (int64_t)(hi >> 32);
}

/* ---- ids: a 4-round Feistel permutation of (MAGIC, seed, table, row), in base 64 (ids.py) ------ */

static inline int64_t write_id(uint8_t *out, int64_t pos, uint64_t seed, int64_t table, uint64_t row,
                               const uint64_t *round_keys, int64_t n_rounds, const uint8_t *alphabet)
{
    /* The 126-bit plaintext split into 63-bit halves: high = MAGIC (10) | seed bits 63..11 (53);
     * low = seed bits 10..0 (11) | table (4) | row (48). */
    uint64_t hi = (MAGIC << 53) | (seed >> 11);
    uint64_t lo = ((seed & 0x7FFULL) << 52) | ((uint64_t)table << 48) | row;
    const uint64_t mask63 = 0x7FFFFFFFFFFFFFFFULL;
    for (int64_t r = 0; r < n_rounds; r++) {
        uint64_t f = mix64(lo ^ round_keys[r]) & mask63;
        uint64_t next_lo = hi ^ f;
        hi = lo;
        lo = next_lo;
    }
    /* 126 bits = hi (63) | lo (63): character i holds bits [120 - 6i, 126 - 6i). */
    for (int i = 0; i < ID_LEN; i++) {
        int shift = 120 - 6 * i;
        uint64_t v;
        if (shift >= 63)
            v = (hi >> (shift - 63)) & 63;
        else if (shift + 6 <= 63)
            v = (lo >> shift) & 63;
        else /* straddles the halves */
            v = ((hi << (63 - shift)) | (lo >> shift)) & 63;
        out[pos + i] = alphabet[v];
    }
    return pos + ID_LEN;
}

/* ---- byte writers ------------------------------------------------------------------------------ */

/* An exact copy. (The numba kernel copies 16-byte blocks that may spill past a piece, which the
 * padding contract in layout.py allows; measured here, libc's memcpy is as fast, and exact copies
 * keep this kernel from depending on that contract.) */
static inline int64_t copy_piece(uint8_t *out, int64_t pos, const uint8_t *src, int64_t n)
{
    memcpy(out + pos, src, (size_t)n);
    return pos + n;
}

static inline int64_t put(uint8_t *out, int64_t pos, const char *text, int64_t n)
{
    memcpy(out + pos, text, (size_t)n);
    return pos + n;
}

/* Decimal digits of v >= 0, zero-padded to at least `width` (kernel._uint). */
static inline int64_t write_uint(uint8_t *out, int64_t pos, int64_t v, int64_t width)
{
    int64_t n = 1;
    for (int64_t t = v; t >= 10; t /= 10)
        n++;
    for (; n < width; width--)
        out[pos++] = '0';
    int64_t end = pos + n;
    int64_t p = end - 1;
    for (;;) {
        out[p] = (uint8_t)('0' + v % 10);
        v /= 10;
        if (v == 0)
            break;
        p--;
    }
    return end;
}

/* A user id, `usr_` and at least four digits (small_tables.user_id). */
static inline int64_t write_user_id(uint8_t *out, int64_t pos, int64_t u)
{
    return write_uint(out, put(out, pos, "usr_", 4), u, 4);
}

/* Density falls with the index: the first users (the crew) are the most active, as in zbugs. */
static inline int64_t skewed_user(uint64_t k, uint64_t ctr, int64_t n_users)
{
    double u = uniform(k, ctr);
    int64_t pick = (int64_t)((double)n_users * u * u);
    return pick < n_users - 1 ? pick : n_users - 1;
}

/* First index whose cumulative weight exceeds u (kernel._bisect). */
static inline int64_t bisect(const double *cdf, int64_t n, double u)
{
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = (lo + hi) >> 1;
        if (cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* ---- template filling (textpool.py) ------------------------------------------------------------ */

typedef struct {
    const uint8_t *blob; /* all pieces, CSV-escaped */
    const int64_t *piece_off, *piece_len, *piece_chars;
    const int64_t *tok_start, *tok_a, *tok_b;
    const int64_t *kind_lo, *kind_hi; /* [3][n_categories], flattened */
    int64_t n_categories;
    const int64_t *pool_items, *comp_lo, *comp_hi, *comp_items, *user_items;
    int64_t n_user_items;
} TextPool;

/* The piece token t stands for: its literal, or a value drawn for its slot (kernel._piece). */
static inline int64_t pick_piece(const TextPool *tp, int64_t t, uint64_t k, uint64_t ctr, int64_t proj_tpl)
{
    int64_t n = tp->tok_b[t];
    if (n == 0)
        return tp->tok_a[t];
    if (n > 0) /* a pool slot, its range resolved when the pack was compiled */
        return tp->pool_items[tp->tok_a[t] + below(k, ctr, n)];
    if (n == TOK_COMPONENT) {
        int64_t lo = tp->comp_lo[proj_tpl];
        return tp->comp_items[lo + below(k, ctr, tp->comp_hi[proj_tpl] - lo)];
    }
    return tp->user_items[below(k, ctr, tp->n_user_items)];
}

/* A random template of kind `kind` (0 titles, 1 descriptions, 2 comments) for category `cat`. */
static inline int64_t pick_template(const TextPool *tp, int kind, int64_t cat, uint64_t k, uint64_t ctr)
{
    int64_t lo = tp->kind_lo[kind * tp->n_categories + cat];
    return lo + below(k, ctr, tp->kind_hi[kind * tp->n_categories + cat] - lo);
}

/* Write template `tpl` with its slots filled; at most `limit` characters, else cut and ended with
 * an ellipsis (kernel._fill). */
static int64_t fill(const TextPool *tp, uint8_t *out, int64_t pos, int64_t tpl, uint64_t k, uint64_t ctr0,
                    int64_t limit, int64_t proj_tpl)
{
    const int64_t a = tp->tok_start[tpl], b = tp->tok_start[tpl + 1];
    const int64_t start = pos;
    int64_t total = 0;
    for (int64_t t = a; t < b; t++) {
        int64_t piece = pick_piece(tp, t, k, ctr0 + (uint64_t)(t - a), proj_tpl);
        total += tp->piece_chars[piece];
        pos = copy_piece(out, pos, tp->blob + tp->piece_off[piece], tp->piece_len[piece]);
    }
    if (total <= limit)
        return pos;

    /* Too long: rewrite it truncated (the room checks cover the untruncated text). A rare path (a
     * pack whose longest fills exceed the column): cut on a character boundary, never between the
     * two bytes of an escaped quote, and mark the cut. The same draws give the same pieces. */
    pos = start;
    int64_t budget = limit - 1;
    for (int64_t t = a; t < b; t++) {
        int64_t piece = pick_piece(tp, t, k, ctr0 + (uint64_t)(t - a), proj_tpl);
        if (tp->piece_chars[piece] <= budget) {
            pos = copy_piece(out, pos, tp->blob + tp->piece_off[piece], tp->piece_len[piece]);
            budget -= tp->piece_chars[piece];
            continue;
        }
        int64_t j = tp->piece_off[piece];
        const int64_t end = j + tp->piece_len[piece];
        while (j < end) {
            uint8_t c = tp->blob[j];
            if ((c & 0xC0) != 0x80) { /* the first byte of a character */
                if (budget == 0)
                    break;
                budget--;
                if (c == '"') { /* stored doubled */
                    out[pos] = '"';
                    out[pos + 1] = '"';
                    pos += 2;
                    j += 2;
                    continue;
                }
            }
            out[pos++] = c;
            j++;
        }
        break;
    }
    return put(out, pos, "\xE2\x80\xA6", 3); /* U+2026 HORIZONTAL ELLIPSIS in UTF-8 */
}

/* ---- the kernel -------------------------------------------------------------------------------- */

/* The read-only inputs of generate_range, as typed pointers. */
typedef struct {
    uint64_t seed;
    const uint64_t *keys; /* per stream */
    const int64_t *ip;
    const double *fp;
    const double *project_cdf;
    int64_t n_projects;
    const int64_t *proj_tp, *proj_cat, *proj_nlabels, *label_off;
    const uint8_t *proj_ids;  /* 21 bytes per project */
    const double *comment_cdf;
    int64_t comment_cdf_len;
    const uint64_t *round_keys;
    int64_t n_rounds;
    const uint8_t *alphabet;
    const uint8_t *label_ids; /* 21 bytes per label; empty: derive label ids instead */
    int64_t label_ids_len;
    TextPool text;
} Inputs;

/* One chunk's output buffers, with their capacities. */
typedef struct {
    uint8_t *ibuf, *cbuf, *lbuf;
    int64_t ibuf_len, cbuf_len, lbuf_len;
    int64_t *iend, *cend, *lend;
    int64_t cend_len, lend_len;
    int64_t *label_scratch;
    int64_t label_scratch_len;
    uint8_t *id_scratch; /* the current issue's id */
} Outputs;

typedef struct {
    int64_t ipos, nc, cpos, nl, lpos;
} Counts;

/* The comments of issue `i` (whose id is in id_scratch), appended to the comment buffer. Returns
 * the time of the last one (or `created` if none), which bounds the issue's modification time. */
static inline int64_t write_comments(const Inputs *in, Outputs *out, Counts *n, uint64_t ctr, int64_t n_comments,
                                     int64_t created, int64_t t_end, int64_t cat, int64_t proj_tpl)
{
    const int64_t n_users = in->ip[IP_USERS];
    /* Comments follow their issue: gaps ~ exponential, mean a few days or less when little time
     * remains; each clamped to the window, so created <= comment <= end always holds. */
    const double remaining = (double)(t_end - created);
    const double spread = remaining / ((double)n_comments + 1.0);
    const double scale = 3.0 * DAY_MS < spread ? 3.0 * DAY_MS : spread;
    const uint64_t kc = in->keys[S_COMMENT];
    uint8_t *cbuf = out->cbuf;
    int64_t cpos = n->cpos;
    int64_t last = created;
    for (int64_t j = 0; j < n_comments; j++) {
        uint64_t cctr = (ctr << 10) | (uint64_t)j;
        double gap = -log(1.0 - uniform(kc, cctr * 4)) * scale;
        int64_t when = last + (int64_t)gap;
        last = when < t_end ? when : t_end;
        cpos = write_id(cbuf, cpos, in->seed, T_COMMENT, cctr, in->round_keys, in->n_rounds, in->alphabet);
        cbuf[cpos] = ',';
        cpos = copy_piece(cbuf, cpos + 1, out->id_scratch, ID_LEN);
        cbuf[cpos] = ',';
        cpos = write_uint(cbuf, cpos + 1, last, 1);
        cbuf[cpos] = ',';
        cbuf[cpos + 1] = '"';
        int64_t tpl = pick_template(&in->text, 2, cat, kc, cctr * 4 + 1);
        cpos = fill(&in->text, cbuf, cpos + 2, tpl, in->keys[S_BODY_SLOTS], cctr << 8, in->ip[IP_BODY_MAX],
                    proj_tpl);
        cbuf[cpos] = '"';
        cbuf[cpos + 1] = ',';
        cpos = write_user_id(cbuf, cpos + 2, skewed_user(kc, cctr * 4 + 2, n_users));
        cbuf[cpos] = '\n';
        cpos++;
        out->cend[n->nc++] = cpos;
    }
    n->cpos = cpos;
    return last;
}

/* The issue row itself (kernel.generate_range's middle section). */
static inline void write_issue(const Inputs *in, Outputs *out, Counts *n, uint64_t ctr, int64_t p,
                               int64_t created, int64_t last, int64_t t_end, int64_t cat, int64_t proj_tpl)
{
    const uint64_t *keys = in->keys;
    const int64_t *ip = in->ip;
    const double *fp = in->fp;
    uint8_t *ibuf = out->ibuf;
    int64_t ipos = n->ipos;

    int64_t edit = created + (int64_t)(-log(1.0 - uniform(keys[S_MODIFIED], ctr)) * 7.0 * DAY_MS);
    int64_t modified = edit > last ? edit : last;
    if (modified > t_end)
        modified = t_end;

    ipos = copy_piece(ibuf, ipos, out->id_scratch, ID_LEN);
    ibuf[ipos] = ',';
    ibuf[ipos + 1] = '"';
    int64_t tpl = pick_template(&in->text, 0, cat, keys[S_TITLE], ctr);
    ipos = fill(&in->text, ibuf, ipos + 2, tpl, keys[S_TITLE_SLOTS], ctr << 8, ip[IP_TITLE_MAX], proj_tpl);
    ibuf[ipos] = '"';
    ibuf[ipos + 1] = ',';
    ipos += 2;
    if (uniform(keys[S_OPEN], ctr) < fp[FP_OPEN])
        ipos = put(ibuf, ipos, "true", 4);
    else
        ipos = put(ibuf, ipos, "false", 5);
    ibuf[ipos] = ',';
    ipos = write_uint(ibuf, ipos + 1, modified, 1);
    ibuf[ipos] = ',';
    ipos = write_uint(ibuf, ipos + 1, created, 1);
    ibuf[ipos] = ',';
    ipos = write_user_id(ibuf, ipos + 1, skewed_user(keys[S_CREATOR], ctr, ip[IP_USERS]));
    ibuf[ipos] = ',';
    ipos++;
    if (uniform(keys[S_ASSIGNED], ctr) < fp[FP_ASSIGNED]) {
        uint64_t ka = keys[S_ASSIGNEE];
        int64_t assignee;
        if (uniform(ka, ctr * 2) < fp[FP_CREW_ASSIGNEE])
            assignee = below(ka, ctr * 2 + 1, ip[IP_CREW]); /* most issues go to the core team */
        else
            assignee = below(ka, ctr * 2 + 1, ip[IP_USERS]);
        ipos = write_user_id(ibuf, ipos, assignee);
    }
    /* else: an empty unquoted field, which COPY reads as NULL */
    ibuf[ipos] = ',';
    ibuf[ipos + 1] = '"';
    tpl = pick_template(&in->text, 1, cat, keys[S_DESC], ctr);
    ipos = fill(&in->text, ibuf, ipos + 2, tpl, keys[S_DESC_SLOTS], ctr << 8, ip[IP_DESC_MAX], proj_tpl);
    ibuf[ipos] = '"';
    ibuf[ipos + 1] = ',';
    ipos += 2;
    if (uniform(keys[S_VISIBILITY], ctr) < fp[FP_PUBLIC])
        ipos = put(ibuf, ipos, "public", 6);
    else
        ipos = put(ibuf, ipos, "internal", 8);
    ibuf[ipos] = ',';
    ipos = copy_piece(ibuf, ipos + 1, in->proj_ids + ID_LEN * p, ID_LEN);
    ibuf[ipos] = '\n';
    n->ipos = ipos + 1;
}

/* The issue's labels: distinct, drawn from its own project's (kernel.generate_range's end). */
static inline void write_labels(const Inputs *in, Outputs *out, Counts *n, uint64_t ctr, int64_t p)
{
    int64_t n_labels = in->ip[IP_LABEL_LOW];
    if (uniform(in->keys[S_NLABELS], ctr) < in->fp[FP_LABEL_P])
        n_labels = in->ip[IP_LABEL_HIGH];
    const int64_t avail = in->proj_nlabels[p];
    if (n_labels > avail)
        n_labels = avail;
    const uint64_t kl = in->keys[S_LABELS];
    int64_t *chosen = out->label_scratch;
    uint8_t *lbuf = out->lbuf;
    int64_t lpos = n->lpos;
    uint64_t draws = 0;
    for (int64_t m = 0; m < n_labels; m++) {
        int64_t cand;
        for (;;) { /* rejection: n_labels is small next to the labels available */
            cand = below(kl, (ctr << 16) + draws, avail);
            draws++;
            int dup = 0;
            for (int64_t q = 0; q < m; q++) {
                if (chosen[q] == cand) {
                    dup = 1;
                    break;
                }
            }
            if (!dup)
                break;
        }
        chosen[m] = cand;
        if (in->label_ids_len > 0) /* precomputed when the table is small enough (it usually is) */
            lpos = copy_piece(lbuf, lpos, in->label_ids + ID_LEN * (in->label_off[p] + cand), ID_LEN);
        else
            lpos = write_id(lbuf, lpos, in->seed, T_LABEL, ((uint64_t)p << 12) | (uint64_t)cand, in->round_keys,
                            in->n_rounds, in->alphabet);
        lbuf[lpos] = ',';
        lpos = copy_piece(lbuf, lpos + 1, out->id_scratch, ID_LEN);
        lbuf[lpos] = ',';
        lpos = copy_piece(lbuf, lpos + 1, in->proj_ids + ID_LEN * p, ID_LEN);
        lbuf[lpos] = '\n';
        lpos++;
        out->lend[n->nl++] = lpos;
    }
    n->lpos = lpos;
}

/* Issues [i0, i1) with their comments and labels. Returns 0, or -1 if a buffer could overflow
 * (checked before each issue against the worst case the plan computed; the caller retries the
 * same range with bigger buffers and gets the same bytes). Touches no Python object. */
static int run_range(const Inputs *in, Outputs *out, int64_t i0, int64_t i1, Counts *n)
{
    const int64_t *ip = in->ip;
    const int64_t t0 = ip[IP_T0], span = ip[IP_SPAN];
    const int64_t t_end = t0 + span;
    for (int64_t i = i0; i < i1; i++) {
        if (n->ipos + ip[IP_ISSUE_BOUND] > out->ibuf_len || n->cpos + ip[IP_COMMENT_BOUND] > out->cbuf_len
            || n->lpos + ip[IP_LABEL_BOUND] > out->lbuf_len || n->nc + 1024 > out->cend_len
            || n->nl + out->label_scratch_len > out->lend_len)
            return -1;
        const uint64_t ctr = (uint64_t)i;
        /* reused by every row below */
        write_id(out->id_scratch, 0, in->seed, T_ISSUE, ctr, in->round_keys, in->n_rounds, in->alphabet);
        const int64_t p = bisect(in->project_cdf, in->n_projects, uniform(in->keys[S_PROJECT], ctr));
        const int64_t cat = in->proj_cat[p];
        const int64_t proj_tpl = in->proj_tp[p];

        /* Times: issues arrive faster as the tracker grows (density rising linearly). */
        const int64_t created = t0 + (int64_t)((double)span * sqrt(uniform(in->keys[S_CREATED], ctr)));
        const int64_t n_comments = bisect(in->comment_cdf, in->comment_cdf_len,
                                          uniform(in->keys[S_NCOMMENTS], ctr));
        const int64_t last = write_comments(in, out, n, ctr, n_comments, created, t_end, cat, proj_tpl);
        write_issue(in, out, n, ctr, p, created, last, t_end, cat, proj_tpl);
        out->iend[i - i0] = n->ipos;
        write_labels(in, out, n, ctr, p);
    }
    return 0;
}

/* ---- argument handling: Python objects in, typed pointers out ---------------------------------- */

/* What an argument must be: a C-contiguous buffer of 8-byte signed or unsigned integers, doubles or
 * bytes; writable for outputs. */
typedef enum { K_I64, K_U64, K_F64, K_U8 } Kind;

static const char *kind_name(Kind kind)
{
    switch (kind) {
    case K_I64: return "int64";
    case K_U64: return "uint64";
    case K_F64: return "float64";
    default: return "uint8";
    }
}

static int format_matches(const char *fmt, Kind kind)
{
    if (fmt == NULL)
        fmt = "B";
    if (*fmt == '@' || *fmt == '=' || (*fmt == '<' && PY_LITTLE_ENDIAN))
        fmt++;
    if (fmt[0] == '\0' || fmt[1] != '\0')
        return 0;
    switch (kind) {
    case K_I64: return fmt[0] == 'q' || (fmt[0] == 'l' && sizeof(long) == 8);
    case K_U64: return fmt[0] == 'Q' || (fmt[0] == 'L' && sizeof(long) == 8);
    case K_F64: return fmt[0] == 'd';
    default: return fmt[0] == 'B' || fmt[0] == 'b' || fmt[0] == 'c';
    }
}

/* Fill `view` from `obj`; on failure set a Python exception naming the argument and return -1. */
static int get_array(PyObject *obj, Py_buffer *view, const char *name, Kind kind, int writable)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        PyErr_Format(PyExc_TypeError, "%s: expected a C-contiguous%s %s array", name,
                     writable ? " writable" : "", kind_name(kind));
        return -1;
    }
    Py_ssize_t size = kind == K_U8 ? 1 : 8;
    if (view->itemsize != size || !format_matches(view->format, kind)) {
        PyErr_Format(PyExc_TypeError, "%s: expected a %s array, got format %s", name, kind_name(kind),
                     view->format ? view->format : "B");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static Py_ssize_t items(const Py_buffer *view)
{
    return view->len / view->itemsize;
}

static int get_i64(PyObject *obj, const char *name, int64_t *value)
{
    PyObject *index = PyNumber_Index(obj);
    if (index == NULL)
        return -1;
    long long v = PyLong_AsLongLong(index);
    Py_DECREF(index);
    if (v == -1 && PyErr_Occurred()) {
        PyErr_Format(PyExc_OverflowError, "%s: out of the int64 range", name);
        return -1;
    }
    *value = (int64_t)v;
    return 0;
}

static int get_u64(PyObject *obj, const char *name, uint64_t *value)
{
    PyObject *index = PyNumber_Index(obj);
    if (index == NULL)
        return -1;
    unsigned long long v = PyLong_AsUnsignedLongLong(index);
    Py_DECREF(index);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Format(PyExc_OverflowError, "%s: out of the uint64 range", name);
        return -1;
    }
    *value = (uint64_t)v;
    return 0;
}

/* generate_range's array arguments, in order after (i0, i1, seed): kernel.py's signature. */
typedef struct {
    const char *name;
    Kind kind;
    int writable;
} ArraySpec;

static const ArraySpec RANGE_ARRAYS[] = {
    {"keys", K_U64, 0}, {"ip", K_I64, 0}, {"fp", K_F64, 0}, {"project_cdf", K_F64, 0},
    {"proj_tp", K_I64, 0}, {"proj_cat", K_I64, 0}, {"proj_ids", K_U8, 0}, {"proj_nlabels", K_I64, 0},
    {"comment_cdf", K_F64, 0}, {"round_keys", K_U64, 0}, {"alphabet", K_U8, 0}, {"label_ids", K_U8, 0},
    {"label_off", K_I64, 0}, {"blob", K_U8, 0}, {"piece_off", K_I64, 0}, {"piece_len", K_I64, 0},
    {"piece_chars", K_I64, 0}, {"tok_start", K_I64, 0}, {"tok_a", K_I64, 0}, {"tok_b", K_I64, 0},
    {"kind_lo", K_I64, 0}, {"kind_hi", K_I64, 0}, {"pool_items", K_I64, 0}, {"comp_lo", K_I64, 0},
    {"comp_hi", K_I64, 0}, {"comp_items", K_I64, 0}, {"user_items", K_I64, 0},
    {"ibuf", K_U8, 1}, {"iend", K_I64, 1}, {"cbuf", K_U8, 1}, {"cend", K_I64, 1}, {"lbuf", K_U8, 1},
    {"lend", K_I64, 1}, {"label_scratch", K_I64, 1}, {"id_scratch", K_U8, 1},
};
enum {
    A_KEYS, A_IP, A_FP, A_PROJECT_CDF, A_PROJ_TP, A_PROJ_CAT, A_PROJ_IDS, A_PROJ_NLABELS, A_COMMENT_CDF,
    A_ROUND_KEYS, A_ALPHABET, A_LABEL_IDS, A_LABEL_OFF, A_BLOB, A_PIECE_OFF, A_PIECE_LEN, A_PIECE_CHARS,
    A_TOK_START, A_TOK_A, A_TOK_B, A_KIND_LO, A_KIND_HI, A_POOL_ITEMS, A_COMP_LO, A_COMP_HI, A_COMP_ITEMS,
    A_USER_ITEMS, A_IBUF, A_IEND, A_CBUF, A_CEND, A_LBUF, A_LEND, A_LABEL_SCRATCH, A_ID_SCRATCH,
    N_RANGE_ARRAYS
};
#define N_RANGE_ARGS (3 + N_RANGE_ARRAYS)

/* Checks a caller could get wrong without the kernel noticing (the numba kernel would read or write
 * out of bounds). Returns NULL if all is well, else what is wrong. */
static const char *check_shapes(const Py_buffer *v, int64_t i0, int64_t i1)
{
    if (i0 < 0 || i1 < i0)
        return "need 0 <= i0 <= i1";
    if (items(&v[A_KEYS]) < N_STREAMS)
        return "keys: one per stream expected";
    if (items(&v[A_IP]) < IP_SIZE || items(&v[A_FP]) < FP_SIZE)
        return "ip or fp: too short for the parameter layout";
    if (items(&v[A_PROJECT_CDF]) < 1 || items(&v[A_COMMENT_CDF]) < 1)
        return "project_cdf and comment_cdf must not be empty";
    if (items(&v[A_ALPHABET]) < 64)
        return "alphabet: 64 characters expected";
    if (items(&v[A_KIND_LO]) % 3 != 0 || items(&v[A_KIND_HI]) != items(&v[A_KIND_LO]))
        return "kind_lo and kind_hi: shape (3, categories) expected";
    if (items(&v[A_USER_ITEMS]) < 1)
        return "user_items must not be empty";
    if (items(&v[A_IEND]) < i1 - i0)
        return "iend: shorter than the range";
    if (items(&v[A_ID_SCRATCH]) < ID_LEN)
        return "id_scratch: 21 bytes expected";
    if (items(&v[A_LABEL_SCRATCH]) < ((const int64_t *)v[A_IP].buf)[IP_LABEL_HIGH])
        return "label_scratch: shorter than the most labels an issue gets";
    return NULL;
}

static void unpack_arrays(const Py_buffer *v, uint64_t seed, Inputs *in, Outputs *out)
{
#define PTR(type, a) ((type *)v[a].buf)
    in->seed = seed;
    in->keys = PTR(const uint64_t, A_KEYS);
    in->ip = PTR(const int64_t, A_IP);
    in->fp = PTR(const double, A_FP);
    in->project_cdf = PTR(const double, A_PROJECT_CDF);
    in->n_projects = items(&v[A_PROJECT_CDF]);
    in->proj_tp = PTR(const int64_t, A_PROJ_TP);
    in->proj_cat = PTR(const int64_t, A_PROJ_CAT);
    in->proj_ids = PTR(const uint8_t, A_PROJ_IDS);
    in->proj_nlabels = PTR(const int64_t, A_PROJ_NLABELS);
    in->comment_cdf = PTR(const double, A_COMMENT_CDF);
    in->comment_cdf_len = items(&v[A_COMMENT_CDF]);
    in->round_keys = PTR(const uint64_t, A_ROUND_KEYS);
    in->n_rounds = items(&v[A_ROUND_KEYS]);
    in->alphabet = PTR(const uint8_t, A_ALPHABET);
    in->label_ids = PTR(const uint8_t, A_LABEL_IDS);
    in->label_ids_len = items(&v[A_LABEL_IDS]);
    in->label_off = PTR(const int64_t, A_LABEL_OFF);

    TextPool *tp = &in->text;
    tp->blob = PTR(const uint8_t, A_BLOB);
    tp->piece_off = PTR(const int64_t, A_PIECE_OFF);
    tp->piece_len = PTR(const int64_t, A_PIECE_LEN);
    tp->piece_chars = PTR(const int64_t, A_PIECE_CHARS);
    tp->tok_start = PTR(const int64_t, A_TOK_START);
    tp->tok_a = PTR(const int64_t, A_TOK_A);
    tp->tok_b = PTR(const int64_t, A_TOK_B);
    tp->kind_lo = PTR(const int64_t, A_KIND_LO);
    tp->kind_hi = PTR(const int64_t, A_KIND_HI);
    tp->n_categories = items(&v[A_KIND_LO]) / 3;
    tp->pool_items = PTR(const int64_t, A_POOL_ITEMS);
    tp->comp_lo = PTR(const int64_t, A_COMP_LO);
    tp->comp_hi = PTR(const int64_t, A_COMP_HI);
    tp->comp_items = PTR(const int64_t, A_COMP_ITEMS);
    tp->user_items = PTR(const int64_t, A_USER_ITEMS);
    tp->n_user_items = items(&v[A_USER_ITEMS]);

    out->ibuf = PTR(uint8_t, A_IBUF);
    out->ibuf_len = items(&v[A_IBUF]);
    out->iend = PTR(int64_t, A_IEND);
    out->cbuf = PTR(uint8_t, A_CBUF);
    out->cbuf_len = items(&v[A_CBUF]);
    out->cend = PTR(int64_t, A_CEND);
    out->cend_len = items(&v[A_CEND]);
    out->lbuf = PTR(uint8_t, A_LBUF);
    out->lbuf_len = items(&v[A_LBUF]);
    out->lend = PTR(int64_t, A_LEND);
    out->lend_len = items(&v[A_LEND]);
    out->label_scratch = PTR(int64_t, A_LABEL_SCRATCH);
    out->label_scratch_len = items(&v[A_LABEL_SCRATCH]);
    out->id_scratch = PTR(uint8_t, A_ID_SCRATCH);
#undef PTR
}

PyDoc_STRVAR(generate_range_doc,
"generate_range(i0, i1, seed, keys, ip, fp, project_cdf, proj_tp, proj_cat, proj_ids, proj_nlabels,\n"
"               comment_cdf, round_keys, alphabet, label_ids, label_off, blob, piece_off, piece_len,\n"
"               piece_chars, tok_start, tok_a, tok_b, kind_lo, kind_hi, pool_items, comp_lo, comp_hi,\n"
"               comp_items, user_items, ibuf, iend, cbuf, cend, lbuf, lend, label_scratch, id_scratch)\n"
"--\n\n"
"Write the CSV rows of issues [i0, i1), their comments and issue labels into the buffers; the same\n"
"arguments and bytes as kernel.generate_range. Returns (issue bytes, comments, comment bytes,\n"
"labels, label bytes), or (-1, 0, 0, 0, 0) if a buffer could overflow. Releases the GIL.");

static PyObject *py_generate_range(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != N_RANGE_ARGS) {
        PyErr_Format(PyExc_TypeError, "generate_range: expected %d arguments, got %zd", N_RANGE_ARGS, nargs);
        return NULL;
    }
    int64_t i0, i1;
    uint64_t seed;
    if (get_i64(args[0], "i0", &i0) < 0 || get_i64(args[1], "i1", &i1) < 0 || get_u64(args[2], "seed", &seed) < 0)
        return NULL;

    Py_buffer views[N_RANGE_ARRAYS];
    int got = 0;
    PyObject *result = NULL;
    for (; got < N_RANGE_ARRAYS; got++) {
        const ArraySpec *spec = &RANGE_ARRAYS[got];
        if (get_array(args[3 + got], &views[got], spec->name, spec->kind, spec->writable) < 0)
            goto done;
    }
    const char *problem = check_shapes(views, i0, i1);
    if (problem != NULL) {
        PyErr_Format(PyExc_ValueError, "generate_range: %s", problem);
        goto done;
    }

    Inputs in;
    Outputs out;
    Counts n = {0, 0, 0, 0, 0};
    unpack_arrays(views, seed, &in, &out);
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = run_range(&in, &out, i0, i1, &n);
    Py_END_ALLOW_THREADS
    if (status < 0)
        result = Py_BuildValue("(LLLLL)", -1LL, 0LL, 0LL, 0LL, 0LL);
    else
        result = Py_BuildValue("(LLLLL)", (long long)n.ipos, (long long)n.nc, (long long)n.cpos,
                               (long long)n.nl, (long long)n.lpos);
done:
    for (int k = 0; k < got; k++)
        PyBuffer_Release(&views[k]);
    return result;
}

PyDoc_STRVAR(ids_into_doc,
"ids_into(seed, table, rows, round_keys, alphabet)\n"
"--\n\n"
"The ids of (seed, table, row) for each row of the uint64 array `rows`, as 21 * len(rows) ASCII\n"
"bytes (kernel.ids_into's result, as bytes).");

static PyObject *py_ids_into(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "ids_into: expected 5 arguments, got %zd", nargs);
        return NULL;
    }
    uint64_t seed;
    int64_t table;
    if (get_u64(args[0], "seed", &seed) < 0 || get_i64(args[1], "table", &table) < 0)
        return NULL;
    Py_buffer rows, keys, alphabet;
    if (get_array(args[2], &rows, "rows", K_U64, 0) < 0)
        return NULL;
    PyObject *result = NULL;
    if (get_array(args[3], &keys, "round_keys", K_U64, 0) < 0)
        goto release_rows;
    if (get_array(args[4], &alphabet, "alphabet", K_U8, 0) < 0)
        goto release_keys;
    if (items(&alphabet) < 64) {
        PyErr_SetString(PyExc_ValueError, "ids_into: alphabet: 64 characters expected");
        goto release_all;
    }
    const Py_ssize_t n = items(&rows);
    result = PyBytes_FromStringAndSize(NULL, n * ID_LEN);
    if (result == NULL)
        goto release_all;
    {
        uint8_t *dst = (uint8_t *)PyBytes_AS_STRING(result); /* not shared yet: safe without the GIL */
        const uint64_t *row = (const uint64_t *)rows.buf;
        const uint64_t *round_keys = (const uint64_t *)keys.buf;
        const int64_t n_rounds = items(&keys);
        const uint8_t *abc = (const uint8_t *)alphabet.buf;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++)
            write_id(dst, (int64_t)i * ID_LEN, seed, table, row[i], round_keys, n_rounds, abc);
        Py_END_ALLOW_THREADS
    }
release_all:
    PyBuffer_Release(&alphabet);
release_keys:
    PyBuffer_Release(&keys);
release_rows:
    PyBuffer_Release(&rows);
    return result;
}

static PyMethodDef methods[] = {
    {"generate_range", (PyCFunction)(void (*)(void))py_generate_range, METH_FASTCALL, generate_range_doc},
    {"ids_into", (PyCFunction)(void (*)(void))py_ids_into, METH_FASTCALL, ids_into_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ckernel",
    "The C twin of kernel.py (numba): the same bytes, without numba's start-up cost.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ckernel(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    /* The calling convention this build expects; backend.py compares it with layout.py. */
    if (PyModule_AddIntConstant(m, "IP_SIZE", IP_SIZE) < 0 || PyModule_AddIntConstant(m, "FP_SIZE", FP_SIZE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
