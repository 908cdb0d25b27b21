"""Where the shell's templates and static files live, and the pinned htmx build."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

# htmx is vendored from the npm package htmx.org (dist/htmx.min.js), pinned on purpose: 2.0.x
# is the well-trodden line and 4.x changed its defaults. To upgrade, replace the file, bump the
# version and the digest together (a test checks they agree), and read the changelog first.
HTMX_VERSION = "2.0.11"
HTMX_FILE = f"htmx-{HTMX_VERSION}.min.js"
HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
