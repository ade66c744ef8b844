/*
 * `seekd tokenize --model FILE [--no-bos] [--special] [--ids]` and
 * `seekd detokenize --model FILE [--special]`: the model's tokenizer on stdin, for debugging
 * prompts and checking against llama-tokenize.  Only the GGUF metadata is read.
 *   tokenize:   stdin text -> one "ID 'piece'" line per token, or with --ids the ids on one
 *               line, space-separated.  --special parses control tokens written in the text
 *               (user-defined ones always match, as in llama.cpp); BOS is added when the
 *               vocab asks for it unless --no-bos.
 *               --split prints the pre-tokenizer's segments instead (lengths in code
 *               points, one line per NUL-separated input record): a conformance aid.
 *   detokenize: stdin ids (separated by spaces, commas, newlines; [ ] ignored) -> the text.
 *               Control tokens print only with --special.
 */
#include "base.h"
#include "daemon/commands.h"
#include "engine/engine.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUT (256u << 20)

static int read_stdin(char **out, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = sk_malloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_INPUT) {
                sk_free(buf);
                return -EFBIG;
            }
            cap *= 2;
            buf = sk_realloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(stdin)) {
        sk_free(buf);
        return -EIO;
    }
    *out = buf;
    *len = n;
    return 0;
}

static int open_vocab(const char *cmd, const char *path, struct eng_vocab **v)
{
    char err[1024];
    struct eng_gguf *g;
    int rc = eng_gguf_open(path, err, sizeof err, &g);
    if (rc) {
        fprintf(stderr, "seekd %s: %s\n", cmd, err[0] ? err : eng_strerror(rc));
        return 1;
    }
    rc = eng_vocab_load(g, v, err, sizeof err);
    eng_gguf_close(g);
    if (rc) {
        fprintf(stderr, "seekd %s: %s: %s\n", cmd, path, err[0] ? err : eng_strerror(rc));
        return 1;
    }
    return 0;
}

static void print_piece(const char *p, size_t n)
{
    putchar('\'');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c == '\\' || c == '\'')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('\'');
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL;
    int no_bos = 0, special = 0, ids_only = 0, split = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--no-bos"))
            no_bos = 1;
        else if (!strcmp(argv[i], "--special"))
            special = 1;
        else if (!strcmp(argv[i], "--ids"))
            ids_only = 1;
        else if (!strcmp(argv[i], "--split"))
            split = 1;
        else {
            fprintf(stderr, "usage: seekd tokenize --model FILE.gguf [--no-bos] [--special] "
                            "[--ids] [--split]  (text on stdin)\n");
            return !strcmp(argv[i], "--help") ? 0 : 2;
        }
    }
    if (!model) {
        fprintf(stderr, "seekd tokenize: --model FILE is required\n");
        return 2;
    }
    struct eng_vocab *v;
    if (open_vocab("tokenize", model, &v))
        return 1;
    char *text;
    size_t len;
    int rc = read_stdin(&text, &len);
    if (rc) {
        fprintf(stderr, "seekd tokenize: reading stdin: %s\n", eng_strerror(rc));
        eng_vocab_free(v);
        return 1;
    }
    if (split) {
        int st = 0;
        for (size_t pos = 0; pos <= len && !st;) {
            const char *rec = text + pos;
            const char *nul = memchr(rec, 0, len - pos);
            size_t rl = nul ? (size_t)(nul - rec) : len - pos;
            int ns = eng_pretokenize(v, rec, rl, NULL, 0);
            int32_t *segs = sk_malloc(sizeof *segs * (size_t)(ns > 0 ? ns : 1));
            if (ns < 0 || eng_pretokenize(v, rec, rl, segs, ns) != ns)
                st = 1;
            for (int i = 0; !st && i < ns; i++)
                printf("%s%" PRId32, i ? " " : "", segs[i]);
            putchar('\n');
            sk_free(segs);
            if (!nul)
                break;
            pos += rl + 1;
        }
        sk_free(text);
        eng_vocab_free(v);
        return st || fflush(stdout) ? 1 : 0;
    }
    int n = eng_tokenize(v, text, len, !no_bos, special, NULL, 0);
    int32_t *ids = n > 0 ? sk_malloc((size_t)n * sizeof *ids) : NULL;
    if (n > 0)
        n = eng_tokenize(v, text, len, !no_bos, special, ids, n);
    if (n < 0) {
        fprintf(stderr, "seekd tokenize: %s\n", eng_strerror(n));
    } else if (ids_only) {
        for (int i = 0; i < n; i++)
            printf("%s%" PRId32, i ? " " : "", ids[i]);
        putchar('\n');
    } else {
        for (int i = 0; i < n; i++) {
            size_t pl;
            const char *p = eng_token_piece_ref(v, ids[i], 1, &pl);
            printf("%6" PRId32 " ", ids[i]);
            print_piece(p, pl);
            putchar('\n');
        }
    }
    sk_free(ids);
    sk_free(text);
    eng_vocab_free(v);
    return n < 0 || fflush(stdout) ? 1 : 0;
}

int cmd_detokenize(int argc, char **argv)
{
    const char *model = NULL;
    int special = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--special"))
            special = 1;
        else {
            fprintf(stderr, "usage: seekd detokenize --model FILE.gguf [--special]  (ids on "
                            "stdin)\n");
            return !strcmp(argv[i], "--help") ? 0 : 2;
        }
    }
    if (!model) {
        fprintf(stderr, "seekd detokenize: --model FILE is required\n");
        return 2;
    }
    struct eng_vocab *v;
    if (open_vocab("detokenize", model, &v))
        return 1;
    char *text;
    size_t len;
    int rc = read_stdin(&text, &len), status = 0;
    if (rc) {
        fprintf(stderr, "seekd detokenize: reading stdin: %s\n", eng_strerror(rc));
        eng_vocab_free(v);
        return 1;
    }
    text = sk_realloc(text, len + 1);
    text[len] = 0;
    char *p = text;
    for (;;) {
        while (*p && strchr(" \t\r\n,[]", *p))
            p++;
        if (!*p)
            break;
        char *end;
        errno = 0;
        long id = strtol(p, &end, 10);
        size_t pl;
        const char *piece = end != p && !errno ? eng_token_piece_ref(v, (int32_t)id, special, &pl)
                                               : NULL;
        if (!piece || id < 0 || id > INT32_MAX) {
            fprintf(stderr, "seekd detokenize: bad token id '%.20s'\n", p);
            status = 1;
            break;
        }
        fwrite(piece, 1, pl, stdout);
        p = end;
    }
    sk_free(text);
    eng_vocab_free(v);
    return status || fflush(stdout) ? 1 : status;
}
