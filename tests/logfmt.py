"""The logfmt reader the test suites share: arbord's events, parsed.

A value is bare, or double-quoted with the escapes arbord writes:
\\" \\\\ \\n \\r \\t and \\xNN (man/arbord.8, EVENTS). A key without '='
gets the value True.
"""

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _quoted(line, i):
    """Reads a quoted value whose opening quote is at line[i - 1]."""
    out, n = [], len(line)
    while i < n and line[i] != '"':
        if line[i] == "\\" and i + 1 < n:
            c = line[i + 1]
            if c == "x" and i + 3 < n:
                out.append(chr(int(line[i + 2:i + 4], 16)))
                i += 4
                continue
            out.append(_ESCAPES.get(c, c))
            i += 2
        else:
            out.append(line[i])
            i += 1
    return "".join(out), i + 1


def parse_logfmt(line):
    """Parses one logfmt line into a dict."""
    fields = {}
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            break
        start = i
        while i < n and line[i] not in "= \t":
            i += 1
        key = line[start:i]
        if i >= n or line[i] != "=":
            fields[key] = True
            continue
        i += 1
        if i < n and line[i] == '"':
            fields[key], i = _quoted(line, i + 1)
        else:
            start = i
            while i < n and line[i] not in " \t":
                i += 1
            fields[key] = line[start:i]
    return fields
