"""Vendor and product names for people: "anthropic", "claude_code" -> "Anthropic · Claude Code".

The ledger, the exports and the API keep the lower-case identifiers the importers write; pages
show these names. An identifier missing here still reads well ("my_gateway" -> "My gateway").
"""

VENDORS = {
    "anthropic": "Anthropic",
    "azure": "Azure",
    "bedrock": "Amazon Bedrock",
    "cursor": "Cursor",
    "deepseek": "DeepSeek",
    "github": "GitHub",
    "google": "Google",
    "litellm": "LiteLLM",
    "mistral": "Mistral",
    "openai": "OpenAI",
    "openrouter": "OpenRouter",
    "windsurf": "Windsurf",
    "xai": "xAI",
}
PRODUCTS = {
    "api": "API",
    "chat": "Chat",
    "claude_code": "Claude Code",
    "codex": "Codex",
    "copilot": "Copilot",
    "cursor": "Cursor",
    "gateway": "Gateway",
    "gemini": "Gemini",
    "gemini_api": "Gemini API",
    "vertex_ai": "Vertex AI",
}
SEPARATOR = " · "


def readable(identifier: str) -> str:
    """An identifier nobody named: "my_gateway" -> "My gateway"."""
    text = " ".join(identifier.replace("_", " ").replace("-", " ").split())
    return text[:1].upper() + text[1:]


def vendor_label(vendor: str | None) -> str:
    """The vendor's name: openai -> OpenAI; empty stays empty."""
    vendor = vendor or ""
    return VENDORS.get(vendor.lower()) or readable(vendor)


def product_label(product: str | None) -> str:
    """The product's name: claude_code -> Claude Code; empty stays empty."""
    product = product or ""
    return PRODUCTS.get(product.lower()) or readable(product)


def tool_label(vendor: str | None, product: str | None) -> str:
    """Vendor and product as one name, "Anthropic · Claude Code"; a product named like its vendor
    reads once (cursor/cursor -> "Cursor"); either part may be empty ("" = any, on caps)."""
    vendor_name, product_name = vendor_label(vendor), product_label(product)
    if not vendor_name or not product_name:
        return vendor_name or product_name
    if product_name.lower() == vendor_name.lower() or product_name.lower().startswith(f"{vendor_name.lower()} "):
        return product_name
    return f"{vendor_name}{SEPARATOR}{product_name}"


def tool_key_label(key: str | None) -> str:
    """A tool written "vendor/product" (top tools, usage breakdowns); without "/", a product."""
    vendor, slash, product = (key or "").partition("/")
    return tool_label(vendor, product) if slash else product_label(vendor)
