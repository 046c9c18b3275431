"""PromQL templates: substitution, label-matcher escaping, unknown and missing values."""

from __future__ import annotations

import pytest

from modelguard.core.promql import (
    PLACEHOLDERS,
    TemplateError,
    escape_label_value,
    placeholders_in,
    render,
    validate_template,
)
from tests.unit.promql_lex import LexError, literals, shape, split

VALUES = {"version": "v2", "stableVersion": "v1", "namespace": "ml", "name": "fraud"}


# --------------------------------------------------------------------------- the lexer


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param('m{a="x"}', ["x"], id="plain"),
        pytest.param(r'm{a="x\"y"}', ['x"y'], id="escaped-quote"),
        pytest.param(r'm{a="x\\"}', ["x\\"], id="escaped-backslash-closes"),
        pytest.param(r'm{a="\n\x41\u00e9\101"}', ["\nAéA"], id="go-escapes"),
        pytest.param('m{a="x",b="y"}', ["x", "y"], id="two"),
    ],
)
def test_lexer_reads_go_string_literals(query: str, expected: list[str]) -> None:
    """The test's own lexer must be right, or the escaping tests prove nothing."""
    assert literals(query) == expected


@pytest.mark.parametrize(
    "query",
    [
        pytest.param('m{a="x}', id="unterminated"),
        pytest.param('m{a="x\ny"}', id="raw-newline"),
        pytest.param(r'm{a="\q"}', id="unknown-escape"),
    ],
)
def test_lexer_rejects_what_prometheus_rejects(query: str) -> None:
    with pytest.raises(LexError):
        split(query)


# --------------------------------------------------------------------------- render


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param('m{version="{{version}}"}', 'm{version="v2"}', id="version"),
        pytest.param('m{version="{{stableVersion}}"}', 'm{version="v1"}', id="stable-version"),
        pytest.param(
            'm{namespace="{{namespace}}",mdep="{{name}}"}',
            'm{namespace="ml",mdep="fraud"}',
            id="namespace-and-name",
        ),
        pytest.param('m{version="{{ version }}"}', 'm{version="v2"}', id="inner-spaces"),
        pytest.param(
            'a{v="{{version}}"} / b{v="{{version}}"}',
            'a{v="v2"} / b{v="v2"}',
            id="repeated",
        ),
        pytest.param("sum(up)", "sum(up)", id="no-placeholder"),
        pytest.param('m{le="{0,1}"}', 'm{le="{0,1}"}', id="single-braces-untouched"),
    ],
)
def test_render_substitutes(template: str, expected: str) -> None:
    assert render(template, VALUES) == expected


def test_substituted_text_is_not_substituted_again() -> None:
    """A version that looks like a placeholder is data, not a template."""
    out = render('m{v="{{version}}"}', {"version": "{{name}}"})
    assert literals(out) == ["{{name}}"]


@pytest.mark.parametrize(
    "version",
    [
        pytest.param('v1"} or vector(1) #', id="close-matcher-and-inject"),
        pytest.param('v1"}) or on() vector(1) or m{a="', id="inject-with-reopen"),
        pytest.param('v1\\"} or vector(1) #', id="backslash-before-quote"),
        pytest.param("v1\\", id="trailing-backslash-eats-quote"),
        pytest.param('v1"\n} or vector(1)', id="newline"),
        pytest.param("v1\r\n", id="crlf"),
        pytest.param('"', id="just-a-quote"),
        pytest.param('\\\\\\"', id="backslashes-and-quote"),
        pytest.param("ünïcødé ✓", id="unicode"),
    ],
)
def test_escaping_cannot_break_out_of_a_label_matcher(version: str) -> None:
    template = 'sum(model_accuracy{model="fraud",version="{{version}}"}) > 0'
    rendered = render(template, {"version": version})
    # Same code structure as the template: nothing was added outside the quotes ...
    assert shape(rendered) == shape(template)
    # ... and the literal that held the placeholder holds exactly the value.
    assert literals(rendered) == ["fraud", version]
    assert "\n" not in rendered


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        pytest.param("v1", "v1", id="plain"),
        pytest.param('a"b', 'a\\"b', id="quote"),
        pytest.param("a\\b", "a\\\\b", id="backslash"),
        pytest.param("a\nb", "a\\nb", id="newline"),
        pytest.param("a\rb", "a\\rb", id="carriage-return"),
        pytest.param('\\"', '\\\\\\"', id="backslash-then-quote"),
    ],
)
def test_escape_label_value(raw: str, escaped: str) -> None:
    assert escape_label_value(raw) == escaped


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("template", "unknown"),
    [
        pytest.param('m{v="{{verison}}"}', "verison", id="typo"),
        pytest.param('m{v="{{model}}"}', "model", id="not-provided"),
        pytest.param('m{v="{{Version}}"}', "Version", id="case-sensitive"),
    ],
)
def test_unknown_placeholder_is_a_template_error(template: str, unknown: str) -> None:
    with pytest.raises(TemplateError, match=unknown) as info:
        render(template, {**VALUES, unknown: "x"})
    # The message lists what is known, so the user can fix the typo.
    for known in PLACEHOLDERS:
        assert known in str(info.value)
    with pytest.raises(TemplateError):
        validate_template(template)


def test_template_error_is_a_value_error() -> None:
    """Callers that guard spec problems with ValueError also catch template errors."""
    assert issubclass(TemplateError, ValueError)


@pytest.mark.parametrize(
    ("template", "missing"),
    [
        pytest.param('m{v="{{stableVersion}}"}', "stableVersion", id="no-stable-version"),
        pytest.param('m{v="{{version}}"}', "version", id="no-version"),
    ],
)
def test_missing_value_is_an_error(template: str, missing: str) -> None:
    values = {k: v for k, v in VALUES.items() if k != missing}
    with pytest.raises(TemplateError, match=rf"\{{\{{{missing}\}}\}} has no value"):
        render(template, values)


def test_known_placeholders_validate() -> None:
    for name in PLACEHOLDERS:
        validate_template(f'm{{l="{{{{{name}}}}}"}}')


def test_placeholders_in() -> None:
    assert placeholders_in('a{v="{{version}}"} / b{v="{{ stableVersion }}",x="{y}"}') == {
        "version",
        "stableVersion",
    }
