/*
 * `seekd complete [--model F] [--draft D] [--workspace DIR] FILE LINE COL [--show-prompt]
 * [--json]`: the completion pipeline once, without an editor (LINE and COL 1-based, COL in
 * characters).  Same configuration (defaults, config file), prompt builder, cache and
 * post-processing as the server.
 */
#include "base.h"
#include "daemon/commands.h"
#include "daemon/pipeline.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: seekd complete [--model F] [--draft D] [--workspace DIR] FILE LINE COL\n"
            "                      [--show-prompt] [--json] [--no-cache]\n"
            "  Completes FILE at LINE:COL (1-based; COL counts characters) and prints the\n"
            "  suggestion.  --show-prompt also prints the exact prompt (sentinels written as\n"
            "  their token texts) and its token count.\n");
}

static void json_str(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(fp, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", fp);
        else if (c == '\t')
            fputs("\\t", fp);
        else if (c < 0x20)
            fprintf(fp, "\\u%04x", c);
        else
            fputc(c, fp);
    }
    fputc('"', fp);
}

int cmd_complete(int argc, char **argv)
{
    const char *model = NULL, *draft = NULL, *ws = NULL, *pos[3] = {0};
    int npos = 0, show = 0, json = 0, nocache = 0, ret = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--model") && i + 1 < argc) {
            model = argv[++i];
        } else if (!strcmp(a, "--draft") && i + 1 < argc) {
            draft = argv[++i];
        } else if (!strcmp(a, "--workspace") && i + 1 < argc) {
            ws = argv[++i];
        } else if (!strcmp(a, "--show-prompt")) {
            show = 1;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--no-cache")) {
            nocache = 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "seekd complete: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (npos < 3) {
            pos[npos++] = a;
        } else {
            usage(stderr);
            return 2;
        }
    }
    long line, col;
    if (npos != 3 || dmn__parse_int(pos[1], 1, INT_MAX, &line) ||
        dmn__parse_int(pos[2], 1, INT_MAX, &col)) {
        usage(stderr);
        return 2;
    }
    struct dmn_config cfg;
    dmn_config_defaults(&cfg);
    char err[1024];
    if (dmn_config_load_file(&cfg, err, sizeof err) < 0)
        fprintf(stderr, "seekd: %s\n", err);
    if (model) {
        sk_free(cfg.model);
        cfg.model = sk_strdup(model);
    }
    if (draft) {
        sk_free(cfg.draft);
        cfg.draft = sk_strdup(draft);
    }
    if (nocache)
        cfg.cache_enable = 0;
    char *text = NULL;
    size_t len;
    int rc = sk_read_file(pos[0], CTX_DOC_MAX_BYTES, &text, &len);
    if (rc) {
        fprintf(stderr, "seekd: %s: %s\n", pos[0], strerror(-rc));
        goto out;
    }
    enum ctx_lang lang = ctx_lang_from_path(pos[0]);
    ctx_doc *doc;
    if ((rc = ctx_doc_new(pos[0], lang, text, len, 0, &doc))) {
        fprintf(stderr, "seekd: %s: %s\n", pos[0], strerror(-rc));
        goto out;
    }
    /* LINE:COL (characters = code points) -> byte offset; past the end clamps */
    size_t off = len;
    size_t ls, ll;
    if ((uint32_t)(line - 1) < ctx_doc_line_count(doc) &&
        !ctx_doc_line(doc, (uint32_t)(line - 1), &ls, &ll)) {
        const char *l = ctx_doc_bytes(doc, ls, ls + ll);
        off = ls + lsp_char_to_byte(l, ll, (uint32_t)(col - 1), LSP_ENC_UTF32);
    }
    ctx_doc_delete(doc);
    struct dmn_job *j = dmn_job_new(DMN_JOB_COMPLETE);
    size_t pw = (size_t)cfg.prefix_tokens * 12 + 256, sw = (size_t)cfg.suffix_tokens * 12 + 256;
    size_t a = off > pw ? off - pw : 0, b = off + sw < len ? off + sw : len;
    j->prefix = sk_strndup(text + a, off - a);
    j->prefix_len = off - a;
    j->prefix_doc_off = a;
    j->suffix = sk_strndup(text + off, b - off);
    j->suffix_len = b - off;
    const char *path = pos[0];
    char absf[PATH_MAX], absw[PATH_MAX];
    int have_abs = realpath(pos[0], absf) != NULL;
    /* the absolute path, so the cross-file context can leave the file itself out */
    j->uri = sk_strdup(have_abs ? absf : pos[0]);
    if (ws && have_abs && realpath(ws, absw)) {
        size_t wl = strlen(absw);
        if (!strncmp(absf, absw, wl) && absf[wl] == '/')
            path = absf + wl + 1;
    }
    j->path = sk_strdup(path);
    ctx_index *ix = NULL;
    if (ws) {
        /* the workspace's symbol index, complete before the prompt is built */
        if ((rc = ctx_index_new(&(struct ctx_index_opts){.root = ws}, &ix))) {
            fprintf(stderr, "seekd: --workspace %s: %s\n", ws, strerror(-rc));
            dmn_job_free(j);
            goto out;
        }
        ctx_index_wait(ix, 0);
        j->xindex = ix;
    }
    j->lang = lang;
    j->lang_id = ctx_lang_name(lang);
    j->n_candidates = 1;
    j->show_prompt = show;
    j->arrival_ms = j->due_ms = sk_now_ms();
    j->deadline_ms = UINT64_MAX;
    rc = dmn_complete_once(&cfg, j, err, sizeof err);
    ctx_index_delete(ix); /* the job is finished: nothing uses the index any more */
    j->xindex = NULL;
    if (rc == -ENOENT && !j->info.source && !j->n_items && err[0]) {
        fprintf(stderr, "seekd: %s\n", err);
        dmn_job_free(j);
        goto out;
    }
    if (rc) {
        fprintf(stderr, "seekd: completion failed: %s\n", strerror(-rc));
        dmn_job_free(j);
        goto out;
    }
    const char *sug = j->n_items ? j->items[0] : "";
    if (json) {
        printf("{\"completion\":");
        json_str(stdout, sug);
        printf(",\"source\":\"%s\",\"promptTokens\":%d,\"generated\":%d,\"latencyMs\":%.1f,"
               "\"mode\":\"%s\"",
               dmn_source_name(j->info.source), j->info.prompt_tokens, j->info.generated,
               j->info.latency_ms, j->info.mode == CTX_POST_MULTI_LINE ? "multi" : "single");
        if (show && j->prompt_text) {
            printf(",\"prompt\":");
            json_str(stdout, j->prompt_text);
        }
        printf("}\n");
    } else {
        if (show && j->prompt_text)
            printf("=== prompt (%d tokens) ===\n%s\n=== completion ===\n", j->prompt_n_tokens,
                   j->prompt_text);
        printf("%s\n", sug);
    }
    dmn_job_free(j);
    ret = 0;
out:
    sk_free(text);
    dmn_config_free(&cfg);
    return ret;
}
