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
    IP_LABEL_MAX, IP_ISSUE_BOUND, IP_COMMENT_BOUND, IP_LABEL_BOUND,
    IP_ALL_TABLES, IP_EMOJI_BOUND, IP_NOTIFY_BOUND, IP_VIEW_BOUND, IP_EMOJI_MAX, IP_VIEWERS_MAX,
    IP_FOLLOWUPS_MAX,
    IP_SIZE
};
#define MORE_LEN 25 /* layout.MORE_LEN */
enum {
    FP_OPEN, FP_ASSIGNED, FP_PUBLIC, FP_CREW_ASSIGNEE, FP_REPLY_SCALE,
    FP_DESC_EMPTY, FP_DESC_CODE, FP_DESC_LINK, FP_DESC_IMAGE,
    FP_BODY_SHORT, FP_BODY_CODE, FP_BODY_LINK, FP_BODY_IMAGE, FP_BODY_MENTION,
    FP_UNSUBSCRIBED, FP_UNREAD,
    FP_DESC_MORE_CDF, /* MORE_LEN entries each: the follow-up count laws */
    FP_BODY_MORE_CDF = FP_DESC_MORE_CDF + MORE_LEN,
    FP_SIZE = FP_BODY_MORE_CDF + MORE_LEN
};
/* Counters of a description's (comment's) parts (layout.PARTS_STRIDE, PART_*). */
enum { PARTS_STRIDE = 64, PART_SHAPE = 0, PART_CODE = 1, PART_MORE = 2, PART_LINK = 10, PART_IMAGE = 11,
       PART_MENTION = 12, PART_FOLLOWUP = 16 };
/* Template kinds (layout.K_*). */
enum { K_TITLE, K_DESC, K_COMMENT, K_CODE, K_LINK, K_IMAGE, K_SHORT, K_FOLLOWUP, K_MENTION, N_KINDS };

/* Streams (rng.py). */
enum {
    S_PROJECT = 1, S_TITLE, S_DESC, S_OPEN, S_CREATED, S_CREATOR, S_ASSIGNED, S_ASSIGNEE,
    S_VISIBILITY, S_NCOMMENTS, S_COMMENT, S_NLABELS, S_LABELS, S_MODIFIED,
    S_TITLE_SLOTS, S_DESC_SLOTS, S_BODY_SLOTS, S_PROJECT_RANK, S_USER_NAME,
    S_DESC_SHAPE, S_DESC_PARTS, S_DESC_PART_SLOTS, S_BODY_SHAPE, S_BODY_PARTS, S_BODY_PART_SLOTS,
    S_EMOJI, S_EMOJI_TIME, S_NOTIFY, S_VIEW, S_VIEW_PICK, S_USER_PREF,
    N_STREAMS
};

/* Tables and the id layout (ids.py). */
enum { T_PROJECT = 1, T_LABEL = 2, T_ISSUE = 3, T_COMMENT = 4, T_EMOJI = 5 };
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
    if (n == TOK_COMPONENT) { /* tok_a selects the block of seam-free component views */
        int64_t lo = tp->comp_lo[tp->tok_a[t] + proj_tpl];
        return tp->comp_items[lo + below(k, ctr, tp->comp_hi[tp->tok_a[t] + proj_tpl] - lo)];
    }
    return tp->user_items[below(k, ctr, tp->n_user_items)];
}

/* A random template of kind `kind` (layout.K_*) for category `cat`. */
static inline int64_t pick_template(const TextPool *tp, int kind, int64_t cat, uint64_t k, uint64_t ctr)
{
    int64_t lo = tp->kind_lo[kind * tp->n_categories + cat];
    return lo + below(k, ctr, tp->kind_hi[kind * tp->n_categories + cat] - lo);
}

/* Write template `tpl` with its slots filled; at most `limit` characters, else cut and ended with
 * an ellipsis (kernel._fill). Stores the characters written in *chars. */
static int64_t fill(const TextPool *tp, uint8_t *out, int64_t pos, int64_t tpl, uint64_t k, uint64_t ctr0,
                    int64_t limit, int64_t proj_tpl, int64_t *chars)
{
    const int64_t a = tp->tok_start[tpl], b = tp->tok_start[tpl + 1];
    const int64_t start = pos;
    int64_t total = 0;
    for (int64_t t = a; t < b; t++) {
        int64_t piece = pick_piece(tp, t, k, ctr0 + (uint64_t)(t - a), proj_tpl);
        total += tp->piece_chars[piece];
        pos = copy_piece(out, pos, tp->blob + tp->piece_off[piece], tp->piece_len[piece]);
    }
    if (total <= limit) {
        *chars = total;
        return pos;
    }
    *chars = limit;

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
    const double *comment_cdf, *label_cdf, *reply_q;
    int64_t comment_cdf_len, label_cdf_len, reply_q_len;
    const uint64_t *round_keys;
    int64_t n_rounds;
    const uint8_t *alphabet;
    const uint8_t *label_ids; /* 21 bytes per label; empty: derive label ids instead */
    int64_t label_ids_len;
    TextPool text;
    const double *emoji_issue_cdf, *emoji_comment_cdf, *emoji_value_cdf, *viewer_cdf;
    int64_t emoji_issue_cdf_len, emoji_comment_cdf_len, emoji_value_cdf_len, viewer_cdf_len;
    const uint8_t *emoji_blob; /* `value,annotation` per emoji, CSV-ready */
    const int64_t *emoji_off;
} Inputs;

/* One chunk's output buffers, with their capacities. */
typedef struct {
    uint8_t *ibuf, *cbuf, *lbuf, *ebuf, *nbuf, *vbuf;
    int64_t ibuf_len, cbuf_len, lbuf_len, ebuf_len, nbuf_len, vbuf_len;
    int64_t *iend, *cend, *lend, *eend, *nend, *vend;
    int64_t cend_len, lend_len, eend_len, nend_len, vend_len;
    int64_t *label_scratch;
    int64_t label_scratch_len;
    uint8_t *id_scratch; /* the current issue's id */
    int64_t *comment_scratch; /* times, then authors, of the issue's comments */
    int64_t n_cmax;
    int64_t *touch_scratch; /* users, first touch, last touch */
    int64_t n_tmax;
    int64_t *emoji_scratch;
    int64_t emoji_scratch_len;
} Outputs;

typedef struct {
    int64_t ipos, nc, cpos, nl, lpos, ne, epos, nn, npos, nv, vpos;
} Counts;

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* A wait from the quantile table q (ms, increasing), conditioned on being <= remaining:
 * Q(u * F(remaining)), both interpolated linearly between the table's points (kernel._reply_gap). */
static inline double reply_gap(const double *q, int64_t q_len, double u, double remaining)
{
    const int64_t n = q_len - 1;
    double f;
    if (remaining >= q[n])
        f = 1.0;
    else if (remaining <= q[0])
        f = 0.0;
    else {
        int64_t j = bisect(q, q_len, remaining) - 1; /* q[j] <= remaining < q[j + 1] */
        f = ((double)j + (remaining - q[j]) / (q[j + 1] - q[j])) / (double)n;
    }
    double x = u * f * (double)n;
    int64_t j = (int64_t)x;
    if (j >= n)
        return q[n];
    return q[j] + (q[j + 1] - q[j]) * (x - (double)j);
}

/* One more paragraph of a composed field: a blank line and a template of `kind` within the
 * remaining *budget of characters (kernel._part). */
static inline int64_t part(const TextPool *tp, uint8_t *out, int64_t pos, int64_t *budget, int kind, int64_t cat,
                           uint64_t kp, uint64_t pick_ctr, uint64_t ks, int64_t proj_tpl)
{
    if (*budget < 3)
        return pos;
    out[pos] = '\n';
    out[pos + 1] = '\n';
    int64_t tpl = pick_template(tp, kind, cat, kp, pick_ctr);
    int64_t used;
    pos = fill(tp, out, pos + 2, tpl, ks, pick_ctr << 8, *budget - 2, proj_tpl, &used);
    *budget = *budget - 2 - used;
    return pos;
}

/* The comments of issue `i` (whose id is in id_scratch), appended to the comment buffer. Returns
 * the time of the last one (or `created` if none), which bounds the issue's modification time. */
static inline int64_t write_comments(const Inputs *in, Outputs *out, Counts *n, uint64_t ctr, int64_t n_comments,
                                     int64_t created, int64_t t_end, int64_t cat, int64_t proj_tpl)
{
    const int64_t n_users = in->ip[IP_USERS];
    const double *fp = in->fp;
    const TextPool *tp = &in->text;
    /* The first reply comes after a heavy-tailed wait (reply_q); later ones after the same law
     * scaled down; each conditioned on fitting before the window's end. */
    const uint64_t kc = in->keys[S_COMMENT], kb = in->keys[S_BODY_SHAPE];
    const uint64_t kbp = in->keys[S_BODY_PARTS], kbs = in->keys[S_BODY_PART_SLOTS];
    uint8_t *cbuf = out->cbuf;
    int64_t cpos = n->cpos;
    int64_t last = created;
    for (int64_t j = 0; j < n_comments; j++) {
        uint64_t cctr = (ctr << 10) | (uint64_t)j;
        double remaining = (double)(t_end - last);
        double u = uniform(kc, cctr * 4);
        double gap;
        if (j == 0)
            gap = reply_gap(in->reply_q, in->reply_q_len, u, remaining);
        else
            gap = reply_gap(in->reply_q, in->reply_q_len, u, remaining / fp[FP_REPLY_SCALE]) * fp[FP_REPLY_SCALE];
        int64_t when = last + (int64_t)gap;
        last = when < t_end ? when : t_end;
        int64_t author = skewed_user(kc, cctr * 4 + 2, n_users);
        if (j < out->n_cmax) {
            out->comment_scratch[j] = last;
            out->comment_scratch[out->n_cmax + j] = author;
        }
        cpos = write_id(cbuf, cpos, in->seed, T_COMMENT, cctr, in->round_keys, in->n_rounds, in->alphabet);
        cbuf[cpos] = ',';
        cpos = copy_piece(cbuf, cpos + 1, out->id_scratch, ID_LEN);
        cbuf[cpos] = ',';
        cpos = write_uint(cbuf, cpos + 1, last, 1);
        cbuf[cpos] = ',';
        cbuf[cpos + 1] = '"';
        cpos += 2;
        const uint64_t base = cctr * PARTS_STRIDE;
        int64_t budget = in->ip[IP_BODY_MAX];
        int64_t used;
        if (uniform(kb, base + PART_SHAPE) < fp[FP_BODY_SHORT]) {
            int64_t tpl = pick_template(tp, K_SHORT, cat, kbp, base);
            cpos = fill(tp, cbuf, cpos, tpl, kbs, base << 8, budget, proj_tpl, &used);
        } else {
            int64_t tpl = pick_template(tp, K_COMMENT, cat, kc, cctr * 4 + 1);
            cpos = fill(tp, cbuf, cpos, tpl, in->keys[S_BODY_SLOTS], cctr << 8, budget, proj_tpl, &used);
            budget -= used;
            if (uniform(kb, base + PART_CODE) < fp[FP_BODY_CODE])
                cpos = part(tp, cbuf, cpos, &budget, K_CODE, cat, kbp, base + PART_CODE, kbs, proj_tpl);
            const int64_t n_more = bisect(fp + FP_BODY_MORE_CDF, in->ip[IP_FOLLOWUPS_MAX], uniform(kb, base + PART_MORE));
            for (int64_t m = 0; m < n_more; m++)
                cpos = part(tp, cbuf, cpos, &budget, K_FOLLOWUP, cat, kbp, base + PART_FOLLOWUP + (uint64_t)m, kbs,
                            proj_tpl);
            if (uniform(kb, base + PART_LINK) < fp[FP_BODY_LINK])
                cpos = part(tp, cbuf, cpos, &budget, K_LINK, cat, kbp, base + PART_LINK, kbs, proj_tpl);
            if (uniform(kb, base + PART_IMAGE) < fp[FP_BODY_IMAGE])
                cpos = part(tp, cbuf, cpos, &budget, K_IMAGE, cat, kbp, base + PART_IMAGE, kbs, proj_tpl);
            if (uniform(kb, base + PART_MENTION) < fp[FP_BODY_MENTION])
                cpos = part(tp, cbuf, cpos, &budget, K_MENTION, cat, kbp, base + PART_MENTION, kbs, proj_tpl);
        }
        cbuf[cpos] = '"';
        cbuf[cpos + 1] = ',';
        cpos = write_user_id(cbuf, cpos + 2, author);
        cbuf[cpos] = '\n';
        cpos++;
        out->cend[n->nc++] = cpos;
    }
    n->cpos = cpos;
    return last;
}

/* What the extra tables need to know about an issue. */
typedef struct {
    int64_t modified, creator, assignee; /* assignee -1: none */
} IssueFacts;

/* The issue row itself (kernel.generate_range's middle section). */
static inline IssueFacts write_issue(const Inputs *in, Outputs *out, Counts *n, uint64_t ctr, int64_t p,
                                     int64_t created, int64_t last, int64_t t_end, int64_t cat, int64_t proj_tpl)
{
    const uint64_t *keys = in->keys;
    const int64_t *ip = in->ip;
    const double *fp = in->fp;
    const TextPool *tp = &in->text;
    uint8_t *ibuf = out->ibuf;
    int64_t ipos = n->ipos;
    IssueFacts facts;
    int64_t used;

    int64_t edit = created + (int64_t)(-log(1.0 - uniform(keys[S_MODIFIED], ctr)) * 7.0 * DAY_MS);
    int64_t modified = edit > last ? edit : last;
    if (modified > t_end)
        modified = t_end;
    facts.modified = modified;

    ipos = copy_piece(ibuf, ipos, out->id_scratch, ID_LEN);
    ibuf[ipos] = ',';
    ibuf[ipos + 1] = '"';
    int64_t tpl = pick_template(tp, K_TITLE, cat, keys[S_TITLE], ctr);
    ipos = fill(tp, ibuf, ipos + 2, tpl, keys[S_TITLE_SLOTS], ctr << 8, ip[IP_TITLE_MAX], proj_tpl, &used);
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
    facts.creator = skewed_user(keys[S_CREATOR], ctr, ip[IP_USERS]);
    ipos = write_user_id(ibuf, ipos + 1, facts.creator);
    ibuf[ipos] = ',';
    ipos++;
    facts.assignee = -1;
    if (uniform(keys[S_ASSIGNED], ctr) < fp[FP_ASSIGNED]) {
        uint64_t ka = keys[S_ASSIGNEE];
        if (uniform(ka, ctr * 2) < fp[FP_CREW_ASSIGNEE])
            facts.assignee = below(ka, ctr * 2 + 1, ip[IP_CREW]); /* most issues go to the core team */
        else
            facts.assignee = below(ka, ctr * 2 + 1, ip[IP_USERS]);
        ipos = write_user_id(ibuf, ipos, facts.assignee);
    }
    /* else: an empty unquoted field, which COPY reads as NULL */
    ibuf[ipos] = ',';
    ibuf[ipos + 1] = '"';
    ipos += 2;
    /* The description: empty for some issues; else a template, then maybe a code block, follow-up
     * paragraphs, a link and an image, so lengths get real tails. */
    const uint64_t kd = keys[S_DESC_SHAPE], kdp = keys[S_DESC_PARTS], kds = keys[S_DESC_PART_SLOTS];
    const uint64_t base = ctr * PARTS_STRIDE;
    if (uniform(kd, base + PART_SHAPE) >= fp[FP_DESC_EMPTY]) {
        int64_t budget = ip[IP_DESC_MAX];
        tpl = pick_template(tp, K_DESC, cat, keys[S_DESC], ctr);
        ipos = fill(tp, ibuf, ipos, tpl, keys[S_DESC_SLOTS], ctr << 8, budget, proj_tpl, &used);
        budget -= used;
        if (uniform(kd, base + PART_CODE) < fp[FP_DESC_CODE])
            ipos = part(tp, ibuf, ipos, &budget, K_CODE, cat, kdp, base + PART_CODE, kds, proj_tpl);
        const int64_t n_more = bisect(fp + FP_DESC_MORE_CDF, ip[IP_FOLLOWUPS_MAX], uniform(kd, base + PART_MORE));
        for (int64_t m = 0; m < n_more; m++)
            ipos = part(tp, ibuf, ipos, &budget, K_FOLLOWUP, cat, kdp, base + PART_FOLLOWUP + (uint64_t)m, kds, proj_tpl);
        if (uniform(kd, base + PART_LINK) < fp[FP_DESC_LINK])
            ipos = part(tp, ibuf, ipos, &budget, K_LINK, cat, kdp, base + PART_LINK, kds, proj_tpl);
        if (uniform(kd, base + PART_IMAGE) < fp[FP_DESC_IMAGE])
            ipos = part(tp, ibuf, ipos, &budget, K_IMAGE, cat, kdp, base + PART_IMAGE, kds, proj_tpl);
    }
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
    return facts;
}

/* The issue's labels: distinct, drawn from its own project's (kernel.generate_range's end). */
static inline void write_labels(const Inputs *in, Outputs *out, Counts *n, uint64_t ctr, int64_t p)
{
    int64_t n_labels = bisect(in->label_cdf, in->label_cdf_len, uniform(in->keys[S_NLABELS], ctr));
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

/* Record that user u touched the issue at time t; returns the number of distinct users (kernel._touch). */
static inline int64_t touch(int64_t *users, int64_t *first, int64_t *last, int64_t n, int64_t u, int64_t t)
{
    for (int64_t k = 0; k < n; k++) {
        if (users[k] == u) {
            if (t > last[k])
                last[k] = t;
            return n;
        }
    }
    users[n] = u;
    first[n] = t;
    last[n] = t;
    return n + 1;
}

/* The emoji, issueNotifications and viewState loops share these three steps (kernel._contains,
 * _user_issue, _row_end): draw distinct subjects by rejection, start a row with its (user, issue)
 * key, end a row with a timestamp. */

/* Whether x is among items[0..n) (the rejection test of the distinct draws). */
static inline int contains(const int64_t *items, int64_t n, int64_t x)
{
    for (int64_t q = 0; q < n; q++) {
        if (items[q] == x)
            return 1;
    }
    return 0;
}

/* `<user id>,<issue id>,`: the key that notification and view rows start with. */
static inline int64_t user_issue(uint8_t *buf, int64_t pos, int64_t user, const uint8_t *issue_id)
{
    pos = write_user_id(buf, pos, user);
    buf[pos] = ',';
    pos = copy_piece(buf, pos + 1, issue_id, ID_LEN);
    buf[pos] = ',';
    return pos + 1;
}

/* A row's last field, timestamp t, and its newline; records the row's end as row n. */
static inline int64_t row_end(uint8_t *buf, int64_t pos, int64_t t, int64_t *ends, int64_t n)
{
    pos = write_uint(buf, pos, t, 1);
    buf[pos] = '\n';
    ends[n] = pos + 1;
    return pos + 1;
}

/* emoji, issueNotifications and viewState rows of issue `ctr` (kernel.generate_range's end). */
static inline void write_extras(const Inputs *in, Outputs *out, Counts *n, uint64_t ctr, int64_t created,
                                int64_t t_end, int64_t n_comments, IssueFacts facts)
{
    const int64_t *ip = in->ip;
    const double *fp = in->fp;
    const int64_t n_users = ip[IP_USERS];
    const int64_t n_cmax = out->n_cmax, n_tmax = out->n_tmax;
    const int64_t n_kept = min64(n_comments, n_cmax);
    const int64_t modified = facts.modified;
    const int64_t *ctime = out->comment_scratch, *cuser = out->comment_scratch + n_cmax;

    /* emoji: one per (value, subject, creator), by rejection; after the subject, no later than the
     * issue's modification (zbugs bumps `modified` when a reaction arrives). */
    const uint64_t ke = in->keys[S_EMOJI], ket = in->keys[S_EMOJI_TIME];
    const int64_t n_values = in->emoji_value_cdf_len;
    const int64_t pairs = n_values * n_users;
    int64_t *chosen = out->emoji_scratch;
    uint8_t *ebuf = out->ebuf;
    int64_t epos = n->epos;
    int64_t e_total = 0;
    for (int64_t s = 0; s < n_kept + 1; s++) {
        const uint64_t sbase = ((ctr << 10) | (uint64_t)s) << 12;
        int64_t cnt, subj_time;
        if (s == 0) {
            cnt = bisect(in->emoji_issue_cdf, in->emoji_issue_cdf_len, uniform(ke, sbase));
            subj_time = created;
        } else {
            cnt = bisect(in->emoji_comment_cdf, in->emoji_comment_cdf_len, uniform(ke, sbase));
            subj_time = ctime[s - 1];
        }
        cnt = min64(min64(min64(cnt, ip[IP_EMOJI_MAX] - e_total), pairs), out->emoji_scratch_len);
        uint64_t d = 1;
        for (int64_t r = 0; r < cnt; r++) {
            int found = 0;
            int64_t value = 0, who = 0, pair = 0;
            while (d < 4000) {
                value = bisect(in->emoji_value_cdf, n_values, uniform(ke, sbase + d));
                who = skewed_user(ke, sbase + d + 1, n_users);
                d += 2;
                pair = value * n_users + who;
                found = !contains(chosen, r, pair);
                if (found)
                    break;
            }
            if (!found)
                break; /* a subject whose likely pairs are all taken: it gets fewer reactions */
            chosen[r] = pair;
            double u = uniform(ket, sbase + (uint64_t)r);
            int64_t when = subj_time + (int64_t)((double)(modified - subj_time) * (u * u * u));
            epos = write_id(ebuf, epos, in->seed, T_EMOJI, (ctr << 10) | (uint64_t)e_total, in->round_keys,
                            in->n_rounds, in->alphabet);
            ebuf[epos] = ',';
            epos = copy_piece(ebuf, epos + 1, in->emoji_blob + in->emoji_off[value],
                              in->emoji_off[value + 1] - in->emoji_off[value]);
            ebuf[epos] = ',';
            if (s == 0)
                epos = copy_piece(ebuf, epos + 1, out->id_scratch, ID_LEN);
            else
                epos = write_id(ebuf, epos + 1, in->seed, T_COMMENT, (ctr << 10) | (uint64_t)(s - 1), in->round_keys,
                                in->n_rounds, in->alphabet);
            ebuf[epos] = ',';
            epos = write_user_id(ebuf, epos + 1, who);
            ebuf[epos] = ',';
            epos = row_end(ebuf, epos + 1, when, out->eend, n->ne++);
            e_total++;
        }
    }
    n->epos = epos;

    /* Who touched the issue, and when: creator, assignee, commenters. */
    int64_t *users = out->touch_scratch, *first = out->touch_scratch + n_tmax, *lastt = out->touch_scratch + 2 * n_tmax;
    const uint64_t kn = in->keys[S_NOTIFY];
    int64_t n_t = touch(users, first, lastt, 0, facts.creator, created);
    if (facts.assignee >= 0) {
        int64_t assigned_at = created + (int64_t)((double)(modified - created) * uniform(kn, ctr << 11));
        n_t = touch(users, first, lastt, n_t, facts.assignee, assigned_at);
    }
    for (int64_t j = 0; j < n_kept; j++)
        n_t = touch(users, first, lastt, n_t, cuser[j], ctime[j]);

    /* issueNotifications: everyone who touched it subscribed when they did; some left. */
    uint8_t *nbuf = out->nbuf;
    int64_t npos = n->npos;
    for (int64_t k = 0; k < n_t; k++) {
        npos = user_issue(nbuf, npos, users[k], out->id_scratch);
        if (uniform(kn, (ctr << 11) | (uint64_t)(1 + k)) < fp[FP_UNSUBSCRIBED])
            npos = put(nbuf, npos, "false", 5);
        else
            npos = put(nbuf, npos, "true", 4);
        nbuf[npos] = ',';
        npos = row_end(nbuf, npos + 1, first[k], out->nend, n->nn++);
    }
    n->npos = npos;

    /* viewState: participants viewed it at or after their last touch (most saw the latest change,
     * some did not: "unread"), plus people who only browsed. */
    const uint64_t kv = in->keys[S_VIEW];
    uint8_t *vbuf = out->vbuf;
    int64_t vpos = n->vpos;
    for (int64_t k = 0; k < n_t; k++) {
        uint64_t vctr = ((ctr << 12) | (uint64_t)k) * 2;
        int64_t t_last = lastt[k];
        double u = uniform(kv, vctr + 1);
        int64_t viewed;
        if (uniform(kv, vctr) < fp[FP_UNREAD] && modified > t_last)
            viewed = t_last + (int64_t)((double)(modified - t_last) * u);
        else {
            int64_t after = t_last > modified ? t_last : modified;
            viewed = after + (int64_t)((double)(t_end - after) * (u * u));
        }
        vpos = row_end(vbuf, user_issue(vbuf, vpos, users[k], out->id_scratch), viewed, out->vend, n->nv++);
    }
    const int64_t n_part = n_t;
    int64_t browsers = bisect(in->viewer_cdf, in->viewer_cdf_len, uniform(kv, ((ctr << 12) | 4095) * 2));
    browsers = min64(min64(min64(browsers, n_users - n_part), ip[IP_VIEWERS_MAX]), n_tmax - n_part);
    const uint64_t kvp = in->keys[S_VIEW_PICK];
    uint64_t d = 0;
    for (int64_t b = 0; b < browsers; b++) {
        int found = 0;
        int64_t who = 0;
        while (d < 4096) {
            who = skewed_user(kvp, (ctr << 12) + d, n_users);
            d++;
            found = !contains(users, n_t, who);
            if (found)
                break;
        }
        if (!found)
            break;
        users[n_t++] = who;
        double u = uniform(kv, ((ctr << 12) | (uint64_t)(2048 + b)) * 2);
        int64_t viewed = created + (int64_t)((double)(t_end - created) * u);
        vpos = row_end(vbuf, user_issue(vbuf, vpos, who, out->id_scratch), viewed, out->vend, n->nv++);
    }
    n->vpos = vpos;
}

/* Issues [i0, i1) with their comments and labels (and, with all tables, reactions, notifications
 * and views). Returns 0, or -1 if a buffer could overflow (checked before each issue against the
 * worst case the plan computed; the caller retries the same range with bigger buffers and gets the
 * same bytes). Touches no Python object. */
static int run_range(const Inputs *in, Outputs *out, int64_t i0, int64_t i1, Counts *n)
{
    const int64_t *ip = in->ip;
    const int64_t t0 = ip[IP_T0], span = ip[IP_SPAN];
    const int64_t t_end = t0 + span;
    const int all_tables = ip[IP_ALL_TABLES] != 0;
    for (int64_t i = i0; i < i1; i++) {
        if (n->ipos + ip[IP_ISSUE_BOUND] > out->ibuf_len || n->cpos + ip[IP_COMMENT_BOUND] > out->cbuf_len
            || n->lpos + ip[IP_LABEL_BOUND] > out->lbuf_len || n->nc + 1024 > out->cend_len
            || n->nl + out->label_scratch_len > out->lend_len)
            return -1;
        if (all_tables
            && (n->epos + ip[IP_EMOJI_BOUND] > out->ebuf_len || n->ne + 1024 > out->eend_len
                || n->npos + ip[IP_NOTIFY_BOUND] > out->nbuf_len || n->nn + out->n_tmax > out->nend_len
                || n->vpos + ip[IP_VIEW_BOUND] > out->vbuf_len || n->nv + out->n_tmax > out->vend_len))
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
        IssueFacts facts = write_issue(in, out, n, ctr, p, created, last, t_end, cat, proj_tpl);
        out->iend[i - i0] = n->ipos;
        write_labels(in, out, n, ctr, p);
        if (all_tables)
            write_extras(in, out, n, ctr, created, t_end, n_comments, facts);
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
    {"comment_cdf", K_F64, 0}, {"label_cdf", K_F64, 0}, {"reply_q", K_F64, 0},
    {"round_keys", K_U64, 0}, {"alphabet", K_U8, 0}, {"label_ids", K_U8, 0},
    {"label_off", K_I64, 0}, {"blob", K_U8, 0}, {"piece_off", K_I64, 0}, {"piece_len", K_I64, 0},
    {"piece_chars", K_I64, 0}, {"tok_start", K_I64, 0}, {"tok_a", K_I64, 0}, {"tok_b", K_I64, 0},
    {"kind_lo", K_I64, 0}, {"kind_hi", K_I64, 0}, {"pool_items", K_I64, 0}, {"comp_lo", K_I64, 0},
    {"comp_hi", K_I64, 0}, {"comp_items", K_I64, 0}, {"user_items", K_I64, 0},
    {"emoji_issue_cdf", K_F64, 0}, {"emoji_comment_cdf", K_F64, 0}, {"emoji_value_cdf", K_F64, 0},
    {"emoji_blob", K_U8, 0}, {"emoji_off", K_I64, 0}, {"viewer_cdf", K_F64, 0},
    {"ibuf", K_U8, 1}, {"iend", K_I64, 1}, {"cbuf", K_U8, 1}, {"cend", K_I64, 1}, {"lbuf", K_U8, 1},
    {"lend", K_I64, 1}, {"ebuf", K_U8, 1}, {"eend", K_I64, 1}, {"nbuf", K_U8, 1}, {"nend", K_I64, 1},
    {"vbuf", K_U8, 1}, {"vend", K_I64, 1}, {"label_scratch", K_I64, 1}, {"id_scratch", K_U8, 1},
    {"comment_scratch", K_I64, 1}, {"touch_scratch", K_I64, 1}, {"emoji_scratch", K_I64, 1},
};
enum {
    A_KEYS, A_IP, A_FP, A_PROJECT_CDF, A_PROJ_TP, A_PROJ_CAT, A_PROJ_IDS, A_PROJ_NLABELS, A_COMMENT_CDF,
    A_LABEL_CDF, A_REPLY_Q,
    A_ROUND_KEYS, A_ALPHABET, A_LABEL_IDS, A_LABEL_OFF, A_BLOB, A_PIECE_OFF, A_PIECE_LEN, A_PIECE_CHARS,
    A_TOK_START, A_TOK_A, A_TOK_B, A_KIND_LO, A_KIND_HI, A_POOL_ITEMS, A_COMP_LO, A_COMP_HI, A_COMP_ITEMS,
    A_USER_ITEMS, A_EMOJI_ISSUE_CDF, A_EMOJI_COMMENT_CDF, A_EMOJI_VALUE_CDF, A_EMOJI_BLOB, A_EMOJI_OFF,
    A_VIEWER_CDF,
    A_IBUF, A_IEND, A_CBUF, A_CEND, A_LBUF, A_LEND, A_EBUF, A_EEND, A_NBUF, A_NEND, A_VBUF, A_VEND,
    A_LABEL_SCRATCH, A_ID_SCRATCH, A_COMMENT_SCRATCH, A_TOUCH_SCRATCH, A_EMOJI_SCRATCH,
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
    if (items(&v[A_PROJECT_CDF]) < 1 || items(&v[A_COMMENT_CDF]) < 1 || items(&v[A_LABEL_CDF]) < 1
        || items(&v[A_EMOJI_ISSUE_CDF]) < 1 || items(&v[A_EMOJI_COMMENT_CDF]) < 1
        || items(&v[A_EMOJI_VALUE_CDF]) < 1 || items(&v[A_VIEWER_CDF]) < 1)
        return "the cdf tables must not be empty";
    if (items(&v[A_REPLY_Q]) < 2)
        return "reply_q: at least two points expected";
    if (items(&v[A_EMOJI_OFF]) != items(&v[A_EMOJI_VALUE_CDF]) + 1)
        return "emoji_off: one more entry than emoji_value_cdf expected";
    if (items(&v[A_ALPHABET]) < 64)
        return "alphabet: 64 characters expected";
    if (items(&v[A_KIND_LO]) % N_KINDS != 0 || items(&v[A_KIND_HI]) != items(&v[A_KIND_LO]))
        return "kind_lo and kind_hi: shape (kinds, categories) expected";
    if (items(&v[A_USER_ITEMS]) < 1)
        return "user_items must not be empty";
    if (items(&v[A_IEND]) < i1 - i0)
        return "iend: shorter than the range";
    if (items(&v[A_ID_SCRATCH]) < ID_LEN)
        return "id_scratch: 21 bytes expected";
    if (items(&v[A_LABEL_SCRATCH]) < ((const int64_t *)v[A_IP].buf)[IP_LABEL_MAX])
        return "label_scratch: shorter than the most labels an issue gets";
    if (items(&v[A_COMMENT_SCRATCH]) % 2 != 0 || items(&v[A_TOUCH_SCRATCH]) % 3 != 0)
        return "comment_scratch and touch_scratch: 2 and 3 parts expected";
    if (((const int64_t *)v[A_IP].buf)[IP_ALL_TABLES] != 0
        && (items(&v[A_COMMENT_SCRATCH]) < 2 || items(&v[A_TOUCH_SCRATCH]) / 3 < items(&v[A_COMMENT_SCRATCH]) / 2 + 2))
        return "comment_scratch or touch_scratch: too short for all tables";
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
    in->label_cdf = PTR(const double, A_LABEL_CDF);
    in->label_cdf_len = items(&v[A_LABEL_CDF]);
    in->reply_q = PTR(const double, A_REPLY_Q);
    in->reply_q_len = items(&v[A_REPLY_Q]);
    in->emoji_issue_cdf = PTR(const double, A_EMOJI_ISSUE_CDF);
    in->emoji_issue_cdf_len = items(&v[A_EMOJI_ISSUE_CDF]);
    in->emoji_comment_cdf = PTR(const double, A_EMOJI_COMMENT_CDF);
    in->emoji_comment_cdf_len = items(&v[A_EMOJI_COMMENT_CDF]);
    in->emoji_value_cdf = PTR(const double, A_EMOJI_VALUE_CDF);
    in->emoji_value_cdf_len = items(&v[A_EMOJI_VALUE_CDF]);
    in->viewer_cdf = PTR(const double, A_VIEWER_CDF);
    in->viewer_cdf_len = items(&v[A_VIEWER_CDF]);
    in->emoji_blob = PTR(const uint8_t, A_EMOJI_BLOB);
    in->emoji_off = PTR(const int64_t, A_EMOJI_OFF);
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
    tp->n_categories = items(&v[A_KIND_LO]) / N_KINDS;
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
    out->ebuf = PTR(uint8_t, A_EBUF);
    out->ebuf_len = items(&v[A_EBUF]);
    out->eend = PTR(int64_t, A_EEND);
    out->eend_len = items(&v[A_EEND]);
    out->nbuf = PTR(uint8_t, A_NBUF);
    out->nbuf_len = items(&v[A_NBUF]);
    out->nend = PTR(int64_t, A_NEND);
    out->nend_len = items(&v[A_NEND]);
    out->vbuf = PTR(uint8_t, A_VBUF);
    out->vbuf_len = items(&v[A_VBUF]);
    out->vend = PTR(int64_t, A_VEND);
    out->vend_len = items(&v[A_VEND]);
    out->comment_scratch = PTR(int64_t, A_COMMENT_SCRATCH);
    out->n_cmax = items(&v[A_COMMENT_SCRATCH]) / 2;
    out->touch_scratch = PTR(int64_t, A_TOUCH_SCRATCH);
    out->n_tmax = items(&v[A_TOUCH_SCRATCH]) / 3;
    out->emoji_scratch = PTR(int64_t, A_EMOJI_SCRATCH);
    out->emoji_scratch_len = items(&v[A_EMOJI_SCRATCH]);
#undef PTR
}

PyDoc_STRVAR(generate_range_doc,
"generate_range(i0, i1, seed, keys, ip, fp, project_cdf, proj_tp, proj_cat, proj_ids, proj_nlabels,\n"
"               comment_cdf, label_cdf, reply_q, round_keys, alphabet, label_ids, label_off, blob,\n"
"               piece_off, piece_len, piece_chars, tok_start, tok_a, tok_b, kind_lo, kind_hi, pool_items,\n"
"               comp_lo, comp_hi, comp_items, user_items, emoji_issue_cdf, emoji_comment_cdf,\n"
"               emoji_value_cdf, emoji_blob, emoji_off, viewer_cdf, ibuf, iend, cbuf, cend, lbuf, lend,\n"
"               ebuf, eend, nbuf, nend, vbuf, vend, label_scratch, id_scratch, comment_scratch,\n"
"               touch_scratch, emoji_scratch)\n"
"--\n\n"
"Write the CSV rows of issues [i0, i1), their comments and issue labels (and with all tables their\n"
"emoji, notifications and views) into the buffers; the same arguments and bytes as\n"
"kernel.generate_range. Returns (issue bytes, comments, comment bytes, labels, label bytes, emoji,\n"
"emoji bytes, notifications, notification bytes, views, view bytes), or (-1, 0, ...) if a buffer\n"
"could overflow. Releases the GIL.");

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
    Counts n = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    unpack_arrays(views, seed, &in, &out);
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = run_range(&in, &out, i0, i1, &n);
    Py_END_ALLOW_THREADS
    if (status < 0)
        result = Py_BuildValue("(LLLLLLLLLLL)", -1LL, 0LL, 0LL, 0LL, 0LL, 0LL, 0LL, 0LL, 0LL, 0LL, 0LL);
    else
        result = Py_BuildValue("(LLLLLLLLLLL)", (long long)n.ipos, (long long)n.nc, (long long)n.cpos,
                               (long long)n.nl, (long long)n.lpos, (long long)n.ne, (long long)n.epos,
                               (long long)n.nn, (long long)n.npos, (long long)n.nv, (long long)n.vpos);
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
