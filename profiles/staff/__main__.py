"""``python -m profiles.staff ROLE [USERNAME]``: print a staff token (``profiles.staff.main``)."""

from __future__ import annotations

from profiles.staff import main

if __name__ == "__main__":
    raise SystemExit(main())
