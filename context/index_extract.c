/*
 * Definition extraction for the workspace index: one tree-sitter parse per file, then a walk of
 * the file-level nodes and of class / namespace / impl bodies (never of function bodies) driven
 * by a node-type table per language.  Each recorded definition keeps its name and its text from
 * the start of its first line, whole up to CTX__DEF_MAX_LINES lines (longer ones are cut and
 * end with a "..." comment line).
 *
 * Workload: every indexed file on the index worker (thousands at startup, then one per save or
 * edit); cost is the parse (~1-3 ms per 1,000 lines) plus a walk of the top levels.
 */
#include "base.h"
#include "ctx_int.h"
#include "xfile_int.h"

#include <errno.h>
#include <string.h>

enum {
    REC = 1 << 0,       /* record a definition */
    DESCEND = 1 << 1,   /* walk the named children (class bodies, namespaces, export, ...) */
    NEED_BODY = 1 << 2, /* record only with a "body" field (struct x {...}, not struct x *p) */
    NEED_FUNC = 1 << 3, /* record only when the declarator is a function (prototypes, methods) */
    TOP_ONLY = 1 << 4,  /* record only outside classes (module-level variables) */
    INNER = 1 << 5,     /* the children are inside a class (methods, not functions) */
};

struct node_rule {
    const char *type;
    uint8_t kind;  /* ctx__def_kind, 0 for pure containers */
    uint8_t flags;
};

/* Node types written for the grammars in build/grammars (checked against their s-expressions in
 * tests/context/test_index.c). */
static const struct node_rule rules_c[] = {
    {"function_definition", CTX_DEF_FUNC, REC},
    {"declaration", CTX_DEF_PROTO, REC | TOP_ONLY},
    {"struct_specifier", CTX_DEF_TYPE, REC | NEED_BODY},
    {"union_specifier", CTX_DEF_TYPE, REC | NEED_BODY},
    {"enum_specifier", CTX_DEF_TYPE, REC | NEED_BODY},
    {"type_definition", CTX_DEF_TYPE, REC},
    {"preproc_def", CTX_DEF_MACRO, REC},
    {"preproc_function_def", CTX_DEF_MACRO, REC},
    {"preproc_ifdef", 0, DESCEND},
    {"preproc_if", 0, DESCEND},
    {"preproc_else", 0, DESCEND},
    {"preproc_elif", 0, DESCEND},
    {"linkage_specification", 0, DESCEND},
    {"declaration_list", 0, DESCEND},
    {NULL, 0, 0},
};
static const struct node_rule rules_cpp[] = {
    {"function_definition", CTX_DEF_FUNC, REC},
    {"declaration", CTX_DEF_PROTO, REC | TOP_ONLY},
    {"field_declaration", CTX_DEF_METHOD, REC | NEED_FUNC},
    {"struct_specifier", CTX_DEF_CLASS, REC | NEED_BODY | DESCEND | INNER},
    {"class_specifier", CTX_DEF_CLASS, REC | NEED_BODY | DESCEND | INNER},
    {"union_specifier", CTX_DEF_TYPE, REC | NEED_BODY},
    {"enum_specifier", CTX_DEF_TYPE, REC | NEED_BODY},
    {"type_definition", CTX_DEF_TYPE, REC},
    {"alias_declaration", CTX_DEF_TYPE, REC},
    {"preproc_def", CTX_DEF_MACRO, REC},
    {"preproc_function_def", CTX_DEF_MACRO, REC},
    {"namespace_definition", 0, DESCEND},
    {"template_declaration", 0, DESCEND},
    {"field_declaration_list", 0, DESCEND},
    {"preproc_ifdef", 0, DESCEND},
    {"preproc_if", 0, DESCEND},
    {"preproc_else", 0, DESCEND},
    {"linkage_specification", 0, DESCEND},
    {"declaration_list", 0, DESCEND},
    {NULL, 0, 0},
};
static const struct node_rule rules_python[] = {
    {"function_definition", CTX_DEF_FUNC, REC},
    {"class_definition", CTX_DEF_CLASS, REC | DESCEND | INNER},
    {"decorated_definition", 0, DESCEND},
    {"block", 0, DESCEND},
    {"expression_statement", 0, DESCEND},
    {"assignment", CTX_DEF_CONST, REC | TOP_ONLY},
    {NULL, 0, 0},
};
static const struct node_rule rules_js[] = {
    {"function_declaration", CTX_DEF_FUNC, REC},
    {"generator_function_declaration", CTX_DEF_FUNC, REC},
    {"class_declaration", CTX_DEF_CLASS, REC | DESCEND | INNER},
    {"abstract_class_declaration", CTX_DEF_CLASS, REC | DESCEND | INNER},
    {"class_body", 0, DESCEND},
    {"method_definition", CTX_DEF_METHOD, REC},
    {"method_signature", CTX_DEF_METHOD, REC},
    {"abstract_method_signature", CTX_DEF_METHOD, REC},
    {"function_signature", CTX_DEF_PROTO, REC},
    {"interface_declaration", CTX_DEF_TYPE, REC},
    {"type_alias_declaration", CTX_DEF_TYPE, REC},
    {"enum_declaration", CTX_DEF_TYPE, REC},
    {"export_statement", 0, DESCEND},
    {"ambient_declaration", 0, DESCEND},
    {"lexical_declaration", 0, DESCEND},
    {"variable_declaration", 0, DESCEND},
    {"variable_declarator", CTX_DEF_CONST, REC | TOP_ONLY},
    {NULL, 0, 0},
};
static const struct node_rule rules_go[] = {
    {"function_declaration", CTX_DEF_FUNC, REC},
    {"method_declaration", CTX_DEF_METHOD, REC},
    {"type_declaration", 0, DESCEND},
    {"type_spec", CTX_DEF_TYPE, REC},
    {"type_alias", CTX_DEF_TYPE, REC},
    {"const_declaration", 0, DESCEND},
    {"const_spec", CTX_DEF_CONST, REC},
    {"var_declaration", 0, DESCEND},
    {"var_spec_list", 0, DESCEND},
    {"const_spec_list", 0, DESCEND},
    {"type_spec_list", 0, DESCEND},
    {"var_spec", CTX_DEF_CONST, REC},
    {NULL, 0, 0},
};
static const struct node_rule rules_rust[] = {
    {"function_item", CTX_DEF_FUNC, REC},
    {"function_signature_item", CTX_DEF_PROTO, REC},
    {"struct_item", CTX_DEF_TYPE, REC},
    {"enum_item", CTX_DEF_TYPE, REC},
    {"union_item", CTX_DEF_TYPE, REC},
    {"type_item", CTX_DEF_TYPE, REC},
    {"trait_item", CTX_DEF_CLASS, REC | DESCEND | INNER},
    {"impl_item", 0, DESCEND | INNER},
    {"mod_item", CTX_DEF_MODULE, DESCEND},
    {"declaration_list", 0, DESCEND},
    {"const_item", CTX_DEF_CONST, REC},
    {"static_item", CTX_DEF_CONST, REC},
    {"macro_definition", CTX_DEF_MACRO, REC},
    {NULL, 0, 0},
};
static const struct node_rule rules_java[] = {
    {"class_declaration", CTX_DEF_CLASS, REC | DESCEND | INNER},
    {"interface_declaration", CTX_DEF_CLASS, REC | DESCEND | INNER},
    {"enum_declaration", CTX_DEF_CLASS, REC | DESCEND | INNER},
    {"record_declaration", CTX_DEF_CLASS, REC | DESCEND | INNER},
    {"annotation_type_declaration", CTX_DEF_TYPE, REC},
    {"class_body", 0, DESCEND},
    {"interface_body", 0, DESCEND},
    {"enum_body", 0, DESCEND},
    {"enum_body_declarations", 0, DESCEND},
    {"method_declaration", CTX_DEF_METHOD, REC},
    {"constructor_declaration", CTX_DEF_METHOD, REC},
    {"field_declaration", CTX_DEF_CONST, REC},
    {"constant_declaration", CTX_DEF_CONST, REC},
    {NULL, 0, 0},
};

static const struct node_rule *rules_for(enum ctx_lang lang)
{
    switch (lang) {
    case CTX_LANG_C: return rules_c;
    case CTX_LANG_CPP: return rules_cpp;
    case CTX_LANG_PYTHON: return rules_python;
    case CTX_LANG_JAVASCRIPT:
    case CTX_LANG_TYPESCRIPT:
    case CTX_LANG_TSX: return rules_js;
    case CTX_LANG_GO: return rules_go;
    case CTX_LANG_RUST: return rules_rust;
    case CTX_LANG_JAVA: return rules_java;
    default: return NULL;
    }
}

static const struct node_rule *rule_of(const struct node_rule *t, const char *type)
{
    for (; t->type; t++)
        if (!strcmp(t->type, type))
            return t;
    return NULL;
}

static int is_ident_type(const char *t)
{
    size_t n = strlen(t);
    if (!strcmp(t, "qualified_identifier") || !strcmp(t, "scoped_identifier"))
        return 0; /* a::b: its "name" field is the name */
    return (n >= 10 && !strcmp(t + n - 10, "identifier")) || !strcmp(t, "destructor_name") ||
           !strcmp(t, "operator_name");
}

/* The name node of a definition (NULL when it has none we understand).  *is_func is set when a
 * function_declarator lies on the declarator path. */
static TSNode name_of(TSNode n, int *is_func, int depth)
{
    TSNode none = {0};
    if (depth > 12 || ts_node_is_null(n))
        return none;
    const char *t = ts_node_type(n);
    if (is_ident_type(t))
        return n;
    if (!strcmp(t, "function_declarator"))
        *is_func = 1;
    static const char *const fields[] = {"name", "declarator", "left"};
    for (size_t i = 0; i < SK_ARRAY_LEN(fields); i++) {
        TSNode c = ts_node_child_by_field_name(n, fields[i], (uint32_t)strlen(fields[i]));
        if (!ts_node_is_null(c))
            return name_of(c, is_func, depth + 1);
    }
    if (!strcmp(t, "parenthesized_declarator") && ts_node_named_child_count(n) > 0)
        return name_of(ts_node_named_child(n, 0), is_func, depth + 1);
    return none;
}

struct sbuf {
    char *p;
    size_t n, cap;
};

static int sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = sk_realloc(b->p, cap);
        if (!p)
            return -ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

struct ex {
    enum ctx_lang lang;
    const struct node_rule *rules;
    const char *text;
    size_t len;
    struct ctx__def *defs;
    uint32_t n, cap;
    struct sbuf s;
    uint32_t line;       /* line count up to line_pos (incremental: nodes come in order) */
    size_t line_pos;
    int rc;
};

static uint32_t line_at(struct ex *x, size_t pos)
{
    if (pos < x->line_pos) { /* never in practice: recount from the start */
        x->line = 0;
        x->line_pos = 0;
    }
    for (; x->line_pos < pos; x->line_pos++)
        if (x->text[x->line_pos] == '\n')
            x->line++;
    return x->line;
}

static void record(struct ex *x, TSNode node, TSNode name, uint8_t kind, int top)
{
    if (x->rc || x->n >= CTX__MAX_DEFS_PER_FILE)
        return;
    uint32_t ns = ts_node_start_byte(name), ne = ts_node_end_byte(name);
    size_t s = ts_node_start_byte(node), e = ts_node_end_byte(node);
    if (ne <= ns || ne - ns > 255 || e > x->len || s >= e)
        return;
    while (s > 0 && x->text[s - 1] != '\n')
        s--;
    while (e < x->len && x->text[e] != '\n')
        e++;
    if (e < x->len)
        e++; /* the newline */
    /* the line cap */
    size_t cut = s;
    int lines = 0, truncated = 0;
    while (cut < e) {
        const char *nl = memchr(x->text + cut, '\n', e - cut);
        cut = nl ? (size_t)(nl - x->text) + 1 : e;
        if (++lines == CTX__DEF_MAX_LINES && cut < e) {
            truncated = 1;
            break;
        }
    }
    if (x->n == x->cap) {
        uint32_t cap = x->cap ? x->cap * 2 : 32;
        struct ctx__def *d = sk_realloc(x->defs, cap * sizeof *d);
        if (!d) {
            x->rc = -ENOMEM;
            return;
        }
        x->defs = d;
        x->cap = cap;
    }
    struct ctx__def *d = &x->defs[x->n];
    d->name_off = (uint32_t)x->s.n;
    d->name_len = ne - ns;
    if (sb_add(&x->s, x->text + ns, ne - ns) || sb_add(&x->s, "", 1)) {
        x->rc = -ENOMEM;
        return;
    }
    d->text_off = (uint32_t)x->s.n;
    if (sb_add(&x->s, x->text + s, cut - s)) {
        x->rc = -ENOMEM;
        return;
    }
    if (x->s.p[x->s.n - 1] != '\n' && sb_add(&x->s, "\n", 1)) {
        x->rc = -ENOMEM;
        return;
    }
    if (truncated) {
        const char *c = ctx_fim_comment_prefix(x->lang);
        size_t ind = 0;
        while (s + ind < cut && (x->text[s + ind] == ' ' || x->text[s + ind] == '\t'))
            ind++;
        if (sb_add(&x->s, x->text + s, ind) || sb_add(&x->s, c ? c : "", c ? strlen(c) : 0) ||
            sb_add(&x->s, "...\n", 4)) {
            x->rc = -ENOMEM;
            return;
        }
    }
    d->text_len = (uint32_t)(x->s.n - d->text_off);
    if (sb_add(&x->s, "", 1)) {
        x->rc = -ENOMEM;
        return;
    }
    d->start = (uint32_t)s;
    d->line = line_at(x, s);
    d->kind = kind;
    d->top = (uint8_t)top;
    x->n++;
}

static void walk(struct ex *x, TSNode parent, int inner, int depth)
{
    if (depth > 24 || x->rc)
        return;
    uint32_t nc = ts_node_named_child_count(parent);
    for (uint32_t i = 0; i < nc && !x->rc; i++) {
        TSNode c = ts_node_named_child(parent, i);
        const struct node_rule *r = rule_of(x->rules, ts_node_type(c));
        if (!r)
            continue;
        if (r->flags & REC) {
            int ok = 1;
            if ((r->flags & NEED_BODY) &&
                ts_node_is_null(ts_node_child_by_field_name(c, "body", 4)))
                ok = 0;
            if ((r->flags & TOP_ONLY) && inner)
                ok = 0;
            if (r->kind == CTX_DEF_MACRO && !strcmp(r->type, "preproc_def") &&
                ts_node_is_null(ts_node_child_by_field_name(c, "value", 5)))
                ok = 0; /* include guards and flags: "#define X_H" says nothing */
            int is_func = 0;
            TSNode name = ok ? name_of(c, &is_func, 0) : (TSNode){0};
            if (ok && (r->flags & NEED_FUNC) && !is_func)
                ok = 0;
            if (ok && !ts_node_is_null(name)) {
                uint8_t kind = r->kind;
                if (kind == CTX_DEF_PROTO && !is_func &&
                    (x->lang == CTX_LANG_C || x->lang == CTX_LANG_CPP))
                    kind = CTX_DEF_CONST; /* a C/C++ global variable */
                if (kind == CTX_DEF_FUNC && inner)
                    kind = CTX_DEF_METHOD;
                record(x, c, name, kind, !inner);
            }
        }
        if (r->flags & DESCEND) {
            /* class bodies are walked through their body field when there is one */
            TSNode body = ts_node_child_by_field_name(c, "body", 4);
            int in = inner || (r->flags & INNER);
            if (!ts_node_is_null(body) && (r->flags & REC || r->flags & INNER ||
                                           r->kind == CTX_DEF_MODULE))
                walk(x, body, in, depth + 1);
            else
                walk(x, c, in, depth + 1);
        }
    }
}

int ctx__extract_defs(enum ctx_lang lang, const char *text, size_t len, struct ctx__def **defs,
                      uint32_t *n, char **strings, size_t *strings_len)
{
    *defs = NULL;
    *n = 0;
    *strings = NULL;
    *strings_len = 0;
    const struct node_rule *rules = rules_for(lang);
    if (!rules || (!text && len) || len > UINT32_MAX / 2)
        return -EINVAL;
    struct ex x = {.lang = lang, .rules = rules, .text = text, .len = len};
    if (sb_add(&x.s, "", 0))
        return -ENOMEM;
    ctx__ts_init();
    TSTree *tree = ctx__parse_fresh(lang, text ? text : "", len);
    if (!tree) {
        sk_free(x.s.p);
        return -ENOMEM;
    }
    walk(&x, ts_tree_root_node(tree), 0, 0);
    ts_tree_delete(tree);
    if (x.rc) {
        sk_free(x.defs);
        sk_free(x.s.p);
        return x.rc;
    }
    *defs = x.defs;
    *n = x.n;
    *strings = x.s.p;
    *strings_len = x.s.n;
    return 0;
}
