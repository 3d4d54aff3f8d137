# SPDX-License-Identifier: MIT
"""strictjson - the strict JSON reader of conformance/fakes/fake-guest (Python 3 standard library).

RFC 8259 read in one pass, token by token, the first error winning, as the contract library reads
a request with jansson: the json module accepts NaN, Infinity and lone surrogates, and sees a
duplicate member only once its object is closed (so a later syntax error would win over it).

    load(text, ints_as_reals) -> the value; objects are Object (their (key, value) pairs in
                                 document order), integers int, other numbers Real
    LoadError                 -> kind "syntax", "duplicate" (member: the name) or "overflow"
    printable(text, limit)    -> untrusted text as safe one-line text, for messages

fake-guest loads this file by its path, beside its own (see there); it is no installed package.
"""

import re


def printable(text, limit=60):
    """A member name or value from untrusted input, as safe one-line text."""
    out = []
    for ch in text:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif o < 0x20 or o == 0x7F or 0x80 <= o < 0xA0 or ch in "\u2028\u2029":
            out.append("\\x%02x" % o if o < 0x100 else "\\u%04x" % o)
        else:
            out.append(ch)
        if len(out) > limit:
            out.append("...")
            break
    return "".join(out)



class LoadError(Exception):
    """A failure of the JSON reader: kind is syntax, duplicate or overflow."""

    def __init__(self, kind, text, member=""):
        Exception.__init__(self, text)
        self.kind = kind
        self.text = text
        self.member = member


class Real(float):
    """A JSON number written with a fraction or an exponent (or read as real on purpose)."""


_EOF = ("eof",)
_WS = " \t\n\r"
_DIGITS = "0123456789"
_HEX = "0123456789abcdefABCDEF"
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
LLONG_MIN = -(2**63)
LLONG_MAX = 2**63 - 1
MAX_DEPTH = 2048
_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class Parser:
    """Strict RFC 8259 reader: one pass, token by token, first error wins.

    Objects become lists of (key, value) pairs in document order; integers are int, numbers with
    a fraction or exponent are Real; ints_as_reals reads every number as Real.
    """

    def __init__(self, text, ints_as_reals):
        self.s = text
        self.n = len(text)
        self.i = 0
        self.ints_as_reals = ints_as_reals
        self.depth = 0
        self.token = None

    def fail(self, text):
        raise LoadError("syntax", "%s at character %d" % (text, self.i))

    def scan(self):
        s, n = self.s, self.n
        i = self.i
        while i < n and s[i] in _WS:
            i += 1
        self.i = i
        if i >= n:
            self.token = _EOF
            return
        c = s[i]
        if c in "{}[]:,":
            self.i = i + 1
            self.token = (c,)
        elif c == '"':
            self.token = ("string", self.scan_string())
        elif c == "-" or c in _DIGITS:
            self.token = self.scan_number()
        elif c in _LETTERS:
            j = i
            while j < n and s[j] in _LETTERS:
                j += 1
            word = s[i:j]
            self.i = j
            if word == "true":
                self.token = ("value", True)
            elif word == "false":
                self.token = ("value", False)
            elif word == "null":
                self.token = ("value", None)
            else:
                self.token = ("invalid",)
        else:
            self.token = ("invalid",)

    def scan_string(self):
        s, n = self.s, self.n
        i = self.i + 1
        # First pass: the raw text, as far as the closing quote.
        start = i
        while True:
            i = _PLAIN.match(s, i).end()
            if i >= n:
                self.i = i
                self.fail("premature end of input in a string")
            c = s[i]
            if c == '"':
                break
            if ord(c) < 0x20:
                self.i = i
                self.fail("control character 0x%02x in a string" % ord(c))
            if c == "\\":
                i += 1
                if i >= n:
                    self.i = i
                    self.fail("premature end of input in a string")
                e = s[i]
                if e == "u":
                    for k in range(1, 5):
                        if i + k >= n or s[i + k] not in _HEX:
                            self.i = i + k
                            self.fail("invalid escape")
                    i += 5
                elif e in _ESCAPES:
                    i += 1
                else:
                    self.i = i
                    self.fail("invalid escape")
            else:
                i += 1
        raw = s[start:i]
        self.i = i + 1
        if "\\" not in raw:
            return raw
        # Second pass: decode escapes; surrogates must pair up.
        out = []
        k = 0
        m = len(raw)
        while k < m:
            c = raw[k]
            if c != "\\":
                out.append(c)
                k += 1
                continue
            e = raw[k + 1]
            if e != "u":
                out.append(_ESCAPES[e])
                k += 2
                continue
            value = int(raw[k + 2:k + 6], 16)
            k += 6
            if 0xD800 <= value <= 0xDBFF:
                if raw[k:k + 2] == "\\u":
                    value2 = int(raw[k + 2:k + 6], 16)
                    k += 6
                    if not 0xDC00 <= value2 <= 0xDFFF:
                        self.fail("invalid Unicode '\\u%04X\\u%04X'" % (value, value2))
                    value = ((value - 0xD800) << 10) + (value2 - 0xDC00) + 0x10000
                else:
                    self.fail("invalid Unicode '\\u%04X' (a lone surrogate)" % value)
            elif 0xDC00 <= value <= 0xDFFF:
                self.fail("invalid Unicode '\\u%04X' (a lone surrogate)" % value)
            out.append(chr(value))
        return "".join(out)

    def skip_digits(self, i):
        """One or more digits from i: the index after them, or -1 (self.i at the non-digit)."""
        s, n = self.s, self.n
        if not (i < n and s[i] in _DIGITS):
            self.i = i
            return -1
        while i < n and s[i] in _DIGITS:
            i += 1
        return i

    def scan_number(self):
        s, n = self.s, self.n
        start = i = self.i
        if s[i] == "-":
            i += 1
        if i < n and s[i] == "0":
            i += 1
            if i < n and s[i] in _DIGITS:
                self.i = i
                return ("invalid",)
        elif i < n and s[i] in _DIGITS:
            while i < n and s[i] in _DIGITS:
                i += 1
        else:
            self.i = i
            return ("invalid",)
        is_integer = True
        if i < n and s[i] == ".":
            i = self.skip_digits(i + 1)
            if i < 0:
                return ("invalid",)
            is_integer = False
        if i < n and s[i] in "eE":
            i += 1
            if i < n and s[i] in "+-":
                i += 1
            i = self.skip_digits(i)
            if i < 0:
                return ("invalid",)
            is_integer = False
        text = s[start:i]
        self.i = i
        if is_integer and not self.ints_as_reals:
            # More than 19 digits never fits 64 bits (and int() refuses very long strings).
            value = int(text) if len(text.lstrip("-")) <= 19 else None
            if value is None or value < LLONG_MIN or value > LLONG_MAX:
                raise LoadError("overflow", "integer %s is too big (more than 64 bits)" %
                                 printable(text, 40))
            return ("value", value)
        value = float(text)
        if value in (float("inf"), float("-inf")):
            raise LoadError("overflow", "number %s overflows a double" % printable(text, 40))
        return ("value", Real(value))

    def parse_value(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail("nesting deeper than %d levels" % MAX_DEPTH)
        kind = self.token[0]
        if kind == "string" or kind == "value":
            value = self.token[1]
        elif kind == "{":
            value = self.parse_object()
        elif kind == "[":
            value = self.parse_array()
        elif kind == "invalid":
            self.fail("invalid token")
        else:
            self.fail("unexpected token")
        self.depth -= 1
        return value

    def parse_object(self):
        pairs = []
        seen = set()
        self.scan()
        if self.token[0] == "}":
            return Object()
        while True:
            if self.token[0] != "string":
                self.fail("string or '}' expected")
            key = self.token[1]
            if "\x00" in key:
                self.fail("NUL character in a member name")
            if key in seen:
                raise LoadError("duplicate", "member \"%s\" twice" % printable(key), key)
            seen.add(key)
            self.scan()
            if self.token[0] != ":":
                self.fail("':' expected")
            self.scan()
            value = self.parse_value()
            pairs.append((key, value))
            self.scan()
            if self.token[0] != ",":
                break
            self.scan()
        if self.token[0] != "}":
            self.fail("',' or '}' expected")
        return Object(pairs)

    def parse_array(self):
        items = []
        self.scan()
        if self.token[0] == "]":
            return items
        while self.token is not _EOF:
            items.append(self.parse_value())
            self.scan()
            if self.token[0] != ",":
                break
            self.scan()
        if self.token[0] != "]":
            self.fail("',' or ']' expected")
        return items

    def parse_document(self):
        self.scan()
        value = self.parse_value()
        self.scan()
        if self.token is not _EOF:
            self.fail("end of input expected after the top-level value")
        return value


class Object(list):
    """A JSON object: its (key, value) pairs in document order, no duplicates."""

    def get(self, name):
        for key, value in self:
            if key == name:
                return value
        return None

    def has(self, name):
        return any(key == name for key, _ in self)


def load(text, ints_as_reals):
    return Parser(text, ints_as_reals).parse_document()
