"""Messages in the languages of the guest pages (zh-CN and en), chosen per request."""

from __future__ import annotations

from litestar.connection import ASGIConnection

LANGUAGES = ("en", "zh")

# code -> {"en": text, "zh": text}; each domain adds its own with add_messages().
CATALOGUE: dict[str, dict[str, str]] = {}


def add_messages(messages: dict[str, tuple[str, str]]) -> None:
    """Register ``code: (English, Chinese)`` messages."""
    for code, (en, zh) in messages.items():
        CATALOGUE[code] = {"en": en, "zh": zh}


def language_of(connection: ASGIConnection) -> str:
    """``?lang=`` wins, then the first language of Accept-Language; English otherwise."""
    asked = connection.query_params.get("lang") or connection.headers.get("accept-language", "")
    first = asked.split(",")[0].strip().lower()
    return "zh" if first.startswith("zh") else "en"


def translate(code: str, language: str, **params: object) -> str:
    texts = CATALOGUE.get(code)
    if texts is None:
        return code
    return texts.get(language, texts["en"]).format(**params)


add_messages(
    {
        "invalid_input": ("Some fields need attention.", "部分信息需要修改。"),
        "required": ("This field is required.", "此项必填。"),
        "invalid_value": ("This value is not valid.", "此项格式不正确。"),
        "malformed_body": ("The request body is not valid JSON.", "请求内容不是有效的 JSON。"),
        "body_too_large": ("The request is too large.", "请求内容过大。"),
        "not_authenticated": ("Please log in.", "请先登录。"),
        "forbidden": ("You may not do this.", "您没有此操作的权限。"),
        "not_found": ("Not found.", "未找到。"),
        "too_many_requests": (
            "Too many attempts. Please wait {retry_after} seconds and try again.",
            "尝试次数过多，请 {retry_after} 秒后再试。",
        ),
        "server_error": (
            "Something went wrong on our side. Please try again.",
            "服务器出现问题，请稍后重试。",
        ),
    }
)
