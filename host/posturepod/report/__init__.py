"""Self-contained HTML reports. ``report.html`` holds the shared building blocks (page
template with print CSS, matplotlib figure -> inline SVG, tables, reference boxes); each
protocol has its own module (``report.flexion_report``, ...)."""
