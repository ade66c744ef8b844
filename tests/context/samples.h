/* Small source files in every supported language, written for the context/ tests. */
#ifndef SEEKD_TESTS_CONTEXT_SAMPLES_H
#define SEEKD_TESTS_CONTEXT_SAMPLES_H

#include "context/context.h"

struct ctx_sample {
    enum ctx_lang lang;
    const char *text;
    const char *tokens[12]; /* snippets random edits insert, NULL-terminated */
};

static const struct ctx_sample ctx_samples[] = {
    {CTX_LANG_C,
     "#include <stdio.h>\n"
     "/* comment \xc3\xa9t\xc3\xa9 */\n"
     "struct point { int x, y; };\n"
     "static int add(int a, int b)\n{\n    return a + b;\n}\n\n"
     "int main(int argc, char **argv)\n{\n"
     "    struct point p = {1, 2};\n"
     "    for (int i = 0; i < argc; i++) {\n"
     "        if (argv[i][0] == '-')\n            continue;\n"
     "        printf(\"%s %d\\n\", argv[i], add(p.x, i));\n    }\n"
     "    return 0;\n}\n",
     {"{", "}", "(", ")", ";", "int x = 1;", "\n", "\r\n", "/*", "\"", "if (a) b();", NULL}},
    {CTX_LANG_CPP,
     "#include <vector>\n"
     "namespace ns {\n"
     "template <typename T> class Box {\n"
     "  public:\n    explicit Box(T v) : v_(v) {}\n    T get() const { return v_; }\n"
     "  private:\n    T v_;\n};\n}\n"
     "int main() {\n  std::vector<int> xs{1, 2, 3};\n  auto f = [&](int a) { return a * 2; };\n"
     "  for (auto x : xs) ns::Box<int>(f(x)).get();\n}\n",
     {"<", ">", "::", "{", "}", "template <class U>", "\n", "auto", ";", "[]() {}", NULL}},
    {CTX_LANG_PYTHON,
     "import os\n\n"
     "class Walker:\n"
     "    \"\"\"Walks a tree \xe2\x9c\x93.\"\"\"\n\n"
     "    def __init__(self, root):\n        self.root = root\n\n"
     "    def files(self):\n        for d, _, fs in os.walk(self.root):\n"
     "            for f in fs:\n                if f.endswith('.py'):\n"
     "                    yield os.path.join(d, f)\n\n"
     "def main():\n    w = Walker('.')\n    print(sorted(w.files()))\n\n"
     "if __name__ == '__main__':\n    main()\n",
     {"\n", "    ", "\t", ":", "def f(x):\n    return x\n", "(", ")", "'", "\"\"\"", "lambda: 0", NULL}},
    {CTX_LANG_JAVASCRIPT,
     "const fs = require('fs');\n"
     "class Cache {\n  constructor() { this.m = new Map(); }\n"
     "  get(k) { return this.m.get(k) ?? null; }\n}\n"
     "async function load(p) {\n  const s = await fs.promises.readFile(p, 'utf8');\n"
     "  return s.split(/\\r?\\n/).map((l, i) => `${i}: ${l}`);\n}\n"
     "const el = <div className=\"x\">{load('a')}</div>;\nmodule.exports = { Cache, load };\n",
     {"{", "}", "`", "${", "=>", "/", "<div>", "</div>", "\n", "function g() {}", NULL}},
    {CTX_LANG_TYPESCRIPT,
     "interface Shape { area(): number; }\n"
     "type Pair<T> = [T, T];\n"
     "export class Circle implements Shape {\n  constructor(private r: number) {}\n"
     "  area(): number { return Math.PI * this.r ** 2; }\n}\n"
     "function sum<T extends Shape>(xs: T[]): number {\n  return xs.reduce((a, s) => a + s.area(), 0);\n}\n"
     "const p: Pair<string> = ['a', 'b'];\n",
     {"<", ">", ":", "number", "{", "}", "<T>", "as any", "\n", "enum E { A }", NULL}},
    {CTX_LANG_TSX,
     "import React from 'react';\n"
     "type Props = { name: string; n?: number };\n"
     "export function Hello({ name, n = 1 }: Props) {\n"
     "  const items = Array.from({ length: n }, (_, i) => <li key={i}>{name}</li>);\n"
     "  return (\n    <ul className=\"hello\">\n      {items}\n    </ul>\n  );\n}\n",
     {"<", ">", "</li>", "{", "}", "<T,>", "\n", "=>", "(", ")", NULL}},
    {CTX_LANG_GO,
     "package main\n\nimport (\n\t\"fmt\"\n\t\"strings\"\n)\n\n"
     "type Point struct {\n\tX, Y int\n}\n\n"
     "func (p Point) String() string {\n\treturn fmt.Sprintf(\"(%d, %d)\", p.X, p.Y)\n}\n\n"
     "func main() {\n\tps := []Point{{1, 2}, {3, 4}}\n\tfor _, p := range ps {\n"
     "\t\tfmt.Println(strings.ToUpper(p.String()))\n\t}\n}\n",
     {"{", "}", "\n", "\t", "func f() {}", ":=", "go ", "chan int", "`", "(", NULL}},
    {CTX_LANG_RUST,
     "use std::collections::HashMap;\n\n"
     "#[derive(Debug)]\nstruct Counter<'a> {\n    words: HashMap<&'a str, usize>,\n}\n\n"
     "impl<'a> Counter<'a> {\n    fn add(&mut self, w: &'a str) {\n"
     "        *self.words.entry(w).or_insert(0) += 1;\n    }\n}\n\n"
     "fn main() {\n    let mut c = Counter { words: HashMap::new() };\n"
     "    for w in \"a b a\".split(' ') {\n        c.add(w);\n    }\n    println!(\"{:?}\", c);\n}\n",
     {"{", "}", "'", "<", ">", "fn g() {}", "\n", "r#\"", "&mut ", "=>", NULL}},
    {CTX_LANG_JAVA,
     "package demo;\n\nimport java.util.*;\n\n"
     "public class Main {\n    private final List<String> names = new ArrayList<>();\n\n"
     "    @Override\n    public String toString() {\n        return String.join(\",\", names);\n    }\n\n"
     "    public static void main(String[] args) {\n        Main m = new Main();\n"
     "        for (String a : args) {\n            m.names.add(a);\n        }\n"
     "        System.out.println(m);\n    }\n}\n",
     {"{", "}", "<", ">", ";", "@Test", "\n", "int x;", "\"", "void f() {}", NULL}},
    {CTX_LANG_BASH,
     "#!/bin/bash\nset -eu\n\n"
     "greet() {\n  local name=${1:-world}\n  echo \"hello $name\"\n}\n\n"
     "for f in *.txt; do\n  if [ -s \"$f\" ]; then\n    greet \"$f\" | tr a-z A-Z\n  fi\ndone\n"
     "cat <<EOF\nheredoc $HOME\nEOF\n",
     {"$(", ")", "\"", "'", "\n", "fi", "then", "<<EOF\nx\nEOF\n", "${", "}", NULL}},
    {CTX_LANG_JSON,
     "{\n  \"name\": \"seekd\",\n  \"version\": [0, 1, 0],\n  \"nested\": {\"a\": true, \"b\": null,\n"
     "    \"s\": \"\\u00e9\\n\"},\n  \"n\": -1.5e3\n}\n",
     {"{", "}", "[", "]", ",", ":", "\"", "\"k\": 1", "\n", "null", NULL}},
};

#endif
