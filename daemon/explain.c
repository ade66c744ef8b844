/*
 * Explain: the chat prompt of the configured explain model (contract in pipeline.h).  Two
 * DeepSeek templates, written with special tokens by id:
 *   Coder instruct  BOS + system + "\n" ... see below, stop on <|EOT|>
 *       "{BOS}{system}\n### Instruction:\n{user}\n### Response:\n"
 *   LLM chat        stop on EOS
 *       "{BOS}User: {user}\n\nAssistant:"
 * (deepseek-models.md 1.3 and 2.6).  The generation itself runs on the inference thread
 * (daemon/infer.c, do_explain).
 */
#include "base.h"
#include "daemon/pipeline.h"
#include "engine/engine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char CODER_SYSTEM[] =
    "You are an AI programming assistant, utilizing the Deepseek Coder model, developed by "
    "Deepseek Company, and you only answer questions related to computer science. For "
    "politically sensitive questions, security and privacy issues, and other non-computer "
    "science questions, you will refuse to answer";

enum dmn_chat_style dmn_chat_style_of(const struct eng_vocab *v)
{
    static const char eot[] = "<|EOT|>";
    if (eng_vocab_find(v, eot, sizeof eot - 1) >= 0 || eng_vocab_fim_pre(v) >= 0)
        return DMN_CHAT_CODER_INSTRUCT;
    return DMN_CHAT_LLM;
}

static int append(const struct eng_vocab *v, const char *s, size_t n, int32_t **ids, int *len,
                  int *cap)
{
    for (;;) {
        int room = *cap - *len;
        int k = eng_tokenize(v, s, n, 0, 0, *ids + *len, room);
        if (k < 0)
            return k;
        if (k <= room) {
            *len += k;
            return 0;
        }
        int nc = *cap * 2 + k;
        int32_t *p = sk_realloc(*ids, (size_t)nc * sizeof *p);
        if (!p)
            return -ENOMEM;
        *ids = p;
        *cap = nc;
    }
}

int dmn_chat_prompt(const struct eng_vocab *v, enum dmn_chat_style style, const char *user,
                    size_t user_len, int32_t **out)
{
    int cap = 256, n = 0, rc;
    int32_t *ids = sk_malloc((size_t)cap * sizeof *ids);
    if (!ids)
        return -ENOMEM;
    int32_t bos = eng_vocab_bos(v);
    if (bos >= 0)
        ids[n++] = bos;
    if (style == DMN_CHAT_CODER_INSTRUCT) {
        if ((rc = append(v, CODER_SYSTEM, sizeof CODER_SYSTEM - 1, &ids, &n, &cap)) ||
            (rc = append(v, "\n### Instruction:\n", 18, &ids, &n, &cap)) ||
            (rc = append(v, user, user_len, &ids, &n, &cap)) ||
            (rc = append(v, "\n### Response:\n", 15, &ids, &n, &cap)))
            goto fail;
    } else {
        if ((rc = append(v, "User: ", 6, &ids, &n, &cap)) ||
            (rc = append(v, user, user_len, &ids, &n, &cap)) ||
            (rc = append(v, "\n\nAssistant:", 12, &ids, &n, &cap)))
            goto fail;
    }
    *out = ids;
    return n;
fail:
    sk_free(ids);
    return rc;
}

char *dmn_explain_message(const char *lang_id, const char *code, size_t len)
{
    static const char head[] = "Explain what the following %s code does, briefly, in Markdown.\n\n```%s\n";
    const char *l = lang_id && *lang_id ? lang_id : "";
    size_t cap = sizeof head + 2 * strlen(l) + len + 8;
    char *s = sk_malloc(cap);
    if (!s)
        return NULL;
    int n = snprintf(s, cap, head, *l ? l : "source", l);
    memcpy(s + n, code, len);
    memcpy(s + n + len, "\n```", 5);
    return s;
}
