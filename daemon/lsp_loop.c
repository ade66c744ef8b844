/*
 * `seekd lsp`: the language server on stdio.  A libuv loop reads stdin (a pipe or socket, a
 * tty, or a file), feeds the bytes to a dmn_session (daemon/session.h) and writes its messages,
 * framed, to stdout.  Deferred session work (answering queued requests, continuing parses cut
 * short) runs from an idle handle, one bounded slice per loop turn, so input is never starved.
 *
 * A tty is switched to a byte-exact mode while we run (no echo, no line buffering, no CR/NL
 * translation either way) and restored at exit, because the framing counts bytes; signal keys
 * stay on, so Ctrl-C still stops the server cleanly.
 *
 * stdout carries protocol messages only: at startup the protocol stream moves to a private
 * duplicate of fd 1 and fd 1 is pointed at stderr, so a stray printf anywhere in the process
 * (a library warning, a debug print) lands in the log instead of corrupting the stream.
 *
 * Ending: the exit notification, the end of stdin, SIGTERM or SIGINT.  Then reading stops,
 * queued writes are flushed (for at most FLUSH_TIMEOUT_MS, in case the client stopped reading),
 * every handle is closed and the process exits with the session's code: 0 after a shutdown
 * request, 1 otherwise (the spec's rule; the same for a signal).  SIGPIPE is ignored: a client
 * that went away shows up as a write error and the end of input.
 */
#include "base.h"
#include "daemon/commands.h"
#include "daemon/pipeline.h"
#include "daemon/session.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <uv.h>

#define READ_CHUNK 65536
#define FLUSH_TIMEOUT_MS 2000

union stream {
    uv_handle_t h;
    uv_stream_t s;
    uv_pipe_t pipe;
    uv_tty_t tty;
    uv_tcp_t tcp;
};

struct lsp_loop {
    uv_loop_t loop;
    dmn_session *s;
    struct dmn_pipe *pipe; /* the completion pipeline (daemon/complete.c) in front of s */
    /* input: a stream, or a file read with uv_fs_read */
    union stream in;
    int in_file, in_open, in_reading;
    uv_fs_t in_req;
    char *in_buf; /* READ_CHUNK bytes */
    /* output: a stream, or a file written synchronously */
    union stream out;
    int out_fd, out_file, out_open;
    int tty_used;
    size_t writes_pending;
    int write_failed;
    uv_idle_t idle;
    uv_signal_t sig_term, sig_int;
    uv_timer_t flush_timer;
    int closing;
};

struct write_req {
    uv_write_t req;
    char *buf; /* header + body, sk_malloc'd */
};

static void close_all(struct lsp_loop *L);

/* ---- output ------------------------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct lsp_loop *L = req->data;
    if (status < 0 && !L->write_failed) {
        SK_ERROR("lsp: writing to stdout failed: %s", uv_strerror(status));
        L->write_failed = 1;
    }
    sk_free(w->buf);
    sk_free(w);
    L->writes_pending--;
    if (L->closing && L->writes_pending == 0)
        close_all(L);
}

static void send_cb(void *ud, const char *json, size_t len)
{
    struct lsp_loop *L = ud;
    if (L->write_failed || !L->out_open)
        return;
    size_t n;
    char *frame = lsp_frame_encode(json, len, &n);
    if (!frame) {
        SK_ERROR("lsp: out of memory framing a message");
        return;
    }
    if (L->out_file) {
        /* A regular file (or /dev/null): plain blocking writes. */
        for (size_t off = 0; off < n;) {
            ssize_t k = write(L->out_fd, frame + off, n - off);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                SK_ERROR("lsp: writing to stdout failed: %s", strerror(errno));
                L->write_failed = 1;
                break;
            }
            off += (size_t)k;
        }
        sk_free(frame);
        return;
    }
    struct write_req *w = sk_malloc(sizeof *w);
    if (!w) {
        sk_free(frame);
        return;
    }
    w->buf = frame;
    w->req.data = L;
    uv_buf_t b = uv_buf_init(frame, (unsigned)n);
    int rc = uv_write(&w->req, &L->out.s, &b, 1, on_write);
    if (rc < 0) {
        SK_ERROR("lsp: writing to stdout failed: %s", uv_strerror(rc));
        L->write_failed = 1;
        sk_free(frame);
        sk_free(w);
        return;
    }
    L->writes_pending++;
}

/* ---- ending ------------------------------------------------------------------------------- */

static void on_closed(uv_handle_t *h) { (void)h; }

static void close_handle(uv_handle_t *h)
{
    if (h->type != UV_UNKNOWN_HANDLE && !uv_is_closing(h))
        uv_close(h, on_closed);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    close_handle(h);
}

static void close_all(struct lsp_loop *L)
{
    uv_timer_stop(&L->flush_timer);
    close_handle((uv_handle_t *)&L->flush_timer);
    if (L->in_open && !L->in_file)
        close_handle(&L->in.h);
    if (L->out_open && !L->out_file)
        close_handle(&L->out.h);
    L->out_open = 0;
}

static void on_flush_timeout(uv_timer_t *t)
{
    struct lsp_loop *L = t->data;
    SK_WARN("lsp: %zu messages not flushed after %d ms: dropping them", L->writes_pending,
            FLUSH_TIMEOUT_MS);
    close_all(L); /* closing the stream cancels the writes (their callbacks free them) */
}

/* Stops taking input and closes everything once the queued writes are out. */
static void begin_close(struct lsp_loop *L)
{
    if (L->closing)
        return;
    L->closing = 1;
    dmn_pipe_stop(L->pipe);
    if (L->in_open && !L->in_file && L->in_reading)
        uv_read_stop(&L->in.s);
    L->in_reading = 0;
    uv_idle_stop(&L->idle);
    close_handle((uv_handle_t *)&L->idle);
    close_handle((uv_handle_t *)&L->sig_term);
    close_handle((uv_handle_t *)&L->sig_int);
    if (L->writes_pending == 0 || L->write_failed) {
        close_all(L);
        return;
    }
    uv_timer_start(&L->flush_timer, on_flush_timeout, FLUSH_TIMEOUT_MS, 0);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct lsp_loop *L = h->data;
    SK_INFO("lsp: %s: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    dmn_session_eof(L->s);
    begin_close(L);
}

/* ---- input -------------------------------------------------------------------------------- */

static void on_idle(uv_idle_t *h)
{
    struct lsp_loop *L = h->data;
    if (!dmn_session_poll(L->s))
        uv_idle_stop(h);
}

/* After input was handled: finish if the session exited, else schedule deferred work. */
static void after_input(struct lsp_loop *L)
{
    if (dmn_session_exited(L->s, NULL)) {
        begin_close(L);
        return;
    }
    uv_idle_start(&L->idle, on_idle);
}

static void on_input_end(struct lsp_loop *L, int err)
{
    if (err)
        SK_ERROR("lsp: reading stdin failed: %s", uv_strerror(err));
    else
        SK_DEBUG("lsp: end of input");
    dmn_session_eof(L->s);
    begin_close(L);
}

static void feed(struct lsp_loop *L, const char *data, size_t n)
{
    if (dmn_pipe_feed(L->pipe, data, n) < 0)
        SK_ERROR("lsp: out of memory buffering input: %zu bytes dropped", n);
    after_input(L);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct lsp_loop *L = h->data;
    *buf = uv_buf_init(L->in_buf, READ_CHUNK);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct lsp_loop *L = st->data;
    if (nread > 0)
        feed(L, buf->base, (size_t)nread);
    else if (nread == UV_EOF)
        on_input_end(L, 0);
    else if (nread < 0)
        on_input_end(L, (int)nread);
}

static void file_read_next(struct lsp_loop *L);

static void on_file_read(uv_fs_t *req)
{
    struct lsp_loop *L = req->data;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    L->in_reading = 0;
    if (L->closing)
        return;
    if (n > 0) {
        feed(L, L->in_buf, (size_t)n);
        if (!L->closing)
            file_read_next(L);
    } else {
        on_input_end(L, (int)n);
    }
}

static void file_read_next(struct lsp_loop *L)
{
    uv_buf_t b = uv_buf_init(L->in_buf, READ_CHUNK);
    L->in_req.data = L;
    int rc = uv_fs_read(&L->loop, &L->in_req, 0, &b, 1, -1, on_file_read);
    if (rc < 0)
        on_input_end(L, rc);
    else
        L->in_reading = 1;
}

/* Terminal settings changed by tty_make_exact, restored by tty_restore. */
static struct saved_tty {
    int fd;
    struct termios t;
} saved_tty[2] = {{-1, {0}}, {-1, {0}}};

/* Makes a tty carry bytes unchanged: input without echo, canonical lines or CR/NL mapping,
 * output without post-processing (ONLCR would turn our \r\n into \r\r\n).  ISIG stays. */
static void tty_make_exact(int fd, int slot)
{
    struct termios t;
    if (tcgetattr(fd, &t) != 0)
        return;
    saved_tty[slot].fd = fd;
    saved_tty[slot].t = t;
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_oflag &= ~(tcflag_t)OPOST;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | IEXTEN);
    t.c_cflag = (t.c_cflag & ~(tcflag_t)(CSIZE | PARENB)) | CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(fd, TCSANOW, &t) != 0)
        SK_WARN("lsp: cannot set the terminal to raw mode: %s", strerror(errno));
}

static void tty_restore(void)
{
    for (int i = 1; i >= 0; i--)
        if (saved_tty[i].fd >= 0)
            tcsetattr(saved_tty[i].fd, TCSADRAIN, &saved_tty[i].t);
}

/* Opens fd as a libuv stream by its kind; *is_file set for files (no stream). */
static int open_stream(struct lsp_loop *L, union stream *st, int fd, int readable, int *is_file)
{
    int rc;
    *is_file = 0;
    switch (uv_guess_handle(fd)) {
    case UV_TTY:
        tty_make_exact(fd, readable ? 0 : 1);
        rc = uv_tty_init(&L->loop, &st->tty, fd, readable);
        L->tty_used = 1;
        break;
    case UV_NAMED_PIPE:
        rc = uv_pipe_init(&L->loop, &st->pipe, 0);
        if (!rc && (rc = uv_pipe_open(&st->pipe, fd)) < 0)
            uv_close(&st->h, NULL);
        break;
    case UV_TCP:
        rc = uv_tcp_init(&L->loop, &st->tcp);
        if (!rc && (rc = uv_tcp_open(&st->tcp, fd)) < 0)
            uv_close(&st->h, NULL);
        break;
    case UV_FILE:
        *is_file = 1;
        return 0;
    default:
        return UV_EBADF;
    }
    if (!rc)
        st->h.data = L;
    return rc;
}

/* ---- command ------------------------------------------------------------------------------ */

static void usage(FILE *fp)
{
    fprintf(fp, "usage: seekd lsp [--log-level debug|info|warn|error|off] [--log-file FILE]\n\n"
                "Runs the language server on stdin/stdout (LSP over JSON-RPC with Content-Length\n"
                "framing).  Logs go to stderr unless --log-file is given (created 0600).\n"
                "--stdio and --clientProcessId are accepted for editors that pass them.\n");
}

static int run(struct lsp_loop *L)
{
    int rc;
    if ((rc = open_stream(L, &L->in, 0, 1, &L->in_file)) < 0) {
        SK_ERROR("lsp: stdin is not usable: %s", uv_strerror(rc));
        return 1;
    }
    L->in_open = 1;
    if ((rc = open_stream(L, &L->out, L->out_fd, 0, &L->out_file)) < 0) {
        SK_ERROR("lsp: stdout is not usable: %s", uv_strerror(rc));
        return 1;
    }
    L->out_open = 1;
    uv_idle_init(&L->loop, &L->idle);
    L->idle.data = L;
    uv_timer_init(&L->loop, &L->flush_timer);
    L->flush_timer.data = L;
    uv_signal_init(&L->loop, &L->sig_term);
    uv_signal_init(&L->loop, &L->sig_int);
    L->sig_term.data = L->sig_int.data = L;
    uv_signal_start(&L->sig_term, on_signal, SIGTERM);
    uv_signal_start(&L->sig_int, on_signal, SIGINT);

    if (L->in_file) {
        file_read_next(L);
    } else if ((rc = uv_read_start(&L->in.s, on_alloc, on_read)) < 0) {
        SK_ERROR("lsp: cannot read stdin: %s", uv_strerror(rc));
        dmn_session_eof(L->s);
        begin_close(L);
    } else {
        L->in_reading = 1;
    }
    uv_run(&L->loop, UV_RUN_DEFAULT);
    int code = 1;
    dmn_session_exited(L->s, &code);
    return code;
}

int cmd_lsp(int argc, char **argv)
{
    const char *log_file = NULL;
    int level = SK_LOG_INFO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--log-level") && i + 1 < argc) {
            if ((level = sk_log_level_parse(argv[++i])) < 0) {
                fprintf(stderr, "seekd lsp: unknown log level '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--log-file") && i + 1 < argc) {
            log_file = argv[++i];
        } else if (!strcmp(a, "--stdio") || !strncmp(a, "--clientProcessId=", 18)) {
            /* what vscode-languageclient passes: stdio is all we speak */
        } else if (!strcmp(a, "--clientProcessId") && i + 1 < argc) {
            i++;
        } else {
            fprintf(stderr, "seekd lsp: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    sk_log_set_level((enum sk_log_level)level);
    if (log_file) {
        int rc = sk_log_set_file(log_file);
        if (rc) {
            fprintf(stderr, "seekd lsp: cannot open log file %s: %s\n", log_file, strerror(-rc));
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);

    /* The protocol stream gets its own fd; fd 1 becomes stderr (see the file comment). */
    int out_fd = dup(1);
    if (out_fd < 0 || dup2(2, 1) < 0) {
        fprintf(stderr, "seekd lsp: stdout is not usable: %s\n", strerror(errno));
        return 1;
    }

    struct lsp_loop *L = sk_calloc(1, sizeof *L);
    L->out_fd = out_fd;
    L->in_buf = sk_malloc(READ_CHUNK);
    int code = 1;
    if (uv_loop_init(&L->loop) < 0) {
        SK_ERROR("lsp: cannot create the event loop");
        goto out;
    }
    dmn_session_opts o = {.send = send_cb, .send_ud = L};
    if (dmn_pipe_new(&L->loop, &o, &L->pipe) < 0 || dmn_session_new(&o, &L->s) < 0) {
        SK_ERROR("lsp: out of memory");
        dmn_pipe_delete(L->pipe);
        uv_run(&L->loop, UV_RUN_DEFAULT);
        uv_loop_close(&L->loop);
        goto out;
    }
    dmn_pipe_set_session(L->pipe, L->s);
    SK_INFO("lsp: seekd %s serving on stdio (pid %d)", SK_VERSION, (int)getpid());
    code = run(L);
    /* Handles may still be open when setup failed half-way: close and drain. */
    if (!L->closing) {
        L->closing = 1;
        uv_walk(&L->loop, close_walk, NULL);
    }
    uv_run(&L->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&L->loop) != 0)
        SK_WARN("lsp: event loop closed with handles still open");
    if (L->tty_used) {
        uv_tty_reset_mode();
        tty_restore();
    }
    dmn_pipe_delete(L->pipe);
    dmn_session_delete(L->s);
    SK_INFO("lsp: exit code %d", code);
out:
    close(out_fd);
    sk_free(L->in_buf);
    sk_free(L);
    return code;
}
