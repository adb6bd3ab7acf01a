"""Split a reply into what the customer wrote now and the history and signature below it. Pure.

The ticket view shows the new part; the full original stays in the stored message (raw bytes and HTML).
The rules are line patterns of common mail programs (Gmail, Outlook, Apple Mail, Yahoo, Thunderbird and
their translations); each regex is anchored and bounded so no input makes them slow.
"""

from __future__ import annotations

import re

MAX_LINES = 5000
_WROTE = (r"(wrote|writes|a écrit|schrieb|escribió|ha scritto|schreef|escreveu|napisał|skrev|kirjoitti|"
          r"пишет|написал|написала|نوشت|كتب|yazdı)")
_HEADER_LINES = [
    re.compile(r"^\s*(On|Le|Am|El|Il|Op|Em|W dniu|Den|On\s+\w+,)\s.{0,300}" + _WROTE + r"\s*:?\s*$", re.I),
    re.compile(r"^.{0,200}<[^<>\s]{1,200}@[^<>\s]{1,200}>.{0,100}" + _WROTE + r"\s*:\s*$", re.I),
    re.compile(r"^.{0,300}\b" + _WROTE + r"\s*:\s*$", re.I),
    re.compile(r"^\s*-{2,}\s*(Original Message|Original|Ursprüngliche Nachricht|Message d'origine|"
               r"Mensaje original|Messaggio originale|Oorspronkelijk bericht|Исходное сообщение|"
               r"Reply message)\s*-{2,}\s*$", re.I),
    re.compile(r"^\s*_{20,}\s*$"),
]
_HEADER_KEY = re.compile(r"^\s*\*?(From|Von|De|Van|Da|Från|От|از|Sent|Date|To|Cc|Subject|Gesendet|Datum|An|"
                         r"Envoyé|À|Enviado|Para|Inviato|A|Verzonden|Aan|Отправлено|Дата|Кому|Тема|Betreff|"
                         r"Objet|Asunto|Oggetto|Onderwerp)\s*:\*?(\s|$)", re.I)
_FROM_KEY = re.compile(r"^\s*\*?(From|Von|De|Van|Da|Från|От|از)\s*:", re.I)
_DATED_ADDRESS = re.compile(r"^.{0,200}\d.{0,200}<[^<>\s]{1,200}@[^<>\s]{1,200}>\s*:\s*$")
_RULE = re.compile(r"^\s*[-_=*]{10,}\s*$")
_DIGIT = re.compile(r"\d")
_MOBILE_SIGNATURE = re.compile(r"^\s*(Sent from my \w[\w ]{0,40}|Sent from (Mail|Outlook|Yahoo Mail)\b.{0,40}|"
                               r"Get Outlook for \w+.{0,20}|Sent with \w+.{0,60}|Envoyé de mon \w+.{0,30}|"
                               r"Von meinem \w+.{0,40}gesendet)\s*$", re.I)


def _is_header(lines: list[str], i: int) -> bool:
    line = lines[i]
    if len(line) > 400:
        return False
    if any(p.match(line) for p in _HEADER_LINES) or _DATED_ADDRESS.match(line):
        return True
    quoted = line.lstrip().startswith(">")
    if quoted and any(p.match(line.lstrip("> \t")) for p in _HEADER_LINES[:3]):
        return True  # "> On ... wrote:": the history of a quoted message
    if (i + 1 < len(lines) and len(lines[i + 1]) < 300 and lines[i + 1].rstrip().endswith(":")
            and (_DIGIT.search(line) or line.lstrip().lower().startswith(("on ", "le ", "am ", "el ")))):
        joined = f"{line.rstrip()} {lines[i + 1].strip()}"  # "On ... <address> wrote:" wrapped over two lines
        if any(p.match(joined) for p in _HEADER_LINES[:3]) or _DATED_ADDRESS.match(joined):
            return True
    if _HEADER_KEY.match(line):  # a block of Outlook-style headers: From:/Sent:/To:/Subject: ...
        block = [line, *[n for n in lines[i + 1:i + 8] if n.strip()][:4]]
        keys = [n for n in block if _HEADER_KEY.match(n)]
        return len(keys) >= 3 and any(_FROM_KEY.match(n) for n in keys)
    return False


def _quote_start(lines: list[str]) -> int | None:
    """Index of the first line of the quoted history, if there is one."""
    trailing: int | None = None
    for i in range(len(lines) - 1, -1, -1):  # the block of quoted (and blank) lines at the end
        stripped = lines[i].strip()
        if stripped.startswith(">"):
            trailing = i
        elif stripped:
            break
    for i, _ in enumerate(lines):
        if trailing is not None and i >= trailing:
            return trailing
        if _is_header(lines, i):
            return i
    return trailing


def _interleaved(lines: list[str], start: int) -> bool:
    """Answers written between the quoted lines: then the whole text is the customer's and nothing is cut."""
    seen_quote = False
    for line in lines[start:]:
        stripped = line.strip()
        if stripped.startswith(">"):
            seen_quote = True
        elif stripped and seen_quote:
            return not (stripped in ("--", "-- ") or stripped.startswith("_____"))
        elif stripped:
            return False  # unquoted history (Outlook style) right after the header
    return False


def _signature_start(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        if line in ("-- ", "--") and i > 0:
            return i
    tail = [i for i, line in enumerate(lines) if line.strip()][-3:]
    for i in tail:
        if _MOBILE_SIGNATURE.match(lines[i]):
            return i
    return None


def split_reply(text: str) -> tuple[str, bool]:
    """(the new part of ``text``, whether anything was cut). Nothing is cut when that would leave nothing."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    head, rest = lines[:MAX_LINES], lines[MAX_LINES:]
    cut = _quote_start(head)
    kept = head if cut is None else head[:cut]
    if cut is not None and "\n".join(kept).strip() and _interleaved(head, cut + 1):
        kept, cut = head, None  # answers between the quoted lines: all of it is the customer's
    if cut is not None and not "\n".join(kept).strip():  # quote first, answer below it (bottom-posting)
        below = head[cut + 1:]
        while below and (below[0].lstrip().startswith(">") or not below[0].strip()):
            below = below[1:]
        following = _quote_start(below) if below else None
        kept = below if following is None else below[:following]
    signature = _signature_start(kept)
    if signature is not None:
        kept = kept[:signature]
    while cut is not None and kept and (not kept[-1].strip() or _RULE.match(kept[-1])):
        kept = kept[:-1]  # the separator line above the cut history
    new = "\n".join(kept).strip()
    if not new:
        return text.strip(), False
    stripped = cut is not None or signature is not None
    return (new if stripped or not rest else "\n".join(lines).strip()), stripped
