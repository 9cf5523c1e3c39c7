"""A strict parser for RFC 9110 §11.6.1/§11.6.2 challenge and credentials lists.

Scheme-neutral: `headers` picks the PrivateToken challenges and credentials out of what it
returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from phoenix.crypto.privacypass.errors import DecodeError

# RFC 9110 §5.6.2 tchar, and the token68 alphabet of §11.2.
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_TOKEN68_CHAR = frozenset("-._~+/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_OWS = " \t"
# qdtext (RFC 9110 §5.6.4): HTAB, SP, VCHAR but '"' and '\\', obs-text. A quoted-string with
# no quoted-pair is one run of these and its closing quote — matched in one step, since the
# character loop below costs about a microsecond a character and a token is 430 of them.
_QDTEXT_RUN = re.compile(r"[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]*")


def _is_quotable(char: str) -> bool:
    """HTAB, SP, VCHAR or obs-text: what qdtext and quoted-pair admit (RFC 9110 §5.6.4).

    '"' and '\\' are handled by the caller before this check applies to qdtext.
    """
    return char in _OWS or 0x21 <= ord(char) <= 0x7E or 0x80 <= ord(char) <= 0xFF


@dataclass(frozen=True, slots=True)
class AuthChallenge:
    scheme: str
    params: dict[str, str]  # names lower-cased: they match case-insensitively (RFC 9110 §11.2)
    token68: str | None = None


class _AuthFieldParser:
    """A strict parser for RFC 9110 §11.6.1/§11.6.2 challenge and credentials lists.

    challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param = token BWS "=" BWS ( token / quoted-string )
    """

    __slots__ = ("_pos", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0

    def _at_end(self) -> bool:
        return self._pos >= len(self._text)

    def _peek(self) -> str:
        return "" if self._at_end() else self._text[self._pos]

    def _skip_ows(self) -> None:
        while self._peek() and self._peek() in _OWS:
            self._pos += 1

    def _skip_separators(self) -> None:
        # The #rule allows empty list elements (RFC 9110 §5.6.1.2).
        while self._peek() and (self._peek() in _OWS or self._peek() == ","):
            self._pos += 1

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            raise DecodeError(f"expected {char!r} at offset {self._pos}")
        self._pos += 1

    def _token(self, what: str) -> str:
        start = self._pos
        while self._peek() and self._peek() in _TCHAR:
            self._pos += 1
        if self._pos == start:
            raise DecodeError(f"expected {what} at offset {start}")
        return self._text[start : self._pos]

    def _quoted_string(self) -> str:
        self._expect('"')
        run = _QDTEXT_RUN.match(self._text, self._pos)
        end = run.end() if run else self._pos
        if end < len(self._text) and self._text[end] == '"':
            value = self._text[self._pos : end]
            self._pos = end + 1
            return value
        chars: list[str] = []
        while True:
            char = self._peek()
            if not char:
                raise DecodeError("unterminated quoted-string")
            self._pos += 1
            if char == '"':
                return "".join(chars)
            if char == "\\":
                char = self._peek()
                if not char or not _is_quotable(char):
                    raise DecodeError("bad quoted-pair")
                self._pos += 1
            elif not _is_quotable(char):
                raise DecodeError("control character in quoted-string")
            chars.append(char)

    def _try_token68(self) -> str | None:
        """A token68 stands alone: it runs to the end of the field or to the next comma."""
        start = end = self._pos
        while end < len(self._text) and self._text[end] in _TOKEN68_CHAR:
            end += 1
        if end == start:
            return None
        while end < len(self._text) and self._text[end] == "=":
            end += 1
        after = end
        while after < len(self._text) and self._text[after] in _OWS:
            after += 1
        if after < len(self._text) and self._text[after] != ",":
            return None
        self._pos = after
        return self._text[start:end]

    def _next_is_auth_param(self) -> bool:
        """After a comma: `name =` continues this challenge, anything else starts the next."""
        saved = self._pos
        try:
            if not self._peek() or self._peek() not in _TCHAR:
                return False
            self._token("auth-param name")
            self._skip_ows()
            return self._peek() == "="
        finally:
            self._pos = saved

    def parse(self) -> list[AuthChallenge]:
        challenges: list[AuthChallenge] = []
        while True:
            self._skip_separators()
            if self._at_end():
                return challenges
            scheme = self._token("auth-scheme")
            if self._at_end() or self._peek() == ",":
                challenges.append(AuthChallenge(scheme, {}))
                continue
            if self._peek() != " ":
                raise DecodeError(f"expected a space after the auth-scheme {scheme!r}")
            self._skip_ows()
            if self._at_end() or self._peek() == ",":
                challenges.append(AuthChallenge(scheme, {}))
                continue
            token68 = self._try_token68()
            if token68 is not None:
                challenges.append(AuthChallenge(scheme, {}, token68))
                continue
            challenges.append(AuthChallenge(scheme, self._auth_params()))

    def _auth_params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        while True:
            name = self._token("auth-param name").lower()
            self._skip_ows()
            self._expect("=")
            self._skip_ows()
            value = self._quoted_string() if self._peek() == '"' else self._token("value")
            if name in params:
                # RFC 9110 §11.2: each parameter name MUST only occur once per challenge.
                raise DecodeError(f"parameter {name!r} appears twice")
            params[name] = value
            self._skip_ows()
            if self._at_end():
                return params
            self._expect(",")
            self._skip_separators()
            if self._at_end() or not self._next_is_auth_param():
                return params


def parse_auth_field(value: str) -> list[AuthChallenge]:
    """The challenges (or credentials) of one field value; DecodeError on any invalid syntax."""
    if not isinstance(value, str):
        raise DecodeError("a header field value is a str")
    return _AuthFieldParser(value).parse()
