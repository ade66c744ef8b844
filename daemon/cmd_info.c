/*
 * `seekd info FILE.gguf [--json] [--kv]`: what a GGUF holds, for users and scripts: file and
 * format facts, architecture and hyperparameters, tokenizer summary, file type and the tensor
 * table (name, type, shape, bytes).  Never reads tensor data, so it is instant on any size.
 * A broken file prints the loader's reason (with the byte offset) and exits 1.
 */
#include "base.h"
#include "daemon/commands.h"
#include "engine/engine.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: seekd info FILE.gguf [--json] [--kv]\n"
                "  --json   machine-readable output (one JSON object)\n"
                "  --kv     also list every metadata key (arrays by length)\n");
}

static void json_str(FILE *fp, const char *s, size_t n)
{
    fputc('"', fp);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(fp, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", fp);
        else if (c == '\t')
            fputs("\\t", fp);
        else if (c < 0x20 || c == 0x7f)
            fprintf(fp, "\\u%04x", c);
        else
            fputc(c, fp);
    }
    fputc('"', fp);
}

/* Prints a token's text for humans: escapes control bytes. */
static void text_str(FILE *fp, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            fprintf(fp, "\\x%02x", c);
        else
            fputc(c, fp);
    }
}

/* Scalar metadata value as text (JSON-compatible for numbers/bools/strings). */
static void kv_value(FILE *fp, const struct eng_gguf *g, int i, int json)
{
    const char *k = eng_gguf_key(g, i);
    int t = eng_gguf_kv_type(g, i);
    int64_t iv;
    uint64_t uv;
    float f;
    const char *s;
    size_t n;
    struct eng_gguf_arr a;
    if (t == ENG_GGUF_STRING && !eng_gguf_get_str(g, k, &s, &n)) {
        if (json)
            json_str(fp, s, n);
        else {
            fputc('"', fp);
            text_str(fp, s, SK_MIN(n, (size_t)200));
            fputs(n > 200 ? "...\"" : "\"", fp);
        }
    } else if (t == ENG_GGUF_BOOL && !eng_gguf_get_int(g, k, &iv)) {
        fputs(iv ? "true" : "false", fp);
    } else if ((t == ENG_GGUF_F32 || t == ENG_GGUF_F64) && !eng_gguf_get_f32(g, k, &f)) {
        fprintf(fp, "%.9g", (double)f);
    } else if (t == ENG_GGUF_U64 && !eng_gguf_get_uint(g, k, &uv)) {
        fprintf(fp, "%" PRIu64, uv);
    } else if (!eng_gguf_get_int(g, k, &iv)) {
        fprintf(fp, "%" PRId64, iv);
    } else if (t == ENG_GGUF_ARRAY && !eng_gguf_get_arr(g, k, &a)) {
        if (json)
            fprintf(fp, "{\"array\": \"%s\", \"n\": %" PRIu64 "}", eng_gguf_vtype_name(a.type),
                    a.n);
        else
            fprintf(fp, "[%s x %" PRIu64 "]", eng_gguf_vtype_name(a.type), a.n);
    } else {
        fputs("null", fp);
    }
}

static void print_json(const char *path, const struct eng_gguf *g, int hp_rc,
                       const struct eng_hparams *hp, const char *hp_err, int v_rc,
                       const struct eng_vocab *v, const char *v_err, int with_kv)
{
    FILE *fp = stdout;
    const char *s;
    size_t n;
    fputs("{\"file\": ", fp);
    json_str(fp, path, strlen(path));
    fprintf(fp, ", \"size\": %" PRIu64 ", \"shards\": %d, \"gguf_version\": %" PRIu32
                ", \"alignment\": %" PRIu32 ", \"data_offset\": %" PRIu64 ", \"n_kv\": %d"
                ", \"n_tensors\": %d",
            eng_gguf_file_size(g), eng_gguf_n_files(g), eng_gguf_version(g),
            eng_gguf_alignment(g), eng_gguf_data_offset(g), eng_gguf_n_kv(g),
            eng_gguf_n_tensors(g));
    fputs(", \"architecture\": ", fp);
    if (!eng_gguf_get_str(g, "general.architecture", &s, &n))
        json_str(fp, s, n);
    else
        fputs("null", fp);
    fputs(", \"name\": ", fp);
    if (!eng_gguf_get_str(g, "general.name", &s, &n))
        json_str(fp, s, n);
    else
        fputs("null", fp);
    int64_t ft;
    if (!eng_gguf_get_int(g, "general.file_type", &ft))
        fprintf(fp, ", \"file_type\": %" PRId64 ", \"file_type_name\": \"%s\"", ft,
                eng_ftype_name((int)ft));
    else
        fputs(", \"file_type\": null", fp);
    fputs(", \"hparams\": ", fp);
    if (hp_rc == 0) {
        static const char *const st[] = {"none", "linear", "yarn", "longrope"};
        fprintf(fp, "{\"n_ctx_train\": %" PRIu32 ", \"n_embd\": %" PRIu32 ", \"n_layer\": %" PRIu32
                    ", \"n_ff\": %" PRIu32 ", \"n_head\": %" PRIu32 ", \"n_head_kv\": %" PRIu32
                    ", \"head_dim\": %" PRIu32 ", \"n_rot\": %" PRIu32 ", \"n_vocab\": %" PRIu32
                    ", \"rope_freq_base\": %.9g, \"rope_scaling_type\": \"%s\""
                    ", \"rope_scaling_factor\": %.9g, \"rope_freq_scale\": %.9g"
                    ", \"rms_eps\": %.9g, \"tied_output\": %s}",
                hp->n_ctx_train, hp->n_embd, hp->n_layer, hp->n_ff, hp->n_head, hp->n_head_kv,
                hp->head_dim, hp->n_rot, hp->n_vocab, (double)hp->rope_freq_base,
                st[hp->rope_scaling_type], (double)hp->rope_scaling_factor,
                (double)hp->rope_freq_scale, (double)hp->rms_eps,
                hp->tied_output ? "true" : "false");
    } else {
        fputs("null, \"hparams_error\": ", fp);
        json_str(fp, hp_err, strlen(hp_err));
    }
    fputs(", \"tokenizer\": ", fp);
    if (v_rc == 0) {
        int32_t eog[16];
        int ne = eng_vocab_eog_ids(v, eog, 16);
        fprintf(fp, "{\"model\": \"gpt2\", \"pre\": \"%s\", \"pre_guessed\": %s, \"n_vocab\": %"
                    PRId32 ", \"bos\": %" PRId32 ", \"eos\": %" PRId32 ", \"eot\": %" PRId32
                    ", \"pad\": %" PRId32 ", \"fim_pre\": %" PRId32 ", \"fim_suf\": %" PRId32
                    ", \"fim_mid\": %" PRId32 ", \"add_bos\": %s, \"eog\": [",
                eng_vocab_pretok_name(v), eng_vocab_pretok_guessed(v) ? "true" : "false",
                eng_vocab_n_tokens(v), eng_vocab_bos(v), eng_vocab_eos(v), eng_vocab_eot(v),
                eng_vocab_pad(v), eng_vocab_fim_pre(v), eng_vocab_fim_suf(v),
                eng_vocab_fim_mid(v), eng_vocab_add_bos(v) ? "true" : "false");
        for (int i = 0; i < ne && i < 16; i++)
            fprintf(fp, "%s%" PRId32, i ? ", " : "", eog[i]);
        fputs("]}", fp);
    } else {
        fputs("null, \"tokenizer_error\": ", fp);
        json_str(fp, v_err, strlen(v_err));
    }
    if (with_kv) {
        fputs(", \"kv\": {", fp);
        for (int i = 0; i < eng_gguf_n_kv(g); i++) {
            fputs(i ? ", " : "", fp);
            json_str(fp, eng_gguf_key(g, i), strlen(eng_gguf_key(g, i)));
            fputs(": ", fp);
            kv_value(fp, g, i, 1);
        }
        fputc('}', fp);
    }
    fputs(", \"tensors\": [", fp);
    for (int i = 0; i < eng_gguf_n_tensors(g); i++) {
        struct eng_tensor t;
        eng_gguf_tensor_at(g, i, &t);
        fprintf(fp, "%s{\"name\": ", i ? ", " : "");
        json_str(fp, t.name, strlen(t.name));
        fprintf(fp, ", \"type\": \"%s\", \"shape\": [", eng_type_info(t.type)->name);
        for (int d = 0; d < t.n_dims; d++)
            fprintf(fp, "%s%" PRId64, d ? ", " : "", t.ne[d]);
        fprintf(fp, "], \"bytes\": %zu}", t.nbytes);
    }
    fputs("]}\n", fp);
}

static void print_text(const char *path, const struct eng_gguf *g, int hp_rc,
                       const struct eng_hparams *hp, const char *hp_err, int v_rc,
                       const struct eng_vocab *v, const char *v_err, int with_kv)
{
    const char *s;
    size_t n;
    int64_t ft;
    printf("file:          %s\n", path);
    printf("size:          %" PRIu64 " bytes in %d file%s\n", eng_gguf_file_size(g),
           eng_gguf_n_files(g), eng_gguf_n_files(g) > 1 ? "s (gguf-split)" : "");
    printf("gguf:          version %" PRIu32 ", alignment %" PRIu32 ", %d metadata keys, %d "
           "tensors, data at %" PRIu64 "\n",
           eng_gguf_version(g), eng_gguf_alignment(g), eng_gguf_n_kv(g), eng_gguf_n_tensors(g),
           eng_gguf_data_offset(g));
    printf("architecture:  %s\n",
           eng_gguf_get_str(g, "general.architecture", &s, &n) ? "(none)" : s);
    if (!eng_gguf_get_str(g, "general.name", &s, &n))
        printf("name:          %s\n", s);
    if (!eng_gguf_get_int(g, "general.file_type", &ft))
        printf("file type:     %s (%" PRId64 ")\n", eng_ftype_name((int)ft), ft);
    if (hp_rc == 0) {
        static const char *const st[] = {"none", "linear", "yarn", "longrope"};
        printf("hyperparameters:\n"
               "  n_ctx_train     %" PRIu32 "\n  n_embd          %" PRIu32 "\n"
               "  n_layer         %" PRIu32 "\n  n_ff            %" PRIu32 "\n"
               "  n_head          %" PRIu32 "\n  n_head_kv       %" PRIu32 "\n"
               "  head_dim        %" PRIu32 "\n  n_rot           %" PRIu32 "\n"
               "  n_vocab         %" PRIu32 "\n  rope_freq_base  %g\n"
               "  rope_scaling    %s, factor %g (freq_scale %g)\n  rms_eps         %g\n"
               "  output          %s\n",
               hp->n_ctx_train, hp->n_embd, hp->n_layer, hp->n_ff, hp->n_head, hp->n_head_kv,
               hp->head_dim, hp->n_rot, hp->n_vocab, (double)hp->rope_freq_base,
               st[hp->rope_scaling_type], (double)hp->rope_scaling_factor,
               (double)hp->rope_freq_scale, (double)hp->rms_eps,
               hp->tied_output ? "tied to token_embd.weight" : "output.weight");
    } else {
        printf("hyperparameters: unavailable: %s\n", hp_err);
    }
    if (v_rc == 0) {
        int32_t eog[16];
        int ne = eng_vocab_eog_ids(v, eog, 16);
        printf("tokenizer:\n  model           gpt2 (byte-level BPE)\n"
               "  pre-tokenizer   %s%s\n  n_vocab         %" PRId32 "\n",
               eng_vocab_pretok_name(v),
               eng_vocab_pretok_guessed(v) ? " (tokenizer.ggml.pre missing: recognised)" : "",
               eng_vocab_n_tokens(v));
        struct { const char *name; int32_t id; } ids[] = {
            {"bos", eng_vocab_bos(v)},         {"eos", eng_vocab_eos(v)},
            {"eot", eng_vocab_eot(v)},         {"pad", eng_vocab_pad(v)},
            {"fim_pre", eng_vocab_fim_pre(v)}, {"fim_suf", eng_vocab_fim_suf(v)},
            {"fim_mid", eng_vocab_fim_mid(v)}, {"newline", eng_vocab_nl(v)}};
        for (size_t i = 0; i < SK_ARRAY_LEN(ids); i++) {
            printf("  %-15s ", ids[i].name);
            if (ids[i].id < 0) {
                printf("none\n");
                continue;
            }
            size_t tl;
            const char *tx = eng_vocab_text(v, ids[i].id, &tl);
            printf("%" PRId32 " '", ids[i].id);
            text_str(stdout, tx, tl);
            printf("'\n");
        }
        printf("  eog             ");
        for (int i = 0; i < ne && i < 16; i++)
            printf("%s%" PRId32, i ? " " : "", eog[i]);
        printf("\n  add_bos         %s\n", eng_vocab_add_bos(v) ? "yes" : "no");
    } else {
        printf("tokenizer: unavailable: %s\n", v_err);
    }
    if (with_kv) {
        printf("metadata:\n");
        for (int i = 0; i < eng_gguf_n_kv(g); i++) {
            printf("  %-44s %-6s ", eng_gguf_key(g, i),
                   eng_gguf_vtype_name(eng_gguf_kv_type(g, i)));
            kv_value(stdout, g, i, 0);
            putchar('\n');
        }
    }
    if (eng_gguf_n_tensors(g)) {
        printf("tensors:\n  %-40s %-6s %-24s %s\n", "name", "type", "shape", "bytes");
        for (int i = 0; i < eng_gguf_n_tensors(g); i++) {
            struct eng_tensor t;
            char shape[96] = "";
            eng_gguf_tensor_at(g, i, &t);
            for (int d = 0; d < t.n_dims; d++)
                snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%" PRId64,
                         d ? " x " : "", t.ne[d]);
            printf("  %-40s %-6s %-24s %zu\n", t.name, eng_type_info(t.type)->name, shape,
                   t.nbytes);
        }
    }
}

int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0, with_kv = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--kv"))
            with_kv = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' || path) {
            usage(stderr);
            return 2;
        } else
            path = argv[i];
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    char err[1024], hp_err[512] = "", v_err[512] = "";
    struct eng_gguf *g;
    int rc = eng_gguf_open(path, err, sizeof err, &g);
    if (rc) {
        fprintf(stderr, "seekd info: %s\n", err[0] ? err : eng_strerror(rc));
        return 1;
    }
    struct eng_hparams hp;
    int hp_rc = eng_hparams_load(g, &hp, hp_err, sizeof hp_err);
    struct eng_vocab *v = NULL;
    int v_rc = eng_vocab_load(g, &v, v_err, sizeof v_err);
    if (json)
        print_json(path, g, hp_rc, &hp, hp_err, v_rc, v, v_err, with_kv);
    else
        print_text(path, g, hp_rc, &hp, hp_err, v_rc, v, v_err, with_kv);
    eng_vocab_free(v);
    eng_gguf_close(g);
    return 0;
}
