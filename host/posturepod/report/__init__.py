"""What the exams share for reporting: ``report.html`` holds the building blocks of the
self-contained HTML pages (page template with print CSS, matplotlib figure -> inline SVG,
tables, reference boxes) and ``report.history`` reads earlier sessions for the progress
over weeks. Each exam writes its own page (``flexion.report``, ``sitting.report``)."""
