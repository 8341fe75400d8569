"""lib.pdf: real PDFs, no outside fetches, and Pillow's truncated-image guard left as it was."""

from __future__ import annotations

from PIL import ImageFile

from lib.pdf import html_to_pdf


def test_it_renders_a_pdf_and_leaves_pillows_truncated_image_guard_alone():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    pdf = html_to_pdf("<h1>Receipt</h1><img src='http://127.0.0.1:9/x.png'>")
    assert pdf.startswith(b"%PDF-")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
