#!/usr/bin/env python3
"""Puts a benchmark's generated text into docs/benchmarks.md between its markers,
`<!-- bench:NAME -->` and `<!-- /bench:NAME -->`, dated; the rest of the page is kept.

Usage: update_docs.py DOCS.md NAME GENERATED.md
"""
import datetime
import sys

docs, name, generated = sys.argv[1:4]
text = open(docs).read()
body = open(generated).read().strip()
start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
stamp = datetime.date.today().isoformat()
block = f"{start}\nMeasured {stamp} by `make bench`.\n\n{body}\n{end}"
if start in text and end in text:
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    text = before + block + after
else:
    text = text.rstrip("\n") + f"\n\n{block}\n"
open(docs, "w").write(text)
