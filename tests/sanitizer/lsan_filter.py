#!/usr/bin/env python3
"""lsan_filter.py - accept a LeakSanitizer report only if every leak in it
was allocated by a library's own code under one of its entry points.

    lsan_filter.py --entry git_remote_connect_ext \
                   --module libgit2.so --module libssh2.so LOG...

Exit 0 if each LOG holds no sanitizer report, or only LeakSanitizer reports
in which every leak's allocation stack, from the frame above the allocator
up to the first frame of an --entry function, runs only in the --module
libraries.  A leak with any other frame there - previewd's own code, such
as a credential callback that libgit2 calls while connecting - is printed
and makes the exit 1, as does any other sanitizer report.

Why not an LSan suppression: a suppression matches a pattern against every
frame of the stack, so `leak:git_remote_connect_ext` (or a libgit2 module
pattern) also hides what previewd's callbacks leak below that call, and
Debian's libgit2 is stripped: its internal frames have no names to match.
"""
import argparse
import re
import sys

FRAME = re.compile(r"^\s*#(\d+) 0x[0-9a-f]+ (?:in (\S+) )?(.*)$")
LEAK = re.compile(r"^(Direct|Indirect) leak of \d+ byte")
ALLOCATOR = re.compile(r"^(__interceptor_|__asan_|__lsan_|operator new|malloc$|calloc$|realloc$)")
OTHER = re.compile(r"ERROR: AddressSanitizer|runtime error:|WARNING: ThreadSanitizer")


def leaks(lines):
    """Yield (header, [(function, location)]) for each leak block."""
    header, frames = None, []
    for line in lines:
        if LEAK.match(line.strip()):
            if header:
                yield header, frames
            header, frames = line.strip(), []
        elif header:
            m = FRAME.match(line)
            if m:
                frames.append((m.group(2) or "", m.group(3)))
            elif frames:
                yield header, frames
                header, frames = None, []
    if header:
        yield header, frames


def allowed(frames, entries, modules):
    """The frames below the first entry function are all the modules'."""
    for function, location in frames:
        if function in entries:
            return True
        if ALLOCATOR.match(function):
            continue
        if not any(m in location for m in modules):
            return False
    return False  # never reached an entry point: not under the library's call


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--entry", action="append", required=True)
    ap.add_argument("--module", action="append", required=True)
    ap.add_argument("logs", nargs="+")
    a = ap.parse_args()
    bad = 0
    for path in a.logs:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
        for line in lines:
            if OTHER.search(line):
                print("%s: not a leak report: %s" % (path, line.strip()))
                bad += 1
        for header, frames in leaks(lines):
            if not allowed(frames, set(a.entry), a.module):
                bad += 1
                print("%s: %s" % (path, header))
                for function, location in frames:
                    print("    %s %s" % (function, location))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
