"""The request path as Kestrel hands it to the host's routing, made from the raw request-target.

Kestrel (PathNormalizer.DecodePath, UrlDecoder) decodes every percent-escape that forms a valid
UTF-8 character, except `%2F`: an encoded slash stays the three characters `%2F`, so it never splits
a segment, and a route parameter that spans it receives `%2F` undecoded (dotnet/aspnetcore#30655).
Escapes that are not valid UTF-8 (`%FF`, overlong forms, surrogates) are kept as they were. `%00`
rejects the request (400). Dot segments are removed after decoding, so `%2E%2E` climbs like `..`.

aiohttp's `request.path` decodes `%2F` to `/` as well, which would route `a%2Fb` as two segments.
"""

from __future__ import annotations

_PERCENT = "%"
_SLASH = 0x2F
# UTF-8 lead byte -> (sequence length, payload bits of the lead byte, smallest code point allowed).
_LEADS = ((0xE0, 0xC0, 2, 0x1F, 0x80), (0xF0, 0xE0, 3, 0x0F, 0x800), (0xF8, 0xF0, 4, 0x07, 0x10000))


class InvalidRequestTargetError(ValueError):
    """Kestrel rejects such a request-target with 400 before routing."""


def decoded_path(raw_target: str) -> str:
    """Request.Path for a raw request-target such as `/api/a%2Fb?x=1`."""
    path = raw_target.split("?", 1)[0]
    if not path.isascii():
        raise InvalidRequestTargetError("the request-target is not ASCII")
    if _PERCENT in path:
        path = _unescape(path)
    return _remove_dot_segments(path)


def _unescape(path: str) -> str:
    decoded = bytearray()
    index = 0
    while index < len(path):
        if path[index] != _PERCENT:
            decoded.append(ord(path[index]))
            index += 1
            continue
        end, character = _decode_character(path, index)
        decoded += character if character is not None else path[index:end].encode("ascii")
        index = end
    # Only ASCII and complete, valid UTF-8 sequences were written, so strict decoding cannot fail.
    return decoded.decode("utf-8")


def _decode_character(path: str, start: int) -> tuple[int, bytes | None]:
    """One UTF-8 character spelled as escapes at `start`: (where scanning stopped, its bytes or None).

    None means "copy path[start:end] as it is", which is what Kestrel does when the escapes there do
    not form a character; scanning resumes at `end`, exactly where Kestrel's resumes.
    """
    first = _escaped_byte(path, start)
    if first is None:
        return start + 1, None
    if first == 0:
        raise InvalidRequestTargetError("the path contains a null character")
    if first < 0x80:
        return start + 3, bytes([first])
    return _decode_multibyte(path, start, first)


def _decode_multibyte(path: str, start: int, first: int) -> tuple[int, bytes | None]:
    lead = next((entry for entry in _LEADS if first & entry[0] == entry[1]), None)
    if lead is None:
        return start + 3, None
    _, _, length, mask, smallest = lead
    code_point = first & mask
    sequence = [first]
    end = start + 3
    for position in range(1, length):
        following = _escaped_byte(path, end)
        if following is None or following & 0xC0 != 0x80:
            return end, None
        code_point = code_point << 6 | following & 0x3F
        if _cannot_be_valid(code_point, remaining=length - position - 1):
            return end, None
        sequence.append(following)
        end += 3
    if code_point < smallest:
        return end, None  # overlong form
    return end, bytes(sequence)


def _cannot_be_valid(partial_code_point: int, remaining: int) -> bool:
    """Kestrel's early checks: a UTF-16 surrogate (which UTF-8 forbids), or beyond U+10FFFF."""
    if remaining == 1:
        return 0x360 <= partial_code_point <= 0x37F
    return remaining == 2 and partial_code_point >= 0x110


def _escaped_byte(path: str, start: int) -> int | None:
    """The byte `%XX` at `start` spells, or None (not an escape, or the `%2F` Kestrel never decodes)."""
    digits = path[start + 1 : start + 3]
    if path[start : start + 1] != _PERCENT or len(digits) != 2 or not _is_hex(digits):
        return None
    value = int(digits, 16)
    return None if value == _SLASH else value


def _is_hex(text: str) -> bool:
    return all(char in "0123456789abcdefABCDEF" for char in text)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 on an absolute path, as Kestrel's PathNormalizer.RemoveDotSegments."""
    if "." not in path or not path.startswith("/"):
        return path
    segments = path.split("/")[1:]
    kept: list[str] = []
    for index, segment in enumerate(segments):
        if segment in (".", ".."):
            if segment == ".." and kept:
                kept.pop()
            if index == len(segments) - 1:
                kept.append("")  # "/a/b/.." is "/a/": the path still ends in a slash
            continue
        kept.append(segment)
    return "/" + "/".join(kept)
