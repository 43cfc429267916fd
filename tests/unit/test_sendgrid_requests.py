"""The Mail Send bodies the SDK builds: batching, substitutions, identity, unsubscribe (no network)."""

from __future__ import annotations

import dataclasses

from pydantic import SecretStr

from aftercare.providers.base import EmailMessage, Outcome
from aftercare.providers.sendgrid import CUSTOM_ARG, SendGridEmailSender

LAYOUT_HEAD = "<html><head><style>body{font-family:sans-serif}</style></head><body><h1>Demo Store</h1>"
LAYOUT_FOOT = "<footer>Demo Store, 1 Main St</footer></body></html>"


def email(n: int, *, marketing: bool = False, step: str = "shipping", middle_size: int = 0) -> EmailMessage:
    name = f"Customer {n}"
    return EmailMessage(
        message_id=f"ledger-{n}",
        to=f"customer{n}@example.com",
        subject=f"{name}, your order is on its way",
        html=f"{LAYOUT_HEAD}<p>Hello {name}</p>{'x' * middle_size}{LAYOUT_FOOT}",
        text=f"Hello {name}\n\nDemo Store",
        step=step,
        template=step,
        locale="en",
        marketing=marketing,
        unsubscribe_url=f"https://shop.example/u/{n}" if marketing else None,
    )


def sender(group: int | None = 99) -> SendGridEmailSender:
    return SendGridEmailSender(
        api_key=SecretStr("SG.k"), from_email="orders@example.com", unsubscribe_group_id=group
    )


def delivered(body: dict, index: int) -> dict[str, str]:
    """What recipient `index` receives: SendGrid's substitution applied to the shared content."""
    personalization = body["personalizations"][index]
    parts = {}
    for content in body["content"]:
        value = content["value"]
        for tag, replacement in personalization.get("substitutions", {}).items():
            value = value.replace(tag, replacement)
        parts[content["type"]] = value
    return {"subject": personalization["subject"], **parts}


def test_every_recipient_receives_exactly_the_rendered_subject_html_and_text() -> None:
    messages = [email(n) for n in range(5)]
    [request] = sender().build_requests(messages)
    assert len(request.body["personalizations"]) == 5
    for index, message in enumerate(messages):
        assert delivered(request.body, index) == {
            "subject": message.subject, "text/html": message.html, "text/plain": message.text,
        }
    shared_html = next(c["value"] for c in request.body["content"] if c["type"] == "text/html")
    assert shared_html.startswith(LAYOUT_HEAD) and shared_html.endswith(LAYOUT_FOOT)


def test_1001_messages_of_one_step_go_out_in_two_requests() -> None:
    requests = sender().build_requests([email(n) for n in range(1001)])
    assert [len(r.body["personalizations"]) for r in requests] == [1000, 1]
    assert [len(r.messages) for r in requests] == [1000, 1]


def test_messages_of_different_steps_never_share_a_request() -> None:
    requests = sender().build_requests([email(1, step="shipping"), email(2, step="delivered"), email(3)])
    assert [[m.message_id for m in r.messages] for r in requests] == [["ledger-1", "ledger-3"], ["ledger-2"]]
    assert [r.body["categories"] for r in requests] == [["shipping"], ["delivered"]]


def test_custom_args_hold_only_our_ledger_id_and_categories_only_the_step() -> None:
    [request] = sender().build_requests([email(1), email(2)])
    assert [p["custom_args"] for p in request.body["personalizations"]] == [
        {CUSTOM_ARG: "ledger-1"}, {CUSTOM_ARG: "ledger-2"},
    ]
    assert "custom_args" not in request.body
    assert request.body["categories"] == ["shipping"]


def test_a_marketing_email_carries_its_unsubscribe_group_and_one_click_list_unsubscribe() -> None:
    [request] = sender(group=99).build_requests([email(1, marketing=True, step="review_request")])
    assert request.body["asm"] == {"group_id": 99}
    assert request.body["personalizations"][0]["headers"] == {
        "List-Unsubscribe": "<https://shop.example/u/1>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_a_transactional_email_carries_no_unsubscribe_group_or_list_unsubscribe() -> None:
    [request] = sender(group=99).build_requests([email(1), email(2)])
    assert "asm" not in request.body
    assert all("headers" not in p for p in request.body["personalizations"])


def test_a_message_whose_differing_part_exceeds_the_substitution_budget_goes_alone() -> None:
    messages = [email(1), email(2, middle_size=12_000), email(3)]
    requests = sender().build_requests(messages)
    assert [[m.message_id for m in r.messages] for r in requests] == [["ledger-1", "ledger-3"], ["ledger-2"]]
    alone = requests[1].body
    assert "substitutions" not in alone["personalizations"][0]
    assert delivered(alone, 0)["text/html"] == messages[1].html
    for personalization in requests[0].body["personalizations"]:
        assert sum(len(k) + len(v.encode()) for k, v in personalization["substitutions"].items()) <= 10_000


def test_marketing_without_an_unsubscribe_url_or_group_is_refused_before_any_send() -> None:
    no_url = dataclasses.replace(email(1, marketing=True), unsubscribe_url=None)
    [result] = sender(group=99).send_emails([no_url])
    assert (result.outcome, result.error_code) == (Outcome.REJECTED, "not_sent")
    [result] = sender(group=None).send_emails([email(2, marketing=True)])
    assert result.outcome is Outcome.REJECTED and "group" in (result.detail or "")
