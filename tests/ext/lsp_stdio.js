#!/usr/bin/env node
// `seekd lsp` as a process: stdin/stdout as pipes, files and a tty; exit codes (exit after
// shutdown 0, otherwise 1; end of input; SIGTERM/SIGINT), command-line handling, the log file
// (created 0600, nothing on stdout but protocol frames), a 1 MiB document through partial
// reads, and a body over the 64 MiB limit skipped without losing the next message.
// Env: SEEKD_BIN.  Raw framing on purpose (no client library): we check the exact bytes.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, spawnSync } = require('child_process');

const bin = process.env.SEEKD_BIN || path.resolve(__dirname, '..', '..', 'build', 'seekd');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'seekd-lsp-stdio-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
let failed = 0;
function check(cond, msg) {
    if (!cond) {
        console.error('FAIL: ' + msg);
        failed++;
    }
}

const frame = (o) => {
    const b = Buffer.from(typeof o === 'string' ? o : JSON.stringify(o), 'utf8');
    return Buffer.concat([Buffer.from(`Content-Length: ${b.length}\r\n\r\n`), b]);
};
const req = (id, method, params) => frame({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });
const note = (method, params) => frame({ jsonrpc: '2.0', method, ...(params ? { params } : {}) });
const INIT = Buffer.concat([req(1, 'initialize', { capabilities: {} }), note('initialized', {})]);
const BYE = Buffer.concat([req(99, 'shutdown'), note('exit')]);

// Splits a byte stream into frames (every byte must belong to one) and returns the responses;
// notifications the server sends on its own (status, messages) are left out.
function parseFrames(buf, what) {
    return allFrames(buf, what).filter((m) => 'id' in m);
}
function allFrames(buf, what) {
    const out = [];
    let i = 0;
    while (i < buf.length) {
        const m = /^Content-Length: (\d+)\r\n\r\n/.exec(buf.subarray(i, i + 64).toString('latin1'));
        if (!m) {
            check(false, `${what}: stdout holds bytes that are not a frame at ${i}: ${JSON.stringify(buf.subarray(i, i + 80).toString())}`);
            return out;
        }
        const start = i + m[0].length, len = Number(m[1]);
        out.push(JSON.parse(buf.subarray(start, start + len).toString('utf8')));
        i = start + len;
    }
    return out;
}

// Runs the server with input written to a pipe; resolves {code, signal, out, err}.
function runPipe(args, input, opts = {}) {
    return new Promise((resolve) => {
        const p = spawn(bin, ['lsp', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
        const out = [], err = [];
        p.stdout.on('data', (d) => out.push(d));
        p.stderr.on('data', (d) => err.push(d));
        p.on('close', (code, signal) => resolve({ code, signal, out: Buffer.concat(out), err: Buffer.concat(err).toString() }));
        p.stdin.on('error', () => {});
        if (opts.onSpawn) opts.onSpawn(p);
        if (input) p.stdin.write(input);
        if (opts.end !== false) p.stdin.end();
    });
}

const byId = (msgs, id) => msgs.find((m) => m.id === id);

(async () => {
    // 1. pipes: a whole session
    {
        const doc = { uri: 'file:///t/a.py', languageId: 'python', version: 1, text: 'def f():\n    return "é😀"\n' };
        const r = await runPipe(['--log-level', 'debug'], Buffer.concat([INIT,
            note('textDocument/didOpen', { textDocument: doc }),
            req(2, 'seekd/syntaxTree', { textDocument: { uri: doc.uri } }), BYE]));
        check(r.code === 0, `pipe session: exit code ${r.code} (${r.signal}), want 0\n${r.err}`);
        const msgs = parseFrames(r.out, 'pipe session');
        check(msgs.length === 3, `pipe session: ${msgs.length} messages, want 3`);
        check(byId(msgs, 1) && byId(msgs, 1).result.capabilities, 'pipe session: initialize result');
        const st = byId(msgs, 2);
        check(st && st.result.text === doc.text && /function_definition/.test(st.result.sexp), 'pipe session: syntaxTree');
        check(byId(msgs, 99) && byId(msgs, 99).result === null, 'pipe session: shutdown result');
        check(/lsp: initialized/.test(r.err) && /exit code 0/.test(r.err), 'pipe session: log on stderr');
    }
    // 2. exit codes
    for (const [name, input, want] of [
        ['exit without shutdown', Buffer.concat([INIT, note('exit')]), 1],
        ['exit before initialize', note('exit'), 1],
        ['end of input without shutdown', INIT, 1],
        ['end of input after shutdown', Buffer.concat([INIT, req(5, 'shutdown')]), 0],
        ['empty input', Buffer.alloc(0), 1],
        ['garbage only', Buffer.from('hello\r\n\r\n\x00\xff'), 1],
    ]) {
        const r = await runPipe([], input);
        check(r.code === want, `${name}: exit code ${r.code} (${r.signal}), want ${want}\n${r.err}`);
        parseFrames(r.out, name);
    }
    // 3. command line
    {
        let r = spawnSync(bin, ['lsp', '--help'], { encoding: 'utf8' });
        check(r.status === 0 && /usage: seekd lsp/.test(r.stdout), `--help: ${r.status}`);
        r = spawnSync(bin, ['lsp', '--bogus'], { encoding: 'utf8', input: '' });
        check(r.status === 2 && /unknown option/.test(r.stderr), `bad option: ${r.status}`);
        r = spawnSync(bin, ['lsp', '--log-level', 'loud'], { encoding: 'utf8', input: '' });
        check(r.status === 2 && /unknown log level/.test(r.stderr), `bad log level: ${r.status}`);
        r = spawnSync(bin, ['lsp', '--log-file', path.join(tmp, 'no/such/dir/log')], { encoding: 'utf8', input: '' });
        check(r.status === 2, `unwritable log file: ${r.status}`);
        const r2 = await runPipe(['--stdio', '--clientProcessId=4242', '--clientProcessId', '1'], Buffer.concat([INIT, BYE]));
        check(r2.code === 0, `--stdio --clientProcessId accepted: ${r2.code}\n${r2.err}`);
    }
    // 4. log file: 0600, logs there and not on stderr
    {
        const log = path.join(tmp, 'seekd.log');
        const r = await runPipe(['--log-level', 'info', '--log-file', log], Buffer.concat([INIT, BYE]));
        check(r.code === 0, `log file session: ${r.code}`);
        const st = fs.statSync(log);
        check((st.mode & 0o777) === 0o600, `log file mode ${(st.mode & 0o777).toString(8)}, want 600`);
        check(/lsp: initialized/.test(fs.readFileSync(log, 'utf8')), 'log file content');
        check(r.err === '', `stderr not empty with --log-file: ${r.err}`);
        parseFrames(r.out, 'log file session');
    }
    // 5. files as stdin and stdout
    {
        const inPath = path.join(tmp, 'in.bin'), outPath = path.join(tmp, 'out.bin');
        fs.writeFileSync(inPath, Buffer.concat([INIT, req(3, 'seekd/parse', { languageId: 'c', text: 'int x;' }), BYE]));
        const fin = fs.openSync(inPath, 'r'), fout = fs.openSync(outPath, 'w');
        const r = spawnSync(bin, ['lsp'], { stdio: [fin, fout, 'pipe'], encoding: 'utf8', timeout: 20000 });
        fs.closeSync(fin);
        fs.closeSync(fout);
        check(r.status === 0, `file stdio: exit ${r.status}\n${r.stderr}`);
        const msgs = parseFrames(fs.readFileSync(outPath), 'file stdio');
        check(msgs.length === 3 && /translation_unit/.test(byId(msgs, 3).result.sexp), 'file stdio: responses');
        // /dev/null as stdin: end of input at once
        const r2 = spawnSync(bin, ['lsp'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20000 });
        check(r2.status === 1 && r2.stdout.length === 0, `/dev/null stdin: ${r2.status}`);
    }
    // 6. signals: SIGTERM / SIGINT while waiting for input
    for (const [sig, shutdownFirst, want] of [['SIGTERM', false, 1], ['SIGINT', false, 1], ['SIGTERM', true, 0]]) {
        const r = await runPipe([], Buffer.concat([INIT, ...(shutdownFirst ? [req(7, 'shutdown')] : [])]), {
            end: false,
            onSpawn: (p) => {
                // Once the answers are in (the server is idle, waiting for input), signal it.
                let got = Buffer.alloc(0), sent = false;
                const want = shutdownFirst ? 2 : 1;
                p.stdout.on('data', (d) => {
                    got = Buffer.concat([got, d]);
                    if (!sent && (got.toString().match(/Content-Length/g) || []).length >= want) {
                        sent = true;
                        p.kill(sig);
                    }
                });
            },
        });
        check(r.code === want && r.signal === null, `${sig}${shutdownFirst ? ' after shutdown' : ''}: exit ${r.code} signal ${r.signal}, want ${want}`);
        check(new RegExp(`${sig}: shutting down`).test(r.err), `${sig}: logged\n${r.err}`);
        parseFrames(r.out, sig);
    }
    // 7. a 1 MiB document through many partial reads, then an oversized body and a message after
    {
        const line = 'int f(int a) { return a + 1; } // é😀\n';
        const text = line.repeat(Math.ceil((1 << 20) / Buffer.byteLength(line)));
        const big = Buffer.alloc((64 << 20) + 10, 0x20);
        const r = await runPipe(['--log-level', 'error'], Buffer.concat([INIT,
            note('textDocument/didOpen', { textDocument: { uri: 'file:///big.c', languageId: 'c', version: 1, text } }),
            req(4, 'seekd/syntaxTree', { textDocument: { uri: 'file:///big.c' } }),
            Buffer.from(`Content-Length: ${big.length}\r\n\r\n`), big,
            req(5, 'seekd/parse', { languageId: 'c', text: 'int y;' }), BYE]));
        check(r.code === 0, `big: exit ${r.code}\n${r.err.slice(0, 2000)}`);
        const msgs = parseFrames(r.out, 'big');
        const st = byId(msgs, 4);
        check(st && st.result.text === text, 'big: text came back whole');
        check(byId(msgs, 5) && /translation_unit/.test(byId(msgs, 5).result.sexp), 'big: message after the oversized body');
        check(/larger than the limit/.test(r.err), `big: oversize logged\n${r.err.slice(0, 500)}`);
    }
    // 8. a tty (a pseudo-terminal from script(1)): the server switches it to byte-exact mode, so
    // frames pass unchanged both ways (no echo, no CR/NL mapping).
    if (fs.existsSync('/usr/bin/script')) {
        const r = await new Promise((resolve) => {
            const p = spawn('/usr/bin/script', ['-qfec', `${bin} lsp --log-level off`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
            const out = [];
            p.stdout.on('data', (d) => out.push(d));
            p.on('close', (code) => resolve({ code, out: Buffer.concat(out).toString() }));
            const msgs = [req(1, 'initialize', { capabilities: {} }), req(2, 'seekd/parse', { languageId: 'json', text: '[1]' }), req(3, 'shutdown'), note('exit')];
            let k = 0;
            const next = () => {
                if (k < msgs.length) {
                    p.stdin.write(msgs[k++]);
                    setTimeout(next, 300);
                }
            };
            setTimeout(next, 500); // after the server set the terminal up
            setTimeout(() => p.kill('SIGKILL'), 15000);
        });
        check(r.code === 0, `tty: exit ${r.code}\n${r.out}`);
        const msgs = parseFrames(Buffer.from(r.out), 'tty');
        check(msgs.length === 3 && byId(msgs, 2) && byId(msgs, 2).result.sexp === '(document (array (number)))',
            `tty: responses\n${r.out}`);
    } else {
        console.log('no script(1): tty case skipped');
    }
    if (failed) process.exit(1);
    console.log('lsp stdio: all cases passed');
})().catch((e) => {
    console.error(e);
    process.exit(1);
});
