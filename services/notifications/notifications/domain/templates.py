"""The words of every message, in Persian (the default) and English.

A template is a subject and a body with `{placeholders}` filled from the event (see `facts`);
amounts arrive already formatted, codes (a cancel cause, a dispute reason) through `LABELS`.
Every template of `rules.RULES` is here in both languages; a test renders them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from notifications.domain.amounts import Language


@dataclass(frozen=True)
class Template:
    subject: str
    body: str


def _t(fa: tuple[str, str], en: tuple[str, str]) -> dict[Language, Template]:
    return {"fa": Template(*fa), "en": Template(*en)}


GREETING: dict[Language, tuple[str, str]] = {
    "fa": ("سلام {name}،", "سلام،"),
    "en": ("Hello {name},", "Hello,"),
}
SIGNATURE: dict[Language, str] = {"fa": "— سامانه پرداخت امن", "en": "— Secure payment"}

#: how codes carried by events read; a value not listed is shown as it is
LABELS: dict[Language, dict[str, str]] = {
    "fa": {
        "employer": "به درخواست کارفرما",
        "contractor": "به درخواست مجری",
        "payment_expired": "مهلت پرداخت به پایان رسید",
        "arbitration": "رأی داور",
        "agreement": "توافق طرفین",
        "reminder": "نزدیک است",
        "missed": "گذشته است",
        "respondent": "پاسخ طرف مقابل",
        "negotiation": "مذاکره",
        "not_delivered": "کار تحویل نشده است",
        "not_released": "مبلغ آزاد نشده است",
        "quality": "کیفیت کار",
        "other": "دلیل دیگر",
    },
    "en": {
        "employer": "by the employer",
        "contractor": "by the contractor",
        "payment_expired": "the payment deadline passed",
        "arbitration": "the arbiter's verdict",
        "agreement": "agreement of both parties",
        "reminder": "is near",
        "missed": "has passed",
        "respondent": "respondent's answer",
        "negotiation": "negotiation",
        "not_delivered": "the work was not delivered",
        "not_released": "the money was not released",
        "quality": "the quality of the work",
        "other": "another reason",
    },
}

TEMPLATES: dict[str, dict[Language, Template]] = {
    "contract_opened": _t(
        (
            "قرارداد تازه {contract_id}",
            "کارفرما قرارداد {contract_id} را با عنوان «{title}» با شما باز کرد.",
        ),
        (
            "New contract {contract_id}",
            "An employer opened contract {contract_id} (“{title}”) with you.",
        ),
    ),
    "escrow_requested": _t(
        (
            "درخواست پرداخت امن {escrow_id}",
            "مجری برای قرارداد {contract_id} درخواست پرداخت امن به مبلغ {amount} ثبت کرده است."
            " می‌توانید آن را بپذیرید یا رد کنید.",
        ),
        (
            "Secure payment requested: {escrow_id}",
            "The contractor requested a secure payment of {amount} for contract {contract_id}."
            " You may accept or decline it.",
        ),
    ),
    "escrow_awaiting_payment": _t(
        (
            "پرداخت امن {escrow_id} منتظر پرداخت شماست",
            "پرداخت امن {escrow_id} به مبلغ {amount} آماده پرداخت شماست."
            " این مبلغ تا پایان کار نزد سامانه به امانت می‌ماند.",
        ),
        (
            "Secure payment {escrow_id} awaits your payment",
            "Secure payment {escrow_id} of {amount} is ready for your payment."
            " The platform holds the money in trust until the work is done.",
        ),
    ),
    "escrow_created": _t(
        (
            "پرداخت امن تازه {escrow_id}",
            "کارفرما پرداخت امن {escrow_id} به مبلغ {amount} را برای قرارداد {contract_id}"
            " ایجاد کرد. پس از پرداخت کارفرما به شما خبر می‌دهیم.",
        ),
        (
            "New secure payment {escrow_id}",
            "The employer created secure payment {escrow_id} of {amount} for contract"
            " {contract_id}. We will tell you once it is paid.",
        ),
    ),
    "escrow_request_accepted": _t(
        (
            "درخواست پرداخت امن {escrow_id} پذیرفته شد",
            "کارفرما درخواست پرداخت امن شما به مبلغ {amount} را پذیرفت و اکنون منتظر پرداخت اوست.",
        ),
        (
            "Your secure payment request {escrow_id} was accepted",
            "The employer accepted your request for a secure payment of {amount};"
            " it now awaits the employer's payment.",
        ),
    ),
    "escrow_declined": _t(
        (
            "درخواست پرداخت امن {escrow_id} رد شد",
            "کارفرما درخواست پرداخت امن شما به مبلغ {amount} را رد کرد. {reason}",
        ),
        (
            "Your secure payment request {escrow_id} was declined",
            "The employer declined your request for a secure payment of {amount}. {reason}",
        ),
    ),
    "escrow_cancelled": _t(
        (
            "پرداخت امن {escrow_id} لغو شد",
            "پرداخت امن {escrow_id} به مبلغ {amount} لغو شد ({cause}).",
        ),
        (
            "Secure payment {escrow_id} was cancelled",
            "Secure payment {escrow_id} of {amount} was cancelled ({cause}).",
        ),
    ),
    "escrow_funded_employer": _t(
        (
            "پرداخت شما برای پرداخت امن {escrow_id} دریافت شد",
            "مبلغ {amount} دریافت شد و تا پایان کار نزد سامانه به امانت می‌ماند."
            " این مبلغ فقط با آزادسازی شما یا رأی داوری به مجری می‌رسد.",
        ),
        (
            "Your payment for secure payment {escrow_id} was received",
            "We received {amount}; the platform holds it in trust until the work is done."
            " It reaches the contractor only when you release it or by an arbitration verdict.",
        ),
    ),
    "escrow_funded_contractor": _t(
        (
            "پرداخت امن {escrow_id} تأمین شد",
            "کارفرما مبلغ {amount} را پرداخت کرد و این مبلغ نزد سامانه به امانت است."
            " می‌توانید با خیال آسوده کار را شروع کنید.",
        ),
        (
            "Secure payment {escrow_id} is funded",
            "The employer paid {amount}, which the platform now holds in trust."
            " You can start the work with confidence.",
        ),
    ),
    "work_delivered": _t(
        (
            "کار پرداخت امن {escrow_id} تحویل شد",
            "مجری پایان کار را اعلام کرد. لطفاً کار را بررسی کنید و در صورت رضایت، پرداخت امن"
            " ({held}) را آزاد کنید یا درخواست اصلاح بدهید. {note}",
        ),
        (
            "Work delivered for secure payment {escrow_id}",
            "The contractor has delivered the work. Please review it, then release the secure"
            " payment ({held}) or ask for changes. {note}",
        ),
    ),
    "changes_requested": _t(
        (
            "درخواست اصلاح برای پرداخت امن {escrow_id}",
            "کارفرما تغییراتی در کار تحویل‌شده خواسته است. {note}",
        ),
        (
            "Changes requested for secure payment {escrow_id}",
            "The employer asked for changes to the delivered work. {note}",
        ),
    ),
    "escrow_released_contractor": _t(
        (
            "پرداخت امن {escrow_id} آزاد شد",
            "کارفرما مبلغ {gross} را آزاد کرد. پس از کسر کارمزد {fee}، مبلغ {net} به کیف پول"
            " شما واریز شد.",
        ),
        (
            "Secure payment {escrow_id} released",
            "The employer released {gross}. After the fee of {fee}, {net} was credited to your"
            " wallet.",
        ),
    ),
    "escrow_released_employer": _t(
        (
            "آزادسازی پرداخت امن {escrow_id} انجام شد",
            "مبلغ {gross} از پرداخت امن {escrow_id} برای مجری آزاد شد."
            " مبلغ باقی‌مانده در امانت: {held}.",
        ),
        (
            "Release of secure payment {escrow_id} done",
            "{gross} of secure payment {escrow_id} was released to the contractor."
            " Still held in trust: {held}.",
        ),
    ),
    "escrow_refunded_employer": _t(
        (
            "بازگشت وجه از پرداخت امن {escrow_id}",
            "مجری مبلغ {amount} از پرداخت امن {escrow_id} را به شما بازگرداند."
            " این مبلغ به روش پرداخت اولیه شما برگشت داده می‌شود.",
        ),
        (
            "Refund from secure payment {escrow_id}",
            "The contractor refunded {amount} of secure payment {escrow_id} to you."
            " It goes back to your original payment method.",
        ),
    ),
    "escrow_refunded_contractor": _t(
        (
            "بازگشت وجه پرداخت امن {escrow_id} ثبت شد",
            "مبلغ {amount} از پرداخت امن {escrow_id} به کارفرما بازگردانده شد."
            " مبلغ باقی‌مانده در امانت: {held}.",
        ),
        (
            "Refund of secure payment {escrow_id} recorded",
            "{amount} of secure payment {escrow_id} was refunded to the employer."
            " Still held in trust: {held}.",
        ),
    ),
    "escrow_disputed": _t(
        (
            "پرونده داوری {dispute_id} برای پرداخت امن {escrow_id}",
            "برای پرداخت امن {escrow_id} درخواست داوری ثبت شد و مبلغ {held} تا پایان داوری نزد"
            " سامانه می‌ماند. می‌توانید توضیحات و مدارک خود را ارسال کنید.",
        ),
        (
            "Dispute {dispute_id} opened on secure payment {escrow_id}",
            "Arbitration was requested for secure payment {escrow_id}; {held} stays held until it"
            " ends. You can submit your statement and evidence.",
        ),
    ),
    "escrow_settled_employer": _t(
        (
            "تسویه پرداخت امن {escrow_id}",
            "پرداخت امن {escrow_id} بر اساس {verdict_kind} تسویه شد: {employer_amount} به شما"
            " بازگردانده می‌شود و {contractor_amount} به مجری می‌رسد.",
        ),
        (
            "Secure payment {escrow_id} settled",
            "Secure payment {escrow_id} was settled by {verdict_kind}: {employer_amount} is"
            " refunded to you and {contractor_amount} goes to the contractor.",
        ),
    ),
    "escrow_settled_contractor": _t(
        (
            "تسویه پرداخت امن {escrow_id}",
            "پرداخت امن {escrow_id} بر اساس {verdict_kind} تسویه شد: سهم شما {contractor_amount}"
            " است و پس از کسر کارمزد {fee}، مبلغ {contractor_net} به کیف پول شما واریز شد."
            " {employer_amount} به کارفرما بازگردانده می‌شود.",
        ),
        (
            "Secure payment {escrow_id} settled",
            "Secure payment {escrow_id} was settled by {verdict_kind}: your share is"
            " {contractor_amount}; after the fee of {fee}, {contractor_net} was credited to your"
            " wallet. {employer_amount} is refunded to the employer.",
        ),
    ),
    "release_reminder": _t(
        (
            "یادآوری: آزادسازی پرداخت امن {escrow_id}",
            "کار پرداخت امن {escrow_id} در {delivered_at} تحویل شده و مبلغ {held} هنوز منتظر"
            " آزادسازی شماست.",
        ),
        (
            "Reminder: release secure payment {escrow_id}",
            "The work for secure payment {escrow_id} was delivered on {delivered_at}, and {held}"
            " still awaits your release.",
        ),
    ),
    "dispute_rejected": _t(
        (
            "درخواست داوری {dispute_id} پذیرفته نشد",
            "درخواست داوری برای پرداخت امن {escrow_id} پذیرفته نشد. {message}",
        ),
        (
            "Dispute {dispute_id} was not accepted",
            "The request for arbitration on secure payment {escrow_id} was not accepted. {message}",
        ),
    ),
    "dispute_withdrawn": _t(
        (
            "پرونده داوری {dispute_id} پس گرفته شد",
            "درخواست داوری برای پرداخت امن {escrow_id} پس گرفته شد و پرداخت امن به وضعیت پیشین"
            " خود بازگشت.",
        ),
        (
            "Dispute {dispute_id} withdrawn",
            "The request for arbitration on secure payment {escrow_id} was withdrawn;"
            " the secure payment is back where it was.",
        ),
    ),
    "statement_submitted": _t(
        (
            "توضیحات تازه در پرونده داوری {dispute_id}",
            "در پرونده داوری {dispute_id} توضیحات تازه‌ای با {evidence_count} مدرک ثبت شد."
            " می‌توانید آن را در سامانه ببینید.",
        ),
        (
            "New statement in dispute {dispute_id}",
            "A new statement with {evidence_count} evidence item(s) was added to dispute"
            " {dispute_id}. You can read it on the platform.",
        ),
    ),
    "settlement_proposed": _t(
        (
            "پیشنهاد مصالحه در پرونده داوری {dispute_id}",
            "طرف مقابل پیشنهاد کرده است {contractor_amount} به مجری پرداخت و {employer_amount} به"
            " کارفرما بازگردانده شود. می‌توانید آن را بپذیرید.",
        ),
        (
            "Settlement proposed in dispute {dispute_id}",
            "The other party proposes {contractor_amount} to the contractor and {employer_amount}"
            " back to the employer. You may accept it.",
        ),
    ),
    "dispute_escalated": _t(
        (
            "پرونده داوری {dispute_id} به داور سپرده شد",
            "مذاکره در پرونده {dispute_id} به پایان رسید و پرونده برای داوری ارجاع شد.",
        ),
        (
            "Dispute {dispute_id} goes to arbitration",
            "Negotiation on dispute {dispute_id} has ended and the case goes to an arbiter.",
        ),
    ),
    "arbiter_assigned": _t(
        (
            "پرونده داوری {dispute_id} به شما سپرده شد",
            "شما داور پرونده {dispute_id} برای پرداخت امن {escrow_id} هستید."
            " لطفاً توضیحات طرفین را بررسی و رأی صادر کنید.",
        ),
        (
            "You are the arbiter of dispute {dispute_id}",
            "You were assigned dispute {dispute_id} on secure payment {escrow_id}."
            " Please review both parties' statements and issue a verdict.",
        ),
    ),
    "arbiter_assigned_party": _t(
        (
            "داور پرونده {dispute_id} تعیین شد",
            "برای پرونده داوری {dispute_id} داور تعیین شد و رأی را او صادر می‌کند.",
        ),
        (
            "An arbiter was assigned to dispute {dispute_id}",
            "An arbiter now handles dispute {dispute_id} and will issue the verdict.",
        ),
    ),
    "verdict_issued": _t(
        (
            "رأی پرونده داوری {dispute_id} صادر شد",
            "بر اساس {kind}، {contractor_amount} به مجری و {employer_amount} به کارفرما تعلق"
            " گرفت. {rationale}",
        ),
        (
            "Verdict on dispute {dispute_id}",
            "By {kind}, {contractor_amount} goes to the contractor and {employer_amount} back to"
            " the employer. {rationale}",
        ),
    ),
    "dispute_deadline": _t(
        (
            "مهلت پرونده داوری {dispute_id}",
            "مهلت «{deadline}» در پرونده داوری {dispute_id} {stage}: {due_at}.",
        ),
        (
            "Deadline in dispute {dispute_id}",
            "The {deadline} deadline in dispute {dispute_id} {stage}: {due_at}.",
        ),
    ),
    "payment_received": _t(
        (
            "پرداخت {payment_id} موفق بود",
            "پرداخت شما به مبلغ {amount} با کد پیگیری {reference} تأیید شد.",
        ),
        (
            "Payment {payment_id} succeeded",
            "Your payment of {amount} was confirmed, reference {reference}.",
        ),
    ),
    "direct_payment_received": _t(
        (
            "پرداخت مستقیم {payment_id} دریافت شد",
            "مبلغ {amount} به صورت پرداخت مستقیم (بدون ضمانت پرداخت امن) به کیف پول شما واریز شد.",
        ),
        (
            "Direct payment {payment_id} received",
            "{amount} was paid into your wallet directly (without the guarantee of a secure"
            " payment).",
        ),
    ),
    "payment_failed": _t(
        (
            "پرداخت {payment_id} ناموفق بود",
            "پرداخت شما به مبلغ {amount} انجام نشد: {reason}."
            " اگر وجهی کسر شده باشد، بانک آن را بازمی‌گرداند.",
        ),
        (
            "Payment {payment_id} failed",
            "Your payment of {amount} did not go through: {reason}."
            " If your account was charged, the bank returns the money.",
        ),
    ),
    "payout_completed": _t(
        (
            "تسویه {payout_id} انجام شد",
            "مبلغ {amount} به حساب {iban_masked} واریز شد. کد پیگیری: {reference}.",
        ),
        (
            "Payout {payout_id} completed",
            "{amount} was sent to account {iban_masked}. Reference: {reference}.",
        ),
    ),
    "payout_failed": _t(
        (
            "تسویه {payout_id} انجام نشد",
            "واریز {amount} به حساب شما پس از {attempts} تلاش انجام نشد: {reason}."
            " این مبلغ به کیف پول شما بازگشت.",
        ),
        (
            "Payout {payout_id} failed",
            "Sending {amount} to your bank account failed after {attempts} attempts: {reason}."
            " The money is back in your wallet.",
        ),
    ),
    "refund_completed": _t(
        (
            "بازگشت وجه {refund_id} انجام شد",
            "مبلغ {amount} به روش پرداخت اولیه شما بازگردانده شد. کد پیگیری: {reference}.",
        ),
        (
            "Refund {refund_id} completed",
            "{amount} was returned to your original payment method. Reference: {reference}.",
        ),
    ),
    "refund_failed": _t(
        (
            "بازگشت وجه {refund_id} با تأخیر انجام می‌شود",
            "بازگرداندن {amount} به شما هنوز انجام نشده است ({reason})."
            " این مبلغ از بین نمی‌رود و دوباره برای بازگرداندن آن اقدام می‌شود.",
        ),
        (
            "Refund {refund_id} is delayed",
            "Returning {amount} to you has not succeeded yet ({reason})."
            " The money is not lost; the refund will be tried again.",
        ),
    ),
}
