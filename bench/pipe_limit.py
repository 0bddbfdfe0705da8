#!/usr/bin/env python3
"""Writes, as raw Redis protocol, the command stream a list-layout fan-out amounts to:
LPUSH homefeed:{f} PHOTO + LTRIM homefeed:{f} 0 CAP-1 for every follower f.
Usage: pipe_limit.py FIRST_ID COUNT PHOTO CAP > stream.resp
"""
import sys


def command(*args):
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        arg = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


def main():
    first, count, photo, cap = (int(a) for a in sys.argv[1:5])
    out = sys.stdout.buffer
    last = str(cap - 1)
    for follower in range(first, first + count):
        key = b"homefeed:%d" % follower
        out.write(command(b"LPUSH", key, str(photo)))
        out.write(command(b"LTRIM", key, b"0", last))


if __name__ == "__main__":
    main()
