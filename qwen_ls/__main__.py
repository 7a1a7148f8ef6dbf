from __future__ import annotations

from qwen_ls.cli import main

raise SystemExit(main())
