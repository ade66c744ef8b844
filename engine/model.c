/*
 * Loading a llama-architecture model from an opened GGUF: hyperparameters, every tensor looked
 * up by name with its shape checked, the RoPE table, the KV cache and all scratch buffers.
 * Runs once per model; everything the forward pass needs is allocated here.
 */
#include "base.h"
#include "engine/model_int.h"
#include "engine/quant.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_CTX 65536

void eng_model_params_default(struct eng_model_params *p)
{
    memset(p, 0, sizeof *p);
    p->kv_type = ENG_TYPE_F16;
    p->n_batch = 512;
    p->n_outputs = 64;
}

static void seterr(char *buf, size_t len, const char *fmt, ...)
{
    if (!buf || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

static int kernel_ok(int type)
{
    const struct eng_type_info *ti = eng_type_info(type);
    return ti && ti->in_files && eng__kern()->t[type].dot != NULL &&
           eng__kern()->t[type].dequantize != NULL;
}

/* Looks a weight up with shape {ne0, ne1} (ne1 = 0: a 1-D tensor) and checks its type. */
static int get(const struct eng_gguf *g, const char *name, int64_t ne0, int64_t ne1,
               struct eng_tensor *out, char *err, size_t errlen)
{
    int64_t ne[4] = {ne0, ne1 ? ne1 : 1, 1, 1};
    int rc = eng_gguf_tensor_shaped(g, name, ne1 ? 2 : 1, ne, out, err, errlen);
    if (rc)
        return rc;
    if (ne1 == 0) {
        if (out->type != ENG_TYPE_F32) {
            seterr(err, errlen, "%s: norm weight must be F32, is %s", name,
                   eng_type_info(out->type) ? eng_type_info(out->type)->name : "?");
            return ENG_EUNSUPPORTED;
        }
        return 0;
    }
    if (!kernel_ok(out->type)) {
        seterr(err, errlen, "%s: weight type %d has no kernels", name, (int)out->type);
        return ENG_EUNSUPPORTED;
    }
    if (eng_type_row_size(out->type, ne0) == 0) {
        seterr(err, errlen, "%s: row of %lld elements does not fit type %s", name,
               (long long)ne0, eng_type_info(out->type)->name);
        return ENG_ESHAPE;
    }
    return 0;
}

static void rope_table(struct eng_model *m)
{
    int half = m->hd / 2;
    double base = m->hp.rope_freq_base, fs = m->hp.rope_freq_scale;
    for (int p = 0; p < m->kv.n_ctx; p++) {
        float *cs = m->rope_cs + (size_t)p * (size_t)m->hd;
        for (int i = 0; i < half; i++) {
            /* theta = freq_scale * p * base^(-2i/n_rot), evaluated in double */
            double th = fs * (double)p * pow(base, -2.0 * i / m->hd);
            cs[2 * i] = (float)cos(th);
            cs[2 * i + 1] = (float)sin(th);
        }
    }
}

int eng_model_load(const struct eng_gguf *g, const struct eng_model_params *prm,
                   struct eng_model **out, char *err, size_t errlen)
{
    int rc;
    char name[96];
    struct eng_model *m = NULL;
    *out = NULL;
    if (err && errlen)
        err[0] = 0;

    m = sk_calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    if (prm)
        m->prm = *prm;
    else
        eng_model_params_default(&m->prm);
    m->gguf = g;
    rc = eng_hparams_load(g, &m->hp, err, errlen);
    if (rc)
        goto fail;
    const struct eng_hparams *hp = &m->hp;
    /* bounds before any size is computed in int: far above every DeepSeek shape (n_embd 8192,
     * n_ff 22016, vocab 102400, head_dim 128), far below overflow */
    if (hp->n_embd > (1u << 20) || hp->n_ff > (1u << 22) || hp->n_vocab > (1u << 22) ||
        hp->n_head > 4096 || hp->n_head_kv > 4096 || hp->head_dim > 4096 ||
        (uint64_t)hp->n_head * hp->head_dim > (1u << 20)) {
        seterr(err, errlen, "hyperparameters out of range: n_embd %u, n_ff %u, vocab %u, "
               "n_head %u/%u, head_dim %u", hp->n_embd, hp->n_ff, hp->n_vocab, hp->n_head,
               hp->n_head_kv, hp->head_dim);
        rc = ENG_EUNSUPPORTED;
        goto fail;
    }
    m->E = (int)hp->n_embd;
    m->n_head = (int)hp->n_head;
    m->n_head_kv = (int)hp->n_head_kv;
    m->hd = (int)hp->head_dim;
    m->Dq = m->n_head * m->hd;
    m->Dkv = m->n_head_kv * m->hd;
    m->F = (int)hp->n_ff;
    m->V = (int)hp->n_vocab;
    m->n_layer = (int)hp->n_layer;
    m->rms_eps = hp->rms_eps;
    m->kq_scale = 1.0f / sqrtf((float)m->hd);
    rc = ENG_EUNSUPPORTED;
    if (hp->rope_scaling_type != ENG_ROPE_SCALING_NONE &&
        hp->rope_scaling_type != ENG_ROPE_SCALING_LINEAR) {
        seterr(err, errlen, "rope scaling type %s is not supported (none and linear are)",
               hp->rope_scaling_type == ENG_ROPE_SCALING_YARN ? "yarn" : "longrope");
        goto fail;
    }
    if (m->n_head_kv < 1 || m->n_head % m->n_head_kv || m->hd < 2 || m->hd % 2 ||
        hp->head_dim_v != hp->head_dim || (int)hp->n_rot != m->hd || m->n_layer < 1 ||
        m->E < 1 || m->F < 1 || m->V < 1) {
        seterr(err, errlen, "unsupported shape: n_head %d, n_head_kv %d, head_dim %d/%u, n_rot %u",
               m->n_head, m->n_head_kv, m->hd, hp->head_dim_v, hp->n_rot);
        goto fail;
    }

    /* params */
    rc = ENG_EINVAL;
    struct eng_model_params *p = &m->prm;
    if (p->n_ctx == 0)
        p->n_ctx = (int)SK_MIN(hp->n_ctx_train ? hp->n_ctx_train : 4096u, 4096u);
    if (p->n_batch == 0)
        p->n_batch = 512;
    if (p->n_outputs == 0)
        p->n_outputs = 64;
    if (p->n_outputs > p->n_batch)
        p->n_outputs = p->n_batch;
    if (p->n_threads <= 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        p->n_threads = nc > 0 ? (int)SK_MIN(nc, 256) : 1;
    }
    if (p->n_ctx < 1 || p->n_ctx > MAX_CTX || p->n_batch < 1 || p->n_batch > 8192 ||
        (p->kv_type != ENG_TYPE_F16 && p->kv_type != ENG_TYPE_F32)) {
        seterr(err, errlen, "bad model params: n_ctx %d (1..%d), n_batch %d, kv_type %d",
               p->n_ctx, MAX_CTX, p->n_batch, p->kv_type);
        goto fail;
    }

    /* tensors */
    rc = get(g, "token_embd.weight", m->E, m->V, &m->tok_embd, err, errlen);
    if (rc)
        goto fail;
    rc = get(g, "output_norm.weight", m->E, 0, &m->out_norm, err, errlen);
    if (rc)
        goto fail;
    struct eng_tensor probe;
    if (eng_gguf_tensor(g, "output.weight", &probe) == 0) {
        rc = get(g, "output.weight", m->E, m->V, &m->output, err, errlen);
        if (rc)
            goto fail;
    } else {
        m->output = m->tok_embd; /* tied */
    }
    m->layers = sk_calloc((size_t)m->n_layer, sizeof *m->layers);
    if (!m->layers) {
        rc = -ENOMEM;
        goto fail;
    }
    for (int l = 0; l < m->n_layer; l++) {
        struct eng__layer *L = &m->layers[l];
        static const struct {
            const char *n;
            int r0, r1; /* 0 E, 1 Dq, 2 Dkv, 3 F, -1 none */
            size_t off;
        } tab[] = {
            {"attn_norm", 0, -1, offsetof(struct eng__layer, attn_norm)},
            {"ffn_norm", 0, -1, offsetof(struct eng__layer, ffn_norm)},
            {"attn_q", 0, 1, offsetof(struct eng__layer, wq)},
            {"attn_k", 0, 2, offsetof(struct eng__layer, wk)},
            {"attn_v", 0, 2, offsetof(struct eng__layer, wv)},
            {"attn_output", 1, 0, offsetof(struct eng__layer, wo)},
            {"ffn_gate", 0, 3, offsetof(struct eng__layer, w_gate)},
            {"ffn_up", 0, 3, offsetof(struct eng__layer, w_up)},
            {"ffn_down", 3, 0, offsetof(struct eng__layer, w_down)},
        };
        int64_t dim[4] = {m->E, m->Dq, m->Dkv, m->F};
        for (size_t i = 0; i < SK_ARRAY_LEN(tab); i++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, tab[i].n);
            rc = get(g, name, dim[tab[i].r0], tab[i].r1 < 0 ? 0 : dim[tab[i].r1],
                     (struct eng_tensor *)((char *)L + tab[i].off), err, errlen);
            if (rc)
                goto fail;
        }
    }

    /* cache, tables, scratch */
    rc = eng__kv_init(&m->kv, p->kv_type, m->n_layer, p->n_ctx, m->Dkv);
    if (rc)
        goto fail;
    rc = -ENOMEM;
    size_t nb = (size_t)p->n_batch;
    m->rope_cs = sk_malloc((size_t)p->n_ctx * (size_t)m->hd * sizeof(float));
    m->x = sk_calloc(nb * (size_t)m->E, sizeof(float));
    m->xn = sk_calloc(nb * (size_t)SK_MAX(m->E, m->Dq), sizeof(float));
    m->q = sk_calloc(nb * (size_t)m->Dq, sizeof(float));
    m->k = sk_calloc(nb * (size_t)m->Dkv, sizeof(float));
    m->v = sk_calloc(nb * (size_t)m->Dkv, sizeof(float));
    m->att = sk_calloc(nb * (size_t)m->Dq, sizeof(float));
    m->gate = sk_calloc(nb * (size_t)m->F, sizeof(float));
    m->up = sk_calloc(nb * (size_t)m->F, sizeof(float));
    m->scores = sk_calloc((size_t)p->n_threads * 4 * (size_t)p->n_ctx, sizeof(float));
    m->logits = sk_calloc((size_t)p->n_outputs * (size_t)m->V, sizeof(float));
    if (!m->rope_cs || !m->x || !m->xn || !m->q || !m->k || !m->v || !m->att || !m->gate ||
        !m->up || !m->scores || !m->logits)
        goto fail;
    /* activation rows for the widest input of any matmul (E, Dq or F) */
    rc = eng_mm_scratch_init(&m->mm, SK_MAX(SK_MAX(m->E, m->Dq), m->F), p->n_batch);
    if (rc)
        goto fail;
    rope_table(m);
    eng__attn_kern_get(&m->ak, 2);
    rc = eng_pool_new(p->n_threads, &m->pool);
    if (rc)
        goto fail;
    *out = m;
    return 0;
fail:
    if (rc == -ENOMEM)
        seterr(err, errlen, "out of memory allocating the model's buffers");
    eng_model_free(m);
    return rc;
}

void eng_model_free(struct eng_model *m)
{
    if (!m)
        return;
    eng_pool_delete(m->pool);
    eng__kv_free(&m->kv);
    sk_free(m->layers);
    sk_free(m->rope_cs);
    sk_free(m->x);
    sk_free(m->xn);
    sk_free(m->q);
    sk_free(m->k);
    sk_free(m->v);
    sk_free(m->att);
    sk_free(m->gate);
    sk_free(m->up);
    sk_free(m->scores);
    sk_free(m->logits);
    eng_mm_scratch_free(&m->mm);
    sk_free(m);
}

const struct eng_hparams *eng_model_hparams(const struct eng_model *m) { return &m->hp; }
int eng_model_n_vocab(const struct eng_model *m) { return m->V; }
int eng_model_n_ctx(const struct eng_model *m) { return m->kv.n_ctx; }
int eng_model_n_threads(const struct eng_model *m) { return m->prm.n_threads; }

size_t eng_model_scratch_bytes(const struct eng_model *m)
{
    size_t nb = (size_t)m->prm.n_batch, f = sizeof(float);
    size_t kv = 2 * m->kv.row_bytes * (size_t)m->kv.n_ctx * (size_t)m->n_layer;
    size_t acts = nb * f * ((size_t)m->E * 2 + (size_t)m->Dq * 2 + (size_t)m->Dkv * 2 +
                            (size_t)m->F * 2) + m->mm.size;
    return kv + acts + (size_t)m->prm.n_outputs * (size_t)m->V * f +
           (size_t)m->prm.n_threads * 4 * (size_t)m->kv.n_ctx * f +
           (size_t)m->kv.n_ctx * (size_t)m->hd * f;
}

void eng_model_set_cancel(struct eng_model *m, const _Atomic int *flag) { m->cancel = flag; }
