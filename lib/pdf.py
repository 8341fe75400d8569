"""HTML to PDF with WeasyPrint (pinned in requirements/web.txt; needs Pango from the OS).

Only our own templates are rendered, and no URL is ever fetched: the fetcher refuses every
request, so a stray ``<img src=http://...>`` cannot make the server reach out.
"""

from __future__ import annotations


def _no_fetch(url: str, *args, **kwargs):
    raise ValueError(f"external resources are not loaded in PDFs ({url})")


def html_to_pdf(html: str) -> bytes:
    import weasyprint  # imported late: the web process only needs it when a PDF is asked for

    return weasyprint.HTML(string=html, url_fetcher=_no_fetch).write_pdf()
