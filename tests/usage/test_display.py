"""Vendor and product identifiers as names for people, in Python and in templates."""

import pytest
from django.template import Context, Template

from usage.display import product_label, tool_key_label, tool_label, vendor_label


@pytest.mark.parametrize(
    ("vendor", "name"),
    [("anthropic", "Anthropic"), ("openai", "OpenAI"), ("github", "GitHub"), ("bedrock", "Amazon Bedrock")],
)
def test_known_vendors_have_their_own_spelling(vendor, name):
    assert vendor_label(vendor) == name


@pytest.mark.parametrize(
    ("product", "name"),
    [("api", "API"), ("claude_code", "Claude Code"), ("copilot", "Copilot"), ("vertex_ai", "Vertex AI")],
)
def test_known_products_have_their_own_spelling(product, name):
    assert product_label(product) == name


def test_unknown_identifiers_read_as_words_and_nothing_stays_nothing():
    assert vendor_label("my_gateway") == "My gateway"
    assert product_label("office-agent") == "Office agent"
    assert vendor_label("") == product_label(None) == ""


@pytest.mark.parametrize(
    ("vendor", "product", "name"),
    [
        ("anthropic", "claude_code", "Anthropic · Claude Code"),
        ("openai", "api", "OpenAI · API"),
        ("github", "copilot", "GitHub · Copilot"),
        ("cursor", "cursor", "Cursor"),  # a product named as its vendor reads once
        ("acme", "acme_chat", "Acme chat"),  # and so does one that repeats it
        ("my_gateway", "internal", "My gateway · Internal"),
        ("anthropic", "", "Anthropic"),  # a cap on every product of a vendor
        ("", "codex", "Codex"),
        ("", "", ""),
    ],
)
def test_a_tool_is_its_vendor_and_its_product(vendor, product, name):
    assert tool_label(vendor, product) == name


def test_a_tool_key_is_vendor_slash_product_and_a_bare_product_still_reads():
    assert tool_key_label("anthropic/claude_code") == "Anthropic · Claude Code"
    assert tool_key_label("claude_code") == "Claude Code"
    assert tool_key_label("") == ""


def test_the_template_filters_name_vendors_and_tools_and_escape_them():
    template = Template(
        "{% load usage_format %}{{ v|vendor_label }}|{{ v|tool_label:p }}|{{ key|tool_label }}|{{ p|product_label }}"
        "|{{ evil|vendor_label }}"
    )
    context = {"v": "openai", "p": "api", "key": "cursor/cursor", "evil": "<b>x</b>"}
    assert template.render(Context(context)) == "OpenAI|OpenAI · API|Cursor|API|&lt;b&gt;x&lt;/b&gt;"
