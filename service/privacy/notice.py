"""The guests' privacy notice: who keeps their registration, why, for how long, who sees it, their rights.

The operator (the data controller) comes from settings; in development a placeholder names a demo operator,
and production refuses to start without the real one (service/settings.py).
"""

from __future__ import annotations

from litestar import Controller, get
from litestar.datastructures import State
from litestar.response import Template
from pydantic import BaseModel, Field

DEMO_OPERATOR = {"zh": "演示运营方（非真实机构）", "en": "Demo operator (not a real organisation)"}
DEMO_CONTACT = "privacy@example.org"


class PrivacyFacts(BaseModel):
    """What the notice on the guest's form needs from the server; the rest of the text is the page's."""

    operator_name: str = Field(description="the data controller; a demo placeholder outside production")
    operator_contact: str = Field(description="how a guest reaches the controller to use their rights")
    demo: bool = Field(description="true when no operator is configured (development only)")
    retention_days: int = Field(description="registrations are deleted this many days after the stay")


def privacy_facts(state: State, lang: str = "en") -> PrivacyFacts:
    settings = state.settings
    return PrivacyFacts(operator_name=settings.operator_name or DEMO_OPERATOR[lang],
                        operator_contact=settings.operator_contact or DEMO_CONTACT,
                        demo=settings.operator_name is None, retention_days=settings.retention_days)


def years(days: int) -> str:
    """Days as years for people: 1095 -> "3", 548 -> "1.5"."""
    return f"{days / 365:.1f}".removesuffix(".0")


class PrivacyController(Controller):
    path = "/api/v1/public/privacy"
    tags = ["public"]

    @get(name="public:privacy", description="The facts of the guests' privacy notice: operator, contact, retention.")
    async def facts(self, state: State, lang: str = "en") -> PrivacyFacts:
        return privacy_facts(state, "zh" if lang.startswith("zh") else "en")


@get("/privacy", name="page:privacy", include_in_schema=False, media_type="text/html")
async def privacy_page(state: State) -> Template:
    """The whole notice, in Chinese and in English, on one page without script."""
    facts = {lang: privacy_facts(state, lang) for lang in ("zh", "en")}
    days = state.settings.retention_days
    return Template(template_name="privacy.html", context={"facts": facts, "days": days, "years": years(days)})
