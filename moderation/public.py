"""The public abuse-report form (no account; CSRF-protected like every form of the site)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from config.errors import ApplicationError
from lib.clientip import client_ip
from moderation.api import REPORT_RECEIVED
from moderation.forms import AbuseReportForm
from moderation.reporting import challenge_issue, challenge_verify, ip_digest, report_rate_enforce, report_target_job
from moderation.services import report_create


def report_abuse(request: HttpRequest) -> HttpResponse:
    status, headers = 200, {}
    if request.method == "POST":
        form = AbuseReportForm(request.POST)
        try:
            report_rate_enforce(request)
            if form.is_valid():
                data = form.cleaned_data
                challenge_verify(token=data["challenge"], answer=data["answer"], honeypot=data["website"])
                report = report_create(
                    job=report_target_job(data["target"]),
                    target=data["target"],
                    category=data["category"],
                    details=data["details"],
                    contact_email=data["contact_email"],
                    ip_digest=ip_digest(client_ip(request)),
                )
                context = {"reference": report.reference, "message": REPORT_RECEIVED}
                return render(request, "moderation/report_done.html", context, status=201)
            status = 400
        except ApplicationError as exc:
            form.add_error(None, exc.message)
            status, headers = exc.status_code, exc.headers
    else:
        form = AbuseReportForm(initial={"target": request.GET.get("url", "")[:2000]})
    # Every page gets a fresh question: a token answers once.
    challenge = challenge_issue()
    context = {"form": form, "question": challenge.question, "challenge_token": challenge.token}
    response = render(request, "moderation/report_form.html", context, status=status)
    for name, value in headers.items():
        response[name] = value
    return response
