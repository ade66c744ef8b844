/*
 * Explain: the chat prompt of the configured explain model (contract in pipeline.h).  Two
 * DeepSeek templates, written with special tokens by id:
 *   Coder instruct  stop on <|EOT|>
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

/* The template is tokenized as one text (the user's message included), the way the HF chat
 * template renders it and the tokenizer then sees it: tokenizing the pieces separately would
 * split differently at their edges (DeepSeek LLM's pre-tokenizer joins " " to the next word). */
int dmn_chat_prompt(const struct eng_vocab *v, enum dmn_chat_style style, const char *user,
                    size_t user_len, int32_t **out)
{
    const char *pre = style == DMN_CHAT_CODER_INSTRUCT ? CODER_SYSTEM : "User: ";
    const char *mid = style == DMN_CHAT_CODER_INSTRUCT ? "\n### Instruction:\n" : "";
    const char *post = style == DMN_CHAT_CODER_INSTRUCT ? "\n### Response:\n" : "\n\nAssistant:";
    size_t n = strlen(pre) + strlen(mid) + user_len + strlen(post);
    if (n > (size_t)1 << 28)
        return -E2BIG;
    char *text = sk_malloc(n + 1);
    if (!text)
        return -ENOMEM;
    size_t k = 0;
    memcpy(text + k, pre, strlen(pre)), k += strlen(pre);
    memcpy(text + k, mid, strlen(mid)), k += strlen(mid);
    memcpy(text + k, user, user_len), k += user_len;
    memcpy(text + k, post, strlen(post)), k += strlen(post);
    int cnt = eng_tokenize(v, text, n, 0, 0, NULL, 0);
    int32_t *ids = cnt >= 0 ? sk_malloc(((size_t)cnt + 1) * sizeof *ids) : NULL;
    if (!ids) {
        sk_free(text);
        return cnt < 0 ? cnt : -ENOMEM;
    }
    int32_t bos = eng_vocab_bos(v);
    int b = bos >= 0;
    if (b)
        ids[0] = bos;
    int got = eng_tokenize(v, text, n, 0, 0, ids + b, cnt);
    sk_free(text);
    if (got != cnt) {
        sk_free(ids);
        return got < 0 ? got : -EIO;
    }
    *out = ids;
    return cnt + b;
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
