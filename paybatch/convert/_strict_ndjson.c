/*
 * paybatch.convert._strict_ndjson: a strict, schema-driven NDJSON block parser into Arrow column buffers.
 *
 * Why it exists: Arrow's JSON reader is strict (the contract) but slow, about 0.8 CPU-s per 128 MiB of
 * the payments feed and 80 % of a conversion task; the fast readers on PyPI (DuckDB, polars, arrow-rs)
 * are lenient (they cast "12" to 12, 1.5 to 1, a number to text, and drop unknown fields). This parser
 * accepts only a narrow, exactly specified subset of JSON, and *declines* a block at its first line
 * outside that subset; the caller then reads the block with Arrow's reader, which stays the reference
 * for every line this parser does not take (unknown fields for `_rescued`, escapes in keys, timestamps
 * with offsets, integers written as 1.0, bad lines and their reasons). For every line it does accept,
 * the values are the ones Arrow's reader produces (tests/unit/test_strict_ndjson.py checks this).
 *
 * A line is accepted when it is one JSON object on one line whose keys are all schema fields, each at
 * most once, written without escapes, and every value is null or of its field's kind:
 *   's' string     a JSON string of valid UTF-8 (escapes decoded; no raw control characters)
 *   'i' int64      -?(0|[1-9][0-9]*) within int64, no fraction or exponent
 *   'd' double     any JSON number, finite; correctly rounded (exact fast path, else CPython's dtoa)
 *   'b' bool       true | false
 *   't' timestamp  "YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z", a real calendar date, years 1000-9999 (µs since epoch)
 *   'D' date32     "YYYY-MM-DD", a real calendar date, years 1000-9999 (days since epoch)
 * Whitespace (space, tab, CR) may surround tokens. A blank line, a second object on the line, a
 * trailing comma or anything else declines.
 *
 * parse(block, lines, names, kinds) -> list of (validity, data, offsets | None, null_count) per field,
 * or (line_index, reason) for the first declined line. `block` holds `lines` lines, each ending in \n.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* A growing bytearray: the string bytes are written where Python (and then Arrow) will read them, uncopied. */
typedef struct {
    PyObject *obj;
    char *data;
    size_t len, cap;
} Buf;

static int buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    if (PyByteArray_Resize(b->obj, (Py_ssize_t)cap) < 0) return -1;
    b->data = PyByteArray_AS_STRING(b->obj);
    b->cap = cap;
    return 0;
}

static PyObject *new_bytearray(size_t size, int zeroed) {
    PyObject *obj = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (obj && zeroed) memset(PyByteArray_AS_STRING(obj), 0, size);
    return obj;
}

typedef struct {
    char kind;
    const char *name;
    Py_ssize_t name_len;
    PyObject *validity_obj, *fixed_obj, *offsets_obj;  /* bytearrays handed to Arrow as they are */
    uint8_t *validity;   /* (rows + 7) / 8 bytes, zeroed: a bit per row, set when not null */
    uint8_t *fixed;      /* int64/double/timestamp: 8 bytes a row; date32: 4; bool: a bitmap (zeroed) */
    int32_t *offsets;    /* strings: rows + 1 */
    Buf text;            /* strings: their UTF-8 bytes */
    Py_ssize_t nulls;
    Py_ssize_t seen_row; /* the last row that set this field (duplicate keys decline) */
} Column;

enum { OK = 0, DECLINE = 1, NOMEM = 2 };

typedef struct {
    const char *reason;
} Why;

#define DECLINE_WITH(why, text) do { (why)->reason = (text); return DECLINE; } while (0)

static inline const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    return p;
}

static inline void set_bit(uint8_t *bits, Py_ssize_t i) { bits[i >> 3] |= (uint8_t)(1u << (i & 7)); }

/* ---- strings ---------------------------------------------------------------------------------- */

/* Length of one strictly valid UTF-8 sequence starting at p (a lead byte >= 0x80), or 0. */
static Py_ssize_t utf8_sequence(const unsigned char *p, const unsigned char *end) {
    unsigned char c = p[0];
    Py_ssize_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c == 0xE0) { n = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) n = 3;
    else if (c == 0xED) { n = 3; hi = 0x9F; }  /* no UTF-16 surrogates */
    else if (c >= 0xEE && c <= 0xEF) n = 3;
    else if (c == 0xF0) { n = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) n = 4;
    else if (c == 0xF4) { n = 4; hi = 0x8F; }  /* nothing above U+10FFFF */
    else return 0;
    if (end - p < n) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (Py_ssize_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return n;
}

static int hex4(const char *p, const char *end, uint32_t *out) {
    if (end - p < 4) return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *out, uint32_t cp) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F)); return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F)); return 4;
}

/* Characters copied as they are inside a string: printable ASCII but the quote and the backslash. */
static uint8_t PLAIN[256];

static void init_tables(void) {
    for (int c = 0x20; c < 0x80; c++) PLAIN[c] = 1;
    PLAIN['"'] = 0;
    PLAIN['\\'] = 0;
}

/* *pp is just past the opening quote; appends the decoded string to out and leaves *pp past the closing quote. */
static int parse_string(const char **pp, const char *end, Buf *out, Why *why) {
    const unsigned char *p = (const unsigned char *)*pp, *e = (const unsigned char *)end;
    /* The decoded text is never longer than the raw text up to the line's end. */
    if (buf_reserve(out, (size_t)(e - p)) < 0) return NOMEM;
    char *dst = out->data + out->len;
    for (;;) {
        /* Eight bytes at a time while none is a quote, a backslash, a control character or non-ASCII
           (the bit tricks flag any such byte; a flagged word is finished byte by byte below). */
        while (e - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
            uint64_t quote = w ^ (ones * '"'), slash = w ^ (ones * '\\');
            uint64_t special = ((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) | ((slash - ones) & ~slash) | w;
            if (special & highs) break;
            memcpy(dst, p, 8);
            dst += 8;
            p += 8;
        }
        while (p < e && PLAIN[*p]) *dst++ = (char)*p++;  /* the short rest of a run */
        if (p >= e) DECLINE_WITH(why, "unterminated string");
        unsigned char c = *p;
        if (c == '"') { p++; break; }
        if (c == '\\') {
            if (e - p < 2) DECLINE_WITH(why, "unterminated string");
            char esc = (char)p[1];
            p += 2;
            switch (esc) {
                case '"': *dst++ = '"'; break;
                case '\\': *dst++ = '\\'; break;
                case '/': *dst++ = '/'; break;
                case 'b': *dst++ = '\b'; break;
                case 'f': *dst++ = '\f'; break;
                case 'n': *dst++ = '\n'; break;
                case 'r': *dst++ = '\r'; break;
                case 't': *dst++ = '\t'; break;
                case 'u': {
                    uint32_t cp, low;
                    if (hex4((const char *)p, end, &cp) < 0) DECLINE_WITH(why, "bad \\u escape");
                    p += 4;
                    if (cp >= 0xDC00 && cp <= 0xDFFF) DECLINE_WITH(why, "lone surrogate escape");
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        if (e - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4((const char *)p + 2, end, &low) < 0
                            || low < 0xDC00 || low > 0xDFFF)
                            DECLINE_WITH(why, "lone surrogate escape");
                        p += 6;
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    }
                    dst += put_utf8(dst, cp);  /* at most 4 bytes for the 6 or 12 read */
                    break;
                }
                default: DECLINE_WITH(why, "bad escape");
            }
            continue;
        }
        if (c < 0x20) DECLINE_WITH(why, "control character in string");
        Py_ssize_t n = utf8_sequence(p, e);
        if (!n) DECLINE_WITH(why, "invalid UTF-8");
        memcpy(dst, p, (size_t)n);
        dst += n;
        p += n;
    }
    out->len = (size_t)(dst - out->data);
    *pp = (const char *)p;
    return OK;
}

/* ---- dates and timestamps --------------------------------------------------------------------- */

static int digits(const char *p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int parse_ymd(const char *p, int64_t *days) {
    static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    if (digits(p, 4, &y) || p[4] != '-' || digits(p + 5, 2, &m) || p[7] != '-' || digits(p + 8, 2, &d)) return -1;
    if (y < 1000 || m < 1 || m > 12 || d < 1) return -1;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > month_days[m - 1] + (m == 2 && leap)) return -1;
    *days = days_from_civil(y, m, d);
    return 0;
}

/* The raw text of a string value with no escapes, for dates and timestamps; *pp past the closing quote. */
static int raw_string(const char **pp, const char *end, const char **start, Py_ssize_t *len, Why *why) {
    const char *p = *pp;
    *start = p;
    while (p < end && *p != '"') {
        if (*p == '\\' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x80) DECLINE_WITH(why, "date or timestamp not in the plain form");
        p++;
    }
    if (p >= end) DECLINE_WITH(why, "unterminated string");
    *len = p - *start;
    *pp = p + 1;
    return OK;
}

static int parse_timestamp(const char *s, Py_ssize_t n, int64_t *micros) {
    int64_t days;
    int hh, mm, ss, frac = 0, frac_digits = 0;
    if (n < 20 || s[n - 1] != 'Z' || parse_ymd(s, &days) || s[10] != 'T') return -1;
    if (digits(s + 11, 2, &hh) || s[13] != ':' || digits(s + 14, 2, &mm) || s[16] != ':' || digits(s + 17, 2, &ss)) return -1;
    if (hh > 23 || mm > 59 || ss > 59) return -1;
    if (n > 20) {
        frac_digits = (int)(n - 21);
        if (s[19] != '.' || frac_digits < 1 || frac_digits > 6 || digits(s + 20, frac_digits, &frac)) return -1;
        for (int i = frac_digits; i < 6; i++) frac *= 10;
    }
    *micros = ((days * 24 + hh) * 60 + mm) * 60 * INT64_C(1000000) + (int64_t)ss * 1000000 + frac;
    return 0;
}

/* ---- numbers ---------------------------------------------------------------------------------- */

static inline int ends_value(char c) { return c == ',' || c == '}' || c == ' ' || c == '\t' || c == '\r'; }

static int parse_int64(const char **pp, const char *end, int64_t *out, Why *why) {
    const char *p = *pp;
    int negative = 0;
    if (p < end && *p == '-') { negative = 1; p++; }
    if (p >= end || *p < '0' || *p > '9') DECLINE_WITH(why, "not an integer");
    uint64_t v = 0;
    const uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (*p == '0') p++;
    else {
        while (p < end && *p >= '0' && *p <= '9') {
            uint64_t digit = (uint64_t)(*p - '0');
            if (v > (limit - digit) / 10) DECLINE_WITH(why, "integer out of int64 range");
            v = v * 10 + digit;
            p++;
        }
    }
    if (p >= end || !ends_value(*p)) DECLINE_WITH(why, "not an integer");
    *out = negative ? (int64_t)(0 - v) : (int64_t)v;
    *pp = p;
    return OK;
}

static const double POW10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int parse_double(const char **pp, const char *end, double *out, Why *why) {
    const char *p = *pp, *start = p;
    int negative = 0;
    uint64_t mantissa = 0;
    int significant = 0, dropped = 0;  /* digits kept in the mantissa; digits past the 19th (integer ones scale it) */
    int64_t exponent = 0;
    if (*p == '-') { negative = 1; p++; }
    if (p >= end || *p < '0' || *p > '9') DECLINE_WITH(why, "not a number");
    if (*p == '0') p++;
    else {
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (significant < 19) { mantissa = mantissa * 10 + (uint64_t)(*p - '0'); significant++; }
            else dropped++;
        }
    }
    exponent += dropped;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') DECLINE_WITH(why, "not a number");
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (mantissa == 0 && *p == '0') { exponent--; continue; }  /* leading zeros of 0.000x */
            if (significant < 19) { mantissa = mantissa * 10 + (uint64_t)(*p - '0'); significant++; exponent--; }
            else dropped++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int exp_negative = 0;
        int64_t e = 0;
        if (p < end && (*p == '+' || *p == '-')) { exp_negative = *p == '-'; p++; }
        if (p >= end || *p < '0' || *p > '9') DECLINE_WITH(why, "not a number");
        for (; p < end && *p >= '0' && *p <= '9'; p++)
            if (e < 100000) e = e * 10 + (*p - '0');
        /* Arrow's tokenizer (RapidJSON) refuses a positive exponent over 308 plus the fraction digits it
           counted, even for 0e309; over 308 is refused here whatever the digits, so never taken wrongly. */
        if (!exp_negative && e > 308) DECLINE_WITH(why, "exponent over 308");
        exponent += exp_negative ? -e : e;
    }
    if (p >= end || !ends_value(*p)) DECLINE_WITH(why, "not a number");
    double value;  /* the magnitude; the sign is applied last, so -0 and -0.0 give -0.0 as in Arrow */
    if (mantissa == 0) value = 0.0;
    else if (significant <= 15 && dropped == 0 && exponent >= -22 && exponent <= 22) {
        /* Both operands are exact doubles, so one IEEE operation gives the correctly rounded value. */
        value = exponent >= 0 ? (double)mantissa * POW10[exponent] : (double)mantissa / POW10[-exponent];
    } else {
        char text[128];
        const char *digits_start = start + negative;
        Py_ssize_t n = p - digits_start;
        if (n >= (Py_ssize_t)sizeof(text)) DECLINE_WITH(why, "number too long for the fast path");
        memcpy(text, digits_start, (size_t)n);
        text[n] = '\0';
        char *stop = NULL;
        value = PyOS_string_to_double(text, &stop, NULL);  /* correctly rounded, locale-independent */
        if (PyErr_Occurred()) { PyErr_Clear(); DECLINE_WITH(why, "not a number"); }
        if (stop != text + n) DECLINE_WITH(why, "not a number");
    }
    if (value - value != 0.0) DECLINE_WITH(why, "number out of double range");
    *out = negative ? -value : value;
    *pp = p;
    return OK;
}

/* true, false or null at *pp, followed by the end of the value. */
static inline int literal(const char **pp, const char *end, const char *word, Py_ssize_t n) {
    if (end - *pp < n + 1) return -1;
    for (Py_ssize_t i = 0; i < n; i++)
        if ((*pp)[i] != word[i]) return -1;
    if (!ends_value((*pp)[n])) return -1;
    *pp += n;
    return 0;
}

/* ---- lines ------------------------------------------------------------------------------------ */

/* key[0, len) == name[0, len), comparing 8 bytes at a time (a libc memcmp call was a quarter of the parse). */
static inline int same_bytes(const char *key, const char *name, Py_ssize_t len) {
    uint64_t a, b;
    while (len >= 8) {
        memcpy(&a, key, 8);
        memcpy(&b, name, 8);
        if (a != b) return 0;
        key += 8;
        name += 8;
        len -= 8;
    }
    while (len--)
        if (*key++ != *name++) return 0;
    return 1;
}

static Py_ssize_t find_field(Column *cols, Py_ssize_t ncols, const char *key, Py_ssize_t len) {
    for (Py_ssize_t i = 0; i < ncols; i++)
        if (cols[i].name_len == len && same_bytes(key, cols[i].name, len)) return i;
    return -1;
}

static int parse_value(Column *col, Py_ssize_t row, const char **pp, const char *end, Why *why) {
    const char *p = *pp;
    if (*p == 'n') {
        if (literal(&p, end, "null", 4)) DECLINE_WITH(why, "invalid literal");
        col->nulls++;
        *pp = p;
        return OK;  /* the validity bit stays 0; the caller fills the slot */
    }
    int status = OK;
    switch (col->kind) {
        case 's':
            if (*p != '"') DECLINE_WITH(why, "not a string");
            p++;
            status = parse_string(&p, end, &col->text, why);
            if (status != OK) return status;
            if (col->text.len > INT32_MAX) DECLINE_WITH(why, "string column over 2 GiB");
            col->offsets[row + 1] = (int32_t)col->text.len;
            break;
        case 'i': {
            int64_t v;
            if ((status = parse_int64(&p, end, &v, why)) != OK) return status;
            memcpy(col->fixed + row * 8, &v, 8);
            break;
        }
        case 'd': {
            double v;
            if ((status = parse_double(&p, end, &v, why)) != OK) return status;
            memcpy(col->fixed + row * 8, &v, 8);
            break;
        }
        case 'b':
            if (!literal(&p, end, "true", 4)) set_bit(col->fixed, row);
            else if (literal(&p, end, "false", 5)) DECLINE_WITH(why, "not a boolean");
            break;
        case 't': case 'D': {
            const char *s;
            Py_ssize_t n;
            if (*p != '"') DECLINE_WITH(why, "not a string");
            p++;
            if ((status = raw_string(&p, end, &s, &n, why)) != OK) return status;
            if (col->kind == 't') {
                int64_t micros;
                if (parse_timestamp(s, n, &micros)) DECLINE_WITH(why, "timestamp not in the plain form");
                memcpy(col->fixed + row * 8, &micros, 8);
            } else {
                int64_t days;
                if (n != 10 || parse_ymd(s, &days)) DECLINE_WITH(why, "date not in the plain form");
                int32_t d32 = (int32_t)days;
                memcpy(col->fixed + row * 4, &d32, 4);
            }
            break;
        }
        default:
            DECLINE_WITH(why, "unsupported kind");
    }
    set_bit(col->validity, row);
    *pp = p;
    return OK;
}

/* One line [p, end) where *end == '\n'. */
static int parse_line(Column *cols, Py_ssize_t ncols, Py_ssize_t row, const char *p, const char *end, Why *why) {
    p = skip_ws(p, end);
    if (p >= end) DECLINE_WITH(why, "blank line");
    if (*p != '{') DECLINE_WITH(why, "not an object");
    p = skip_ws(p + 1, end);
    Py_ssize_t guess = 0;
    if (p < end && *p == '}') p++;
    else {
        for (;;) {
            if (p >= end || *p != '"') DECLINE_WITH(why, "expected a key");
            const char *key = ++p;
            Py_ssize_t index;
            if (guess < ncols && end - key > cols[guess].name_len && key[cols[guess].name_len] == '"'
                && same_bytes(key, cols[guess].name, cols[guess].name_len)) {
                index = guess;  /* the field that followed the previous one last time: the usual case */
                p = key + cols[guess].name_len;
            } else {
                while (p < end && *p != '"' && *p != '\\') p++;
                if (p >= end || *p != '"') DECLINE_WITH(why, "key with an escape");
                index = find_field(cols, ncols, key, p - key);
                if (index < 0) DECLINE_WITH(why, "unknown field");
            }
            Column *col = &cols[index];
            if (col->seen_row == row) DECLINE_WITH(why, "duplicate field");
            col->seen_row = row;
            guess = index + 1;
            p = skip_ws(p + 1, end);
            if (p >= end || *p != ':') DECLINE_WITH(why, "expected a colon");
            p = skip_ws(p + 1, end);
            if (p >= end) DECLINE_WITH(why, "missing value");
            int status = parse_value(col, row, &p, end, why);
            if (status != OK) return status;
            p = skip_ws(p, end);
            if (p < end && *p == ',') { p = skip_ws(p + 1, end); continue; }
            if (p < end && *p == '}') { p++; break; }
            DECLINE_WITH(why, "expected a comma or a closing brace");
        }
    }
    p = skip_ws(p, end);
    if (p != end) DECLINE_WITH(why, "text after the object");
    for (Py_ssize_t i = 0; i < ncols; i++) {  /* absent fields are null; a null's slot is zero (or empty) */
        Column *col = &cols[i];
        if (col->validity[row >> 3] & (1u << (row & 7))) continue;
        if (col->seen_row != row) col->nulls++;  /* a null literal was counted where it was read */
        switch (col->kind) {
            case 's': col->offsets[row + 1] = (int32_t)col->text.len; break;
            case 'i': case 'd': case 't': memset(col->fixed + row * 8, 0, 8); break;
            case 'D': memset(col->fixed + row * 4, 0, 4); break;
            default: break;
        }
    }
    return OK;
}

static void free_columns(Column *cols, Py_ssize_t ncols) {
    for (Py_ssize_t i = 0; i < ncols; i++) {
        Py_XDECREF(cols[i].validity_obj);
        Py_XDECREF(cols[i].fixed_obj);
        Py_XDECREF(cols[i].offsets_obj);
        Py_XDECREF(cols[i].text.obj);
    }
    PyMem_Free(cols);
}

static size_t fixed_width(char kind, Py_ssize_t rows) {
    switch (kind) {
        case 'i': case 'd': case 't': return (size_t)rows * 8;
        case 'D': return (size_t)rows * 4;
        case 'b': return ((size_t)rows + 7) / 8;
        default: return 0;
    }
}

static PyObject *column_result(Column *col) {
    if (col->kind == 's') {
        if (PyByteArray_Resize(col->text.obj, (Py_ssize_t)col->text.len) < 0) return NULL;  /* to its length */
        return Py_BuildValue("(OOOn)", col->validity_obj, col->text.obj, col->offsets_obj, col->nulls);
    }
    return Py_BuildValue("(OOOn)", col->validity_obj, col->fixed_obj, Py_None, col->nulls);
}

static PyObject *parse(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer block;
    Py_ssize_t rows;
    PyObject *names;
    const char *kinds;
    Py_ssize_t nkinds;
    if (!PyArg_ParseTuple(args, "y*nO!s#", &block, &rows, &PyTuple_Type, &names, &kinds, &nkinds)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t ncols = PyTuple_GET_SIZE(names);
    Column *cols = NULL;
    if (ncols != nkinds || rows < 0) {
        PyErr_SetString(PyExc_ValueError, "one kind per name, and a line count >= 0");
        goto done;
    }
    cols = PyMem_Calloc((size_t)(ncols ? ncols : 1), sizeof(Column));
    if (!cols) { PyErr_NoMemory(); goto done; }
    size_t bitmap = ((size_t)rows + 7) / 8;
    for (Py_ssize_t i = 0; i < ncols; i++) {
        Column *col = &cols[i];
        col->kind = kinds[i];
        if (!strchr("sidbtD", col->kind)) { PyErr_Format(PyExc_ValueError, "unknown kind %c", col->kind); goto done; }
        col->name = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(names, i), &col->name_len);
        if (!col->name) goto done;
        col->seen_row = -1;
        if (!(col->validity_obj = new_bytearray(bitmap, 1))) goto done;
        col->validity = (uint8_t *)PyByteArray_AS_STRING(col->validity_obj);
        if (col->kind == 's') {
            if (!(col->offsets_obj = new_bytearray(((size_t)rows + 1) * sizeof(int32_t), 1))) goto done;
            if (!(col->text.obj = new_bytearray(0, 0))) goto done;
            col->offsets = (int32_t *)PyByteArray_AS_STRING(col->offsets_obj);
        } else {
            if (!(col->fixed_obj = new_bytearray(fixed_width(col->kind, rows), col->kind == 'b'))) goto done;
            col->fixed = (uint8_t *)PyByteArray_AS_STRING(col->fixed_obj);
        }
    }
    const char *p = block.buf, *end = p + block.len;
    Py_ssize_t row = 0;
    Why why = {NULL};
    while (p < end) {
        const char *newline = memchr(p, '\n', (size_t)(end - p));
        if (!newline) { why.reason = "last line has no newline"; break; }
        if (row >= rows) { why.reason = "more lines than counted"; break; }
        int status = parse_line(cols, ncols, row, p, newline, &why);
        if (status == NOMEM) { PyErr_NoMemory(); goto done; }
        if (status == DECLINE) break;
        row++;
        p = newline + 1;
    }
    if (!why.reason && row != rows) why.reason = "fewer lines than counted";
    if (why.reason) {
        result = Py_BuildValue("(ns)", row, why.reason);
        goto done;
    }
    result = PyList_New(ncols);
    if (!result) goto done;
    for (Py_ssize_t i = 0; i < ncols; i++) {
        PyObject *column = column_result(&cols[i]);
        if (!column) { Py_CLEAR(result); goto done; }
        PyList_SET_ITEM(result, i, column);
    }
done:
    if (cols) free_columns(cols, ncols);
    PyBuffer_Release(&block);
    return result;
}

static PyMethodDef METHODS[] = {
    {"parse", parse, METH_VARARGS,
     "parse(block, lines, names, kinds) -> [(validity, data, offsets|None, nulls)] per field, or (line, reason) if declined"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_strict_ndjson",
    .m_doc = "Strict, schema-driven NDJSON blocks to Arrow column buffers (see the C source).",
    .m_size = -1,
    .m_methods = METHODS,
};

PyMODINIT_FUNC PyInit__strict_ndjson(void) {
    init_tables();
    return PyModule_Create(&MODULE);
}
