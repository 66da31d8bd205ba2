"""Inline TeX in catalog prose: ``$\\sigma_i$`` in a summary, a description, a note, an erratum.

A span is ``$...$`` on one line, not starting or ending with a space, the closing ``$`` not
followed by a digit (so "$5 and $10" is text); ``\\$`` is a literal dollar. Only the commands of
``COMMANDS`` are allowed (symbols, operators, fonts, fractions, accents): nothing that links,
loads, styles or defines (``\\href``, ``\\url``, ``\\includegraphics``, ``\\htmlClass``, ``\\def``,
``\\color`` ...). The docs site renders an allowed span with KaTeX (``trust: false`` besides)
and shows any other span as the text it is; ``problems`` names what is not allowed, and
``to_text`` writes a span in Unicode for terminals and tooltips (``$\\sigma_i^2$`` -> σ_i²).
"""

from __future__ import annotations

import re
from typing import Iterator

SPAN = re.compile(r"(?<![\\$])\$(?=[^\s$])((?:\\.|[^$\\\n])*?)(?<=[^\s\\])\$(?!\d)")

_GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ϵ", "varepsilon": "ε", "zeta": "ζ", "eta": "η",
    "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π",
    "rho": "ρ", "sigma": "σ", "tau": "τ", "upsilon": "υ", "phi": "ϕ", "varphi": "φ", "chi": "χ", "psi": "ψ",
    "omega": "ω", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ",
    "Upsilon": "Υ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
}
_SYMBOLS = {
    "sum": "Σ", "prod": "Π", "int": "∫", "neq": "≠", "ne": "≠", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥",
    "ll": "≪", "gg": "≫", "approx": "≈", "sim": "∼", "simeq": "≃", "propto": "∝", "equiv": "≡", "in": "∈",
    "notin": "∉", "subset": "⊂", "subseteq": "⊆", "cup": "∪", "cap": "∩", "setminus": "∖", "to": "→",
    "rightarrow": "→", "leftarrow": "←", "Rightarrow": "⇒", "Leftrightarrow": "⇔", "mapsto": "↦", "infty": "∞",
    "cdot": "·", "times": "×", "pm": "±", "mp": "∓", "partial": "∂", "nabla": "∇", "mid": "|", "|": "‖",
    "lVert": "‖\x01", "rVert": "\x02‖", "Vert": "‖", "lvert": "|\x01", "rvert": "\x02|", "vert": "|",
    "langle": "⟨\x01", "rangle": "\x02⟩",
    "lfloor": "⌊", "rfloor": "⌋", "lceil": "⌈", "rceil": "⌉", "ldots": "…", "dots": "…", "cdots": "⋯",
    "emptyset": "∅", "varnothing": "∅", "forall": "∀", "exists": "∃", "top": "⊤", "star": "⋆", "circ": "∘",
    "ell": "ℓ", "log": "log", "exp": "exp", "ln": "ln", "max": "max", "min": "min", "arg": "arg", "lim": "lim",
    "sup": "sup", "inf": "inf", "det": "det", "tr": "tr", "cos": "cos", "sin": "sin", "tanh": "tanh", "Pr": "Pr", "quad": "  ", "qquad": "   ", ",": " ", ";": " ", ":": " ",
    "!": "", " ": " ", "{": "{", "}": "}", "_": "_", "%": "%", "#": "#", "&": "&", "$": "$", "\\": " ",
    "left": "", "right": "", "big": "", "Big": "", "bigg": "", "Bigg": "", "bigl": "", "bigr": "", "Bigl": "",
    "Bigr": "", "biggl": "", "biggr": "", "displaystyle": "", "textstyle": "", "limits": "", "nolimits": "",
}
#: commands with one argument, written as their argument (fonts, text) or with an accent after it
_FONTS = {"mathrm", "mathit", "mathbf", "mathsf", "mathtt", "boldsymbol", "text", "textrm", "textit", "textbf",
          "operatorname", "mathcal", "mathbb", "mathscr", "mathfrak"}
_ACCENTS = {"hat": "\u0302", "widehat": "\u0302", "bar": "\u0304", "overline": "\u0305", "tilde": "\u0303",
            "widetilde": "\u0303", "vec": "\u20d7", "dot": "\u0307", "ddot": "\u0308"}
_TWO_ARGUMENTS = {"frac", "tfrac", "dfrac", "binom"}
_ROOTS = {"sqrt"}
COMMANDS = frozenset(_GREEK) | frozenset(_SYMBOLS) | _FONTS | frozenset(_ACCENTS) | _TWO_ARGUMENTS | _ROOTS

_CALLIGRAPHIC = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "𝒜ℬ𝒞𝒟ℰℱ𝒢ℋℐ𝒥𝒦ℒℳ𝒩𝒪𝒫𝒬ℛ𝒮𝒯𝒰𝒱𝒲𝒳𝒴𝒵"))
_DOUBLE_STRUCK = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ1", "𝔸𝔹ℂ𝔻𝔼𝔽𝔾ℍ𝕀𝕁𝕂𝕃𝕄ℕ𝕆ℙℚℝ𝕊𝕋𝕌𝕍𝕎𝕏𝕐ℤ𝟙"))
_SUPERSCRIPT = dict(zip("0123456789+-=()ni", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱ"))
_COMMAND = re.compile(r"\\([A-Za-z]+|.)")


def spans(text: str) -> Iterator[tuple[bool, str]]:
    """(is_tex, piece) in order: the TeX of each span (without its $), the text between them."""
    position = 0
    for found in SPAN.finditer(text):
        if found.start() > position:
            yield False, text[position:found.start()]
        yield True, found.group(1)
        position = found.end()
    if position < len(text):
        yield False, text[position:]


def span_problems(tex: str) -> list[str]:
    """Why a span may not be rendered as TeX: commands outside COMMANDS, unbalanced braces."""
    problems = []
    unknown = sorted({name for name in _COMMAND.findall(tex) if name not in COMMANDS})
    if unknown:
        problems.append("TeX command(s) not allowed in catalog prose: " + ", ".join("\\" + name for name in unknown))
    depth = 0
    for k, char in enumerate(tex):
        if char in "{}" and (k == 0 or tex[k - 1] != "\\"):
            depth += 1 if char == "{" else -1
            if depth < 0:
                break
    if depth:
        problems.append("unbalanced braces")
    return problems


def allowed(tex: str) -> bool:
    return not span_problems(tex)


def problems(text: str) -> list[str]:
    """Every span of ``text`` that will be shown as text, not typeset, and why."""
    return [f"${tex}$: {'; '.join(span_problems(tex))}" for is_tex, tex in spans(str(text)) if is_tex and not allowed(tex)]


def to_text(text: str) -> str:
    """``text`` with every allowed span written in Unicode (``$\\nu_x \\to \\infty$`` -> ν_x → ∞);
    other spans, and everything outside spans, as they are (``\\$`` as $)."""
    out = []
    for is_tex, piece in spans(str(text)):
        if is_tex and allowed(piece):
            out.append(_plain(piece))
        elif is_tex:
            out.append(f"${piece}$")
        else:
            out.append(piece.replace("\\$", "$"))
    return "".join(out)


def _group(tex: str, start: int) -> tuple[str, int]:
    """The argument at ``start``: a {braced group} or one token; (its TeX, the index after it)."""
    while start < len(tex) and tex[start] == " ":
        start += 1
    if start >= len(tex):
        return "", start
    if tex[start] == "{":
        depth = 0
        for k in range(start, len(tex)):
            if tex[k] == "{" and (k == start or tex[k - 1] != "\\"):
                depth += 1
            elif tex[k] == "}" and tex[k - 1] != "\\":
                depth -= 1
                if depth == 0:
                    return tex[start + 1:k], k + 1
        return tex[start + 1:], len(tex)
    if tex[start] == "\\":
        found = _COMMAND.match(tex, start)
        return found.group(0), found.end()
    return tex[start], start + 1


def _wrapped(text: str) -> str:
    """A fraction's part in parentheses unless it is one number or one symbol (2n is wrapped)."""
    return text if re.fullmatch(r"\d+(\.\d+)?|[^\W\d]+(_\w+)?[²³]?|\([^()]*\)", text) else f"({text})"


def _plain(tex: str) -> str:
    """Unicode for an allowed span (readable, not typeset: fractions as a/b, scripts as _ and ²)."""
    out, k = [], 0
    while k < len(tex):
        char = tex[k]
        if char == "\\":
            found = _COMMAND.match(tex, k)
            name, k = found.group(1), found.end()
            if name in _GREEK:
                out.append(_GREEK[name])
            elif name in _SYMBOLS:
                word = _SYMBOLS[name]
                out.append(word + " " if word.isalpha() and k < len(tex) and tex[k] not in " _^({" else word)
            elif name in _FONTS:
                argument, k = _group(tex, k)
                inner = _plain(argument)
                table = _CALLIGRAPHIC if name in ("mathcal", "mathscr") else _DOUBLE_STRUCK if name == "mathbb" else {}
                out.append("".join(table.get(c, c) for c in inner))
            elif name in _ACCENTS:
                argument, k = _group(tex, k)
                out.append(_plain(argument) + _ACCENTS[name])
            elif name in _TWO_ARGUMENTS:
                top, k = _group(tex, k)
                bottom, k = _group(tex, k)
                out.append(f"{_wrapped(_plain(top))}/{_wrapped(_plain(bottom))}")
            elif name in _ROOTS:
                argument, k = _group(tex, k)
                out.append(f"√{_wrapped(_plain(argument))}")
        elif char in "^_":
            argument, k = _group(tex, k + 1)
            inner = _plain(argument)
            if char == "^" and inner and all(c in _SUPERSCRIPT for c in inner):
                out.append("".join(_SUPERSCRIPT[c] for c in inner))
            else:
                out.append(char + (inner if len(inner) == 1 or re.fullmatch(r"\w+", inner) else f"({inner})"))
        elif char in "{}":
            k += 1
        elif char == "~":
            out.append(" ")
            k += 1
        else:
            out.append(char)
            k += 1
    text = re.sub(r"\x01 *| *\x02", "", "".join(out))  # no space inside an opening or closing delimiter
    return re.sub(r" {2,}", " ", text).strip()


#: the prose fields of a claim (the rest are formulas, kinds and parameter names)
CLAIM_PROSE = ("note", "statement", "reason", "constant_name", "equals_name", "extra_name")


def prose_locations(entry) -> list[tuple[tuple, str]]:
    """(field path, text) of every prose field of the entry that is set; the path as the YAML
    line map and ``format_loc`` take it: ``("claims", 0, "note")``."""
    fields = [(("summary",), entry.summary), (("loss", "description"), entry.loss.description), (("notes",), entry.notes)]
    fields += [(("parameters", name, "description"), spec.description) for name, spec in entry.parameters.items()]
    for k, claim in enumerate(entry.claims):
        for name in CLAIM_PROSE:
            value = getattr(claim, name, None)
            if isinstance(value, str):
                fields.append((("claims", k, name), value))
    fields += [(("relations", k, "note"), relation.note) for k, relation in enumerate(entry.relations)]
    fields += [(("peers", k, "convention"), peer.convention) for k, peer in enumerate(entry.peers)]
    for k, erratum in enumerate(entry.errata):
        fields += [(("errata", k, name), getattr(erratum, name)) for name in ("where", "printed", "corrected")]
    return [(loc, text) for loc, text in fields if text]


def prose_fields(entry) -> list[tuple[str, str]]:
    """``prose_locations`` with each path written as in messages: ``claims[0].note``."""
    from icon_registry.validation_messages import format_loc  # pydantic: only when needed

    return [(format_loc(loc), text) for loc, text in prose_locations(entry)]
