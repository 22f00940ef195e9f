"""Where the window's main module still finds `quoted_char`; the stand-ins themselves live in
``headwatch.core.charnames`` (one definition for every view and the CLI)."""

from __future__ import annotations

from headwatch.core.charnames import quoted as quoted_char

__all__ = ["quoted_char"]
