"""HTML to PDF with WeasyPrint (pinned in requirements/web.txt; needs Pango from the OS).

Only our own templates are rendered, and no URL is ever fetched: the fetcher refuses every
request, so a stray ``<img src=http://...>`` cannot make the server reach out.

Importing WeasyPrint sets Pillow's process-wide ``ImageFile.LOAD_TRUNCATED_IMAGES = True``,
which would make every later image upload in the process accept truncated files. The flag is
put back right after the import (it is set once, at import time).
"""

from __future__ import annotations


def _no_fetch(url: str, *args, **kwargs):
    raise ValueError(f"external resources are not loaded in PDFs ({url})")


def _weasyprint():
    from PIL import ImageFile

    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        import weasyprint  # late: the web process only needs it when a PDF is asked for
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
    return weasyprint


def html_to_pdf(html: str) -> bytes:
    return _weasyprint().HTML(string=html, url_fetcher=_no_fetch).write_pdf()
