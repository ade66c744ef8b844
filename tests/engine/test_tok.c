/*
 * Tokenizer tests against llama.cpp's behaviour: the 46 conformance vectors of each DeepSeek
 * vocab (../shared/vocab, expected ids from HF tokenizers), the worked examples of
 * llama-cpp-facts.md 3.2, special/FIM/EOG ids, detokenization of each token type, the
 * streaming detokenizer, round trips on random UTF-8 and source text, and vocab files without
 * (or with an unknown) tokenizer.ggml.pre.
 */
#include "base.h"
#include "engine/engine.h"
#include "tests/engine/gguf_writer.h"
#include "tests/test.h"

#include <errno.h>
#include <pthread.h>

static const char *const vocab_files[2] = {"vocab/ggml-vocab-deepseek-coder.gguf",
                                           "vocab/ggml-vocab-deepseek-llm.gguf"};

static struct eng_vocab *load_vocab(int which)
{
    const char *p = test_shared_path(vocab_files[which]);
    if (!p)
        SKIP("../shared/vocab is absent");
    char err[512];
    struct eng_gguf *g;
    int rc = eng_gguf_open(p, err, sizeof err, &g);
    if (rc == -ENOENT)
        SKIP("%s is absent", p);
    ASSERT_MSG(rc == 0, "%s", err);
    struct eng_vocab *v;
    rc = eng_vocab_load(g, &v, err, sizeof err);
    ASSERT_MSG(rc == 0, "%s", err);
    eng_gguf_close(g);
    return v;
}

/* Tokenizes into a malloc'd array; *n = count. */
static int32_t *tok(const struct eng_vocab *v, const char *s, size_t len, int bos, int special,
                    int *n)
{
    int need = eng_tokenize(v, s, len, bos, special, NULL, 0);
    ASSERT_GE(need, 0);
    int32_t *ids = malloc(sizeof *ids * (size_t)(need + 1));
    int got = eng_tokenize(v, s, len, bos, special, ids, need);
    ASSERT_EQ(got, need);
    *n = got;
    return ids;
}

static void expect_ids(const struct eng_vocab *v, const char *s, int bos, int special,
                       const int32_t *want, int nwant)
{
    int n;
    int32_t *ids = tok(v, s, strlen(s), bos, special, &n);
    int ok = n == nwant;
    for (int i = 0; ok && i < n; i++)
        ok = ids[i] == want[i];
    if (!ok) {
        fprintf(stderr, "input: \"%s\"\n got:", s);
        for (int i = 0; i < n; i++)
            fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\nwant:");
        for (int i = 0; i < nwant; i++)
            fprintf(stderr, " %d", want[i]);
        fputc('\n', stderr);
    }
    free(ids);
    ASSERT(ok);
}
#define EXPECT(v, s, bos, sp, ...)                                                                \
    do {                                                                                          \
        static const int32_t w_[] = {__VA_ARGS__};                                                \
        expect_ids(v, s, bos, sp, w_, (int)SK_ARRAY_LEN(w_));                                     \
    } while (0)

static void conformance(int which)
{
    char path[1100];
    struct eng_vocab *v = load_vocab(which);
    snprintf(path, sizeof path, "%s.inp", test_shared_path(vocab_files[which]));
    char *inp, *out;
    size_t inp_len, out_len;
    ASSERT_EQ(sk_read_file(path, 1 << 24, &inp, &inp_len), 0);
    snprintf(path, sizeof path, "%s.out", test_shared_path(vocab_files[which]));
    ASSERT_EQ(sk_read_file(path, 1 << 24, &out, &out_len), 0);
    const char *sep = "\n__ggml_vocab_test__\n";
    char *ip = inp, *op = out;
    int n_cases = 0, n_fail = 0;
    for (;;) {
        char *e = strstr(ip, sep);
        if (!e)
            break;
        char *oe = strchr(op, '\n');
        ASSERT(oe);
        *oe = 0;
        int32_t want[4096];
        int nw = 0;
        for (char *q = op; *q;) {
            while (*q == ' ')
                q++;
            if (!*q)
                break;
            want[nw++] = (int32_t)strtol(q, &q, 10);
        }
        int n;
        int32_t *ids = tok(v, ip, (size_t)(e - ip), 0, 0, &n);
        int ok = n == nw;
        for (int i = 0; ok && i < n; i++)
            ok = ids[i] == want[i];
        if (!ok) {
            n_fail++;
            fprintf(stderr, "case %d \"%.*s\"\n got:", n_cases, (int)(e - ip), ip);
            for (int i = 0; i < n; i++)
                fprintf(stderr, " %d", ids[i]);
            fprintf(stderr, "\nwant: %s\n", op);
        }
        /* The round trip holds for every vector (all are valid UTF-8). */
        char back[65536];
        int bl = eng_detokenize(v, ids, n, 0, back, sizeof back);
        ASSERT_MSG(bl == e - ip && !memcmp(back, ip, (size_t)bl), "round trip of case %d",
                   n_cases);
        free(ids);
        n_cases++;
        ip = e + strlen(sep);
        op = oe + 1;
    }
    ASSERT_EQ(n_cases, 46);
    ASSERT_EQ(n_fail, 0);
    sk_free(inp);
    sk_free(out);
    eng_vocab_free(v);
}

TEST(tok_conformance_deepseek_coder) { conformance(0); }
TEST(tok_conformance_deepseek_llm) { conformance(1); }

#define BOS_TXT "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
#define FIM_BEGIN "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define FIM_HOLE "<\xef\xbd\x9c" "fim\xe2\x96\x81hole\xef\xbd\x9c>"
#define FIM_END "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>"

TEST(tok_worked_examples_coder)
{
    struct eng_vocab *v = load_vocab(0);
    EXPECT(v, "def fib(n):\n    return n", 1, 0, 32013, 1551, 12606, 7, 77, 1772, 185, 315, 967,
           291);
    EXPECT(v, "hello world 12345", 1, 0, 32013, 31702, 1835, 207, 16, 17, 18, 19, 20);
    EXPECT(v, "  x = 1\r\n", 0, 0, 207, 1371, 1412, 16, 188, 185);
    EXPECT(v, "    if (x >= 10) { y += 0x1F; }", 0, 0, 315, 562, 334, 87, 16684, 16, 15, 8, 507,
           320, 23323, 15, 87, 16, 37, 26, 611);
    EXPECT(v, "<|EOT|> \xc3\xb5 <pad>", 0, 0, 32021, 207, 32000, 207, 32018);
    EXPECT(v, FIM_BEGIN "def f():\n" FIM_HOLE "\n" FIM_END, 1, 1, 32013, 32016, 1551, 267, 10942,
           185, 32015, 185, 32017);
    /* Without parse_special the FIM markers (forced to CONTROL) are plain text. */
    int n;
    int32_t *ids = tok(v, FIM_BEGIN "def", strlen(FIM_BEGIN "def"), 0, 0, &n);
    static const int32_t head[] = {27, 169, 121, 237, 69, 308, 11028, 210, 946};
    ASSERT_GE(n, 9);
    for (int i = 0; i < 9; i++)
        ASSERT_EQ(ids[i], head[i]);
    free(ids);
    /* Empty text: nothing, or BOS alone. */
    ASSERT_EQ(eng_tokenize(v, "", 0, 0, 0, NULL, 0), 0);
    EXPECT(v, "", 1, 0, 32013);
    /* A BOS written in the text with parse_special is kept next to the added one. */
    EXPECT(v, BOS_TXT "x", 1, 1, 32013, 32013, 87);
    eng_vocab_free(v);
}

TEST(tok_worked_examples_llm)
{
    struct eng_vocab *v = load_vocab(1);
    EXPECT(v, "hello world 12345", 1, 0, 100000, 31539, 1843, 207, 16, 17, 18, 19, 20);
    EXPECT(v, "  x = 1\r\n", 0, 0, 207, 1376, 403, 207, 16, 188, 185);
    eng_vocab_free(v);
}

TEST(tok_special_ids_and_types)
{
    struct eng_vocab *v = load_vocab(0);
    ASSERT_EQ(eng_vocab_n_tokens(v), 32256);
    ASSERT_STR_EQ(eng_vocab_pretok_name(v), "deepseek-coder");
    ASSERT_EQ(eng_vocab_pretok_guessed(v), 0);
    ASSERT_EQ(eng_vocab_bos(v), 32013);
    ASSERT_EQ(eng_vocab_eos(v), 32014);
    ASSERT_EQ(eng_vocab_eot(v), 32014);
    ASSERT_EQ(eng_vocab_pad(v), 32014);
    ASSERT_EQ(eng_vocab_fim_pre(v), 32016);
    ASSERT_EQ(eng_vocab_fim_suf(v), 32015);
    ASSERT_EQ(eng_vocab_fim_mid(v), 32017);
    ASSERT_EQ(eng_vocab_nl(v), 185);
    ASSERT_EQ(eng_vocab_add_bos(v), 1);
    int32_t eog[8];
    ASSERT_EQ(eng_vocab_eog_ids(v, eog, 8), 1);
    ASSERT_EQ(eog[0], 32014);
    ASSERT(eng_vocab_is_eog(v, 32014));
    ASSERT(!eng_vocab_is_eog(v, 32021)); /* <|EOT|> is not EOG in this llama.cpp version */
    ASSERT_EQ(eng_vocab_type(v, 32016), ENG_TOKEN_CONTROL); /* USER_DEFINED in the file */
    ASSERT_EQ(eng_vocab_type(v, 32021), ENG_TOKEN_USER_DEFINED);
    ASSERT_EQ(eng_vocab_type(v, 32000), ENG_TOKEN_USER_DEFINED);
    ASSERT_EQ(eng_vocab_type(v, 100), ENG_TOKEN_NORMAL);
    ASSERT_EQ(eng_vocab_type(v, 40000), ENG_TOKEN_UNDEFINED);
    ASSERT_EQ(eng_vocab_find(v, FIM_HOLE, strlen(FIM_HOLE)), 32015);
    size_t len;
    ASSERT_STR_EQ(eng_vocab_text(v, 32013, &len), BOS_TXT);
    eng_vocab_free(v);

    v = load_vocab(1);
    ASSERT_EQ(eng_vocab_n_tokens(v), 102400);
    ASSERT_STR_EQ(eng_vocab_pretok_name(v), "deepseek-llm");
    ASSERT_EQ(eng_vocab_bos(v), 100000);
    ASSERT_EQ(eng_vocab_eos(v), 100001);
    ASSERT_EQ(eng_vocab_fim_pre(v), -1);
    ASSERT_EQ(eng_vocab_fim_suf(v), -1);
    ASSERT_EQ(eng_vocab_fim_mid(v), -1);
    ASSERT_EQ(eng_vocab_eog_ids(v, eog, 8), 1);
    ASSERT_EQ(eog[0], 100001);
    eng_vocab_free(v);
}

TEST(tok_pieces_by_type)
{
    struct eng_vocab *v = load_vocab(0);
    char buf[256];
    int n = eng_token_piece(v, 32000, 0, buf, sizeof buf); /* USER_DEFINED: verbatim UTF-8 */
    ASSERT_EQ(n, 2);
    ASSERT_MEM_EQ(buf, "\xc3\xb5", 2);
    ASSERT_EQ(eng_token_piece(v, 32013, 0, buf, sizeof buf), 0); /* CONTROL, special off */
    n = eng_token_piece(v, 32013, 1, buf, sizeof buf);
    ASSERT_EQ(n, (int)strlen(BOS_TXT));
    ASSERT_MEM_EQ(buf, BOS_TXT, (size_t)n);
    ASSERT_EQ(eng_token_piece(v, 32016, 0, buf, sizeof buf), 0); /* forced CONTROL */
    n = eng_token_piece(v, 185, 0, buf, sizeof buf);             /* NORMAL: byte-decoded */
    ASSERT_EQ(n, 1);
    ASSERT_EQ(buf[0], '\n');
    n = eng_token_piece(v, 315, 0, buf, sizeof buf);
    ASSERT_EQ(n, 3);
    ASSERT_MEM_EQ(buf, "   ", 3);
    ASSERT_EQ(eng_token_piece(v, 40000, 0, buf, sizeof buf), ENG_EINVAL);
    ASSERT_EQ(eng_token_piece(v, -1, 0, buf, sizeof buf), ENG_EINVAL);
    /* A short buffer gets the length back and a prefix. */
    ASSERT_EQ(eng_token_piece(v, 315, 0, buf, 1), 3);
    eng_vocab_free(v);
}

TEST(tok_streaming_detok_holds_back_partial_utf8)
{
    struct eng_vocab *v = load_vocab(0);
    /* An emoji is split across byte tokens; stream it and check nothing partial escapes. */
    const char *text = "x = \"\xf0\x9f\x98\x80 caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87\" // \xe2\x9c\x93";
    int n;
    int32_t *ids = tok(v, text, strlen(text), 0, 0, &n);
    struct eng_detok d;
    eng_detok_init(&d);
    char out[1024];
    size_t total = 0;
    int partial_seen = 0;
    for (int i = 0; i < n; i++) {
        char piece[64];
        int pl = eng_token_piece(v, ids[i], 0, piece, sizeof piece);
        int k = eng_detok_push(&d, v, ids[i], 0, out + total, sizeof out - total);
        ASSERT_GE(k, 0);
        /* Whatever was released must end on a character boundary. */
        size_t end = total + (size_t)k;
        size_t b = end;
        while (b > 0 && ((uint8_t)out[b - 1] & 0xC0) == 0x80)
            b--;
        if (b > 0 && (uint8_t)out[b - 1] >= 0xC0) {
            uint8_t c = (uint8_t)out[b - 1];
            size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            ASSERT_EQ(end - (b - 1), want);
        }
        if (k < pl + 4 && d.n_held)
            partial_seen = 1;
        total = end;
    }
    total += (size_t)eng_detok_flush(&d, out + total, sizeof out - total);
    ASSERT_EQ(total, strlen(text));
    ASSERT_MEM_EQ(out, text, total);
    ASSERT(partial_seen); /* the emoji or the CJK really did arrive in pieces */
    /* Invalid bytes are not held forever. */
    eng_detok_init(&d);
    int32_t lone = eng_vocab_find(v, "\xc3\xa2", 2); /* byte-level char of byte 0xE2 */
    ASSERT_GE(lone, 0);
    ASSERT_EQ(eng_detok_push(&d, v, lone, 0, out, sizeof out), 0);
    ASSERT_EQ(d.n_held, 1);
    int k = eng_detok_push(&d, v, 87 /* "x" */, 0, out, sizeof out);
    ASSERT_EQ(k, 2);
    ASSERT_MEM_EQ(out, "\xe2x", 2);
    free(ids);
    eng_vocab_free(v);
}

/* xorshift for deterministic random text */
static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 63));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 63));
        o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63));
    o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

static void round_trip(const struct eng_vocab *v, const char *s, size_t len)
{
    int n;
    int32_t *ids = tok(v, s, len, 0, 0, &n);
    size_t cap = len + 16;
    char *back = malloc(cap);
    int bl = eng_detokenize(v, ids, n, 0, back, cap);
    if (bl != (int)len || memcmp(back, s, len)) {
        size_t i = 0;
        while (i < len && i < (size_t)bl && back[i] == s[i])
            i++;
        TEST_FAIL_("round trip differs at byte %zu of %zu (got %d bytes)", i, len, bl);
    }
    free(back);
    free(ids);
}

TEST(tok_round_trip_random_utf8)
{
    for (int which = 0; which < 2; which++) {
        struct eng_vocab *v = load_vocab(which);
        static const uint32_t ranges[][2] = {{0x20, 0x7E},     {0x09, 0x0D},   {0xA0, 0x24F},
                                             {0x370, 0x52F},   {0x600, 0x6FF}, {0x900, 0x97F},
                                             {0x1780, 0x17FF}, {0x2000, 0x206F}, {0x3000, 0x30FF},
                                             {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3}, {0xFF00, 0xFFEF},
                                             {0x1F300, 0x1FAFF}, {0x80, 0x10FFFF}};
        char *buf = malloc(70000);
        for (int iter = 0; iter < 200; iter++) {
            size_t len = 0, want = rnd() % 3000;
            while (len < want) {
                uint32_t r = rnd() % SK_ARRAY_LEN(ranges);
                uint32_t cp = ranges[r][0] + rnd() % (ranges[r][1] - ranges[r][0] + 1);
                if (cp >= 0xD800 && cp <= 0xDFFF)
                    continue;
                int rep = rnd() % 8 == 0 ? (int)(rnd() % 20) + 1 : 1;
                for (int k = 0; k < rep; k++)
                    len += put_utf8(buf + len, cp);
            }
            round_trip(v, buf, len);
        }
        free(buf);
        eng_vocab_free(v);
    }
}

TEST(tok_round_trip_source_files)
{
    /* Our own sources (C, Python, shell, Markdown) plus some inline snippets. */
    static const char *const files[] = {"engine/tokenizer.c", "engine/gguf.c",
                                        "tools/gen_unicode.py", "Makefile", "tools/deps.sh",
                                        "README.md", "deps.txt"};
    static const char *const snippets[] = {
        "fn main() {\n    let v: Vec<u8> = vec![1, 2, 3];\n    println!(\"{:?}\", v);\n}\n",
        "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"héllo, 世界\")\n}\n",
        "const f = async (x) => { return x?.y ?? `t${x}`; };\r\n// \u00a0 nbsp\n",
        "public class A { /* ünïcödé */ int x = 0x1F; }\n\n\n    \t  \n",
        "SELECT * FROM t WHERE a >= 10 AND b <> 'x';  \u3000\u3001 全角　スペース\n",
    };
    for (int which = 0; which < 2; which++) {
        struct eng_vocab *v = load_vocab(which);
        for (size_t i = 0; i < SK_ARRAY_LEN(files); i++) {
            char *s;
            size_t len;
            if (sk_read_file(files[i], 1 << 22, &s, &len) == 0) {
                round_trip(v, s, len);
                sk_free(s);
            }
        }
        for (size_t i = 0; i < SK_ARRAY_LEN(snippets); i++)
            round_trip(v, snippets[i], strlen(snippets[i]));
        eng_vocab_free(v);
    }
}

TEST(tok_invalid_utf8_becomes_replacement_char)
{
    struct eng_vocab *v = load_vocab(0);
    /* A stray continuation byte and a truncated sequence tokenize like U+FFFD. */
    int n1, n2;
    int32_t *a = tok(v, "a\x80" "b", 3, 0, 0, &n1);
    int32_t *b = tok(v, "a\xef\xbf\xbd" "b", 5, 0, 0, &n2);
    ASSERT_EQ(n1, n2);
    for (int i = 0; i < n1; i++)
        ASSERT_EQ(a[i], b[i]);
    free(a);
    free(b);
    a = tok(v, "\xe4\xb8", 2, 0, 0, &n1);
    b = tok(v, "\xef\xbf\xbd\xef\xbf\xbd", 6, 0, 0, &n2);
    ASSERT_EQ(n1, n2);
    for (int i = 0; i < n1; i++)
        ASSERT_EQ(a[i], b[i]);
    free(a);
    free(b);
    eng_vocab_free(v);
}

/* Re-writes a vocab file with its metadata changed: key `drop` removed, and when set_pre is
 * not NULL, tokenizer.ggml.pre set to it. */
static const char *extra_key; /* rewrite_vocab appends extra_key = extra_val (u32) when set */
static uint32_t extra_val;

static void rewrite_vocab(int which, const char *drop, const char *set_pre, const char *out)
{
    char err[512];
    struct eng_gguf *g;
    ASSERT_EQ(eng_gguf_open(test_shared_path(vocab_files[which]), err, sizeof err, &g), 0);
    struct gw w = {0};
    int n = eng_gguf_n_kv(g), kept = 0;
    for (int i = 0; i < n; i++)
        kept += strcmp(eng_gguf_key(g, i), drop) != 0;
    gw_header(&w, 3, 0, (uint64_t)kept + (extra_key != NULL));
    if (extra_key)
        gw_kv_u32(&w, extra_key, extra_val);
    for (int i = 0; i < n; i++) {
        const char *k = eng_gguf_key(g, i);
        if (!strcmp(k, drop))
            continue;
        int t = eng_gguf_kv_type(g, i);
        int64_t iv;
        float fv;
        const char *s;
        size_t len;
        if (!strcmp(k, "tokenizer.ggml.pre") && set_pre) {
            gw_kv_str(&w, k, set_pre);
        } else if (t == ENG_GGUF_STRING) {
            eng_gguf_get_str(g, k, &s, &len);
            gw_kv_str(&w, k, s);
        } else if (t == ENG_GGUF_U32) {
            eng_gguf_get_int(g, k, &iv);
            gw_kv_u32(&w, k, (uint32_t)iv);
        } else if (t == ENG_GGUF_BOOL) {
            eng_gguf_get_int(g, k, &iv);
            gw_kv_bool(&w, k, (int)iv);
        } else if (t == ENG_GGUF_F32) {
            eng_gguf_get_f32(g, k, &fv);
            gw_kv_f32(&w, k, fv);
        } else if (t == ENG_GGUF_ARRAY) {
            struct eng_gguf_arr a;
            eng_gguf_get_arr(g, k, &a);
            gw_str(&w, k);
            gw_u32(&w, 9);
            gw_u32(&w, a.type);
            gw_u64(&w, a.n);
            for (uint64_t j = 0; j < a.n; j++) {
                if (a.type == ENG_GGUF_STRING) {
                    eng_gguf_arr_str(&a, j, &s, &len);
                    gw_u64(&w, len);
                    gw_raw(&w, s, len);
                } else if (a.type == ENG_GGUF_I32) {
                    eng_gguf_arr_int(&a, j, &iv);
                    int32_t x = (int32_t)iv;
                    gw_raw(&w, &x, 4);
                } else {
                    TEST_FAIL_("unexpected array type %d in %s", a.type, k);
                }
            }
        } else {
            TEST_FAIL_("unexpected type %d for %s", t, k);
        }
    }
    ASSERT_EQ(gw_write(&w, out), 0);
    gw_free(&w);
    eng_gguf_close(g);
}

TEST(tok_missing_or_unknown_pre)
{
    if (!test_shared_path(vocab_files[0]))
        SKIP("../shared/vocab is absent");
    char path[600], err[512];
    snprintf(path, sizeof path, "%s/v.gguf", test_tmpdir());
    for (int which = 0; which < 2; which++) {
        rewrite_vocab(which, "tokenizer.ggml.pre", NULL, path);
        struct eng_gguf *g;
        ASSERT_EQ(eng_gguf_open(path, err, sizeof err, &g), 0);
        ASSERT_EQ(eng_gguf_find_key(g, "tokenizer.ggml.pre"), -1);
        struct eng_vocab *v;
        sk_log_set_level(SK_LOG_ERROR);
        int rc = eng_vocab_load(g, &v, err, sizeof err);
        ASSERT_MSG(rc == 0, "%s", err);
        ASSERT_EQ(eng_vocab_pretok_guessed(v), 1);
        ASSERT_STR_EQ(eng_vocab_pretok_name(v), which ? "deepseek-llm" : "deepseek-coder");
        /* The guessed pre-tokenizer really is the right one: "  x = 1\r\n" differs. */
        if (which)
            EXPECT(v, "  x = 1\r\n", 0, 0, 207, 1376, 403, 207, 16, 188, 185);
        else
            EXPECT(v, "  x = 1\r\n", 0, 0, 207, 1371, 1412, 16, 188, 185);
        eng_vocab_free(v);
        eng_gguf_close(g);
    }
    rewrite_vocab(0, "-", "gpt-4o", path);
    struct eng_gguf *g;
    ASSERT_EQ(eng_gguf_open(path, err, sizeof err, &g), 0);
    struct eng_vocab *v = NULL;
    ASSERT_EQ(eng_vocab_load(g, &v, err, sizeof err), ENG_EUNSUPPORTED);
    ASSERT(v == NULL);
    ASSERT_MSG(strstr(err, "gpt-4o"), "%s", err);
    eng_gguf_close(g);
    ASSERT_EQ(sk_alloc_live_bytes(), 0);
}

TEST(tok_special_partition_priority)
{
    /* Longest special token first, wherever it is: with parse_special, "<|EOT|>" inside a
     * "[PAD..]" does not exist, but BOS text inside other text is found; user-defined
     * single characters are found in the middle of words. */
    struct eng_vocab *v = load_vocab(0);
    EXPECT(v, "a\xc3\xb5" "b", 0, 0, 64, 32000, 65);
    EXPECT(v, "[PAD32022][PAD32255]", 0, 0, 32022, 32255);
    /* Buffer too small: count returned, prefix written. */
    int32_t ids[2];
    ASSERT_EQ(eng_tokenize(v, "[PAD32022][PAD32255]x", 21, 0, 0, ids, 2), 3);
    ASSERT_EQ(ids[0], 32022);
    ASSERT_EQ(ids[1], 32255);
    ASSERT_EQ(eng_tokenize(v, NULL, 3, 0, 0, ids, 2), ENG_EINVAL);
    eng_vocab_free(v);
}

struct tok_job {
    const struct eng_vocab *v;
    const char *text;
    size_t len;
    int32_t *ids;
    int n;
};

static void *tok_thread(void *arg)
{
    struct tok_job *j = arg;
    for (int rep = 0; rep < 20; rep++)
        j->n = eng_tokenize(j->v, j->text, j->len, 1, rep & 1, j->ids, 1 << 16);
    return NULL;
}

TEST(tok_concurrent_calls_share_a_vocab)
{
    /* The vocab is read-only after load: two threads tokenizing at once get what one gets. */
    struct eng_vocab *v = load_vocab(0);
    char *s;
    size_t len;
    ASSERT_EQ(sk_read_file("engine/tokenizer.c", 1 << 20, &s, &len), 0);
    if (len > 60000)
        len = 60000;
    while (len && ((uint8_t)s[len] & 0xC0) == 0x80)
        len--;
    int n1;
    int32_t *ref = tok(v, s, len, 1, 1, &n1);
    struct tok_job jobs[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        jobs[i] = (struct tok_job){v, s, len, malloc(sizeof(int32_t) << 16), 0};
        ASSERT_EQ(pthread_create(&th[i], NULL, tok_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        ASSERT_EQ(jobs[i].n, n1);
        ASSERT_MEM_EQ(jobs[i].ids, ref, (size_t)n1 * sizeof *ref);
        free(jobs[i].ids);
    }
    free(ref);
    sk_free(s);
    eng_vocab_free(v);
}

TEST(tok_allocation_failures_give_enomem)
{
    /* Every allocation of a tokenize call fails in turn: -ENOMEM each time, nothing leaks,
     * and the vocab still works afterwards. */
    struct eng_vocab *v = load_vocab(0);
    const char *text = "int f(int x) { return x + 1; } // caf\xc3\xa9 \x80 <|EOT|> [PAD32022]";
    int n_ok;
    int32_t *want = tok(v, text, strlen(text), 1, 1, &n_ok);
    int32_t ids[256];
    size_t base = sk_alloc_live_bytes();
    int n;
    for (n = 0; n < 200; n++) {
        sk_alloc_fail_after(n);
        int rc = eng_tokenize(v, text, strlen(text), 1, 1, ids, 256);
        sk_alloc_fail_after(-1);
        ASSERT_EQ(sk_alloc_live_bytes(), base);
        if (rc >= 0) {
            ASSERT_EQ(rc, n_ok);
            ASSERT_MEM_EQ(ids, want, (size_t)rc * sizeof *ids);
            break;
        }
        ASSERT_EQ(rc, -ENOMEM);
    }
    ASSERT_GT(n, 3);
    ASSERT_LT(n, 200);
    free(want);
    eng_vocab_free(v);
}

TEST(tok_fim_ids_from_keys_win)
{
    /* An explicit fim_pre key wins over the text scan and does not force its token to
     * CONTROL; the deprecated prefix key is an alias.  The other FIM ids are still found by
     * text (and forced). */
    if (!test_shared_path(vocab_files[0]))
        SKIP("../shared/vocab is absent");
    const char *keys[] = {"tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"};
    char path[600], err[512];
    snprintf(path, sizeof path, "%s/k.gguf", test_tmpdir());
    for (int k = 0; k < 2; k++) {
        extra_key = keys[k];
        extra_val = 32019; /* <|User|>, USER_DEFINED */
        rewrite_vocab(0, "-", NULL, path);
        extra_key = NULL;
        struct eng_gguf *g;
        ASSERT_EQ(eng_gguf_open(path, err, sizeof err, &g), 0);
        struct eng_vocab *v;
        ASSERT_EQ(eng_vocab_load(g, &v, err, sizeof err), 0);
        ASSERT_EQ(eng_vocab_fim_pre(v), 32019);
        ASSERT_EQ(eng_vocab_type(v, 32019), ENG_TOKEN_USER_DEFINED);
        ASSERT_EQ(eng_vocab_type(v, 32016), ENG_TOKEN_USER_DEFINED); /* no longer detected */
        ASSERT_EQ(eng_vocab_fim_suf(v), 32015);
        ASSERT_EQ(eng_vocab_type(v, 32015), ENG_TOKEN_CONTROL);
        /* ...so <｜fim▁begin｜> now matches as a user-defined token even without parse_special. */
        EXPECT(v, FIM_BEGIN, 0, 0, 32016);
        eng_vocab_free(v);
        eng_gguf_close(g);
    }
    /* An out-of-range id is ignored (llama.cpp warns and keeps the default). */
    extra_key = "tokenizer.ggml.bos_token_id";
    extra_val = 999999;
    rewrite_vocab(0, "tokenizer.ggml.bos_token_id", NULL, path);
    extra_key = NULL;
    struct eng_gguf *g;
    ASSERT_EQ(eng_gguf_open(path, err, sizeof err, &g), 0);
    struct eng_vocab *v;
    sk_log_set_level(SK_LOG_ERROR);
    ASSERT_EQ(eng_vocab_load(g, &v, err, sizeof err), 0);
    ASSERT_EQ(eng_vocab_bos(v), 11); /* the BPE default */
    eng_vocab_free(v);
    eng_gguf_close(g);
}
