"""Regenerate data/r2-user-manual.pdf (needs reportlab, which the project does not depend on).

Run once by hand: `pip install reportlab && python scripts/make_sample_pdf.py`. The PDF is
committed so that the demo and the tests need no extra package.
"""

from __future__ import annotations

from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
PAGES = [
    (
        "Acme R2 user manual: getting started",
        [
            "Unpack the R2 and remove the protective film from the bumper.",
            "Place the charging dock against a wall with half a metre of free space on each side.",
            "Charge the robot for four hours before the first cleaning run.",
            "Install the Acme Home app and pair the robot by holding the power button",
            "for five seconds until the ring light blinks blue.",
        ],
    ),
    (
        "Maintenance",
        [
            "Empty the dust bin after every run and wash the filter once a week with cold water.",
            "Let the filter dry for 24 hours before putting it back.",
            "Replace the side brush every six months and the main brush every twelve months.",
            "Wipe the cliff sensors under the robot with a dry cloth once a month.",
        ],
    ),
    (
        "Khắc phục sự cố (troubleshooting)",
        [
            "Nếu robot không sạc được, hãy lau sạch các tiếp điểm sạc bằng khăn khô.",
            "Nếu đèn báo nhấp nháy màu đỏ, bánh xe có thể bị kẹt tóc hoặc dây điện.",
            "If the ring light blinks red, a wheel is blocked: remove hair or cables from it.",
            "Error E7 means the dust bin is missing: insert the bin until it clicks.",
        ],
    ),
]


def main() -> None:
    """Write the three-page sample manual."""
    pdfmetrics.registerFont(TTFont("DejaVu", FONT))
    out = Path(__file__).resolve().parent.parent / "data" / "r2-user-manual.pdf"
    pdf = canvas.Canvas(str(out), pagesize=A4)
    pdf.setTitle("Acme R2 user manual")
    for number, (title, lines) in enumerate(PAGES, 1):
        pdf.setFont("DejaVu", 16)
        pdf.drawString(60, 780, title)
        pdf.setFont("DejaVu", 11)
        for row, line in enumerate(lines):
            pdf.drawString(60, 740 - row * 18, line)
        pdf.setFont("DejaVu", 9)
        pdf.drawString(60, 40, f"Acme R2 user manual · page {number}")
        pdf.showPage()
    pdf.save()


if __name__ == "__main__":
    main()
