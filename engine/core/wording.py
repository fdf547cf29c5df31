"""Plain French for the English messages our libraries give (the XML parser, the BPMN schema
validator, Python's parser for expressions), and sizes in Ko/Mo.

The English text stays available as it is for English readers; ``french`` is applied by
``engine.core.messages.render`` to the ``detail`` of the codes listed in ``FOREIGN``. A
message we do not know gets a general French sentence rather than English.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BPMN_NS = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
_PREFIXES = {
    BPMN_NS: "bpmn:",
    "{http://www.omg.org/spec/BPMN/20100524/DI}": "bpmndi:",
    "{http://spiffworkflow.org/bpmn/schema/1.0/core}": "spiffworkflow:",
    "{http://camunda.org/schema/1.0/bpmn}": "camunda:",
}
_TYPES = {
    "boolean": "booléen (true ou false)", "IDREF": "référence à un identifiant",
    "QName": "nom qualifié", "anyURI": "adresse", "integer": "nombre entier",
    "int": "nombre entier", "double": "nombre", "decimal": "nombre", "NCName": "nom simple",
}
_ID_RULE = ("il commence par une lettre ou _, sans espace ni deux-points, et n'est utilisé "
            "qu'une fois dans le fichier")

_XSD: list[tuple[str, str]] = [
    (r"Element '(?P<el>[^']+)', attribute '(?P<at>[^']+)': '(?P<v>.*)' is not a valid value of "
     r"the atomic type 'xs:ID'\.",
     "élément {el}, attribut {at} : « {v} » n'est pas un identifiant valable (" + _ID_RULE + ")"),
    (r"Element '(?P<el>[^']+)', attribute '(?P<at>[^']+)': '(?P<v>.*)' is not a valid value of "
     r"the atomic type 'xs:(?P<type>\w+)'\.",
     "élément {el}, attribut {at} : « {v} » n'est pas une valeur valable ({type})"),
    (r"Element '(?P<el>[^']+)': '(?P<v>.*)' is not a valid value of the .*",
     "élément {el} : « {v} » n'est pas une valeur valable"),
    (r"Element '(?P<el>[^']+)': The attribute '(?P<at>[^']+)' is required but missing\.",
     "élément {el} : l'attribut obligatoire {at} manque"),
    (r"Element '(?P<el>[^']+)', attribute '(?P<at>[^']+)': The attribute '[^']+' is not "
     r"allowed\.",
     "élément {el} : l'attribut {at} n'est pas permis"),
    (r"Element '(?P<el>[^']+)': This element is not expected\. Expected is (?:one of )?"
     r"\( (?P<list>.*) \)\.",
     "élément {el} inattendu à cet endroit (attendu : {list})"),
    (r"Element '(?P<el>[^']+)': This element is not expected\.",
     "élément {el} inattendu à cet endroit"),
    (r"Element '(?P<el>[^']+)': Missing child element\(s\)\. Expected is (?:one of )?"
     r"\( (?P<list>.*) \)\.",
     "élément {el} : il manque un élément enfant (attendu : {list})"),
    (r"Element '(?P<el>[^']+)': Character content other than whitespace is not allowed.*",
     "élément {el} : du texte n'est pas permis ici, seulement des éléments"),
    (r"Element '(?P<el>[^']+)'(?:, attribute '(?P<at>[^']+)')?: \[facet 'enumeration'\] The "
     r"value '(?P<v>.*)' is not an element of the set \{(?P<list>.*)\}\.",
     "élément {el} : la valeur « {v} » n'est pas permise (valeurs possibles : {list})"),
    (r"Element '(?P<el>[^']+)': No match found for key-sequence \['(?P<v>.*)'\] of keyref.*",
     "élément {el} : « {v} » désigne un élément qui n'existe pas"),
    (r"Element '(?P<el>[^']+)': Duplicate key-sequence \['(?P<v>.*)'\].*",
     "élément {el} : l'identifiant « {v} » est utilisé deux fois"),
    (r"Element '(?P<el>[^']+)'.*", "élément {el} non conforme"),
]
_XML: list[tuple[str, str]] = [
    (r"Excessive depth in document: (?P<n>\d+).*",
     "éléments imbriqués trop profondément (plus de {n} niveaux)"),
    (r"Opening and ending tag mismatch: (?P<a>\S+) line \d+ and (?P<b>\S+)",
     "la balise {a} est fermée par {b}"),
    (r"Couldn't find end of Start Tag (?P<a>\S+).*", "la balise {a} n'est pas terminée"),
    (r"Premature end of data in tag (?P<a>\S+).*", "le fichier s'arrête avant la fin de {a}"),
    (r"Entity '(?P<a>[^']+)' not defined", "entité « {a} » inconnue (écrivez &amp;amp; pour &)"),
    (r"AttValue: \" or ' expected", "valeur d'attribut sans guillemets"),
    (r"(?:PCDATA invalid Char value|Char 0x)(?P<a>[0-9A-Fa-f]+).*",
     "caractère interdit en XML (code {a})"),
    (r"Extra content at the end of the document", "du contenu suit la fin du document"),
    (r"Attribute (?P<a>\S+) redefined", "l'attribut {a} figure deux fois"),
    (r"Namespace prefix (?P<p>\S+) on (?P<a>\S+) is not defined",
     "le préfixe {p} (sur {a}) n'est pas déclaré"),
    (r"Start tag expected, '<' not found", "ce n'est pas du XML (« < » attendu)"),
    (r"Comment not terminated", "commentaire non refermé"),
    (r"(?:Invalid bytes in character encoding|Input is not proper UTF-8).*",
     "octets invalides pour l'encodage du fichier"),
    (r"Document is empty", "document vide"),
    (r"StartTag: invalid element name", "nom d'élément invalide"),
    (r"(?:xmlParseEntityRef: no name|EntityRef: expecting ';')",
     "« & » seul est interdit (écrivez &amp;amp;)"),
    (r"Unescaped '<' not allowed in attributes values",
     "« < » est interdit dans une valeur d'attribut"),
    (r"Specification mandates value for attribute (?P<a>\S+)", "l'attribut {a} n'a pas de valeur"),
    (r"(?:error parsing attribute name|attributes construct error)", "attribut mal écrit"),
    (r"(?:Unsupported encoding|Document labelled).*", "encodage non pris en charge"),
]
_PYTHON: list[tuple[str, str]] = [
    (r"invalid syntax\. Maybe you meant '==' .*", "pour comparer, écrivez == et non ="),
    (r"invalid syntax\. Perhaps you forgot a comma\?", "il manque peut-être une virgule"),
    (r"invalid syntax.*", "écriture non reconnue"),
    (r"unterminated (?:triple-quoted )?string literal.*", "guillemet non refermé"),
    (r"'(?P<a>.)' was never closed", "« {a} » n'est jamais refermée"),
    (r"unmatched '(?P<a>.)'", "« {a} » fermée sans avoir été ouverte"),
    (r"closing parenthesis '(?P<a>.)' does not match opening parenthesis '(?P<b>.)'.*",
     "« {b} » est refermée par « {a} »"),
    (r"invalid (?:decimal|hexadecimal|octal|binary|digit).*", "nombre mal écrit"),
    (r"invalid character '(?P<a>.)' .*", "caractère interdit « {a} »"),
    (r"invalid non-printable character.*", "caractère invisible interdit"),
    (r"(?:unexpected EOF|expected an indented block|unexpected indent|unindent).*",
     "expression incomplète ou mal présentée"),
    (r"cannot assign to .*|expected ':'", "écriture non reconnue (une affectation ?)"),
    (r"source code (?:string )?cannot contain null bytes", "caractère nul interdit"),
    (r".*", "écriture non reconnue"),
]
_TABLES = {"xml.xsd": _XSD, "xml.syntax": _XML, "expr.syntax": _PYTHON}
FOREIGN = frozenset(_TABLES)
_POSITION = re.compile(r",? line (?P<line>\d+), column (?P<col>\d+)\s*$")


def french(code: str, detail: str) -> str:
    """The French wording of a library message carried as the ``detail`` of ``code``."""
    text = str(detail).strip()
    position = _POSITION.search(text)
    if position:
        text = text[: position.start()]
    for prefix, short in _PREFIXES.items():
        text = text.replace(prefix, short)
    for pattern, template in _TABLES.get(code, []):
        found = re.fullmatch(pattern, text, flags=re.DOTALL)
        if found:
            values = {k: _shorten(k, v or "") for k, v in found.groupdict().items()}
            out = template.format(**values)
            break
    else:
        out = "construction non reconnue"
    if position:
        out += f" (ligne {position['line']}, colonne {position['col']})"
    return out


def _shorten(key: str, value: str) -> str:
    if key == "type":
        return _TYPES.get(value, value)
    if key == "list":
        items = [i.strip().strip("'") for i in value.split(",") if i.strip()]
        return ", ".join(items[:6]) + (", …" if len(items) > 6 else "")
    return value if len(value) <= 80 else value[:79] + "…"


@dataclass(frozen=True)
class Size:
    """A number of bytes, said in Ko/Mo (French) or KB/MB (English) when a message shows it."""

    size: int

    def in_language(self, lang: str) -> str:
        """``850 Ko`` or ``2,5 Mo`` in French; ``850 KB`` or ``2.5 MB`` in English."""
        kilo, mega = ("KB", "MB") if lang == "en" else ("Ko", "Mo")
        if self.size < 1024 * 1024:
            return f"{max(1, -(-self.size // 1024))} {kilo}"
        text = f"{self.size / (1024 * 1024):.1f}".rstrip("0").rstrip(".")
        return f"{text if lang == 'en' else text.replace('.', ',')} {mega}"

    def __str__(self) -> str:
        return self.in_language("fr")
