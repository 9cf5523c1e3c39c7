"""Reading length-prefixed binary encodings (the TLS presentation language, DER) strictly."""

from __future__ import annotations

from phoenix.crypto.privacypass.errors import DecodeError


class Reader:
    """Reads a byte string front to back; every short read is a DecodeError."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise DecodeError("expected bytes")
        self._data = bytes(data)
        self._pos = 0

    def take(self, length: int, what: str) -> bytes:
        end = self._pos + length
        if end > len(self._data):
            raise DecodeError(f"truncated: {what} needs {length} bytes")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def uint(self, size: int, what: str) -> int:
        return int.from_bytes(self.take(size, what), "big")

    def vector(self, length_size: int, what: str) -> bytes:
        return self.take(self.uint(length_size, f"length of {what}"), what)

    def finish(self, what: str) -> None:
        if self._pos != len(self._data):
            raise DecodeError(f"{len(self._data) - self._pos} bytes after the end of the {what}")
